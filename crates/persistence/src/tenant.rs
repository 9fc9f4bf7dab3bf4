use crewtime_domain::production::Production;
use crewtime_domain::Result;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement,
    TransactionTrait,
};

use uuid::Uuid;

use crate::audit::AuditActor;
use crate::productions::{member_sql, member_view, MemberView};
use crate::{db_err, Store};

/// A transaction inside one production's schema.
///
/// It begins with `set_config('search_path', <schema>, true)`: transaction-local, so the setting
/// reverts at commit or rollback and a pooled connection never carries one production's path into
/// the next request. The schema name comes from the control table, never from the client, and
/// `public` is deliberately absent from the path.
///
/// Its statements run through the transaction itself as a connection (`conn()`), which ends
/// every statement text with the production's schema as a comment. PostgreSQL keeps a prepared
/// statement's plan only for the search path it was planned under; with one text shared by
/// every production, a pooled connection moving between productions re-planned nearly every
/// statement (pg_stat_statements during `crewtime-bench --only punch`: plans 4,790 of 4,905
/// calls of the day read, planning three times its execution). With one text per production a
/// connection plans each statement once per production (the statement cache is sized for
/// that in `Store::connect`).
pub struct TenantTx {
    txn: DatabaseTransaction,
    production: Production,
    actor: Option<AuditActor>,
}

/// The one way to a production's tables outside a `TenantTx`, for hot paths where a
/// transaction is a round trip too many: `sql` gets the tables' prefix (the quoted schema name,
/// derived from the production id like the control table's, and a dot) and runs as one
/// statement on the pool. A production that does not exist has no schema, which PostgreSQL
/// reports as an undefined table: `None` here.
pub(crate) async fn qualified_query(
    store: &Store,
    production: Uuid,
    sql: impl FnOnce(&str) -> String,
    values: Vec<sea_orm::Value>,
) -> Result<Option<Vec<QueryResult>>> {
    let tables = format!("\"{}\".", Production::schema_name_for(production));
    match store
        .db
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql(&tables),
            values,
        ))
        .await
    {
        Ok(rows) => Ok(Some(rows)),
        Err(e) if crate::is_undefined_table(&e) => Ok(None),
        Err(e) => Err(db_err(e)),
    }
}

/// The comment that makes a statement's text the production's own (see [`TenantTx`]).
fn schema_tag(production: &Production) -> String {
    format!(" /* {} */", production.schema_name)
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

    /// A transaction in `production` as `user` sees it, with the membership read by the
    /// transaction's first statement: the same statement that returns the user's membership rows
    /// sets the search path to the schema the control table names for the production
    /// (`set_config` in the select list, evaluated once per returned row), so a read of one
    /// object by id costs one statement more than the object itself. `NOT_FOUND`, and nothing
    /// left open, without a membership.
    pub async fn begin_member(
        store: &Store,
        user: Uuid,
        production: Uuid,
        actor: AuditActor,
    ) -> Result<(MemberView, Self)> {
        let txn = store.db.begin().await.map_err(db_err)?;
        let rows = txn
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                member_sql(
                    ", set_config('search_path', p.schema_name, true) AS search_path",
                    "",
                ),
                [production.into(), user.into()],
            ))
            .await
            .map_err(db_err)?;
        let view = match member_view(rows) {
            Ok(view) => view,
            Err(e) => {
                txn.rollback().await.map_err(db_err)?;
                return Err(e);
            }
        };
        let tx = Self {
            txn,
            production: view.production.clone(),
            actor: Some(actor),
        };
        Ok((view, tx))
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

    /// Where the transaction's statements go: the transaction, each statement's text tagged
    /// with the production's schema (see [`TenantTx`]).
    pub(crate) fn conn(&self) -> &Self {
        self
    }

    fn tagged(&self, mut stmt: Statement) -> Statement {
        stmt.sql.push_str(&schema_tag(&self.production));
        stmt
    }

    pub async fn commit(self) -> Result<()> {
        self.txn.commit().await.map_err(|e| match db_err(e) {
            // The connection failed during COMMIT: the changes may have been committed, so this
            // is not the "nothing ran, retry" that `Unavailable` promises.
            crewtime_domain::Error::Unavailable(detail) => {
                crewtime_domain::Error::internal(format!("commit outcome unknown: {detail}"))
            }
            other => other,
        })
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

#[async_trait::async_trait]
impl ConnectionTrait for TenantTx {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> std::result::Result<ExecResult, DbErr> {
        self.txn.execute(self.tagged(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> std::result::Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one(&self, stmt: Statement) -> std::result::Result<Option<QueryResult>, DbErr> {
        self.txn.query_one(self.tagged(stmt)).await
    }

    async fn query_all(&self, stmt: Statement) -> std::result::Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all(self.tagged(stmt)).await
    }
}
