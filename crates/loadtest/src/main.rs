//! `liveness-loadtest`: end-to-end throughput and latency through the real broker, and the
//! scoring alone on the same cores, on a realistic job mix; and the soak (`--soak`): memory and
//! errors over a long run (docs/performance.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use liveness::config::Settings;
use liveness_loadtest::mix::{self, MixKind};
use liveness_loadtest::{Report, endtoend, scoring, soak};

#[derive(Parser)]
#[command(
    name = "liveness-loadtest",
    version,
    about = "Measures throughput and latency through the broker with `liveness worker` processes, and of the scoring alone"
)]
struct Args {
    /// Extra configuration file (TOML) for this program and the workers it starts, layered
    /// over config/default.toml; environment variables LIVENESS__SECTION__KEY override both.
    #[arg(long, env = "LIVENESS_CONFIG")]
    config: Option<PathBuf>,
    /// The `liveness` binary to run the workers with; default: the one next to this program.
    #[arg(long, env = "LIVENESS_BIN")]
    liveness: Option<PathBuf>,
    /// Jobs per run (after a warm-up of one job per template and scoring thread) [default:
    /// 200; --soak: 10000, no warm-up].
    #[arg(long)]
    jobs: Option<usize>,
    /// Worker processes [default: 1; --soak: 2].
    #[arg(long)]
    workers: Option<usize>,
    /// Scoring threads per worker process (and for --scoring-only) [default: what a worker
    /// started with `make run` uses, `[worker] threads` of the configuration (the cores when
    /// 0); --suite and --soak: 1].
    #[arg(long)]
    threads: Option<usize>,
    /// Publish at this many jobs per second (open loop); default: all at once.
    #[arg(long)]
    rate: Option<f64>,
    /// Publish every job before starting the workers, and time them draining that backlog
    /// (the broker's intake of the jobs is then outside the timed window; latencies include
    /// the wait in the queue).
    #[arg(long, conflicts_with_all = ["rate", "scoring_only", "suite"])]
    backlog: bool,
    /// Which jobs: all (one- and two-image, PNG and JPEG, tags or not), pairs or single
    /// [default: all; --soak: single].
    #[arg(long, value_enum)]
    mix: Option<MixKind>,
    /// The test images (the project's shared data folder).
    #[arg(long, env = "LIVENESS_DATA", default_value = "../shared/data")]
    data: PathBuf,
    /// Score in this process without the broker (the ceiling for the end-to-end runs).
    #[arg(long)]
    scoring_only: bool,
    /// Run the standard suite of docs/performance.md and print it as a Markdown table.
    #[arg(long)]
    suite: bool,
    /// The soak: --jobs jobs through --workers workers with at most --in-flight unanswered,
    /// reporting throughput, the workers' memory from the first to the last --window jobs, and
    /// errors. Exits with status 1 when a job is missing, answered twice or not with 200, or a
    /// worker exited.
    #[arg(long, conflicts_with_all = ["suite", "scoring_only", "rate"])]
    soak: bool,
    /// --soak: the most jobs published and not yet answered at once [default: 8 per scoring
    /// thread: each worker holds 2 per thread (its prefetch), the rest wait in the broker].
    #[arg(long, requires = "soak")]
    in_flight: Option<usize>,
    /// --soak: jobs per window; memory is compared between the ends of the first and of the
    /// last window.
    #[arg(long, default_value_t = 1000, requires = "soak")]
    window: usize,
    /// Also write the reports as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Give up waiting for results after this many seconds [default: 600; --soak: 60 seconds
    /// without any result].
    #[arg(long)]
    timeout: Option<u64>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liveness-loadtest: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if args.soak {
        return run_soak(&args);
    }
    let jobs = args.jobs.unwrap_or(200);
    let workers = args.workers.unwrap_or(1);
    let config = args.config.as_deref();
    let settings = Settings::load(config)?;
    // One run measures the worker as deployed; the suite's runs keep their one thread each.
    let threads = args.threads.unwrap_or(if args.suite {
        1
    } else {
        settings.worker.threads()
    });
    // Only the end-to-end runs start workers; the scoring alone needs no binary.
    let exe = if args.scoring_only && !args.suite {
        PathBuf::new()
    } else {
        endtoend::locate_liveness(args.liveness.as_deref())?
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let spec = |label: String, workers: usize, jobs: usize, rate: Option<f64>| endtoend::Spec {
        label,
        exe: exe.clone(),
        config: config.map(Path::to_path_buf),
        amqp: settings.amqp.clone(),
        workers,
        threads_per_worker: threads,
        jobs,
        rate,
        backlog: args.backlog,
        timeout: Duration::from_secs(args.timeout.unwrap_or(600)),
    };
    let mut reports: Vec<Report> = Vec::new();
    let mut show = |r: Report| {
        println!("{r}");
        reports.push(r);
    };
    if args.suite {
        let pairs = mix::build(&args.data, MixKind::Pairs)?;
        let all = mix::build(&args.data, MixKind::All)?;
        describe(&all);
        let n = jobs;
        show(
            scoring::run(&settings.scoring, &pairs, n, 1)?
                .labelled("pairs: scoring only, 1 thread"),
        );
        show(
            scoring::run(&settings.scoring, &pairs, n, 2)?
                .labelled("pairs: scoring only, 2 threads"),
        );
        show(runtime.block_on(endtoend::run(
            &spec("pairs: broker, 1 worker".into(), 1, n, None),
            &pairs,
        ))?);
        show(runtime.block_on(endtoend::run(
            &spec("pairs: broker, 2 workers".into(), 2, n, None),
            &pairs,
        ))?);
        let burst = runtime.block_on(endtoend::run(
            &spec("mix: broker, 2 workers".into(), 2, n, None),
            &all,
        ))?;
        let rate = 0.7 * burst.jobs_per_second;
        show(burst);
        show(runtime.block_on(endtoend::run(
            &spec(
                format!("mix: broker, 2 workers, paced {rate:.1}/s"),
                2,
                n,
                Some(rate),
            ),
            &all,
        ))?);
        // One-image jobs, the measure of the broker path: end to end against the
        // scoring alone, with the jobs published meanwhile and drained from a backlog.
        let single = mix::build(&args.data, MixKind::Single)?;
        show(
            scoring::run(&settings.scoring, &single, n, 2)?
                .labelled("single: scoring only, 2 threads"),
        );
        show(runtime.block_on(endtoend::run(
            &spec("single: broker, 2 workers".into(), 2, n, None),
            &single,
        ))?);
        show(runtime.block_on(endtoend::run(
            &endtoend::Spec {
                backlog: true,
                ..spec(
                    "single: broker, 2 workers, draining a backlog".into(),
                    2,
                    n,
                    None,
                )
            },
            &single,
        ))?);
        print_markdown(&reports);
    } else {
        let templates = mix::build(&args.data, args.mix.unwrap_or(MixKind::All))?;
        describe(&templates);
        if args.scoring_only {
            show(scoring::run(&settings.scoring, &templates, jobs, threads)?);
        } else {
            let label = format!(
                "broker, {} worker(s) x {} thread(s){}{}",
                workers,
                threads,
                args.rate
                    .map(|r| format!(", paced {r}/s"))
                    .unwrap_or_default(),
                if args.backlog {
                    ", draining a backlog"
                } else {
                    ""
                }
            );
            show(runtime.block_on(endtoend::run(
                &spec(label, workers, jobs, args.rate),
                &templates,
            ))?);
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&reports)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `--soak`: prints the report, writes it as JSON when asked, and fails when a job went wrong.
fn run_soak(args: &Args) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let exe = endtoend::locate_liveness(args.liveness.as_deref())?;
    let workers = args.workers.unwrap_or(2);
    let threads = args.threads.unwrap_or(1);
    let templates = mix::build(&args.data, args.mix.unwrap_or(MixKind::Single))?;
    describe(&templates);
    let spec = soak::Spec {
        exe,
        config: args.config.clone(),
        amqp: settings.amqp.clone(),
        workers,
        threads_per_worker: threads,
        jobs: args.jobs.unwrap_or(10_000),
        in_flight: args
            .in_flight
            .unwrap_or(8 * workers.max(1) * threads.max(1)),
        window: args.window,
        stall: Duration::from_secs(args.timeout.unwrap_or(60)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let report = runtime.block_on(soak::run(&spec, &templates))?;
    println!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    anyhow::ensure!(
        report.passed(),
        "the soak failed: {} of {} jobs answered ({})",
        report.answered,
        report.jobs,
        report.errors
    );
    Ok(())
}

/// The job templates and the size of their bodies.
fn describe(templates: &[mix::JobTemplate]) {
    let list: Vec<String> = templates
        .iter()
        .map(|t| format!("{} {:.2} MB", t.name, t.body.len() as f64 / 1e6))
        .collect();
    println!("job mix (request bodies): {}", list.join(", "));
}

fn print_markdown(reports: &[Report]) {
    println!();
    println!(
        "| run | jobs/s | p50 ms | p95 ms | p99 ms | max ms | worker CPU/job ms | client CPU/job ms | broker CPU/job ms | peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}"));
    for r in reports {
        let l = &r.latency_ms;
        println!(
            "| {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {:.0} |",
            r.label,
            r.jobs_per_second,
            l.p50,
            l.p95,
            l.p99,
            l.max,
            r.cpu_ms_per_job,
            opt(r.client_cpu_ms_per_job),
            opt(r.broker_cpu_ms_per_job),
            r.peak_rss_mb
        );
    }
    let tps = |i: usize| reports.get(i).map_or(f64::NAN, |r| r.jobs_per_second);
    println!();
    println!(
        "- end to end / scoring only, pairs, 2 cores: {:.0} %",
        100.0 * tps(3) / tps(1)
    );
    println!("- 2 workers / 1 worker, pairs: {:.2}x", tps(3) / tps(2));
    println!(
        "- scoring only, 2 threads / 1 thread, pairs: {:.2}x",
        tps(1) / tps(0)
    );
    if let Some(paced) = reports.get(5) {
        println!(
            "- paced at 70 % of the maximum: p99 / p50 = {:.2}",
            paced.latency_ms.p99 / paced.latency_ms.p50
        );
    }
    println!(
        "- end to end / scoring only, one-image jobs, 2 cores: {:.0} % published meanwhile, {:.0} % draining a backlog",
        100.0 * tps(7) / tps(6),
        100.0 * tps(8) / tps(6)
    );
    // The workers' memory: the runs through the broker (the scoring alone is this process).
    let rss = reports
        .iter()
        .filter(|r| !r.label.contains("scoring only"))
        .map(|r| r.peak_rss_mb)
        .fold(0.0, f64::max);
    println!("- largest worker peak RSS: {rss:.0} MB");
}
