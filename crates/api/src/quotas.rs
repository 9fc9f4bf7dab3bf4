//! Per-production and per-caller quotas: token buckets kept in this process.
//!
//! Each bucket is one `AtomicU64` run as a GCRA ("generic cell rate algorithm", the token bucket
//! written as a theoretical arrival time): admitting `n` units moves the time forward by `n`
//! emission intervals, and is refused when that would put it more than the burst ahead of now.
//! Charging is a lock-free compare-and-swap; the buckets live in sharded maps behind read locks,
//! so the hot path is one hash, one shared read lock and one CAS per bucket, with no allocation
//! (a key's first request inserts it under that shard's write lock).
//!
//! A bucket whose time has fallen behind now is full, exactly like a missing one, so idle
//! buckets are dropped without losing anything when a shard reaches its capacity.
//!
//! The limits are per node: with N nodes behind a load balancer a production can use up to N
//! times them.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use crewtime_domain::{Error, Result};
use uuid::Uuid;

/// Shards per map: enough that concurrent requests rarely share a lock's cache line.
const SHARDS: usize = 16;
/// Keys per shard before idle buckets are dropped (16 × 8,192 = 131,072 keys per map).
const SHARD_CAPACITY: usize = 8_192;

/// A rate of `per_sec` units per second with bursts of up to `burst` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_sec: u64,
    pub burst: u64,
}

impl Rate {
    pub const fn new(per_sec: u64, burst: u64) -> Self {
        Self { per_sec, burst }
    }

    fn gcra(self) -> Gcra {
        let interval = (1_000_000_000 / self.per_sec.max(1)).max(1);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(self.burst),
        }
    }
}

/// The deployment's quotas (see `docs/OPERATIONS.md`, "Quotas").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaConfig {
    /// Operations per second charged to one production.
    pub production_requests: Rate,
    /// Complexity units per second charged to one production.
    pub production_cost: Rate,
    /// Operations per second of one caller (a person, an API token, or an anonymous address).
    pub caller_requests: Rate,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            production_requests: Rate::new(200, 400),
            production_cost: Rate::new(200_000, 400_000),
            caller_requests: Rate::new(200, 400),
        }
    }
}

/// A GCRA's parameters in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    /// Time one unit takes to refill.
    interval: u64,
    /// How far ahead of now the arrival time may run: the burst.
    tolerance: u64,
}

/// One bucket: its theoretical arrival time, in nanoseconds since the quotas' epoch.
#[derive(Default)]
struct Bucket(AtomicU64);

impl Bucket {
    /// Takes `units`, or says in how many nanoseconds they would fit.
    fn take(&self, g: Gcra, units: u64, now: u64) -> Result<(), u64> {
        let cost = units.saturating_mul(g.interval);
        let mut tat = self.0.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now).saturating_add(cost);
            let ahead = next - now;
            if ahead > g.tolerance {
                return Err(ahead - g.tolerance);
            }
            match self
                .0
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => tat = actual,
            }
        }
    }

    /// Gives back what `take` took, when a second bucket refused the same operation.
    fn give_back(&self, g: Gcra, units: u64) {
        let cost = units.saturating_mul(g.interval);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                Some(tat.saturating_sub(cost))
            });
    }

    fn idle(&self, now: u64) -> bool {
        self.0.load(Ordering::Relaxed) <= now
    }
}

/// A production's two buckets: operations and cost.
#[derive(Default)]
struct ProductionBuckets {
    requests: Bucket,
    cost: Bucket,
}

trait Idle {
    fn idle(&self, now: u64) -> bool;
}

impl Idle for Bucket {
    fn idle(&self, now: u64) -> bool {
        Bucket::idle(self, now)
    }
}

impl Idle for ProductionBuckets {
    fn idle(&self, now: u64) -> bool {
        self.requests.idle(now) && self.cost.idle(now)
    }
}

/// A map of buckets split into shards, each behind its own lock.
struct Shards<K, V> {
    hasher: RandomState,
    shards: Vec<RwLock<HashMap<K, V>>>,
}

impl<K: Hash + Eq + Copy, V: Default + Idle> Shards<K, V> {
    fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }

    fn with<R>(&self, key: K, now: u64, f: impl FnOnce(&V) -> R) -> R {
        let hash = self.hasher.hash_one(key);
        // The top bits pick the shard; the map hashes with its own keys.
        let shard = &self.shards[(hash >> 60) as usize % SHARDS];
        {
            let map = shard.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(v) = map.get(&key) {
                return f(v);
            }
        }
        let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(&key) && map.len() >= SHARD_CAPACITY {
            map.retain(|_, v| !v.idle(now));
            if map.len() >= SHARD_CAPACITY {
                // Every bucket is busy: the shard starts again with full buckets. Bounded memory
                // (and no scan per new key) wins over exactness for a node under that many
                // distinct callers at once.
                map.clear();
            }
        }
        f(map.entry(key).or_default())
    }
}

/// Who a caller is for their own quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CallerKey {
    User(Uuid),
    /// An API token, by a keyed hash of its secret (the secret itself is not kept).
    Token(u64),
    /// A caller without valid credentials, by address (IPv6 by /64, as the sign-in limits).
    Address(IpAddr),
    /// No credentials and no address known.
    Unknown,
}

/// Which limit refused, for the message and the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    ProductionRequests,
    ProductionCost,
    CallerRequests,
}

impl Refusal {
    fn kind(self) -> &'static str {
        match self {
            Refusal::ProductionRequests => "production_requests",
            Refusal::ProductionCost => "production_cost",
            Refusal::CallerRequests => "caller_requests",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::ProductionRequests => "this production's request rate quota is used up",
            Refusal::ProductionCost => "this production's query cost quota is used up",
            Refusal::CallerRequests => "your request rate quota is used up",
        }
    }
}

/// Counts a refusal by a quota or a cap in `crewtime_quota_refusals_total{kind}`.
pub(crate) fn count_refusal(kind: &'static str) {
    metrics::counter!("crewtime_quota_refusals_total", "kind" => kind).increment(1);
}

/// The node's quota buckets.
pub(crate) struct Quotas {
    epoch: Instant,
    production_requests: Gcra,
    production_cost: Gcra,
    caller_requests: Gcra,
    productions: Shards<Uuid, ProductionBuckets>,
    callers: Shards<CallerKey, Bucket>,
    token_hasher: RandomState,
}

impl Quotas {
    pub(crate) fn new(config: &QuotaConfig) -> Self {
        Self {
            epoch: Instant::now(),
            production_requests: config.production_requests.gcra(),
            production_cost: config.production_cost.gcra(),
            caller_requests: config.caller_requests.gcra(),
            productions: Shards::new(),
            callers: Shards::new(),
            token_hasher: RandomState::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The key of an API token's caller bucket.
    pub(crate) fn token_key(&self, secret: &str) -> CallerKey {
        CallerKey::Token(self.token_hasher.hash_one(secret))
    }

    /// Charges one operation to a caller.
    pub(crate) fn charge_caller(&self, key: CallerKey) -> Result<()> {
        let now = self.now();
        let g = self.caller_requests;
        self.callers
            .with(key, now, |b| b.take(g, 1, now))
            .map_err(|wait| refuse(Refusal::CallerRequests, wait))
    }

    /// Charges one operation of complexity `cost` to a production: both buckets or neither.
    pub(crate) fn charge_production(&self, production: Uuid, cost: u64) -> Result<()> {
        let now = self.now();
        let (rq, cq) = (self.production_requests, self.production_cost);
        self.productions
            .with(production, now, |b| {
                b.requests
                    .take(rq, 1, now)
                    .map_err(|wait| (Refusal::ProductionRequests, wait))?;
                if let Err(wait) = b.cost.take(cq, cost, now) {
                    b.requests.give_back(rq, 1);
                    return Err((Refusal::ProductionCost, wait));
                }
                Ok(())
            })
            .map_err(|(why, wait)| refuse(why, wait))
    }
}

fn refuse(why: Refusal, wait_ns: u64) -> Error {
    count_refusal(why.kind());
    Error::OverQuota {
        message: format!("{}; retry later", why.message()),
        // Whole seconds, rounded up: a client that waits this long is admitted.
        retry_after_secs: wait_ns.div_ceil(1_000_000_000).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(e: Error) -> u64 {
        match e {
            Error::OverQuota {
                retry_after_secs, ..
            } => retry_after_secs,
            other => panic!("not a quota refusal: {other:?}"),
        }
    }

    #[test]
    fn a_bucket_admits_its_burst_then_refills_at_its_rate() {
        let g = Rate::new(10, 5).gcra();
        let b = Bucket::default();
        let t0 = 1_000_000_000;
        for _ in 0..5 {
            assert!(b.take(g, 1, t0).is_ok());
        }
        let wait = b.take(g, 1, t0).unwrap_err();
        assert_eq!(wait, 100_000_000, "one unit refills in 1/10 s");
        assert!(b.take(g, 1, t0 + 100_000_000).is_ok());
        assert!(b.take(g, 1, t0 + 100_000_000).is_err());
        // Idle for a long time: full again, but no more than the burst.
        let later = t0 + 60_000_000_000;
        assert!(b.idle(later));
        for _ in 0..5 {
            assert!(b.take(g, 1, later).is_ok());
        }
        assert!(b.take(g, 1, later).is_err());
    }

    #[test]
    fn a_refused_cost_takes_nothing_from_either_bucket() {
        let q = Quotas::new(&QuotaConfig {
            production_requests: Rate::new(1, 2),
            production_cost: Rate::new(100, 100),
            caller_requests: Rate::new(1, 1),
        });
        let p = Uuid::new_v4();
        assert!(q.charge_production(p, 60).is_ok());
        // 60 more units do not fit: refused by cost, and the request unit is given back.
        assert!(retry(q.charge_production(p, 60).unwrap_err()) >= 1);
        assert!(
            q.charge_production(p, 40).is_ok(),
            "the request bucket had room left"
        );
        assert!(
            q.charge_production(p, 0).is_err(),
            "two requests used the burst"
        );
        // Another production is not affected.
        assert!(q.charge_production(Uuid::new_v4(), 100).is_ok());
    }

    #[test]
    fn callers_are_limited_each_on_their_own() {
        let q = Quotas::new(&QuotaConfig {
            caller_requests: Rate::new(1, 2),
            ..QuotaConfig::default()
        });
        let a = CallerKey::User(Uuid::new_v4());
        assert!(q.charge_caller(a).is_ok());
        assert!(q.charge_caller(a).is_ok());
        assert_eq!(retry(q.charge_caller(a).unwrap_err()), 1);
        assert!(q.charge_caller(CallerKey::User(Uuid::new_v4())).is_ok());
        let t = q.token_key("ct_secret");
        assert_eq!(t, q.token_key("ct_secret"));
        assert_ne!(t, q.token_key("ct_other"));
    }

    #[test]
    fn shards_drop_idle_buckets_when_full() {
        let s: Shards<u64, Bucket> = Shards::new();
        let g = Rate::new(1, 1).gcra();
        for k in 0..(SHARDS * SHARD_CAPACITY * 2) as u64 {
            s.with(k, 10, |b| b.take(g, 1, 10)).unwrap();
        }
        let total: usize = s.shards.iter().map(|m| m.read().unwrap().len()).sum();
        assert!(total <= SHARDS * SHARD_CAPACITY, "{total}");
    }
}
