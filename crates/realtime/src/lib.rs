//! crewtime's realtime layer: the Redis connection whose health readiness and metrics report
//! (shared with the API's read cache, which GETs and SETs through it), and the event bus that
//! tells live subscriptions a crew member's time changed.
//!
//! The bus is an in-process hub (one tokio broadcast channel per production) and, when Redis is
//! configured, a Redis pub/sub fan-out across nodes: a node publishes its own events to Redis and
//! delivers them locally; one supervised subscriber task per node feeds what the other nodes
//! publish into the local hub. Before an event wakes a node's subscribers, the node may prepare
//! it (read what they will all need) through the hook its API layer sets. Events are notifications, not data: a subscriber
//! re-reads the crew member's current state, so a lost or duplicated event heals on the next
//! one, and a subscriber that may have missed some (lagged, or Redis was away) gets `Resync`.

mod bus;

pub use bus::{Bus, BusMessage, Event, EventKind, LiveReceiver, Prepare};

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;

/// A Redis connection and whether it answered last time it was asked.
pub struct RedisHealth {
    manager: ConnectionManager,
    client: redis::Client,
    up: AtomicBool,
}

impl RedisHealth {
    /// Connects to `url`; fails fast when the URL is malformed or Redis does not answer.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        let manager = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new(client.clone()),
        )
        .await
        .map_err(|_| "Redis did not answer within 5 s".to_string())?
        .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        Ok(Self {
            manager,
            client,
            up: AtomicBool::new(true),
        })
    }

    /// PINGs Redis with a short timeout and records the outcome.
    pub async fn check(&self) -> bool {
        let mut conn = self.manager.clone();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        let ok = matches!(
            tokio::time::timeout(Duration::from_millis(500), ping).await,
            Ok(Ok(ref s)) if s == "PONG"
        );
        self.up.store(ok, Ordering::Relaxed);
        ok
    }

    pub fn last_known_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// PUBLISHes `payload` on `channel`, giving up after a short timeout so a slow Redis never
    /// holds up the mutation that caused the event.
    pub(crate) async fn publish(&self, channel: &str, payload: &str) -> Result<(), String> {
        let mut conn = self.manager.clone();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(payload);
        match tokio::time::timeout(
            Duration::from_millis(500),
            cmd.query_async::<i64>(&mut conn),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// GETs many keys in one round trip (MGET), giving up after `timeout`. Used by the API's
    /// read cache; a missing key is `None`.
    pub async fn get_many(
        &self,
        keys: &[String],
        timeout: Duration,
    ) -> Result<Vec<Option<Vec<u8>>>, String> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.manager.clone();
        let mut cmd = redis::cmd("MGET");
        for k in keys {
            cmd.arg(k);
        }
        match tokio::time::timeout(timeout, cmd.query_async::<Vec<Option<Vec<u8>>>>(&mut conn))
            .await
        {
            Ok(Ok(values)) if values.len() == keys.len() => Ok(values),
            Ok(Ok(values)) => Err(format!(
                "MGET of {} keys answered {} values",
                keys.len(),
                values.len()
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// SETs each key with an expiry of `ttl` (whole seconds, at least 1), in one pipelined
    /// round trip, giving up after `timeout`.
    pub async fn set_many(
        &self,
        entries: &[(String, Vec<u8>)],
        ttl: Duration,
        timeout: Duration,
    ) -> Result<(), String> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut conn = self.manager.clone();
        let seconds = ttl.as_secs().max(1);
        let mut pipe = redis::pipe();
        for (k, v) in entries {
            pipe.cmd("SET")
                .arg(k)
                .arg(v.as_slice())
                .arg("EX")
                .arg(seconds)
                .ignore();
        }
        match tokio::time::timeout(timeout, pipe.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }
}
