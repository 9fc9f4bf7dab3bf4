//! Who is calling. Two kinds of bearer token: access tokens (HS256 JWTs with the algorithm
//! pinned and `exp`, `nbf`, issuer and audience checked with a small leeway) for people, and
//! integrators' API tokens (`ct_...`, checked against the stored hash). A token that fails any
//! check is simply no principal: resolvers that need one answer `UNAUTHENTICATED`.

use std::sync::Arc;

use chrono::Utc;
use crewtime_domain::auth::{ApiScopes, User};
use crewtime_domain::production::Production;
use crewtime_domain::{Error, Result};
use crewtime_persistence::api_tokens::API_TOKEN_PREFIX;
use crewtime_persistence::Store;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

pub const ISSUER: &str = "crewtime";
pub const AUDIENCE: &str = "crewtime-api";
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    /// Studio admin: may create productions.
    pub adm: bool,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Who is calling, as proven by a valid bearer token.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A person, signed in with an access token.
    User(UserPrincipal),
    /// An integrator's API token: one production, and only what its scopes allow there.
    ApiToken(Arc<TokenPrincipal>),
}

/// A signed-in person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPrincipal {
    pub user_id: Uuid,
    /// Studio admin: may create productions.
    pub is_admin: bool,
}

/// A valid API token, with the production it acts in (read with the token, so acting in it
/// costs no further query).
#[derive(Debug)]
pub struct TokenPrincipal {
    pub token_id: Uuid,
    pub production: Production,
    pub scopes: ApiScopes,
}

/// The credential a request presented, checked at most once and only when a resolver asks.
/// JWTs are checked by the HTTP layer without SQL; an API token is looked up lazily, so a request
/// refused by the limits (or one that needs no principal) never reaches the database for it.
/// One HTTP request shares one `Caller` across the operations of its batch.
pub(crate) struct Caller {
    api_token: Option<String>,
    resolved: OnceCell<Result<Principal>>,
}

impl Caller {
    /// From an `Authorization` header value (or none): no header, a header that is not a bearer
    /// token, or a JWT that fails a check all make an anonymous caller.
    pub(crate) fn from_header(header: Option<&str>, jwt: &JwtKeys) -> Self {
        match header.and_then(bearer) {
            Some(token) if token.starts_with(API_TOKEN_PREFIX) => Self {
                api_token: Some(token.to_owned()),
                resolved: OnceCell::new(),
            },
            Some(token) => Self::resolved(
                jwt.verify(token)
                    .map(Principal::User)
                    .ok_or(Error::Unauthenticated),
            ),
            None => Self::resolved(Err(Error::Unauthenticated)),
        }
    }

    fn resolved(principal: Result<Principal>) -> Self {
        Self {
            api_token: None,
            resolved: OnceCell::new_with(Some(principal)),
        }
    }

    /// The same credential, to be looked up again: an API token may have been revoked since
    /// this caller resolved it. A person's access token needs no lookup (its signature and
    /// expiry were checked when the caller was made), so that caller is shared as it is.
    pub(crate) fn afresh(self: &Arc<Self>) -> Arc<Self> {
        match &self.api_token {
            Some(token) => Arc::new(Self {
                api_token: Some(token.clone()),
                resolved: OnceCell::new(),
            }),
            None => self.clone(),
        }
    }

    /// The API token's secret, for a caller that presented one.
    pub(crate) fn api_token(&self) -> Option<&str> {
        self.api_token.as_deref()
    }

    /// The person's id, for a caller with a valid access token (no lookup: JWTs are checked
    /// when the caller is made).
    pub(crate) fn resolved_user(&self) -> Option<Uuid> {
        match self.resolved.get() {
            Some(Ok(Principal::User(u))) => Some(u.user_id),
            _ => None,
        }
    }

    /// The principal, looking an API token up on first use.
    pub(crate) async fn principal(&self, store: &Store) -> Result<Principal> {
        self.resolved
            .get_or_init(|| async {
                let token = self.api_token.as_deref().ok_or(Error::Unauthenticated)?;
                let grant = store.authenticate_api_token(token).await?;
                Ok(Principal::ApiToken(Arc::new(TokenPrincipal {
                    token_id: grant.token_id,
                    production: grant.production,
                    scopes: grant.scopes,
                })))
            })
            .await
            .clone()
    }
}

pub(crate) struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub(crate) fn issue(
        &self,
        user: &User,
        ttl: std::time::Duration,
    ) -> Result<(String, chrono::DateTime<Utc>)> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|e| Error::internal(format!("token ttl: {e}")))?;
        let exp = now + ttl;
        let claims = Claims {
            sub: user.id,
            adm: user.is_admin,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: exp.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal(format!("jwt encode: {e}")))?;
        Ok((token, exp))
    }

    /// When a valid JWT expires (`None` for an invalid one).
    pub(crate) fn expiry(&self, token: &str) -> Option<chrono::DateTime<Utc>> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .and_then(|data| chrono::DateTime::from_timestamp(data.claims.exp, 0))
    }

    pub(crate) fn verify(&self, token: &str) -> Option<UserPrincipal> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| UserPrincipal {
                user_id: data.claims.sub,
                is_admin: data.claims.adm,
            })
    }
}

/// The bearer token of an `Authorization` header value, if it has that shape.
pub(crate) fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
