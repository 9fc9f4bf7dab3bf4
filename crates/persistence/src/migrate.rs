//! Bringing the control schema and every production schema up to date.

use crewtime_domain::production::Production;
use crewtime_domain::{Error, Result};
use crewtime_migrations::{ControlMigrator, MigratorTrait, ProductionMigrator};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};

use crate::tenant::set_search_path;
use crate::{db_err, Store};

/// The advisory lock key that serialises migrations (exclusive) against production creation
/// (shared). An arbitrary constant: "crewtime" in ASCII, truncated to 63 bits.
pub(crate) const MIGRATION_LOCK: i64 = 0x6372_6577_7469_6d65;

pub const CONTROL_SCHEMA: &str = "crewtime";

/// What one `migrate` run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied to the control schema.
    pub control_applied: usize,
    /// Production schemas examined.
    pub productions: usize,
    /// Migrations applied across all production schemas.
    pub production_applied: usize,
}

impl MigrationReport {
    pub fn is_noop(&self) -> bool {
        self.control_applied == 0 && self.production_applied == 0
    }
}

impl Store {
    /// Migrates the control schema, then each production schema in its own transaction, all
    /// under an exclusive advisory lock so two nodes starting at once do not race. Idempotent.
    pub async fn migrate(&self) -> Result<MigrationReport> {
        let mut report = MigrationReport::default();
        let txn = self.db.begin().await.map_err(db_err)?;
        lock(&txn, false).await?;
        txn.execute(Statement::from_string(
            DbBackend::Postgres,
            format!("CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}"),
        ))
        .await
        .map_err(db_err)?;
        set_search_path(&txn, CONTROL_SCHEMA).await?;
        report.control_applied = apply::<ControlMigrator>(&txn).await?;
        txn.commit().await.map_err(db_err)?;

        // Productions created while this runs (by a node of either version) are picked up by the
        // next pass; the loop ends when a pass finds none it has not migrated.
        let mut done = std::collections::HashSet::new();
        loop {
            let pending: Vec<Production> = self
                .all_productions()
                .await?
                .into_iter()
                .filter(|p| !done.contains(&p.id))
                .collect();
            if pending.is_empty() {
                break;
            }
            for production in pending {
                let txn = self.db.begin().await.map_err(db_err)?;
                lock(&txn, false).await?;
                set_search_path(&txn, &production.schema_name).await?;
                report.production_applied += apply::<ProductionMigrator>(&txn).await?;
                txn.commit().await.map_err(db_err)?;
                report.productions += 1;
                done.insert(production.id);
            }
        }
        Ok(report)
    }

    /// Control migrations not yet applied; readiness is false while any are.
    pub async fn pending_control_migrations(&self) -> Result<usize> {
        let txn = self.db.begin().await.map_err(db_err)?;
        set_search_path(&txn, CONTROL_SCHEMA).await?;
        let exists = txn
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                "SELECT to_regclass('crewtime.seaql_migrations') IS NOT NULL AS e",
            ))
            .await
            .map_err(db_err)?
            .map(|r| r.try_get::<bool>("", "e"))
            .transpose()
            .map_err(db_err)?
            .unwrap_or(false);
        let pending = if exists {
            ControlMigrator::get_pending_migrations(&txn)
                .await
                .map_err(db_err)?
                .len()
        } else {
            ControlMigrator::migrations().len()
        };
        // Read-only: roll back so nothing (not even the bookkeeping table) is created here.
        txn.rollback().await.map_err(db_err)?;
        Ok(pending)
    }
}

/// Creates and migrates a new production's schema inside the caller's transaction, so a failure
/// anywhere leaves neither the schema nor the control row behind.
pub(crate) async fn create_production_schema(
    txn: &DatabaseTransaction,
    production: &Production,
) -> Result<()> {
    txn.execute(Statement::from_string(
        DbBackend::Postgres,
        // The name is derived from a UUID and checked by the table's CHECK constraint.
        format!("CREATE SCHEMA \"{}\"", production.schema_name),
    ))
    .await
    .map_err(db_err)?;
    set_search_path(txn, &production.schema_name).await?;
    apply::<ProductionMigrator>(txn).await?;
    set_search_path(txn, CONTROL_SCHEMA).await?;
    Ok(())
}

pub(crate) async fn lock(txn: &DatabaseTransaction, shared: bool) -> Result<()> {
    let f = if shared {
        "pg_advisory_xact_lock_shared"
    } else {
        "pg_advisory_xact_lock"
    };
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT {f}($1)"),
        [MIGRATION_LOCK.into()],
    ))
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn apply<M: MigratorTrait>(txn: &DatabaseTransaction) -> Result<usize> {
    let pending = M::get_pending_migrations(txn).await.map_err(db_err)?.len();
    if pending > 0 {
        M::up(txn, None)
            .await
            .map_err(|e| Error::internal(format!("migration failed: {e}")))?;
    }
    Ok(pending)
}
