//! The consume loop: connect, declare, consume with manual acks, answer every job, and come back
//! after losing the broker. Shutdown drains: every job received gets its result before exit.
//!
//! Order of steps for one job, and why: score → publish the result → wait for the broker's
//! confirm → ack the job. Acking only after the confirm means a crash at any point leaves the
//! job unacked, so the broker redelivers it (at-least-once; duplicates carry the same `jobid`).
//! The acks themselves go out a few at a time ([`super::acks`]).

use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};

use super::acks::Acks;
use super::broker::{
    self, DirectReplies, JobMeta, PublishError, ResultChannel, Session, SessionEnd, publish_result,
};
use super::job::JobContext;
use super::topology;
use crate::config::{AmqpSettings, WorkerSettings};

/// The pauses between publishes of a result the broker refused: doubling from the first to
/// the longest, within `[amqp] result_retry_seconds`.
const RESULT_RETRY_FIRST_PAUSE: Duration = Duration::from_millis(250);
const RESULT_RETRY_MAX_PAUSE: Duration = Duration::from_secs(4);

/// Answers one delivery: handle, publish confirmed, then ack.
async fn process(
    mut delivery: Delivery,
    acks: Arc<Acks>,
    results: Arc<ResultChannel>,
    direct: Arc<DirectReplies>,
    amqp: Arc<AmqpSettings>,
    ctx: Arc<JobContext>,
) {
    let meta = JobMeta::from_delivery(&delivery.properties, &delivery.data);
    let span = info_span!(
        "job",
        jobid = %meta.job_id,
        reference_number = meta.reference_number.as_deref().unwrap_or(""),
        redelivered = delivery.redelivered,
    );
    async move {
        // Logged at debug: the shutdown test checks that every job received was answered.
        debug!("job received");
        ctx.metrics.in_flight.inc();
        let body = std::mem::take(&mut delivery.data);
        let result = ctx.handle(&meta, body).await;
        let publish = |channel: Channel| {
            let (direct, amqp, meta, result) = (&direct, &amqp, &meta, &result);
            async move { publish_result(&channel, direct, amqp, meta, result).await }
        };
        // A refused result is published again after a pause before the job is given back:
        // the broker refuses while a quorum queue the result goes to has no leader, which lasts
        // as long as an election (14 s was seen with a node stopped on a loaded machine), and a
        // job requeued at once would spend its delivery limit in that time and be
        // dead-lettered unanswered. Each retry goes out on a new channel ([`ResultChannel`]):
        // a channel that kept refusing after the election was seen.
        let mut channel = results.get().await;
        let mut published = publish(channel.clone()).await;
        let retry_until = Instant::now() + Duration::from_secs(amqp.result_retry_seconds);
        let mut pause = RESULT_RETRY_FIRST_PAUSE;
        while matches!(published, Err(PublishError::Nacked)) && Instant::now() + pause < retry_until
        {
            warn!(
                retry_in_ms = pause.as_millis() as u64,
                "the broker refused the result; publishing it again"
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RESULT_RETRY_MAX_PAUSE);
            match results.renew(&channel).await {
                Ok(fresh) => channel = fresh,
                Err(e) => warn!(error = %e, "no new channel for the result; the old one is used"),
            }
            published = publish(channel.clone()).await;
        }
        match published {
            Ok(()) => {
                if let Err(e) = acks.confirmed(delivery.delivery_tag).await {
                    // The result is out; the broker will redeliver and a duplicate follows.
                    warn!(error = %e, "result confirmed but the ack failed; the job will be answered again");
                }
                let start = meta.published_at.unwrap_or(meta.received_at);
                let elapsed = (chrono::Utc::now() - start).to_std().unwrap_or_default();
                ctx.metrics.job_seconds.observe(elapsed.as_secs_f64());
                ctx.metrics.jobs.with_label_values(&[&result.status.to_string()]).inc();
                info!(status = result.status, "job answered");
            }
            Err(PublishError::Nacked) => {
                // Requeue: the retry counts against the delivery limit, so it cannot loop forever.
                warn!("the broker kept refusing the result; requeueing the job");
                if let Err(e) = acks.requeue(delivery.delivery_tag).await {
                    warn!(error = %e, "cannot requeue the job; the broker will redeliver it");
                }
            }
            Err(e) => {
                warn!(error = %e, "result not confirmed; the job stays unacked and the broker will redeliver it");
                if let Err(e) = acks.leave(delivery.delivery_tag).await {
                    warn!(error = %e, "acks of other jobs failed; they will be answered again");
                }
            }
        }
        ctx.metrics.in_flight.dec();
    }
    .instrument(span)
    .await
}

pub struct Worker {
    pub amqp: Arc<AmqpSettings>,
    pub worker: WorkerSettings,
    pub ctx: Arc<JobContext>,
}

impl Worker {
    /// The configured prefetch, or else twice the scoring threads (so that a thread never
    /// waits for the network between two jobs) plus the confirmed jobs that may wait for their
    /// ack ([`Acks`]).
    fn prefetch(&self) -> u16 {
        if self.amqp.prefetch > 0 {
            self.amqp.prefetch
        } else {
            let waiting = self.amqp.ack_batch() - 1;
            u16::try_from(self.worker.threads() * 2 + waiting).unwrap_or(u16::MAX)
        }
    }

    /// Runs until `shutdown` turns true: reconnects with capped exponential backoff and
    /// jitter whenever the broker goes away.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        broker::session::run(&self.amqp, self, &mut shutdown).await;
    }
}

impl Session for Worker {
    fn role(&self) -> &'static str {
        "worker"
    }

    fn down(&self) {
        self.ctx.metrics.set_ready(false);
    }

    async fn serve(
        &self,
        conn: Connection,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<SessionEnd, lapin::Error> {
        let conn = Arc::new(conn);
        let consume = conn.create_channel().await?;
        let results = Arc::new(ResultChannel::open(conn.clone()).await?);
        topology::declare(&conn, &self.amqp).await?;
        consume
            .basic_qos(self.prefetch(), BasicQosOptions::default())
            .await?;
        let tag = format!(
            "liveness-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let mut consumer = consume
            .basic_consume(
                self.amqp.job_queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.ctx.metrics.set_ready(true);
        info!(queue = %self.amqp.job_queue, prefetch = self.prefetch(), "consuming");
        let mut tasks = JoinSet::new();
        let direct = Arc::new(DirectReplies::new(&self.amqp));
        let acks = Arc::new(Acks::new(consume.clone(), self.amqp.ack_batch()));
        let spawn = async |tasks: &mut JoinSet<()>, d: Delivery| {
            // Recorded before the job starts: no batched ack may cover a job being scored.
            acks.received(d.delivery_tag).await;
            tasks.spawn(process(
                d,
                acks.clone(),
                results.clone(),
                direct.clone(),
                self.amqp.clone(),
                self.ctx.clone(),
            ));
        };
        let lost = loop {
            tokio::select! {
                _ = shutdown.changed() => break None,
                next = consumer.next() => match next {
                    Some(Ok(d)) => spawn(&mut tasks, d).await,
                    Some(Err(e)) => break Some(e.to_string()),
                    None => break Some("the broker cancelled the consumer".to_string()),
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        };
        self.ctx.metrics.set_ready(false);
        if let Some(reason) = lost {
            // Unacked jobs of this connection go back to the queue when it closes; the
            // tasks still running cannot ack them any more, so they are stopped.
            tasks.abort_all();
            direct.close().await;
            let _ = conn.close(320, "connection lost".into()).await;
            return Ok(SessionEnd::Lost(reason));
        }
        // Shutdown: no new deliveries, but everything the broker already sent is answered.
        info!(in_flight = tasks.len(), "shutting down: draining");
        let deadline = Instant::now() + Duration::from_secs(self.worker.drain_seconds);
        let _ = consume
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        while let Ok(Some(Ok(d))) = tokio::time::timeout_at(deadline, consumer.next()).await {
            spawn(&mut tasks, d).await;
        }
        while let Ok(Some(_)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {}
        // Every answered job is acked before the connection closes (the last one to finish
        // has already sent them; this covers a drain cut short by its deadline).
        if let Err(e) = acks.flush().await {
            warn!(error = %e, "acks failed; the answered jobs will be answered again");
        }
        if !tasks.is_empty() {
            warn!(
                unfinished = tasks.len(),
                "drain time over; unfinished jobs will be redelivered"
            );
            tasks.abort_all();
        }
        direct.close().await;
        let _ = conn.close(200, "shutdown".into()).await;
        info!("stopped");
        Ok(SessionEnd::Shutdown)
    }
}
