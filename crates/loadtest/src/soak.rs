//! The soak: many jobs through a few `liveness worker` processes, to show that a worker's memory
//! stays flat over a long run and that no job is lost, failed or answered twice
//! (docs/performance.md, "Soak").
//!
//! The publisher keeps at most `in_flight` jobs published and unanswered (closed loop): a new
//! job leaves only when a result came back. So the broker holds a few bodies at a time rather
//! than the whole run's, and what is measured is the workers' memory, not the broker's queue.
//! Each worker's memory is read from `/proc` as the results come in: at the start, every tenth
//! of a window, and at the ends of the first and of the last window (1000 jobs by default). The
//! growth from the first window's end to the last's is the soak's memory figure.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::{Channel, Connection};
use liveness::config::AmqpSettings;
use liveness::queue::broker::{self, Job, Reply, accepted, consume_results, header, publish_job};
use liveness::queue::topology;
use tokio::sync::Semaphore;

use crate::endtoend::{Workers, start_workers};
use crate::mix::JobTemplate;
use crate::{LoadtestError, Percentiles, ms, procstat};

/// One soak run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The `liveness` binary ([`crate::endtoend::locate_liveness`]).
    pub exe: PathBuf,
    /// A configuration file the workers load (`--config`), if any.
    pub config: Option<PathBuf>,
    /// The broker; the run declares private queues and deletes them at the end.
    pub amqp: AmqpSettings,
    pub workers: usize,
    pub threads_per_worker: usize,
    pub jobs: usize,
    /// Most jobs published and not yet answered at any time.
    pub in_flight: usize,
    /// Jobs per window: memory is compared between the end of the first window and the end of
    /// the last. Cut to half the jobs when there are fewer than two windows' worth.
    pub window: usize,
    /// Give up when no result has arrived for this long.
    pub stall: Duration,
}

/// A process's memory at one moment, MiB.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MemoryMib {
    pub rss: f64,
    /// Peak RSS since the process started (`VmHWM`).
    pub hwm: f64,
    pub anon: f64,
}

const MIB: f64 = 1024.0 * 1024.0;

impl From<procstat::Memory> for MemoryMib {
    fn from(m: procstat::Memory) -> MemoryMib {
        MemoryMib {
            rss: m.rss as f64 / MIB,
            hwm: m.hwm as f64 / MIB,
            anon: m.anon as f64 / MIB,
        }
    }
}

/// The memory of every worker (and of the broker) once `answered` jobs were answered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    pub answered: usize,
    /// Since the first publication.
    pub seconds: f64,
    /// By worker, in the order they were started; `None` once a worker is gone.
    pub workers: Vec<Option<MemoryMib>>,
    /// The broker's RSS when it runs on this machine (`beam.smp`), MiB.
    pub broker_rss: Option<f64>,
}

/// Memory at the end of the first window and at the end of the run, and its growth.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Growth {
    /// Jobs answered at the first and at the last reading.
    pub first_answered: usize,
    pub last_answered: usize,
    pub first: MemoryMib,
    pub last: MemoryMib,
    /// `last - first`, MiB.
    pub hwm_mib: f64,
    pub rss_mib: f64,
    pub anon_mib: f64,
    /// The same in % of `first`.
    pub hwm_pct: f64,
    pub rss_pct: f64,
}

impl Growth {
    fn between(first: (usize, MemoryMib), last: (usize, MemoryMib)) -> Growth {
        let pct = |a: f64, b: f64| if a > 0.0 { 100.0 * (b - a) / a } else { 0.0 };
        let (f, l) = (first.1, last.1);
        Growth {
            first_answered: first.0,
            last_answered: last.0,
            first: f,
            last: l,
            hwm_mib: l.hwm - f.hwm,
            rss_mib: l.rss - f.rss,
            anon_mib: l.anon - f.anon,
            hwm_pct: pct(f.hwm, l.hwm),
            rss_pct: pct(f.rss, l.rss),
        }
    }
}

/// What went wrong. A soak passes when every count is 0 and no worker exited.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Errors {
    /// Results whose status is not 200 (every job of the mix is a valid request).
    pub non_200: usize,
    /// Jobs the broker accepted that got no result.
    pub missing: usize,
    /// Second and later results for the same job id.
    pub duplicates: usize,
    /// Results for job ids this run never published.
    pub unknown: usize,
    /// Publications the broker refused (nack, or unroutable).
    pub rejected: usize,
    /// Workers that exited before the run stopped them, with their exit status.
    pub worker_exits: Vec<String>,
    /// The run gave up waiting: no result for the stall time, no worker left, or the results'
    /// consumer ended.
    pub stalled: bool,
}

impl Errors {
    pub fn none(&self) -> bool {
        self.non_200 == 0
            && self.missing == 0
            && self.duplicates == 0
            && self.unknown == 0
            && self.rejected == 0
            && self.worker_exits.is_empty()
            && !self.stalled
    }
}

/// What a soak measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    pub jobs: usize,
    pub workers: usize,
    pub threads_per_worker: usize,
    pub in_flight: usize,
    pub window: usize,
    /// The job templates, used in turn.
    pub mix: Vec<String>,
    /// Jobs the broker accepted.
    pub published: usize,
    /// Jobs answered (first result of each).
    pub answered: usize,
    /// From the first publication to the last result.
    pub seconds: f64,
    pub jobs_per_second: f64,
    /// Throughput over the first and over the last window: a slowdown over the run shows here.
    pub first_window_jobs_per_second: Option<f64>,
    pub last_window_jobs_per_second: Option<f64>,
    /// Publication to result, milliseconds; with `in_flight` jobs queued in front of the
    /// workers, most of it is waiting for a turn.
    pub latency_ms: Percentiles,
    /// CPU time of the workers per answered job, milliseconds.
    pub cpu_ms_per_job: f64,
    /// The most jobs that were published and unanswered at once (at most `in_flight`).
    pub max_in_flight: usize,
    pub statuses: BTreeMap<u16, usize>,
    pub errors: Errors,
    /// By worker: growth from the end of the first window to the end of the run; `None` when a
    /// reading is missing (the worker was gone).
    pub memory: Vec<Option<Growth>>,
    /// The same summed over the workers (peak: the sum of each worker's own peak).
    pub total: Option<Growth>,
    /// The broker's RSS at the same two moments, MiB (informative: it is not the service).
    pub broker_rss: Option<(f64, f64)>,
    pub samples: Vec<Sample>,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        self.errors.none() && self.answered == self.jobs
    }
}

/// What the results' collector and the publisher share.
struct Ledger {
    /// Published (or being published) and not answered yet: the publication time by job id.
    pending: HashMap<String, Instant>,
    answered: HashSet<String>,
    latencies: Vec<f64>,
    statuses: BTreeMap<u16, usize>,
    duplicates: usize,
    unknown: usize,
    last_result: Option<Instant>,
    samples: Vec<Sample>,
}

/// When to read memory: which answered counts.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    jobs: usize,
    window: usize,
    every: usize,
}

impl Schedule {
    fn new(jobs: usize, window: usize) -> Schedule {
        let window = window.min(jobs / 2).max(1);
        Schedule {
            jobs,
            window,
            every: (window / 10).max(1),
        }
    }

    fn reads_at(&self, answered: usize) -> bool {
        answered.is_multiple_of(self.every)
            || answered == self.window
            || answered == self.jobs.saturating_sub(self.window)
            || answered == self.jobs
    }
}

fn lock(l: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    // A panic elsewhere while holding the lock leaves counts that are still meaningful.
    l.lock().unwrap_or_else(|e| e.into_inner())
}

fn sample(answered: usize, start: Instant, pids: &[u32], broker: Option<u32>) -> Sample {
    Sample {
        answered,
        seconds: start.elapsed().as_secs_f64(),
        workers: pids
            .iter()
            .map(|p| procstat::memory(*p).map(MemoryMib::from))
            .collect(),
        broker_rss: broker
            .and_then(procstat::memory)
            .map(|m| m.rss as f64 / MIB),
    }
}

/// Runs the soak: `spec.jobs` jobs cycling through `templates`.
pub async fn run(spec: &Spec, templates: &[JobTemplate]) -> Result<SoakReport, LoadtestError> {
    if templates.is_empty() || spec.jobs == 0 || spec.in_flight == 0 || spec.workers == 0 {
        return Err(LoadtestError::Mix(
            "a soak needs job templates, jobs, workers and at least one job in flight".into(),
        ));
    }
    let amqp = spec
        .amqp
        .renamed(&format!("soak.{}", uuid::Uuid::new_v4().simple()));
    let conn = broker::connect(&amqp, "soak").await?;
    let ch = conn.create_channel().await?;
    topology::declare(&conn, &amqp).await?;
    let outcome = drive(spec, &amqp, &conn, &ch, templates).await;
    topology::remove(&ch, &amqp).await;
    let _ = conn.close(200, "soak done".into()).await;
    outcome
}

/// Workers that exited on their own since the last look, as "worker N (pid P): status".
fn exits(workers: &mut Workers, seen: &mut [bool], out: &mut Vec<String>) {
    for (i, c) in workers.0.iter_mut().enumerate() {
        if seen[i] {
            continue;
        }
        match c.try_wait() {
            Ok(Some(status)) => {
                seen[i] = true;
                out.push(format!("worker {} (pid {}): {status}", i + 1, c.id()));
            }
            Ok(None) => {}
            Err(e) => {
                seen[i] = true;
                out.push(format!("worker {} (pid {}): {e}", i + 1, c.id()));
            }
        }
    }
}

async fn drive(
    spec: &Spec,
    amqp: &AmqpSettings,
    conn: &Connection,
    ch: &Channel,
    templates: &[JobTemplate],
) -> Result<SoakReport, LoadtestError> {
    let mut workers = start_workers(
        &spec.exe,
        spec.config.as_deref(),
        amqp,
        ch,
        spec.workers,
        spec.threads_per_worker,
    )
    .await?;
    let pids = workers.pids();
    let broker = procstat::find_process("beam.smp");
    let schedule = Schedule::new(spec.jobs, spec.window);

    let permits = Arc::new(Semaphore::new(spec.in_flight));
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let start = Instant::now();
    let ledger = Arc::new(Mutex::new(Ledger {
        pending: HashMap::with_capacity(spec.in_flight * 2),
        answered: HashSet::with_capacity(spec.jobs),
        latencies: Vec::with_capacity(spec.jobs),
        statuses: BTreeMap::new(),
        duplicates: 0,
        unknown: 0,
        last_result: None,
        samples: vec![sample(0, start, &pids, broker)],
    }));

    let results_ch = conn.create_channel().await?;
    let mut results = consume_results(&results_ch, &amqp.results_queue).await?;
    let collector = {
        let (ledger, permits, pids) = (ledger.clone(), permits.clone(), pids.clone());
        tokio::spawn(async move {
            while let Some(Ok(d)) = results.next().await {
                let now = Instant::now();
                let reply = Reply::from_delivery(&d.properties, Vec::new());
                let id = reply.header(header::JOBID).unwrap_or_default();
                let answered = {
                    let mut l = lock(&ledger);
                    let Some(sent) = l.pending.remove(&id) else {
                        if l.answered.contains(&id) {
                            l.duplicates += 1;
                        } else {
                            l.unknown += 1;
                        }
                        continue;
                    };
                    l.latencies.push(ms(now.saturating_duration_since(sent)));
                    *l.statuses.entry(reply.status).or_insert(0) += 1;
                    l.answered.insert(id);
                    l.last_result = Some(now);
                    l.answered.len()
                };
                // The job's slot is free: the publisher may send the next one.
                permits.add_permits(1);
                if schedule.reads_at(answered) {
                    let s = sample(answered, start, &pids, broker);
                    lock(&ledger).samples.push(s);
                }
                progress_tx.send_replace(answered);
            }
        })
    };

    let publisher = broker::confirm_channel(conn).await?;
    let cpu0: Vec<_> = pids.iter().map(|p| procstat::cpu_time(*p)).collect();
    let mut exited = vec![false; pids.len()];
    let mut worker_exits = Vec::new();
    let mut confirms: VecDeque<(String, lapin::PublisherConfirm)> = VecDeque::new();
    let (mut published, mut rejected, mut max_in_flight) = (0usize, 0usize, 0usize);
    let mut stalled = false;
    // No result for the stall time, no worker left, or no consumer of the results: nothing
    // more will be answered.
    let mut hopeless = |workers: &mut Workers, worker_exits: &mut Vec<String>| {
        exits(workers, &mut exited, worker_exits);
        let since = lock(&ledger).last_result.unwrap_or(start).elapsed();
        since > spec.stall || exited.iter().all(|e| *e) || collector.is_finished()
    };
    'publish: for i in 0..spec.jobs {
        loop {
            match tokio::time::timeout(Duration::from_secs(1), permits.acquire()).await {
                Ok(Ok(p)) => {
                    // The slot is handed back by the collector when the result comes.
                    p.forget();
                    break;
                }
                Ok(Err(_)) => {
                    return Err(LoadtestError::Workers("the job slots were closed".into()));
                }
                Err(_) => {
                    if hopeless(&mut workers, &mut worker_exits) {
                        stalled = true;
                        break 'publish;
                    }
                }
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        {
            // Recorded before the publication, so that a result can never arrive first.
            let mut l = lock(&ledger);
            l.pending.insert(id.clone(), Instant::now());
            max_in_flight = max_in_flight.max(l.pending.len());
        }
        let body = &templates[i % templates.len()].body;
        let confirm = publish_job(&publisher, &amqp.job_queue, &Job::new(&id, body)).await?;
        confirms.push_back((id, confirm));
        // Confirms arrive in order; settling the oldest keeps the list as short as the window.
        while confirms.len() > spec.in_flight {
            if let Some((id, c)) = confirms.pop_front() {
                settle(&ledger, &permits, id, c, &mut published, &mut rejected).await?;
            }
        }
    }
    while let Some((id, c)) = confirms.pop_front() {
        settle(&ledger, &permits, id, c, &mut published, &mut rejected).await?;
    }
    // The last results.
    while !stalled && *progress.borrow() < published {
        match tokio::time::timeout(Duration::from_secs(1), progress.changed()).await {
            Ok(Ok(())) => {}
            // The collector ended (its consumer was cancelled or the connection lost).
            Ok(Err(_)) => stalled = true,
            Err(_) => stalled = hopeless(&mut workers, &mut worker_exits),
        }
    }
    exits(&mut workers, &mut exited, &mut worker_exits);
    let cpu: f64 = pids
        .iter()
        .zip(&cpu0)
        .filter_map(|(p, c0)| Some(ms(procstat::cpu_time(*p)?.saturating_sub((*c0)?))))
        .sum();
    {
        let answered = lock(&ledger).answered.len();
        let needs_last = lock(&ledger)
            .samples
            .last()
            .is_none_or(|s| s.answered != answered);
        if needs_last {
            let s = sample(answered, start, &pids, broker);
            lock(&ledger).samples.push(s);
        }
    }
    collector.abort();
    drop(workers);

    let l = lock(&ledger);
    let answered = l.answered.len();
    let seconds = l
        .last_result
        .map_or(0.0, |t| t.saturating_duration_since(start).as_secs_f64());
    let samples = l.samples.clone();
    let at = |n: usize| samples.iter().find(|s| s.answered == n);
    let window_rate = |from: usize, to: usize| {
        let (a, b) = (at(from)?, at(to)?);
        let dt = b.seconds - a.seconds;
        (to > from && dt > 0.0).then(|| (to - from) as f64 / dt)
    };
    let first = at(schedule.window);
    let last = samples.last().filter(|s| s.answered > schedule.window);
    let memory: Vec<Option<Growth>> = (0..pids.len())
        .map(|w| {
            let (f, l) = (first?, last?);
            Some(Growth::between(
                (f.answered, f.workers[w]?),
                (l.answered, l.workers[w]?),
            ))
        })
        .collect();
    let total = memory
        .iter()
        .copied()
        .collect::<Option<Vec<Growth>>>()
        .and_then(|g| {
            let sum = |pick: fn(&Growth) -> MemoryMib| {
                g.iter().map(pick).fold(
                    MemoryMib {
                        rss: 0.0,
                        hwm: 0.0,
                        anon: 0.0,
                    },
                    |a, m| MemoryMib {
                        rss: a.rss + m.rss,
                        hwm: a.hwm + m.hwm,
                        anon: a.anon + m.anon,
                    },
                )
            };
            let one = g.first()?;
            Some(Growth::between(
                (one.first_answered, sum(|g| g.first)),
                (one.last_answered, sum(|g| g.last)),
            ))
        });
    let non_200 = l
        .statuses
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(_, n)| n)
        .sum();
    Ok(SoakReport {
        jobs: spec.jobs,
        workers: spec.workers,
        threads_per_worker: spec.threads_per_worker,
        in_flight: spec.in_flight,
        window: schedule.window,
        mix: templates.iter().map(|t| t.name.clone()).collect(),
        published,
        answered,
        seconds,
        jobs_per_second: if seconds > 0.0 {
            answered as f64 / seconds
        } else {
            0.0
        },
        first_window_jobs_per_second: window_rate(0, schedule.window),
        last_window_jobs_per_second: window_rate(
            answered.saturating_sub(schedule.window),
            answered,
        ),
        latency_ms: Percentiles::of(l.latencies.clone()),
        cpu_ms_per_job: cpu / answered.max(1) as f64,
        max_in_flight,
        statuses: l.statuses.clone(),
        errors: Errors {
            non_200,
            missing: published.saturating_sub(answered),
            duplicates: l.duplicates,
            unknown: l.unknown,
            rejected,
            worker_exits,
            stalled,
        },
        memory,
        total,
        broker_rss: first
            .and_then(|f| f.broker_rss)
            .zip(last.and_then(|l| l.broker_rss)),
        samples,
    })
}

/// Waits for a publication's confirm: an accepted job counts as published; a refused one will
/// never be answered, so its slot is handed back.
async fn settle(
    ledger: &Mutex<Ledger>,
    permits: &Semaphore,
    id: String,
    confirm: lapin::PublisherConfirm,
    published: &mut usize,
    rejected: &mut usize,
) -> Result<(), LoadtestError> {
    if accepted(&confirm.await?) {
        *published += 1;
    } else {
        *rejected += 1;
        if lock(ledger).pending.remove(&id).is_some() {
            permits.add_permits(1);
        }
    }
    Ok(())
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.1}"));
        writeln!(
            f,
            "soak: {} jobs ({}) through {} worker(s) x {} thread(s), at most {} in flight (most seen {})",
            self.jobs,
            self.mix.join(", "),
            self.workers,
            self.threads_per_worker,
            self.in_flight,
            self.max_in_flight,
        )?;
        let l = &self.latency_ms;
        writeln!(
            f,
            "answered {}/{} in {:.1} s: {:.1} jobs/s (first {w}: {}, last {w}: {}); latency ms p50 {:.1} p95 {:.1} p99 {:.1} max {:.1}; worker CPU/job {:.1} ms",
            self.answered,
            self.jobs,
            self.seconds,
            self.jobs_per_second,
            rate(self.first_window_jobs_per_second),
            rate(self.last_window_jobs_per_second),
            l.p50,
            l.p95,
            l.p99,
            l.max,
            self.cpu_ms_per_job,
            w = self.window,
        )?;
        writeln!(f, "statuses {:?}", self.statuses)?;
        let line = |f: &mut fmt::Formatter<'_>, name: &str, g: &Option<Growth>| match g {
            None => writeln!(f, "{name:<10} memory not readable at both ends"),
            Some(g) => writeln!(
                f,
                "{name:<10} peak (VmHWM) {:>7.1} -> {:>7.1} MiB ({:+.2} MiB, {:+.2} %)   RSS {:>7.1} -> {:>7.1} MiB ({:+.2} MiB, {:+.2} %)   anon {:>7.1} -> {:>7.1} MiB ({:+.2})",
                g.first.hwm,
                g.last.hwm,
                g.hwm_mib,
                g.hwm_pct,
                g.first.rss,
                g.last.rss,
                g.rss_mib,
                g.rss_pct,
                g.first.anon,
                g.last.anon,
                g.anon_mib,
            ),
        };
        let ends = self
            .memory
            .iter()
            .flatten()
            .next()
            .map_or(String::new(), |g| {
                format!(
                    " (after {} jobs -> after {})",
                    g.first_answered, g.last_answered
                )
            });
        writeln!(f, "memory{ends}:")?;
        for (i, g) in self.memory.iter().enumerate() {
            line(f, &format!("worker {}", i + 1), g)?;
        }
        line(f, "total", &self.total)?;
        if let Some((a, b)) = self.broker_rss {
            writeln!(f, "broker RSS {a:.1} -> {b:.1} MiB")?;
        }
        if self.passed() {
            write!(f, "errors: none")
        } else {
            write!(f, "errors: {}", self.errors)
        }
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} non-200, {} missing, {} duplicate(s), {} unknown, {} rejected, {} worker exit(s)",
            self.non_200,
            self.missing,
            self.duplicates,
            self.unknown,
            self.rejected,
            self.worker_exits.len(),
        )?;
        if !self.worker_exits.is_empty() {
            write!(f, " ({})", self.worker_exits.join("; "))?;
        }
        if self.stalled {
            write!(f, ", gave up waiting")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_at_both_window_ends_and_every_tenth_of_a_window() {
        let s = Schedule::new(10_000, 1000);
        let at: Vec<usize> = (0..=10_000).filter(|n| s.reads_at(*n)).collect();
        assert_eq!(at.len(), 101);
        assert!(at.contains(&1000) && at.contains(&9000) && at.contains(&10_000));
        // Fewer jobs than two windows: the window is half the jobs, read at its end.
        let small = Schedule::new(60, 1000);
        assert_eq!(small.window, 30);
        assert!(small.reads_at(30) && small.reads_at(60) && small.reads_at(3));
        let odd = Schedule::new(7, 1000);
        assert_eq!(odd.window, 3);
        assert!(odd.reads_at(3) && odd.reads_at(4) && odd.reads_at(7));
        assert_eq!(Schedule::new(1, 1000).window, 1);
    }

    #[test]
    fn growth_in_mib_and_percent() {
        let m = |mib: f64| MemoryMib {
            rss: mib,
            hwm: mib + 10.0,
            anon: mib / 2.0,
        };
        let g = Growth::between((1000, m(100.0)), (10_000, m(110.0)));
        assert_eq!((g.rss_mib, g.hwm_mib, g.anon_mib), (10.0, 10.0, 5.0));
        assert!((g.rss_pct - 10.0).abs() < 1e-9);
        assert!((g.hwm_pct - 100.0 * 10.0 / 110.0).abs() < 1e-9);
    }
}
