//! The channel a worker publishes its results on, replaced by a new one when the broker
//! refuses a result.
//!
//! Why: in `tests/cluster.rs`, with the node the worker was connected to stopped mid-burst, the
//! worker went on to the next node at once, but RabbitMQ 3.10.8 refused (nacked) every result it
//! published there for the whole two minutes of the test, on every retry, although the results
//! queue had a new leader within seconds and the test's own channels published to it. A channel
//! keeps its own view of where a quorum queue's leader is; one opened later looks it up afresh.
//! So a refused result is published again on a new channel, and the channel it was refused on
//! is closed once the results still waiting for their confirms on it have had time to get them.

use std::sync::Arc;
use std::time::Duration;

use lapin::{Channel, Connection};
use tokio::sync::Mutex;
use tracing::warn;

use super::confirm_channel;

/// How long a replaced channel stays open for the confirms still due on it.
const CLOSE_REPLACED_AFTER: Duration = Duration::from_secs(10);

/// The worker's result channel, in confirm mode, shared by its jobs.
pub struct ResultChannel {
    conn: Arc<Connection>,
    current: Mutex<Channel>,
}

impl ResultChannel {
    /// Opens the first channel on `conn`.
    pub async fn open(conn: Arc<Connection>) -> Result<ResultChannel, lapin::Error> {
        let channel = confirm_channel(&conn).await?;
        Ok(ResultChannel {
            conn,
            current: Mutex::new(channel),
        })
    }

    /// The channel to publish on now.
    pub async fn get(&self) -> Channel {
        self.current.lock().await.clone()
    }

    /// The channel to publish on after `refused` refused a result: a new one, unless another
    /// job has already replaced `refused`, whose replacement is then returned.
    pub async fn renew(&self, refused: &Channel) -> Result<Channel, lapin::Error> {
        let mut current = self.current.lock().await;
        if current.id() == refused.id() {
            let fresh = confirm_channel(&self.conn).await?;
            warn!(
                refused = refused.id(),
                new = fresh.id(),
                "the broker refused a result: results go out on a new channel"
            );
            let old = std::mem::replace(&mut *current, fresh);
            tokio::spawn(async move {
                tokio::time::sleep(CLOSE_REPLACED_AFTER).await;
                let _ = old.close(200, "replaced".into()).await;
            });
        }
        Ok(current.clone())
    }
}
