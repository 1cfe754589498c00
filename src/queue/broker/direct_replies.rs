//! Results for direct reply-to addresses (`amq.rabbitmq.reply-to.*`, what the gateway waits
//! on), sent on a connection of their own, best effort.
//!
//! Why apart: RabbitMQ (seen with 3.10) crashes the publishing channel, and so closes the whole
//! connection with `541 INTERNAL_ERROR`, when a direct reply-to address names a channel on a
//! cluster node that is down (`rabbit_channel:deliver_reply` finds no running node for it). A
//! gateway's node going down would otherwise turn every job that gateway had enqueued into a
//! poison job: each, when answered, would kill the worker's connection with the other jobs in
//! flight, and come back until it was dead-lettered, unanswered. Such a reply cannot reach
//! anyone anyway (the gateway already answered its client 503 when it lost its channel). So
//! these replies go out on a separate connection, whose loss costs that reply only; the job's
//! result is still confirmed on the results exchange before the job is acked.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use super::{DIRECT_REPLY_TO, confirm_channel, connect};
use crate::config::AmqpSettings;

/// How long a reply's confirm is waited for: a reply is never worth holding a job's ack.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `reply_to` is a direct reply-to address.
pub fn is_direct_reply_to(reply_to: &str) -> bool {
    reply_to.starts_with(DIRECT_REPLY_TO)
}

/// The connection for direct replies, opened on the first one and again after a loss.
pub struct DirectReplies {
    amqp: AmqpSettings,
    open: Mutex<Option<(Connection, Channel)>>,
}

impl DirectReplies {
    pub fn new(amqp: &AmqpSettings) -> DirectReplies {
        DirectReplies {
            amqp: amqp.clone(),
            open: Mutex::new(None),
        }
    }

    /// A channel in confirm mode on the connection, opening it when there is none (or the last
    /// one was lost).
    async fn channel(&self) -> Result<Channel, lapin::Error> {
        let mut open = self.open.lock().await;
        if let Some((conn, channel)) = open.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        *open = None;
        let conn = connect(&self.amqp, "replies").await?;
        let channel = confirm_channel(&conn).await?;
        *open = Some((conn, channel.clone()));
        Ok(channel)
    }

    /// Sends one reply and waits (a bounded time) for its confirm. A failure is logged, never
    /// returned: the result is on the results exchange whatever happens here. A reply lost with
    /// its connection is sent once more on a new one: the connection may have been closed by
    /// another reply's dead address, not by this one's.
    pub async fn send(&self, reply_to: &str, props: BasicProperties, body: &[u8]) {
        for attempt in 1..=2 {
            let sent = async {
                let channel = self.channel().await?;
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        reply_to.into(),
                        BasicPublishOptions::default(),
                        body,
                        props.clone(),
                    )
                    .await?;
                confirm.await.map(|_| ())
            };
            match tokio::time::timeout(CONFIRM_TIMEOUT, sent).await {
                Ok(Ok(())) => return,
                Ok(Err(error)) if attempt == 1 => {
                    debug!(%error, reply_to, "direct reply lost with its connection; once more");
                }
                Ok(Err(error)) => {
                    warn!(%error, reply_to, "the direct reply was not delivered (the result is on the results exchange)");
                }
                Err(_) => {
                    warn!(
                        reply_to,
                        "the direct reply was not confirmed in time (the result is on the results exchange)"
                    );
                    return;
                }
            }
        }
    }

    /// Closes the connection, if one is open.
    pub async fn close(&self) {
        if let Some((conn, _)) = self.open.lock().await.take() {
            let _ = conn.close(200, "session over".into()).await;
        }
    }
}
