//! Domain errors to GraphQL errors. Every error a client sees carries `extensions.code`; an
//! internal fault is logged with its detail and reaches the client as a bare "internal error".

use async_graphql::{ErrorExtensions, ServerError};
use crewtime_domain::Error;

/// Every code a client can see, for the docs and the tests.
pub const ERROR_CODES: [&str; 9] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "RATE_LIMITED",
    "TOO_MANY_SUBSCRIPTIONS",
    "UNAVAILABLE",
    "INTERNAL",
];

pub(crate) fn to_gql(e: Error) -> async_graphql::Error {
    match &e {
        Error::Internal(detail) => tracing::error!(error = %detail, "internal error"),
        Error::Unavailable(detail) => tracing::warn!(error = %detail, "unavailable"),
        _ => {}
    }
    let code = e.code();
    let field = match &e {
        Error::Invalid { field, .. } => Some(field.clone()),
        _ => None,
    };
    let retry_after = match &e {
        Error::OverQuota {
            retry_after_secs, ..
        } => Some(*retry_after_secs),
        Error::Unavailable(_) => Some(1),
        _ => None,
    };
    async_graphql::Error::new(e.to_string()).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
        if let Some(secs) = retry_after {
            ext.set("retryAfterSeconds", secs);
        }
    })
}

/// `.gql()` turns a domain result into a resolver result with its code attached.
pub(crate) trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for crewtime_domain::Result<T> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_gql)
    }
}

/// A request-level error (parse, validation, limits) as a GraphQL server error.
pub(crate) fn server_error(code: &str, message: impl Into<String>) -> ServerError {
    let mut err = ServerError::new(message, None);
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    err
}

/// A domain error raised before execution (a quota) as a request-level server error.
pub(crate) fn domain_server_error(e: Error) -> ServerError {
    let e = to_gql(e);
    let mut err = ServerError::new(e.message, None);
    err.extensions = e.extensions;
    err
}

/// Errors async-graphql raises itself (syntax, validation, coercion) have no code; they are
/// all the client's to fix.
pub(crate) fn ensure_codes(errors: &mut [ServerError]) {
    for err in errors {
        let ext = err.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
}
