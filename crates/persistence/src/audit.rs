//! The audit trail: every change, written in the same transaction as the change, to an
//! append-only table of the production's schema, each row chained to the previous by hash.

use chrono::{DateTime, Utc};
use crewtime_domain::{Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use serde::Serialize;
use uuid::Uuid;

use crate::{db_err, TenantTx};

/// Who is acting, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditActor {
    pub kind: ActorKind,
    pub id: Option<Uuid>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    User,
    ApiToken,
    System,
}

impl ActorKind {
    fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "USER",
            ActorKind::ApiToken => "API_TOKEN",
            ActorKind::System => "SYSTEM",
        }
    }
}

impl AuditActor {
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            request_id: None,
        }
    }
}

/// One stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize, FromQueryResult)]
pub struct AuditRecord {
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub operation: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
}

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Records after this sequence number (pagination).
    pub after: Option<i64>,
    pub limit: u64,
}

/// The first record whose hash or link does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub id: Uuid,
    pub problem: &'static str,
}

/// The hash of a row, over its stored values; shared by append and verify so they cannot
/// disagree. Times enter as epoch microseconds (independent of the session's time zone), JSON
/// as jsonb's canonical text.
const ROW_HASH: &str = "sha256(PREV || convert_to(jsonb_build_array(r.id::text, \
     (extract(epoch from r.at) * 1000000)::bigint, r.actor_kind, r.actor_id::text, r.operation, \
     r.entity_type, r.entity_id::text, r.before, r.after, r.reason, r.request_id)::text, 'UTF8'))";

const GENESIS: &str = "decode(repeat('00', 32), 'hex')";

impl TenantTx {
    /// Appends a record for a change made in this transaction. Appends to one production's
    /// trail are serialised (a transaction-scoped advisory lock) so the chain stays linear.
    pub async fn audit(
        &self,
        operation: &str,
        entity_type: &str,
        entity_id: Option<Uuid>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        reason: Option<&str>,
    ) -> Result<()> {
        let actor = self.actor().cloned().unwrap_or_else(AuditActor::system);
        append(
            self.conn(),
            TrailLock::Take,
            &actor,
            operation,
            entity_type,
            entity_id,
            before,
            after,
            reason,
        )
        .await
    }

    /// Records matching `filter`, oldest first.
    pub async fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        AuditRecord::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT seq, id, at, actor_kind, actor_id, operation, entity_type, entity_id, before, after, reason, request_id \
             FROM audit_log WHERE ($1::uuid IS NULL OR entity_id = $1) AND ($2::uuid IS NULL OR actor_id = $2) \
             AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4) \
             AND ($5::bigint IS NULL OR seq > $5) ORDER BY seq LIMIT $6",
            [
                f.entity_id.into(),
                f.actor_id.into(),
                f.from.into(),
                f.to.into(),
                f.after.into(),
                i64::try_from(f.limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)
    }

    /// Recomputes every hash and link; the number of records, or the first broken one.
    pub async fn verify_audit(&self) -> Result<std::result::Result<u64, BrokenLink>> {
        let hash = ROW_HASH.replace("PREV", "r.prev_hash");
        let rows = self
            .conn()
            .query_all(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT r.seq, r.id, \
                     r.prev_hash = COALESCE(lag(r.hash) OVER (ORDER BY r.seq), {GENESIS}) AS linked, \
                     r.hash = {hash} AS intact FROM audit_log r ORDER BY r.seq"
                ),
            ))
            .await
            .map_err(db_err)?;
        let count = rows.len() as u64;
        for r in rows {
            let linked: bool = r.try_get("", "linked").map_err(db_err)?;
            let intact: bool = r.try_get("", "intact").map_err(db_err)?;
            if !(linked && intact) {
                return Ok(Err(BrokenLink {
                    seq: r.try_get("", "seq").map_err(db_err)?,
                    id: r.try_get("", "id").map_err(db_err)?,
                    problem: if intact {
                        "its previous record was changed or removed"
                    } else {
                        "its content does not match its hash"
                    },
                }));
            }
        }
        Ok(Ok(count))
    }
}

/// Takes the production's audit trail lock until the transaction ends: appends are serialised
/// so the chain stays linear. The statement that appends reads the previous hash from its
/// snapshot, so the lock is held before that statement begins. An edit of one crew member's
/// time (a punch, a correction, a deletion, a day type, a deal) locks the crew member, the
/// settings row and all the cards it touches in one statement before it writes any record.
/// Edits of several crew members (batch punches, a rule set change) lock the next crew
/// member's cards after the records of the one before; a wait cycle with another edit is then
/// broken by PostgreSQL's deadlock check, which answers the edit it aborts with a retryable
/// `CONFLICT`.
pub(crate) const AUDIT_LOCK: &str =
    "pg_advisory_xact_lock(hashtext('crewtime.audit.' || current_schema()))";

impl TenantTx {
    /// [`Self::audit`] for a transaction that holds [`AUDIT_LOCK`] already (a statement of
    /// its own took it last).
    pub(crate) async fn audit_holding_lock(
        &self,
        operation: &str,
        entity_type: &str,
        entity_id: Option<Uuid>,
        after: Option<serde_json::Value>,
    ) -> Result<()> {
        let actor = self.actor().cloned().unwrap_or_else(AuditActor::system);
        append(
            self.conn(),
            TrailLock::Held,
            &actor,
            operation,
            entity_type,
            entity_id,
            None,
            after,
            None,
        )
        .await
    }
}

/// Whether an append takes [`AUDIT_LOCK`] first or its transaction holds it already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrailLock {
    Take,
    Held,
}

/// Appends one record, first taking the trail's lock unless `lock` says it is held.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append<C: ConnectionTrait>(
    conn: &C,
    lock: TrailLock,
    actor: &AuditActor,
    operation: &str,
    entity_type: &str,
    entity_id: Option<Uuid>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    reason: Option<&str>,
) -> Result<()> {
    if lock == TrailLock::Take {
        conn.execute(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT {AUDIT_LOCK}"),
        ))
        .await
        .map_err(db_err)?;
    }
    // Microseconds: what timestamptz stores, so the hash input is the stored value.
    let now = Utc::now();
    let at = DateTime::<Utc>::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let hash = ROW_HASH.replace("PREV", "p.h");
    let sql = format!(
        "WITH p AS (SELECT COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), {GENESIS}) AS h), \
         r AS (SELECT $1::uuid AS id, $2::timestamptz AS at, $3::text AS actor_kind, $4::uuid AS actor_id, \
               $5::text AS operation, $6::text AS entity_type, $7::uuid AS entity_id, $8::jsonb AS before, \
               $9::jsonb AS after, $10::text AS reason, $11::text AS request_id) \
         INSERT INTO audit_log (id, at, actor_kind, actor_id, operation, entity_type, entity_id, before, after, \
                                reason, request_id, prev_hash, hash) \
         SELECT r.id, r.at, r.actor_kind, r.actor_id, r.operation, r.entity_type, r.entity_id, r.before, \
                r.after, r.reason, r.request_id, p.h, {hash} FROM r, p"
    );
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [
            Uuid::now_v7().into(),
            at.into(),
            actor.kind.as_str().into(),
            actor.id.into(),
            operation.to_owned().into(),
            entity_type.to_owned().into(),
            entity_id.into(),
            before.into(),
            after.into(),
            reason.map(str::to_owned).into(),
            actor.request_id.clone().into(),
        ],
    ))
    .await
    .map_err(db_err)?;
    metrics::counter!("crewtime_audit_records_total").increment(1);
    Ok(())
}

/// Serialises a value for the record; a failure is a fault of ours, not the client's.
pub fn snapshot<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("audit snapshot: {e}")))
}
