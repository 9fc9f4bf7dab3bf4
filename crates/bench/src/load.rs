//! Load generators and what they measure: latencies in an HDR histogram (microseconds), request
//! and error counts. A request counts only when its body was checked and held no error.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Mutex;

/// One scenario's figures for one server.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first few error messages, to make a failed run explainable.
    pub sample_errors: Vec<String>,
}

pub fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s at 3 significant figures; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds are valid")
}

pub fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[derive(Default)]
struct Shared {
    histogram: Option<Histogram<u64>>,
    requests: u64,
    errors: u64,
    sample_errors: Vec<String>,
}

impl Shared {
    fn merge(&mut self, h: &Histogram<u64>, requests: u64, errors: u64, samples: Vec<String>) {
        match &mut self.histogram {
            Some(all) => {
                let _ = all.add(h);
            }
            None => self.histogram = Some(h.clone()),
        }
        self.requests += requests;
        self.errors += errors;
        for s in samples {
            if self.sample_errors.len() < 5 {
                self.sample_errors.push(s);
            }
        }
    }

    fn stats(self, seconds: f64) -> Stats {
        let h = self.histogram.unwrap_or_else(histogram);
        Stats {
            requests: self.requests,
            errors: self.errors,
            seconds,
            rps: self.requests as f64 / seconds,
            p50_ms: ms(&h, 0.50),
            p95_ms: ms(&h, 0.95),
            p99_ms: ms(&h, 0.99),
            max_ms: h.max() as f64 / 1000.0,
            sample_errors: self.sample_errors,
        }
    }
}

/// `workers` loops, each sending its next request as soon as the last one answered, for
/// `duration` after a `warmup` whose figures are dropped. `op(worker, i)` sends one request and
/// checks its answer.
pub async fn closed_loop<F, Fut>(
    workers: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let shared = Arc::new(Mutex::new(Shared::default()));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let op = op.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let (mut requests, mut errors, mut samples) = (0u64, 0u64, Vec::new());
            let mut i = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let outcome = op(w, i).await;
                i += 1;
                if t0 < measure_from {
                    continue;
                }
                let took = t0.elapsed();
                let _ = h.record(took.as_micros().max(1) as u64);
                requests += 1;
                if let Err(e) = outcome {
                    errors += 1;
                    if samples.len() < 3 {
                        samples.push(format!("{e:#}"));
                    }
                }
            }
            shared.lock().await.merge(&h, requests, errors, samples);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let shared = Arc::try_unwrap(shared)
        .map(|m| m.into_inner())
        .unwrap_or_default();
    shared.stats(duration.as_secs_f64())
}

/// `clients` independent clients, each sending one request every `interval` on average
/// (uniformly jittered by ±50%) for `duration` after `warmup`: an open loop, so a slow answer
/// does not slow the offered load. `op(client, i)` sends one request and checks its answer.
pub async fn open_loop<F, Fut>(
    clients: usize,
    interval: Duration,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    use rand::{Rng, SeedableRng};
    let shared = Arc::new(Mutex::new(Shared::default()));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let op = op.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
            let mut h = histogram();
            let (mut requests, mut errors, mut samples) = (0u64, 0u64, Vec::new());
            // Clients start spread over one interval, not all at once.
            let mut next = start + interval.mul_f64(rng.gen::<f64>());
            let mut i = 0u64;
            loop {
                tokio::time::sleep_until(next.into()).await;
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                next += interval.mul_f64(rng.gen_range(0.5..1.5));
                let outcome = op(c, i).await;
                i += 1;
                if t0 < measure_from {
                    continue;
                }
                let _ = h.record(t0.elapsed().as_micros().max(1) as u64);
                requests += 1;
                if let Err(e) = outcome {
                    errors += 1;
                    if samples.len() < 3 {
                        samples.push(format!("{e:#}"));
                    }
                }
            }
            shared.lock().await.merge(&h, requests, errors, samples);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let shared = Arc::try_unwrap(shared)
        .map(|m| m.into_inner())
        .unwrap_or_default();
    shared.stats(duration.as_secs_f64())
}
