//! Load generators and what they measure: latencies in an HDR histogram (microseconds), request
//! and error counts. A request counts only when its body was checked and held no error.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde::Serialize;

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

/// What one worker, or all of them merged, measured.
#[derive(Clone)]
struct Tally {
    histogram: Histogram<u64>,
    requests: u64,
    errors: u64,
    sample_errors: Vec<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            histogram: histogram(),
            requests: 0,
            errors: 0,
            sample_errors: Vec::new(),
        }
    }

    /// One checked request that started at `t0`.
    fn record(&mut self, t0: Instant, outcome: Result<()>) {
        let _ = self
            .histogram
            .record(t0.elapsed().as_micros().max(1) as u64);
        self.requests += 1;
        if let Err(e) = outcome {
            self.errors += 1;
            if self.sample_errors.len() < 5 {
                self.sample_errors.push(format!("{e:#}"));
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        let _ = self.histogram.add(&other.histogram);
        self.requests += other.requests;
        self.errors += other.errors;
        for s in other.sample_errors {
            if self.sample_errors.len() < 5 {
                self.sample_errors.push(s);
            }
        }
    }

    fn stats(self, seconds: f64) -> Stats {
        let h = &self.histogram;
        Stats {
            requests: self.requests,
            errors: self.errors,
            seconds,
            rps: self.requests as f64 / seconds,
            p50_ms: ms(h, 0.50),
            p95_ms: ms(h, 0.95),
            p99_ms: ms(h, 0.99),
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
    drive(workers, None, warmup, duration, op).await
}

/// `clients` independent clients, each due to send one request every `interval` on average
/// (uniformly jittered by ±50%) for `duration` after `warmup`. A client waits for its answer
/// before its next request, but latency counts from when each request was due, so a slow
/// answer shows in the figures rather than lowering the offered load unseen. `op(client, i)` sends one request and checks its answer.
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
    drive(clients, Some(interval), warmup, duration, op).await
}

/// Runs `n` workers, paced by `interval` when given (open loop) or back to back (closed loop).
async fn drive<F, Fut>(
    n: usize,
    interval: Option<Duration>,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    use rand::{Rng, SeedableRng};
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(n);
    for w in 0..n {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            let mut tally = Tally::new();
            // Paced workers start spread over one interval, not all at once.
            let mut next = interval.map(|i| start + i.mul_f64(rng.gen::<f64>()));
            let mut i = 0u64;
            loop {
                // A paced request's latency counts from when it was due, so a late start (the
                // client still waiting for its previous answer) is not hidden.
                let t0 = match (next.as_mut(), interval) {
                    (Some(at), Some(every)) => {
                        tokio::time::sleep_until((*at).into()).await;
                        let due = *at;
                        *at += every.mul_f64(rng.gen_range(0.5..1.5));
                        due
                    }
                    _ => Instant::now(),
                };
                if t0 >= end {
                    break;
                }
                let outcome = op(w, i).await;
                i += 1;
                if t0 >= measure_from {
                    tally.record(t0, outcome);
                }
            }
            tally
        }));
    }
    let mut all = Tally::new();
    for t in tasks {
        if let Ok(tally) = t.await {
            all.merge(tally);
        }
    }
    all.stats(duration.as_secs_f64())
}
