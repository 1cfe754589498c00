//! Declares the queues and exchanges of the wire contract. Every declaration is idempotent, so
//! every worker (and every reconnect) declares them again.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ExchangeKind, Queue};
use tracing::warn;

use crate::config::AmqpSettings;

/// Arguments of the job queue: a quorum queue (replicated, and it counts deliveries) whose
/// messages go to the dead-letter exchange after `delivery_limit` failed deliveries, e.g. a
/// job that kills every worker that takes it.
pub fn job_queue_arguments(cfg: &AmqpSettings) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongInt(i32::try_from(cfg.delivery_limit).unwrap_or(i32::MAX)),
    );
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(cfg.dead_letter_exchange.as_str().into()),
    );
    args
}

/// Arguments of the results and dead-letter queues: quorum queues too, so that in a cluster
/// they survive the loss of the node they were declared on. A classic queue lives on one node:
/// while that node is down, results routed to it are dropped although the broker confirms
/// them, and a job acked after that confirm would be lost.
pub fn replicated_queue_arguments() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

/// Declares the topology on channels of its own (a refused declaration closes its channel).
pub async fn declare(conn: &Connection, cfg: &AmqpSettings) -> Result<(), lapin::Error> {
    let channel = conn.create_channel().await?;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            cfg.dead_letter_exchange.as_str().into(),
            ExchangeKind::Fanout,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    declare_replicated(conn, &channel, &cfg.dead_letter_queue).await?;
    let channel = conn.create_channel().await?;
    channel
        .queue_bind(
            cfg.dead_letter_queue.as_str().into(),
            cfg.dead_letter_exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            cfg.job_queue.as_str().into(),
            durable_queue,
            job_queue_arguments(cfg),
        )
        .await?;
    channel
        .exchange_declare(
            cfg.results_exchange.as_str().into(),
            ExchangeKind::Topic,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    declare_replicated(conn, &channel, &cfg.results_queue).await?;
    let channel = conn.create_channel().await?;
    // Every status code goes to the bookkeeping queue.
    channel
        .queue_bind(
            cfg.results_queue.as_str().into(),
            cfg.results_exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}

/// Declares `queue` as a durable quorum queue ([`replicated_queue_arguments`]) on `channel`.
/// A queue of that name declared otherwise before (a classic queue, as earlier versions of
/// this service declared the results and dead-letter queues) makes the broker refuse with
/// `PRECONDITION_FAILED` and close `channel`: then the existing queue is kept, checked by a
/// passive declaration, and a warning says it is not replicated. Deleting it while it is empty
/// lets the next worker declare it replicated.
async fn declare_replicated(
    conn: &Connection,
    channel: &Channel,
    queue: &str,
) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    match channel
        .queue_declare(queue.into(), durable, replicated_queue_arguments())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if refused_as_different(&e) => {
            let check = conn.create_channel().await?;
            inspect(&check, queue).await?;
            let _ = check.close(200, "checked".into()).await;
            warn!(
                %queue,
                "the queue exists with other arguments (a classic queue?): kept as it is, but \
                 it is not replicated, so in a cluster what it holds is unavailable while its \
                 node is down; delete it while it is empty to have it declared as a quorum queue"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The broker's `PRECONDITION_FAILED` (406): a queue of that name exists with other arguments.
fn refused_as_different(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.get_id() == 406)
}

/// Deletes the queues and exchanges of `cfg`, best effort: for private topologies (load tests,
/// integration tests) that must not outlive their run. Never call it on a production topology:
/// it drops the jobs and results still queued.
pub async fn remove(channel: &Channel, cfg: &AmqpSettings) {
    for q in [&cfg.job_queue, &cfg.dead_letter_queue, &cfg.results_queue] {
        let _ = channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for x in [&cfg.results_exchange, &cfg.dead_letter_exchange] {
        let _ = channel
            .exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
}

/// A queue's message and consumer counts, by a passive declare (which creates nothing; the
/// broker closes the channel with an error when the queue does not exist).
pub async fn inspect(channel: &Channel, queue: &str) -> Result<Queue, lapin::Error> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
}
