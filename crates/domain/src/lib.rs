//! crewtime's domain: the types, rules and the pay engine. Deliberately free of I/O:
//! no database, HTTP or GraphQL crate is a dependency here. (`crypto` draws random nonces from
//! the operating system; that is its only contact with the outside.)

pub mod approval;
pub mod auth;
pub mod callsheet;
pub mod crew;
pub mod crypto;
pub mod error;
pub mod pay;
pub mod payroll;
pub mod personal;
pub mod production;
pub mod time;

pub use error::{Error, Result};
