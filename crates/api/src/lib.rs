//! crewtime's API: the GraphQL schema, sign-in, error mapping and the HTTP routes.
//! The only crate that knows GraphQL and HTTP.

pub mod auth;
mod error;
mod http;
mod ids;
mod limits;
mod live_cache;
mod login_limits;
mod outbox_sweep;
mod parsed;
mod quotas;
mod read_cache;
pub mod schema;
pub mod state;
pub mod telemetry;

pub use error::ERROR_CODES;
pub use http::routes;
pub use quotas::{QuotaConfig, Rate};
pub use read_cache::CacheSettings;
pub use schema::{build_schema, pay_preview, sdl, spawn_outbox_relay, CrewtimeSchema};
pub use state::{ApiConfig, AppState, Environment};
