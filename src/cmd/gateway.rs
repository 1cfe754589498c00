//! `liveness gateway`: the BWS REST endpoint in front of the queue, until SIGTERM/SIGINT.

use std::path::Path;

use liveness::config::Settings;
use liveness::gateway::Gateway;
use liveness::{shutdown, telemetry};

pub fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    telemetry::init_logging(&settings.telemetry);
    // The gateway only moves bytes between sockets: tokio's default of one thread per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // Unreadable keys, or auth on without a key, stop the start rather than every job.
        liveness::check_auth_settings(&settings.auth)?;
        let stop = shutdown::on_signals()?;
        let gateway = Gateway::start(&settings, stop).await?;
        tracing::info!(
            addr = %gateway.local_addr(),
            queue = %settings.amqp.job_queue,
            version = env!("CARGO_PKG_VERSION"),
            "gateway listening"
        );
        gateway.wait().await?;
        tracing::info!("gateway stopped");
        Ok(())
    })
}
