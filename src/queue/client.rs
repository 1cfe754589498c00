//! The enqueue client: publishes a job (confirmed) and optionally waits for its result on a
//! private reply queue. It is also the reference for producers in other services.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_lite::StreamExt;

use super::broker::{self, Job, Reply, accepted, consume_private_results, publish_job};
use super::topology;
use crate::config::AmqpSettings;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker did not accept the job (nack or unroutable)")]
    NotAccepted,
    #[error("no result within {0:?}")]
    Timeout(Duration),
    #[error("the reply queue closed before the result arrived")]
    ReplyClosed,
}

#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    pub reference_number: Option<String>,
    /// A JWT; sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// Wait this long for the result; `None` returns after the broker confirmed the job.
    pub wait: Option<Duration>,
}

/// Publishes one job body; returns its job id and, when asked to wait, the result.
pub async fn enqueue(
    amqp: &AmqpSettings,
    body: &[u8],
    opts: &JobOptions,
) -> Result<(String, Option<Reply>), ClientError> {
    let conn = broker::connect(amqp, "enqueue").await?;
    let channel = broker::confirm_channel(&conn).await?;
    // Declaring the topology makes sure the job is not published into nowhere when no worker
    // has started yet.
    topology::declare(&conn, amqp).await?;
    let job_id = uuid::Uuid::new_v4().to_string();

    let mut replies = None;
    if opts.wait.is_some() {
        replies = Some(consume_private_results(&channel).await?);
    }
    let authorization = opts.token.as_ref().map(|t| format!("Bearer {t}"));
    let job = Job {
        reply_to: replies.as_ref().map(|(queue, _)| queue.as_str()),
        reference_number: opts.reference_number.as_deref(),
        authorization: authorization.as_deref(),
        deadline: opts.deadline,
        ..Job::new(&job_id, body)
    };
    let confirm = publish_job(&channel, &amqp.job_queue, &job).await?.await?;
    if !accepted(&confirm) {
        return Err(ClientError::NotAccepted);
    }
    let Some((_, mut consumer)) = replies else {
        let _ = conn.close(200, "done".into()).await;
        return Ok((job_id, None));
    };
    let wait = opts.wait.unwrap_or_default();
    let reply = tokio::time::timeout(wait, async {
        while let Some(d) = consumer.next().await {
            let d = d?;
            let matches =
                d.properties.correlation_id().as_ref().map(|c| c.as_str()) == Some(job_id.as_str());
            if !matches {
                continue;
            }
            return Ok(Reply::from_delivery(&d.properties, d.data));
        }
        Err(ClientError::ReplyClosed)
    })
    .await
    .map_err(|_| ClientError::Timeout(wait))??;
    let _ = conn.close(200, "done".into()).await;
    Ok((job_id, Some(reply)))
}
