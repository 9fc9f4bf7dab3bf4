//! Computations shared by the live subscriptions of a node. Subscribers that need the same
//! thing (one crew member's state after an event, a department's roster for a snapshot) at
//! about the same moment wait for one computation instead of running one each. The read cache
//! uses the same single-flight for its misses (`read_cache::Cache::get_or_compute`).
//!
//! A computation may be joined only if it began after the moment the joiner needs: after the
//! bus delivered the event it answers (a read that begins later sees the committed change),
//! after a subscriber subscribed (so nothing falls between snapshot and events), or after the
//! instant a warning is about. One that has not begun yet may always be joined. Computations
//! of one key run one at a time, so subscribers arriving while one runs gather behind it and
//! share the next one. A result is shared for a short while only, since "worked so far" and
//! "pay so far" depend on the clock.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crewtime_domain::Result;
use tokio::sync::OnceCell;

/// How long a result may be handed to subscribers after its computation began.
const SHARE_FOR: Duration = Duration::from_secs(2);
/// How often finished computations are dropped from the map.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// What a joinable computation must have begun after.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FreshAfter {
    /// Began after this moment on this node (an event's delivery, a subscription).
    pub instant: Option<Instant>,
    /// Began at or after this wall-clock instant (a warning's moment).
    pub utc: Option<DateTime<Utc>>,
}

struct Flight<V> {
    /// When the computation began (on this node's clocks).
    began: OnceLock<(Instant, DateTime<Utc>)>,
    result: OnceCell<Result<Arc<V>>>,
}

impl<V> Flight<V> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            began: OnceLock::new(),
            result: OnceCell::new(),
        })
    }

    fn joinable(&self, fresh: FreshAfter) -> bool {
        let Some((instant, utc)) = self.began.get() else {
            // Not begun: it begins after whoever asks now.
            return true;
        };
        let failed = matches!(self.result.get(), Some(Err(_)));
        !failed
            && instant.elapsed() <= SHARE_FOR
            && fresh.instant.is_none_or(|after| *instant >= after)
            && fresh.utc.is_none_or(|after| *utc >= after)
    }

    fn finished_long_ago(&self) -> bool {
        self.result.initialized()
            && self
                .began
                .get()
                .is_some_and(|(instant, _)| instant.elapsed() > SHARE_FOR)
    }
}

struct Slot<V> {
    /// Held while a computation of this key runs.
    turn: Arc<tokio::sync::Mutex<()>>,
    latest: Arc<Flight<V>>,
}

/// Single-flight computations by key.
pub(crate) struct SharedFlights<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
    pruned: Mutex<Instant>,
    /// Counters of computations run and joined.
    computed_metric: &'static str,
    joined_metric: &'static str,
}

impl<K, V> Default for SharedFlights<K, V> {
    /// The live subscriptions' flights.
    fn default() -> Self {
        Self::counted(
            "crewtime_live_computations_total",
            "crewtime_live_computations_joined_total",
        )
    }
}

impl<K, V> SharedFlights<K, V> {
    /// Flights whose computations run and joined are counted under these names.
    pub(crate) fn counted(computed_metric: &'static str, joined_metric: &'static str) -> Self {
        Self {
            slots: Mutex::default(),
            pruned: Mutex::new(Instant::now()),
            computed_metric,
            joined_metric,
        }
    }
}

impl<K: Hash + Eq + Clone, V> SharedFlights<K, V> {
    /// The result of a computation of `key` that began after `fresh`: one already running or
    /// queued, or `compute` run now.
    pub(crate) async fn get<F, Fut>(&self, key: &K, fresh: FreshAfter, compute: F) -> Result<Arc<V>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let (flight, turn) = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            self.prune(&mut slots);
            let slot = slots.entry(key.clone()).or_insert_with(|| Slot {
                turn: Arc::default(),
                latest: Flight::new(),
            });
            if slot.latest.joinable(fresh) {
                metrics::counter!(self.joined_metric).increment(1);
            } else {
                slot.latest = Flight::new();
            }
            (slot.latest.clone(), slot.turn.clone())
        };
        flight
            .result
            .get_or_init(|| async {
                // One computation of a key at a time: whoever arrives meanwhile joins this one
                // while it waits here, and begins after them.
                let _turn = turn.lock().await;
                let _ = flight.began.set((Instant::now(), Utc::now()));
                metrics::counter!(self.computed_metric).increment(1);
                compute().await.map(Arc::new)
            })
            .await
            .clone()
    }

    fn prune(&self, slots: &mut HashMap<K, Slot<V>>) {
        let mut pruned = self
            .pruned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if pruned.elapsed() < PRUNE_EVERY {
            return;
        }
        *pruned = Instant::now();
        slots.retain(|_, slot| !slot.latest.finished_long_ago());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_computation() {
        let flights = SharedFlights::<u8, usize>::default();
        let runs = AtomicUsize::new(0);
        let fresh = FreshAfter {
            instant: Some(Instant::now()),
            utc: None,
        };
        let compute = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(7)
        };
        let results =
            futures_util::future::join_all((0..50).map(|_| flights.get(&1, fresh, compute))).await;
        assert!(results.iter().all(|r| r.as_deref() == Ok(&7)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_computation_that_began_before_the_need_is_not_reused() {
        let flights = SharedFlights::<u8, usize>::default();
        let runs = AtomicUsize::new(0);
        let compute = || async { Ok(runs.fetch_add(1, Ordering::SeqCst)) };
        let first = flights
            .get(&1, FreshAfter::default(), compute)
            .await
            .expect("ok");
        // Joined: nothing newer is needed.
        let again = flights
            .get(&1, FreshAfter::default(), compute)
            .await
            .expect("ok");
        assert_eq!((*first, *again), (0, 0));
        // An event delivered after the first began needs a new read.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let after = FreshAfter {
            instant: Some(Instant::now()),
            utc: None,
        };
        assert_eq!(*flights.get(&1, after, compute).await.expect("ok"), 1);
        // So does a warning moment after it.
        let later = FreshAfter {
            instant: None,
            utc: Some(Utc::now() + chrono::Duration::milliseconds(1)),
        };
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(*flights.get(&1, later, compute).await.expect("ok"), 2);
        // Another key never shares.
        assert_eq!(
            *flights
                .get(&2, FreshAfter::default(), compute)
                .await
                .expect("ok"),
            3
        );
    }

    #[tokio::test]
    async fn callers_arriving_during_a_computation_share_the_next_one() {
        let flights = Arc::new(SharedFlights::<u8, usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let compute = {
            let runs = runs.clone();
            move || {
                let runs = runs.clone();
                async move {
                    let n = runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(n)
                }
            }
        };
        let now = || FreshAfter {
            instant: Some(Instant::now()),
            utc: None,
        };
        let first = {
            let (flights, compute, fresh) = (flights.clone(), compute.clone(), now());
            tokio::spawn(async move { flights.get(&1, fresh, compute).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let late: Vec<_> = (0..20)
            .map(|_| {
                let (flights, compute, fresh) = (flights.clone(), compute.clone(), now());
                tokio::spawn(async move { flights.get(&1, fresh, compute).await })
            })
            .collect();
        assert_eq!(*first.await.expect("joined").expect("ok"), 0);
        for l in late {
            assert_eq!(*l.await.expect("joined").expect("ok"), 1);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failure_is_shared_by_its_waiters_but_not_kept() {
        let flights = SharedFlights::<u8, usize>::default();
        let failed = flights
            .get(&1, FreshAfter::default(), || async {
                Err(crewtime_domain::Error::internal("down"))
            })
            .await;
        assert!(failed.is_err());
        let ok = flights
            .get(&1, FreshAfter::default(), || async { Ok(1) })
            .await;
        assert_eq!(ok.as_deref(), Ok(&1));
    }
}
