//! The demo data `make run` seeds: an admin, a production with departments, crew with deals, a
//! published call sheet and a week of punches. Idempotent (every create carries a fixed
//! idempotency key), so `make run` can be repeated.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use crewtime_domain::crew::{CrewFields, DealKind, DealTerms, NewCrewMember};
use crewtime_domain::production::{NewDepartment, NewProduction};
use crewtime_domain::time::{local_instant, week_ending, PunchKind};
use crewtime_domain::Error;
use crewtime_persistence::punches::NewPunch;
use crewtime_persistence::{IdempotencyKey, Store, TenantTx};
use rust_decimal::Decimal;

pub const DEMO_PRODUCTION: &str = "Demo Feature";
const DEMO_DEPARTMENTS: [(&str, &str); 5] = [
    ("Camera", "CAM"),
    ("Grip", "GRP"),
    ("Electric", "ELE"),
    ("Hair & Make-up", "HMU"),
    ("Production", "PRD"),
];

/// Name, department code, position, deal, rate, guaranteed hours.
type DemoCrew = (
    &'static str,
    &'static str,
    &'static str,
    DealKind,
    i64,
    Option<i64>,
);

const DEMO_CREW: [DemoCrew; 10] = [
    (
        "Alex Moreno",
        "CAM",
        "Director of Photography",
        DealKind::Daily,
        1650,
        Some(12),
    ),
    ("Bea Lindqvist", "CAM", "1st AC", DealKind::Hourly, 58, None),
    ("Cal Okafor", "CAM", "2nd AC", DealKind::Hourly, 48, None),
    ("Dana Reyes", "GRP", "Key Grip", DealKind::Hourly, 52, None),
    (
        "Eli Novak",
        "GRP",
        "Best Boy Grip",
        DealKind::Hourly,
        47,
        None,
    ),
    ("Fay Chen", "ELE", "Gaffer", DealKind::Hourly, 55, None),
    (
        "Gus Patel",
        "ELE",
        "Best Boy Electric",
        DealKind::Hourly,
        47,
        None,
    ),
    (
        "Hana Ito",
        "HMU",
        "Key Make-up",
        DealKind::Daily,
        550,
        Some(10),
    ),
    (
        "Ivo Rossi",
        "HMU",
        "Hair Stylist",
        DealKind::Hourly,
        45,
        None,
    ),
    (
        "Jo Brennan",
        "PRD",
        "2nd AD",
        DealKind::Weekly,
        3500,
        Some(60),
    ),
];

/// What the seed left in place.
pub struct DemoSeed {
    pub email: String,
    pub production_id: uuid::Uuid,
}

fn key(s: &str) -> anyhow::Result<IdempotencyKey> {
    Ok(IdempotencyKey::parse(s)?)
}

pub async fn seed(store: &Store, email: &str, password: &str) -> anyhow::Result<DemoSeed> {
    let admin = match store.user_by_email(email).await? {
        Some(u) => u,
        None => store.create_user(email, password, true).await?,
    };
    let new = NewProduction::parse(DEMO_PRODUCTION, "America/Los_Angeles", "USD")?;
    let production = store
        .create_production(admin.id, &new, Some(&key("demo-seed-production")?))
        .await?;
    let tz = production.tz()?;
    let mut departments = Vec::new();
    for (name, code) in DEMO_DEPARTMENTS {
        let tx = TenantTx::begin(store, &production).await?;
        let dept = NewDepartment::parse(name, Some(code))?;
        let d = tx
            .create_department(
                admin.id,
                &dept,
                Some(&key(&format!("demo-seed-department-{code}"))?),
            )
            .await?;
        tx.commit().await?;
        departments.push(d);
    }
    // The last full work week before today: Monday to Friday, 07:00 call, lunch at 13:00,
    // wraps that grow into overtime through the week.
    let today = Utc::now().with_timezone(&tz).date_naive();
    let saturday = week_ending(today - Duration::days(7), 6);
    let monday = saturday - Duration::days(5);
    for (i, (name, code, position, kind, rate, guaranteed)) in DEMO_CREW.into_iter().enumerate() {
        let dept = departments
            .iter()
            .find(|d| d.code.as_deref() == Some(code))
            .ok_or(Error::NotFound("department"))?;
        let terms = DealTerms::parse(kind, Decimal::from(rate), guaranteed.map(Decimal::from))?;
        let fields = CrewFields {
            name,
            email: None,
            position,
            occupation_code: Some(code),
            union_name: Some(if kind == DealKind::Weekly {
                "DGA"
            } else {
                "IATSE"
            }),
            union_local: Some(if code == "CAM" { "600" } else { "80" }),
            rule_set: "REF-US-CREW",
        };
        let member = NewCrewMember::parse(
            fields,
            terms,
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or(monday),
        )?;
        let tx = TenantTx::begin(store, &production).await?;
        let crew = tx
            .add_crew_member(
                admin.id,
                dept.id,
                &member,
                Some(&key(&format!("demo-seed-crew-{i}"))?),
            )
            .await?;
        tx.commit().await?;
        for day in 0..5 {
            let date = monday + Duration::days(day);
            let wrap_minutes = 19 * 60 + 30 + 15 * (day + i as i64 % 3);
            for (kind, minutes) in [
                (PunchKind::Call, 7 * 60),
                (PunchKind::MealOut, 13 * 60),
                (PunchKind::MealIn, 13 * 60 + 30),
                (PunchKind::Wrap, wrap_minutes),
            ] {
                let local =
                    date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(minutes);
                let at = local_instant("at", local, tz)?;
                let tx = TenantTx::begin(store, &production).await?;
                let punch = NewPunch {
                    crew_member_id: crew.id,
                    kind,
                    at,
                };
                let k = key(&format!(
                    "demo-{}-{}-{}",
                    crew.id.simple(),
                    date.ordinal(),
                    kind.as_str()
                ))?;
                // The demo's administrator may punch for everyone.
                match tx
                    .record_punch(admin.id, punch, &k, tz, None, |_| Ok(()))
                    .await
                {
                    Ok(_) => tx.commit().await?,
                    // Already recorded by an earlier seed of another week: keep what is there.
                    Err(Error::Invalid { .. } | Error::Conflict(_)) => tx.rollback().await?,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(DemoSeed {
        email: admin.email,
        production_id: production.id,
    })
}
