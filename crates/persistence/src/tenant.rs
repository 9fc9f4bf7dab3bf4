use crewtime_domain::production::Production;
use crewtime_domain::Result;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};

use crate::audit::AuditActor;
use crate::{db_err, Store};

/// A transaction inside one production's schema.
///
/// It begins with `set_config('search_path', <schema>, true)`: transaction-local, so the setting
/// reverts at commit or rollback and a pooled connection never carries one production's path into
/// the next request. The schema name comes from the control table, never from the client, and
/// `public` is deliberately absent from the path.
pub struct TenantTx {
    txn: DatabaseTransaction,
    production: Production,
    actor: Option<AuditActor>,
}

impl TenantTx {
    pub async fn begin(store: &Store, production: &Production) -> Result<Self> {
        let txn = store.db.begin().await.map_err(db_err)?;
        set_search_path(&txn, &production.schema_name).await?;
        Ok(Self {
            txn,
            production: production.clone(),
            actor: None,
        })
    }

    /// A transaction whose audit records name `actor` (changes made without one are recorded
    /// as the system's).
    pub async fn begin_as(
        store: &Store,
        production: &Production,
        actor: AuditActor,
    ) -> Result<Self> {
        let mut tx = Self::begin(store, production).await?;
        tx.actor = Some(actor);
        Ok(tx)
    }

    pub(crate) fn actor(&self) -> Option<&AuditActor> {
        self.actor.as_ref()
    }

    pub fn production(&self) -> &Production {
        &self.production
    }

    pub(crate) fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub async fn commit(self) -> Result<()> {
        self.txn.commit().await.map_err(db_err)
    }

    pub async fn rollback(self) -> Result<()> {
        self.txn.rollback().await.map_err(db_err)
    }

    /// The search path the transaction currently sees; for tests of the isolation itself.
    pub async fn current_search_path(&self) -> Result<String> {
        current_search_path(&self.txn).await
    }
}

pub(crate) async fn set_search_path(txn: &DatabaseTransaction, schema: &str) -> Result<()> {
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('search_path', $1, true)",
        [schema.into()],
    ))
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn current_search_path<C: ConnectionTrait>(conn: &C) -> Result<String> {
    let row = conn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('search_path') AS p",
        ))
        .await
        .map_err(db_err)?
        .ok_or_else(|| crewtime_domain::Error::internal("no search_path row"))?;
    row.try_get::<String>("", "p").map_err(db_err)
}

impl Store {
    /// The search path of a fresh pooled statement, outside any tenant transaction.
    pub async fn session_search_path(&self) -> Result<String> {
        current_search_path(&self.db).await
    }
}
