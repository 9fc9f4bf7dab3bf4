//! Access tokens: HS256 JWTs with the algorithm pinned and `exp`, `nbf`, issuer and audience
//! checked with a small leeway. A token that fails any check is simply no principal: resolvers
//! that need one answer `UNAUTHENTICATED`.

use chrono::Utc;
use crewtime_domain::auth::User;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
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

/// Who is calling, as proven by a valid access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub is_admin: bool,
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
    ) -> crewtime_domain::Result<(String, chrono::DateTime<Utc>)> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|e| crewtime_domain::Error::internal(format!("token ttl: {e}")))?;
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
            .map_err(|e| crewtime_domain::Error::internal(format!("jwt encode: {e}")))?;
        Ok((token, exp))
    }

    pub(crate) fn verify(&self, token: &str) -> Option<Principal> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| Principal {
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
