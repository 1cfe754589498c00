//! Logs (tracing, text or JSON), Prometheus metrics, and the `/metrics` + `/healthz` endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use tracing_subscriber::EnvFilter;

use crate::config::TelemetrySettings;

/// Installs the global tracing subscriber. `RUST_LOG` overrides the configured level.
pub fn init_logging(settings: &TelemetrySettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = if settings.log_format.eq_ignore_ascii_case("json") {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("metrics: {0}")]
    Prometheus(#[from] prometheus::Error),
    #[error("metrics endpoint {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// The worker's metrics.
pub struct Metrics {
    registry: Registry,
    /// Results by status code (`200`, `400`, ...).
    pub jobs: IntCounterVec,
    /// Time spent scoring (the pipeline only).
    pub scoring_seconds: Histogram,
    /// From the producer's timestamp (or the receipt) to the confirmed result.
    pub job_seconds: Histogram,
    pub in_flight: IntGauge,
    /// True while connected to the broker and consuming.
    pub ready: AtomicBool,
}

impl Metrics {
    pub fn new() -> Result<Arc<Metrics>, TelemetryError> {
        let registry = Registry::new();
        let jobs = IntCounterVec::new(
            Opts::new(
                "liveness_jobs_total",
                "Jobs answered, by result status code",
            ),
            &["status"],
        )?;
        let buckets = vec![
            0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
        ];
        let scoring_seconds = Histogram::with_opts(
            HistogramOpts::new("liveness_scoring_seconds", "Time spent scoring one job")
                .buckets(buckets.clone()),
        )?;
        let job_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "liveness_job_seconds",
                "Time from publication (or receipt) of a job to its confirmed result",
            )
            .buckets(buckets),
        )?;
        let in_flight = IntGauge::new(
            "liveness_jobs_in_flight",
            "Jobs received and not yet answered",
        )?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(scoring_seconds.clone()))?;
        registry.register(Box::new(job_seconds.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(Arc::new(Metrics {
            registry,
            jobs,
            scoring_seconds,
            job_seconds,
            in_flight,
            ready: AtomicBool::new(false),
        }))
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own registered metrics into a Vec does not fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// Serves `/metrics` and `/healthz` (200 while ready, 503 otherwise) until the process ends.
pub async fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<SocketAddr, TelemetryError> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| TelemetryError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| TelemetryError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let m1 = metrics.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m1.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let m = metrics.clone();
                async move {
                    if m.is_ready() {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not connected to the broker\n",
                        )
                    }
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(local)
}

/// Peak resident set size of a process (Linux `VmHWM`), in bytes; `None` where `/proc` does not
/// tell (another system, or no such process). For the memory budget of a worker: the tests,
/// the load test and the measurements read it.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_of_this_process_and_of_none() {
        // This test binary has at least its code and the test harness resident.
        assert!(peak_rss(std::process::id()).is_some_and(|b| b > 1024 * 1024));
        assert!(peak_rss(u32::MAX).is_none());
    }
}
