//! Time capture over GraphQL: punches, work days and weekly timecards.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use crewtime_domain::crew::CrewMember as DomainCrew;
use crewtime_domain::payroll::rules_on;
use crewtime_domain::time::{
    check_date, check_instant, check_week_ending, local_date, timeline, DayStatus as DomainStatus,
    DayType as DomainDayType, Punch as DomainPunch, PunchKind as DomainKind, Timeline,
};
use crewtime_domain::Error;
use crewtime_persistence::punches::{
    CrewFilter, NewPunch, PunchCorrection, RecordedPunch, WorkDayRecord,
};
use crewtime_persistence::week::{WeekCrew, WeekRead};
use crewtime_persistence::IdempotencyKey;
use crewtime_realtime::{Event, EventKind};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::connection::page;
use super::crew::{
    crew_from_id, crew_of_one_production, department_in, required_reason, CrewMember,
};
use super::loaders::{published_by_date, DaysKey};
use super::{Access, RequestCtx};
use crate::error::GqlResult;
use crate::ids::{decode_cursor, GlobalId, Kind};
use crate::read_cache::totals_key;

macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident <=> $domain:ident { $($(#[$vm:meta])* $v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Enum, Copy, Clone, Eq, PartialEq)]
        pub(crate) enum $name { $($(#[$vm])* $v),* }
        impl From<$domain> for $name {
            fn from(k: $domain) -> Self { match k { $($domain::$v => $name::$v),* } }
        }
        impl From<$name> for $domain {
            fn from(k: $name) -> Self { match k { $($name::$v => $domain::$v),* } }
        }
    };
}

mirror_enum!(
    /// What a punch records.
    PunchKind <=> DomainKind {
        Call,
        /// Start of a non-deductible breakfast (paid, restarts the meal clock).
        NdbOut,
        NdbIn,
        MealOut,
        MealIn,
        Wrap,
    }
);

mirror_enum!(
    DayType <=> DomainDayType { Work, Travel, Idle, Hold, Holiday }
);

mirror_enum!(
    /// Where a work day stands.
    DayStatus <=> DomainStatus { NotStarted, OnClock, AtMeal, Wrapped }
);

/// Where a weekly timecard is in its approval.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum TimecardStatus {
    Draft,
    Submitted,
    DepartmentApproved,
    AccountingApproved,
    Approved,
    Rejected,
}

impl TimecardStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TimecardStatus::Draft => "DRAFT",
            TimecardStatus::Submitted => "SUBMITTED",
            TimecardStatus::DepartmentApproved => "DEPARTMENT_APPROVED",
            TimecardStatus::AccountingApproved => "ACCOUNTING_APPROVED",
            TimecardStatus::Approved => "APPROVED",
            TimecardStatus::Rejected => "REJECTED",
        }
    }
}

/// One recorded punch.
pub(crate) struct Punch(pub(crate) Uuid, pub(crate) DomainPunch);

#[Object]
impl Punch {
    pub(crate) async fn id(&self) -> ID {
        ID(GlobalId::tenant(Kind::Punch, self.0, self.1.id).encode())
    }
    async fn kind(&self) -> PunchKind {
        self.1.kind.into()
    }
    async fn at(&self) -> DateTime<Utc> {
        self.1.at
    }
    /// Send back as `expectedVersion` to correct or delete the punch.
    async fn version(&self) -> i32 {
        self.1.version
    }
}

/// A crew member's work day: the local date of its call.
pub(crate) struct WorkDay {
    access: Access,
    crew: DomainCrew,
    date: NaiveDate,
    record: Option<WorkDayRecord>,
    /// The day's ordinal among the days worked that week, on a timecard.
    day_in_week: Option<i32>,
    /// On a timecard whose days' worked time was asked for: the day's timeline from the week's
    /// cached `WeekTimelines`.
    cached: Option<Timeline>,
}

impl WorkDay {
    fn timeline(&self) -> async_graphql::Result<Timeline> {
        if let Some(t) = &self.cached {
            return Ok(t.clone());
        }
        let punches: Vec<(DomainKind, DateTime<Utc>)> = self
            .record
            .iter()
            .flat_map(|r| r.punches.iter().map(|p| (p.kind, p.at)))
            .collect();
        timeline(&punches).gql()
    }
}

#[Object]
impl WorkDay {
    async fn date(&self) -> NaiveDate {
        self.date
    }
    async fn crew_member(&self) -> CrewMember {
        CrewMember {
            access: self.access.clone(),
            crew: self.crew.clone(),
        }
    }
    async fn day_type(&self) -> DayType {
        self.record
            .as_ref()
            .map(|r| r.day_type)
            .unwrap_or(DomainDayType::Work)
            .into()
    }
    async fn status(&self) -> async_graphql::Result<DayStatus> {
        Ok(self.timeline()?.status().into())
    }
    async fn punches(&self) -> Vec<Punch> {
        let production = self.access.production().id;
        self.record
            .iter()
            .flat_map(|r| r.punches.iter().cloned().map(|p| Punch(production, p)))
            .collect()
    }
    /// Paid minutes so far (to wrap, or to now while the day runs); meals are deducted.
    async fn worked_minutes(&self) -> async_graphql::Result<i32> {
        let m = self.timeline()?.worked_minutes(Utc::now());
        Ok(i32::try_from(m).unwrap_or(i32::MAX))
    }
    /// `workedMinutes` in hours, to two decimal places.
    async fn worked_hours(&self) -> async_graphql::Result<Decimal> {
        let m = self.timeline()?.worked_minutes(Utc::now());
        Ok((Decimal::from(m) / Decimal::from(60)).round_dp(2))
    }
    /// When the next meal is due under the crew member's rule set in force that day (the
    /// production's stored version, as `liveHours` uses); null before call, at a meal or after
    /// wrap.
    async fn next_meal_due(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        let line = self.timeline()?;
        let production = self.access.production().id;
        let stored = RequestCtx::get(ctx)
            .loaders
            .rule_sets
            .load_one(production)
            .await
            .gql()?
            .unwrap_or_default();
        let (_, rules) = rules_on(&self.crew.rule_set, &stored, self.date).gql()?;
        Ok(line.next_meal_due(rules.meal_interval()))
    }
    /// The call from the day's published call sheet (own call, else department call, else the
    /// general call); null when no sheet is published.
    async fn scheduled_call(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        let rc = RequestCtx::get(ctx);
        let sheet = rc
            .loaders
            .sheets
            .load_one((self.access.production().id, self.date))
            .await
            .gql()?;
        Ok(sheet
            .flatten()
            .map(|s| s.content.call_for(self.crew.id, self.crew.department_id)))
    }
    /// On a timecard: the day's ordinal among the days worked that week (1..7).
    async fn day_in_week(&self) -> Option<i32> {
        self.day_in_week
    }
    async fn version(&self) -> i32 {
        self.record.as_ref().map(|r| r.version).unwrap_or(0)
    }
}

/// The timelines of a crew member's week, by date: what the week's and its days' worked
/// minutes and hours are computed from (for a day still running, at the time of the read, so
/// the cached value never goes stale by itself). The `work_day_totals` read model, keyed by the
/// crew member's `time_version`, which every change to their punches or day types bumps.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct WeekTimelines(Vec<(NaiveDate, Timeline)>);

impl WeekTimelines {
    fn of(&self, date: NaiveDate) -> Option<&Timeline> {
        self.0.iter().find(|(d, _)| *d == date).map(|(_, t)| t)
    }
}

/// A crew member's week.
pub(crate) struct Timecard {
    access: Access,
    crew: DomainCrew,
    week_ending: NaiveDate,
    /// The week's pay, when the page that listed this card priced its cards together.
    priced: Option<Arc<crewtime_domain::payroll::PricedWeek>>,
}

impl Timecard {
    pub(crate) fn new(access: Access, crew: DomainCrew, week_ending: NaiveDate) -> Self {
        Self {
            access,
            crew,
            week_ending,
            priced: None,
        }
    }

    async fn card(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<crewtime_persistence::timecards::TimecardRecord> {
        RequestCtx::get(ctx)
            .loaders
            .cards
            .load_one((self.access.production().id, self.crew.id, self.week_ending))
            .await
            .gql()?
            .ok_or(Error::internal("no timecard state"))
            .gql()
    }

    async fn records(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WorkDayRecord>> {
        let rc = RequestCtx::get(ctx);
        let from = self.week_ending - Duration::days(6);
        Ok(rc
            .loaders
            .days
            .load_one((
                self.access.production().id,
                self.crew.id,
                from,
                self.week_ending,
            ))
            .await
            .gql()?
            .unwrap_or_default())
    }

    /// The week's timelines, from the read cache while the crew member's time is unchanged.
    async fn timelines(&self, ctx: &Context<'_>) -> async_graphql::Result<Arc<WeekTimelines>> {
        let rc = RequestCtx::get(ctx);
        let key = totals_key(
            self.access.production(),
            self.crew.id,
            self.week_ending,
            self.crew.time_version,
        );
        if let Some(t) = rc.cache.totals.get(&key).await {
            return Ok(t);
        }
        let mut days = Vec::new();
        for r in self.records(ctx).await? {
            let punches: Vec<_> = r.punches.iter().map(|p| (p.kind, p.at)).collect();
            days.push((r.date, timeline(&punches).gql()?));
        }
        let week = Arc::new(WeekTimelines(days));
        rc.cache.totals.put(key, week.clone()).await;
        Ok(week)
    }
}

#[Object]
impl Timecard {
    async fn crew_member(&self) -> CrewMember {
        CrewMember {
            access: self.access.clone(),
            crew: self.crew.clone(),
        }
    }
    async fn week_ending(&self) -> NaiveDate {
        self.week_ending
    }
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<TimecardStatus> {
        Ok(self.card(ctx).await?.status.into())
    }
    /// Send back as `expectedVersion` with approval actions (0 before anything happened).
    async fn version(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(self.card(ctx).await?.version)
    }
    /// Why the card was last rejected, while it is rejected.
    async fn rejection_reason(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.card(ctx).await?.rejection_reason)
    }
    /// The signatures that stand, in order.
    async fn approvals(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::approval::Approval>> {
        Ok(super::approval::approvals(&self.card(ctx).await?))
    }
    /// The week's work days in date order, each with its ordinal among the days worked.
    async fn days(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WorkDay>> {
        let records = self.records(ctx).await?;
        let wanted = ctx.look_ahead();
        let timelines =
            if wanted.field("workedMinutes").exists() || wanted.field("workedHours").exists() {
                Some(self.timelines(ctx).await?)
            } else {
                None
            };
        Ok(with_ordinals(records)
            .into_iter()
            .map(|(record, day_in_week)| WorkDay {
                access: self.access.clone(),
                crew: self.crew.clone(),
                date: record.date,
                cached: timelines.as_ref().and_then(|t| t.of(record.date)).cloned(),
                record: Some(record),
                day_in_week,
            })
            .collect())
    }
    /// The week's pay: per day its lines, penalties, premiums and gross, computed from the
    /// stored punches, the deal and the rule set in force. `FORBIDDEN` for roles that may not
    /// see pay.
    async fn pay(&self, ctx: &Context<'_>) -> async_graphql::Result<super::pay::TimecardPay> {
        self.access
            .require(self.access.can_see_rates(&self.crew), "see pay")
            .gql()?;
        if let Some(week) = &self.priced {
            return Ok(super::pay::TimecardPay(week.clone()));
        }
        let rc = RequestCtx::get(ctx);
        let weeks = super::pay::price_weeks(
            rc,
            &self.access,
            std::slice::from_ref(&self.crew),
            self.week_ending,
        )
        .await
        .gql()?;
        weeks
            .get(&self.crew.id)
            .cloned()
            .map(super::pay::TimecardPay)
            .ok_or(Error::internal("no priced week"))
            .gql()
    }

    /// Paid hours of the week so far, to two decimal places.
    async fn worked_hours(&self, ctx: &Context<'_>) -> async_graphql::Result<Decimal> {
        let now = Utc::now();
        let minutes: i64 = self
            .timelines(ctx)
            .await?
            .0
            .iter()
            .map(|(_, t)| t.worked_minutes(now))
            .sum();
        Ok((Decimal::from(minutes) / Decimal::from(60)).round_dp(2))
    }
}

/// A day counts as worked when it is a WORK day with a call; worked days are numbered in date
/// order.
pub(crate) fn with_ordinals(mut records: Vec<WorkDayRecord>) -> Vec<(WorkDayRecord, Option<i32>)> {
    records.sort_by_key(|r| r.date);
    let mut n = 0;
    records
        .into_iter()
        .map(|r| {
            let worked = r.day_type == DomainDayType::Work
                && r.punches.iter().any(|p| p.kind == DomainKind::Call);
            let ordinal = worked.then(|| {
                n += 1;
                n
            });
            (r, ordinal)
        })
        .collect()
}

/// A punch by id, read in `tx` (which this commits).
pub(crate) async fn load_punch(
    tx: crewtime_persistence::TenantTx,
    access: &Access,
    id: Uuid,
) -> async_graphql::Result<Punch> {
    let punch = tx.punch(id).await.gql()?;
    let punch = match punch {
        Some(p) => p,
        None => return Err(Error::NotFound("punch")).gql(),
    };
    let crew = tx
        .crew_member(punch.crew_member_id)
        .await
        .gql()?
        .ok_or(Error::NotFound("punch"))
        .gql()?;
    tx.commit().await.gql()?;
    access
        .require(access.can_read_time(&crew), "see this crew member's time")
        .gql()?;
    Ok(Punch(access.production().id, punch))
}

pub(crate) async fn timecard_page(
    ctx: &Context<'_>,
    access: &Access,
    week_ending: NaiveDate,
    department_id: Option<ID>,
    status: Option<TimecardStatus>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<String, Timecard>> {
    let rc = RequestCtx::get(ctx);
    check_date("weekEnding", week_ending).gql()?;
    let limit = rc.page_size(first).gql()?;
    let after = after.as_deref().map(decode_cursor).transpose().gql()?;
    let department = department_in(
        access,
        "departmentId",
        department_id.as_ref().map(|i| i.as_str()),
    )?;
    let status = status.map(|s| s.as_str());
    let from = week_ending - Duration::days(6);
    // One statement reads the settings, the page of crew (filtered by the caller's scope), their
    // departments and, when the page asks for more than cached figures, their days and
    // punches, the week's published call sheets and the timecard states; they are fed to the
    // request's loaders, so the nested resolvers run no SQL at all.
    let with_time = ctx
        .look_ahead()
        .field("edges")
        .field("node")
        .selection_fields()
        .into_iter()
        .any(needs_time);
    let tx = rc.tx(access).await.gql()?;
    let week = tx
        .week(
            from,
            week_ending,
            WeekCrew::Page(CrewFilter {
                scope: &access.crew_scope(),
                department,
                status,
                after,
                limit: limit + 1,
            }),
            with_time,
        )
        .await
        .gql()?;
    tx.commit().await.gql()?;
    check_week_ending(week_ending, week.settings.work_week_ends).gql()?;
    let rows = feed_week(rc, access, from, week_ending, week).await;
    // When the page asks for pay, its cards are priced together (one transaction, one cache
    // lookup) rather than one transaction per card. A failure here leaves each card to price
    // itself and answer with its own error.
    let mut priced = HashMap::new();
    if ctx
        .look_ahead()
        .field("edges")
        .field("node")
        .field("pay")
        .exists()
    {
        let visible: Vec<DomainCrew> = rows
            .iter()
            .take(limit as usize)
            .filter(|c| access.can_see_rates(c))
            .cloned()
            .collect();
        if let Ok(weeks) = super::pay::price_weeks(rc, access, &visible, week_ending).await {
            priced = weeks;
        }
    }
    Ok(page(
        rows,
        limit,
        after.is_some(),
        |c| c.id,
        |crew| Timecard {
            access: access.clone(),
            priced: priced.get(&crew.id).cloned(),
            crew,
            week_ending,
        },
    ))
}

/// Feeds a week read in one statement to the request's loaders; returns its crew.
async fn feed_week(
    rc: &RequestCtx,
    access: &Access,
    from: NaiveDate,
    week_ending: NaiveDate,
    week: WeekRead,
) -> Vec<DomainCrew> {
    let production = access.production().id;
    // A read without the time feeds nothing of it: the loaders read what is asked for.
    if let Some(time) = week.time {
        rc.loaders
            .cards
            .feed_many(
                time.cards
                    .into_iter()
                    .map(|c| ((production, c.crew_member_id, week_ending), c)),
            )
            .await;
        let mut by_crew: std::collections::HashMap<DaysKey, Vec<WorkDayRecord>> = week
            .crew
            .iter()
            .map(|c| ((production, c.id, from, week_ending), Vec::new()))
            .collect();
        for d in time.days {
            by_crew
                .entry((production, d.crew_member_id, from, week_ending))
                .or_default()
                .push(d);
        }
        rc.loaders.days.feed_many(by_crew).await;
        let dates: Vec<NaiveDate> = (0..7).map(|i| from + Duration::days(i)).collect();
        rc.loaders
            .sheets
            .feed_many(published_by_date(production, &dates, time.sheets))
            .await;
    }
    rc.loaders
        .departments
        .feed_many(
            week.departments
                .into_iter()
                .map(|d| ((production, d.id), d)),
        )
        .await;
    rc.loaders
        .crew
        .feed_many(week.crew.iter().map(|c| ((production, c.id), c.clone())))
        .await;
    week.crew
}

/// The crew member a client names, when the caller may read their time.
async fn crew_whose_time(rc: &RequestCtx, id: &str) -> async_graphql::Result<CrewMember> {
    let member = crew_from_id(rc, "crewMemberId", id).await?;
    member
        .access
        .require(
            member.access.can_read_time(&member.crew),
            "see this crew member's time",
        )
        .gql()?;
    Ok(member)
}

#[derive(Default)]
pub(crate) struct TimeQuery;

#[Object]
impl TimeQuery {
    /// A crew member's work day on a date (the local date of its call).
    async fn work_day(
        &self,
        ctx: &Context<'_>,
        crew_member_id: ID,
        date: NaiveDate,
    ) -> async_graphql::Result<WorkDay> {
        let rc = RequestCtx::get(ctx);
        check_date("date", date).gql()?;
        let member = crew_whose_time(rc, &crew_member_id).await?;
        let access = member.access;
        let record = rc
            .loaders
            .days
            .load_one((access.production().id, member.crew.id, date, date))
            .await
            .gql()?
            .unwrap_or_default()
            .into_iter()
            .next();
        Ok(WorkDay {
            access,
            crew: member.crew,
            date,
            record,
            day_in_week: None,
            cached: None,
        })
    }

    /// A crew member's weekly timecard; `weekEnding` is the production's last day of the week.
    async fn timecard(
        &self,
        ctx: &Context<'_>,
        crew_member_id: ID,
        week_ending: NaiveDate,
    ) -> async_graphql::Result<Timecard> {
        let rc = RequestCtx::get(ctx);
        check_date("weekEnding", week_ending).gql()?;
        let (production, id) =
            GlobalId::of(Kind::CrewMember, "crewMemberId", &crew_member_id).gql()?;
        // Membership and search path in one statement, then the whole week in one more (its
        // time only if asked for); the checks are those of `crew_whose_time` and the week
        // ending, in the same order.
        let (access, tx) = rc.access_tx(production).await.gql()?;
        let from = week_ending - Duration::days(6);
        let with_time = needs_time(ctx.field());
        let week = tx
            .week(from, week_ending, WeekCrew::One(id), with_time)
            .await
            .gql()?;
        tx.commit().await.gql()?;
        let crew = week
            .crew
            .first()
            .cloned()
            .ok_or(Error::NotFound("crew member"))
            .gql()?;
        access
            .require(access.can_read_time(&crew), "see this crew member's time")
            .gql()?;
        check_week_ending(week_ending, week.settings.work_week_ends).gql()?;
        feed_week(rc, &access, from, week_ending, week).await;
        Ok(Timecard::new(access, crew, week_ending))
    }
}

/// Whether a timecard's selection needs the week's time (days, punches, call sheets, cards)
/// read with it: `crewMember`, `weekEnding` and the cached `workedHours` and `pay` do without
/// it, and building every day and punch as JSON is the costliest part of the week read. Any
/// other field would still be right without it, through the loaders, at a statement each.
fn needs_time(timecard: async_graphql::SelectionField<'_>) -> bool {
    timecard.selection_set().any(|f| {
        !matches!(
            f.name(),
            "crewMember" | "weekEnding" | "workedHours" | "pay" | "__typename"
        )
    })
}

#[derive(InputObject)]
pub(crate) struct RecordPunchInput {
    crew_member_id: ID,
    kind: PunchKind,
    /// RFC 3339 instant, with its offset.
    at: DateTime<Utc>,
    /// Required: a retry with the same key returns the first answer and records nothing.
    idempotency_key: String,
}

#[derive(SimpleObject)]
pub(crate) struct RecordPunchPayload {
    punch: Punch,
    work_day: WorkDay,
}

#[derive(InputObject)]
pub(crate) struct RecordPunchesInput {
    /// All in one production.
    crew_member_ids: Vec<ID>,
    kind: PunchKind,
    at: DateTime<Utc>,
    idempotency_key: String,
}

#[derive(SimpleObject)]
pub(crate) struct RecordPunchesPayload {
    punches: Vec<Punch>,
}

#[derive(InputObject)]
pub(crate) struct CorrectPunchInput {
    punch_id: ID,
    /// The new kind; unchanged when absent.
    kind: Option<PunchKind>,
    /// The new instant; unchanged when absent.
    at: Option<DateTime<Utc>>,
    expected_version: i32,
    reason: String,
}

#[derive(InputObject)]
pub(crate) struct DeletePunchInput {
    punch_id: ID,
    expected_version: i32,
    reason: String,
}

#[derive(SimpleObject)]
pub(crate) struct PunchPayload {
    punch: Punch,
}

#[derive(InputObject)]
pub(crate) struct SetDayTypeInput {
    crew_member_id: ID,
    date: NaiveDate,
    day_type: DayType,
}

#[derive(SimpleObject)]
pub(crate) struct WorkDayPayload {
    work_day: WorkDay,
}

#[derive(InputObject)]
pub(crate) struct UpdateProductionSettingsInput {
    production_id: ID,
    /// ISO weekday (1 = Monday .. 7 = Sunday) on which the work week ends.
    work_week_ends: i32,
    /// The settings version as last read (starts at 1).
    expected_version: i32,
}

#[derive(SimpleObject)]
pub(crate) struct ProductionSettingsPayload {
    work_week_ends: i32,
    version: i32,
}

#[derive(Default)]
pub(crate) struct TimeMutation;

/// Writes the live events of a change into the production's outbox, in the change's
/// transaction: if the node dies after the commit, another node's relay publishes them.
/// Writes the change's live events into the outbox of `tx`, commits, then announces them:
/// the one way a time mutation ends, so no event is published for a change that did not commit.
async fn commit_announcing(
    rc: &RequestCtx,
    tx: crewtime_persistence::TenantTx,
    access: &Access,
    crew: &[Uuid],
    date: NaiveDate,
    kind: EventKind,
) -> async_graphql::Result<()> {
    let outbox = tx
        .enqueue_live_events(crew, date, kind.as_str())
        .await
        .gql()?;
    tx.commit().await.gql()?;
    announce(rc, access, crew, date, kind, outbox).await;
    Ok(())
}

/// Announces a committed change to live subscriptions, then queues its outbox rows for deletion
/// (`outbox_sweep`). Called only after `tx.commit()` succeeded, so no subscriber ever reads a
/// change that was rolled back. Never fails the mutation: rows not deleted are left to the
/// relay, which publishes them again (subscribers ignore versions they already sent).
async fn announce(
    rc: &RequestCtx,
    access: &Access,
    crew: &[Uuid],
    date: NaiveDate,
    kind: EventKind,
    outbox: Vec<i64>,
) {
    let production = access.production();
    for c in crew {
        rc.bus
            .publish(Event {
                production: production.id,
                crew_member: *c,
                date,
                kind,
            })
            .await;
    }
    rc.outbox.sweep(production.id, outbox);
}

/// The punch a client names, with the access and crew member behind it.
async fn punch_target(
    rc: &RequestCtx,
    id: &str,
) -> async_graphql::Result<(Access, DomainPunch, DomainCrew)> {
    let (production, punch) = GlobalId::of(Kind::Punch, "punchId", id).gql()?;
    let access = rc.access(production).await.gql()?;
    let tx = rc.tx(&access).await.gql()?;
    let punch = tx
        .punch(punch)
        .await
        .gql()?
        .ok_or(Error::NotFound("punch"))
        .gql()?;
    let crew = tx
        .crew_member(punch.crew_member_id)
        .await
        .gql()?
        .ok_or(Error::NotFound("punch"))
        .gql()?;
    tx.commit().await.gql()?;
    Ok((access, punch, crew))
}

#[Object]
impl TimeMutation {
    /// Records call, NDB, meal or wrap for a crew member. Crew may punch for themselves,
    /// department heads for their department.
    async fn record_punch(
        &self,
        ctx: &Context<'_>,
        input: RecordPunchInput,
    ) -> async_graphql::Result<RecordPunchPayload> {
        let rc = RequestCtx::get(ctx);
        let key = IdempotencyKey::parse(&input.idempotency_key).gql()?;
        check_instant("at", input.at).gql()?;
        let (production, crew_id) =
            GlobalId::of(Kind::CrewMember, "crewMemberId", &input.crew_member_id).gql()?;
        // The membership, the crew member and the punch in one transaction (the membership
        // read also sets its search path; the crew member is read by the statement that locks
        // it): the hottest write takes one connection once.
        let (access, tx) = rc.access_tx(production).await.gql()?;
        let recorded = async {
            let tz = access.production().tz()?;
            let new = NewPunch {
                crew_member_id: crew_id,
                kind: input.kind.into(),
                at: input.at,
            };
            let may_punch = |crew: &DomainCrew| {
                access.require(access.can_punch_for(crew), "punch for this crew member")
            };
            let recorded = tx
                .record_punch(
                    access.user,
                    new,
                    &key,
                    tz,
                    Some(EventKind::Punch.as_str()),
                    may_punch,
                )
                .await?;
            Ok::<_, Error>((recorded, tz))
        };
        let (recorded, tz) = match recorded.await {
            Ok(recorded) => recorded,
            Err(e) => {
                tx.rollback().await.gql()?;
                return Err(e).gql();
            }
        };
        let RecordedPunch {
            punch,
            day,
            crew,
            outbox,
        } = recorded;
        let date = day
            .as_ref()
            .map(|d| d.date)
            .unwrap_or_else(|| local_date(input.at, tz));
        match outbox {
            // A new punch queued its live event in its own write.
            Some(outbox) => {
                tx.commit().await.gql()?;
                announce(rc, &access, &[crew.id], date, EventKind::Punch, outbox).await;
            }
            None => commit_announcing(rc, tx, &access, &[crew.id], date, EventKind::Punch).await?,
        }
        metrics::counter!("crewtime_punches_recorded_total").increment(1);
        Ok(RecordPunchPayload {
            punch: Punch(access.production().id, punch),
            work_day: WorkDay {
                date,
                record: day,
                access,
                crew,
                day_in_week: None,
                cached: None,
            },
        })
    }

    /// Records one punch for many crew members at once, all or nothing.
    async fn record_punches(
        &self,
        ctx: &Context<'_>,
        input: RecordPunchesInput,
    ) -> async_graphql::Result<RecordPunchesPayload> {
        let rc = RequestCtx::get(ctx);
        let key = IdempotencyKey::parse(&input.idempotency_key).gql()?;
        check_instant("at", input.at).gql()?;
        if input.crew_member_ids.is_empty() || input.crew_member_ids.len() > 500 {
            return Err(Error::invalid(
                "crewMemberIds",
                "give 1 to 500 crew members",
            ))
            .gql();
        }
        let given: Vec<&str> = input.crew_member_ids.iter().map(|i| i.as_str()).collect();
        let field = |i: usize| format!("crewMemberIds[{i}]");
        let (access, crew) =
            crew_of_one_production(rc, &given, field, field, "crew members").await?;
        let mut ids = Vec::with_capacity(crew.len());
        for (i, c) in crew.iter().enumerate() {
            let c = c
                .as_ref()
                .ok_or(Error::invalid(
                    format!("crewMemberIds[{i}]"),
                    "is not a crew member of this production",
                ))
                .gql()?;
            access
                .require(access.can_punch_for(c), "punch for this crew member")
                .gql()?;
            ids.push(c.id);
        }
        let tz = access.production().tz().gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let punches = tx
            .record_punches(access.user, &ids, input.kind.into(), input.at, &key, tz)
            .await
            .gql()?;
        // The date is the punch's local date; subscribers match on the crew member and re-read
        // their day, so a wrap after midnight still reaches the watchers of the call's date.
        let date = local_date(input.at, tz);
        let punched: Vec<Uuid> = punches.iter().map(|p| p.crew_member_id).collect();
        commit_announcing(rc, tx, &access, &punched, date, EventKind::Punch).await?;
        metrics::counter!("crewtime_punches_recorded_total").increment(punches.len() as u64);
        Ok(RecordPunchesPayload {
            punches: punches
                .into_iter()
                .map(|p| Punch(access.production().id, p))
                .collect(),
        })
    }

    /// Moves or re-kinds a punch; needs the punch's version and a reason.
    async fn correct_punch(
        &self,
        ctx: &Context<'_>,
        input: CorrectPunchInput,
    ) -> async_graphql::Result<PunchPayload> {
        let rc = RequestCtx::get(ctx);
        let reason = required_reason(&input.reason).gql()?;
        if let Some(at) = input.at {
            check_instant("at", at).gql()?;
        }
        let (access, punch, crew) = punch_target(rc, &input.punch_id).await?;
        access
            .require(
                access.can_correct_time(&crew),
                "correct this crew member's time",
            )
            .gql()?;
        let kind = input.kind.map(DomainKind::from).unwrap_or(punch.kind);
        let at = input.at.unwrap_or(punch.at);
        let tz = access.production().tz().gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let punch = tx
            .correct_punch(
                access.user,
                &PunchCorrection {
                    id: punch.id,
                    kind,
                    at,
                    expected_version: input.expected_version,
                    reason: &reason,
                },
                tz,
            )
            .await
            .gql()?;
        let date = local_date(at, tz);
        commit_announcing(rc, tx, &access, &[crew.id], date, EventKind::Correction).await?;
        Ok(PunchPayload {
            punch: Punch(access.production().id, punch),
        })
    }

    /// Deletes a punch; needs the punch's version and a reason. The punch stays on record.
    async fn delete_punch(
        &self,
        ctx: &Context<'_>,
        input: DeletePunchInput,
    ) -> async_graphql::Result<PunchPayload> {
        let rc = RequestCtx::get(ctx);
        let reason = required_reason(&input.reason).gql()?;
        let (access, punch, crew) = punch_target(rc, &input.punch_id).await?;
        access
            .require(
                access.can_correct_time(&crew),
                "correct this crew member's time",
            )
            .gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let punch = tx
            .delete_punch(access.user, punch.id, input.expected_version, &reason)
            .await
            .gql()?;
        let date = local_date(punch.at, access.production().tz().gql()?);
        commit_announcing(rc, tx, &access, &[crew.id], date, EventKind::Correction).await?;
        Ok(PunchPayload {
            punch: Punch(access.production().id, punch),
        })
    }

    /// Sets a day's type (work, travel, idle, hold, holiday), creating the day if needed.
    async fn set_day_type(
        &self,
        ctx: &Context<'_>,
        input: SetDayTypeInput,
    ) -> async_graphql::Result<WorkDayPayload> {
        let rc = RequestCtx::get(ctx);
        check_date("date", input.date).gql()?;
        let member = crew_from_id(rc, "crewMemberId", &input.crew_member_id).await?;
        let access = member.access;
        access
            .require(
                access.can_correct_time(&member.crew),
                "change this crew member's days",
            )
            .gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let day = tx
            .set_day_type(member.crew.id, input.date, input.day_type.into())
            .await
            .gql()?;
        commit_announcing(
            rc,
            tx,
            &access,
            &[member.crew.id],
            input.date,
            EventKind::DayType,
        )
        .await?;
        Ok(WorkDayPayload {
            work_day: WorkDay {
                date: day.date,
                record: Some(day),
                access,
                crew: member.crew,
                day_in_week: None,
                cached: None,
            },
        })
    }

    /// Production settings: the last day of the work week.
    async fn update_production_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateProductionSettingsInput,
    ) -> async_graphql::Result<ProductionSettingsPayload> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("productionId", &input.production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_manage_settings(), "change production settings")
            .gql()?;
        let ends = u8::try_from(input.work_week_ends)
            .ok()
            .filter(|d| (1..=7).contains(d))
            .ok_or(Error::invalid(
                "workWeekEnds",
                "must be 1 (Monday) to 7 (Sunday)",
            ))
            .gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let s = tx
            .update_settings(ends, input.expected_version)
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(ProductionSettingsPayload {
            work_week_ends: i32::from(s.work_week_ends),
            version: s.version,
        })
    }
}
