//! The live-event outbox of a production: events written in the transaction of the change they
//! announce, deleted once published (see `crewtime-realtime`).

use chrono::NaiveDate;
use crewtime_domain::production::Production;
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

    /// Those of `productions` whose outbox holds an event older than `older_than_secs`, asked
    /// of up to a hundred outboxes per statement: a relay pass costs a statement or two,
    /// however many productions the deployment has, instead of a transaction per production.
    /// A hundred whose statement fails (one of them is being created or dropped) are all
    /// returned, so the relay looks at each on its own.
    pub async fn with_stale_live_events<'p>(
        &self,
        productions: &'p [Production],
        older_than_secs: i64,
    ) -> Result<Vec<&'p Production>> {
        let mut stale = Vec::new();
        for chunk in productions.chunks(STALE_CHECKS_PER_STATEMENT) {
            let sql = chunk
                .iter()
                .map(|p| {
                    // Both from the control table's id: a uuid and the name derived from it.
                    format!(
                        "SELECT '{}'::uuid AS id WHERE EXISTS (SELECT 1 FROM \"{}\".live_outbox \
                         WHERE created_at < now() - make_interval(secs => $1))",
                        p.id,
                        Production::schema_name_for(p.id)
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let rows = self
                .db
                .query_all(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    [(older_than_secs as f64).into()],
                ))
                .await;
            match rows {
                Ok(rows) => {
                    let ids = rows
                        .iter()
                        .map(|r| r.try_get_by_index::<Uuid>(0).map_err(db_err))
                        .collect::<Result<Vec<Uuid>>>()?;
                    stale.extend(chunk.iter().filter(|p| ids.contains(&p.id)));
                }
                Err(e) if crate::is_undefined_table(&e) => stale.extend(chunk),
                Err(e) => return Err(db_err(e)),
            }
        }
        Ok(stale)
    }
}

/// Outboxes one statement of [`Store::with_stale_live_events`] looks into.
const STALE_CHECKS_PER_STATEMENT: usize = 100;

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
