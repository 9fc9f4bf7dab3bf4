use std::sync::Arc;
use std::time::Duration;

use crewtime_domain::crypto::Keyring;
use crewtime_persistence::Store;

use crate::auth::JwtKeys;
use crate::quotas::{QuotaConfig, Quotas};
use crate::schema::CrewtimeSchema;

/// Where the server runs; production turns off introspection, suggestions and GraphiQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// The API's settings. Every limit is configurable; the defaults are QUALITY.md's.
/// `Debug` is written by hand: the JWT secret is shown redacted, so a stray `{:?}` cannot log it.
#[derive(Clone)]
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
    /// Failed sign-ins per account (email) per 15 minutes before `login` answers `RATE_LIMITED`.
    pub login_max_failures_per_account: u32,
    /// Sign-in attempts per client address per 15 minutes.
    pub login_max_attempts_per_address: u32,
    /// Behind a reverse proxy: take the client address from the last `X-Forwarded-For` entry
    /// (the one the proxy appended) instead of the peer's, which is the proxy's.
    pub trust_proxy: bool,
    /// A WebSocket that sends no `connection_init` within this long is closed (4408).
    pub ws_init_timeout: Duration,
    /// How often a socket opened with an API token checks that the token is still valid
    /// (closed with 4401 once it is revoked or expired).
    pub ws_token_recheck: Duration,
    /// How long before a meal is due `liveHours` raises MEAL_DUE_SOON.
    pub live_meal_warning_lead: Duration,
    /// Per-production and per-caller quotas (per node).
    pub quotas: QuotaConfig,
    /// Operations (subscriptions, and queries while they run) open at once on one WebSocket.
    pub max_subscriptions_per_connection: usize,
    /// `false` only for benchmarking (`CREWTIME_PROTECTIONS=off`, refused in production): no
    /// quotas, no subscription cap, no alias check; the other limits are set very large.
    pub protections: bool,
    /// The read cache: entries per read model in memory, and Redis's TTL and timeout.
    pub cache: crate::read_cache::CacheSettings,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("environment", &self.environment)
            .field("jwt_secret", &"<redacted>")
            .field("keyring", &self.keyring)
            .field("max_depth", &self.max_depth)
            .field("max_complexity", &self.max_complexity)
            .field("max_aliases", &self.max_aliases)
            .field("max_batch", &self.max_batch)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_page_size", &self.max_page_size)
            .field("quotas", &self.quotas)
            .field(
                "max_subscriptions_per_connection",
                &self.max_subscriptions_per_connection,
            )
            .field("protections", &self.protections)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
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
            login_max_failures_per_account: 5,
            login_max_attempts_per_address: 30,
            trust_proxy: false,
            ws_init_timeout: Duration::from_secs(10),
            ws_token_recheck: Duration::from_secs(30),
            live_meal_warning_lead: Duration::from_secs(15 * 60),
            quotas: QuotaConfig::default(),
            max_subscriptions_per_connection: 100,
            protections: true,
            cache: crate::read_cache::CacheSettings::default(),
        }
    }

    /// Turns every protection off, for benchmarking the cost of them: quotas, the subscription
    /// cap and the alias check are skipped; depth, complexity, batch, body and page limits are
    /// set so large that they never refuse.
    pub fn without_protections(mut self) -> Self {
        self.protections = false;
        self.max_depth = usize::MAX;
        self.max_complexity = usize::MAX;
        self.max_aliases = usize::MAX;
        self.max_batch = usize::MAX;
        self.max_body_bytes = usize::MAX;
        self.max_page_size = i32::MAX as usize;
        self.max_subscriptions_per_connection = usize::MAX;
        self
    }
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub(crate) jwt: Arc<JwtKeys>,
    pub(crate) schema: CrewtimeSchema,
    pub(crate) read_cache: Arc<crate::read_cache::ReadCache>,
    pub(crate) login_limiter: Arc<crate::login_limits::LoginLimiter>,
    /// The node's quota buckets; `None` with protections off.
    pub(crate) quotas: Option<Arc<Quotas>>,
    pub redis: Option<Arc<crewtime_realtime::RedisHealth>>,
    /// Live events: in-process, and across nodes through Redis when it is configured.
    pub bus: crewtime_realtime::Bus,
    /// The node's live subscriptions' shared computations and watched dates.
    pub(crate) live: Arc<crate::schema::LiveNode>,
    /// Deletes published live events from the outbox, off the request path.
    pub(crate) outbox: Arc<crate::outbox_sweep::OutboxSweeper>,
    /// Parsed documents of the queries this node was sent recently.
    pub(crate) parsed: Arc<crate::parsed::ParsedQueries>,
}

/// Distinct query texts a node keeps parsed (an application sends a few dozen).
const PARSED_QUERIES_KEPT: usize = 1024;

impl AppState {
    pub fn new(
        store: Store,
        config: ApiConfig,
        redis: Option<Arc<crewtime_realtime::RedisHealth>>,
    ) -> Self {
        let config = Arc::new(config);
        let jwt = Arc::new(JwtKeys::new(&config.jwt_secret));
        let schema = crate::schema::build_schema(&config);
        // With Redis, the bus starts the node's supervised subscriber (so this runs inside the
        // runtime, as the server's start-up does).
        let bus = match &redis {
            Some(r) => crewtime_realtime::Bus::with_redis(r.clone()),
            None => crewtime_realtime::Bus::local(),
        };
        let read_cache = Arc::new(crate::read_cache::ReadCache::new(
            &config.cache,
            redis.clone(),
        ));
        let login_limiter = Arc::new(crate::login_limits::LoginLimiter::new(
            config.login_max_failures_per_account,
            config.login_max_attempts_per_address,
        ));
        let quotas = config
            .protections
            .then(|| Arc::new(Quotas::new(&config.quotas)));
        let outbox = Arc::new(crate::outbox_sweep::OutboxSweeper::new(store.clone()));
        let live = Arc::new(crate::schema::LiveNode::default());
        bus.prepare_with(live.preparer(store.clone(), config.live_meal_warning_lead));
        Self {
            store,
            config,
            jwt,
            schema,
            read_cache,
            login_limiter,
            quotas,
            redis,
            bus,
            live,
            outbox,
            parsed: Arc::new(crate::parsed::ParsedQueries::new(PARSED_QUERIES_KEPT)),
        }
    }
}
