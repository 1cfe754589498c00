//! `POST /api/v1/livenessdetection`: check the request, enqueue it as a job, wait for its result
//! and answer with the result's status, body and BWS headers.
//!
//! Order of the checks, cheapest first and nothing enqueued for a request that cannot succeed:
//! token (before the body is read) → body size → then [`dispatch::run`], shared with gRPC.
//!
//! An answer given before the body has arrived must still reach the client: a client that
//! writes its whole body before it reads (Python's `http.client`, .NET's `HttpClient`) gets a
//! broken pipe or a reset instead of the status when the server closes with the body unread.
//! So a refused token is answered after the body was read and discarded (up to
//! `gateway.max_body_bytes`), unless the client waits for `100 Continue`: then it has sent
//! nothing and is answered at once.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_lite::StreamExt;
use tracing::{Instrument, info, info_span};

use super::AppState;
use super::dispatch::{self, Refusal, Ticket};
use crate::api::{self, ErrorBody};
use crate::queue::client::Reply;
use crate::queue::envelope::rfc1123;

/// Every status the endpoint answers with: its own refusals and the statuses a worker's
/// result can carry. The OpenAPI document must describe each (a test checks it).
pub const STATUS_CODES: &[u16] = &[200, 400, 401, 408, 413, 500, 503];

/// The request header echoed in the answer and passed to the worker, as in BWS.
pub const REFERENCE_NUMBER: &str = "reference-number";

/// A refusal as HTTP answers it: the status of its code, or 413 for a body over the limit.
#[derive(Debug)]
struct HttpRefusal {
    http: StatusCode,
    refusal: Refusal,
}

impl From<Refusal> for HttpRefusal {
    fn from(refusal: Refusal) -> HttpRefusal {
        HttpRefusal {
            http: StatusCode::from_u16(refusal.code.http())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            refusal,
        }
    }
}

/// What every answer of one request carries, whoever produced it.
struct Answer {
    ticket: Ticket,
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
        let job_id = from_reply("jobid").unwrap_or_else(|| self.ticket.job_id.clone());
        set_header(h, "jobid", &job_id);
        let version = from_reply("bws-version").unwrap_or_else(|| env!("CARGO_PKG_VERSION").into());
        set_header(h, "bws-version", &version);
        if let Some(r) =
            from_reply(REFERENCE_NUMBER).or_else(|| self.ticket.reference_number.clone())
        {
            set_header(h, REFERENCE_NUMBER, &r);
        }
        let date = from_reply("date").unwrap_or_else(|| rfc1123(self.ticket.received));
        set_header(h, "date", &date);
        response
    }

    fn refusal(&self, refusal: HttpRefusal) -> Response {
        let body = ErrorBody::new(refusal.refusal.code, refusal.refusal.message);
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
            Err(_) => self.refusal(
                Refusal::new(
                    api::StatusCode::Internal,
                    format!(
                        "the worker's result has no valid status code ({})",
                        reply.status
                    ),
                )
                .into(),
            ),
        }
    }
}

pub(super) async fn livenessdetection(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let answer = Answer {
        ticket: Ticket::new(
            request
                .headers()
                .get(REFERENCE_NUMBER)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    let span = info_span!(
        "request",
        jobid = %answer.ticket.job_id,
        reference_number = answer.ticket.reference_number.as_deref().unwrap_or(""),
    );
    async {
        let response = match handle(&state, &answer.ticket, request).await {
            Ok(reply) => answer.result(reply),
            Err(refusal) => {
                info!(status = refusal.http.as_u16(), message = %refusal.refusal.message, "refused");
                answer.refusal(refusal)
            }
        };
        info!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

fn too_large(limit: usize) -> HttpRefusal {
    HttpRefusal {
        http: StatusCode::PAYLOAD_TOO_LARGE,
        refusal: Refusal::new(
            api::StatusCode::InvalidArgument,
            format!("the request body is larger than {limit} bytes"),
        ),
    }
}

fn body_refusal(rejection: BytesRejection, limit: usize) -> HttpRefusal {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        Refusal::new(
            api::StatusCode::InvalidArgument,
            format!("cannot read the request body: {}", rejection.body_text()),
        )
        .into()
    }
}

/// Reads and drops a body the answer does not need, up to `limit` bytes, so that the client
/// has sent it all and reads the answer (see the module documentation).
async fn discard(body: Body, limit: usize) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            break;
        }
    }
}

async fn handle(state: &AppState, ticket: &Ticket, request: Request) -> Result<Reply, HttpRefusal> {
    let headers = request.headers();
    let authorization = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let waits_for_continue = headers
        .get(EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    let limit = state.gateway.max_body_bytes;
    if let Err(refusal) = dispatch::authorize(state, authorization.as_deref()) {
        if !waits_for_continue {
            discard(request.into_body(), limit).await;
        }
        return Err(refusal.into());
    }
    // A declared length over the limit is refused before a byte of the body is read (the
    // body limit alone would wait for the body first); a longer body without a declared
    // length is cut at the limit by the route's DefaultBodyLimit.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let body = Bytes::from_request(request, &())
        .await
        .map_err(|r| body_refusal(r, limit))?;
    Ok(dispatch::run(state, ticket, &body, authorization.as_deref()).await?)
}
