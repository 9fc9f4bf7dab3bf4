//! Integrators' API tokens: created, listed and revoked by a production's admins.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use crewtime_domain::auth::{ApiScope as DomainScope, NewApiToken};
use crewtime_persistence::api_tokens::ApiToken as StoredToken;

use super::connection;
use super::{Access, RequestCtx};
use crate::error::GqlResult;
use crate::ids::{decode_cursor, GlobalId};

/// What an API token may do in its production. A token has no role; outside its scopes every
/// operation is `FORBIDDEN`, and other productions are `NOT_FOUND`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum ApiScope {
    /// Read the production, its departments, crew, call sheets, work days and timecards (no
    /// pay, deals or rates).
    ReadTime,
    /// Everything READ_TIME reads (pay shows the hours), plus timecard pay, deals and rates,
    /// rule sets, the payroll export and the hot cost report.
    ReadPay,
    /// Record punches (`recordPunch`, `recordPunches`) for any crew member of the production.
    WritePunches,
    /// Read the production's audit log.
    ReadAudit,
}

impl From<ApiScope> for DomainScope {
    fn from(s: ApiScope) -> Self {
        match s {
            ApiScope::ReadTime => DomainScope::ReadTime,
            ApiScope::ReadPay => DomainScope::ReadPay,
            ApiScope::WritePunches => DomainScope::WritePunches,
            ApiScope::ReadAudit => DomainScope::ReadAudit,
        }
    }
}

impl From<DomainScope> for ApiScope {
    fn from(s: DomainScope) -> Self {
        match s {
            DomainScope::ReadTime => ApiScope::ReadTime,
            DomainScope::ReadPay => ApiScope::ReadPay,
            DomainScope::WritePunches => ApiScope::WritePunches,
            DomainScope::ReadAudit => ApiScope::ReadAudit,
        }
    }
}

/// An API token as its production's admins see it. The token string itself is shown only once,
/// by `createApiToken`.
pub(crate) struct ApiToken(StoredToken);

#[Object]
impl ApiToken {
    async fn id(&self) -> ID {
        ID(GlobalId::ApiToken {
            production: self.0.production_id,
            id: self.0.id,
        }
        .encode())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn scopes(&self) -> Vec<ApiScope> {
        self.0.scopes.iter().map(ApiScope::from).collect()
    }
    /// Null: valid until revoked.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the token last authenticated a request, to the minute.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

pub(crate) async fn page(
    rc: &RequestCtx,
    access: &Access,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<String, ApiToken>> {
    access
        .require(access.can_manage_api_tokens(), "list API tokens")
        .gql()?;
    let limit = rc.page_size(first).gql()?;
    let after = after.as_deref().map(decode_cursor).transpose().gql()?;
    let rows = rc
        .store
        .api_tokens(access.production().id, after, limit + 1)
        .await
        .gql()?;
    Ok(connection::page(
        rows,
        limit,
        after.is_some(),
        |t| t.id,
        ApiToken,
    ))
}

#[derive(InputObject)]
pub(crate) struct CreateApiTokenInput {
    production_id: ID,
    /// What the token is for, e.g. "Payroll sync" (1 to 100 characters).
    name: String,
    /// At least one.
    scopes: Vec<ApiScope>,
    /// When the token stops working; in the future. Null: valid until revoked.
    expires_at: Option<DateTime<Utc>>,
}

/// `token` is shown only here: store it at once. Only its hash is kept. Creating is not
/// idempotent, because a replay could not show the token again; revoke a spare one.
#[derive(SimpleObject)]
pub(crate) struct CreateApiTokenPayload {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    api_token: ApiToken,
}

#[derive(InputObject)]
pub(crate) struct RevokeApiTokenInput {
    token_id: ID,
}

#[derive(SimpleObject)]
pub(crate) struct RevokeApiTokenPayload {
    api_token: ApiToken,
}

#[derive(Default)]
pub(crate) struct ApiTokenMutation;

#[Object]
impl ApiTokenMutation {
    /// Creates an API token for an integration. Production admins only.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> async_graphql::Result<CreateApiTokenPayload> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("productionId", &input.production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_manage_api_tokens(), "create API tokens")
            .gql()?;
        let scopes: Vec<DomainScope> = input.scopes.into_iter().map(Into::into).collect();
        let new = NewApiToken::parse(&input.name, &scopes, input.expires_at, Utc::now()).gql()?;
        let _ = production;
        let tx = rc.tx(&access).await.gql()?;
        let issued = tx.create_api_token(access.user, &new).await.gql()?;
        tx.commit().await.gql()?;
        Ok(CreateApiTokenPayload {
            token: issued.token,
            api_token: ApiToken(issued.api_token),
        })
    }

    /// Revokes an API token at once; requests bearing it are `UNAUTHENTICATED` from then on.
    /// Revoking a revoked token changes nothing. Production admins only.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiTokenInput,
    ) -> async_graphql::Result<RevokeApiTokenPayload> {
        let rc = RequestCtx::get(ctx);
        let (production, id) = GlobalId::api_token("tokenId", &input.token_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_manage_api_tokens(), "revoke API tokens")
            .gql()?;
        let _ = production;
        let tx = rc.tx(&access).await.gql()?;
        let revoked = tx.revoke_api_token(id).await.gql()?;
        tx.commit().await.gql()?;
        Ok(RevokeApiTokenPayload {
            api_token: ApiToken(revoked),
        })
    }
}
