//! The event bus: in-process broadcast per production, Redis pub/sub between nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::RedisHealth;

/// The one Redis channel every node publishes to and subscribes on. Events are small and the
/// production id is inside, so one channel is enough and a node needs one subscription only.
const CHANNEL: &str = "crewtime:live:events";
/// Per production; a subscriber further behind than this gets `Resync`.
const CAPACITY: usize = 256;
/// How long an event's preparation may hold back its delivery.
const PREPARE_AT_MOST: Duration = Duration::from_secs(2);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    Punch,
    Correction,
    DayType,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Punch => "PUNCH",
            EventKind::Correction => "CORRECTION",
            EventKind::DayType => "DAY_TYPE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [EventKind::Punch, EventKind::Correction, EventKind::DayType]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A crew member's time changed (published only after the transaction that changed it
/// committed). It carries no state: subscribers read the current state themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub production: Uuid,
    pub crew_member: Uuid,
    pub date: NaiveDate,
    pub kind: EventKind,
}

/// What a subscriber receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusMessage {
    Event(Event),
    /// Events may have been missed (this receiver lagged, or the Redis subscriber reconnected):
    /// re-read everything.
    Resync,
}

/// Work a node does for an event before it wakes the event's subscribers (see
/// [`Bus::prepare_with`]); it is given the event and the moment it reached this node, and
/// returns `None` when there is nothing to do.
pub type Prepare = Arc<dyn Fn(Event, Instant) -> Option<BoxFuture<'static, ()>> + Send + Sync>;

#[derive(Serialize, Deserialize)]
struct Wire {
    node: Uuid,
    event: Event,
}

/// The node's bus; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    node: Uuid,
    /// Each message goes with the moment this node delivered it.
    channels: Mutex<HashMap<Uuid, broadcast::Sender<(BusMessage, Instant)>>>,
    redis: Option<Arc<RedisHealth>>,
    subscriber_up: AtomicBool,
    prepare: OnceLock<Prepare>,
}

/// One subscriber's receiver. `recv` never ends and never reports an error: a lag becomes
/// `Resync` (a `while let Ok(..)` loop would end the subscription on lag; skipping the error
/// would lose events silently).
pub struct LiveReceiver {
    rx: broadcast::Receiver<(BusMessage, Instant)>,
}

impl LiveReceiver {
    pub async fn recv(&mut self) -> BusMessage {
        self.recv_stamped().await.0
    }

    /// The next message and when it reached this node: a read of the database that begins
    /// after that moment sees the change the message announces (it was committed before it was
    /// published), so subscribers of one node can share such a read (and the one the node's
    /// [`Prepare`] began before waking them).
    pub async fn recv_stamped(&mut self) -> (BusMessage, Instant) {
        loop {
            match self.rx.recv().await {
                Ok(m) => return m,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    metrics::counter!("crewtime_live_lagged_total").increment(1);
                    tracing::debug!(missed = n, "live subscriber lagged; resyncing");
                    // Every missed message was delivered before now.
                    return (BusMessage::Resync, Instant::now());
                }
                // The hub keeps every sender for the node's lifetime, so this cannot happen; if
                // it ever did, waiting forever is better than ending the subscription.
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}

impl Bus {
    /// An in-process bus only (no Redis configured): one node.
    pub fn local() -> Self {
        Self::build(None)
    }

    /// A bus that fans out through Redis and runs the node's supervised subscriber. Must be
    /// called inside a tokio runtime.
    pub fn with_redis(redis: Arc<RedisHealth>) -> Self {
        let bus = Self::build(Some(redis));
        let supervised = bus.clone();
        tokio::spawn(async move { supervised.supervise().await });
        bus
    }

    fn build(redis: Option<Arc<RedisHealth>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                node: Uuid::new_v4(),
                channels: Mutex::default(),
                redis,
                subscriber_up: AtomicBool::new(false),
                prepare: OnceLock::new(),
            }),
        }
    }

    pub fn subscribe(&self, production: Uuid) -> LiveReceiver {
        let mut map = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Channels nobody listens to any more go when someone subscribes, so the map holds
        // only productions watched on this node.
        map.retain(|p, sender| *p == production || sender.receiver_count() > 0);
        LiveReceiver {
            rx: map
                .entry(production)
                .or_insert_with(|| broadcast::channel(CAPACITY).0)
                .subscribe(),
        }
    }

    /// Has `prepare` run for each event that reaches this node before its subscribers are
    /// woken, so what they all need can be read once while they sleep rather than by the first
    /// of hundreds woken at once. Events then reach subscribers in the order their preparations
    /// finish, which may differ from the order they came in; an event is a notification to
    /// re-read current state, so the order does not matter. Set once; later calls are ignored.
    pub fn prepare_with(&self, prepare: Prepare) {
        let _ = self.inner.prepare.set(prepare);
    }

    /// An event reached this node: prepared (when the node prepares events), then delivered.
    fn arrive(&self, event: Event) {
        let received = Instant::now();
        match self.inner.prepare.get().and_then(|p| p(event, received)) {
            Some(prepared) => {
                let bus = self.clone();
                tokio::spawn(async move {
                    // However it goes, the subscribers hear of the event.
                    let _ = tokio::time::timeout(PREPARE_AT_MOST, prepared).await;
                    bus.deliver(BusMessage::Event(event), event.production, received);
                });
            }
            None => self.deliver(BusMessage::Event(event), event.production, received),
        }
    }

    fn deliver(&self, message: BusMessage, production: Uuid, received: Instant) {
        // No channel, or no receivers, is not an error: nobody watches this production here.
        let sender = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&production)
            .cloned();
        if let Some(sender) = sender {
            let _ = sender.send((message, received));
        }
    }

    fn resync_all(&self) {
        let senders: Vec<_> = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect();
        for s in senders {
            let _ = s.send((BusMessage::Resync, Instant::now()));
        }
    }

    /// Delivers `event` to this node's subscribers and publishes it to the other nodes. Call it
    /// only after the transaction that caused it committed. Never fails: a Redis failure is
    /// logged and counted, and the event still reaches this node's subscribers.
    pub async fn publish(&self, event: Event) {
        metrics::counter!("crewtime_live_events_published_total").increment(1);
        self.arrive(event);
        let Some(redis) = &self.inner.redis else {
            return;
        };
        let wire = Wire {
            node: self.inner.node,
            event,
        };
        let payload = match serde_json::to_string(&wire) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a live event");
                return;
            }
        };
        if let Err(first) = redis.publish(CHANNEL, &payload).await {
            // The connection manager reconnects after a dropped connection (a Redis restart),
            // so the first command after one fails and the next one usually succeeds.
            tracing::debug!(error = %first, "publishing a live event failed; retrying once");
            if let Err(e) = redis.publish(CHANNEL, &payload).await {
                metrics::counter!("crewtime_live_publish_failures_total").increment(1);
                tracing::warn!(error = %e, "publishing a live event to Redis failed");
            }
        }
    }

    /// Whether Redis is configured.
    pub fn redis_configured(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// Whether the node's Redis subscriber is connected and subscribed.
    pub fn subscriber_up(&self) -> bool {
        self.inner.subscriber_up.load(Ordering::Relaxed)
    }

    fn set_subscriber_up(&self, up: bool) {
        self.inner.subscriber_up.store(up, Ordering::Relaxed);
        metrics::gauge!("crewtime_live_subscriber_up").set(if up { 1.0 } else { 0.0 });
    }

    /// The node's one Redis subscriber: subscribes, feeds the hub, and when the connection
    /// ends (Redis pub/sub ends silently on disconnect) reconnects with capped exponential
    /// backoff and tells every local subscriber to resync, since events published meanwhile
    /// are gone (pub/sub is at-most-once).
    async fn supervise(self) {
        let Some(redis) = self.inner.redis.clone() else {
            return;
        };
        let mut backoff = Duration::from_millis(100);
        let mut connected_before = false;
        loop {
            match redis.client().get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                    Ok(()) => {
                        self.set_subscriber_up(true);
                        backoff = Duration::from_millis(100);
                        if connected_before {
                            metrics::counter!("crewtime_live_subscriber_reconnects_total")
                                .increment(1);
                            tracing::info!("Redis subscriber reconnected; resyncing subscribers");
                            self.resync_all();
                        }
                        connected_before = true;
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            self.receive(msg.get_payload::<String>().ok());
                        }
                        self.set_subscriber_up(false);
                        tracing::warn!("Redis subscriber connection ended; reconnecting");
                    }
                    Err(e) => tracing::warn!(error = %e, "Redis SUBSCRIBE failed"),
                },
                Err(e) => {
                    self.set_subscriber_up(false);
                    tracing::warn!(error = %e, "Redis subscriber cannot connect");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    fn receive(&self, payload: Option<String>) {
        let Some(wire) = payload.and_then(|p| serde_json::from_str::<Wire>(&p).ok()) else {
            tracing::warn!("ignoring a malformed live event from Redis");
            return;
        };
        // This node delivered its own events when it published them.
        if wire.node != self.inner.node {
            metrics::counter!("crewtime_live_events_received_total").increment(1);
            self.arrive(wire.event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(production: Uuid) -> Event {
        Event {
            production,
            crew_member: Uuid::new_v4(),
            date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            kind: EventKind::Punch,
        }
    }

    #[tokio::test]
    async fn events_reach_subscribers_of_their_production_only() {
        let bus = Bus::local();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut ra = bus.subscribe(a);
        let mut rb = bus.subscribe(b);
        let e = event(a);
        bus.publish(e).await;
        assert_eq!(ra.recv().await, BusMessage::Event(e));
        let other = event(b);
        bus.publish(other).await;
        assert_eq!(rb.recv().await, BusMessage::Event(other));
    }

    #[tokio::test]
    async fn an_event_reaches_subscribers_after_its_preparation() {
        let bus = Bus::local();
        let p = Uuid::new_v4();
        let mut rx = bus.subscribe(p);
        let prepared = Arc::new(AtomicBool::new(false));
        let flag = prepared.clone();
        bus.prepare_with(Arc::new(move |e: Event, _| {
            // Only this production's events need preparing here.
            (e.production == p).then(|| {
                let flag = flag.clone();
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    flag.store(true, Ordering::SeqCst);
                }) as BoxFuture<'static, ()>
            })
        }));
        let e = event(p);
        bus.publish(e).await;
        assert_eq!(rx.recv().await, BusMessage::Event(e));
        assert!(prepared.load(Ordering::SeqCst), "delivered before prepared");
        // An event with nothing to prepare is delivered at once.
        let other = Uuid::new_v4();
        let mut rx_other = bus.subscribe(other);
        let e = event(other);
        bus.publish(e).await;
        assert_eq!(
            rx_other.rx.try_recv().map(|(m, _)| m),
            Ok(BusMessage::Event(e))
        );
    }

    #[tokio::test]
    async fn a_lagged_receiver_gets_resync_then_goes_on() {
        let bus = Bus::local();
        let p = Uuid::new_v4();
        let mut rx = bus.subscribe(p);
        for _ in 0..CAPACITY + 10 {
            bus.publish(event(p)).await;
        }
        assert_eq!(rx.recv().await, BusMessage::Resync);
        // After the resync the receiver reads on from the oldest event still held.
        assert!(matches!(rx.recv().await, BusMessage::Event(_)));
        let last = event(p);
        bus.publish(last).await;
        let mut seen = None;
        for _ in 0..CAPACITY + 1 {
            if let BusMessage::Event(e) = rx.recv().await {
                if e == last {
                    seen = Some(e);
                    break;
                }
            }
        }
        assert_eq!(seen, Some(last));
    }
}
