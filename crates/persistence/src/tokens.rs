//! Rotating refresh tokens. The client holds a random secret; we keep only its SHA-256. Each use
//! spends the token and issues its successor in the same family; presenting a spent token again
//! means it was stolen or replayed, so the whole family is revoked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use crewtime_domain::{Error, Result};
use rand::RngCore;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, TransactionTrait};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{db_err, Store};

/// A refresh token as handed to the client, once.
#[derive(Debug, Clone)]
pub struct IssuedRefreshToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(FromQueryResult)]
struct TokenRow {
    user_id: Uuid,
    family_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Store {
    /// Starts a new family for a fresh sign-in.
    pub async fn issue_refresh_token(
        &self,
        user: Uuid,
        ttl: Duration,
    ) -> Result<IssuedRefreshToken> {
        insert_token(&self.db, user, Uuid::now_v7(), ttl).await
    }

    /// Spends `token` and returns its user with the successor. Unknown, expired, revoked or
    /// already spent tokens are `UNAUTHENTICATED`; a spent one also revokes its family.
    pub async fn rotate_refresh_token(
        &self,
        token: &str,
        ttl: Duration,
    ) -> Result<(Uuid, IssuedRefreshToken)> {
        let txn = self.db.begin().await.map_err(db_err)?;
        let row = TokenRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT user_id, family_id, expires_at, used_at, revoked_at FROM crewtime.refresh_tokens \
             WHERE token_hash = $1 FOR UPDATE",
            [hash(token).into()],
        ))
        .one(&txn)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Err(Error::Unauthenticated);
        };
        if row.used_at.is_some() || row.revoked_at.is_some() {
            txn.execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE crewtime.refresh_tokens SET revoked_at = now() \
                 WHERE family_id = $1 AND revoked_at IS NULL",
                [row.family_id.into()],
            ))
            .await
            .map_err(db_err)?;
            txn.commit().await.map_err(db_err)?;
            tracing::warn!(family = %row.family_id, "spent refresh token presented; family revoked");
            metrics::counter!("crewtime_refresh_token_reuse_total").increment(1);
            return Err(Error::Unauthenticated);
        }
        if row.expires_at <= Utc::now() {
            return Err(Error::Unauthenticated);
        }
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE crewtime.refresh_tokens SET used_at = now() WHERE token_hash = $1",
            [hash(token).into()],
        ))
        .await
        .map_err(db_err)?;
        let next = insert_token(&txn, row.user_id, row.family_id, ttl).await?;
        txn.commit().await.map_err(db_err)?;
        Ok((row.user_id, next))
    }
}

async fn insert_token<C: ConnectionTrait>(
    conn: &C,
    user: Uuid,
    family: Uuid,
    ttl: Duration,
) -> Result<IssuedRefreshToken> {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("rt_{}", URL_SAFE_NO_PAD.encode(secret));
    let expires_at = Utc::now() + ttl;
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO crewtime.refresh_tokens (id, user_id, family_id, token_hash, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        [
            Uuid::now_v7().into(),
            user.into(),
            family.into(),
            hash(&token).into(),
            expires_at.into(),
        ],
    ))
    .await
    .map_err(db_err)?;
    Ok(IssuedRefreshToken { token, expires_at })
}
