//! The `liveHours` subscription: a department's (or the whole call sheet's) hours while the day
//! is shot. A snapshot first, then the whole current state of a crew member each time their time
//! changes, resyncs when events may have been missed, and warnings raised by timers.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, Enum, OutputType, Positioned, ServerResult, SimpleObject,
    Subscription, Value, ID,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use crewtime_domain::crew::CrewMember as DomainCrew;
use crewtime_domain::payroll::{price_week, rules_on, WeekInputs, WorkedDay};
use crewtime_domain::production::Production;
use crewtime_domain::time::{
    check_date, timeline, week_ending, DayStatus as DomainStatus, PunchKind,
};
use crewtime_domain::{Error, Result};
use crewtime_persistence::crew::CrewScope;
use crewtime_persistence::punches::CrewFilter;
use crewtime_persistence::{Store, TenantTx};
use crewtime_realtime::BusMessage;
use futures_util::{Stream, StreamExt};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::crew::department_in;
use super::time::DayStatus;
use super::{Access, RequestCtx};
use crate::error::GqlResult;
use crate::ids::{GlobalId, Kind};
use crate::live_cache::{FreshAfter, SharedFlights};

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
#[derive(SimpleObject, Clone, PartialEq)]
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

#[derive(SimpleObject, Clone, PartialEq)]
pub(crate) struct LiveWarning {
    kind: LiveWarningKind,
    crew_member_id: ID,
    /// The moment the warning is about (the meal due, the start of the band).
    at: DateTime<Utc>,
}

#[derive(SimpleObject, Clone, PartialEq)]
pub(crate) struct LiveHoursMessage {
    kind: LiveHoursKind,
    crew: Vec<LiveCrewState>,
    warning: Option<LiveWarning>,
}

/// What decides how a socket's operation renders a message besides the message itself: its
/// query text, variables and operation name. The WebSocket layer puts it in each operation's
/// data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct OperationKey(pub Arc<str>);

/// The most renderings one computation keeps: one per distinct operation and view in practice.
const MAX_RENDERS: usize = 8;

/// Messages of one shared computation as subscribers' operations rendered them. Subscribers
/// that see the same message through the same operation (every department head watching the
/// same department from the same app) get one rendering, cloned, instead of resolving it
/// field by field each: resolving was the largest part of a node's work per delivery after the
/// socket writes.
#[derive(Default)]
pub(crate) struct Renders(Mutex<Vec<(OperationKey, LiveHoursMessage, Value)>>);

impl Renders {
    fn find(&self, op: &OperationKey, message: &LiveHoursMessage) -> Option<Value> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .find(|(o, m, _)| o == op && m == message)
            .map(|(_, _, v)| v.clone())
    }

    fn keep(&self, op: &OperationKey, message: &LiveHoursMessage, value: &Value) {
        let mut renders = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if renders.len() < MAX_RENDERS {
            renders.push((op.clone(), message.clone(), value.clone()));
        }
    }
}

/// A message on its way to one subscriber, with the renderings it may share. In the schema it
/// is a `LiveHoursMessage`.
pub(crate) struct LiveFrame {
    message: LiveHoursMessage,
    renders: Option<Arc<Renders>>,
}

impl OutputType for LiveFrame {
    fn type_name() -> Cow<'static, str> {
        LiveHoursMessage::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        LiveHoursMessage::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let shared = self.renders.as_ref().zip(ctx.data_opt::<OperationKey>());
        if let Some((renders, op)) = shared {
            if let Some(value) = renders.find(op, &self.message) {
                metrics::counter!("crewtime_live_renders_shared_total").increment(1);
                return Ok(value);
            }
        }
        let value = OutputType::resolve(&self.message, ctx, field).await?;
        if let Some((renders, op)) = shared {
            renders.keep(op, &self.message, &value);
        }
        Ok(value)
    }
}

/// The warnings a crew member's state is due to raise: shared by every subscriber watching them.
type Upcoming = Arc<[(LiveWarningKind, DateTime<Utc>)]>;

/// One crew member's state as this node computed it for everyone: pay included, and the crew
/// record each subscriber's access is checked against.
struct SharedState {
    crew: DomainCrew,
    state: LiveCrewState,
    upcoming: Upcoming,
}

/// A computation shared by the subscriptions of a node.
pub(crate) struct LiveComputation {
    crew: Vec<SharedState>,
    /// Its messages as subscribers rendered them.
    renders: Arc<Renders>,
    /// The roster reached `MAX_ROSTER`: a caller who sees only some crew may miss some of
    /// theirs in it, and reads their own instead.
    truncated: bool,
}

/// What a shared computation is of.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum LiveKey {
    /// One crew member's state on a date.
    Crew {
        production: Uuid,
        date: NaiveDate,
        crew: Uuid,
    },
    /// Everyone watched on a date (optionally in one department), as the office sees them.
    Roster {
        production: Uuid,
        date: NaiveDate,
        department: Option<Uuid>,
    },
}

/// The node's shared live computations (see `crate::live_cache`).
pub(crate) type LiveFlights = SharedFlights<LiveKey, LiveComputation>;

/// Events prepared at once at most; an event that finds them all busy wakes its subscribers
/// unprepared (each then joins or runs the computation itself, as without preparing).
const PREPARING_AT_MOST: usize = 4;
/// Watched dates of one production an event is prepared for at most.
const PREPARED_DATES_AT_MOST: usize = 4;

/// The node's live subscriptions' shared state: their computations, and which dates of which
/// productions they watch, which is what the node prepares for an event before the bus wakes
/// them (see [`LiveNode::preparer`]).
pub(crate) struct LiveNode {
    flights: LiveFlights,
    watched: Mutex<HashMap<Uuid, WatchedDates>>,
    preparing: Arc<tokio::sync::Semaphore>,
}

impl Default for LiveNode {
    fn default() -> Self {
        Self {
            flights: LiveFlights::default(),
            watched: Mutex::default(),
            preparing: Arc::new(tokio::sync::Semaphore::new(PREPARING_AT_MOST)),
        }
    }
}

/// Whom this node's subscriptions of one production watch: per date, each crew member with how
/// many subscriptions watch them.
struct WatchedDates {
    production: Production,
    dates: HashMap<NaiveDate, HashMap<Uuid, usize>>,
}

impl LiveNode {
    fn watched_map(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, WatchedDates>> {
        self.watched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts `crew` as watched by one more subscription of `production` on `date`.
    fn watch(&self, production: &Production, date: NaiveDate, crew: &[Uuid]) {
        if crew.is_empty() {
            return;
        }
        let mut watched = self.watched_map();
        let counts = watched
            .entry(production.id)
            .or_insert_with(|| WatchedDates {
                production: production.clone(),
                dates: HashMap::new(),
            })
            .dates
            .entry(date)
            .or_default();
        for id in crew {
            *counts.entry(*id).or_default() += 1;
        }
    }

    /// Gives back what [`LiveNode::watch`] counted for a subscription that ends.
    fn unwatch<'a>(&self, production: Uuid, date: NaiveDate, crew: impl Iterator<Item = &'a Uuid>) {
        let mut watched = self.watched_map();
        let Some(w) = watched.get_mut(&production) else {
            return;
        };
        if let Some(counts) = w.dates.get_mut(&date) {
            for id in crew {
                if let Some(n) = counts.get_mut(id) {
                    *n -= 1;
                    if *n == 0 {
                        counts.remove(id);
                    }
                }
            }
            if counts.is_empty() {
                w.dates.remove(&date);
            }
        }
        if w.dates.is_empty() {
            watched.remove(&production);
        }
    }

    /// The bus's [`crewtime_realtime::Prepare`] for this node: for an event of a crew member
    /// watched here, computes their state on each date they are watched on, as the shared
    /// computation every subscription woken by the event then joins. Without it, the first of
    /// hundreds of subscriptions woken at once began the read, and each of its round trips
    /// waited behind the others' wake-ups.
    pub(crate) fn preparer(
        self: &Arc<Self>,
        store: Store,
        meal_warning_lead: StdDuration,
    ) -> crewtime_realtime::Prepare {
        let node = self.clone();
        let lead = meal_warning_lead_of(meal_warning_lead);
        Arc::new(move |event, received| {
            let (production, dates) = {
                let watched = node.watched_map();
                let w = watched.get(&event.production)?;
                let dates: Vec<NaiveDate> = w
                    .dates
                    .iter()
                    .filter(|(_, crew)| crew.contains_key(&event.crew_member))
                    .map(|(date, _)| *date)
                    .take(PREPARED_DATES_AT_MOST)
                    .collect();
                if dates.is_empty() {
                    return None;
                }
                (w.production.clone(), dates)
            };
            let permit = node.preparing.clone().try_acquire_owned().ok()?;
            let node = node.clone();
            let store = store.clone();
            Some(Box::pin(async move {
                let _permit = permit;
                let fresh = FreshAfter {
                    instant: Some(received),
                    utc: None,
                };
                for date in dates {
                    // A failure is left to the subscriptions: a failed computation is never
                    // joined, so each reads for itself and reports what it gets.
                    let _ = node
                        .crew_state(&store, &production, date, event.crew_member, fresh, lead)
                        .await;
                }
            }))
        })
    }

    /// One crew member's state on `date`, from a shared computation that began after `fresh`
    /// (joined, or run now): what a subscription woken by an event and the preparation before
    /// waking it both ask for.
    async fn crew_state(
        &self,
        store: &Store,
        production: &Production,
        date: NaiveDate,
        crew: Uuid,
        fresh: FreshAfter,
        meal_warning_lead: Duration,
    ) -> Result<Arc<LiveComputation>> {
        let key = LiveKey::Crew {
            production: production.id,
            date,
            crew,
        };
        let ids = [crew];
        self.flights
            .get(&key, fresh, || {
                compute(store, production, date, Whom::Ids(&ids), meal_warning_lead)
            })
            .await
    }
}

/// A shared computation as one subscriber sees it, and where its messages' renderings are kept
/// (none for a computation of this subscriber's own).
struct Viewed {
    crew: Vec<Computed>,
    renders: Option<Arc<Renders>>,
}

/// A state as one subscriber sees it, with what its timers need.
struct Computed {
    id: Uuid,
    state: LiveCrewState,
    upcoming: Upcoming,
}

/// What a subscription knows of a crew member it watches.
struct Watched {
    version: i32,
    upcoming: Upcoming,
    /// The earliest of `upcoming` still to raise: kept here, updated when the state or what
    /// fired changes, because scanning every watched crew member's warnings on each wake-up
    /// was a tenth of a node's work in a fan-out.
    /// (Its place in `upcoming`: the struct stays as small as before it was kept.)
    next: Option<u16>,
}

/// What one subscription watches, and what it reads with.
struct Watch {
    access: Access,
    date: NaiveDate,
    department: Option<Uuid>,
    store: Store,
    node: Arc<LiveNode>,
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
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LiveFrame>>> {
        let rc = RequestCtx::get(ctx);
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
                !roster(rc, &access, date, Some(d)).await.gql()?.is_empty()
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
            store: rc.store.clone(),
            node: rc.live.clone(),
            meal_warning_lead: meal_warning_lead_of(rc.config.live_meal_warning_lead),
        };
        // Subscribe before reading the snapshot: a change committed in between is then both in
        // the snapshot and delivered as an event, never in neither.
        let receiver = rc.bus.subscribe(production);
        let snapshot = watch.everyone(Instant::now()).await.gql()?;
        let mut live = Box::new(Live {
            watch,
            expiry: expiry
                .0
                .map(|at| Box::pin(tokio::time::sleep_until(instant_of(at)))),
            receiver,
            started: Utc::now(),
            watched: HashMap::new(),
            fired: HashSet::new(),
            warning_timer: Box::pin(tokio::time::sleep(StdDuration::ZERO)),
            warning_for: None,
            ended: false,
            _counted: Counted::new(),
        });
        live.remember(&snapshot.crew);
        let first = message(
            LiveHoursKind::Snapshot,
            &snapshot.crew,
            None,
            snapshot.renders,
        );
        // The subscription is this stream and nothing else (no task, no channel): it reads
        // only when the socket takes its next message, and dropping it (the client went away
        // or stopped the subscription) ends it. Its state is boxed so each message moves a
        // pointer in and out of the stream rather than the whole state.
        let rest = futures_util::stream::unfold(live, |mut live| async move {
            if live.ended {
                return None;
            }
            let next = live.next().await;
            Some((next, live))
        });
        Ok(futures_util::stream::once(async move { Ok(first) }).chain(rest))
    }
}

/// Counts an open subscription in the gauge while it lives.
struct Counted;

impl Counted {
    fn new() -> Self {
        metrics::gauge!("crewtime_live_subscriptions").increment(1.0);
        Self
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!("crewtime_live_subscriptions").decrement(1.0);
    }
}

/// One subscription after its snapshot: forwards changes, resyncs, fires warnings, ends when
/// the credential expires or a read fails.
struct Live {
    watch: Watch,
    /// The credential's expiry (none for one that does not expire). It and the next warning
    /// are timers kept across wake-ups: made anew on each one, they were two insertions into
    /// and two removals from the runtime's shared timer wheel per delivered message.
    expiry: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    receiver: crewtime_realtime::LiveReceiver,
    /// Warnings about moments before the subscription began are not raised.
    started: DateTime<Utc>,
    watched: HashMap<Uuid, Watched>,
    /// Never the same warning twice for the same moment, whatever reloads happen.
    fired: HashSet<(Uuid, LiveWarningKind, DateTime<Utc>)>,
    warning_timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// The moment `warning_timer` is set for.
    warning_for: Option<DateTime<Utc>>,
    ended: bool,
    _counted: Counted,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.watch.node.unwatch(
            self.watch.access.production().id,
            self.watch.date,
            self.watched.keys(),
        );
    }
}

impl Live {
    fn remember(&mut self, computed: &[Computed]) {
        let new: Vec<Uuid> = computed
            .iter()
            .map(|c| c.id)
            .filter(|id| !self.watched.contains_key(id))
            .collect();
        // Everyone in `watched` is counted among the node's watchers until the drop.
        self.watch
            .node
            .watch(self.watch.access.production(), self.watch.date, &new);
        for c in computed {
            let next = self.next_of(c.id, &c.upcoming);
            self.watched.insert(
                c.id,
                Watched {
                    version: c.state.version,
                    upcoming: c.upcoming.clone(),
                    next,
                },
            );
        }
    }

    /// The earliest of a crew member's warnings still to raise: not about a moment before the
    /// subscription began, not raised already.
    fn next_of(&self, id: Uuid, upcoming: &Upcoming) -> Option<u16> {
        let (i, _) = upcoming
            .iter()
            .enumerate()
            .filter(|(_, (k, at))| *at >= self.started && !self.fired.contains(&(id, *k, *at)))
            .min_by_key(|(_, (_, at))| *at)?;
        u16::try_from(i).ok()
    }

    /// Marks a warning raised and moves its crew member's next one on.
    fn fire(&mut self, id: Uuid, kind: LiveWarningKind, at: DateTime<Utc>) {
        self.fired.insert((id, kind, at));
        if let Some(upcoming) = self.watched.get(&id).map(|w| w.upcoming.clone()) {
            let next = self.next_of(id, &upcoming);
            if let Some(w) = self.watched.get_mut(&id) {
                w.next = next;
            }
        }
    }

    /// The next message: waits for a change, a resync or a warning; the credential's expiry
    /// or a failed read ends the subscription with an error.
    async fn next(&mut self) -> async_graphql::Result<LiveFrame> {
        let result = self.next_message().await;
        if result.is_err() {
            self.ended = true;
        }
        result
    }

    async fn next_message(&mut self) -> async_graphql::Result<LiveFrame> {
        loop {
            let next_warning = self
                .watched
                .iter()
                .filter_map(|(id, w)| {
                    let (k, at) = w.upcoming.get(usize::from(w.next?))?;
                    Some((*id, *k, *at))
                })
                .min_by_key(|(_, _, at)| *at);
            if let Some((_, _, at)) = next_warning {
                if self.warning_for != Some(at) {
                    self.warning_timer.as_mut().reset(instant_of(at));
                    self.warning_for = Some(at);
                }
            }
            let outcome = tokio::select! {
                _ = expired(&mut self.expiry) => {
                    return Err(async_graphql::ErrorExtensions::extend_with(
                        async_graphql::Error::new(
                            "the access token expired; reconnect with a fresh token",
                        ),
                        |_, e| e.set("code", "UNAUTHENTICATED"),
                    ));
                }
                _ = &mut self.warning_timer, if next_warning.is_some() => {
                    let Some((id, kind, at)) = next_warning else { continue };
                    Step::Warning(id, kind, at)
                }
                (message, delivered) = self.receiver.recv_stamped() => match message {
                    BusMessage::Event(e) if self.watched.contains_key(&e.crew_member) => {
                        Step::Change(e.crew_member, delivered)
                    }
                    BusMessage::Event(_) => continue,
                    BusMessage::Resync => Step::Resync(delivered),
                },
            };
            // A failed read (the database went away, say) ends the subscription with the error
            // rather than going on with a view that may be stale; the client resubscribes.
            let ended = |e: Error| {
                tracing::warn!(error = %e, "live subscription ended");
                crate::error::to_gql(e)
            };
            match outcome {
                Step::Warning(id, kind, at) => {
                    self.fire(id, kind, at);
                    let fresh = FreshAfter {
                        instant: None,
                        utc: Some(at),
                    };
                    let now = self.watch.one(id, fresh).await.map_err(ended)?;
                    self.remember(&now.crew);
                    let warning = LiveWarning {
                        kind,
                        crew_member_id: crew_id(self.watch.access.production().id, id),
                        at,
                    };
                    return Ok(message(
                        LiveHoursKind::Warning,
                        &now.crew,
                        Some(warning),
                        now.renders,
                    ));
                }
                Step::Change(id, delivered) => {
                    let fresh = FreshAfter {
                        instant: Some(delivered),
                        utc: None,
                    };
                    let now = self.watch.one(id, fresh).await.map_err(ended)?;
                    // Events may repeat (and the snapshot may already hold one): only a newer
                    // version is news.
                    let fresh: Vec<Computed> = now
                        .crew
                        .into_iter()
                        .filter(|c| {
                            self.watched
                                .get(&c.id)
                                .is_none_or(|w| c.state.version > w.version)
                        })
                        .collect();
                    if !fresh.is_empty() {
                        self.remember(&fresh);
                        return Ok(message(LiveHoursKind::Change, &fresh, None, now.renders));
                    }
                }
                Step::Resync(delivered) => {
                    let all = self.watch.everyone(delivered).await.map_err(ended)?;
                    self.remember(&all.crew);
                    return Ok(message(LiveHoursKind::Resync, &all.crew, None, all.renders));
                }
            }
        }
    }
}

/// What woke a subscription.
enum Step {
    Warning(Uuid, LiveWarningKind, DateTime<Utc>),
    /// A watched crew member's time changed; the event was delivered at that moment.
    Change(Uuid, Instant),
    Resync(Instant),
}

/// Completes when the expiry timer fires; never without one.
async fn expired(timer: &mut Option<std::pin::Pin<Box<tokio::time::Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The runtime's instant for a wall-clock moment (now, for one already past).
fn instant_of(at: DateTime<Utc>) -> tokio::time::Instant {
    tokio::time::Instant::now() + (at - Utc::now()).to_std().unwrap_or(StdDuration::ZERO)
}

/// The configured lead of MEAL_DUE_SOON warnings (15 minutes if it does not fit).
fn meal_warning_lead_of(configured: StdDuration) -> Duration {
    Duration::from_std(configured).unwrap_or(Duration::minutes(15))
}

fn crew_id(production: Uuid, id: Uuid) -> ID {
    ID(GlobalId::tenant(Kind::CrewMember, production, id).encode())
}

fn message(
    kind: LiveHoursKind,
    computed: &[Computed],
    warning: Option<LiveWarning>,
    renders: Option<Arc<Renders>>,
) -> LiveFrame {
    metrics::counter!("crewtime_live_messages_total").increment(1);
    LiveFrame {
        message: LiveHoursMessage {
            kind,
            crew: computed.iter().map(|c| c.state.clone()).collect(),
            warning,
        },
        renders,
    }
}

impl Watch {
    /// Everyone watched, read after `fresh`: the node's shared roster, as this caller may see
    /// it.
    async fn everyone(&self, fresh: Instant) -> Result<Viewed> {
        let production = self.access.production();
        let key = LiveKey::Roster {
            production: production.id,
            date: self.date,
            department: self.department,
        };
        let fresh = FreshAfter {
            instant: Some(fresh),
            utc: None,
        };
        let shared = Box::pin(self.node.flights.get(&key, fresh, || {
            compute(
                &self.store,
                production,
                self.date,
                Whom::Roster(self.department, &CrewScope::All),
                self.meal_warning_lead,
            )
        }))
        .await?;
        if shared.truncated && matches!(self.access.crew_scope(), CrewScope::Limited { .. }) {
            // The office's roster stopped at the limit: read this caller's own.
            let own = Box::pin(compute(
                &self.store,
                production,
                self.date,
                Whom::Roster(self.department, &self.access.crew_scope()),
                self.meal_warning_lead,
            ))
            .await?;
            return Ok(Viewed {
                crew: self.view(&own),
                renders: None,
            });
        }
        Ok(self.shared_view(&shared))
    }

    /// One crew member's current state (nothing if this caller may not read them), read
    /// after `fresh`.
    async fn one(&self, crew: Uuid, fresh: FreshAfter) -> Result<Viewed> {
        let shared = Box::pin(self.node.crew_state(
            &self.store,
            self.access.production(),
            self.date,
            crew,
            fresh,
            self.meal_warning_lead,
        ))
        .await?;
        Ok(self.shared_view(&shared))
    }

    fn shared_view(&self, computation: &LiveComputation) -> Viewed {
        Viewed {
            crew: self.view(computation),
            renders: Some(computation.renders.clone()),
        }
    }

    /// A shared computation as this subscriber may see it: only crew whose time it may read,
    /// pay only where it may see rates.
    fn view(&self, computation: &LiveComputation) -> Vec<Computed> {
        let access = &self.access;
        computation
            .crew
            .iter()
            .filter(|s| access.can_read_time(&s.crew))
            .map(|s| {
                let mut state = s.state.clone();
                if !access.can_see_rates(&s.crew) {
                    state.pay_so_far = None;
                }
                Computed {
                    id: s.crew.id,
                    state,
                    upcoming: s.upcoming.clone(),
                }
            })
            .collect()
    }
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
    let sheets = tx.published_call_sheets(&[date]).await?;
    let crew = roster_in(
        &tx,
        !sheets.is_empty(),
        date,
        department,
        &access.crew_scope(),
    )
    .await?;
    tx.commit().await?;
    Ok(crew
        .into_iter()
        .filter(|c| access.can_read_time(c))
        .collect())
}

/// The roster (see [`roster`]) of `scope`, read in `tx`.
async fn roster_in(
    tx: &TenantTx,
    published: bool,
    date: NaiveDate,
    department: Option<Uuid>,
    scope: &CrewScope,
) -> Result<Vec<DomainCrew>> {
    if published {
        tx.crew_members(scope, department, None, MAX_ROSTER).await
    } else {
        tx.crew_with_days(
            date,
            date,
            &CrewFilter {
                scope,
                department,
                status: None,
                after: None,
                limit: MAX_ROSTER,
            },
        )
        .await
    }
}

/// Whose state a computation reads.
enum Whom<'a> {
    /// The roster of a department (or the production), of whom `scope` may see.
    Roster(Option<Uuid>, &'a CrewScope),
    Ids(&'a [Uuid]),
}

/// Reads (in one transaction) and computes the current state of `whom` on `date`, pay included
/// for everyone: subscribers see it through [`Watch::view`].
async fn compute(
    store: &Store,
    production: &Production,
    date: NaiveDate,
    whom: Whom<'_>,
    meal_warning_lead: Duration,
) -> Result<LiveComputation> {
    let tz = production.tz()?;
    let next_date = date + Duration::days(1);
    let tx = TenantTx::begin(store, production).await?;
    let sheets = tx.published_call_sheets(&[date, next_date]).await?;
    let latest = |date: NaiveDate| {
        sheets
            .iter()
            .filter(|s| s.content.shoot_date == date)
            .max_by_key(|s| s.issue)
            .cloned()
    };
    let sheet = latest(date);
    // The next published call: the following day's sheet (a day off in between needs no
    // rest warning).
    let next_sheet = latest(next_date);
    let (crew, truncated) = match whom {
        Whom::Roster(department, scope) => {
            let crew = roster_in(&tx, sheet.is_some(), date, department, scope).await?;
            let truncated = crew.len() as u64 >= MAX_ROSTER;
            (crew, truncated)
        }
        Whom::Ids(ids) => (tx.crew_members_by_ids(ids).await?, false),
    };
    let ids: Vec<Uuid> = crew.iter().map(|c| c.id).collect();
    let settings = tx.settings().await?;
    let week_end = week_ending(date, settings.work_week_ends);
    let from = week_end - Duration::days(6);
    let days = tx.work_days(&ids, from, week_end).await?;
    let deals = tx.deals_of(&ids).await?;
    let previous = tx.previous_wraps(&ids, from).await?;
    let rules = tx.rule_sets().await?;
    tx.commit().await?;
    let now = Utc::now();
    let mut out = Vec::with_capacity(crew.len());
    for c in crew {
        let punches: Vec<(PunchKind, DateTime<Utc>)> = days
            .iter()
            .filter(|d| d.crew_member_id == c.id && d.date == date)
            .flat_map(|d| d.punches.iter().map(|p| (p.kind, p.at)))
            .collect();
        let line = timeline(&punches)?;
        let (_, rule_set) = rules_on(&c.rule_set, &rules, date)?;
        let interval = rule_set.meal_interval();
        let next_meal_due = line.next_meal_due(interval);
        let worked = line.worked_minutes(now);
        // Price the week as if the day wrapped now, so tier, penalties and pay are "so far".
        let worked_days: Vec<WorkedDay> = days
            .iter()
            .filter(|d| d.crew_member_id == c.id)
            .map(|d| {
                let mut punches: Vec<_> = d.punches.iter().map(|p| (p.kind, p.at)).collect();
                if d.date == date {
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
        .and_then(|w| w.days.into_iter().find(|d| d.pay.date == date));
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
                upcoming.push((LiveWarningKind::MealDueSoon, due - meal_warning_lead));
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
            crew_member_id: crew_id(production.id, c.id),
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
            // Everyone's: each subscriber's view removes what it may not see.
            pay_so_far: priced.as_ref().map(|p| p.pay.gross),
            version: c.time_version,
        };
        out.push(SharedState {
            crew: c,
            state,
            upcoming: upcoming.into(),
        });
    }
    Ok(LiveComputation {
        crew: out,
        renders: Arc::default(),
        truncated,
    })
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

async fn take_stale(
    store: &crewtime_persistence::Store,
    production: &Production,
) -> Result<Vec<crewtime_persistence::live_outbox::OutboxEvent>> {
    let tx = TenantTx::begin(store, production).await?;
    let events = tx.take_stale_live_events(RELAY_AFTER_SECS, 500).await?;
    tx.commit().await?;
    Ok(events)
}

async fn relay_once(
    store: &crewtime_persistence::Store,
    bus: &crewtime_realtime::Bus,
) -> Result<()> {
    let productions = store.all_productions().await?;
    for production in store
        .with_stale_live_events(&productions, RELAY_AFTER_SECS)
        .await?
    {
        let events = match take_stale(store, production).await {
            Ok(events) => events,
            Err(e) => {
                // One production's failure (its schema is being dropped, say) leaves the
                // others' events to be relayed.
                tracing::warn!(error = %e, production = %production.id, "live outbox relay failed");
                continue;
            }
        };
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
