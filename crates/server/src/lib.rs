//! The `crewtime` binary's library half: configuration, telemetry, the server and the
//! subcommands, so tests can start a real server in-process on port 0.

pub mod config;
pub mod crew_import;
pub mod demo;
pub mod keys;
pub mod server;
pub mod telemetry;

pub use config::{Config, ConfigError};
pub use server::{RunningServer, Server};
