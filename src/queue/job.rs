//! Turns one job into exactly one result: authentication, deadline, scoring off the reactor,
//! and every failure mapped to its BWS status. Nothing here can drop a job.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::broker::{JobMeta, JobResult};
use super::scoring::ScoringThreads;
use crate::api::{ErrorBody, LivenessDetectionResponse, StatusCode};
use crate::config::AuthSettings;
use crate::pipeline::{Engine, ScoreError};
use crate::telemetry::Metrics;

/// What the worker runs on a job body. The [`Engine`] is the real one; the seam lets the AMQP
/// layer stay free of image code and lets tests inject a fault (a panic) into real jobs.
pub trait Scorer: Send + Sync + 'static {
    fn score_json(&self, body: &[u8]) -> Result<LivenessDetectionResponse, ScoreError>;
}

impl Scorer for Engine {
    fn score_json(&self, body: &[u8]) -> Result<LivenessDetectionResponse, ScoreError> {
        Engine::score_json(self, body)
    }
}

fn error(code: StatusCode, message: impl Into<String>) -> JobResult {
    let body = ErrorBody::new(code, message);
    JobResult {
        status: code.http(),
        // Serialising two strings cannot fail; the fallback keeps the contract anyway.
        body: serde_json::to_vec(&body)
            .unwrap_or_else(|_| br#"{"code":"Internal","message":""}"#.to_vec()),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Everything a job needs, shared by all jobs of a worker.
pub struct JobContext {
    pub scorer: Arc<dyn Scorer>,
    pub auth: AuthSettings,
    /// The threads that score, one job each at a time, in the order the jobs arrived.
    pub scoring: ScoringThreads,
    pub metrics: Arc<Metrics>,
}

impl JobContext {
    pub async fn handle(&self, meta: &JobMeta, body: Vec<u8>) -> JobResult {
        if self.auth.enabled {
            match crate::auth::verify(meta.authorization.as_deref(), &self.auth) {
                Ok(claims) => tracing::debug!(client = claims.client_id(), "token accepted"),
                Err(e) => return error(StatusCode::Unauthenticated, e.to_string()),
            }
        }
        let deadline = match &meta.deadline {
            Some(Err(e)) => return error(StatusCode::InvalidArgument, e.clone()),
            Some(Ok(d)) => Some(*d),
            None => None,
        };
        if let Some(answer) = past(deadline) {
            return answer;
        }
        let (scorer, metrics) = (self.scorer.clone(), self.metrics.clone());
        // Scoring is CPU-bound: it runs on the scoring threads, never on the reactor, and so
        // does turning its outcome into the answer. A panic is caught there and answered 500;
        // the worker goes on.
        self.scoring
            .run(move || {
                // Waiting for a scoring thread may have taken the job past its deadline.
                if let Some(answer) = past(deadline) {
                    return answer;
                }
                let started = Instant::now();
                let outcome =
                    std::panic::catch_unwind(AssertUnwindSafe(|| scorer.score_json(&body)));
                metrics
                    .scoring_seconds
                    .observe(started.elapsed().as_secs_f64());
                answer(outcome)
            })
            .await
            .unwrap_or_else(|lost| {
                error(
                    StatusCode::Internal,
                    format!(
                        "internal error while scoring: no answer from the scoring thread ({lost})"
                    ),
                )
            })
    }
}

/// The answer to a job whose deadline has passed.
fn past(deadline: Option<DateTime<Utc>>) -> Option<JobResult> {
    deadline.filter(|d| Utc::now() > *d).map(|d| {
        error(
            StatusCode::DeadlineExceeded,
            format!(
                "the job's deadline {} passed before scoring",
                d.to_rfc3339()
            ),
        )
    })
}

/// The answer to a scored job: its response, or its error in the BWS format.
fn answer(
    outcome: std::thread::Result<Result<LivenessDetectionResponse, ScoreError>>,
) -> JobResult {
    match outcome {
        Ok(Ok(response)) => match serde_json::to_vec(&response) {
            Ok(body) => JobResult { status: 200, body },
            Err(e) => error(
                StatusCode::Internal,
                format!("cannot serialise the response: {e}"),
            ),
        },
        Ok(Err(ScoreError::InvalidArgument(m))) => error(StatusCode::InvalidArgument, m),
        Ok(Err(e @ ScoreError::Internal(_))) => error(StatusCode::Internal, e.to_string()),
        Err(panic) => error(
            StatusCode::Internal,
            format!(
                "internal error while scoring: {}",
                panic_message(panic.as_ref())
            ),
        ),
    }
}
