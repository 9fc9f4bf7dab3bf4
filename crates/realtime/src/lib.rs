//! crewtime's realtime layer. For now: the Redis connection whose health readiness and metrics
//! report. The event bus and the live-hours projection grow here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;

/// A Redis connection and whether it answered last time it was asked.
pub struct RedisHealth {
    manager: ConnectionManager,
    up: AtomicBool,
}

impl RedisHealth {
    /// Connects to `url`; fails fast when the URL is malformed or Redis does not answer.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        let manager = tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
            .await
            .map_err(|_| "Redis did not answer within 5 s".to_string())?
            .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        Ok(Self {
            manager,
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
}
