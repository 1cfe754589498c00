//! The gateway's side of the broker: one long-lived connection with one channel that publishes
//! the jobs (confirmed) and receives their results through RabbitMQ's direct reply-to
//! (`amq.rabbitmq.reply-to`), so no reply queue is declared per request or per gateway.
//!
//! A background task ([`Broker::run`]) owns the connection: it consumes the replies and hands
//! each to the request that waits for it, by correlation id, through a oneshot channel. When the
//! connection dies, every waiting request fails at once (503) and the task reconnects with
//! backoff; meanwhile new requests are refused at once (503).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::AmqpSettings;
use crate::queue::client::Reply;

/// The pseudo-queue of direct reply-to: consumed (no-ack) before the first publish, named in
/// `reply_to` of every job; the broker routes the result straight to this channel.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("the gateway is not connected to the broker")]
    Disconnected,
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker did not accept the job (nack or unroutable)")]
    NotAccepted,
    #[error("the connection to the broker was lost before the result arrived")]
    Lost,
}

/// What a job carries besides its body (the wire contract's job headers).
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// `message_id` and `correlation_id`.
    pub id: &'a str,
    pub body: &'a [u8],
    pub reference_number: Option<&'a str>,
    /// The request's `Authorization` header, forwarded so that the worker checks it too.
    pub authorization: Option<&'a str>,
    pub deadline: DateTime<Utc>,
}

/// The live connection: the channel jobs are published on and replies arrive on, and the
/// connection itself (for the probe channel of [`Broker::consumer_count`]).
#[derive(Clone)]
struct Session {
    conn: Arc<Connection>,
    channel: Channel,
}

/// The consumer count of the job queue as last seen, and the channel used to look. The look
/// gets its own channel because a passive declare of a missing queue closes the channel.
#[derive(Default)]
struct ConsumerCache {
    seen: Option<(Instant, u32)>,
    probe: Option<Channel>,
}

type PendingMap = HashMap<String, oneshot::Sender<Reply>>;

pub struct Broker {
    amqp: AmqpSettings,
    consumer_check: Duration,
    session: Mutex<Option<Session>>,
    connected: watch::Sender<bool>,
    pending: Mutex<PendingMap>,
    /// A tokio mutex: concurrent requests wait for one look at the queue instead of each
    /// asking the broker.
    consumers: tokio::sync::Mutex<ConsumerCache>,
}

/// Locks a std mutex; a panic while holding it cannot leave these maps inconsistent (every
/// critical section is a single insert, remove or replace), so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A published job waiting for its result. Dropping it (the request finished, or the client
/// went away and axum dropped the handler) removes its entry, so a late result is discarded.
pub struct Pending<'a> {
    broker: &'a Broker,
    id: String,
    rx: oneshot::Receiver<Reply>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        lock(&self.broker.pending).remove(&self.id);
    }
}

impl Pending<'_> {
    /// The result, or `Ok(None)` when `until` passed first.
    pub async fn wait(&mut self, until: Instant) -> Result<Option<Reply>, BrokerError> {
        match tokio::time::timeout_at(until, &mut self.rx).await {
            Ok(Ok(reply)) => Ok(Some(reply)),
            // The sender is dropped only when the connection is lost.
            Ok(Err(_)) => Err(BrokerError::Lost),
            Err(_) => Ok(None),
        }
    }
}

/// How a session with the broker ended.
enum SessionEnd {
    Shutdown,
    Lost(String),
}

impl Broker {
    pub fn new(amqp: AmqpSettings, consumer_check: Duration) -> Arc<Broker> {
        Arc::new(Broker {
            amqp,
            consumer_check,
            session: Mutex::new(None),
            connected: watch::Sender::new(false),
            pending: Mutex::new(HashMap::new()),
            consumers: tokio::sync::Mutex::new(ConsumerCache::default()),
        })
    }

    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Follows the connection state (true while connected), e.g. for a health service.
    pub fn watch_connected(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }

    /// Waits until connected; false when `timeout` passed first.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.connected.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Requests waiting for a result.
    pub fn pending_count(&self) -> usize {
        lock(&self.pending).len()
    }

    pub fn job_queue(&self) -> &str {
        &self.amqp.job_queue
    }

    fn current(&self) -> Result<Session, BrokerError> {
        lock(&self.session).clone().ok_or(BrokerError::Disconnected)
    }

    /// Consumers of the job queue (0 when the queue does not exist), seen at most
    /// `consumer_check` ago unless `fresh`.
    pub async fn consumer_count(&self, fresh: bool) -> Result<u32, BrokerError> {
        let mut cache = self.consumers.lock().await;
        if !fresh
            && let Some((at, count)) = cache.seen
            && at.elapsed() < self.consumer_check
        {
            return Ok(count);
        }
        let session = self.current()?;
        let probe = match cache.probe.take().filter(|c| c.status().connected()) {
            Some(c) => c,
            None => session.conn.create_channel().await?,
        };
        let count = match crate::queue::topology::inspect(&probe, &self.amqp.job_queue).await {
            Ok(q) => {
                cache.probe = Some(probe);
                q.consumer_count()
            }
            // The broker closes the channel: the queue does not exist, so nobody consumes it.
            // A dead connection also ends here; the session check below tells them apart.
            Err(e) => {
                debug!(error = %e, "passive declare of the job queue failed");
                self.current()?;
                0
            }
        };
        cache.seen = Some((Instant::now(), count));
        Ok(count)
    }

    /// Registers the job, then publishes it and waits for the broker's confirm. Registering
    /// first means a result that comes back fast is never missed.
    pub async fn submit(&self, job: &Job<'_>) -> Result<Pending<'_>, BrokerError> {
        let session = self.current()?;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(job.id.to_string(), tx);
        let pending = Pending {
            broker: self,
            id: job.id.to_string(),
            rx,
        };
        let confirm = session
            .channel
            .basic_publish(
                "".into(),
                self.amqp.job_queue.as_str().into(),
                // Mandatory: a job queue that does not exist returns the job instead of
                // swallowing it.
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                job.body,
                job_properties(job),
            )
            .await?
            .await?;
        // An unroutable mandatory message is acked *with* the returned message attached.
        if !matches!(confirm, lapin::Confirmation::Ack(None)) {
            return Err(BrokerError::NotAccepted);
        }
        Ok(pending)
    }

    fn dispatch(&self, delivery: Delivery) {
        let id = delivery
            .properties
            .correlation_id()
            .as_ref()
            .map(|c| c.as_str().to_string());
        let waiting = id.as_ref().and_then(|id| lock(&self.pending).remove(id));
        match waiting {
            Some(tx) => {
                let _ = tx.send(Reply::from_delivery(&delivery.properties, delivery.data));
            }
            // Its request finished already (deadline or client gone): nobody to answer.
            None => debug!(correlation_id = ?id, "a result nobody waits for any more"),
        }
    }

    /// Forgets the session and fails every waiting request (their senders are dropped).
    fn disconnect(&self) {
        self.connected.send_replace(false);
        *lock(&self.session) = None;
        let failed = std::mem::take(&mut *lock(&self.pending));
        if !failed.is_empty() {
            warn!(
                requests = failed.len(),
                "broker connection lost with requests waiting"
            );
        }
    }

    /// Keeps a connection until `shutdown` turns true (or its sender is dropped): reconnects
    /// with capped exponential backoff and jitter, like the worker.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let initial = self.amqp.reconnect_initial_ms.max(1);
        let mut delay = initial;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let started = Instant::now();
            match self.serve_session(&mut shutdown).await {
                Ok(SessionEnd::Shutdown) => break,
                Ok(SessionEnd::Lost(reason)) => warn!(%reason, "lost the broker"),
                Err(e) => warn!(error = %e, "cannot reach the broker"),
            }
            self.disconnect();
            if started.elapsed() > Duration::from_secs(30) {
                delay = initial;
            }
            let wait = Duration::from_millis(delay + fastrand::u64(0..=delay / 2));
            info!(wait_ms = wait.as_millis() as u64, "reconnecting");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
            delay = (delay * 2).min(self.amqp.reconnect_max_ms.max(1));
        }
        self.disconnect();
    }

    async fn serve_session(
        &self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<SessionEnd, lapin::Error> {
        let name = format!(
            "liveness gateway pid {} ({})",
            std::process::id(),
            self.amqp.job_queue
        );
        let conn = Arc::new(
            Connection::connect(
                &self.amqp.url,
                ConnectionProperties::default().with_connection_name(name.into()),
            )
            .await?,
        );
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        // Direct reply-to requires the consumer to exist, with no-ack, before any publish
        // that names it.
        let mut replies = channel
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        *lock(&self.session) = Some(Session {
            conn: conn.clone(),
            channel,
        });
        *self.consumers.lock().await = ConsumerCache::default();
        self.connected.send_replace(true);
        info!(queue = %self.amqp.job_queue, "connected to the broker");
        let end = loop {
            tokio::select! {
                _ = shutdown.changed() => break SessionEnd::Shutdown,
                next = replies.next() => match next {
                    Some(Ok(d)) => self.dispatch(d),
                    Some(Err(e)) => break SessionEnd::Lost(e.to_string()),
                    None => break SessionEnd::Lost("the broker cancelled the reply consumer".into()),
                },
            }
        };
        self.disconnect();
        let _ = conn.close(200, "gateway session over".into()).await;
        Ok(end)
    }
}

/// Properties of a job: the wire contract's, with the reply coming back by direct reply-to.
fn job_properties(job: &Job<'_>) -> BasicProperties {
    let mut headers = FieldTable::default();
    let text = |v: &str| AMQPValue::LongString(v.into());
    headers.insert(
        ShortString::from("deadline"),
        text(&job.deadline.to_rfc3339()),
    );
    if let Some(r) = job.reference_number {
        headers.insert(ShortString::from("reference-number"), text(r));
    }
    if let Some(a) = job.authorization {
        headers.insert(ShortString::from("authorization"), text(a));
    }
    BasicProperties::default()
        .with_message_id(job.id.into())
        .with_correlation_id(job.id.into())
        .with_reply_to(DIRECT_REPLY_TO.into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or(0))
        .with_headers(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::envelope::JobMeta;

    #[test]
    fn the_worker_reads_what_the_gateway_writes() {
        let deadline = Utc::now() + chrono::Duration::seconds(30);
        let job = Job {
            id: "0b6f8a4e-55b5-4a43-9d2f-4b2f1e7b0c11",
            body: b"{}",
            reference_number: Some("REF-1"),
            authorization: Some("Bearer abc"),
            deadline,
        };
        let meta = JobMeta::from_delivery(&job_properties(&job), job.body);
        assert_eq!(meta.job_id, job.id);
        assert_eq!(meta.correlation_id.as_deref(), Some(job.id));
        assert_eq!(meta.reply_to.as_deref(), Some(DIRECT_REPLY_TO));
        assert_eq!(meta.reference_number.as_deref(), Some("REF-1"));
        assert_eq!(meta.authorization.as_deref(), Some("Bearer abc"));
        let read = meta.deadline.expect("a deadline").expect("readable");
        assert_eq!(read.timestamp_millis(), deadline.timestamp_millis());
    }
}
