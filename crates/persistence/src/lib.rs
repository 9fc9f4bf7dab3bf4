//! crewtime's storage. The only crate that writes SQL (besides the migrations).
//!
//! Control data (users, productions, memberships, refresh and API tokens) lives in the `crewtime`
//! schema and is always addressed schema-qualified. Production data lives in one schema per
//! production and is reachable only through [`TenantTx`], which pins the transaction's
//! `search_path`.

pub mod api_tokens;
pub mod audit;
pub mod callsheets;
pub mod crew;
mod db;
pub mod departments;
mod idempotency;
pub mod invitations;
pub mod live_outbox;
pub mod migrate;
pub mod personal_data;
pub mod productions;
pub mod punches;
pub mod rule_sets;
mod tenant;
pub mod timecards;
pub mod tokens;
pub mod users;
pub mod week;

pub use db::{Store, StoreOptions};
pub use idempotency::{request_hash, Claim, IdempotencyKey};
pub use tenant::TenantTx;

use crewtime_domain::Error;
use sea_orm::{DbErr, RuntimeErr};

/// Maps a database fault to the domain error. Details go to the log, never to the client.
/// A deadlock or serialisation failure is the client's to retry, so it is a `CONFLICT`.
pub(crate) fn db_err(e: DbErr) -> Error {
    if is_unavailable(&e) {
        return Error::Unavailable(format!("database: {e}"));
    }
    match sql_state(&e).as_deref() {
        Some("40P01") | Some("40001") => {
            Error::Conflict("a concurrent change got in the way; retry the request".into())
        }
        _ => Error::internal(format!("database: {e}")),
    }
}

/// True when no connection could be had in time (the pool is exhausted, or PostgreSQL is
/// restarting): nothing ran, so the client may retry.
fn is_unavailable(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x)) => matches!(
            x,
            sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::PoolClosed
                | sea_orm::sqlx::Error::Io(_)
        ),
        _ => false,
    }
}

/// True when a statement named a table that does not exist: in a schema-qualified read, the
/// production (whose schema it names) does not exist.
pub(crate) fn is_undefined_table(e: &DbErr) -> bool {
    matches!(sql_state(e).as_deref(), Some("42P01") | Some("3F000"))
}

/// True when PostgreSQL refused a write because of a unique index.
pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    sql_state(e).as_deref() == Some("23505")
}

fn sql_state(e: &DbErr) -> Option<String> {
    let runtime = match e {
        DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return None,
    };
    match runtime {
        RuntimeErr::SqlxError(sqlx_err) => sqlx_err
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}
