//! The GraphQL schema: one query root, one mutation root, types named for what they hold.

mod access;
mod callsheet;
mod connection;
mod crew;
mod loaders;
mod pay;
mod personal;
mod production;
mod session;
mod time;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, EmptySubscription, MergedObject, Schema};
use crewtime_persistence::productions::MemberView;
use crewtime_persistence::Store;
use uuid::Uuid;

use crate::auth::{JwtKeys, Principal};
use crate::state::{ApiConfig, Environment};
use crewtime_domain::{Error, Result};

pub(crate) use access::Access;
pub(crate) use loaders::Loaders;
pub use pay::preview as pay_preview;

pub type CrewtimeSchema = Schema<Query, Mutation, EmptySubscription>;

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
    personal::PersonalDataMutation,
);

/// What every resolver can reach for one request.
#[derive(Clone)]
pub(crate) struct RequestCtx {
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub jwt: Arc<JwtKeys>,
    pub principal: Option<Principal>,
    pub pay_cache: Arc<crate::pay_cache::PayCache>,
    /// The caller's view of each production this request touched, so membership is read once.
    views: Arc<Mutex<HashMap<Uuid, Arc<MemberView>>>>,
    pub loaders: Arc<Loaders>,
    /// The id the HTTP layer gave this request (absent only outside HTTP).
    pub request_id: Option<String>,
}

impl RequestCtx {
    pub(crate) fn new(
        store: Store,
        config: Arc<ApiConfig>,
        jwt: Arc<JwtKeys>,
        principal: Option<Principal>,
        pay_cache: Arc<crate::pay_cache::PayCache>,
        request_id: Option<String>,
    ) -> Self {
        let views: Arc<Mutex<HashMap<Uuid, Arc<MemberView>>>> = Arc::default();
        let loaders = Arc::new(Loaders::new(store.clone(), views.clone()));
        Self {
            store,
            config,
            jwt,
            principal,
            pay_cache,
            views,
            loaders,
            request_id,
        }
    }

    pub(crate) fn get<'a>(ctx: &Context<'a>) -> &'a RequestCtx {
        // Always inserted by the HTTP layer; a missing one is a wiring fault caught by every test.
        ctx.data_unchecked::<RequestCtx>()
    }

    pub(crate) fn principal(&self) -> Result<Principal> {
        self.principal.ok_or(Error::Unauthenticated)
    }

    /// The caller's access to a production: `NOT_FOUND` without a membership.
    pub(crate) async fn access(&self, production: Uuid) -> Result<Access> {
        let principal = self.principal()?;
        let cached = self
            .views
            .lock()
            .map_err(|_| Error::internal("views lock poisoned"))?
            .get(&production)
            .cloned();
        let view = match cached {
            Some(v) => v,
            None => {
                let v = Arc::new(
                    self.store
                        .production_for_member(principal.user_id, production)
                        .await?,
                );
                self.remember(v.clone())?;
                v
            }
        };
        Ok(Access::new(view, principal.user_id))
    }

    pub(crate) fn remember(&self, view: Arc<MemberView>) -> Result<()> {
        self.views
            .lock()
            .map_err(|_| Error::internal("views lock poisoned"))?
            .insert(view.production.id, view);
        Ok(())
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
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
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
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}
