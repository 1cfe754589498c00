//! The job envelope: what the AMQP properties and headers of a job say, and the result message
//! that answers it (wire contract in DESIGN.md). No image code here.

use chrono::{DateTime, TimeZone, Utc};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use sha2::{Digest, Sha256};

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

fn header<'a>(headers: &'a Option<FieldTable>, name: &str) -> Option<&'a AMQPValue> {
    headers
        .as_ref()?
        .inner()
        .iter()
        .find_map(|(k, v)| k.as_str().eq_ignore_ascii_case(name).then_some(v))
}

fn as_string(v: &AMQPValue) -> Option<String> {
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
            let text = as_string(other)
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

impl JobMeta {
    pub fn from_delivery(props: &BasicProperties, body: &[u8]) -> JobMeta {
        let headers = props.headers();
        let text = |name: &str| {
            header(headers, name)
                .and_then(as_string)
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
            reference_number: text("reference-number"),
            authorization: text("authorization"),
            deadline: header(headers, "deadline").map(parse_deadline),
            received_at: Utc::now(),
            published_at: props
                .timestamp()
                .and_then(|t| Utc.timestamp_opt(i64::try_from(t).ok()?, 0).single()),
        }
    }
}

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
    let s = |v: &str| AMQPValue::LongString(v.into());
    headers.insert(ShortString::from("jobid"), s(&meta.job_id));
    headers.insert(
        ShortString::from("bws-version"),
        s(env!("CARGO_PKG_VERSION")),
    );
    if let Some(r) = &meta.reference_number {
        headers.insert(ShortString::from("reference-number"), s(r));
    }
    headers.insert(ShortString::from("date"), s(&rfc1123(meta.received_at)));
    headers.insert(
        ShortString::from("status-code"),
        AMQPValue::LongInt(i32::from(result.status)),
    );
    let mut props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(meta.job_id.as_str().into())
        .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or(0))
        .with_headers(headers);
    if let Some(c) = &meta.correlation_id {
        props = props.with_correlation_id(c.as_str().into());
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn date_is_rfc1123() {
        let t = Utc.timestamp_opt(784_111_777, 0).unwrap();
        assert_eq!(rfc1123(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
