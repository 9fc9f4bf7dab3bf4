//! The GraphQL schema: one query root, one mutation root, types named for what they hold.

mod connection;
mod production;
mod session;

use std::sync::Arc;

use async_graphql::{Context, EmptySubscription, MergedObject, Schema};
use crewtime_persistence::Store;

use crate::auth::{JwtKeys, Principal};
use crate::state::{ApiConfig, Environment};
use crewtime_domain::{Error, Result};

pub type CrewtimeSchema = Schema<Query, Mutation, EmptySubscription>;

#[derive(MergedObject, Default)]
pub struct Query(session::SessionQuery, production::ProductionQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(session::SessionMutation, production::ProductionMutation);

/// What every resolver can reach for one request.
#[derive(Clone)]
pub(crate) struct RequestCtx {
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub jwt: Arc<JwtKeys>,
    pub principal: Option<Principal>,
}

impl RequestCtx {
    pub(crate) fn get<'a>(ctx: &Context<'a>) -> &'a RequestCtx {
        // Always inserted by the HTTP layer; a missing one is a wiring fault caught by every test.
        ctx.data_unchecked::<RequestCtx>()
    }

    pub(crate) fn principal(&self) -> Result<Principal> {
        self.principal.ok_or(Error::Unauthenticated)
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
