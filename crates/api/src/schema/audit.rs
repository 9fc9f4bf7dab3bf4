//! The audit trail over GraphQL.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Json, SimpleObject, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use crewtime_domain::Error;
use crewtime_persistence::audit::{AuditFilter, AuditRecord};

use super::{Access, RequestCtx};
use crate::error::GqlResult;
use crate::ids::GlobalId;

/// One recorded change.
#[derive(SimpleObject)]
pub(crate) struct AuditEntry {
    /// Position in the production's chain.
    seq: i64,
    at: DateTime<Utc>,
    /// USER, API_TOKEN or SYSTEM.
    actor_kind: String,
    /// The acting user's id, when a user acted.
    actor_id: Option<ID>,
    /// The mutation (or automatic change) that made it, e.g. correctPunch.
    operation: String,
    entity_type: String,
    entity_id: Option<String>,
    before: Option<Json<serde_json::Value>>,
    after: Option<Json<serde_json::Value>>,
    reason: Option<String>,
    request_id: Option<String>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        Self {
            seq: r.seq,
            at: r.at,
            actor_id: match (r.actor_kind.as_str(), r.actor_id) {
                ("USER", Some(id)) => Some(ID(GlobalId::User(id).encode())),
                _ => None,
            },
            actor_kind: r.actor_kind,
            operation: r.operation,
            entity_type: r.entity_type,
            entity_id: r.entity_id.map(|id| id.to_string()),
            before: r.before.map(Json),
            after: r.after.map(Json),
            reason: r.reason,
            request_id: r.request_id,
        }
    }
}

fn cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("a:{seq}"))
}

fn decode(cursor: &str) -> crewtime_domain::Result<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("a:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| Error::invalid("after", "is not a cursor from this list"))
}

/// Entity ids are matched by the object's own id (the uuid inside a global id) so any global
/// id the API handed out can be given.
fn entity_uuid(id: &str) -> crewtime_domain::Result<uuid::Uuid> {
    match GlobalId::decode("entity", id) {
        Ok(GlobalId::Tenant { id, .. })
        | Ok(GlobalId::Production(id))
        | Ok(GlobalId::User(id))
        | Ok(GlobalId::ApiToken { id, .. }) => Ok(id),
        Err(_) => uuid::Uuid::parse_str(id).map_err(|_| Error::invalid("entity", "is not an id")),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit_log(
    ctx: &Context<'_>,
    access: &Access,
    entity: Option<String>,
    actor: Option<ID>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<String, AuditEntry>> {
    access
        .require(access.can_read_audit(), "read the audit log")
        .gql()?;
    let rc = RequestCtx::get(ctx);
    let limit = rc.page_size(first).gql()?;
    let actor_id = match actor.as_deref() {
        None => None,
        Some(a) => match GlobalId::decode("actor", a).gql()? {
            GlobalId::User(u) => Some(u),
            _ => return Err(Error::invalid("actor", "is not a user id")).gql(),
        },
    };
    let filter = AuditFilter {
        entity_id: entity.as_deref().map(entity_uuid).transpose().gql()?,
        actor_id,
        from,
        to,
        after: after.as_deref().map(decode).transpose().gql()?,
        limit: limit + 1,
    };
    let tx = rc.tx(access).await.gql()?;
    let mut rows = tx.audit_log(&filter).await.gql()?;
    tx.commit().await.gql()?;
    if !access.can_read_money_in_audit() {
        for r in rows.iter_mut() {
            if matches!(
                r.entity_type.as_str(),
                "Deal" | "CrewMember" | "RuleSet" | "Department"
            ) {
                r.before = None;
                r.after = None;
            }
        }
    }
    let has_next = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let mut conn = Connection::new(filter.after.is_some(), has_next);
    conn.edges.extend(
        rows.into_iter()
            .map(|r| Edge::new(cursor(r.seq), AuditEntry::from(r))),
    );
    Ok(conn)
}
