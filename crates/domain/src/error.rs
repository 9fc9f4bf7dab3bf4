//! The one error type every layer speaks. The API maps each kind to an `extensions.code`;
//! `Internal` carries a detail for the logs that never reaches a client.

use std::fmt;

/// What went wrong, as a client should learn it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// The caller is known but may not do or see this.
    #[error("{0}")]
    Forbidden(String),
    /// The object does not exist, or the caller may not know it exists.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input that can never succeed as sent; `field` names the offending input path.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The request collides with the current state (stale version, reused key, locked card).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts or too much load from one caller.
    #[error("{0}")]
    RateLimited(String),
    /// Over a quota: nothing was done; the same request may succeed after `retry_after_secs`.
    #[error("{message}")]
    OverQuota {
        message: String,
        retry_after_secs: u64,
    },
    /// A dependency (the database pool, say) is saturated or briefly unreachable; nothing was
    /// changed and the same request may be retried after a short wait. The detail is for the
    /// logs only.
    #[error("the service is busy; retry shortly")]
    Unavailable(String),
    /// A fault on our side; the detail is for the logs only.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.to_string(),
        }
    }

    pub fn internal(detail: impl fmt::Display) -> Self {
        Error::Internal(detail.to_string())
    }

    /// The stable machine-readable code integrators switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "UNAUTHENTICATED",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Invalid { .. } => "BAD_USER_INPUT",
            Error::Conflict(_) => "CONFLICT",
            Error::RateLimited(_) | Error::OverQuota { .. } => "RATE_LIMITED",
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::Internal(_) => "INTERNAL",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
