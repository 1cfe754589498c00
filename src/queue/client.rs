//! The enqueue client: publishes a job (confirmed) and optionally waits for its result on a
//! private reply queue. It is also the reference for producers in other services.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_lite::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};

use super::topology;
use crate::config::AmqpSettings;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker did not accept the job (nack or unroutable)")]
    NotAccepted,
    #[error("no result within {0:?}")]
    Timeout(Duration),
    #[error("the reply queue closed before the result arrived")]
    ReplyClosed,
}

#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    pub reference_number: Option<String>,
    /// A JWT; sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// Wait this long for the result; `None` returns after the broker confirmed the job.
    pub wait: Option<Duration>,
}

/// A result as the client sees it.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The `status-code` header; 0 when it is missing or unreadable.
    pub status: u16,
    pub headers: FieldTable,
    pub body: Vec<u8>,
}

impl Reply {
    /// Reads a result message (the properties of `envelope::result_properties`).
    pub fn from_delivery(props: &BasicProperties, body: Vec<u8>) -> Reply {
        let headers = props.headers().clone().unwrap_or_default();
        let status = headers
            .inner()
            .iter()
            .find(|(k, _)| k.as_str() == "status-code")
            .and_then(|(_, v)| match v {
                AMQPValue::LongInt(i) => u16::try_from(*i).ok(),
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).parse().ok(),
                _ => None,
            })
            .unwrap_or(0);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A text header of the result, e.g. `jobid`.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .inner()
            .iter()
            .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
            .and_then(|(_, v)| match v {
                AMQPValue::LongString(s) => {
                    Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                }
                AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
                _ => None,
            })
    }
}

/// Publishes one job body; returns its job id and, when asked to wait, the result.
pub async fn enqueue(
    amqp: &AmqpSettings,
    body: &[u8],
    opts: &JobOptions,
) -> Result<(String, Option<Reply>), ClientError> {
    let conn = Connection::connect(&amqp.url, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    // Declaring the topology makes sure the job is not published into nowhere when no worker
    // has started yet.
    topology::declare(&channel, amqp).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let job_id = uuid::Uuid::new_v4().to_string();

    let mut replies = None;
    let mut props = BasicProperties::default()
        .with_message_id(job_id.as_str().into())
        .with_correlation_id(job_id.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or(0));
    if opts.wait.is_some() {
        // A private, server-named queue that disappears with this connection.
        let q = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let consumer = channel
            .basic_consume(
                q.name().clone(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        props = props.with_reply_to(q.name().clone());
        replies = Some(consumer);
    }
    let mut headers = FieldTable::default();
    if let Some(r) = &opts.reference_number {
        headers.insert(
            ShortString::from("reference-number"),
            AMQPValue::LongString(r.as_str().into()),
        );
    }
    if let Some(t) = &opts.token {
        headers.insert(
            ShortString::from("authorization"),
            AMQPValue::LongString(format!("Bearer {t}").into()),
        );
    }
    if let Some(d) = opts.deadline {
        headers.insert(
            ShortString::from("deadline"),
            AMQPValue::LongString(d.to_rfc3339().into()),
        );
    }
    let props = props.with_headers(headers);
    let confirm = channel
        .basic_publish(
            "".into(),
            amqp.job_queue.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            props,
        )
        .await?
        .await?;
    // An unroutable mandatory message is acked *with* the returned message attached.
    if !matches!(confirm, lapin::Confirmation::Ack(None)) {
        return Err(ClientError::NotAccepted);
    }
    let Some(mut consumer) = replies else {
        let _ = conn.close(200, "done".into()).await;
        return Ok((job_id, None));
    };
    let wait = opts.wait.unwrap_or_default();
    let reply = tokio::time::timeout(wait, async {
        while let Some(d) = consumer.next().await {
            let d = d?;
            let matches =
                d.properties.correlation_id().as_ref().map(|c| c.as_str()) == Some(job_id.as_str());
            if !matches {
                continue;
            }
            return Ok(Reply::from_delivery(&d.properties, d.data));
        }
        Err(ClientError::ReplyClosed)
    })
    .await
    .map_err(|_| ClientError::Timeout(wait))??;
    let _ = conn.close(200, "done".into()).await;
    Ok((job_id, Some(reply)))
}
