//! crewtime's domain: the types, rules and the pay engine. Deliberately free of I/O:
//! no database, HTTP or GraphQL crate is a dependency here.

pub mod approval;
pub mod auth;
pub mod callsheet;
pub mod crew;
pub mod error;
pub mod pay;
pub mod payroll;
pub mod production;
pub mod time;

pub use error::{Error, Result};
