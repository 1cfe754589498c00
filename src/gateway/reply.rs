//! The gateway's side of the broker: one long-lived connection with one channel that publishes
//! the jobs (confirmed) and receives their results on a reply queue of the connection's own
//! (server-named, exclusive: deleted with the connection), so no queue is declared per request.
//!
//! Not RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`), which it used before: in a cluster,
//! when the gateway's node goes down, a worker answering one of its jobs would publish to a
//! direct reply-to address on a node that is down, and RabbitMQ (3.10) then closes the
//! *worker's* connection with `INTERNAL_ERROR`, with every other job it had in flight (see
//! `queue::broker::DirectReplies`). A result for an exclusive queue that is gone is merely
//! unroutable, and dropped.
//!
//! A background task ([`Broker::run`]) owns the connection: it consumes the replies and hands
//! each to the request that waits for it, by correlation id, through a oneshot channel. When the
//! connection dies, every waiting request fails at once (503) and the task reconnects with
//! backoff; meanwhile new requests are refused at once (503).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::{Channel, Connection};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::AmqpSettings;
use crate::queue::broker::{
    self, Job, Reply, SessionEnd, accepted, consume_private_results, publish_job,
};

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

/// The live connection: the channel jobs are published on and replies arrive on, the reply
/// queue's name, and the connection itself (for the probe channel of
/// [`Broker::consumer_count`]).
#[derive(Clone)]
struct Session {
    conn: Arc<Connection>,
    channel: Channel,
    reply_queue: Arc<str>,
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
    /// first means a result that comes back fast is never missed. The result comes back on the
    /// session's reply queue, whatever `job.reply_to` says.
    pub async fn submit(&self, job: &Job<'_>) -> Result<Pending<'_>, BrokerError> {
        let session = self.current()?;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(job.id.to_string(), tx);
        let pending = Pending {
            broker: self,
            id: job.id.to_string(),
            rx,
        };
        let job = Job {
            reply_to: Some(&session.reply_queue),
            ..*job
        };
        let confirm = publish_job(&session.channel, &self.amqp.job_queue, &job)
            .await?
            .await?;
        if !accepted(&confirm) {
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
        broker::session::run(&self.amqp, &*self, &mut shutdown).await;
        self.disconnect();
    }
}

impl broker::Session for Broker {
    fn role(&self) -> &'static str {
        "gateway"
    }

    fn down(&self) {
        self.disconnect();
    }

    async fn serve(
        &self,
        conn: Connection,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<SessionEnd, lapin::Error> {
        let conn = Arc::new(conn);
        let channel = broker::confirm_channel(&conn).await?;
        let (reply_queue, mut replies) = consume_private_results(&channel).await?;
        let reply_queue: Arc<str> = reply_queue.into();
        *lock(&self.session) = Some(Session {
            conn: conn.clone(),
            channel,
            reply_queue,
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
