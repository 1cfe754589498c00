//! The job message: its properties and headers as a producer writes them ([`job_properties`],
//! [`publish_job`]) and as the worker reads them ([`JobMeta`]).

use chrono::{DateTime, TimeZone, Utc};
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use sha2::{Digest, Sha256};

use super::{CONTENT_TYPE, PERSISTENT, as_text, find, header, put_text, timestamp_now};

/// A job as this crate's producers publish it: the body and what its properties carry.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// `message_id` and `correlation_id`.
    pub id: &'a str,
    /// The BWS request JSON.
    pub body: &'a [u8],
    /// A queue that gets the result too.
    pub reply_to: Option<&'a str>,
    pub reference_number: Option<&'a str>,
    /// The whole `authorization` header: `Bearer <JWT>`.
    pub authorization: Option<&'a str>,
    pub deadline: Option<DateTime<Utc>>,
}

impl<'a> Job<'a> {
    /// A job with only an id and a body.
    pub fn new(id: &'a str, body: &'a [u8]) -> Job<'a> {
        Job {
            id,
            body,
            reply_to: None,
            reference_number: None,
            authorization: None,
            deadline: None,
        }
    }
}

/// The properties of a job: persistent JSON, stamped with the time of publication.
pub fn job_properties(job: &Job<'_>) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(d) = job.deadline {
        put_text(&mut headers, header::DEADLINE, &d.to_rfc3339());
    }
    if let Some(r) = job.reference_number {
        put_text(&mut headers, header::REFERENCE_NUMBER, r);
    }
    if let Some(a) = job.authorization {
        put_text(&mut headers, header::AUTHORIZATION, a);
    }
    let props = BasicProperties::default()
        .with_message_id(job.id.into())
        .with_correlation_id(job.id.into())
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_timestamp(timestamp_now())
        .with_headers(headers);
    match job.reply_to {
        Some(r) => props.with_reply_to(r.into()),
        None => props,
    }
}

/// Publishes a job to `queue` through the default exchange and returns the broker's confirm
/// still to come (the channel must be in confirm mode); [`accepted`] reads it. Mandatory: a job
/// queue that does not exist returns the job instead of swallowing it.
pub async fn publish_job(
    channel: &Channel,
    queue: &str,
    job: &Job<'_>,
) -> Result<PublisherConfirm, lapin::Error> {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            job.body,
            job_properties(job),
        )
        .await
}

/// Whether the broker took a job published by [`publish_job`]: an unroutable mandatory message
/// is acked *with* the returned message attached, so only a bare ack counts.
pub fn accepted(confirmation: &Confirmation) -> bool {
    matches!(confirmation, Confirmation::Ack(None))
}

/// What the worker needs to know about a job besides its body.
#[derive(Debug, Clone)]
pub struct JobMeta {
    /// `message_id`, or a stable id derived from the body so that a redelivery keeps it.
    pub job_id: String,
    pub correlation_id: Option<String>,
    pub reply_to: Option<String>,
    pub reference_number: Option<String>,
    pub authorization: Option<String>,
    /// `Err` holds a description of an unreadable deadline header (answered 400).
    pub deadline: Option<Result<DateTime<Utc>, String>>,
    pub received_at: DateTime<Utc>,
    /// The producer's `timestamp` property (seconds), for end-to-end latency.
    pub published_at: Option<DateTime<Utc>>,
}

impl JobMeta {
    pub fn from_delivery(props: &BasicProperties, body: &[u8]) -> JobMeta {
        let no_headers = FieldTable::default();
        let headers = props.headers().as_ref().unwrap_or(&no_headers);
        let text = |name: &str| {
            find(headers, name)
                .and_then(as_text)
                .filter(|s| !s.is_empty())
        };
        JobMeta {
            job_id: props
                .message_id()
                .as_ref()
                .map(|s| s.as_str().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| derived_job_id(body)),
            correlation_id: props
                .correlation_id()
                .as_ref()
                .map(|s| s.as_str().to_string()),
            reply_to: props
                .reply_to()
                .as_ref()
                .map(|s| s.as_str().to_string())
                .filter(|s| !s.is_empty()),
            reference_number: text(header::REFERENCE_NUMBER),
            authorization: text(header::AUTHORIZATION),
            deadline: find(headers, header::DEADLINE).map(parse_deadline),
            received_at: Utc::now(),
            published_at: props
                .timestamp()
                .and_then(|t| Utc.timestamp_opt(i64::try_from(t).ok()?, 0).single()),
        }
    }
}

/// Reads a `deadline` header: RFC 3339 text, or unix milliseconds (number or text).
pub fn parse_deadline(v: &AMQPValue) -> Result<DateTime<Utc>, String> {
    let from_ms = |ms: i64| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .ok_or_else(|| format!("deadline {ms} is not a valid unix time in milliseconds"))
    };
    match v {
        AMQPValue::LongLongInt(i) => from_ms(*i),
        AMQPValue::LongInt(i) => from_ms(i64::from(*i)),
        AMQPValue::LongUInt(i) => from_ms(i64::from(*i)),
        AMQPValue::Timestamp(t) => from_ms(i64::try_from(*t).unwrap_or(i64::MAX)),
        other => {
            let text = as_text(other)
                .ok_or("the deadline header must be RFC 3339 text or unix milliseconds")?;
            let text = text.trim();
            if let Ok(ms) = text.parse::<i64>() {
                return from_ms(ms);
            }
            DateTime::parse_from_rfc3339(text)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| format!("the deadline header {text:?} is neither RFC 3339 nor unix milliseconds: {e}"))
        }
    }
}

/// A job id for a message without `message_id`: the hash of its body, shaped like a GUID, so
/// a redelivery of the same message gets the same id.
pub fn derived_job_id(body: &[u8]) -> String {
    let h = Sha256::digest(body);
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_reads_what_the_producers_write() {
        let deadline = Utc::now() + chrono::Duration::seconds(30);
        let job = Job {
            reply_to: Some(super::super::DIRECT_REPLY_TO),
            reference_number: Some("REF-1"),
            authorization: Some("Bearer abc"),
            deadline: Some(deadline),
            ..Job::new("0b6f8a4e-55b5-4a43-9d2f-4b2f1e7b0c11", b"{}")
        };
        let props = job_properties(&job);
        let meta = JobMeta::from_delivery(&props, job.body);
        assert_eq!(meta.job_id, job.id);
        assert_eq!(meta.correlation_id.as_deref(), Some(job.id));
        assert_eq!(meta.reply_to.as_deref(), job.reply_to);
        assert_eq!(meta.reference_number.as_deref(), Some("REF-1"));
        assert_eq!(meta.authorization.as_deref(), Some("Bearer abc"));
        let read = meta.deadline.expect("a deadline").expect("readable");
        assert_eq!(read.timestamp_millis(), deadline.timestamp_millis());
        let published = meta.published_at.expect("the timestamp property");
        assert!((Utc::now() - published).num_seconds().abs() <= 2);
        assert_eq!(props.delivery_mode(), &Some(PERSISTENT));
        assert_eq!(
            props.content_type().as_ref().map(|c| c.as_str()),
            Some(CONTENT_TYPE)
        );

        // A bare job: no headers but the contract's properties, nothing optional invented.
        let bare = JobMeta::from_delivery(&job_properties(&Job::new("id-2", b"{}")), b"{}");
        assert_eq!(bare.job_id, "id-2");
        assert!(bare.reply_to.is_none() && bare.reference_number.is_none());
        assert!(bare.authorization.is_none() && bare.deadline.is_none());
    }

    #[test]
    fn headers_are_read_without_regard_to_case_and_a_missing_id_is_derived() {
        let mut headers = FieldTable::default();
        put_text(&mut headers, "Reference-Number", "R");
        put_text(&mut headers, "DEADLINE", "soon");
        let props = BasicProperties::default().with_headers(headers);
        let meta = JobMeta::from_delivery(&props, b"body");
        assert_eq!(meta.reference_number.as_deref(), Some("R"));
        assert!(matches!(meta.deadline, Some(Err(_))));
        assert_eq!(meta.job_id, derived_job_id(b"body"));
    }

    #[test]
    fn deadlines_in_both_forms() {
        let d = parse_deadline(&AMQPValue::LongString("2030-01-02T03:04:05Z".into())).unwrap();
        assert_eq!(d.timestamp(), 1_893_553_445);
        let d = parse_deadline(&AMQPValue::LongLongInt(1_893_553_445_000)).unwrap();
        assert_eq!(d.timestamp(), 1_893_553_445);
        let d = parse_deadline(&AMQPValue::LongString("1893553445000".into())).unwrap();
        assert_eq!(d.timestamp(), 1_893_553_445);
        assert!(parse_deadline(&AMQPValue::LongString("tomorrow".into())).is_err());
    }

    #[test]
    fn derived_ids_are_stable_guids() {
        let a = derived_job_id(b"body");
        assert_eq!(a, derived_job_id(b"body"));
        assert_ne!(a, derived_job_id(b"other"));
        assert_eq!(a.len(), 36);
    }
}
