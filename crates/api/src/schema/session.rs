//! Sign-in: `login`, `refreshToken` and `me`.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use crewtime_domain::auth::User as DomainUser;
use crewtime_domain::Error;

use super::RequestCtx;
use crate::error::GqlResult;
use crate::ids::GlobalId;

/// A signed-in user.
pub(crate) struct User(pub DomainUser);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(GlobalId::User(self.0.id).encode())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// A studio admin may create productions.
    async fn is_admin(&self) -> bool {
        self.0.is_admin
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(InputObject)]
pub(crate) struct LoginInput {
    email: String,
    password: String,
}

#[derive(InputObject)]
pub(crate) struct RefreshTokenInput {
    refresh_token: String,
}

/// A fresh pair of tokens. The refresh token is shown once and rotates on every use.
#[derive(SimpleObject)]
pub(crate) struct AuthPayload {
    access_token: String,
    access_token_expires_at: DateTime<Utc>,
    refresh_token: String,
    refresh_token_expires_at: DateTime<Utc>,
    user: User,
}

#[derive(Default)]
pub(crate) struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let rc = RequestCtx::get(ctx);
        let principal = rc.user("read `me`").await.gql()?;
        let user = rc
            .store
            .user_by_id(principal.user_id)
            .await
            .gql()?
            .ok_or(Error::Unauthenticated)
            .gql()?;
        Ok(User(user))
    }
}

#[derive(Default)]
pub(crate) struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Signs in with email and password. A wrong email and a wrong password get the same error.
    /// Too many failures for one email, or attempts from one address, are `RATE_LIMITED` for a
    /// while, without checking the password.
    async fn login(
        &self,
        ctx: &Context<'_>,
        input: LoginInput,
    ) -> async_graphql::Result<AuthPayload> {
        let rc = RequestCtx::get(ctx);
        let attempt = match rc.login_limiter.admit(&input.email, rc.client) {
            Ok(a) => a,
            Err(e) => {
                metrics::counter!("crewtime_logins_total", "outcome" => "rate_limited")
                    .increment(1);
                return Err(e).gql();
            }
        };
        let outcome = rc.store.verify_login(&input.email, &input.password).await;
        let label = if outcome.is_ok() {
            rc.login_limiter.succeeded(attempt);
            "success"
        } else {
            "failure"
        };
        metrics::counter!("crewtime_logins_total", "outcome" => label).increment(1);
        issue(rc, outcome.gql()?).await
    }

    /// Trades a refresh token for a new pair. Each refresh token works once; presenting a spent
    /// one revokes every token of that sign-in.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        input: RefreshTokenInput,
    ) -> async_graphql::Result<AuthPayload> {
        let rc = RequestCtx::get(ctx);
        let (user_id, refresh) = rc
            .store
            .rotate_refresh_token(&input.refresh_token, refresh_ttl(rc).gql()?)
            .await
            .gql()?;
        let user = rc
            .store
            .user_by_id(user_id)
            .await
            .gql()?
            .ok_or(Error::Unauthenticated)
            .gql()?;
        payload(rc, user, refresh)
    }
}

fn refresh_ttl(rc: &RequestCtx) -> crewtime_domain::Result<chrono::Duration> {
    chrono::Duration::from_std(rc.config.refresh_token_ttl).map_err(Error::internal)
}

pub(crate) async fn issue(rc: &RequestCtx, user: DomainUser) -> async_graphql::Result<AuthPayload> {
    let refresh = rc
        .store
        .issue_refresh_token(user.id, refresh_ttl(rc).gql()?)
        .await
        .gql()?;
    payload(rc, user, refresh)
}

fn payload(
    rc: &RequestCtx,
    user: DomainUser,
    refresh: crewtime_persistence::tokens::IssuedRefreshToken,
) -> async_graphql::Result<AuthPayload> {
    let (access_token, access_token_expires_at) =
        rc.jwt.issue(&user, rc.config.access_token_ttl).gql()?;
    Ok(AuthPayload {
        access_token,
        access_token_expires_at,
        refresh_token: refresh.token,
        refresh_token_expires_at: refresh.expires_at,
        user: User(user),
    })
}
