//! Black-box tests of the foundation: one binary, so the server links once.

mod api_tokens;
mod approvals;
mod audit;
mod auth;
mod cache;
mod cli;
mod crew;
mod http;
mod limits;
mod live;
mod login_limits;
mod pay;
mod personal_data;
mod quotas;
mod roles;
mod tenancy;
mod time;
