//! A week of timecards in one statement: the "department week" page and a single crew
//! member's week. The statement returns one row whose columns are JSON aggregates (settings,
//! the crew, their work days with punches, their departments, the week's published call sheets
//! with their calls, the week's timecard states with their signatures), decoded here into the
//! same domain structs the separate reads return. The time (days, sheets, cards) is left out
//! when the caller asks only for what the read cache serves.

use chrono::NaiveDate;
use crewtime_domain::callsheet::CallSheet;
use crewtime_domain::crew::CrewMember;
use crewtime_domain::production::Department;
use crewtime_domain::time::{Punch, PunchKind};
use crewtime_domain::{Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::callsheets::{assemble_sheets, CallRow, SheetRow};
use crate::crew::{CrewRow, CrewScope};
use crate::departments::DepartmentRow;
use crate::punches::{day_record, CrewFilter, DayRow, Settings, WorkDayRecord};
use crate::timecards::{card_records, ApprovalRow, CardRow, TimecardRecord};
use crate::{db_err, TenantTx};

/// Whose week to read.
#[derive(Debug, Clone, Copy)]
pub enum WeekCrew<'a> {
    /// A page of the crew with at least one work day in the week (the timecard list).
    Page(CrewFilter<'a>),
    /// One crew member, whether or not they have time that week.
    One(Uuid),
}

/// Everything a week's timecards show.
#[derive(Debug, Clone)]
pub struct WeekRead {
    pub settings: Settings,
    /// In id order; for `WeekCrew::Page` at most `limit` members.
    pub crew: Vec<CrewMember>,
    /// The crew's departments.
    pub departments: Vec<Department>,
    /// The days, call sheets and cards, when asked for (see [`TenantTx::week`]).
    pub time: Option<WeekTime>,
}

/// The part of a week read that is the crew's time.
#[derive(Debug, Clone)]
pub struct WeekTime {
    /// The crew's work days in the week, each with its live punches in time order.
    pub days: Vec<WorkDayRecord>,
    /// The published issue of each day of the week that has one.
    pub sheets: Vec<CallSheet>,
    /// One card per crew member (a draft with version 0 where none is stored).
    pub cards: Vec<TimecardRecord>,
}

/// `$1` first day, `$2` week ending, `$3` department, `$4` after, `$5` limit, `$6` status,
/// `$7..$9` the caller's crew scope, `$10` one crew member. `{crew_filter}` is
/// [`crew_filter`]'s conditions: only those a request uses are in its text, so PostgreSQL can
/// plan each variant once (a generic plan) instead of planning `$n IS NULL OR ...` on every
/// execution, which cost about a fifth of the statement's time.
///
/// Every column is JSON as text, decoded straight into the row structs. A punch is an array
/// `[id, kind, at, version]` (its crew member and day are its day's): objects with keys took
/// PostgreSQL a third of the statement's time to build for a department's 600 punches.
const WEEK_SQL: &str = "\
WITH crew AS (
  SELECT c.id, c.department_id, c.name, c.email, c.position, c.occupation_code, c.union_name,
         c.union_local, c.rule_set, c.user_id, c.version, c.time_version, c.created_at
  FROM crew_members c
  WHERE {crew_filter}
  ORDER BY c.id LIMIT $5
)
SELECT
  (SELECT json_build_object('work_week_ends', s.work_week_ends, 'version', s.version,
          'rules_version', s.rules_version) FROM settings s WHERE s.id = 1)::text AS settings,
  (SELECT COALESCE(json_agg(c ORDER BY c.id), '[]') FROM crew c)::text AS crew,
  (SELECT COALESCE(json_agg(json_build_object(
            'id', x.id, 'name', x.name, 'code', x.code, 'daily_budget', x.daily_budget::text,
            'created_at', x.created_at) ORDER BY x.id), '[]')
   FROM departments x WHERE x.id IN (SELECT department_id FROM crew))::text AS departments
  {time_columns}";

/// The columns of [`WEEK_SQL`] that are the crew's time: the costly part (every day and punch
/// of the page as JSON), left out when only cached figures are asked for.
const TIME_COLUMNS: &str = "\
  , (SELECT COALESCE(json_agg(json_build_object(
            'id', d.id, 'crew_member_id', d.crew_member_id, 'work_date', d.work_date,
            'day_type', d.day_type, 'version', d.version,
            'punches', COALESCE((SELECT json_agg(json_build_array(p.id, p.kind, p.at, p.version)
                ORDER BY p.at, p.id)
              FROM punches p WHERE p.work_day_id = d.id AND p.deleted_at IS NULL), '[]'))
          ORDER BY d.crew_member_id, d.work_date), '[]')
   FROM work_days d
   WHERE d.crew_member_id IN (SELECT id FROM crew) AND d.work_date BETWEEN $1 AND $2)::text AS days,
  (SELECT COALESCE(json_agg(json_build_object(
            'id', s.id, 'shoot_date', s.shoot_date, 'issue', s.issue, 'status', s.status,
            'day_number', s.day_number, 'total_days', s.total_days,
            'general_call', s.general_call, 'shooting_call', s.shooting_call,
            'planned_meals', s.planned_meals, 'locations', s.locations,
            'nearest_hospital', s.nearest_hospital, 'notes', s.notes, 'version', s.version,
            'created_at', s.created_at, 'published_at', s.published_at,
            'calls', COALESCE((SELECT json_agg(json_build_object(
                'call_sheet_id', k.call_sheet_id, 'department_id', k.department_id,
                'crew_member_id', k.crew_member_id, 'call_at', k.call_at) ORDER BY k.call_at)
              FROM call_sheet_calls k WHERE k.call_sheet_id = s.id), '[]'))
          ORDER BY s.shoot_date, s.issue), '[]')
   FROM call_sheets s
   WHERE s.status = 'PUBLISHED' AND s.shoot_date BETWEEN $1 AND $2)::text AS sheets,
  (SELECT COALESCE(json_agg(json_build_object(
            'id', t.id, 'crew_member_id', t.crew_member_id, 'week_ending', t.week_ending,
            'status', t.status, 'version', t.version, 'rejection_reason', t.rejection_reason,
            'approvals', COALESCE((SELECT json_agg(json_build_object(
                'timecard_id', a.timecard_id, 'step', a.step, 'actor_id', a.actor_id,
                'at', a.at) ORDER BY a.at)
              FROM timecard_approvals a WHERE a.timecard_id = t.id AND a.cleared_at IS NULL),
              '[]'))), '[]')
   FROM timecards t
   WHERE t.crew_member_id IN (SELECT id FROM crew) AND t.week_ending = $2)::text AS cards";

/// The crew CTE's conditions for one read (see `WEEK_SQL`).
fn crew_filter(filter: &CrewFilter<'_>, one: bool) -> String {
    let mut conditions = Vec::with_capacity(5);
    if one {
        conditions.push("c.id = $10");
    } else {
        conditions.push(
            "EXISTS (SELECT 1 FROM work_days d \
             WHERE d.crew_member_id = c.id AND d.work_date BETWEEN $1 AND $2)",
        );
    }
    if filter.department.is_some() {
        conditions.push("c.department_id = $3");
    }
    if filter.after.is_some() {
        conditions.push("c.id > $4");
    }
    if filter.status.is_some() {
        conditions.push(
            "COALESCE((SELECT t.status FROM timecards t \
             WHERE t.crew_member_id = c.id AND t.week_ending = $2), 'DRAFT') = $6",
        );
    }
    if !matches!(filter.scope, CrewScope::All) {
        conditions.push("($7::bool OR c.department_id = ANY($8) OR c.user_id = $9)");
    }
    conditions.join(" AND ")
}

#[derive(serde::Deserialize)]
struct SettingsJson {
    work_week_ends: i16,
    version: i32,
    rules_version: i32,
}

#[derive(serde::Deserialize)]
struct DayJson {
    #[serde(flatten)]
    day: DayRow,
    punches: Vec<(Uuid, String, chrono::DateTime<chrono::Utc>, i32)>,
}

#[derive(serde::Deserialize)]
struct SheetJson {
    #[serde(flatten)]
    sheet: SheetRow,
    calls: Vec<CallRow>,
}

#[derive(serde::Deserialize)]
struct CardJson {
    #[serde(flatten)]
    card: CardRow,
    approvals: Vec<ApprovalRow>,
}

fn column<T: DeserializeOwned>(row: &sea_orm::QueryResult, name: &str) -> Result<T> {
    let text: Option<String> = row.try_get("", name).map_err(db_err)?;
    serde_json::from_str(text.as_deref().unwrap_or("null"))
        .map_err(|e| Error::internal(format!("week read, {name}: {e}")))
}

impl TenantTx {
    /// The week from `from` to `week_ending` of `who`, in one statement; its time (days,
    /// punches, call sheets, cards) only `with_time`.
    pub async fn week(
        &self,
        from: NaiveDate,
        week_ending: NaiveDate,
        who: WeekCrew<'_>,
        with_time: bool,
    ) -> Result<WeekRead> {
        let all = CrewScope::All;
        let (filter, one) = match who {
            WeekCrew::Page(f) => (f, None),
            WeekCrew::One(id) => (
                CrewFilter {
                    scope: &all,
                    department: None,
                    status: None,
                    after: None,
                    limit: 1,
                },
                Some(id),
            ),
        };
        let [everyone, departments, user] = filter.scope.values();
        let sql = WEEK_SQL
            .replace("{crew_filter}", &crew_filter(&filter, one.is_some()))
            .replace("{time_columns}", if with_time { TIME_COLUMNS } else { "" });
        let row = self
            .conn()
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [
                    from.into(),
                    week_ending.into(),
                    filter.department.into(),
                    filter.after.into(),
                    i64::try_from(filter.limit).unwrap_or(i64::MAX).into(),
                    filter.status.map(str::to_owned).into(),
                    everyone,
                    departments,
                    user,
                    one.into(),
                ],
            ))
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::internal("week read returned no row"))?;
        let settings: Option<SettingsJson> = column(&row, "settings")?;
        let settings = settings.ok_or_else(|| Error::internal("settings row missing"))?;
        let crew: Vec<CrewRow> = column(&row, "crew")?;
        let crew: Vec<CrewMember> = crew.into_iter().map(CrewMember::from).collect();
        let departments = column::<Vec<DepartmentRow>>(&row, "departments")?
            .into_iter()
            .map(|d| self.department(d))
            .collect();
        let time = if with_time {
            Some(week_time(&row, &crew, week_ending)?)
        } else {
            None
        };
        Ok(WeekRead {
            settings: Settings {
                work_week_ends: u8::try_from(settings.work_week_ends).map_err(Error::internal)?,
                version: settings.version,
                rules_version: settings.rules_version,
            },
            crew,
            departments,
            time,
        })
    }
}

/// The time columns of a week read (see [`TIME_COLUMNS`]).
fn week_time(
    row: &sea_orm::QueryResult,
    crew: &[CrewMember],
    week_ending: NaiveDate,
) -> Result<WeekTime> {
    let days = column::<Vec<DayJson>>(row, "days")?
        .into_iter()
        .map(|d| {
            let punches = d
                .punches
                .into_iter()
                .map(|(id, kind, at, version)| {
                    Ok(Punch {
                        id,
                        crew_member_id: d.day.crew_member_id,
                        work_day_id: d.day.id,
                        kind: PunchKind::parse(&kind)?,
                        at,
                        version,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            day_record(d.day, punches)
        })
        .collect::<Result<Vec<_>>>()?;
    let (sheets, calls): (Vec<SheetRow>, Vec<Vec<CallRow>>) =
        column::<Vec<SheetJson>>(row, "sheets")?
            .into_iter()
            .map(|s| (s.sheet, s.calls))
            .unzip();
    let calls: Vec<CallRow> = calls.into_iter().flatten().collect();
    let sheets = assemble_sheets(sheets, &calls)?;
    let (cards, approvals): (Vec<CardRow>, Vec<Vec<ApprovalRow>>) =
        column::<Vec<CardJson>>(row, "cards")?
            .into_iter()
            .map(|c| (c.card, c.approvals))
            .unzip();
    let approvals: Vec<ApprovalRow> = approvals.into_iter().flatten().collect();
    let ids: Vec<Uuid> = crew.iter().map(|c| c.id).collect();
    let cards = card_records(&ids, week_ending, &cards, &approvals)?;
    Ok(WeekTime {
        days,
        sheets,
        cards,
    })
}
