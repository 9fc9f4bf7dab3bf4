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
use std::sync::{Arc, Mutex};

use async_graphql::{Context, MergedObject, MergedSubscription, Schema};
use crewtime_persistence::audit::{ActorKind, AuditActor};
use crewtime_persistence::productions::MemberView;
use crewtime_persistence::{Store, TenantTx};
use uuid::Uuid;

use crate::auth::{Caller, JwtKeys, Principal, UserPrincipal};
use crate::login_limits::LoginLimiter;
use crate::state::{ApiConfig, AppState, Environment};
use crewtime_domain::{Error, Result};

pub(crate) use access::Access;
pub(crate) use loaders::Loaders;
pub use pay::preview as pay_preview;

pub type CrewtimeSchema = Schema<Query, Mutation, Subscription>;

pub use live::spawn_outbox_relay;
pub(crate) use live::{ConnectionExpiry, LiveFlights};

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
    pub pay_cache: Arc<crate::pay_cache::PayCache>,
    /// The request id, for the audit trail.
    pub request_id: String,
    /// The caller's view of each production this request touched, so membership is read once.
    views: Arc<Mutex<HashMap<Uuid, Arc<MemberView>>>>,
    pub loaders: Arc<Loaders>,
    /// Where committed changes are announced to live subscriptions.
    pub bus: crewtime_realtime::Bus,
    /// The node's live computations, shared by its subscriptions.
    pub live: Arc<LiveFlights>,
}

impl RequestCtx {
    pub(crate) fn new(
        state: &AppState,
        caller: Arc<Caller>,
        client: Option<IpAddr>,
        request_id: String,
    ) -> Self {
        let views: Arc<Mutex<HashMap<Uuid, Arc<MemberView>>>> = Arc::default();
        let loaders = Arc::new(Loaders::new(state.store.clone(), views.clone()));
        Self {
            store: state.store.clone(),
            config: state.config.clone(),
            jwt: state.jwt.clone(),
            caller,
            client,
            login_limiter: state.login_limiter.clone(),
            pay_cache: state.pay_cache.clone(),
            request_id,
            views,
            loaders,
            bus: state.bus.clone(),
            live: state.live.clone(),
        }
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
    pub(crate) async fn access(&self, production: Uuid) -> Result<Access> {
        let principal = self.principal().await?;
        if let Principal::ApiToken(token) = &principal {
            if token.production.id != production {
                return Err(Error::NotFound("production"));
            }
        }
        let cached = self
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
                self.remember(v.clone())?;
                v
            }
            (None, Principal::ApiToken(token)) => {
                // Read with the token; a token holds no membership.
                let v = Arc::new(MemberView {
                    production: token.production.clone(),
                    memberships: Vec::new(),
                });
                self.remember(v.clone())?;
                v
            }
        };
        Ok(match principal {
            Principal::User(user) => Access::new(view, user.user_id),
            Principal::ApiToken(token) => Access::for_token(view, token.token_id, token.scopes),
        })
    }

    pub(crate) fn remember(&self, view: Arc<MemberView>) -> Result<()> {
        self.views
            .lock()
            .map_err(|_| Error::internal("views lock poisoned"))?
            .insert(view.production.id, view);
        Ok(())
    }

    /// A transaction in `access`'s production whose audit records name the caller and this
    /// request.
    pub(crate) async fn tx(&self, access: &Access) -> Result<TenantTx> {
        let actor = AuditActor {
            kind: if access.is_token() {
                ActorKind::ApiToken
            } else {
                ActorKind::User
            },
            id: Some(access.user),
            request_id: Some(self.request_id.clone()),
        };
        TenantTx::begin_as(&self.store, access.production(), actor).await
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

/// Builds the schema with the deployment's limits.
pub fn build_schema(config: &ApiConfig) -> CrewtimeSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(config.max_depth)
    .limit_complexity(config.max_complexity)
    .limit_recursive_depth(32)
    .limit_directives(8);
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
