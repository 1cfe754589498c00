//! The scoring alone: the same job bodies through the engine in this process, on `threads`
//! threads, with no broker. This is the ceiling the end-to-end throughput is compared with.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use liveness::config::Settings;
use liveness::{Engine, ScoreError};

use crate::mix::JobTemplate;
use crate::{LoadtestError, Percentiles, Report, ms, procstat};

/// Scores `jobs` bodies (the templates in turn) on `threads` threads.
pub fn run(
    settings: &Settings,
    templates: &[JobTemplate],
    jobs: usize,
    threads: usize,
) -> Result<Report, LoadtestError> {
    let engine = Arc::new(Engine::new(settings.clone(), threads)?);
    let templates: Arc<Vec<JobTemplate>> = Arc::new(templates.to_vec());
    // One warm-up job per thread and template: the first runs of an ONNX session allocate.
    for t in templates.iter() {
        let _ = engine.score_json(&t.body);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let pid = std::process::id();
    let cpu0 = procstat::cpu_time(pid);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (engine, templates, next) = (engine.clone(), templates.clone(), next.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs || templates.is_empty() {
                        return out;
                    }
                    let t0 = Instant::now();
                    let status = match engine.score_json(&templates[i % templates.len()].body) {
                        Ok(_) => 200,
                        Err(ScoreError::InvalidArgument(_)) => 400,
                        Err(ScoreError::Internal(_)) => 500,
                    };
                    out.push((ms(t0.elapsed()), status));
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(jobs);
    let mut statuses = BTreeMap::new();
    for h in handles {
        let done = h
            .join()
            .map_err(|_| LoadtestError::Workers("a scoring thread panicked".into()))?;
        for (latency, status) in done {
            latencies.push(latency);
            *statuses.entry(status).or_insert(0) += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, procstat::cpu_time(pid)) {
        (Some(a), Some(b)) => ms(b.saturating_sub(a)),
        _ => f64::NAN,
    };
    let answered = latencies.len();
    Ok(Report {
        label: format!("scoring only, {threads} thread(s)"),
        jobs,
        answered,
        seconds,
        jobs_per_second: answered as f64 / seconds,
        latency_ms: Percentiles::of(latencies),
        cpu_ms_per_job: cpu / answered.max(1) as f64,
        client_cpu_ms_per_job: None,
        broker_cpu_ms_per_job: None,
        peak_rss_mb: liveness::telemetry::peak_rss(pid).unwrap_or(0) as f64 / 1e6,
        statuses,
    })
}
