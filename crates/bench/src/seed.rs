//! The data set every scenario reads: productions of five departments, crew with a mix of
//! deals, and weeks of punches, all drawn from one fixed seed so two runs read the same data.
//!
//! It is written through `crewtime-persistence`, the layer the server itself writes with, so
//! work days, versions, the audit chain and idempotency records are exactly what the API would
//! have left.

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate};
use crewtime_domain::crew::{CrewFields, DealKind, DealTerms, NewCrewMember};
use crewtime_domain::production::{NewDepartment, NewProduction};
use crewtime_domain::time::{local_instant, timeline, PunchKind};
use crewtime_persistence::{IdempotencyKey, Store, TenantTx};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tokio::sync::Semaphore;

pub const ADMIN_EMAIL: &str = "bench@crewtime.invalid";
pub const ADMIN_PASSWORD: &str = "bench-password-not-secret";
pub const TIMEZONE: &str = "America/Los_Angeles";
pub const DEPARTMENTS: [(&str, &str); 5] = [
    ("Camera", "CAM"),
    ("Grip", "GRP"),
    ("Electric", "ELE"),
    ("Sound", "SND"),
    ("Hair & Make-up", "HMU"),
];

/// The Monday of the first seeded week; weeks end on Saturday (the default work week).
pub fn first_monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 7).unwrap_or_default()
}

/// The Saturday ending seeded week `w` (0-based).
pub fn week_ending(w: usize) -> NaiveDate {
    first_monday() + Duration::days(5 + 7 * w as i64)
}

/// The first date after the seeded weeks: scenarios that write punch from here on, each with
/// crew members of its own, so they never meet the seeded days or each other.
pub fn first_free_day(weeks: usize) -> NaiveDate {
    first_monday() + Duration::days(7 * weeks as i64)
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SeedSpec {
    pub productions: usize,
    pub crew: usize,
    pub weeks: usize,
    pub seed: u64,
}

impl SeedSpec {
    /// A name that changes with anything that changes the data, for the template database.
    pub fn tag(&self) -> String {
        format!(
            "v2_p{}_c{}_w{}_s{}",
            self.productions, self.crew, self.weeks, self.seed
        )
    }
}

fn key(s: String) -> Result<IdempotencyKey> {
    IdempotencyKey::parse(&s).map_err(|e| anyhow::anyhow!("idempotency key {s}: {e}"))
}

/// Seeds everything into the database at `url`, which `store` is connected to.
pub async fn seed(store: &Store, url: &str, spec: SeedSpec) -> Result<()> {
    let admin = store.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, true).await?;
    // One plain pool for the set-based inserts of every production.
    let db = Database::connect(url).await?;
    let gate = Arc::new(Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..spec.productions {
        let store = store.clone();
        let db = db.clone();
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            seed_production(&store, &db, admin.id, spec, p)
                .await
                .with_context(|| format!("seeding production {p}"))
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn seed_production(
    store: &Store,
    db: &DatabaseConnection,
    admin: uuid::Uuid,
    spec: SeedSpec,
    p: usize,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ ((p as u64 + 1) * 0x9E37_79B9_7F4A_7C15));
    let new = NewProduction::parse(&format!("Bench Production {p:02}"), TIMEZONE, "USD")?;
    let production = store
        .create_production(admin, &new, Some(&key(format!("bench-p{p}"))?))
        .await?;
    let tz = production.tz()?;
    let tx = TenantTx::begin(store, &production).await?;
    let mut departments = Vec::new();
    for (name, code) in DEPARTMENTS {
        let d = tx
            .create_department(
                admin,
                &NewDepartment::parse(name, Some(code))?,
                Some(&key(format!("bench-p{p}-{code}"))?),
            )
            .await?;
        departments.push(d.id);
    }
    let mut crew_of: Vec<Vec<uuid::Uuid>> = vec![Vec::new(); departments.len()];
    for i in 0..spec.crew {
        let dept = i % departments.len();
        let roll: f64 = rng.gen();
        let terms = if roll < 0.6 {
            DealTerms::parse(
                DealKind::Hourly,
                Decimal::from(rng.gen_range(30..=70)),
                None,
            )?
        } else if roll < 0.9 {
            DealTerms::parse(
                DealKind::Daily,
                Decimal::from(rng.gen_range(40..=70) * 10),
                Some(Decimal::from(10)),
            )?
        } else {
            DealTerms::parse(
                DealKind::Weekly,
                Decimal::from(rng.gen_range(30..=40) * 100),
                Some(Decimal::from(60)),
            )?
        };
        let name = format!("Crew {p:02}-{i:04}");
        let position = format!("{} Tech", DEPARTMENTS[dept].0);
        let fields = CrewFields {
            name: &name,
            email: None,
            position: &position,
            occupation_code: Some(DEPARTMENTS[dept].1),
            union_name: Some("IATSE"),
            union_local: Some("80"),
            rule_set: "REF-US-CREW",
        };
        let member = NewCrewMember::parse(fields, terms, first_monday() - Duration::days(30))?;
        let c = tx
            .add_crew_member(
                admin,
                departments[dept],
                &member,
                Some(&key(format!("bench-p{p}-c{i}"))?),
            )
            .await?;
        crew_of[dept].push(c.id);
    }
    tx.commit().await?;
    // Each department is called, breaks and wraps together, at times that vary by day. The
    // weeks of punches are written set-based (one statement per table and production) rather
    // than punch by punch through `record_punches`, which would take most of an hour here:
    // the same rows `record_punches` writes (work days, punches with v7 ids), checked against
    // the domain's order rules first, without audit and idempotency records.
    let mut day_ids = Vec::new();
    let mut day_crew = Vec::new();
    let mut day_dates = Vec::new();
    let (mut p_ids, mut p_days, mut p_crew, mut p_kinds, mut p_at) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for w in 0..spec.weeks {
        for day in 0..5 {
            let date = first_monday() + Duration::days(7 * w as i64 + day);
            for crew in &crew_of {
                let call = 6 * 60 + 15 * rng.gen_range(0..8);
                let meal_out = call + 5 * 60 + 15 * rng.gen_range(0..5);
                let meal_in = meal_out + 30;
                let wrap = call + 9 * 60 + 15 * rng.gen_range(0..16);
                let mut times = Vec::new();
                for (kind, minutes) in [
                    (PunchKind::Call, call),
                    (PunchKind::MealOut, meal_out),
                    (PunchKind::MealIn, meal_in),
                    (PunchKind::Wrap, wrap),
                ] {
                    let local =
                        date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(minutes);
                    times.push((kind, local_instant("at", local, tz)?));
                }
                timeline(&times)?;
                for c in crew {
                    let day_id = uuid::Uuid::now_v7();
                    day_ids.push(day_id);
                    day_crew.push(*c);
                    day_dates.push(date);
                    for (kind, at) in &times {
                        p_ids.push(uuid::Uuid::now_v7());
                        p_days.push(day_id);
                        p_crew.push(*c);
                        p_kinds.push(kind.as_str().to_owned());
                        p_at.push(*at);
                    }
                }
            }
        }
    }
    let schema = &production.schema_name;
    db.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "INSERT INTO \"{schema}\".work_days (id, crew_member_id, work_date) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::date[])"
        ),
        [day_ids.into(), day_crew.into(), day_dates.into()],
    ))
    .await?;
    db.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "INSERT INTO \"{schema}\".punches (id, work_day_id, crew_member_id, kind, at, recorded_by) \
             SELECT i, d, c, k, a, $6 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[]) AS t(i, d, c, k, a)"
        ),
        [
            p_ids.into(),
            p_days.into(),
            p_crew.into(),
            p_kinds.into(),
            p_at.into(),
            admin.into(),
        ],
    ))
    .await?;
    Ok(())
}
