//! Integrator API tokens. A token acts in one production within its scopes. The client holds a
//! random secret; we keep only its SHA-256, so the secret is shown once, when it is created.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use crewtime_domain::auth::{ApiScope, ApiScopes, NewApiToken};
use crewtime_domain::production::Production;
use crewtime_domain::{Error, Result};
use rand::RngCore;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::productions::{ProductionRow, PRODUCTION_COLUMNS};
use crate::{db_err, Store};

/// Every API token starts with this, so the HTTP layer can tell one from a JWT without SQL and
/// secret scanners can spot a leaked one.
pub const API_TOKEN_PREFIX: &str = "ct_";

/// Length of the base64url text of the 32 random bytes after the prefix.
const SECRET_CHARS: usize = 43;

/// How stale `last_used_at` may get: one write a minute per busy token, not one per request.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// An API token as its production's admins see it; never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Uuid,
    pub production_id: Uuid,
    pub name: String,
    pub scopes: ApiScopes,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new token with its secret, which exists only in this value.
#[derive(Debug, Clone)]
pub struct IssuedApiToken {
    pub token: String,
    pub api_token: ApiToken,
}

/// What a valid token proves: the one production it acts in, and what it may do there.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub token_id: Uuid,
    pub production: Production,
    pub scopes: ApiScopes,
}

#[derive(FromQueryResult)]
struct ApiTokenRow {
    id: Uuid,
    production_id: Uuid,
    name: String,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiTokenRow> for ApiToken {
    type Error = Error;
    fn try_from(r: ApiTokenRow) -> Result<Self> {
        Ok(ApiToken {
            id: r.id,
            production_id: r.production_id,
            name: r.name,
            scopes: parse_scopes(&r.scopes)?,
            expires_at: r.expires_at,
            created_by: r.created_by,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(FromQueryResult)]
struct GrantRow {
    token_id: Uuid,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, production_id, name, scopes, expires_at, created_by, created_at, last_used_at, revoked_at";

fn parse_scopes(raw: &[String]) -> Result<ApiScopes> {
    raw.iter().map(|s| ApiScope::parse(s)).collect()
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// True when `token` has the shape of one we issue; anything else is refused without SQL.
fn well_formed(token: &str) -> bool {
    token.strip_prefix(API_TOKEN_PREFIX).is_some_and(|secret| {
        secret.len() == SECRET_CHARS
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

impl crate::TenantTx {
    /// Creates a token for this transaction's production, on its audit trail; the returned
    /// secret is never stored.
    pub async fn create_api_token(&self, actor: Uuid, new: &NewApiToken) -> Result<IssuedApiToken> {
        let production = self.production().id;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!("{API_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
        let scopes: Vec<String> = new.scopes.iter().map(|s| s.as_str().to_owned()).collect();
        let row = ApiTokenRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO crewtime.api_tokens \
                 (id, production_id, name, token_hash, scopes, expires_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
            ),
            [
                Uuid::now_v7().into(),
                production.into(),
                new.name.clone().into(),
                hash(&token).into(),
                scopes.clone().into(),
                new.expires_at.into(),
                actor.into(),
            ],
        ))
        .one(self.conn())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
        let api_token = ApiToken::try_from(row)?;
        self.audit(
            "createApiToken",
            "ApiToken",
            Some(api_token.id),
            None,
            Some(serde_json::json!({ "name": api_token.name, "scopes": scopes, "expiresAt": api_token.expires_at })),
            None,
        )
        .await?;
        metrics::counter!("crewtime_api_tokens_created_total").increment(1);
        Ok(IssuedApiToken { token, api_token })
    }

    /// Revokes a token of this production (`NOT_FOUND` for any other), on the audit trail.
    /// Revoking twice keeps the first revocation time.
    pub async fn revoke_api_token(&self, id: Uuid) -> Result<ApiToken> {
        let row = ApiTokenRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "UPDATE crewtime.api_tokens SET revoked_at = coalesce(revoked_at, now()) \
                 WHERE id = $1 AND production_id = $2 RETURNING {COLUMNS}"
            ),
            [id.into(), self.production().id.into()],
        ))
        .one(self.conn())
        .await
        .map_err(db_err)?
        .ok_or(Error::NotFound("API token"))?;
        let token = ApiToken::try_from(row)?;
        self.audit(
            "revokeApiToken",
            "ApiToken",
            Some(id),
            None,
            Some(serde_json::json!({ "revokedAt": token.revoked_at })),
            None,
        )
        .await?;
        Ok(token)
    }
}

impl Store {
    /// A page of `production`'s tokens (revoked and expired ones included), oldest first.
    pub async fn api_tokens(
        &self,
        production: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<ApiToken>> {
        let rows = ApiTokenRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {COLUMNS} FROM crewtime.api_tokens \
                 WHERE production_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
            ),
            [
                production.into(),
                after.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .all(&self.db)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    /// Checks a presented token. Unknown, malformed, revoked and expired tokens are all the same
    /// `UNAUTHENTICATED`. Records the use, at most once a minute per token.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<TokenGrant> {
        if !well_formed(token) {
            return Err(Error::Unauthenticated);
        }
        let row = self
            .db
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT t.id AS token_id, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, \
                     {PRODUCTION_COLUMNS} FROM crewtime.api_tokens t \
                     JOIN crewtime.productions p ON p.id = t.production_id WHERE t.token_hash = $1"
                ),
                [hash(token).into()],
            ))
            .await
            .map_err(db_err)?
            .ok_or(Error::Unauthenticated)?;
        let grant = GrantRow::from_query_result(&row, "").map_err(db_err)?;
        let now = Utc::now();
        if grant.revoked_at.is_some() || grant.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Unauthenticated);
        }
        let production = ProductionRow::from_query_result(&row, "").map_err(db_err)?;
        let stale = grant.last_used_at.is_none_or(|at| {
            now.signed_duration_since(at).num_seconds() >= LAST_USED_RESOLUTION_SECS
        });
        if stale {
            // The condition is repeated in SQL so that nodes racing on one token write once.
            self.db
                .execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE crewtime.api_tokens SET last_used_at = now() WHERE id = $1 \
                     AND (last_used_at IS NULL OR last_used_at <= now() - make_interval(secs => $2))",
                    [
                        grant.token_id.into(),
                        (LAST_USED_RESOLUTION_SECS as f64).into(),
                    ],
                ))
                .await
                .map_err(db_err)?;
        }
        Ok(TokenGrant {
            token_id: grant.token_id,
            production: production.into(),
            scopes: parse_scopes(&grant.scopes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_of_our_shape_reach_the_database() {
        let good = format!("ct_{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert!(well_formed(&good));
        for bad in [
            "ct_".to_owned(),
            "ct_short".to_owned(),
            format!("rt_{}", URL_SAFE_NO_PAD.encode([7u8; 32])),
            format!("ct_{}=", URL_SAFE_NO_PAD.encode([7u8; 32])),
            format!("ct_{}!", &URL_SAFE_NO_PAD.encode([7u8; 32])[1..]),
        ] {
            assert!(!well_formed(&bad), "{bad}");
        }
    }
}
