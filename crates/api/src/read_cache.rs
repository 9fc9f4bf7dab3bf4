//! Read models cached on two levels: a bounded map in the node's memory (L1) and, when Redis is
//! configured, Redis shared by every node (L2). The cached read models are a crew member's
//! priced week (`timecard_pay`), the timelines a week's worked minutes and hours are computed
//! from (`work_day_totals`) and a production's hot cost report for a date (`hot_cost`).
//!
//! Invalidation is by key, never by deletion: every key carries the version of every input its
//! value is computed from, each bumped in the transaction of any change to that input: for a
//! priced week the crew member's `version` (their deal, rule set, department), the `crew_weeks`
//! versions of the week and the week before (its time), the production's `rules_version` and
//! settings `version`; for timelines the crew member's `time_version`; for the hot cost report
//! aggregates of all of them over the weeks up to its date and of the departments' versions
//! (`Store::read_model_versions`). Every key also holds the production's id and creation
//! instant (so a production re-created with the same id in a fresh database never meets old
//! entries) and a key-format version. A write therefore yields new keys; old entries are never
//! served again and age out (L1 by its bound, Redis by its TTL). Keys are per week so that
//! recording today's time leaves the priced weeks and reports of earlier weeks valid.
//!
//! Redis is an optimisation only: an error or a slow answer (past a short timeout) is logged,
//! counted in `crewtime_cache_redis_errors_total`, pauses Redis use for a second, and the read
//! falls back to computing. An L1 hit never touches Redis.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use crewtime_domain::crew::CrewMember as DomainCrew;
use crewtime_domain::production::Production;
use crewtime_domain::Result;
use crewtime_persistence::punches::{ReadModelVersions, Settings, WeekVersions};
use crewtime_realtime::RedisHealth;
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::live_cache::{FreshAfter, SharedFlights};

/// Prefix of every key: bump the version when a cached value's format changes, so nodes of an
/// old and a new release never read each other's entries.
pub(crate) const KEY_PREFIX: &str = "crewtime:rc2";

/// How long Redis is left alone after it failed or answered too slowly.
const REDIS_PAUSE: Duration = Duration::from_secs(1);

/// The read models, as named in metrics and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    TimecardPay,
    WorkDayTotals,
    HotCost,
}

impl Model {
    const ALL: [Model; 3] = [Model::TimecardPay, Model::WorkDayTotals, Model::HotCost];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Model::TimecardPay => "timecard_pay",
            Model::WorkDayTotals => "work_day_totals",
            Model::HotCost => "hot_cost",
        }
    }

    fn index(self) -> usize {
        match self {
            Model::TimecardPay => 0,
            Model::WorkDayTotals => 1,
            Model::HotCost => 2,
        }
    }
}

/// Hits and misses since the process started, per model, for the hit ratio gauge. Process-wide
/// like the Prometheus recorder the counters go to.
static HITS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static MISSES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

#[derive(Clone, Copy)]
enum Outcome {
    HitLocal,
    HitRedis,
    Miss,
}

fn count(model: Model, outcome: Outcome, n: u64) {
    if n == 0 {
        return;
    }
    let label = match outcome {
        Outcome::HitLocal => "hit_local",
        Outcome::HitRedis => "hit_redis",
        Outcome::Miss => "miss",
    };
    metrics::counter!("crewtime_cache_requests_total", "cache" => model.name(), "outcome" => label)
        .increment(n);
    let side = match outcome {
        Outcome::Miss => &MISSES,
        _ => &HITS,
    };
    side[model.index()].fetch_add(n, Ordering::Relaxed);
}

/// Sets `crewtime_cache_hit_ratio{cache}` to hits / (hits + misses) since start; called when
/// metrics are scraped. A model never asked for has no ratio yet.
pub(crate) fn export_hit_ratios() {
    for model in Model::ALL {
        let hits = HITS[model.index()].load(Ordering::Relaxed);
        let misses = MISSES[model.index()].load(Ordering::Relaxed);
        if hits + misses > 0 {
            let ratio = hits as f64 / (hits + misses) as f64;
            metrics::gauge!("crewtime_cache_hit_ratio", "cache" => model.name()).set(ratio);
        }
    }
}

/// The cache's settings.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Entries per read model held in each node's memory.
    pub max_local_entries: usize,
    /// How long an entry lives in Redis.
    pub redis_ttl: Duration,
    /// How long a Redis GET or SET may take before the cache gives up on it.
    pub redis_timeout: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_local_entries: 100_000,
            redis_ttl: Duration::from_secs(3600),
            redis_timeout: Duration::from_millis(100),
        }
    }
}

/// The first part of every key of a production: its id and creation instant.
fn production_part(model: Model, production: &Production) -> String {
    format!(
        "{KEY_PREFIX}:{}:{}:{}",
        model.name(),
        production.id.simple(),
        production.created_at.timestamp_micros()
    )
}

/// A crew member's priced week: the crew member and their deals (`version`), the time of the
/// week and of the week before (`crew_weeks`), the rule sets (`rules_version`) and the settings
/// (`version`: the work week's last day).
pub(crate) fn pay_key(
    production: &Production,
    crew: &DomainCrew,
    week_ending: NaiveDate,
    weeks: WeekVersions,
    settings: &Settings,
) -> String {
    format!(
        "{}:{}:{week_ending}:c{}:w{}.{}:r{}:s{}",
        production_part(Model::TimecardPay, production),
        crew.id.simple(),
        crew.version,
        weeks.previous,
        weeks.this,
        settings.rules_version,
        settings.version
    )
}

/// The timelines of a crew member's week: their punches and day types (`time_version`).
pub(crate) fn totals_key(
    production: &Production,
    crew: Uuid,
    week_ending: NaiveDate,
    time_version: i32,
) -> String {
    format!(
        "{}:{}:{week_ending}:{time_version}",
        production_part(Model::WorkDayTotals, production),
        crew.simple()
    )
}

/// A production's hot cost report for `date`: every input version at once.
pub(crate) fn hot_cost_key(
    production: &Production,
    date: NaiveDate,
    v: &ReadModelVersions,
) -> String {
    format!(
        "{}:{date}:s{}:r{}:c{}.{}:w{}.{}:d{}.{}",
        production_part(Model::HotCost, production),
        v.settings.version,
        v.settings.rules_version,
        v.crew,
        v.crew_versions,
        v.weeks,
        v.week_versions,
        v.departments,
        v.department_versions
    )
}

/// A bounded map in two generations: when the current one is full it becomes the previous one
/// (dropping the older), and a hit in the previous one moves back into the current. So at most
/// `max` entries are held, and entries read recently survive a turnover.
struct Local<T> {
    current: HashMap<String, Arc<T>>,
    previous: HashMap<String, Arc<T>>,
    half: usize,
}

impl<T> Local<T> {
    fn new(max: usize) -> Self {
        Self {
            current: HashMap::new(),
            previous: HashMap::new(),
            half: (max / 2).max(1),
        }
    }

    fn get(&mut self, key: &str) -> Option<Arc<T>> {
        if let Some(v) = self.current.get(key) {
            return Some(v.clone());
        }
        let (key, v) = self.previous.remove_entry(key)?;
        self.insert(key, v.clone());
        Some(v)
    }

    fn insert(&mut self, key: String, value: Arc<T>) {
        if self.current.len() >= self.half && !self.current.contains_key(&key) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }
}

/// Redis as the shared level, with its settings and a pause after failures.
struct Remote {
    redis: Arc<RedisHealth>,
    ttl: Duration,
    timeout: Duration,
    start: Instant,
    /// Milliseconds since `start` before which Redis is not asked (0: ask).
    paused_until: AtomicU64,
}

impl Remote {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn available(&self) -> bool {
        self.paused_until.load(Ordering::Relaxed) <= self.now_ms()
    }

    fn failed(&self, model: Model, op: &'static str, error: &str) {
        metrics::counter!("crewtime_cache_redis_errors_total", "cache" => model.name(), "op" => op)
            .increment(1);
        let until = self.now_ms() + u64::try_from(REDIS_PAUSE.as_millis()).unwrap_or(1000);
        let was = self.paused_until.swap(until, Ordering::Relaxed);
        // Log when the pause starts, not on every failure during one outage.
        if was <= self.now_ms() {
            tracing::warn!(
                cache = model.name(),
                op,
                error,
                "Redis read cache unavailable; computing instead"
            );
        }
    }
}

/// One read model's cache.
pub(crate) struct Cache<T> {
    model: Model,
    local: Mutex<Local<T>>,
    remote: Option<Arc<Remote>>,
    /// Concurrent misses of one key wait for one computation.
    flights: SharedFlights<String, Arc<T>>,
}

impl<T> Cache<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn new(model: Model, settings: &CacheSettings, remote: Option<Arc<Remote>>) -> Self {
        Self {
            model,
            local: Mutex::new(Local::new(settings.max_local_entries)),
            remote,
            flights: SharedFlights::counted(
                "crewtime_cache_computations_total",
                "crewtime_cache_computations_joined_total",
            ),
        }
    }

    /// The value of `key`: cached, or computed by `compute` and cached. Concurrent misses of
    /// one key share one computation; the key carries every input's version, so any
    /// computation of it is as good as another.
    pub(crate) async fn get_or_compute<F, Fut>(&self, key: String, compute: F) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if let Some(value) = self.get(&key).await {
            return Ok(value);
        }
        let shared = self
            .flights
            .get(&key, FreshAfter::default(), || async {
                // A computation queued behind a long one finds its result here.
                if let Some(value) = self.local.lock().ok().and_then(|mut l| l.get(&key)) {
                    return Ok(value);
                }
                let value = Arc::new(compute().await?);
                self.put(key.clone(), value.clone()).await;
                Ok(value)
            })
            .await?;
        Ok(Arc::clone(&shared))
    }

    /// The cached values of `keys`, in order (`None` where the read model must be computed);
    /// Redis is asked once, for the keys not in this node's memory.
    pub(crate) async fn get_many(&self, keys: &[String]) -> Vec<Option<Arc<T>>> {
        let mut out: Vec<Option<Arc<T>>> = match self.local.lock() {
            Ok(mut local) => keys.iter().map(|k| local.get(k)).collect(),
            Err(_) => vec![None; keys.len()],
        };
        let local_hits = out.iter().filter(|v| v.is_some()).count();
        count(self.model, Outcome::HitLocal, local_hits as u64);
        let missing: Vec<usize> = (0..keys.len()).filter(|i| out[*i].is_none()).collect();
        let mut redis_hits = 0u64;
        if let Some(remote) = self
            .remote
            .as_ref()
            .filter(|r| r.available() && !missing.is_empty())
        {
            let wanted: Vec<String> = missing.iter().map(|i| keys[*i].clone()).collect();
            match remote.redis.get_many(&wanted, remote.timeout).await {
                Ok(values) => {
                    let mut found = Vec::new();
                    for (i, value) in missing.iter().zip(values) {
                        let Some(bytes) = value else { continue };
                        match serde_json::from_slice::<T>(&bytes) {
                            Ok(v) => {
                                let v = Arc::new(v);
                                found.push((keys[*i].clone(), v.clone()));
                                out[*i] = Some(v);
                                redis_hits += 1;
                            }
                            Err(e) => {
                                metrics::counter!("crewtime_cache_redis_errors_total",
                                    "cache" => self.model.name(), "op" => "decode")
                                .increment(1);
                                tracing::warn!(cache = self.model.name(), error = %e,
                                    "undecodable read cache entry; computing instead");
                            }
                        }
                    }
                    if let Ok(mut local) = self.local.lock() {
                        for (k, v) in found {
                            local.insert(k, v);
                        }
                    }
                }
                Err(e) => remote.failed(self.model, "get", &e),
            }
        }
        count(self.model, Outcome::HitRedis, redis_hits);
        count(
            self.model,
            Outcome::Miss,
            (missing.len() as u64).saturating_sub(redis_hits),
        );
        out
    }

    pub(crate) async fn get(&self, key: &str) -> Option<Arc<T>> {
        self.get_many(&[key.to_owned()]).await.pop().flatten()
    }

    /// Stores computed values in this node's memory and in Redis (waiting for Redis, within its
    /// timeout, so that once a response is out other nodes find the value).
    pub(crate) async fn put_many(&self, entries: Vec<(String, Arc<T>)>) {
        if entries.is_empty() {
            return;
        }
        let mut encoded = Vec::new();
        if let Some(remote) = self.remote.as_ref().filter(|r| r.available()) {
            for (k, v) in &entries {
                match serde_json::to_vec(v.as_ref()) {
                    Ok(bytes) => encoded.push((k.clone(), bytes)),
                    Err(e) => tracing::warn!(cache = self.model.name(), error = %e,
                        "read model not serialisable; kept in memory only"),
                }
            }
            if let Err(e) = remote
                .redis
                .set_many(&encoded, remote.ttl, remote.timeout)
                .await
            {
                remote.failed(self.model, "set", &e);
            }
        }
        if let Ok(mut local) = self.local.lock() {
            for (k, v) in entries {
                local.insert(k, v);
            }
        }
    }

    pub(crate) async fn put(&self, key: String, value: Arc<T>) {
        self.put_many(vec![(key, value)]).await;
    }
}

/// The node's read caches.
pub struct ReadCache {
    pub(crate) pay: Cache<crewtime_domain::payroll::PricedWeek>,
    pub(crate) totals: Cache<crate::schema::WeekTimelines>,
    pub(crate) hot_cost: Cache<crate::schema::HotCostReport>,
}

impl ReadCache {
    pub(crate) fn new(settings: &CacheSettings, redis: Option<Arc<RedisHealth>>) -> Self {
        let remote = redis.map(|redis| {
            Arc::new(Remote {
                redis,
                ttl: settings.redis_ttl,
                timeout: settings.redis_timeout,
                start: Instant::now(),
                paused_until: AtomicU64::new(0),
            })
        });
        Self {
            pay: Cache::new(Model::TimecardPay, settings, remote.clone()),
            totals: Cache::new(Model::WorkDayTotals, settings, remote.clone()),
            hot_cost: Cache::new(Model::HotCost, settings, remote),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_map_stays_bounded_and_keeps_what_was_read_recently() {
        let mut local: Local<u32> = Local::new(4);
        for i in 0..10u32 {
            local.insert(format!("k{i}"), Arc::new(i));
            assert!(local.current.len() + local.previous.len() <= 4);
        }
        // The two newest are current, the two before them previous; older ones are gone.
        assert!(local.get("k5").is_none());
        assert_eq!(local.get("k7").as_deref(), Some(&7));
        // k7 moved back into the current generation, so it outlives the next turnover.
        local.insert("k10".into(), Arc::new(10));
        local.insert("k11".into(), Arc::new(11));
        assert_eq!(local.get("k7").as_deref(), Some(&7));
        assert!(local.current.len() + local.previous.len() <= 4);
    }
}
