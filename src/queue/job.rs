//! Turns one job into exactly one result: authentication, deadline, scoring off the reactor,
//! and every failure mapped to its BWS status. Nothing here can drop a job.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::Semaphore;

use super::broker::{JobMeta, JobResult};
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
    /// One permit per scoring thread: at most that many jobs are scored at once.
    pub permits: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
}

impl JobContext {
    pub async fn handle(&self, meta: &JobMeta, body: Vec<u8>) -> JobResult {
        if self.auth.enabled
            && let Err(e) = crate::auth::verify(meta.authorization.as_deref(), &self.auth)
        {
            return error(StatusCode::Unauthenticated, e.to_string());
        }
        let past_deadline = || match &meta.deadline {
            Some(Ok(d)) if Utc::now() > *d => Some(error(
                StatusCode::DeadlineExceeded,
                format!(
                    "the job's deadline {} passed before scoring",
                    d.to_rfc3339()
                ),
            )),
            _ => None,
        };
        if let Some(Err(e)) = &meta.deadline {
            return error(StatusCode::InvalidArgument, e.clone());
        }
        if let Some(answer) = past_deadline() {
            return answer;
        }
        let Ok(_permit) = self.permits.clone().acquire_owned().await else {
            return error(StatusCode::Unavailable, "the worker is shutting down");
        };
        // Waiting for a scoring thread may have taken the job past its deadline.
        if let Some(answer) = past_deadline() {
            return answer;
        }
        let scorer = self.scorer.clone();
        let started = Instant::now();
        // Scoring is CPU-bound: it runs on the blocking pool, never on the reactor. A panic is
        // caught there and answered 500; the worker goes on.
        let outcome = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| scorer.score_json(&body)))
        })
        .await;
        self.metrics
            .scoring_seconds
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(Ok(Ok(response))) => match serde_json::to_vec(&response) {
                Ok(body) => JobResult { status: 200, body },
                Err(e) => error(
                    StatusCode::Internal,
                    format!("cannot serialise the response: {e}"),
                ),
            },
            Ok(Ok(Err(ScoreError::InvalidArgument(m)))) => error(StatusCode::InvalidArgument, m),
            Ok(Ok(Err(e @ ScoreError::Internal(_)))) => error(StatusCode::Internal, e.to_string()),
            Ok(Err(panic)) => error(
                StatusCode::Internal,
                format!(
                    "internal error while scoring: {}",
                    panic_message(panic.as_ref())
                ),
            ),
            Err(join) => error(
                StatusCode::Internal,
                format!("internal error while scoring: {join}"),
            ),
        }
    }
}
