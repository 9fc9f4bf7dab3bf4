//! Timecard approvals: the status of each crew member's week and its signatures. Any edit to
//! the time of a card in approval returns it to draft and clears its signatures; a finally
//! approved card refuses edits until an accountant unlocks it.

use chrono::{DateTime, NaiveDate, Utc};
use crewtime_domain::approval::{transition, ApprovalAction, ApprovalStep, TimecardStatus};
use crewtime_domain::time::week_ending;
use crewtime_domain::{Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::snapshot;
use crate::callsheets::stale;
use crate::{db_err, TenantTx};

/// A signature that stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRecord {
    pub step: ApprovalStep,
    pub actor_id: Uuid,
    pub at: DateTime<Utc>,
}

/// A week's card: status, version (0 before anything happened to it) and signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimecardRecord {
    pub id: Option<Uuid>,
    pub crew_member_id: Uuid,
    pub week_ending: NaiveDate,
    pub status: TimecardStatus,
    pub version: i32,
    pub rejection_reason: Option<String>,
    pub approvals: Vec<ApprovalRecord>,
}

#[derive(FromQueryResult, serde::Deserialize)]
pub(crate) struct CardRow {
    id: Uuid,
    crew_member_id: Uuid,
    week_ending: NaiveDate,
    status: String,
    version: i32,
    rejection_reason: Option<String>,
}

#[derive(FromQueryResult, serde::Deserialize)]
pub(crate) struct ApprovalRow {
    timecard_id: Uuid,
    step: String,
    actor_id: Uuid,
    at: DateTime<Utc>,
}

impl TenantTx {
    /// The cards of `crew` for one week (a draft with version 0 where none is stored).
    pub async fn timecards_of(
        &self,
        crew: &[Uuid],
        week: NaiveDate,
    ) -> Result<Vec<TimecardRecord>> {
        let rows = CardRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, crew_member_id, week_ending, status, version, rejection_reason FROM timecards \
             WHERE crew_member_id = ANY($1) AND week_ending = $2",
            [crew.to_vec().into(), week.into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let approvals = if ids.is_empty() {
            Vec::new()
        } else {
            ApprovalRow::find_by_statement(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT timecard_id, step, actor_id, at FROM timecard_approvals \
                 WHERE timecard_id = ANY($1) AND cleared_at IS NULL ORDER BY at",
                [ids.into()],
            ))
            .all(self.conn())
            .await
            .map_err(db_err)?
        };
        card_records(crew, week, &rows, &approvals)
    }
}

/// One card per crew member of `crew` (a draft with version 0 where `rows` has none), with the
/// signatures in `approvals` that belong to it.
pub(crate) fn card_records(
    crew: &[Uuid],
    week: NaiveDate,
    rows: &[CardRow],
    approvals: &[ApprovalRow],
) -> Result<Vec<TimecardRecord>> {
    crew.iter()
        .map(|c| match rows.iter().find(|r| r.crew_member_id == *c) {
            None => Ok(TimecardRecord {
                id: None,
                crew_member_id: *c,
                week_ending: week,
                status: TimecardStatus::Draft,
                version: 0,
                rejection_reason: None,
                approvals: Vec::new(),
            }),
            Some(r) => Ok(TimecardRecord {
                id: Some(r.id),
                crew_member_id: r.crew_member_id,
                week_ending: r.week_ending,
                status: TimecardStatus::parse(&r.status)?,
                version: r.version,
                rejection_reason: r.rejection_reason.clone(),
                approvals: approvals
                    .iter()
                    .filter(|a| a.timecard_id == r.id)
                    .map(|a| {
                        Ok(ApprovalRecord {
                            step: ApprovalStep::parse(&a.step)?,
                            actor_id: a.actor_id,
                            at: a.at,
                        })
                    })
                    .collect::<Result<_>>()?,
            }),
        })
        .collect()
}

impl TenantTx {
    /// The card's row, created (version 0) if missing, and locked for this transaction.
    async fn lock_card(&self, crew: Uuid, week: NaiveDate) -> Result<CardRow> {
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO timecards (id, crew_member_id, week_ending, version) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (crew_member_id, week_ending) DO NOTHING",
                [Uuid::now_v7().into(), crew.into(), week.into()],
            ))
            .await
            .map_err(db_err)?;
        CardRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, crew_member_id, week_ending, status, version, rejection_reason FROM timecards \
             WHERE crew_member_id = $1 AND week_ending = $2 FOR UPDATE",
            [crew.into(), week.into()],
        ))
        .one(self.conn())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::internal("timecard row vanished"))
    }

    /// Submits, approves, rejects or unlocks a card. `expected_version` must be the card's
    /// current version; the change and its reason go on the record.
    pub async fn apply_approval(
        &self,
        crew: Uuid,
        week: NaiveDate,
        action: ApprovalAction,
        expected_version: i32,
        reason: Option<&str>,
        actor: Uuid,
    ) -> Result<TimecardRecord> {
        let row = self.lock_card(crew, week).await?;
        if row.version != expected_version {
            return Err(stale(row.version, expected_version));
        }
        let before = TimecardStatus::parse(&row.status)?;
        let (after, step) = transition(before, action)?;
        let rejection =
            (action == ApprovalAction::Reject).then(|| reason.unwrap_or_default().to_owned());
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE timecards SET status = $2, version = version + 1, rejection_reason = $3, updated_at = now() \
                 WHERE id = $1",
                [row.id.into(), after.as_str().into(), rejection.into()],
            ))
            .await
            .map_err(db_err)?;
        if matches!(action, ApprovalAction::Reject | ApprovalAction::Unlock) {
            self.clear_approvals(row.id).await?;
        }
        if let Some(step) = step {
            self.conn()
                .execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO timecard_approvals (id, timecard_id, step, actor_id) VALUES ($1, $2, $3, $4)",
                    [Uuid::now_v7().into(), row.id.into(), step.as_str().into(), actor.into()],
                ))
                .await
                .map_err(db_err)?;
        }
        let operation = match action {
            ApprovalAction::Submit => "submitTimecard",
            ApprovalAction::Approve => "approveTimecard",
            ApprovalAction::Reject => "rejectTimecard",
            ApprovalAction::Unlock => "unlockTimecard",
        };
        let state = |s: TimecardStatus, v: i32| serde_json::json!({ "crewMemberId": crew, "weekEnding": week, "status": s, "version": v });
        self.audit(
            operation,
            "Timecard",
            Some(row.id),
            Some(state(before, row.version)),
            Some(state(after, row.version + 1)),
            reason,
        )
        .await?;
        self.timecards_of(&[crew], week)
            .await?
            .pop()
            .ok_or_else(|| Error::internal("timecard vanished"))
    }

    async fn clear_approvals(&self, card: Uuid) -> Result<()> {
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE timecard_approvals SET cleared_at = now() WHERE timecard_id = $1 AND cleared_at IS NULL",
                [card.into()],
            ))
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Called by every edit of a crew member's time on `dates` (a wrap's also names the next
    /// day, whose rest it sets): bumps each week's version in `crew_weeks`; a finally approved
    /// card refuses the edit (`CONFLICT`); a card in approval returns to draft, its signatures
    /// cleared, on the record. One statement locks every card first, before any record is
    /// written (and so before the audit trail's lock).
    pub(crate) async fn touch_timecards(&self, crew: Uuid, dates: &[NaiveDate]) -> Result<()> {
        let cards = CardRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("WITH {} SELECT * FROM cards", touch_ctes("$1", "$2")),
            [crew.into(), dates.to_vec().into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        for card in cards {
            self.settle_touched(card).await?;
        }
        Ok(())
    }

    /// What an edit of its week's time does to a card the edit's statement locked (see
    /// [`touch_ctes`]): an approved card refuses it, a card in approval returns to draft.
    pub(crate) async fn settle_touched(&self, row: CardRow) -> Result<()> {
        let week = row.week_ending;
        let status = TimecardStatus::parse(&row.status)?;
        if status == TimecardStatus::Approved {
            return Err(Error::Conflict(format!(
                "the timecard for the week ending {week} is approved and locked; an accountant must unlock it first"
            )));
        }
        if !status.in_approval() {
            return Ok(());
        }
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE timecards SET status = 'DRAFT', version = version + 1, updated_at = now() WHERE id = $1",
                [row.id.into()],
            ))
            .await
            .map_err(db_err)?;
        self.clear_approvals(row.id).await?;
        self.audit(
            "timecardReturnedToDraft",
            "Timecard",
            Some(row.id),
            Some(snapshot(
                &serde_json::json!({ "status": status, "version": row.version }),
            )?),
            Some(snapshot(
                &serde_json::json!({ "status": TimecardStatus::Draft, "version": row.version + 1 }),
            )?),
            Some("time edited while the card was in approval"),
        )
        .await
    }

    /// A change that prices weeks from `from` on (a new deal or rule set version): every such
    /// card of `crew` (or of everyone on `rule_set`) is touched like an edit of its time.
    pub(crate) async fn touch_timecards_from(
        &self,
        crew: Option<Uuid>,
        rule_set: Option<&str>,
        from: NaiveDate,
    ) -> Result<()> {
        let ends = self.settings().await?.work_week_ends;
        let first = week_ending(from, ends);
        let rows = self
            .conn()
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT t.crew_member_id, t.week_ending FROM timecards t JOIN crew_members c ON c.id = t.crew_member_id \
                 WHERE t.week_ending >= $1 AND t.status <> 'DRAFT' AND t.status <> 'REJECTED' \
                 AND ($2::uuid IS NULL OR t.crew_member_id = $2) AND ($3::text IS NULL OR c.rule_set = $3) \
                 ORDER BY t.crew_member_id, t.week_ending",
                [first.into(), crew.into(), rule_set.map(str::to_owned).into()],
            ))
            .await
            .map_err(db_err)?;
        // One touch per crew member, their cards locked together (the rows come in crew order).
        let mut weeks: Vec<(Uuid, Vec<NaiveDate>)> = Vec::new();
        for r in rows {
            let crew: Uuid = r.try_get_by_index(0).map_err(db_err)?;
            let week: NaiveDate = r.try_get_by_index(1).map_err(db_err)?;
            match weeks.last_mut() {
                Some((last, dates)) if *last == crew => dates.push(week),
                _ => weeks.push((crew, vec![week])),
            }
        }
        for (crew, dates) in weeks {
            self.touch_timecards(crew, &dates).await?;
        }
        Ok(())
    }

    /// Whether any card has left draft: the work week's last day cannot move under them.
    pub(crate) async fn any_card_in_approval(&self) -> Result<bool> {
        let row = self
            .conn()
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                "SELECT EXISTS (SELECT 1 FROM timecards WHERE status NOT IN ('DRAFT', 'REJECTED'))",
            ))
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::internal("no row"))?;
        row.try_get_by_index::<bool>(0).map_err(db_err)
    }

    /// Crew members whose card for the week is finally approved.
    pub async fn approved_crew(&self, week: NaiveDate) -> Result<Vec<Uuid>> {
        let rows = self
            .conn()
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT crew_member_id FROM timecards WHERE week_ending = $1 AND status = 'APPROVED'",
                [week.into()],
            ))
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|r| r.try_get_by_index::<Uuid>(0).map_err(db_err))
            .collect()
    }
}

/// The CTEs `s`, `w`, `bump` and `cards` of a statement that edits the time of the crew member
/// `crew` (an SQL expression) on the dates of the `date[]` expression `dates`. The week endings
/// are worked out in SQL from the settings row (the same rule as `week_ending`); each week's
/// version in `crew_weeks`, which keys its cached pay, is bumped (a data-modifying CTE always
/// runs, card or no card; it answers a row per week, so a statement can make it run before a
/// later step); `cards` locks the weeks' cards for [`TenantTx::settle_touched`].
/// The settings row is share-locked from here to the commit: a change of the work week's last
/// day waits for the edits in flight, or a week priced under the new settings could be cached
/// without an edit whose bump went to a week of the old ones. (The audit trail's lock orders
/// the two only from the edit's audit record on.)
pub(crate) fn touch_ctes(crew: &str, dates: &str) -> String {
    format!(
        "s AS (SELECT work_week_ends FROM settings WHERE id = 1 FOR SHARE), \
         w AS (SELECT DISTINCT {} AS week_ending FROM s, unnest({dates}::date[]) AS x(d)), \
         bump AS (INSERT INTO crew_weeks (crew_member_id, week_ending) SELECT {crew}, week_ending FROM w \
           ON CONFLICT (crew_member_id, week_ending) DO UPDATE SET version = crew_weeks.version + 1 \
           RETURNING 1), \
         cards AS (SELECT t.id, t.crew_member_id, t.week_ending, t.status, t.version, t.rejection_reason \
           FROM w JOIN timecards t ON t.crew_member_id = {crew} AND t.week_ending = w.week_ending \
           ORDER BY t.week_ending FOR UPDATE OF t)",
        week_ending_sql("x.d")
    )
}

/// The week ending of the date in placeholder `date`, in SQL, from a settings row aliased `s`:
/// the same rule as `week_ending` in the domain, for statements that need it in the database.
pub(crate) fn week_ending_sql(date: &str) -> String {
    format!("{date}::date + ((s.work_week_ends - extract(isodow FROM {date}::date)::int + 7) % 7)")
}
