//! The `liveHours` subscription: a department's (or the whole call sheet's) hours while the day
//! is shot. A snapshot first, then the whole current state of a crew member each time their time
//! changes, resyncs when events may have been missed, and warnings raised by timers.

use std::collections::{HashMap, HashSet};
use std::time::Duration as StdDuration;

use async_graphql::{Context, Enum, SimpleObject, Subscription, ID};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use crewtime_domain::crew::CrewMember as DomainCrew;
use crewtime_domain::payroll::{price_week, rules_on, WeekInputs, WorkedDay};
use crewtime_domain::time::{
    check_date, timeline, week_ending, DayStatus as DomainStatus, PunchKind,
};
use crewtime_domain::{Error, Result};
use crewtime_persistence::crew::CrewScope;
use crewtime_persistence::punches::CrewFilter;
use crewtime_persistence::TenantTx;
use crewtime_realtime::BusMessage;
use futures_util::Stream;
use rust_decimal::Decimal;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::crew::department_in;
use super::time::DayStatus;
use super::{Access, RequestCtx};
use crate::error::GqlResult;
use crate::ids::{GlobalId, Kind};

/// The most crew one subscription watches.
const MAX_ROSTER: u64 = 2_000;
/// Further meal penalty warnings after the first; a day that runs this late is long past
/// anyone's attention.
const MAX_PENALTY_WARNINGS: i32 = 12;

/// When the socket's credential stops being valid; the WebSocket layer puts it in the
/// connection's data. `None`: it does not expire (an API token, until revoked).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionExpiry(pub Option<DateTime<Utc>>);

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub(crate) enum LiveHoursKind {
    /// The first message: everyone watched.
    Snapshot,
    /// One crew member's time changed: their whole current state.
    Change,
    /// Events may have been missed (this node lagged or lost Redis for a while): everyone
    /// again. Replace what you hold.
    Resync,
    /// A timer fired: see `warning`; `crew` holds the crew member's current state.
    Warning,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub(crate) enum LiveWarningKind {
    /// The next meal is due soon (15 minutes before, by default).
    MealDueSoon,
    /// The meal is late beyond the grace: the first meal penalty.
    MealPenaltyStarted,
    /// Still no meal: one more meal penalty (each further unit, usually 30 minutes).
    MealPenaltyAdded,
    /// A wrap from now on would make the next day's published call invade the rest period.
    RestAtRisk,
    /// Worked time enters the 1.5x band.
    EnteringOvertime,
    /// Worked time enters the 2x band.
    EnteringDoubleTime,
}

/// One crew member's day as it stands.
#[derive(SimpleObject, Clone)]
pub(crate) struct LiveCrewState {
    crew_member_id: ID,
    name: String,
    department_id: ID,
    status: DayStatus,
    /// The call from the day's published call sheet, if one is published.
    scheduled_call: Option<DateTime<Utc>>,
    /// The CALL punch.
    call: Option<DateTime<Utc>>,
    worked_minutes: i32,
    /// "1x", "1.5x" or "2x": the band the latest worked minute falls in; null when the day
    /// cannot be priced (no deal or rule set) or has not started.
    tier: Option<String>,
    next_meal_due: Option<DateTime<Utc>>,
    meal_penalties: i32,
    /// Gross pay of the day so far (as if wrapped now); null for callers who may not see pay.
    pay_so_far: Option<Decimal>,
    /// The crew member's time version: it grows with every change, so a client keeps the
    /// state with the highest version.
    version: i32,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct LiveWarning {
    kind: LiveWarningKind,
    crew_member_id: ID,
    /// The moment the warning is about (the meal due, the start of the band).
    at: DateTime<Utc>,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct LiveHoursMessage {
    kind: LiveHoursKind,
    crew: Vec<LiveCrewState>,
    warning: Option<LiveWarning>,
}

/// A state with what the timers need, which clients do not see.
struct Computed {
    id: Uuid,
    state: LiveCrewState,
    upcoming: Vec<(LiveWarningKind, DateTime<Utc>)>,
}

/// What one subscription watches.
#[derive(Clone)]
struct Watch {
    access: Access,
    date: NaiveDate,
    department: Option<Uuid>,
    meal_warning_lead: Duration,
}

#[derive(Default)]
pub(crate) struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// Live hours of a shoot day: the day's call sheet (or, with none published, everyone
    /// with a work day that date), optionally one department. A department head sees their
    /// departments, crew themselves; another production is `NOT_FOUND`.
    async fn live_hours(
        &self,
        ctx: &Context<'_>,
        production_id: ID,
        date: NaiveDate,
        department_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LiveHoursMessage>>> {
        let rc = RequestCtx::get(ctx).clone();
        let expiry = ctx
            .data_opt::<ConnectionExpiry>()
            .copied()
            .unwrap_or(ConnectionExpiry(None));
        check_date("date", date).gql()?;
        let production = GlobalId::production("productionId", &production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_read_records(), "watch live hours")
            .gql()?;
        let department = department_in(
            &access,
            "departmentId",
            department_id.as_ref().map(|i| i.as_str()),
        )?;
        if let (CrewScope::Limited { departments, .. }, Some(d)) = (access.crew_scope(), department)
        {
            // A department head watches only the departments they head; crew may name their
            // own department and see themselves.
            let own = if departments.contains(&d) {
                true
            } else {
                !roster(&rc, &access, date, Some(d)).await.gql()?.is_empty()
            };
            if !own {
                return Err(Error::Forbidden(
                    "your role in this production cannot watch this department".into(),
                ))
                .gql();
            }
        }
        let watch = Watch {
            access,
            date,
            department,
            meal_warning_lead: Duration::from_std(rc.config.live_meal_warning_lead)
                .unwrap_or(Duration::minutes(15)),
        };
        // Subscribe before reading the snapshot: a change committed in between is then both in
        // the snapshot and delivered as an event, never in neither.
        let receiver = rc.bus.subscribe(production);
        let snapshot = load(&rc, &watch, None).await.gql()?;
        let (tx, rx) = mpsc::channel(32);
        tokio::spawn(run(rc, watch, expiry, receiver, snapshot, tx));
        Ok(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|m| (m, rx))
        }))
    }
}

type Out = mpsc::Sender<async_graphql::Result<LiveHoursMessage>>;

/// One subscription's loop: forwards changes, resyncs, fires warnings, ends when the client
/// goes away or the credential expires.
async fn run(
    rc: RequestCtx,
    watch: Watch,
    expiry: ConnectionExpiry,
    mut receiver: crewtime_realtime::LiveReceiver,
    snapshot: Vec<Computed>,
    out: Out,
) {
    metrics::gauge!("crewtime_live_subscriptions").increment(1.0);
    let started = Utc::now();
    let mut versions: HashMap<Uuid, i32> = HashMap::new();
    let mut upcoming: HashMap<Uuid, Vec<(LiveWarningKind, DateTime<Utc>)>> = HashMap::new();
    // Never the same warning twice for the same moment, whatever reloads happen.
    let mut fired: HashSet<(Uuid, LiveWarningKind, DateTime<Utc>)> = HashSet::new();
    let remember = |computed: &[Computed],
                    versions: &mut HashMap<Uuid, i32>,
                    upcoming: &mut HashMap<Uuid, Vec<_>>| {
        for c in computed {
            versions.insert(c.id, c.state.version);
            upcoming.insert(c.id, c.upcoming.clone());
        }
    };
    remember(&snapshot, &mut versions, &mut upcoming);
    if send(&out, LiveHoursKind::Snapshot, &snapshot, None)
        .await
        .is_err()
    {
        metrics::gauge!("crewtime_live_subscriptions").decrement(1.0);
        return;
    }
    loop {
        let next_warning = upcoming
            .iter()
            .flat_map(|(id, list)| list.iter().map(move |(k, at)| (*id, *k, *at)))
            .filter(|(id, k, at)| *at >= started && !fired.contains(&(*id, *k, *at)))
            .min_by_key(|(_, _, at)| *at);
        let warning_in = next_warning
            .map(|(_, _, at)| (at - Utc::now()).to_std().unwrap_or(StdDuration::ZERO))
            .unwrap_or(StdDuration::from_secs(3600));
        let expires_in = expiry
            .0
            .map(|at| (at - Utc::now()).to_std().unwrap_or(StdDuration::ZERO))
            .unwrap_or(StdDuration::from_secs(86_400));
        let result = tokio::select! {
            _ = out.closed() => break,
            _ = tokio::time::sleep(expires_in) => {
                let _ = out
                    .send(Err(async_graphql::ErrorExtensions::extend_with(
                        async_graphql::Error::new(
                            "the access token expired; reconnect with a fresh token",
                        ),
                        |_, e| e.set("code", "UNAUTHENTICATED"),
                    )))
                    .await;
                break;
            }
            _ = tokio::time::sleep(warning_in), if next_warning.is_some() => {
                let Some((id, kind, at)) = next_warning else { continue };
                fired.insert((id, kind, at));
                match load(&rc, &watch, Some(&[id])).await {
                    Ok(now) => {
                        remember(&now, &mut versions, &mut upcoming);
                        let warning = LiveWarning {
                            kind,
                            crew_member_id: crew_id(&watch, id),
                            at,
                        };
                        send(&out, LiveHoursKind::Warning, &now, Some(warning)).await
                    }
                    Err(e) => Err(e),
                }
            }
            message = receiver.recv() => match message {
                BusMessage::Event(e) if versions.contains_key(&e.crew_member) => {
                    match load(&rc, &watch, Some(&[e.crew_member])).await {
                        Ok(now) => {
                            // Events may repeat (and the snapshot may already hold one):
                            // only a newer version is news.
                            let fresh: Vec<Computed> = now
                                .into_iter()
                                .filter(|c| versions.get(&c.id).is_none_or(|v| c.state.version > *v))
                                .collect();
                            remember(&fresh, &mut versions, &mut upcoming);
                            if fresh.is_empty() {
                                Ok(())
                            } else {
                                send(&out, LiveHoursKind::Change, &fresh, None).await
                            }
                        }
                        Err(e) => Err(e),
                    }
                }
                BusMessage::Event(_) => Ok(()),
                BusMessage::Resync => match load(&rc, &watch, None).await {
                    Ok(all) => {
                        remember(&all, &mut versions, &mut upcoming);
                        send(&out, LiveHoursKind::Resync, &all, None).await
                    }
                    Err(e) => Err(e),
                },
            },
        };
        if let Err(e) = result {
            // A read failed (the database went away, say): end with the error rather than
            // go on with a view that may be stale; the client resubscribes.
            tracing::warn!(error = %e, "live subscription ended");
            let _ = out.send(Err(crate::error::to_gql(e))).await;
            break;
        }
    }
    metrics::gauge!("crewtime_live_subscriptions").decrement(1.0);
}

fn crew_id(watch: &Watch, id: Uuid) -> ID {
    ID(GlobalId::tenant(Kind::CrewMember, watch.access.production().id, id).encode())
}

async fn send(
    out: &Out,
    kind: LiveHoursKind,
    computed: &[Computed],
    warning: Option<LiveWarning>,
) -> Result<()> {
    metrics::counter!("crewtime_live_messages_total").increment(1);
    out.send(Ok(LiveHoursMessage {
        kind,
        crew: computed.iter().map(|c| c.state.clone()).collect(),
        warning,
    }))
    .await
    // The client went away; the loop notices on its next turn.
    .or(Ok(()))
}

/// Who is watched: the day's published call sheet lists everyone (a sheet's calls name crew
/// and departments, and the general call covers the rest), so with a sheet it is the crew of
/// the production or department; without one, the crew with a work day that date. Always only
/// whom the caller may see.
async fn roster(
    rc: &RequestCtx,
    access: &Access,
    date: NaiveDate,
    department: Option<Uuid>,
) -> Result<Vec<DomainCrew>> {
    let tx = rc.tx(access).await?;
    let scope = access.crew_scope();
    let sheets = tx.published_call_sheets(&[date]).await?;
    let crew = if sheets.is_empty() {
        tx.crew_with_days(
            date,
            date,
            &CrewFilter {
                scope: &scope,
                department,
                status: None,
                after: None,
                limit: MAX_ROSTER,
            },
        )
        .await?
    } else {
        tx.crew_members(&scope, department, None, MAX_ROSTER)
            .await?
    };
    tx.commit().await?;
    Ok(crew
        .into_iter()
        .filter(|c| access.can_read_time(c))
        .collect())
}

/// Reads and computes the current state of the watched crew (or of `only` those).
async fn load(rc: &RequestCtx, watch: &Watch, only: Option<&[Uuid]>) -> Result<Vec<Computed>> {
    let access = &watch.access;
    let crew = match only {
        None => roster(rc, access, watch.date, watch.department).await?,
        Some(ids) => {
            let tx = rc.tx(access).await?;
            let crew = tx.crew_members_by_ids(ids).await?;
            tx.commit().await?;
            crew.into_iter()
                .filter(|c| access.can_read_time(c))
                .collect()
        }
    };
    let ids: Vec<Uuid> = crew.iter().map(|c| c.id).collect();
    let production = access.production();
    let tz = production.tz()?;
    let tx = TenantTx::begin(&rc.store, production).await?;
    let settings = tx.settings().await?;
    let week_end = week_ending(watch.date, settings.work_week_ends);
    let from = week_end - Duration::days(6);
    let days = tx.work_days(&ids, from, week_end).await?;
    let deals = tx.deals_of(&ids).await?;
    let previous = tx.previous_wraps(&ids, from).await?;
    let rules = tx.rule_sets().await?;
    let next_date = watch.date + Duration::days(1);
    let sheets = tx.published_call_sheets(&[watch.date, next_date]).await?;
    let latest = |date: NaiveDate| {
        sheets
            .iter()
            .filter(|s| s.content.shoot_date == date)
            .max_by_key(|s| s.issue)
            .cloned()
    };
    let sheet = latest(watch.date);
    // The next published call: the following day's sheet (a day off in between needs no
    // rest warning).
    let next_sheet = latest(next_date);
    tx.commit().await?;
    let now = Utc::now();
    let mut out = Vec::with_capacity(crew.len());
    for c in crew {
        let punches: Vec<(PunchKind, DateTime<Utc>)> = days
            .iter()
            .filter(|d| d.crew_member_id == c.id && d.date == watch.date)
            .flat_map(|d| d.punches.iter().map(|p| (p.kind, p.at)))
            .collect();
        let line = timeline(&punches)?;
        let (_, rule_set) = rules_on(&c.rule_set, &rules, watch.date)?;
        let interval = meal_interval(&rule_set);
        let next_meal_due = line.next_meal_due(interval);
        let worked = line.worked_minutes(now);
        // Price the week as if the day wrapped now, so tier, penalties and pay are "so far".
        let worked_days: Vec<WorkedDay> = days
            .iter()
            .filter(|d| d.crew_member_id == c.id)
            .map(|d| {
                let mut punches: Vec<_> = d.punches.iter().map(|p| (p.kind, p.at)).collect();
                if d.date == watch.date {
                    punches = as_if_wrapped_now(&line, punches, now);
                }
                WorkedDay {
                    date: d.date,
                    day_type: d.day_type,
                    punches,
                }
            })
            .collect();
        let mine: Vec<_> = deals
            .iter()
            .filter(|d| d.crew_member_id == c.id)
            .cloned()
            .collect();
        let priced = price_week(&WeekInputs {
            tz,
            rule_set: &c.rule_set,
            rule_versions: &rules,
            deals: &mine,
            days: &worked_days,
            previous_wrap: previous.get(&c.id).copied(),
        })
        .ok()
        .and_then(|w| w.days.into_iter().find(|d| d.pay.date == watch.date));
        let tier = priced.as_ref().filter(|_| line.call.is_some()).map(|p| {
            if p.pay.hours_2x > Decimal::ZERO {
                "2x"
            } else if p.pay.hours_15x > Decimal::ZERO {
                "1.5x"
            } else {
                "1x"
            }
            .to_owned()
        });
        let mut upcoming = Vec::new();
        let running = matches!(line.status(), DomainStatus::OnClock | DomainStatus::AtMeal);
        if let (true, Some(rest), Some(next)) = (running, rule_set.rest.as_ref(), &next_sheet) {
            // A wrap after this moment leaves less than the rest period before the next call.
            let rest_minutes: Option<i64> =
                (rest.hours * Decimal::from(60)).round().try_into().ok();
            if let Some(m) = rest_minutes {
                let next_call = next.content.call_for(c.id, c.department_id);
                upcoming.push((
                    LiveWarningKind::RestAtRisk,
                    next_call - Duration::minutes(m),
                ));
            }
        }
        if line.status() == DomainStatus::OnClock {
            if let Some(due) = next_meal_due {
                upcoming.push((LiveWarningKind::MealDueSoon, due - watch.meal_warning_lead));
                // As the engine counts them: the first penalty once the meal is more than the
                // grace late, then one more each further unit.
                match rule_set.meal_penalty.as_ref() {
                    Some(mp) if mp.unit_minutes > 0 => {
                        let grace = Duration::minutes(i64::from(mp.grace_minutes));
                        let unit = Duration::minutes(i64::from(mp.unit_minutes));
                        upcoming.push((LiveWarningKind::MealPenaltyStarted, due + grace));
                        for k in 1..=MAX_PENALTY_WARNINGS {
                            let at = due + unit * k;
                            if at > due + grace {
                                upcoming.push((LiveWarningKind::MealPenaltyAdded, at));
                            }
                        }
                    }
                    _ => upcoming.push((LiveWarningKind::MealPenaltyStarted, due)),
                }
            }
            // Band thresholds from the rule set's schedule for the first day of a week: the
            // day's real ordinal in the week is an approximation here (days 1..5 share their
            // bands in the shipped rule sets); the priced tier above uses the real ordinal.
            let bands = rule_set
                .tiers
                .iter()
                .find(|t| t.days.contains(&1))
                .or(rule_set.tiers.first());
            if let Some(schedule) = bands {
                let mut start = Decimal::ZERO;
                let mut over = None;
                let mut double = None;
                for b in &schedule.bands {
                    if b.multiplier >= Decimal::new(15, 1) && over.is_none() {
                        over = Some(start);
                    }
                    if b.multiplier >= Decimal::from(2) && double.is_none() {
                        double = Some(start);
                    }
                    match b.up_to_hours {
                        Some(h) => start = h,
                        None => break,
                    }
                }
                for (kind, hours) in [
                    (LiveWarningKind::EnteringOvertime, over),
                    (LiveWarningKind::EnteringDoubleTime, double),
                ] {
                    let minutes: Option<i64> = hours
                        .and_then(|h| (h * Decimal::from(60)).round().try_into().ok())
                        .filter(|m: &i64| *m > 0);
                    // On the clock every meal is closed, so worked time reaches `m` minutes at
                    // call + m + the meals taken: an exact instant that stays the same on
                    // every reload, which is what keeps a warning from firing twice.
                    if let (Some(m), Some(call)) = (minutes, line.call) {
                        let meals: Duration = line
                            .meals
                            .iter()
                            .filter_map(|b| b.back.map(|back| back - b.out))
                            .sum();
                        upcoming.push((kind, call + Duration::minutes(m) + meals));
                    }
                }
            }
        }
        let state = LiveCrewState {
            crew_member_id: crew_id(watch, c.id),
            name: c.name.clone(),
            department_id: ID(
                GlobalId::tenant(Kind::Department, production.id, c.department_id).encode(),
            ),
            status: line.status().into(),
            scheduled_call: sheet
                .as_ref()
                .map(|s| s.content.call_for(c.id, c.department_id)),
            call: line.call,
            worked_minutes: i32::try_from(worked).unwrap_or(i32::MAX),
            tier,
            next_meal_due,
            meal_penalties: priced
                .as_ref()
                .map(|p| i32::try_from(p.pay.meal_penalties).unwrap_or(i32::MAX))
                .unwrap_or(0),
            pay_so_far: priced
                .as_ref()
                .filter(|_| access.can_see_rates(&c))
                .map(|p| p.pay.gross),
            version: c.time_version,
        };
        out.push(Computed {
            id: c.id,
            state,
            upcoming,
        });
    }
    Ok(out)
}

/// The day's punches closed at `now` (a meal in and a wrap), for pricing a running day.
fn as_if_wrapped_now(
    line: &crewtime_domain::time::Timeline,
    mut punches: Vec<(PunchKind, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Vec<(PunchKind, DateTime<Utc>)> {
    let last = punches.iter().map(|(_, at)| *at).max();
    let running = line.call.is_some() && line.wrap.is_none() && last.is_some_and(|l| l <= now);
    if !running {
        return punches;
    }
    if line.status() == DomainStatus::AtMeal {
        punches.push((PunchKind::MealIn, now));
    }
    if line.ndb.is_some_and(|n| n.back.is_none()) {
        punches.push((PunchKind::NdbIn, now));
    }
    punches.push((PunchKind::Wrap, now));
    punches
}

/// The meal clock of a rule set: a meal is due this long after call or the last meal.
fn meal_interval(rules: &crewtime_domain::pay::RuleSet) -> Duration {
    let hours = rules
        .meal_penalty
        .as_ref()
        .map(|m| m.interval_hours)
        .or(rules
            .meal_premium
            .as_ref()
            .map(|m| m.first_meal_within_hours));
    let minutes = hours
        .and_then(|h| (h * Decimal::from(60)).round().try_into().ok())
        .unwrap_or(360i64);
    Duration::minutes(minutes)
}

/// How old an outbox row must be before a relay publishes it: the node that wrote it deletes it
/// within milliseconds of its commit, so an older one was left by a node that died (or lost
/// PostgreSQL) in between.
const RELAY_AFTER_SECS: i64 = 3;
const RELAY_EVERY: StdDuration = StdDuration::from_secs(2);

/// Runs the node's outbox relay until aborted: every two seconds it takes stale events from
/// every production's outbox and publishes them. Several nodes may run it; each row is taken
/// once. `store` should be a pool of its own (one connection is plenty), so the relay's
/// statements never count as, or queue behind, the requests'.
pub fn spawn_outbox_relay(
    store: crewtime_persistence::Store,
    state: &crate::AppState,
) -> tokio::task::JoinHandle<()> {
    let bus = state.bus.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RELAY_EVERY).await;
            if let Err(e) = relay_once(&store, &bus).await {
                tracing::warn!(error = %e, "live outbox relay pass failed");
            }
        }
    })
}

async fn relay_once(
    store: &crewtime_persistence::Store,
    bus: &crewtime_realtime::Bus,
) -> Result<()> {
    for production in store.all_productions().await? {
        let tx = TenantTx::begin(store, &production).await?;
        let events = tx.take_stale_live_events(RELAY_AFTER_SECS, 500).await?;
        tx.commit().await?;
        for e in events {
            let Some(kind) = crewtime_realtime::EventKind::parse(&e.kind) else {
                continue;
            };
            metrics::counter!("crewtime_live_outbox_relayed_total").increment(1);
            bus.publish(crewtime_realtime::Event {
                production: production.id,
                crew_member: e.crew_member_id,
                date: e.work_date,
                kind,
            })
            .await;
        }
    }
    Ok(())
}
