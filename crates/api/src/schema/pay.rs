//! Pay over GraphQL: timecard pay, the pay preview, rule sets, the payroll export and the hot
//! cost report.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{Duration, NaiveDate};
use crewtime_domain::crew::CrewMember as DomainCrew;
use crewtime_domain::pay::{self, DayPay as EngineDay, LineKind, PayLine as EngineLine};
use crewtime_domain::payroll::{
    pay_error, price_week, rules_on, PricedDay, PricedWeek, StoredRuleSet, WeekInputs, WorkedDay,
};
use crewtime_domain::production::Department;
use crewtime_domain::time::{check_date, check_week_ending, week_ending as week_ending_of};
use crewtime_domain::Error;
use crewtime_persistence::crew::CrewScope;
use crewtime_persistence::punches::CrewFilter;
use crewtime_persistence::TenantTx;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::crew::required_reason;
use super::{Access, RequestCtx};
use crate::error::GqlResult;
use crate::ids::{GlobalId, Kind};
use crate::read_cache::{hot_cost_key, pay_key};

/// Prices the week ending `week_ending` of each of `crew`, from the cache where the inputs are
/// unchanged. One transaction; the inputs of the misses are read in five statements whatever
/// their number.
pub(crate) async fn price_weeks(
    rc: &RequestCtx,
    access: &Access,
    crew: &[DomainCrew],
    week_ending: NaiveDate,
) -> crewtime_domain::Result<HashMap<Uuid, Arc<PricedWeek>>> {
    let production = access.production();
    let tz = production.tz()?;
    // The versions first, outside any transaction (a cached week costs this one statement),
    // then the inputs of the weeks to compute: never older than their keys.
    let ids: Vec<Uuid> = crew.iter().map(|c| c.id).collect();
    let (settings, versions) = rc
        .store
        .pay_versions(production.id, &ids, week_ending)
        .await?;
    let key = |c: &DomainCrew| {
        let weeks = versions.get(&c.id).copied().unwrap_or_default();
        pay_key(production, c, week_ending, weeks, &settings)
    };
    let keys: Vec<String> = crew.iter().map(key).collect();
    let mut out = HashMap::new();
    let mut misses: Vec<(&DomainCrew, String)> = Vec::new();
    for ((c, k), cached) in crew
        .iter()
        .zip(keys.iter())
        .zip(rc.cache.pay.get_many(&keys).await)
    {
        match cached {
            Some(week) => {
                out.insert(c.id, week);
            }
            None => misses.push((c, k.clone())),
        }
    }
    if misses.is_empty() {
        return Ok(out);
    }
    let ids: Vec<Uuid> = misses.iter().map(|(c, _)| c.id).collect();
    let tx = TenantTx::begin(&rc.store, production).await?;
    let from = week_ending - Duration::days(6);
    let days = tx.work_days(&ids, from, week_ending).await?;
    let deals = tx.deals_of(&ids).await?;
    let previous = tx.previous_wraps(&ids, from).await?;
    let rules = tx.rule_sets().await?;
    tx.commit().await?;
    let mut computed = Vec::with_capacity(misses.len());
    for (c, k) in misses {
        let worked: Vec<WorkedDay> = days
            .iter()
            .filter(|d| d.crew_member_id == c.id)
            .map(|d| WorkedDay {
                date: d.date,
                day_type: d.day_type,
                punches: d.punches.iter().map(|p| (p.kind, p.at)).collect(),
            })
            .collect();
        let mine: Vec<_> = deals
            .iter()
            .filter(|d| d.crew_member_id == c.id)
            .cloned()
            .collect();
        let week = Arc::new(price_week(&WeekInputs {
            tz,
            rule_set: &c.rule_set,
            rule_versions: &rules,
            deals: &mine,
            days: &worked,
            previous_wrap: previous.get(&c.id).copied(),
        })?);
        computed.push((k, week.clone()));
        out.insert(c.id, week);
    }
    rc.cache.pay.put_many(computed).await;
    Ok(out)
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum PayLineKind {
    Straight,
    Overtime,
    DoubleTime,
    Premium,
    Night,
    MinimumCallTopUp,
    MealPenalty,
    MealPremium,
    RestPremium,
}

impl From<LineKind> for PayLineKind {
    fn from(k: LineKind) -> Self {
        match k {
            LineKind::Straight => PayLineKind::Straight,
            LineKind::Overtime => PayLineKind::Overtime,
            LineKind::DoubleTime => PayLineKind::DoubleTime,
            LineKind::Premium => PayLineKind::Premium,
            LineKind::Night => PayLineKind::Night,
            LineKind::MinimumCallTopUp => PayLineKind::MinimumCallTopUp,
            LineKind::MealPenalty => PayLineKind::MealPenalty,
            LineKind::MealPremium => PayLineKind::MealPremium,
            LineKind::RestPremium => PayLineKind::RestPremium,
        }
    }
}

/// One priced line of a day, with the reason it is paid.
pub(crate) struct PayLine(EngineLine);

#[Object]
impl PayLine {
    async fn kind(&self) -> PayLineKind {
        self.0.kind.into()
    }
    async fn hours(&self) -> Option<Decimal> {
        self.0.hours
    }
    async fn multiplier(&self) -> Option<Decimal> {
        self.0.multiplier
    }
    /// The night factor on top of the multiplier, for night lines.
    async fn night_factor(&self) -> Option<Decimal> {
        self.0.night_factor
    }
    /// The hourly rate, to 4 decimal places (amounts use the exact rate).
    async fn rate(&self) -> Option<Decimal> {
        self.0.rate.map(|r| r.round_dp(4))
    }
    /// Number of penalties, on meal penalty lines.
    async fn count(&self) -> Option<u32> {
        self.0.count
    }
    async fn amount(&self) -> Decimal {
        self.0.amount
    }
    /// E.g. "0.2 h at 2x: worked beyond 12 h".
    async fn explanation(&self) -> &str {
        &self.0.explanation
    }
}

/// One priced day of a timecard.
pub(crate) struct DayPay(PricedDay);

impl DayPay {
    fn day(&self) -> &EngineDay {
        &self.0.pay
    }
}

#[Object]
impl DayPay {
    async fn date(&self) -> NaiveDate {
        self.day().date
    }
    async fn day_in_week(&self) -> i32 {
        i32::from(self.day().day_in_week)
    }
    /// The rule set version that priced the day, e.g. "REF-US-CREW v2" or "REF-US-CREW preset".
    async fn rule_set(&self) -> &str {
        &self.0.rule_set
    }
    async fn deal_version(&self) -> i32 {
        self.0.deal_version
    }
    /// Worked hours after rounding up to the rule set's unit.
    async fn worked_hours(&self) -> Decimal {
        self.day().worked_hours
    }
    #[graphql(name = "hours1x")]
    async fn hours1x(&self) -> Decimal {
        self.day().hours_1x
    }
    #[graphql(name = "hours15x")]
    async fn hours15x(&self) -> Decimal {
        self.day().hours_15x
    }
    #[graphql(name = "hours2x")]
    async fn hours2x(&self) -> Decimal {
        self.day().hours_2x
    }
    /// Minimum-call hours paid but not worked.
    async fn top_up_hours(&self) -> Decimal {
        self.day().top_up_hours
    }
    async fn night_hours(&self) -> Decimal {
        self.day().night_hours
    }
    async fn meal_penalties(&self) -> u32 {
        self.day().meal_penalties
    }
    async fn meal_penalty_amount(&self) -> Decimal {
        self.day().meal_penalty_amount
    }
    async fn meal_premium_amount(&self) -> Decimal {
        self.day().meal_premium_amount
    }
    async fn rest_invasion_hours(&self) -> Decimal {
        self.day().rest_invasion_hours
    }
    async fn rest_premium_amount(&self) -> Decimal {
        self.day().rest_premium_amount
    }
    async fn gross(&self) -> Decimal {
        self.day().gross
    }
    async fn lines(&self) -> Vec<PayLine> {
        self.day().lines.iter().cloned().map(PayLine).collect()
    }
}

#[derive(SimpleObject)]
pub(crate) struct UnpricedDay {
    date: NaiveDate,
    reason: String,
}

/// A timecard's pay: every priced day with its lines, and the week's gross.
pub(crate) struct TimecardPay(pub(crate) Arc<PricedWeek>);

#[Object]
impl TimecardPay {
    async fn gross(&self) -> Decimal {
        self.0.gross
    }
    async fn days(&self) -> Vec<DayPay> {
        self.0.days.iter().cloned().map(DayPay).collect()
    }
    /// Days on the card without pay, and why (not wrapped yet, a travel day, ...).
    async fn unpriced(&self) -> Vec<UnpricedDay> {
        self.0
            .unpriced
            .iter()
            .map(|u| UnpricedDay {
                date: u.date,
                reason: u.reason.clone(),
            })
            .collect()
    }
}

/// A version of a production's rule set.
#[derive(SimpleObject)]
pub(crate) struct RuleSetVersion {
    name: String,
    version: i32,
    effective_from: NaiveDate,
    reason: String,
    /// The whole rule set as data, in the presets' format.
    rules: Json<serde_json::Value>,
}

impl RuleSetVersion {
    pub(crate) fn from_stored(s: StoredRuleSet) -> async_graphql::Result<Self> {
        Ok(Self {
            rules: Json(
                serde_json::to_value(&s.rules)
                    .map_err(Error::internal)
                    .gql()?,
            ),
            name: s.name,
            version: s.version,
            effective_from: s.effective_from,
            reason: s.reason,
        })
    }
}

/// One department's line of the hot cost report.
#[derive(SimpleObject, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct HotCostLine {
    department: String,
    account_code: Option<String>,
    crew_count: i32,
    #[graphql(name = "hours1x")]
    hours1x: Decimal,
    #[graphql(name = "hours15x")]
    hours15x: Decimal,
    #[graphql(name = "hours2x")]
    hours2x: Decimal,
    meal_penalties: Decimal,
    rest_premiums: Decimal,
    actual_cost: Decimal,
    /// The department's daily labour budget (a production setting); 0 when none is set.
    budget: Decimal,
    /// Budget minus actual: negative when over budget.
    variance: Decimal,
    actual_to_date: Decimal,
    budget_to_date: Decimal,
    variance_to_date: Decimal,
}

impl HotCostLine {
    /// Money to cents and hours to tenths, always with their decimals, as on a printed report.
    fn tidy(&mut self) {
        let fixed = |d: &mut Decimal, places: u32| {
            // Half away from zero, as the pay engine rounds.
            *d = d.round_dp_with_strategy(
                places,
                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
            );
            d.rescale(places);
        };
        for h in [&mut self.hours1x, &mut self.hours15x, &mut self.hours2x] {
            fixed(h, 1);
        }
        for m in [
            &mut self.meal_penalties,
            &mut self.rest_premiums,
            &mut self.actual_cost,
            &mut self.budget,
            &mut self.variance,
            &mut self.actual_to_date,
            &mut self.budget_to_date,
            &mut self.variance_to_date,
        ] {
            fixed(m, 2);
        }
    }
}

#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub(crate) struct HotCost {
    date: NaiveDate,
    currency: String,
    /// Shoot days up to and including `date`.
    shoot_days_to_date: i32,
    departments: Vec<HotCostLine>,
    totals: HotCostLine,
}

#[derive(SimpleObject)]
pub(crate) struct PayrollExport {
    week_ending: NaiveDate,
    /// Data rows (the CSV has a header and a totals row besides).
    rows: i32,
    total_gross: Decimal,
    /// The batch as CSV; columns are documented in docs/API.md.
    csv: String,
    /// The same batch as JSON: `{weekEnding, currency, rows: [...], totals: {...}}`.
    json: Json<serde_json::Value>,
}

/// The priced weeks of everyone with time in the week ending `week_ending`.
async fn production_week(
    rc: &RequestCtx,
    access: &Access,
    week_ending: NaiveDate,
) -> crewtime_domain::Result<(
    Vec<DomainCrew>,
    HashMap<Uuid, Arc<PricedWeek>>,
    Vec<Department>,
)> {
    let tx = rc.tx(access).await?;
    let crew = tx
        .crew_with_days(
            week_ending - Duration::days(6),
            week_ending,
            &CrewFilter {
                scope: &CrewScope::All,
                department: None,
                status: None,
                after: None,
                limit: 1_000_000,
            },
        )
        .await?;
    let departments = tx.departments(None, 100_000).await?;
    tx.commit().await?;
    let weeks = price_weeks(rc, access, &crew, week_ending).await?;
    Ok((crew, weeks, departments))
}

const EXPORT_COLUMNS: [&str; 19] = [
    "employee",
    "employee_id",
    "occupation",
    "union",
    "local",
    "department",
    "account_code",
    "work_date",
    "day_type",
    "day_in_week",
    "hours_1x",
    "hours_1_5x",
    "hours_2x",
    "top_up_hours",
    "meal_penalties",
    "meal_penalty_amount",
    "rest_premium",
    "gross",
    "rule_set",
];

pub(crate) async fn payroll_export(
    rc: &RequestCtx,
    access: &Access,
    week_ending: NaiveDate,
) -> async_graphql::Result<PayrollExport> {
    access
        .require(access.can_read_payroll(), "export payroll")
        .gql()?;
    check_date("weekEnding", week_ending).gql()?;
    let tx = rc.tx(access).await.gql()?;
    let settings = tx.settings().await.gql()?;
    tx.commit().await.gql()?;
    check_week_ending(week_ending, settings.work_week_ends).gql()?;
    // Only finally approved cards go to payroll, and only they are priced: an unapproved card
    // that cannot be priced yet must not hold up the batch.
    let tx = rc.tx(access).await.gql()?;
    let approved = tx.approved_crew(week_ending).await.gql()?;
    let mut crew = tx.crew_members_by_ids(&approved).await.gql()?;
    let departments = tx.departments(None, 100_000).await.gql()?;
    tx.commit().await.gql()?;
    let weeks = price_weeks(rc, access, &crew, week_ending).await.gql()?;
    crew.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let dept: HashMap<Uuid, &Department> = departments.iter().map(|d| (d.id, d)).collect();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(EXPORT_COLUMNS)
        .map_err(Error::internal)
        .gql()?;
    let mut rows = Vec::new();
    let zero = Decimal::ZERO;
    let mut totals = [zero; 7];
    for c in &crew {
        let Some(week) = weeks.get(&c.id) else {
            continue;
        };
        let d = dept.get(&c.department_id);
        for day in &week.days {
            let p = &day.pay;
            let row = serde_json::json!({
                "employee": c.name,
                "employeeId": GlobalId::tenant(Kind::CrewMember, access.production().id, c.id).encode(),
                "occupation": c.occupation_code.clone().unwrap_or_else(|| c.position.clone()),
                "union": c.union_name,
                "local": c.union_local,
                "department": d.map(|d| d.name.clone()),
                "accountCode": d.and_then(|d| d.code.clone()),
                "workDate": p.date,
                "dayType": "WORK",
                "dayInWeek": p.day_in_week,
                "hours1x": p.hours_1x,
                "hours15x": p.hours_15x,
                "hours2x": p.hours_2x,
                "topUpHours": p.top_up_hours,
                "mealPenalties": p.meal_penalties,
                "mealPenaltyAmount": p.meal_penalty_amount + p.meal_premium_amount,
                "restPremium": p.rest_premium_amount,
                "gross": p.gross,
                "ruleSet": day.rule_set,
            });
            let text = |k: &str| match &row[k] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            let record: Vec<String> = [
                "employee",
                "employeeId",
                "occupation",
                "union",
                "local",
                "department",
                "accountCode",
                "workDate",
                "dayType",
                "dayInWeek",
                "hours1x",
                "hours15x",
                "hours2x",
                "topUpHours",
                "mealPenalties",
                "mealPenaltyAmount",
                "restPremium",
                "gross",
                "ruleSet",
            ]
            .iter()
            .map(|k| text(k))
            .collect();
            writer
                .write_record(&record)
                .map_err(Error::internal)
                .gql()?;
            for (t, v) in totals.iter_mut().zip([
                p.hours_1x,
                p.hours_15x,
                p.hours_2x,
                p.top_up_hours,
                p.meal_penalty_amount + p.meal_premium_amount,
                p.rest_premium_amount,
                p.gross,
            ]) {
                *t += v;
            }
            rows.push(row);
        }
    }
    let [h1, h15, h2, top, meals, rest, gross] = totals;
    let total_record: Vec<String> = [
        "TOTAL".to_owned(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        h1.to_string(),
        h15.to_string(),
        h2.to_string(),
        top.to_string(),
        String::new(),
        meals.to_string(),
        rest.to_string(),
        gross.to_string(),
        String::new(),
    ]
    .to_vec();
    writer
        .write_record(&total_record)
        .map_err(Error::internal)
        .gql()?;
    let csv = String::from_utf8(writer.into_inner().map_err(Error::internal).gql()?)
        .map_err(Error::internal)
        .gql()?;
    let count = rows.len();
    Ok(PayrollExport {
        week_ending,
        rows: i32::try_from(count).unwrap_or(i32::MAX),
        total_gross: gross,
        csv,
        json: Json(serde_json::json!({
            "weekEnding": week_ending,
            "currency": access.production().currency,
            "rows": rows,
            "totals": {
                "hours1x": h1, "hours15x": h15, "hours2x": h2, "topUpHours": top,
                "mealPenaltyAmount": meals, "restPremium": rest, "gross": gross,
            },
        })),
    })
}

#[derive(Default, Clone)]
struct Sums {
    crew: std::collections::BTreeSet<Uuid>,
    h1: Decimal,
    h15: Decimal,
    h2: Decimal,
    meals: Decimal,
    rest: Decimal,
    cost: Decimal,
}

impl Sums {
    fn add(&mut self, crew: Uuid, p: &EngineDay) {
        self.crew.insert(crew);
        self.h1 += p.hours_1x;
        self.h15 += p.hours_15x;
        self.h2 += p.hours_2x;
        self.meals += p.meal_penalty_amount + p.meal_premium_amount;
        self.rest += p.rest_premium_amount;
        self.cost += p.gross;
    }
}

/// The hot cost report for `date`, from the cache while no crew member's time up to the date's
/// week, crew member, deal, rule set, budget, department or setting changed since it was
/// computed.
pub(crate) async fn hot_cost(
    rc: &RequestCtx,
    access: &Access,
    date: NaiveDate,
) -> async_graphql::Result<Arc<HotCost>> {
    access
        .require(access.can_read_payroll(), "read the hot cost report")
        .gql()?;
    check_date("date", date).gql()?;
    let versions = rc
        .store
        .read_model_versions(access.production().id, date)
        .await
        .gql()?;
    let key = hot_cost_key(access.production(), date, &versions);
    rc.cache
        .hot_cost
        .get_or_compute(key, || {
            compute_hot_cost(rc, access, date, versions.settings.work_week_ends)
        })
        .await
        .gql()
}

async fn compute_hot_cost(
    rc: &RequestCtx,
    access: &Access,
    date: NaiveDate,
    work_week_ends: u8,
) -> crewtime_domain::Result<HotCost> {
    let tx = rc.tx(access).await?;
    let shoot_days = tx.shoot_days_until(date).await?;
    tx.commit().await?;
    // Every week from the first shoot day to `date`, priced (from the cache where unchanged).
    let mut day_sums: BTreeMap<Uuid, Sums> = BTreeMap::new();
    let mut to_date: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    let mut departments = Vec::new();
    let mut weeks: Vec<NaiveDate> = shoot_days
        .iter()
        .map(|d| week_ending_of(*d, work_week_ends))
        .collect();
    weeks.dedup();
    for week in weeks {
        let (crew, priced, depts) = production_week(rc, access, week).await?;
        departments = depts;
        for c in &crew {
            let Some(w) = priced.get(&c.id) else { continue };
            for d in w.days.iter().filter(|d| d.pay.date <= date) {
                *to_date.entry(c.department_id).or_default() += d.pay.gross;
                if d.pay.date == date {
                    day_sums
                        .entry(c.department_id)
                        .or_default()
                        .add(c.id, &d.pay);
                }
            }
        }
    }
    let days = Decimal::from(shoot_days.len());
    let mut lines = Vec::new();
    let mut total = HotCostLine {
        department: "TOTAL".into(),
        account_code: None,
        crew_count: 0,
        hours1x: Decimal::ZERO,
        hours15x: Decimal::ZERO,
        hours2x: Decimal::ZERO,
        meal_penalties: Decimal::ZERO,
        rest_premiums: Decimal::ZERO,
        actual_cost: Decimal::ZERO,
        budget: Decimal::ZERO,
        variance: Decimal::ZERO,
        actual_to_date: Decimal::ZERO,
        budget_to_date: Decimal::ZERO,
        variance_to_date: Decimal::ZERO,
    };
    departments.sort_by(|a, b| a.name.cmp(&b.name));
    for d in departments {
        let s = day_sums.remove(&d.id).unwrap_or_default();
        let budget = d.daily_budget.unwrap_or_default();
        let actual_to_date = to_date.get(&d.id).copied().unwrap_or_default();
        let budget_to_date = budget * days;
        let line = HotCostLine {
            department: d.name.clone(),
            account_code: d.code.clone(),
            crew_count: i32::try_from(s.crew.len()).unwrap_or(i32::MAX),
            hours1x: s.h1,
            hours15x: s.h15,
            hours2x: s.h2,
            meal_penalties: s.meals,
            rest_premiums: s.rest,
            actual_cost: s.cost,
            budget,
            variance: budget - s.cost,
            actual_to_date,
            budget_to_date,
            variance_to_date: budget_to_date - actual_to_date,
        };
        total.crew_count += line.crew_count;
        total.hours1x += line.hours1x;
        total.hours15x += line.hours15x;
        total.hours2x += line.hours2x;
        total.meal_penalties += line.meal_penalties;
        total.rest_premiums += line.rest_premiums;
        total.actual_cost += line.actual_cost;
        total.budget += line.budget;
        total.variance += line.variance;
        total.actual_to_date += line.actual_to_date;
        total.budget_to_date += line.budget_to_date;
        total.variance_to_date += line.variance_to_date;
        lines.push(line);
    }
    for line in lines.iter_mut().chain(std::iter::once(&mut total)) {
        line.tidy();
    }
    Ok(HotCost {
        date,
        currency: access.production().currency.clone(),
        shoot_days_to_date: i32::try_from(shoot_days.len()).unwrap_or(i32::MAX),
        departments: lines,
        totals: total,
    })
}

#[derive(InputObject)]
pub(crate) struct SetRuleSetInput {
    production_id: ID,
    /// The rule set to change: REF-US-CREW or CA-NONUNION. The new version starts from the
    /// production's latest version of it (or the preset) with `options` applied.
    rule_set: String,
    effective_from: NaiveDate,
    /// Option overrides, e.g. {"mealPenaltySchedule": "S", "mealGraceMinutes": 12}.
    options: Json<serde_json::Map<String, serde_json::Value>>,
    reason: String,
}

#[derive(SimpleObject)]
pub(crate) struct SetRuleSetPayload {
    rule_set: RuleSetVersion,
}

#[derive(InputObject)]
pub(crate) struct SetDepartmentBudgetInput {
    department_id: ID,
    /// The daily labour budget; null clears it.
    daily_budget: Option<Decimal>,
}

#[derive(SimpleObject)]
pub(crate) struct SetDepartmentBudgetPayload {
    daily_budget: Option<Decimal>,
}

#[derive(Default)]
pub(crate) struct PayQuery;

#[Object]
impl PayQuery {
    /// Prices a case (or a list of cases) in the pay vector format and answers in the shape
    /// of the vectors' `expected`. Any signed-in user (not an API token); nothing is stored.
    async fn pay_preview(
        &self,
        ctx: &Context<'_>,
        case: Json<serde_json::Value>,
    ) -> async_graphql::Result<Json<serde_json::Value>> {
        RequestCtx::get(ctx).user("preview pay").await.gql()?;
        preview(&case.0)
            .map(Json)
            .map_err(|e| match e {
                Error::Invalid { field, message } => Error::invalid(
                    format!("case.{field}").trim_end_matches('.').to_owned(),
                    message,
                ),
                other => other,
            })
            .gql()
    }
}

/// The `crewtime pay` and `payPreview` answer: `expected` for one case, a list for a list.
pub fn preview(input: &serde_json::Value) -> crewtime_domain::Result<serde_json::Value> {
    let cases = pay::parse_cases(input).map_err(pay_error)?;
    let mut out = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let week = pay::compute_case(case).map_err(|e| {
            pay_error(if input.is_array() {
                e.within(&format!("[{i}]"))
            } else {
                e
            })
        })?;
        out.push(week.to_expected_json());
    }
    Ok(if input.is_array() {
        serde_json::Value::Array(out)
    } else {
        out.pop().unwrap_or(serde_json::Value::Null)
    })
}

#[derive(Default)]
pub(crate) struct PayMutation;

#[Object]
impl PayMutation {
    /// Stores a new version of one of the production's rule sets, effective from a date.
    async fn set_rule_set(
        &self,
        ctx: &Context<'_>,
        input: SetRuleSetInput,
    ) -> async_graphql::Result<SetRuleSetPayload> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("productionId", &input.production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_manage_deals(), "change rule sets")
            .gql()?;
        let reason = required_reason(&input.reason).gql()?;
        check_date("effectiveFrom", input.effective_from).gql()?;
        if !crewtime_domain::crew::RULE_SETS.contains(&input.rule_set.as_str()) {
            return Err(Error::invalid(
                "ruleSet",
                format!("{:?} is not a rule set", input.rule_set),
            ))
            .gql();
        }
        let tx = rc.tx(&access).await.gql()?;
        let stored = tx.rule_sets().await.gql()?;
        let (_, base) = rules_on(&input.rule_set, &stored, input.effective_from).gql()?;
        let mut rules = base.into_owned();
        rules
            .apply_options(&input.options.0)
            .map_err(|e| pay_error(e.within("options")))
            .gql()?;
        rules.effective_from = input.effective_from;
        let saved = tx
            .save_rule_set(access.user, &rules, input.effective_from, &reason)
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(SetRuleSetPayload {
            rule_set: RuleSetVersion::from_stored(saved)?,
        })
    }

    /// Sets a department's daily labour budget for the hot cost report.
    async fn set_department_budget(
        &self,
        ctx: &Context<'_>,
        input: SetDepartmentBudgetInput,
    ) -> async_graphql::Result<SetDepartmentBudgetPayload> {
        let rc = RequestCtx::get(ctx);
        let (production, dept) =
            GlobalId::of(Kind::Department, "departmentId", &input.department_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_manage_deals(), "set budgets")
            .gql()?;
        if input
            .daily_budget
            .is_some_and(|b| b < Decimal::ZERO || b > Decimal::from(100_000_000))
        {
            return Err(Error::invalid(
                "dailyBudget",
                "must be between 0 and 100000000",
            ))
            .gql();
        }
        let tx = rc.tx(&access).await.gql()?;
        let d = tx
            .set_department_budget(
                dept,
                input.daily_budget.map(|b| {
                    b.round_dp_with_strategy(
                        2,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    )
                }),
            )
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(SetDepartmentBudgetPayload {
            daily_budget: d.daily_budget,
        })
    }
}
