//! JSON logs through tracing. Nothing sensitive is logged: no request bodies, no tokens.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber once; later calls (tests) are no-ops.
pub fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .try_init();
}
