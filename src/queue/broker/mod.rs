//! The broker contract in one place: which AMQP property or header carries what, how a job and
//! a result are written and read, how each is published, and the connection with its reconnect
//! loop. The worker, the gateway, the enqueue client and the load test all go through here, so
//! that they cannot drift apart (wire contract in DESIGN.md; `docs/operations.md` for producers
//! in other languages). No image code.
//!
//! | message | property or header | carries |
//! |---|---|---|
//! | job | `message_id` | the job id (when absent, one derived from the body: [`derived_job_id`]) |
//! | job | `correlation_id` | echoed in the result; this crate's producers set the job id |
//! | job | `reply_to` | a queue that gets the result too (the gateway: its exclusive reply queue; some clients: [`DIRECT_REPLY_TO`]) |
//! | job | `timestamp` | when it was published (seconds), for the end-to-end latency metric |
//! | job | header [`header::REFERENCE_NUMBER`] | echoed in the result |
//! | job | header [`header::AUTHORIZATION`] | `Bearer <JWT>`, checked when auth is on |
//! | job | header [`header::DEADLINE`] | RFC 3339 or unix ms; past it the job is answered 408 |
//! | result | `message_id`, `correlation_id` | the job id, the job's correlation id |
//! | result | header [`header::JOBID`] | the job id (bookkeeping dedupes redeliveries by it) |
//! | result | header [`header::BWS_VERSION`] | the crate version |
//! | result | header [`header::REFERENCE_NUMBER`] | the job's, when it had one |
//! | result | header [`header::DATE`] | when the worker received the job (RFC 1123) |
//! | result | header [`header::STATUS_CODE`] | the HTTP-like status (also the routing key) |
//!
//! Both are JSON ([`CONTENT_TYPE`]) and persistent ([`PERSISTENT`]). Queues and exchanges:
//! [`crate::queue::topology`].
//!
//! - [`job_message`]: [`job_properties`] and [`publish_job`] for producers, [`JobMeta`] for
//!   the worker.
//! - [`result_message`]: [`result_properties`] and [`publish_result`] for the worker,
//!   [`consume_results`] and [`Reply`] for whoever reads results.
//! - [`result_channel`]: [`ResultChannel`], the worker's result channel, renewed when the broker
//!   refuses a result (why: there).
//! - [`direct_replies`]: [`DirectReplies`], the worker's separate connection for results sent to
//!   direct reply-to addresses (why: there).
//! - [`session`]: [`connect`], and [`session::run`], which keeps a connection with capped
//!   exponential backoff and jitter.

pub mod direct_replies;
pub mod job_message;
pub mod result_channel;
pub mod result_message;
pub mod session;

use lapin::types::{AMQPValue, FieldTable, ShortString};

pub use direct_replies::DirectReplies;
pub use job_message::{Job, JobMeta, accepted, derived_job_id, job_properties, publish_job};
pub use result_channel::ResultChannel;
pub use result_message::{
    JobResult, PublishError, Reply, consume_private_results, consume_results, publish_result,
    result_properties, rfc1123,
};
pub use session::{Session, SessionEnd, confirm_channel, connect};

/// The header names of the wire contract. The result's are also BWS's response headers, which
/// the gateway answers with over HTTP and gRPC, and `reference-number` and `authorization` the
/// request headers it takes them from.
pub mod header {
    /// Result: the job id.
    pub const JOBID: &str = "jobid";
    /// Result: the crate version.
    pub const BWS_VERSION: &str = "bws-version";
    /// Job and result: the caller's reference, echoed.
    pub const REFERENCE_NUMBER: &str = "reference-number";
    /// Result: when the job was received, RFC 1123.
    pub const DATE: &str = "date";
    /// Result: the HTTP-like status code (an integer).
    pub const STATUS_CODE: &str = "status-code";
    /// Job: `Bearer <JWT>`.
    pub const AUTHORIZATION: &str = "authorization";
    /// Job: RFC 3339 text or unix milliseconds.
    pub const DEADLINE: &str = "deadline";
}

/// The `content_type` of jobs and results.
pub const CONTENT_TYPE: &str = "application/json";

/// The `delivery_mode` of jobs and results: persistent, written to disk by the broker.
pub const PERSISTENT: u8 = 2;

/// RabbitMQ's direct reply-to pseudo-queue: consumed (no-ack) before the first publish that
/// names it in `reply_to`; the broker routes the result straight to that channel. Producers of
/// other languages use it; the worker answers such addresses through [`DirectReplies`].
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// A header by name, without regard to case.
fn find<'a>(headers: &'a FieldTable, name: &str) -> Option<&'a AMQPValue> {
    headers
        .inner()
        .iter()
        .find_map(|(k, v)| k.as_str().eq_ignore_ascii_case(name).then_some(v))
}

/// A header value as text: strings, byte arrays and integers.
fn as_text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        AMQPValue::ByteArray(b) => Some(String::from_utf8_lossy(b.as_slice()).into_owned()),
        AMQPValue::LongLongInt(i) => Some(i.to_string()),
        AMQPValue::LongInt(i) => Some(i.to_string()),
        AMQPValue::LongUInt(i) => Some(i.to_string()),
        AMQPValue::ShortInt(i) => Some(i.to_string()),
        AMQPValue::Timestamp(t) => Some(t.to_string()),
        _ => None,
    }
}

/// Sets a text header (an AMQP long string).
fn put_text(headers: &mut FieldTable, name: &str, value: &str) {
    headers.insert(ShortString::from(name), AMQPValue::LongString(value.into()));
}

/// Now as an AMQP `timestamp` property (seconds since the epoch).
fn timestamp_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}
