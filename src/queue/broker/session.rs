//! The connection to the broker, and the loop that keeps one: connect, serve a session until it
//! ends, and after a loss connect again, waiting a capped exponential backoff with jitter in
//! between. The worker and the gateway run their sessions through [`run`]; the enqueue client
//! and the load test, which live for one job or one run, call [`connect`] once.
//!
//! [`connect`] is the one place where a connection is opened: a list of broker URLs to fail
//! over between (the nodes of one cluster) belongs there, and [`run`]'s backoff already spaces
//! the attempts.

use std::future::Future;
use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::AmqpSettings;

/// Opens a connection to the broker named `liveness <role> pid <pid> (<job queue>)`, as the
/// management UI and `rabbitmqctl list_connections` show it.
pub async fn connect(amqp: &AmqpSettings, role: &str) -> Result<Connection, lapin::Error> {
    let name = format!(
        "liveness {role} pid {} ({})",
        std::process::id(),
        amqp.job_queue
    );
    Connection::connect(
        &amqp.url,
        ConnectionProperties::default().with_connection_name(name.into()),
    )
    .await
}

/// How a session with the broker ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// Shutdown was asked for: [`run`] returns.
    Shutdown,
    /// The connection or its consumer went away, for this reason: [`run`] connects again.
    Lost(String),
}

/// What [`run`] does with each connection.
pub trait Session {
    /// The component, for the connection's name (see [`connect`]): `worker`, `gateway`.
    fn role(&self) -> &'static str;

    /// Serves one connection until `shutdown` turns true (or its sender is dropped), then
    /// [`SessionEnd::Shutdown`]; or until the connection is lost. An error ends the session
    /// like a loss.
    fn serve(
        &self,
        conn: Connection,
        shutdown: &mut watch::Receiver<bool>,
    ) -> impl Future<Output = Result<SessionEnd, lapin::Error>> + Send;

    /// Called after every session that did not end in shutdown, and after every failed
    /// connect, before the wait: e.g. to say "not ready".
    fn down(&self);
}

/// A session that lasted this long was a success: the backoff starts again from its first delay.
const STABLE_SESSION: Duration = Duration::from_secs(30);

/// The waits between connection attempts: `reconnect_initial_ms`, doubling up to
/// `reconnect_max_ms`, each with up to 50 % random jitter so that many clients of one broker do
/// not reconnect in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    next_ms: u64,
}

impl Backoff {
    pub fn new(amqp: &AmqpSettings) -> Backoff {
        let initial_ms = amqp.reconnect_initial_ms.max(1);
        Backoff {
            initial_ms,
            max_ms: amqp.reconnect_max_ms.max(1),
            next_ms: initial_ms,
        }
    }

    /// Starts again from the first delay.
    pub fn reset(&mut self) {
        self.next_ms = self.initial_ms;
    }

    /// The next wait, jitter included.
    pub fn next_wait(&mut self) -> Duration {
        let delay = self.next_ms;
        self.next_ms = (delay * 2).min(self.max_ms);
        Duration::from_millis(delay + fastrand::u64(0..=delay / 2))
    }
}

/// Keeps a connection until `shutdown` turns true (or its sender is dropped): connects, lets
/// `session` serve it, and after a loss or a failed connect waits ([`Backoff`]) and connects
/// again.
pub async fn run<S: Session>(
    amqp: &AmqpSettings,
    session: &S,
    shutdown: &mut watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(amqp);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = Instant::now();
        let end = match connect(amqp, session.role()).await {
            Ok(conn) => session.serve(conn, shutdown).await,
            Err(e) => Err(e),
        };
        match end {
            Ok(SessionEnd::Shutdown) => return,
            Ok(SessionEnd::Lost(reason)) => warn!(%reason, "lost the broker"),
            Err(e) => warn!(error = %e, "cannot reach the broker"),
        }
        session.down();
        if started.elapsed() > STABLE_SESSION {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        info!(wait_ms = wait.as_millis() as u64, "reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_with_at_most_half_again_of_jitter() {
        let mut amqp = Settings::defaults().unwrap().amqp;
        amqp.reconnect_initial_ms = 100;
        amqp.reconnect_max_ms = 350;
        let mut b = Backoff::new(&amqp);
        for base in [100, 200, 350, 350] {
            let w = b.next_wait().as_millis() as u64;
            assert!((base..=base + base / 2).contains(&w), "{w} for {base}");
        }
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(150));
    }
}
