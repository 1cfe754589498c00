//! `POST /api/v1/livenessdetection`: check the request, enqueue it as a job, wait for its result
//! and answer with the result's status, body and BWS headers.
//!
//! Order of the checks, cheapest first and nothing enqueued for a request that cannot succeed:
//! token (before the body is read) → body size (declared, then read) → then [`dispatch::run`],
//! shared with gRPC.
//!
//! An answer given before the body has arrived must still reach the client: a client that
//! writes its whole body before it reads (Python's `http.client`, .NET's `HttpClient`) gets a
//! broken pipe or a reset instead of the status when the server closes with the body unread
//! (hyper closes a connection whose request body the handler left unread). So a refused token
//! (401) or a body over `gateway.max_body_bytes` (413) is answered only after the rest of the
//! body was read and dropped chunk by chunk, as nginx's lingering close does: up to
//! `gateway.drain_max_bytes` in all and for at most `gateway.drain_timeout_ms`. Not drained: a
//! client that waits for `100 Continue` (it has sent nothing) and a body declared larger than
//! the drain limit; these, and a drain cut short, are answered with `Connection: close`.

use std::sync::Arc;

use std::time::Duration;

use axum::body::BodyDataStream;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_lite::StreamExt;
use tracing::{Instrument, info, info_span};

use super::AppState;
use super::dispatch::{self, Refusal, Ticket};
use crate::api::{self, ErrorBody};
use crate::queue::broker::{CONTENT_TYPE as JSON, Reply, header};

/// Every status the endpoint answers with: its own refusals and the statuses a worker's
/// result can carry. The OpenAPI document must describe each (a test checks it).
pub const STATUS_CODES: &[u16] = &[200, 400, 401, 408, 413, 500, 503];

/// A refusal as HTTP answers it: the status of its code, or 413 for a request too large; and
/// whether the connection is closed after it (a body that was not read to its end).
#[derive(Debug)]
struct HttpRefusal {
    http: StatusCode,
    refusal: Refusal,
    close: bool,
}

impl From<Refusal> for HttpRefusal {
    fn from(refusal: Refusal) -> HttpRefusal {
        let http = if refusal.too_large {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::from_u16(refusal.code.http()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        };
        HttpRefusal {
            http,
            refusal,
            close: false,
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
    /// A response with the BWS headers ([`Ticket::bws_headers`]).
    fn response(&self, status: StatusCode, body: Vec<u8>, reply: Option<&Reply>) -> Response {
        let mut response = (status, body).into_response();
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        for (name, value) in self.ticket.bws_headers(reply) {
            set_header(h, name, &value);
        }
        response
    }

    fn refusal(&self, refusal: HttpRefusal) -> Response {
        let body = ErrorBody::new(refusal.refusal.code, refusal.refusal.message);
        // Serialising two strings cannot fail; the fallback keeps the contract anyway.
        let bytes = serde_json::to_vec(&body)
            .unwrap_or_else(|_| br#"{"code":"Internal","message":""}"#.to_vec());
        let mut response = self.response(refusal.http, bytes, None);
        if refusal.close {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
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
                // The request header echoed in the answer and passed to the worker, as in BWS.
                .get(header::REFERENCE_NUMBER)
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
    Refusal::too_large(format!("the request body is larger than {limit} bytes")).into()
}

/// Reads and drops what is left of a body, chunk by chunk (nothing is kept), until it ends,
/// more than `max_bytes` were seen in all (`seen` counts what was read before) or `timeout`
/// passed. Returns whether the body was read to its end, and the bytes seen.
async fn drain(
    body: &mut BodyDataStream,
    mut seen: u64,
    max_bytes: u64,
    timeout: Duration,
) -> (bool, u64) {
    let read = async {
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    seen = seen.saturating_add(chunk.len() as u64);
                    if seen > max_bytes {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    };
    let complete = tokio::time::timeout(timeout, read).await.unwrap_or(false);
    (complete, seen)
}

/// What an answer given before the body was read needs to know about the request.
struct Early<'a> {
    state: &'a AppState,
    declared: Option<u64>,
    waits_for_continue: bool,
}

impl Early<'_> {
    /// `refusal`, after the rest of the body was drained (see the module documentation):
    /// not when the client waits for `100 Continue` (it has sent nothing) or declared more
    /// than `gateway.drain_max_bytes` (it could not be read to the end anyway). The
    /// connection is closed after the answer unless the body was read to its end.
    async fn answer(
        &self,
        mut refusal: HttpRefusal,
        body: &mut BodyDataStream,
        seen: u64,
    ) -> HttpRefusal {
        let g = &self.state.gateway;
        let drainable =
            !self.waits_for_continue && self.declared.is_none_or(|n| n <= g.drain_max_bytes);
        let complete = if drainable {
            let (complete, bytes) = drain(body, seen, g.drain_max_bytes, g.drain_timeout()).await;
            info!(bytes, complete, "discarded the body of a refused request");
            complete
        } else {
            false
        };
        refusal.close = !complete;
        refusal
    }
}

/// Reads a body of at most `limit` bytes; a longer one is drained and refused with 413.
async fn read_body(
    body: &mut BodyDataStream,
    limit: usize,
    early: &Early<'_>,
) -> Result<Vec<u8>, HttpRefusal> {
    // `declared` is at most `limit` here; reserving it spares the copies of a growing buffer.
    let capacity = early
        .declared
        .map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut buffer = Vec::with_capacity(capacity);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| HttpRefusal {
            close: true,
            ..Refusal::new(
                api::StatusCode::InvalidArgument,
                format!("cannot read the request body: {e}"),
            )
            .into()
        })?;
        let seen = buffer.len().saturating_add(chunk.len());
        if seen > limit {
            drop(buffer);
            return Err(early.answer(too_large(limit), body, seen as u64).await);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer)
}

async fn handle(state: &AppState, ticket: &Ticket, request: Request) -> Result<Reply, HttpRefusal> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let authorization = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let early = Early {
        state,
        declared: headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok()),
        waits_for_continue: headers
            .get(EXPECT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue")),
    };
    let mut body = body.into_data_stream();
    if let Err(refusal) = dispatch::authorize(state, authorization.as_deref()) {
        return Err(early.answer(refusal.into(), &mut body, 0).await);
    }
    // A declared length over the limit is refused without keeping a byte of the body; a
    // longer body without a declared length (chunked) is refused once it passes the limit.
    let limit = state.gateway.max_body_bytes;
    if early.declared.is_some_and(|n| n > limit as u64) {
        return Err(early.answer(too_large(limit), &mut body, 0).await);
    }
    let body = read_body(&mut body, limit, &early).await?;
    Ok(dispatch::run(state, ticket, &body, authorization.as_deref()).await?)
}
