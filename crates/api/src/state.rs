use std::sync::Arc;
use std::time::Duration;

use crewtime_domain::crypto::Keyring;
use crewtime_persistence::Store;

use crate::auth::JwtKeys;
use crate::schema::CrewtimeSchema;

/// Where the server runs; production turns off introspection, suggestions and GraphiQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// The API's settings. Every limit is configurable; the defaults are QUALITY.md's.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub environment: Environment,
    pub jwt_secret: Vec<u8>,
    /// Seals and opens crew members' personal data; its `Debug` shows key ids only.
    pub keyring: Arc<Keyring>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_batch: usize,
    pub max_body_bytes: usize,
    pub max_page_size: usize,
}

impl ApiConfig {
    pub fn new(environment: Environment, jwt_secret: Vec<u8>, keyring: Keyring) -> Self {
        Self {
            environment,
            jwt_secret,
            keyring: Arc::new(keyring),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            max_depth: 10,
            max_complexity: 2_000,
            max_aliases: 15,
            max_batch: 10,
            max_body_bytes: 1024 * 1024,
            max_page_size: 100,
        }
    }
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub(crate) jwt: Arc<JwtKeys>,
    pub(crate) schema: CrewtimeSchema,
    pub(crate) pay_cache: Arc<crate::pay_cache::PayCache>,
    pub redis: Option<Arc<crewtime_realtime::RedisHealth>>,
}

impl AppState {
    pub fn new(
        store: Store,
        config: ApiConfig,
        redis: Option<Arc<crewtime_realtime::RedisHealth>>,
    ) -> Self {
        let config = Arc::new(config);
        let jwt = Arc::new(JwtKeys::new(&config.jwt_secret));
        let schema = crate::schema::build_schema(&config);
        Self {
            store,
            config,
            jwt,
            schema,
            pay_cache: Arc::default(),
            redis,
        }
    }
}
