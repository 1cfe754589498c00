//! The result message: its properties as the worker writes them ([`result_properties`]), how
//! it is published ([`publish_result`]), and how the gateway, the enqueue client and the load
//! test read it ([`Reply`]).

use chrono::{DateTime, Utc};
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Consumer};

use super::direct_replies::{DirectReplies, is_direct_reply_to};
use super::job_message::JobMeta;
use super::{CONTENT_TYPE, PERSISTENT, as_text, find, header, put_text, timestamp_now};
use crate::config::AmqpSettings;

/// The answer to one job: an HTTP-like status code and a JSON body.
#[derive(Debug, Clone)]
pub struct JobResult {
    pub status: u16,
    pub body: Vec<u8>,
}

/// RFC 1123 date, as in HTTP `Date` headers.
pub fn rfc1123(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Properties of a result message: persistent JSON with the BWS response headers.
pub fn result_properties(meta: &JobMeta, result: &JobResult) -> BasicProperties {
    let mut headers = FieldTable::default();
    put_text(&mut headers, header::JOBID, &meta.job_id);
    put_text(&mut headers, header::BWS_VERSION, env!("CARGO_PKG_VERSION"));
    if let Some(r) = &meta.reference_number {
        put_text(&mut headers, header::REFERENCE_NUMBER, r);
    }
    put_text(&mut headers, header::DATE, &rfc1123(meta.received_at));
    headers.insert(
        ShortString::from(header::STATUS_CODE),
        AMQPValue::LongInt(i32::from(result.status)),
    );
    let mut props = BasicProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_message_id(meta.job_id.as_str().into())
        .with_timestamp(timestamp_now())
        .with_headers(headers);
    if let Some(c) = &meta.correlation_id {
        props = props.with_correlation_id(c.as_str().into());
    }
    props
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused (nacked) the result")]
    Nacked,
}

/// Publishes a result to the results exchange (routing key = status code) and, when the job
/// asked for it, to its `reply_to` queue, and waits for the broker to confirm both (the channel
/// must be in confirm mode). A direct reply-to address is answered through `direct` instead,
/// best effort (see [`DirectReplies`]), at the same time.
pub async fn publish_result(
    channel: &Channel,
    direct: &DirectReplies,
    amqp: &AmqpSettings,
    meta: &JobMeta,
    result: &JobResult,
) -> Result<(), PublishError> {
    let props = result_properties(meta, result);
    let (reply_to, direct_reply) = match meta.reply_to.as_deref() {
        Some(r) if is_direct_reply_to(r) => (None, Some(r)),
        other => (other, None),
    };
    let direct_reply = async {
        if let Some(r) = direct_reply {
            direct.send(r, props.clone(), &result.body).await;
        }
    };
    let (confirmed, ()) = tokio::join!(
        publish_confirmed(channel, amqp, reply_to, props.clone(), result),
        direct_reply
    );
    confirmed
}

/// The results exchange and an ordinary `reply_to` queue, both confirmed.
async fn publish_confirmed(
    channel: &Channel,
    amqp: &AmqpSettings,
    reply_to: Option<&str>,
    props: BasicProperties,
    result: &JobResult,
) -> Result<(), PublishError> {
    let mut pending = vec![
        channel
            .basic_publish(
                amqp.results_exchange.as_str().into(),
                result.status.to_string().into(),
                BasicPublishOptions::default(),
                &result.body,
                props.clone(),
            )
            .await?,
    ];
    if let Some(reply_to) = reply_to {
        pending.push(
            channel
                .basic_publish(
                    "".into(),
                    reply_to.into(),
                    BasicPublishOptions::default(),
                    &result.body,
                    props,
                )
                .await?,
        );
    }
    for confirm in pending {
        if !confirm.await?.is_ack() {
            return Err(PublishError::Nacked);
        }
    }
    Ok(())
}

/// Consumes results from `queue` without acks (the broker forgets each one once sent): the
/// reply queue of the gateway and of the enqueue
/// client, and the load test's results queue. Read each with [`Reply::from_delivery`].
pub async fn consume_results(channel: &Channel, queue: &str) -> Result<Consumer, lapin::Error> {
    channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Declares a private reply queue (server-named, exclusive: it lives on the node of this
/// connection and is deleted with it) and consumes it with [`consume_results`]: the gateway's
/// and the enqueue client's. Returns the queue's name, for `reply_to`, and the consumer.
pub async fn consume_private_results(
    channel: &Channel,
) -> Result<(String, Consumer), lapin::Error> {
    let queue = channel
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
    let name = queue.name().to_string();
    let consumer = consume_results(channel, &name).await?;
    Ok((name, consumer))
}

/// A result as its readers see it.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The `status-code` header; 0 when it is missing or unreadable.
    pub status: u16,
    pub headers: FieldTable,
    pub body: Vec<u8>,
}

impl Reply {
    /// Reads a result message (the properties of [`result_properties`]).
    pub fn from_delivery(props: &BasicProperties, body: Vec<u8>) -> Reply {
        let headers = props.headers().clone().unwrap_or_default();
        let status = find(&headers, header::STATUS_CODE)
            .and_then(as_text)
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A header of the result as text, e.g. [`header::JOBID`]; names without regard to case.
    pub fn header(&self, name: &str) -> Option<String> {
        find(&self.headers, name).and_then(as_text)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::queue::broker::job_message::{Job, job_properties};

    #[test]
    fn readers_see_what_the_worker_writes() {
        let job = Job {
            reference_number: Some("REF-9"),
            ..Job::new("5d0c3f2e-8a51-4c1e-9d55-0e7b9b1f2a10", b"{}")
        };
        let meta = JobMeta::from_delivery(&job_properties(&job), job.body);
        let result = JobResult {
            status: 408,
            body: br#"{"code":"DeadlineExceeded","message":"late"}"#.to_vec(),
        };
        let props = result_properties(&meta, &result);
        let reply = Reply::from_delivery(&props, result.body.clone());
        assert_eq!(reply.status, 408);
        assert_eq!(reply.body, result.body);
        assert_eq!(reply.header(header::JOBID).as_deref(), Some(job.id));
        assert_eq!(reply.header("JobId").as_deref(), Some(job.id));
        assert_eq!(
            reply.header(header::REFERENCE_NUMBER).as_deref(),
            Some("REF-9")
        );
        assert_eq!(
            reply.header(header::BWS_VERSION).as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(reply.header(header::STATUS_CODE).as_deref(), Some("408"));
        assert_eq!(reply.header(header::DATE), Some(rfc1123(meta.received_at)));
        assert_eq!(
            props.correlation_id().as_ref().map(|c| c.as_str()),
            Some(job.id)
        );
        assert_eq!(props.delivery_mode(), &Some(PERSISTENT));
        // Without a status header the reader says 0, which no front end mistakes for a result.
        let bare = Reply::from_delivery(&BasicProperties::default(), Vec::new());
        assert_eq!(bare.status, 0);
    }

    #[test]
    fn date_is_rfc1123() {
        let t = Utc.timestamp_opt(784_111_777, 0).unwrap();
        assert_eq!(rfc1123(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
