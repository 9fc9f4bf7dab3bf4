//! Call sheets and their issues, inside one production's schema.

use chrono::{DateTime, NaiveDate, Utc};
use crewtime_domain::callsheet::{
    CallSheet, CallSheetContent, CallSheetStatus, CallTarget, CallTime, Location, PlannedMeal,
};
use crewtime_domain::{Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::audit::snapshot;
use crate::idempotency::{replay_id, IdempotencyKey};
use crate::{db_err, is_unique_violation, TenantTx};

#[derive(FromQueryResult, serde::Deserialize)]
pub(crate) struct SheetRow {
    id: Uuid,
    shoot_date: NaiveDate,
    issue: i32,
    status: String,
    day_number: i32,
    total_days: i32,
    general_call: DateTime<Utc>,
    shooting_call: Option<DateTime<Utc>>,
    planned_meals: serde_json::Value,
    locations: serde_json::Value,
    nearest_hospital: Option<String>,
    notes: Option<String>,
    version: i32,
    created_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
}

#[derive(FromQueryResult, serde::Deserialize)]
pub(crate) struct CallRow {
    call_sheet_id: Uuid,
    department_id: Option<Uuid>,
    crew_member_id: Option<Uuid>,
    call_at: DateTime<Utc>,
}

const SHEET_COLUMNS: &str = "id, shoot_date, issue, status, day_number, total_days, general_call, \
     shooting_call, planned_meals, locations, nearest_hospital, notes, version, created_at, published_at";

fn sheet(r: SheetRow, calls: Vec<CallTime>) -> Result<CallSheet> {
    let planned_meals: Vec<PlannedMeal> = serde_json::from_value(r.planned_meals)
        .map_err(|e| Error::internal(format!("stored planned meals: {e}")))?;
    let locations: Vec<Location> = serde_json::from_value(r.locations)
        .map_err(|e| Error::internal(format!("stored locations: {e}")))?;
    Ok(CallSheet {
        id: r.id,
        issue: r.issue,
        status: CallSheetStatus::parse(&r.status)?,
        version: r.version,
        content: CallSheetContent {
            shoot_date: r.shoot_date,
            day_number: r.day_number,
            total_days: r.total_days,
            general_call: r.general_call,
            shooting_call: r.shooting_call,
            planned_meals,
            locations,
            nearest_hospital: r.nearest_hospital,
            notes: r.notes,
            calls,
        },
        created_at: r.created_at,
        published_at: r.published_at,
    })
}

impl TenantTx {
    /// Starts a draft for a shoot day. A day has at most one draft at a time.
    pub async fn create_call_sheet(
        &self,
        actor: Uuid,
        content: &CallSheetContent,
        key: Option<&IdempotencyKey>,
    ) -> Result<CallSheet> {
        const OP: &str = "createCallSheet";
        let request = serde_json::to_value(content).map_err(Error::internal)?;
        if let Some(answer) = self.replayed(actor, OP, key, &request).await? {
            let id = replay_id(&answer, "callSheetId")?;
            return self
                .call_sheet(id)
                .await?
                .ok_or(Error::NotFound("call sheet"));
        }
        let sheet = self.new_issue(content).await?;
        self.audit(
            "createCallSheet",
            "CallSheet",
            Some(sheet.id),
            None,
            Some(snapshot(&sheet)?),
            None,
        )
        .await?;
        self.remember_answer(
            actor,
            OP,
            key,
            &serde_json::json!({ "callSheetId": sheet.id }),
        )
        .await?;
        Ok(sheet)
    }

    async fn new_issue(&self, content: &CallSheetContent) -> Result<CallSheet> {
        self.check_call_targets(content).await?;
        let issue = self
            .conn()
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT COALESCE(max(issue), 0) + 1 FROM call_sheets WHERE shoot_date = $1",
                [content.shoot_date.into()],
            ))
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::internal("no row"))?
            .try_get_by_index::<i32>(0)
            .map_err(db_err)?;
        self.insert_sheet(content, issue).await
    }

    async fn insert_sheet(&self, content: &CallSheetContent, issue: i32) -> Result<CallSheet> {
        let id = Uuid::now_v7();
        let row = SheetRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO call_sheets (id, shoot_date, issue, status, day_number, total_days, general_call, \
                 shooting_call, planned_meals, locations, nearest_hospital, notes) \
                 VALUES ($1, $2, $3, 'DRAFT', $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {SHEET_COLUMNS}"
            ),
            [
                id.into(),
                content.shoot_date.into(),
                issue.into(),
                content.day_number.into(),
                content.total_days.into(),
                content.general_call.into(),
                content.shooting_call.into(),
                json(&content.planned_meals)?.into(),
                json(&content.locations)?.into(),
                content.nearest_hospital.clone().into(),
                content.notes.clone().into(),
            ],
        ))
        .one(self.conn())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(format!(
                    "{} already has a draft call sheet; edit or publish it",
                    content.shoot_date
                ))
            } else {
                db_err(e)
            }
        })?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
        self.insert_calls(id, &content.calls).await?;
        sheet(row, content.calls.clone())
    }

    async fn insert_calls(&self, sheet: Uuid, calls: &[CallTime]) -> Result<()> {
        for c in calls {
            let (dept, crew) = match c.target {
                CallTarget::Department(d) => (Some(d), None),
                CallTarget::CrewMember(m) => (None, Some(m)),
            };
            self.conn()
                .execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO call_sheet_calls (call_sheet_id, department_id, crew_member_id, call_at) \
                     VALUES ($1, $2, $3, $4)",
                    [sheet.into(), dept.into(), crew.into(), c.at.into()],
                ))
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Every department and person a sheet calls must exist in this production.
    async fn check_call_targets(&self, content: &CallSheetContent) -> Result<()> {
        for (i, c) in content.calls.iter().enumerate() {
            let (table, id) = match c.target {
                CallTarget::Department(d) => ("departments", d),
                CallTarget::CrewMember(m) => ("crew_members", m),
            };
            let found = self
                .conn()
                .query_one(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    format!("SELECT 1 FROM {table} WHERE id = $1"),
                    [id.into()],
                ))
                .await
                .map_err(db_err)?;
            if found.is_none() {
                return Err(Error::invalid(
                    format!("calls[{i}]"),
                    "names no department or crew member of this production",
                ));
            }
        }
        Ok(())
    }

    /// Replaces a draft's contents. Published issues are re-issued, never edited.
    pub async fn update_call_sheet(
        &self,
        id: Uuid,
        content: &CallSheetContent,
        expected_version: i32,
    ) -> Result<CallSheet> {
        let current = self
            .call_sheet(id)
            .await?
            .ok_or(Error::NotFound("call sheet"))?;
        if current.status != CallSheetStatus::Draft {
            return Err(Error::Conflict(
                "a published call sheet is re-issued as a new version, not edited".into(),
            ));
        }
        if current.content.shoot_date != content.shoot_date {
            return Err(Error::invalid(
                "shootDate",
                "a draft keeps its shoot date; start a new sheet for another day",
            ));
        }
        self.check_call_targets(content).await?;
        let updated = self
            .conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE call_sheets SET day_number = $3, total_days = $4, general_call = $5, shooting_call = $6, \
                 planned_meals = $7, locations = $8, nearest_hospital = $9, notes = $10, version = version + 1 \
                 WHERE id = $1 AND version = $2 AND status = 'DRAFT'",
                [
                    id.into(),
                    expected_version.into(),
                    content.day_number.into(),
                    content.total_days.into(),
                    content.general_call.into(),
                    content.shooting_call.into(),
                    json(&content.planned_meals)?.into(),
                    json(&content.locations)?.into(),
                    content.nearest_hospital.clone().into(),
                    content.notes.clone().into(),
                ],
            ))
            .await
            .map_err(db_err)?;
        if updated.rows_affected() == 0 {
            return Err(stale(current.version, expected_version));
        }
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM call_sheet_calls WHERE call_sheet_id = $1",
                [id.into()],
            ))
            .await
            .map_err(db_err)?;
        self.insert_calls(id, &content.calls).await?;
        let after = self
            .call_sheet(id)
            .await?
            .ok_or(Error::NotFound("call sheet"))?;
        self.audit(
            "updateCallSheet",
            "CallSheet",
            Some(id),
            Some(snapshot(&current)?),
            Some(snapshot(&after)?),
            None,
        )
        .await?;
        Ok(after)
    }

    /// Publishes a draft; the day's previously published issue becomes SUPERSEDED.
    pub async fn publish_call_sheet(&self, id: Uuid, expected_version: i32) -> Result<CallSheet> {
        let current = self
            .call_sheet(id)
            .await?
            .ok_or(Error::NotFound("call sheet"))?;
        if current.status != CallSheetStatus::Draft {
            return Err(Error::Conflict("only a draft can be published".into()));
        }
        if current.version != expected_version {
            return Err(stale(current.version, expected_version));
        }
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE call_sheets SET status = 'SUPERSEDED', version = version + 1 \
                 WHERE shoot_date = $1 AND status = 'PUBLISHED'",
                [current.content.shoot_date.into()],
            ))
            .await
            .map_err(db_err)?;
        let updated = self
            .conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE call_sheets SET status = 'PUBLISHED', published_at = now(), version = version + 1 \
                 WHERE id = $1 AND version = $2 AND status = 'DRAFT'",
                [id.into(), expected_version.into()],
            ))
            .await
            .map_err(db_err)?;
        if updated.rows_affected() == 0 {
            return Err(Error::Conflict(
                "the call sheet changed meanwhile; reload and retry".into(),
            ));
        }
        let after = self
            .call_sheet(id)
            .await?
            .ok_or(Error::NotFound("call sheet"))?;
        self.audit(
            "publishCallSheet",
            "CallSheet",
            Some(id),
            Some(serde_json::json!({ "status": current.status, "version": current.version })),
            Some(serde_json::json!({ "status": after.status, "version": after.version })),
            None,
        )
        .await?;
        Ok(after)
    }

    /// Starts the next issue of a published sheet as a draft copy.
    pub async fn reissue_call_sheet(&self, id: Uuid) -> Result<CallSheet> {
        let current = self
            .call_sheet(id)
            .await?
            .ok_or(Error::NotFound("call sheet"))?;
        if current.status != CallSheetStatus::Published {
            return Err(Error::Conflict(
                "only the published issue can be re-issued".into(),
            ));
        }
        let next = self.new_issue(&current.content).await?;
        self.audit(
            "reissueCallSheet",
            "CallSheet",
            Some(next.id),
            Some(serde_json::json!({ "issuedFrom": current.id, "issue": current.issue })),
            Some(snapshot(&next)?),
            None,
        )
        .await?;
        Ok(next)
    }

    pub async fn call_sheet(&self, id: Uuid) -> Result<Option<CallSheet>> {
        Ok(self
            .sheets_where("id = $1", id.into())
            .await?
            .into_iter()
            .next())
    }

    /// Every issue of a day's call sheet, newest first.
    pub async fn call_sheet_issues(&self, date: NaiveDate) -> Result<Vec<CallSheet>> {
        let mut all = self.sheets_where("shoot_date = $1", date.into()).await?;
        all.sort_by_key(|s| std::cmp::Reverse(s.issue));
        Ok(all)
    }

    /// The published issue for each of `dates` that has one.
    pub async fn published_call_sheets(&self, dates: &[NaiveDate]) -> Result<Vec<CallSheet>> {
        self.sheets_where(
            "status = 'PUBLISHED' AND shoot_date = ANY($1)",
            dates.to_vec().into(),
        )
        .await
    }

    async fn sheets_where(&self, filter: &str, value: sea_orm::Value) -> Result<Vec<CallSheet>> {
        let rows = SheetRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {SHEET_COLUMNS} FROM call_sheets WHERE {filter} ORDER BY shoot_date, issue"
            ),
            [value],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let calls = CallRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT call_sheet_id, department_id, crew_member_id, call_at FROM call_sheet_calls \
             WHERE call_sheet_id = ANY($1) ORDER BY call_at",
            [ids.into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        assemble_sheets(rows, &calls)
    }
}

/// Sheets with their calls (`calls` in call time order, of any of the sheets).
pub(crate) fn assemble_sheets(rows: Vec<SheetRow>, calls: &[CallRow]) -> Result<Vec<CallSheet>> {
    rows.into_iter()
        .map(|r| {
            let mine = calls
                .iter()
                .filter(|c| c.call_sheet_id == r.id)
                .filter_map(|c| {
                    let target = match (c.department_id, c.crew_member_id) {
                        (Some(d), _) => CallTarget::Department(d),
                        (None, Some(m)) => CallTarget::CrewMember(m),
                        (None, None) => return None,
                    };
                    Some(CallTime {
                        target,
                        at: c.call_at,
                    })
                })
                .collect();
            sheet(r, mine)
        })
        .collect()
}

fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("serialise: {e}")))
}

pub(crate) fn stale(current: i32, expected: i32) -> Error {
    Error::Conflict(format!(
        "expectedVersion {expected} is stale; the current version is {current}"
    ))
}
