//! The load driver: `concurrency` tasks, each sending one request after the
//! other for a fixed time, with latencies recorded after a warm-up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request's outcome: the items it carried (1, or a batch's size), or
/// why it failed.
pub type Outcome = Result<u64, String>;
pub type Call = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub ok: u64,
    pub errors: u64,
    pub items: u64,
    pub seconds: f64,
    /// Latencies of successful requests, sorted, in microseconds.
    pub latencies_us: Vec<u32>,
    pub first_error: Option<String>,
}

impl Stats {
    pub fn rps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn items_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.items as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The `q`-quantile latency in milliseconds (nearest rank).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize)
            .clamp(1, self.latencies_us.len());
        Some(f64::from(self.latencies_us[rank - 1]) / 1000.0)
    }
}

/// Run `call` from `concurrency` tasks for `warmup + duration`; only what
/// completes after the warm-up counts.
pub async fn drive(call: Call, concurrency: usize, warmup: Duration, duration: Duration) -> Stats {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            // A small xorshift per task: cheap, and different per task.
            let mut state: u64 =
                0x9E37_79B9_7F4A_7C15 ^ (task as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let outcome = call(state).await;
                let done = Instant::now();
                if now < measure_from || done > end {
                    continue;
                }
                match outcome {
                    Ok(items) => {
                        stats.ok += 1;
                        stats.items += items;
                        let us = (done - now).as_micros();
                        stats
                            .latencies_us
                            .push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                    Err(message) => {
                        stats.errors += 1;
                        if stats.first_error.is_none() {
                            stats.first_error = Some(message);
                        }
                    }
                }
            }
            stats
        }));
    }
    let mut total = Stats::default();
    for task in tasks {
        match task.await {
            Ok(s) => {
                total.ok += s.ok;
                total.errors += s.errors;
                total.items += s.items;
                total.latencies_us.extend(s.latencies_us);
                if total.first_error.is_none() {
                    total.first_error = s.first_error;
                }
            }
            Err(err) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("task failed: {err}"));
            }
        }
    }
    total.seconds = duration.as_secs_f64();
    total.latencies_us.sort_unstable();
    total
}
