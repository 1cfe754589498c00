//! End to end through the broker: `liveness worker` processes on private queues, a publisher,
//! and a consumer of the results that times every job.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::{Channel, Connection};
use liveness::config::AmqpSettings;
use liveness::queue::broker::{self, Job, Reply, accepted, consume_results, header, publish_job};
use liveness::queue::topology;
use liveness::telemetry::peak_rss;

use crate::mix::JobTemplate;
use crate::{LoadtestError, Percentiles, Report, ms, procstat};

/// One end-to-end run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub label: String,
    /// The `liveness` binary the workers run ([`locate_liveness`]).
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
    /// Publish every job before the workers start, and time them draining that backlog: the
    /// broker's work of taking the jobs in then falls outside the timed window, as it does
    /// where the producers and the broker run on other machines than the workers.
    pub backlog: bool,
    /// Give up waiting for results after this long.
    pub timeout: Duration,
}

/// The `liveness` binary: `explicit` when given, else the one next to this program's own
/// executable (where cargo puts both, and where both are installed). It must run and say it is
/// `liveness`, so that a wrong path fails here rather than after waiting for workers.
pub fn locate_liveness(explicit: Option<&Path>) -> Result<PathBuf, LoadtestError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .map_err(|e| LoadtestError::Liveness {
                path: "next to liveness-loadtest".into(),
                problem: format!("cannot locate this program: {e}"),
            })?
            .with_file_name(format!("liveness{}", std::env::consts::EXE_SUFFIX)),
    };
    let problem = |problem: String| LoadtestError::Liveness {
        path: path.display().to_string(),
        problem,
    };
    let out = Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| problem(e.to_string()))?;
    let version = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !version.starts_with("liveness ") {
        return Err(problem(format!(
            "`--version` answered {:?} ({})",
            version.trim(),
            out.status
        )));
    }
    Ok(path)
}

/// Worker processes that are stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Workers(pub(crate) Vec<Child>);

impl Workers {
    /// The process ids, in the order the workers were started.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.0.iter().map(Child::id).collect()
    }
}

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

/// Starts `count` workers of `exe` on the queues of `amqp`, each with `threads` scoring
/// threads and no metrics endpoint (several on one machine would fight over its port), and
/// returns once all of them consume ([`wait_consuming`], seen on `ch`); a worker that cannot
/// start fails the run there.
pub(crate) async fn start_workers(
    exe: &Path,
    config: Option<&Path>,
    amqp: &AmqpSettings,
    ch: &Channel,
    count: usize,
    threads: usize,
) -> Result<Workers, LoadtestError> {
    let mut workers = Workers(Vec::new());
    for _ in 0..count {
        let mut cmd = Command::new(exe);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.arg("worker")
            .envs(amqp.env_vars())
            .env("LIVENESS__WORKER__THREADS", threads.to_string())
            .env("LIVENESS__TELEMETRY__METRICS_ADDR", "")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        workers.0.push(cmd.spawn().map_err(LoadtestError::Spawn)?);
    }
    wait_consuming(ch, &amqp.job_queue, count).await?;
    Ok(workers)
}

/// Waits until `count` consumers are on `queue` (loading the models takes a moment).
async fn wait_consuming(ch: &Channel, queue: &str, count: usize) -> Result<(), LoadtestError> {
    let ready_by = Instant::now() + Duration::from_secs(120);
    while (topology::inspect(ch, queue).await?.consumer_count() as usize) < count {
        if Instant::now() > ready_by {
            return Err(LoadtestError::Workers(
                "the workers did not start consuming within 120 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Runs one end-to-end load test: `spec.jobs` jobs cycling through `templates`.
pub async fn run(spec: &Spec, templates: &[JobTemplate]) -> Result<Report, LoadtestError> {
    if templates.is_empty() {
        return Err(LoadtestError::Mix("no job templates".into()));
    }
    let amqp = spec
        .amqp
        .renamed(&format!("loadtest.{}", uuid::Uuid::new_v4().simple()));
    let conn = broker::connect(&amqp, "loadtest").await?;
    let ch = conn.create_channel().await?;
    topology::declare(&conn, &amqp).await?;
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
    // Results: receipt times by job id, recorded by a task of their own so that publishing
    // never delays the clock of a result.
    let received: Arc<Mutex<HashMap<String, (Instant, u16)>>> = Arc::default();
    let (count_tx, mut count) = tokio::sync::watch::channel(0usize);
    let results_ch = conn.create_channel().await?;
    let mut results = consume_results(&results_ch, &amqp.results_queue).await?;
    let collector = {
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(Ok(d)) = results.next().await {
                let now = Instant::now();
                let reply = Reply::from_delivery(&d.properties, Vec::new());
                let id = reply.header(header::JOBID).unwrap_or_default();
                let status = reply.status;
                received
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, (now, status));
                count_tx.send_modify(|n| *n += 1);
            }
        })
    };
    let publisher = broker::confirm_channel(conn).await?;

    // Warm-up, not timed: every template once per scoring thread, so that each ONNX session
    // has seen each input shape (the first run of a shape allocates).
    let warmup = templates.len() * spec.workers * spec.threads_per_worker;
    let target = warmup + spec.jobs;
    let mut published: HashMap<String, Instant> = HashMap::with_capacity(spec.jobs);
    let workers_consuming = || {
        start_workers(
            &spec.exe,
            spec.config.as_deref(),
            amqp,
            ch,
            spec.workers,
            spec.threads_per_worker,
        )
    };
    let workers = if spec.backlog {
        // Everything is queued before any worker starts: the warm-up jobs first, so that the
        // workers take them first, and the clock starts once they are answered.
        let mut confirms = publish_jobs(&publisher, amqp, templates, warmup, None, None).await?;
        confirms.extend(
            publish_jobs(
                &publisher,
                amqp,
                templates,
                spec.jobs,
                None,
                Some(&mut published),
            )
            .await?,
        );
        await_confirms(confirms).await?;
        workers_consuming().await?
    } else {
        let workers = workers_consuming().await?;
        await_confirms(publish_jobs(&publisher, amqp, templates, warmup, None, None).await?)
            .await?;
        workers
    };
    let _ = tokio::time::timeout(spec.timeout, count.wait_for(|n| *n >= warmup)).await;
    if !spec.backlog {
        // Only the warm-up has been answered: its results are not timed. From a backlog, the
        // timed jobs may already be answering, so nothing is dropped there (their ids are
        // the ones in `published`).
        received.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    let pids = workers.pids();
    let cpu0: Vec<_> = pids.iter().map(|p| procstat::cpu_time(*p)).collect();
    let me = std::process::id();
    let client_cpu0 = procstat::cpu_time(me);
    let broker = procstat::find_process("beam.smp");
    let broker_cpu0 = broker.and_then(procstat::cpu_time);
    let start = Instant::now();
    if !spec.backlog {
        let confirms = publish_jobs(
            &publisher,
            amqp,
            templates,
            spec.jobs,
            spec.rate.map(|r| (r, start)),
            Some(&mut published),
        )
        .await?;
        await_confirms(confirms).await?;
    }
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
    let peak_rss = pids.iter().filter_map(|p| peak_rss(*p)).max().unwrap_or(0);
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

/// Publishes `jobs` jobs, the templates in turn, and returns their pending confirms. With
/// `pace = Some((rate, from))` job i leaves at `from + i / rate`, whatever the service does
/// meanwhile (open loop); with `published`, each job's id is recorded with when it left.
async fn publish_jobs(
    ch: &Channel,
    amqp: &AmqpSettings,
    templates: &[JobTemplate],
    jobs: usize,
    pace: Option<(f64, Instant)>,
    mut published: Option<&mut HashMap<String, Instant>>,
) -> Result<Vec<lapin::PublisherConfirm>, LoadtestError> {
    let mut confirms = Vec::with_capacity(jobs);
    for i in 0..jobs {
        if let Some((rate, from)) = pace {
            tokio::time::sleep_until((from + Duration::from_secs_f64(i as f64 / rate)).into())
                .await;
        }
        let sent = Instant::now();
        let (id, confirm) = publish(ch, amqp, &templates[i % templates.len()].body).await?;
        if let Some(p) = published.as_deref_mut() {
            p.insert(id, sent);
        }
        confirms.push(confirm);
    }
    Ok(confirms)
}

/// Publishes one job (as every producer does, with a fresh job id); returns the id and the
/// pending confirm.
async fn publish(
    ch: &Channel,
    amqp: &AmqpSettings,
    body: &[u8],
) -> Result<(String, lapin::PublisherConfirm), LoadtestError> {
    let id = uuid::Uuid::new_v4().to_string();
    let confirm = publish_job(ch, &amqp.job_queue, &Job::new(&id, body)).await?;
    Ok((id, confirm))
}

async fn await_confirms(confirms: Vec<lapin::PublisherConfirm>) -> Result<(), LoadtestError> {
    for c in confirms {
        if !accepted(&c.await?) {
            return Err(LoadtestError::Workers(
                "the broker did not accept a job (nack or unroutable)".into(),
            ));
        }
    }
    Ok(())
}
