//! The process-wide Prometheus recorder. Installing a recorder twice panics, and tests boot many
//! servers in one process, so it is installed once and shared.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds, from a fast cached read to a slow export.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The shared handle; installs the recorder on first use. If another recorder is already
/// installed (an embedding application's), metrics still render from a detached recorder.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = || {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .expect("latency buckets are non-empty")
        };
        match builder().install_recorder() {
            Ok(handle) => handle,
            Err(_) => builder().build_recorder().handle(),
        }
    })
}
