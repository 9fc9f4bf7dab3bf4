use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crewtime_domain::{Error, Result};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

/// Prepared statements kept per connection (sqlx's LRU; each also holds a plan in its
/// PostgreSQL backend, a few kilobytes for most of ours).
const STATEMENT_CACHE_CAPACITY: usize = 1024;

/// How to reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The pool plus the counters the server exports. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    statements: Arc<AtomicU64>,
}

impl Store {
    pub async fn connect(opts: &StoreOptions) -> Result<Self> {
        let mut connect = ConnectOptions::new(opts.url.clone());
        connect
            .max_connections(opts.max_connections)
            .min_connections(0)
            .acquire_timeout(opts.acquire_timeout)
            .connect_timeout(Duration::from_secs(5))
            // sqlx pings every connection when it goes back to the pool and drops the broken
            // ones there; a second ping when it is taken out again is one more round trip per
            // request (a tenth of a read's CPU in `scripts/profile.sh single`) for no safety
            // gained: a connection that breaks in between fails its statement as UNAVAILABLE.
            .test_before_acquire(false)
            // A tenant statement's text is per production (`TenantTx`), so a connection that
            // serves many productions needs room for their prepared statements: the default 100
            // held less than one punch's statements for each of 20 productions, and an evicted
            // statement is parsed and planned again.
            //
            // Generic plans: a prepared statement is planned once per connection, not at every
            // execution. PostgreSQL's default tries custom plans first and kept choosing them,
            // re-planning on every bind: 40% of the database's time in the 1,000-client mix.
            // The statements are written for it (conditions composed per request, no
            // `$n IS NULL OR ...`).
            .map_sqlx_postgres_opts(|o| {
                o.statement_cache_capacity(STATEMENT_CACHE_CAPACITY)
                    .options([("plan_cache_mode", "force_generic_plan")])
            })
            .sqlx_logging(false);
        let mut db = Database::connect(connect)
            .await
            .map_err(|e| Error::internal(format!("cannot connect to PostgreSQL: {e}")))?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        // Every statement, in or out of a transaction, passes here: the N+1 tests and the
        // "refused before any SQL" tests read this count.
        db.set_metric_callback(move |info| {
            counter.fetch_add(1, Ordering::Relaxed);
            // Statement text only (placeholders, never values): safe to log at trace level.
            tracing::trace!(target: "crewtime::sql", sql = %info.statement.sql, elapsed_us = info.elapsed.as_micros() as u64);
            metrics::counter!("crewtime_db_statements_total").increment(1);
            metrics::histogram!("crewtime_db_statement_duration_seconds")
                .record(info.elapsed.as_secs_f64());
            if info.failed {
                metrics::counter!("crewtime_db_statement_errors_total").increment(1);
            }
        });
        Ok(Self { db, statements })
    }

    /// Statements run through this store since it was opened.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Connections currently checked out of the pool, and the pool's size.
    pub fn pool_usage(&self) -> (u32, u32) {
        let pool = self.db.get_postgres_connection_pool();
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        (size.saturating_sub(idle), size)
    }

    /// A round trip to the database, for readiness.
    pub async fn ping(&self) -> Result<()> {
        self.db
            .execute(Statement::from_string(DbBackend::Postgres, "SELECT 1"))
            .await
            .map(|_| ())
            .map_err(crate::db_err)
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}
