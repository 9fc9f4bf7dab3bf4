//! The GraphQL schema: one query root, one mutation root, one subscription root, types named
//! for what they hold.

mod access;
mod api_tokens;
mod approval;
mod audit;
mod callsheet;
mod connection;
mod crew;
mod live;
mod loaders;
mod pay;
mod personal;
mod production;
mod session;
mod time;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{
    Context, MergedObject, MergedSubscription, Schema, ServerError, ValidationResult,
};
use crewtime_persistence::audit::{ActorKind, AuditActor};
use crewtime_persistence::productions::MemberView;
use crewtime_persistence::{Store, TenantTx};
use uuid::Uuid;

use crate::auth::{Caller, JwtKeys, Principal, UserPrincipal};
use crate::login_limits::{address_key, LoginLimiter};
use crate::quotas::{CallerKey, Quotas};
use crate::state::{ApiConfig, AppState, Environment};
use crewtime_domain::{Error, Result};

pub(crate) use access::Access;
pub(crate) use loaders::Loaders;
pub use pay::preview as pay_preview;
pub(crate) use pay::HotCost as HotCostReport;
pub(crate) use time::WeekTimelines;

pub type CrewtimeSchema = Schema<Query, Mutation, Subscription>;

pub use live::spawn_outbox_relay;
pub(crate) use live::{ConnectionExpiry, LiveNode, OperationKey};

#[derive(MergedSubscription, Default)]
pub struct Subscription(live::LiveSubscription);

#[derive(MergedObject, Default)]
pub struct Query(
    session::SessionQuery,
    production::ProductionQuery,
    time::TimeQuery,
    pay::PayQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    session::SessionMutation,
    production::ProductionMutation,
    crew::CrewMutation,
    callsheet::CallSheetMutation,
    time::TimeMutation,
    pay::PayMutation,
    approval::ApprovalMutation,
    api_tokens::ApiTokenMutation,
    personal::PersonalDataMutation,
);

/// What every resolver can reach for one request.
#[derive(Clone)]
pub(crate) struct RequestCtx {
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub jwt: Arc<JwtKeys>,
    caller: Arc<Caller>,
    /// The client's address as the sign-in limits count it (see `http::client_address`).
    pub client: Option<IpAddr>,
    pub login_limiter: Arc<LoginLimiter>,
    /// Read models (pay, work-day totals, hot cost) cached in memory and in Redis.
    pub cache: Arc<crate::read_cache::ReadCache>,
    /// The request id, for the audit trail.
    pub request_id: String,
    /// This operation's state: the productions it touched and its cost.
    op: Arc<Operation>,
    pub loaders: Arc<Loaders>,
    /// The node's quotas; `None` with protections off.
    quotas: Option<Arc<Quotas>>,
    /// Where committed changes are announced to live subscriptions.
    pub bus: crewtime_realtime::Bus,
    /// The node's live subscriptions' shared computations and watched dates.
    pub live: Arc<LiveNode>,
    /// Where published live events are queued for deletion from the outbox.
    pub outbox: Arc<crate::outbox_sweep::OutboxSweeper>,
}

impl RequestCtx {
    pub(crate) fn new(
        state: &AppState,
        caller: Arc<Caller>,
        client: Option<IpAddr>,
        request_id: String,
    ) -> Self {
        let op: Arc<Operation> = Arc::default();
        let loaders = Arc::new(Loaders::new(state.store.clone(), op.clone()));
        Self {
            store: state.store.clone(),
            config: state.config.clone(),
            jwt: state.jwt.clone(),
            caller,
            client,
            login_limiter: state.login_limiter.clone(),
            cache: state.read_cache.clone(),
            request_id,
            op,
            loaders,
            quotas: state.quotas.clone(),
            bus: state.bus.clone(),
            live: state.live.clone(),
            outbox: state.outbox.clone(),
        }
    }

    /// Charges this operation to the caller's own quota, before anything runs: a person by
    /// their id, an API token by (a hash of) its secret, anyone else by address.
    pub(crate) fn charge_caller(&self) -> std::result::Result<(), ServerError> {
        let Some(quotas) = &self.quotas else {
            return Ok(());
        };
        let key = match (self.caller.api_token(), self.caller.resolved_user()) {
            (Some(secret), _) => quotas.token_key(secret),
            (None, Some(user)) => CallerKey::User(user),
            (None, None) => self
                .client
                .map_or(CallerKey::Unknown, |ip| CallerKey::Address(address_key(ip))),
        };
        quotas
            .charge_caller(key)
            .map_err(crate::error::domain_server_error)
    }

    pub(crate) fn get<'a>(ctx: &Context<'a>) -> &'a RequestCtx {
        // Always inserted by the HTTP layer; a missing one is a wiring fault caught by every test.
        ctx.data_unchecked::<RequestCtx>()
    }

    /// Who is calling; `UNAUTHENTICATED` without a valid token.
    pub(crate) async fn principal(&self) -> Result<Principal> {
        self.caller.principal(&self.store).await
    }

    /// The signed-in person, for what only people may do (`what` ends the refusal for an API
    /// token: "API tokens cannot ...").
    pub(crate) async fn user(&self, what: &str) -> Result<UserPrincipal> {
        match self.principal().await? {
            Principal::User(user) => Ok(user),
            Principal::ApiToken(_) => Err(Error::Forbidden(format!("API tokens cannot {what}"))),
        }
    }

    /// The caller's access to a production: `NOT_FOUND` without a membership, and for an API
    /// token any production but its own.
    ///
    /// The first time an operation reaches a production (after the membership check, so only
    /// members and the production's own tokens can spend its quota), the operation is charged
    /// to that production: one request and its complexity. Over quota it is `RATE_LIMITED`
    /// and the resolver that asked does nothing in that production.
    pub(crate) async fn access(&self, production: Uuid) -> Result<Access> {
        let principal = self.principal().await?;
        if let Principal::ApiToken(token) = &principal {
            if token.production.id != production {
                return Err(Error::NotFound("production"));
            }
        }
        let cached = self
            .op
            .views
            .lock()
            .map_err(|_| Error::internal("views lock poisoned"))?
            .get(&production)
            .cloned();
        let view = match (cached, &principal) {
            (Some(v), _) => v,
            (None, Principal::User(user)) => {
                let v = Arc::new(
                    self.store
                        .production_for_member(user.user_id, production)
                        .await?,
                );
                self.charge_production(production)?;
                self.remember(v.clone())?;
                v
            }
            (None, Principal::ApiToken(token)) => {
                // Read with the token; a token holds no membership.
                let v = Arc::new(MemberView {
                    production: token.production.clone(),
                    memberships: Vec::new(),
                });
                self.charge_production(production)?;
                self.remember(v.clone())?;
                v
            }
        };
        Ok(match principal {
            Principal::User(user) => Access::new(view, user.user_id),
            Principal::ApiToken(token) => Access::for_token(view, token.token_id, token.scopes),
        })
    }

    fn charge_production(&self, production: Uuid) -> Result<()> {
        match &self.quotas {
            Some(q) => q.charge_production(production, self.op.cost.load(Ordering::Relaxed)),
            None => Ok(()),
        }
    }

    /// Whether this operation has read the caller's view of `production` already.
    fn knows(&self, production: Uuid) -> Result<bool> {
        Ok(self
            .op
            .views
            .lock()
            .map_err(|_| Error::internal("views lock poisoned"))?
            .contains_key(&production))
    }

    pub(crate) fn remember(&self, view: Arc<MemberView>) -> Result<()> {
        self.op
            .views
            .lock()
            .map_err(|_| Error::internal("views lock poisoned"))?
            .insert(view.production.id, view);
        Ok(())
    }

    /// A transaction in `access`'s production whose audit records name the caller and this
    /// request.
    pub(crate) async fn tx(&self, access: &Access) -> Result<TenantTx> {
        TenantTx::begin_as(&self.store, access.production(), self.actor(access)).await
    }

    fn actor(&self, access: &Access) -> AuditActor {
        AuditActor {
            kind: if access.is_token() {
                ActorKind::ApiToken
            } else {
                ActorKind::User
            },
            id: Some(access.user),
            request_id: Some(self.request_id.clone()),
        }
    }

    /// `access(production)` and `tx(&access)` together. When this request has not read the
    /// caller's membership yet, it is read by the transaction's first statement, which also
    /// sets the search path (`TenantTx::begin_member`): one statement fewer for a read of one
    /// object by id. Same answers as `access` (`NOT_FOUND` without a membership).
    pub(crate) async fn access_tx(&self, production: Uuid) -> Result<(Access, TenantTx)> {
        let store = self.store.clone();
        let request_id = self.request_id.clone();
        let begin = |user| async move {
            let actor = AuditActor {
                kind: ActorKind::User,
                id: Some(user),
                request_id: Some(request_id),
            };
            TenantTx::begin_member(&store, user, production, actor).await
        };
        // Refused by the production's quota, the transaction is dropped, which rolls it back.
        if let Some(found) = self.access_with(production, begin).await? {
            return Ok(found);
        }
        let access = self.access(production).await?;
        let tx = self.tx(&access).await?;
        Ok((access, tx))
    }

    /// For a read outside the request's known productions: when the caller is a person and
    /// this request has not read their membership in `production` yet, `read` fetches the
    /// membership together with what the caller wants (an object, or an open transaction) in
    /// one statement, given the caller's user id. `None` when that does not apply; the caller
    /// then reads the membership on its own (`access`). Same answers and charging as `access`.
    pub(crate) async fn access_with<T, F, Fut>(
        &self,
        production: Uuid,
        read: F,
    ) -> Result<Option<(Access, T)>>
    where
        F: FnOnce(Uuid) -> Fut,
        Fut: std::future::Future<Output = Result<(MemberView, T)>>,
    {
        let Principal::User(user) = self.principal().await? else {
            return Ok(None);
        };
        if self.knows(production)? {
            return Ok(None);
        }
        let (view, found) = read(user.user_id).await?;
        self.charge_production(production)?;
        let view = Arc::new(view);
        self.remember(view.clone())?;
        Ok(Some((Access::new(view, user.user_id), found)))
    }

    /// Checks a client's `first` against the page size limit; the default page is 20.
    pub(crate) fn page_size(&self, first: Option<i32>) -> Result<u64> {
        let max = self.config.max_page_size;
        match first {
            None => Ok(20.min(max) as u64),
            Some(n) if n >= 0 && (n as usize) <= max => Ok(n as u64),
            Some(_) => Err(Error::invalid(
                "first",
                format!("must be between 0 and {max}"),
            )),
        }
    }
}

/// One operation's state, shared by its resolvers and loaders.
#[derive(Default)]
pub(crate) struct Operation {
    /// The caller's view of each production the operation touched, so membership is read once.
    pub(crate) views: Mutex<HashMap<Uuid, Arc<MemberView>>>,
    /// The operation's complexity as validation computed it (0 until then): what it costs
    /// each production it touches.
    cost: AtomicU64,
}

/// Records each operation's complexity for the cost quotas. It hooks validation only; it is
/// installed only while quotas are on (any extension makes async-graphql take its slower
/// per-field path, which is part of what the protections cost).
struct CostMeter;

impl ExtensionFactory for CostMeter {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostMeter)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for CostMeter {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> std::result::Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if let Some(rc) = ctx.data_opt::<RequestCtx>() {
            rc.op
                .cost
                .store(result.complexity as u64, Ordering::Relaxed);
        }
        Ok(result)
    }
}

/// Builds the schema with the deployment's limits.
pub fn build_schema(config: &ApiConfig) -> CrewtimeSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_recursive_depth(32)
    .limit_directives(8);
    if config.protections {
        builder = builder
            .limit_depth(config.max_depth)
            .limit_complexity(config.max_complexity)
            .extension(CostMeter);
    }
    if config.environment == Environment::Production {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL that `crewtime schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl()
}
