//! `liveness worker`: consume jobs until SIGTERM/SIGINT.

use std::path::Path;
use std::sync::Arc;

use liveness::config::Settings;
use liveness::queue::{JobContext, ScoringThreads, Worker};
use liveness::{Engine, shutdown, telemetry};

pub fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    telemetry::init_logging(&settings.telemetry);
    let threads = settings.worker.threads();
    // Scoring runs on its own threads ([`ScoringThreads`]); the reactor itself needs little:
    // one thread for AMQP and the metrics endpoint.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // Unreadable keys, or auth on without a key, stop the start rather than every job.
        liveness::check_auth_settings(&settings.auth)?;
        let engine = Engine::new(settings.scoring.clone(), threads)?;
        let metrics = telemetry::Metrics::new()?;
        if !settings.telemetry.metrics_addr.is_empty() {
            let addr = telemetry::serve(&settings.telemetry.metrics_addr, metrics.clone()).await?;
            tracing::info!(%addr, "metrics and health endpoint");
        }
        let stop = shutdown::on_signals()?;
        let worker = Worker {
            amqp: Arc::new(settings.amqp.clone()),
            worker: settings.worker.clone(),
            ctx: Arc::new(JobContext {
                scorer: Arc::new(engine),
                auth: settings.auth.clone(),
                scoring: ScoringThreads::start(threads)?,
                metrics,
            }),
        };
        tracing::info!(
            threads,
            version = env!("CARGO_PKG_VERSION"),
            "worker starting"
        );
        worker.run(stop).await;
        Ok(())
    })
}
