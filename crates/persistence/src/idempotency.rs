//! Replay protection for creates. A client on a bad network resends the same request with the
//! same key; the first answer is stored in the same transaction as the write it describes.

use crewtime_domain::{Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db_err;

/// A validated idempotency key, scoped to one actor and one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub(crate) String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self> {
        let ok = !raw.is_empty() && raw.len() <= 128 && raw.chars().all(|c| c.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                "idempotencyKey",
                "must be 1 to 128 printable ASCII characters",
            ))
        }
    }
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim {
    /// First use: do the work, then [`complete`] with the answer.
    New,
    /// A replay of an earlier request: return this answer and write nothing.
    Replay(serde_json::Value),
}

/// Hash of the request body that must match on replay.
pub fn request_hash(body: &serde_json::Value) -> Vec<u8> {
    Sha256::digest(body.to_string().as_bytes()).to_vec()
}

/// The claim of a key whose actor, operation, key and request hash are parameters `$1`..`$4`:
/// one row inserted, or none when the key is taken. Also a CTE of the punch's first statement.
pub(crate) fn claim_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} (actor_id, operation, key, request_hash) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING"
    )
}

/// Storing the answer of a claimed key: actor, operation and key are parameters `$first`..,
/// the answer the one after them. Also a CTE of the punch's last statement.
pub(crate) fn complete_sql(table: &str, first: usize) -> String {
    format!(
        "UPDATE {table} SET response = ${} WHERE actor_id = ${first} AND operation = ${} AND key = ${}",
        first + 3,
        first + 1,
        first + 2
    )
}

/// Claims `key` inside the caller's transaction. A concurrent claim of the same key waits on
/// the unique index until this transaction ends, then replays its stored answer.
pub(crate) async fn claim<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    actor: Uuid,
    operation: &str,
    key: &IdempotencyKey,
    hash: &[u8],
) -> Result<Claim> {
    let inserted = conn
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            claim_sql(table),
            [
                actor.into(),
                operation.into(),
                key.0.clone().into(),
                hash.to_vec().into(),
            ],
        ))
        .await
        .map_err(db_err)?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    let row = conn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT request_hash, response FROM {table} \
                 WHERE actor_id = $1 AND operation = $2 AND key = $3"
            ),
            [actor.into(), operation.into(), key.0.clone().into()],
        ))
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::internal("idempotency row vanished"))?;
    let stored_hash: Vec<u8> = row.try_get("", "request_hash").map_err(db_err)?;
    let response: Option<serde_json::Value> = row.try_get("", "response").map_err(db_err)?;
    replay(hash, &stored_hash, response).map(Claim::Replay)
}

/// The stored answer of a taken key, when the request is the one it was taken for.
pub(crate) fn replay(
    hash: &[u8],
    stored_hash: &[u8],
    response: Option<serde_json::Value>,
) -> Result<serde_json::Value> {
    if stored_hash != hash {
        return Err(Error::Conflict(
            "idempotencyKey was already used for a different request".into(),
        ));
    }
    response.ok_or_else(|| Error::internal("idempotency row without a response"))
}

pub(crate) async fn complete<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    actor: Uuid,
    operation: &str,
    key: &IdempotencyKey,
    response: &serde_json::Value,
) -> Result<()> {
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        complete_sql(table, 1),
        [
            actor.into(),
            operation.into(),
            key.0.clone().into(),
            response.clone().into(),
        ],
    ))
    .await
    .map_err(db_err)?;
    Ok(())
}

/// The table each production schema keeps its keys in (found through the tenant search path).
pub(crate) const TENANT_TABLE: &str = "idempotency_keys";

impl crate::TenantTx {
    /// For a create that carries `key`: claims it, and on a replay returns the stored answer
    /// (the caller then returns it and writes nothing). No key: nothing to claim.
    pub(crate) async fn replayed(
        &self,
        actor: Uuid,
        operation: &str,
        key: Option<&IdempotencyKey>,
        request: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>> {
        let Some(key) = key else { return Ok(None) };
        match claim(
            self.conn(),
            TENANT_TABLE,
            actor,
            operation,
            key,
            &request_hash(request),
        )
        .await?
        {
            Claim::New => Ok(None),
            Claim::Replay(answer) => Ok(Some(answer)),
        }
    }

    /// Stores the answer of a create whose key [`Self::replayed`] claimed.
    pub(crate) async fn remember_answer(
        &self,
        actor: Uuid,
        operation: &str,
        key: Option<&IdempotencyKey>,
        answer: &serde_json::Value,
    ) -> Result<()> {
        match key {
            Some(key) => complete(self.conn(), TENANT_TABLE, actor, operation, key, answer).await,
            None => Ok(()),
        }
    }
}

/// The id a stored answer names under `field`.
pub(crate) fn replay_id(answer: &serde_json::Value, field: &str) -> Result<Uuid> {
    answer
        .get(field)
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| Error::internal(format!("stored answer lacks {field}")))
}
