//! End to end through the broker: worker processes of this binary on private queues, a
//! publisher, and a consumer of the results that times every job.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use super::mix::JobTemplate;
use super::{LoadtestError, Percentiles, Report, ms, procstat};
use crate::config::AmqpSettings;
use crate::queue::client::Reply;
use crate::queue::topology;

/// One end-to-end run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub label: String,
    /// The `liveness` binary the workers run.
    pub exe: PathBuf,
    /// A configuration file the workers load (`--config`), if any.
    pub config: Option<PathBuf>,
    /// The broker; the run declares private queues named after a fresh id (see
    /// [`AmqpSettings::renamed`]) and deletes them at the end.
    pub amqp: AmqpSettings,
    pub workers: usize,
    pub threads_per_worker: usize,
    pub jobs: usize,
    /// Jobs per second, paced; `None` publishes everything at once.
    pub rate: Option<f64>,
    /// Give up waiting for results after this long.
    pub timeout: Duration,
}

/// Worker processes that are stopped (SIGTERM, then SIGKILL) when dropped.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        let end = Instant::now() + Duration::from_secs(10);
        for c in &mut self.0 {
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_workers(spec: &Spec, amqp: &AmqpSettings) -> Result<Workers, LoadtestError> {
    let mut workers = Workers(Vec::new());
    for _ in 0..spec.workers {
        let mut cmd = Command::new(&spec.exe);
        if let Some(c) = &spec.config {
            cmd.arg("--config").arg(c);
        }
        cmd.arg("worker")
            .envs(amqp.env_vars())
            .env(
                "LIVENESS__WORKER__THREADS",
                spec.threads_per_worker.to_string(),
            )
            .env("LIVENESS__TELEMETRY__METRICS_ADDR", "")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        workers.0.push(cmd.spawn().map_err(LoadtestError::Spawn)?);
    }
    Ok(workers)
}

/// Runs one end-to-end load test: `spec.jobs` jobs cycling through `templates`.
pub async fn run(spec: &Spec, templates: &[JobTemplate]) -> Result<Report, LoadtestError> {
    if templates.is_empty() {
        return Err(LoadtestError::Mix("no job templates".into()));
    }
    let amqp = spec
        .amqp
        .renamed(&format!("loadtest.{}", uuid::Uuid::new_v4().simple()));
    let conn = Connection::connect(&amqp.url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    topology::declare(&ch, &amqp).await?;
    let outcome = drive(spec, &amqp, &conn, &ch, templates).await;
    topology::remove(&ch, &amqp).await;
    let _ = conn.close(200, "loadtest done".into()).await;
    outcome
}

async fn drive(
    spec: &Spec,
    amqp: &AmqpSettings,
    conn: &Connection,
    ch: &Channel,
    templates: &[JobTemplate],
) -> Result<Report, LoadtestError> {
    let workers = spawn_workers(spec, amqp)?;
    // Wait until every worker consumes (loading the models takes a moment).
    let ready_by = Instant::now() + Duration::from_secs(120);
    while topology::inspect(ch, &amqp.job_queue)
        .await?
        .consumer_count()
        < spec.workers as u32
    {
        if Instant::now() > ready_by {
            return Err(LoadtestError::Workers(
                "the workers did not start consuming within 120 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pids: Vec<u32> = workers.0.iter().map(Child::id).collect();

    // Results: receipt times by job id, recorded by a task of their own so that publishing
    // never delays the clock of a result.
    let received: Arc<Mutex<HashMap<String, (Instant, u16)>>> = Arc::default();
    let (count_tx, mut count) = tokio::sync::watch::channel(0usize);
    let results_ch = conn.create_channel().await?;
    let mut results = results_ch
        .basic_consume(
            amqp.results_queue.as_str().into(),
            "loadtest".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let collector = {
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(Ok(d)) = results.next().await {
                let now = Instant::now();
                let reply = Reply::from_delivery(&d.properties, Vec::new());
                let id = reply.header("jobid").unwrap_or_default();
                let status = reply.status;
                received
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, (now, status));
                count_tx.send_modify(|n| *n += 1);
            }
        })
    };
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    // Warm-up, not timed: every template once per scoring thread, so that each ONNX session
    // has seen each input shape (the first run of a shape allocates).
    let warmup = templates.len() * spec.workers * spec.threads_per_worker;
    let mut confirms = Vec::new();
    for i in 0..warmup {
        confirms.push(
            publish(&publisher, amqp, &templates[i % templates.len()].body)
                .await?
                .1,
        );
    }
    await_confirms(confirms).await?;
    let _ = tokio::time::timeout(spec.timeout, count.wait_for(|n| *n >= warmup)).await;
    received.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let target = warmup + spec.jobs;

    let cpu0: Vec<_> = pids.iter().map(|p| procstat::cpu_time(*p)).collect();
    let me = std::process::id();
    let client_cpu0 = procstat::cpu_time(me);
    let broker = procstat::find_process("beam.smp");
    let broker_cpu0 = broker.and_then(procstat::cpu_time);
    let mut published: HashMap<String, Instant> = HashMap::with_capacity(spec.jobs);
    let start = Instant::now();
    let mut confirms = Vec::with_capacity(spec.jobs);
    for i in 0..spec.jobs {
        if let Some(rate) = spec.rate {
            // Open loop: job i leaves at i / rate, whatever the service does meanwhile.
            tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate)).into())
                .await;
        }
        let sent = Instant::now();
        let (id, confirm) = publish(&publisher, amqp, &templates[i % templates.len()].body).await?;
        published.insert(id, sent);
        confirms.push(confirm);
    }
    await_confirms(confirms).await?;
    let _ = tokio::time::timeout(spec.timeout, count.wait_for(|n| *n >= target)).await;
    let cpu: f64 = pids
        .iter()
        .zip(&cpu0)
        .filter_map(|(p, c0)| Some(ms(procstat::cpu_time(*p)?.saturating_sub((*c0)?))))
        .sum();
    let client_cpu = match (client_cpu0, procstat::cpu_time(me)) {
        (Some(a), Some(b)) => Some(ms(b.saturating_sub(a))),
        _ => None,
    };
    let broker_cpu = match (broker_cpu0, broker.and_then(procstat::cpu_time)) {
        (Some(a), Some(b)) => Some(ms(b.saturating_sub(a))),
        _ => None,
    };
    let peak_rss = pids
        .iter()
        .filter_map(|p| procstat::peak_rss(*p))
        .max()
        .unwrap_or(0);
    collector.abort();
    drop(workers);

    let received = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut latencies = Vec::with_capacity(received.len());
    let mut statuses = BTreeMap::new();
    let mut last = start;
    for (id, (at, status)) in &received {
        if let Some(sent) = published.get(id) {
            latencies.push(ms(at.saturating_duration_since(*sent)));
            *statuses.entry(*status).or_insert(0) += 1;
            last = last.max(*at);
        }
    }
    let answered = latencies.len();
    let seconds = last.saturating_duration_since(start).as_secs_f64();
    Ok(Report {
        label: spec.label.clone(),
        jobs: spec.jobs,
        answered,
        seconds,
        jobs_per_second: if seconds > 0.0 {
            answered as f64 / seconds
        } else {
            0.0
        },
        latency_ms: Percentiles::of(latencies),
        cpu_ms_per_job: cpu / answered.max(1) as f64,
        client_cpu_ms_per_job: client_cpu.map(|c| c / answered.max(1) as f64),
        broker_cpu_ms_per_job: broker_cpu.map(|b| b / answered.max(1) as f64),
        peak_rss_mb: peak_rss as f64 / 1e6,
        statuses,
    })
}

/// Publishes one job (persistent, with a fresh job id); returns the id and the pending confirm.
async fn publish(
    ch: &Channel,
    amqp: &AmqpSettings,
    body: &[u8],
) -> Result<(String, lapin::PublisherConfirm), LoadtestError> {
    let id = uuid::Uuid::new_v4().to_string();
    let props = BasicProperties::default()
        .with_message_id(id.as_str().into())
        .with_correlation_id(id.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    let confirm = ch
        .basic_publish(
            "".into(),
            amqp.job_queue.as_str().into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await?;
    Ok((id, confirm))
}

async fn await_confirms(confirms: Vec<lapin::PublisherConfirm>) -> Result<(), LoadtestError> {
    for c in confirms {
        if !c.await?.is_ack() {
            return Err(LoadtestError::Workers(
                "the broker refused (nacked) a job".into(),
            ));
        }
    }
    Ok(())
}
