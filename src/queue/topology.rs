//! Declares the queues and exchanges of the wire contract. Every declaration is idempotent, so
//! every worker (and every reconnect) declares them again.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind, Queue};

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

pub async fn declare(channel: &Channel, cfg: &AmqpSettings) -> Result<(), lapin::Error> {
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
    channel
        .queue_declare(
            cfg.dead_letter_queue.as_str().into(),
            durable_queue,
            FieldTable::default(),
        )
        .await?;
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
    channel
        .queue_declare(
            cfg.results_queue.as_str().into(),
            durable_queue,
            FieldTable::default(),
        )
        .await?;
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
    Ok(())
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
