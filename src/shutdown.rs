//! SIGTERM / SIGINT turn a watch flag true; everything that must stop listens to it.

use tokio::sync::watch;

/// Returns the receiver side; the flag turns true on the first SIGTERM or SIGINT.
pub fn on_signals() -> std::io::Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}
