//! Black-box tests of the foundation: one binary, so the server links once.

mod auth;
mod cli;
mod crew;
mod http;
mod limits;
mod pay;
mod personal_data;
mod tenancy;
mod time;
