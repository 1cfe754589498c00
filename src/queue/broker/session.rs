//! The connection to the broker, and the loop that keeps one: connect, serve a session until it
//! ends, and after a loss connect again, waiting a capped exponential backoff with jitter in
//! between. The worker and the gateway run their sessions through [`run`]; the enqueue client
//! and the load test, which live for one job or one run, call [`connect`] once.
//!
//! [`connect`] is the one place where a connection is opened: it takes the first broker of the
//! configured list (the nodes of one cluster) that answers, and [`run`]'s backoff spaces the
//! rounds of attempts.

use std::future::Future;
use std::time::Duration;

use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::AmqpSettings;

/// How long one broker of the list may take to accept a connection before the next is tried:
/// a node that is down refuses at once, but one cut off by the network would hold the attempt
/// for the operating system's TCP timeout (minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The broker URLs of `[amqp] url`: one, or several separated by commas (the nodes of one
/// cluster), in the order given. A comma cannot occur inside an AMQP URL unencoded (`%2C`).
pub fn broker_urls(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// The URL without its password, for the logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Opens a connection to the first broker of `[amqp] url` that answers, trying them in order,
/// named `liveness <role> pid <pid> (<job queue>)` as the management UI and
/// `rabbitmqctl list_connections` show it.
pub async fn connect(amqp: &AmqpSettings, role: &str) -> Result<Connection, lapin::Error> {
    connect_from(amqp, role, 0).await.map(|(conn, _)| conn)
}

/// A new channel on `conn` in confirm mode: every publish on it is confirmed (or refused) by
/// the broker, which is what lets a job be acked only after its result is safe.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, lapin::Error> {
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// Like [`connect`], but the round of attempts starts at the broker of index `first` (modulo
/// the list) and goes round the list once; returns the connection and the index of the broker
/// that took it. After a loss, [`run`] starts at the broker after the one it lost, so a worker
/// whose node went down goes on to the next node of the cluster, where the quorum queue lives
/// on, instead of first knocking again at a node that may still be shutting down.
async fn connect_from(
    amqp: &AmqpSettings,
    role: &str,
    first: usize,
) -> Result<(Connection, usize), lapin::Error> {
    let name = format!(
        "liveness {role} pid {} ({})",
        std::process::id(),
        amqp.job_queue
    );
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let urls = broker_urls(&amqp.url);
    let mut last_error = None;
    for index in (0..urls.len()).map(|k| (first + k) % urls.len()) {
        let url = urls[index];
        let error = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(url, properties.clone()),
        )
        .await
        {
            Ok(Ok(conn)) => {
                if urls.len() > 1 {
                    info!(broker = %redacted(url), "connected");
                }
                return Ok((conn, index));
            }
            Ok(Err(e)) => e,
            Err(_) => lapin::Error::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )),
        };
        if urls.len() > 1 {
            warn!(broker = %redacted(url), %error, "cannot connect; trying the next broker");
        }
        last_error = Some(error);
    }
    Err(last_error.unwrap_or_else(|| {
        lapin::Error::from(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "[amqp] url names no broker",
        ))
    }))
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
    // Where the next round of connection attempts starts in the broker list.
    let mut first = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = Instant::now();
        let end = match connect_from(amqp, session.role(), first).await {
            Ok((conn, index)) => {
                // Whatever ends this session, the next round begins with the next broker.
                first = index + 1;
                session.serve(conn, shutdown).await
            }
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
    fn several_brokers_are_separated_by_commas_in_order() {
        assert_eq!(
            broker_urls("amqp://a:5672/%2f, amqp://b:5672/%2f,,amqp://c/%2f"),
            ["amqp://a:5672/%2f", "amqp://b:5672/%2f", "amqp://c/%2f"]
        );
        assert_eq!(
            broker_urls("amqp://guest:guest@127.0.0.1:5672/%2f").len(),
            1
        );
        assert!(broker_urls(" , ").is_empty());
    }

    #[test]
    fn logs_do_not_show_the_password() {
        assert_eq!(
            redacted("amqp://user:s3cret@node-2:5672/%2f"),
            "amqp://user:***@node-2:5672/%2f"
        );
        assert_eq!(redacted("amqp://node-2:5672/%2f"), "amqp://node-2:5672/%2f");
    }

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
