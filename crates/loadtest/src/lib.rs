//! `liveness-loadtest`: throughput and latency of the whole service, measured against the real
//! broker with real `liveness worker` processes, and of the scoring alone on the same cores. A
//! tool of its own, beside the product: the `liveness` binary does not carry it.
//!
//! The job mix is built before the clock starts ([`mix`]); [`endtoend`] starts worker processes
//! on private queues, publishes the jobs (all at once, or paced at a fixed rate) and times each
//! job from its publication to its result; [`scoring`] runs the same bodies through the engine
//! in-process, which is the ceiling that the queue, JSON, base64 and publishing overheads are
//! measured against. [`soak`] runs many jobs through a few workers with a bounded number in
//! flight and follows the workers' memory and every job's answer. [`procstat`] reads CPU time
//! and memory from `/proc` and finds the broker there.

pub mod endtoend;
pub mod mix;
pub mod procstat;
pub mod scoring;
pub mod soak;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    #[error("job mix: {0}")]
    Mix(String),
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("starting a worker process: {0}")]
    Spawn(std::io::Error),
    #[error(
        "the liveness binary {path}: {problem} (build it with `cargo build --release --bin liveness`, or name it with --liveness)"
    )]
    Liveness { path: String, problem: String },
    #[error("{0}")]
    Workers(String),
    #[error("models: {0}")]
    Models(#[from] liveness::ModelError),
}

/// What one load-test run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub label: String,
    pub jobs: usize,
    /// Jobs that got a result (every job, unless the run timed out).
    pub answered: usize,
    pub seconds: f64,
    pub jobs_per_second: f64,
    /// Publication to result, milliseconds (for `scoring`: the time of one job).
    pub latency_ms: Percentiles,
    /// CPU time of the worker processes (or of the scoring threads) per job, milliseconds.
    pub cpu_ms_per_job: f64,
    /// CPU time of the load generator itself per job (publishing, receiving), milliseconds.
    pub client_cpu_ms_per_job: Option<f64>,
    /// CPU time of the broker per job when it runs on this machine (`beam.smp`), milliseconds;
    /// it shares the cores with the workers.
    pub broker_cpu_ms_per_job: Option<f64>,
    /// Largest peak resident set size of one worker process, MB.
    pub peak_rss_mb: f64,
    /// Results by status code.
    pub statuses: BTreeMap<u16, usize>,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (milliseconds); zeros when there are none.
    pub fn of(mut samples: Vec<f64>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        Percentiles {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

impl Report {
    /// The same report under another label.
    pub fn labelled(mut self, label: &str) -> Report {
        self.label = label.to_string();
        self
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency_ms;
        write!(
            f,
            "{:<34} {:>5}/{:<5} {:>7.2} jobs/s  latency ms p50 {:>7.1} p95 {:>7.1} p99 {:>7.1} max {:>7.1}  cpu/job {:>6.1} ms (client {}, broker {})  peak RSS {:>5.0} MB  statuses {:?}",
            self.label,
            self.answered,
            self.jobs,
            self.jobs_per_second,
            l.p50,
            l.p95,
            l.p99,
            l.max,
            self.cpu_ms_per_job,
            self.client_cpu_ms_per_job
                .map_or("-".to_string(), |c| format!("{c:.1}")),
            self.broker_cpu_ms_per_job
                .map_or("-".to_string(), |b| format!("{b:.1}")),
            self.peak_rss_mb,
            self.statuses,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        let one = Percentiles::of(vec![7.0]);
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
        assert_eq!(Percentiles::of(Vec::new()).max, 0.0);
    }
}
