//! The live-event outbox of a production: events written in the transaction of the change they
//! announce, deleted once published (see `crewtime-realtime`).

use chrono::NaiveDate;
use crewtime_domain::Result;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::tenant::qualified_query;
use crate::{db_err, Store, TenantTx};

impl Store {
    /// Deletes events of `production` that were published, in one statement outside any
    /// transaction (schema-qualified; a production that no longer exists has nothing to delete).
    pub async fn delete_live_events(&self, production: Uuid, ids: &[i64]) -> Result<()> {
        let sql = |tables: &str| format!("DELETE FROM {tables}live_outbox WHERE id = ANY($1)");
        qualified_query(self, production, sql, vec![ids.to_vec().into()]).await?;
        Ok(())
    }
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct OutboxEvent {
    pub id: i64,
    pub crew_member_id: Uuid,
    pub work_date: NaiveDate,
    pub kind: String,
}

impl TenantTx {
    /// Writes one event per crew member; returns the rows' ids, to delete once published.
    pub async fn enqueue_live_events(
        &self,
        crew: &[Uuid],
        date: NaiveDate,
        kind: &str,
    ) -> Result<Vec<i64>> {
        let rows = self
            .conn()
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO live_outbox (crew_member_id, work_date, kind) \
                 SELECT c, $2, $3 FROM unnest($1::uuid[]) AS c RETURNING id",
                [crew.to_vec().into(), date.into(), kind.into()],
            ))
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| r.try_get_by_index::<i64>(0).map_err(db_err))
            .collect()
    }

    /// Takes (deletes and returns) events older than `older_than_secs`: ones whose node did
    /// not get to publish them. Concurrent relays skip each other's rows.
    pub async fn take_stale_live_events(
        &self,
        older_than_secs: i64,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>> {
        OutboxEvent::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM live_outbox WHERE id IN (SELECT id FROM live_outbox \
             WHERE created_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2 \
             FOR UPDATE SKIP LOCKED) RETURNING id, crew_member_id, work_date, kind",
            [(older_than_secs as f64).into(), limit.into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)
    }
}
