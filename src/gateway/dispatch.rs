//! The one path from a request to a worker's result, shared by the REST endpoint and the gRPC
//! service, so that both make the same checks in the same order and answer alike:
//! token → job body size (the workers' `limits.max_request_bytes`) → JSON shape and image count
//! → broker connected → a worker consumes the job queue →
//! publish (confirmed) → wait until the deadline plus grace.
//!
//! The front ends only read their request (body or protobuf message) and turn the outcome into
//! their own answer (HTTP status and headers, or gRPC status and metadata).

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::AppState;
use super::reply::BrokerError;
use super::validate;
use crate::api;
use crate::queue::broker::{Job, Reply, header, rfc1123};

/// A refusal by the gateway itself: the BWS status and why.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: api::StatusCode,
    pub message: String,
    /// The request is too large: `InvalidArgument`, which REST answers 413 rather than 400.
    pub too_large: bool,
}

impl Refusal {
    pub fn new(code: api::StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            too_large: false,
        }
    }

    pub fn too_large(message: impl Into<String>) -> Refusal {
        Refusal {
            too_large: true,
            ..Refusal::new(api::StatusCode::InvalidArgument, message)
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal::new(api::StatusCode::Unavailable, message)
    }
}

impl From<BrokerError> for Refusal {
    fn from(e: BrokerError) -> Refusal {
        Refusal::unavailable(e.to_string())
    }
}

/// What identifies one request in every answer, whoever produced it.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub job_id: String,
    pub reference_number: Option<String>,
    pub received: DateTime<Utc>,
}

impl Ticket {
    /// A fresh job id for a request that arrived now, with its `reference-number` (trimmed;
    /// empty counts as absent).
    pub fn new(reference_number: Option<&str>) -> Ticket {
        Ticket {
            job_id: uuid::Uuid::new_v4().to_string(),
            reference_number: reference_number
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            received: Utc::now(),
        }
    }

    /// BWS's response headers for this request, as REST headers or gRPC metadata: `jobid`,
    /// `bws-version`, `reference-number` (when given) and `date`. A result's own values win
    /// over the gateway's, as the worker set them for this job (its `date` is when it received
    /// the job).
    pub fn bws_headers(&self, reply: Option<&Reply>) -> Vec<(&'static str, String)> {
        let from_reply = |name: &str| reply.and_then(|r| r.header(name));
        let mut headers = vec![
            (
                header::JOBID,
                from_reply(header::JOBID).unwrap_or_else(|| self.job_id.clone()),
            ),
            (
                header::BWS_VERSION,
                from_reply(header::BWS_VERSION).unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
            ),
        ];
        if let Some(r) =
            from_reply(header::REFERENCE_NUMBER).or_else(|| self.reference_number.clone())
        {
            headers.push((header::REFERENCE_NUMBER, r));
        }
        headers.push((
            header::DATE,
            from_reply(header::DATE).unwrap_or_else(|| rfc1123(self.received)),
        ));
        headers
    }
}

/// The token check, when auth is on; the same function the worker calls.
pub fn authorize(state: &AppState, authorization: Option<&str>) -> Result<(), Refusal> {
    if state.auth.enabled {
        crate::auth::verify(authorization, &state.auth)
            .map_err(|e| Refusal::new(api::StatusCode::Unauthenticated, e.to_string()))?;
    }
    Ok(())
}

/// Refuses a job body larger than the workers accept (`limits.max_request_bytes`): a worker
/// would refuse it anyway, after it crossed the broker. A REST body is its own job body; a gRPC
/// request's is larger than its message, as its raw images become base64 (4/3).
pub fn check_job_size(job_bytes: usize, max_job_bytes: usize) -> Result<(), Refusal> {
    if job_bytes > max_job_bytes {
        return Err(Refusal::too_large(format!(
            "the request is {job_bytes} bytes once encoded as a job, more than the limit of \
             {max_job_bytes} bytes"
        )));
    }
    Ok(())
}

/// Checks the job body (the BWS request JSON) and enqueues it, then waits for its result.
/// `authorization` is forwarded so that the worker checks the token too.
pub async fn run(
    state: &AppState,
    ticket: &Ticket,
    body: &[u8],
    authorization: Option<&str>,
) -> Result<Reply, Refusal> {
    check_job_size(body.len(), state.max_job_bytes)?;
    validate::check(body)
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
    let deadline = ticket.received
        + chrono::Duration::from_std(budget).unwrap_or_else(|_| chrono::Duration::seconds(30));
    let job = Job {
        reference_number: ticket.reference_number.as_deref(),
        authorization,
        deadline: Some(deadline),
        ..Job::new(&ticket.job_id, body)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_body_over_the_workers_limit_is_refused_as_too_large() {
        assert!(check_job_size(1000, 1000).is_ok());
        assert!(check_job_size(0, 1000).is_ok());
        let refusal = check_job_size(1001, 1000).unwrap_err();
        assert!(refusal.too_large);
        assert_eq!(refusal.code, api::StatusCode::InvalidArgument);
        assert_eq!(
            refusal.message,
            "the request is 1001 bytes once encoded as a job, more than the limit of 1000 bytes"
        );
    }
}
