//! `POST /api/v1/livenessdetection`: check the request, enqueue it as a job, wait for its result
//! and answer with the result's status, body and BWS headers.
//!
//! Order of the checks, cheapest first and nothing enqueued for a request that cannot succeed:
//! token (before the body is read) → body size → JSON shape and image count → broker connected
//! → a worker consumes the job queue → publish (confirmed) → wait until the deadline plus grace.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::{Instrument, info, info_span};

use super::AppState;
use super::reply::{BrokerError, Job};
use super::validate;
use crate::api::{self, ErrorBody};
use crate::queue::client::Reply;
use crate::queue::envelope::rfc1123;

/// Every status the endpoint answers with: its own refusals and the statuses a worker's
/// result can carry. The OpenAPI document must describe each (a test checks it).
pub const STATUS_CODES: &[u16] = &[200, 400, 401, 408, 413, 500, 503];

/// The request header echoed in the answer and passed to the worker, as in BWS.
pub const REFERENCE_NUMBER: &str = "reference-number";

/// A refusal by the gateway itself, answered in BWS's error format.
#[derive(Debug)]
struct Refusal {
    http: StatusCode,
    code: api::StatusCode,
    message: String,
}

impl Refusal {
    fn new(code: api::StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            http: StatusCode::from_u16(code.http()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
        }
    }

    fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal::new(api::StatusCode::Unavailable, message)
    }
}

impl From<BrokerError> for Refusal {
    fn from(e: BrokerError) -> Refusal {
        Refusal::unavailable(e.to_string())
    }
}

/// What every answer of one request carries, whoever produced it.
struct Answer {
    job_id: String,
    reference_number: Option<String>,
    received: DateTime<Utc>,
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

impl Answer {
    /// A response with the BWS headers; the result's own values win over the gateway's, as
    /// the worker set them for this job (its `date` is when it received the job).
    fn response(&self, status: StatusCode, body: Vec<u8>, reply: Option<&Reply>) -> Response {
        let from_reply = |name: &str| reply.and_then(|r| r.header(name));
        let mut response = (status, body).into_response();
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let job_id = from_reply("jobid").unwrap_or_else(|| self.job_id.clone());
        set_header(h, "jobid", &job_id);
        let version = from_reply("bws-version").unwrap_or_else(|| env!("CARGO_PKG_VERSION").into());
        set_header(h, "bws-version", &version);
        if let Some(r) = from_reply(REFERENCE_NUMBER).or_else(|| self.reference_number.clone()) {
            set_header(h, REFERENCE_NUMBER, &r);
        }
        let date = from_reply("date").unwrap_or_else(|| rfc1123(self.received));
        set_header(h, "date", &date);
        response
    }

    fn refusal(&self, refusal: Refusal) -> Response {
        let body = ErrorBody::new(refusal.code, refusal.message);
        // Serialising two strings cannot fail; the fallback keeps the contract anyway.
        let bytes = serde_json::to_vec(&body)
            .unwrap_or_else(|_| br#"{"code":"Internal","message":""}"#.to_vec());
        self.response(refusal.http, bytes, None)
    }

    fn result(&self, mut reply: Reply) -> Response {
        match StatusCode::from_u16(reply.status) {
            Ok(status) => {
                // The body moves into the response: no copy of the result.
                let body = std::mem::take(&mut reply.body);
                self.response(status, body, Some(&reply))
            }
            Err(_) => self.refusal(Refusal::new(
                api::StatusCode::Internal,
                format!(
                    "the worker's result has no valid status code ({})",
                    reply.status
                ),
            )),
        }
    }
}

pub(super) async fn livenessdetection(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let answer = Answer {
        job_id: uuid::Uuid::new_v4().to_string(),
        reference_number: request
            .headers()
            .get(REFERENCE_NUMBER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        received: Utc::now(),
    };
    let span = info_span!(
        "request",
        jobid = %answer.job_id,
        reference_number = answer.reference_number.as_deref().unwrap_or(""),
    );
    async {
        let response = match handle(&state, &answer, request).await {
            Ok(reply) => answer.result(reply),
            Err(refusal) => {
                info!(status = refusal.http.as_u16(), message = %refusal.message, "refused");
                answer.refusal(refusal)
            }
        };
        info!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

fn too_large(limit: usize) -> Refusal {
    Refusal {
        http: StatusCode::PAYLOAD_TOO_LARGE,
        code: api::StatusCode::InvalidArgument,
        message: format!("the request body is larger than {limit} bytes"),
    }
}

fn body_refusal(rejection: BytesRejection, limit: usize) -> Refusal {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        Refusal::new(
            api::StatusCode::InvalidArgument,
            format!("cannot read the request body: {}", rejection.body_text()),
        )
    }
}

async fn handle(state: &AppState, answer: &Answer, request: Request) -> Result<Reply, Refusal> {
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if state.auth.enabled {
        crate::auth::verify(authorization.as_deref(), &state.auth)
            .map_err(|e| Refusal::new(api::StatusCode::Unauthenticated, e.to_string()))?;
    }
    // A declared length over the limit is refused before a byte of the body is read (the
    // body limit alone would wait for the body first); a longer body without a declared
    // length is cut at the limit by the route's DefaultBodyLimit.
    let limit = state.gateway.max_body_bytes;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let body = Bytes::from_request(request, &())
        .await
        .map_err(|r| body_refusal(r, limit))?;
    validate::check(&body)
        .map_err(|e| Refusal::new(api::StatusCode::InvalidArgument, e.to_string()))?;

    let broker = &state.broker;
    if !broker.is_connected() {
        return Err(BrokerError::Disconnected.into());
    }
    if broker.consumer_count(false).await? == 0 {
        return Err(Refusal::unavailable(format!(
            "no worker is consuming the job queue {:?}",
            broker.job_queue()
        )));
    }
    let budget = state.gateway.deadline();
    let deadline = answer.received
        + chrono::Duration::from_std(budget).unwrap_or_else(|_| chrono::Duration::seconds(30));
    let job = Job {
        id: &answer.job_id,
        body: &body,
        reference_number: answer.reference_number.as_deref(),
        authorization: authorization.as_deref(),
        deadline,
    };
    let mut pending = broker.submit(&job).await?;
    // Past the deadline a worker answers 408 itself; the grace lets that answer arrive.
    let until = Instant::now() + budget + state.gateway.grace();
    if let Some(reply) = pending.wait(until).await? {
        return Ok(reply);
    }
    drop(pending);
    // No result: a worker that is there but slow is a timeout; none at all is unavailability.
    if broker.consumer_count(true).await? == 0 {
        return Err(Refusal::unavailable(format!(
            "no worker answered within the deadline of {} s and none consumes the job queue",
            budget.as_secs()
        )));
    }
    Err(Refusal::new(
        api::StatusCode::DeadlineExceeded,
        format!("no result within the deadline of {} s", budget.as_secs()),
    ))
}
