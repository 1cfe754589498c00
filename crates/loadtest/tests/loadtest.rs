//! `liveness-loadtest`: its job mix is the realistic one the performance issue asks for, and a
//! short run against the real broker (127.0.0.1:5672) answers every job with real `liveness
//! worker` processes: the `liveness` binary next to `liveness-loadtest`, which `cargo nextest run
//! --workspace` (`make test`) builds alongside, and which these tests build themselves when it is
//! missing (`-p liveness-loadtest`; after changing the service, run with `--workspace`). The soak (`--soak`) answers every job once and reads each
//! worker's memory, and fails when jobs fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use liveness::api::LivenessDetectionRequest;
use liveness_loadtest::mix::{self, MixKind};

/// The workspace root: the folder `liveness` runs from (config, models, `../shared/data`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `liveness-loadtest` runs the `liveness` binary next to its own. Cargo puts it there for a
/// `--workspace` run, but not for `-p liveness-loadtest` (it is another package's binary): build
/// it then, with the profile of this test's binaries. Only when it is missing: the workspace's
/// build of it unifies the features of every member's dependencies (dev ones included), which
/// a build of the one package does not, so building it here on every run would rebuild most
/// dependencies in the middle of `make test`. Cargo's lock orders the tests that call this at once.
fn build_liveness() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let loadtest = Path::new(env!("CARGO_BIN_EXE_liveness-loadtest"));
        let liveness = loadtest.with_file_name(format!("liveness{}", std::env::consts::EXE_SUFFIX));
        if liveness.exists() {
            return;
        }
        let dir = loadtest
            .parent()
            .and_then(Path::file_name)
            .and_then(|d| d.to_str())
            .unwrap();
        // target/debug holds the test profile's binaries (cargo test, nextest); any other
        // folder is named after its profile.
        let profile = if dir == "debug" { "test" } else { dir };
        let status = Command::new(env!("CARGO"))
            .args(["build", "--locked", "-p", "liveness", "--bin", "liveness"])
            .args(["--profile", profile])
            .current_dir(root())
            .status()
            .unwrap();
        assert!(status.success(), "building the liveness binary: {status}");
    });
}

fn loadtest() -> Command {
    build_liveness();
    let mut c = Command::new(env!("CARGO_BIN_EXE_liveness-loadtest"));
    c.current_dir(root()).env("RUST_LOG", "warn");
    c
}

#[test]
fn the_mix_holds_one_and_two_image_jobs_png_and_jpeg_of_0_2_to_1_mb() {
    let data = root().join("../shared/data");
    let jobs = mix::build(&data, MixKind::All).unwrap();
    let mut formats = std::collections::HashSet::new();
    let (mut singles, mut pairs, mut tagged, mut untagged) = (0, 0, 0, 0);
    for j in &jobs {
        let r: LivenessDetectionRequest = serde_json::from_slice(&j.body).unwrap();
        assert_eq!(r.live_images.len(), j.images, "{}", j.name);
        match j.images {
            1 => singles += 1,
            _ => pairs += 1,
        }
        if r.live_images.iter().any(|i| !i.tags.is_empty()) {
            tagged += 1;
        } else {
            untagged += 1;
        }
        for img in &r.live_images {
            let mb = img.image.len() as f64 / 1e6;
            assert!(
                (0.2..=1.0).contains(&mb),
                "{}: {mb:.2} MB of base64",
                j.name
            );
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&img.image)
                .unwrap();
            formats.insert(image::guess_format(&bytes).unwrap());
        }
    }
    assert!(singles > 0 && pairs > 0 && tagged > 0 && untagged > 0);
    assert!(formats.contains(&image::ImageFormat::Png));
    assert!(formats.contains(&image::ImageFormat::Jpeg));
    let only_pairs = mix::build(&data, MixKind::Pairs).unwrap();
    assert!(!only_pairs.is_empty() && only_pairs.iter().all(|j| j.images == 2));
}

/// Runs the load test with `args` and `--json`, expects success, and returns its first report.
fn first_report(name: &str, args: &[&str]) -> serde_json::Value {
    let out_file =
        std::env::temp_dir().join(format!("loadtest-{name}-{}.json", std::process::id()));
    let out = loadtest()
        .args(args)
        .arg("--json")
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out_file);
    reports[0].clone()
}

#[test]
fn a_short_run_through_the_broker_answers_every_job() {
    let r = &first_report("short", &["--jobs", "12", "--workers", "2"]);
    assert_eq!(r["jobs"], 12);
    assert_eq!(r["answered"], 12, "{r}");
    // Every job of the mix is a valid request: all are scored (200).
    assert_eq!(r["statuses"]["200"], 12, "{r}");
    let seconds = r["seconds"].as_f64().unwrap();
    assert!(r["jobs_per_second"].as_f64().unwrap() > 0.0);
    let l = &r["latency_ms"];
    // A job's latency holds its scoring by a worker (8 ms of ONNX Runtime at the least), and
    // lies within the timed run: a clock taken at the wrong moment breaks one or the other.
    assert!(l["p50"].as_f64().unwrap() >= 5.0, "{r}");
    assert!(l["max"].as_f64().unwrap() <= seconds * 1000.0 + 1.0, "{r}");
    assert!(r["cpu_ms_per_job"].as_f64().unwrap() > 0.0);
    assert!(r["peak_rss_mb"].as_f64().unwrap() > 10.0);
}

#[test]
fn a_backlog_is_published_before_the_clock_starts_and_drained_whole() {
    let r = &first_report("backlog", &["--jobs", "12", "--mix", "single", "--backlog"]);
    assert!(r["label"].as_str().unwrap().contains("backlog"), "{r}");
    assert_eq!(r["answered"], 12, "{r}");
    assert_eq!(r["statuses"]["200"], 12, "{r}");
    // Every job waited in the queue while the worker started and took the warm-up jobs, none
    // of which is timed: the last job's time from its publication is longer than the whole
    // timed window. Publishing inside the window (the default) would make it shorter.
    let seconds = r["seconds"].as_f64().unwrap();
    assert!(seconds > 0.0, "{r}");
    assert!(
        r["latency_ms"]["max"].as_f64().unwrap() > seconds * 1000.0,
        "{r}"
    );
}

#[test]
fn a_wrong_liveness_binary_is_refused_before_any_worker_is_waited_for() {
    for (path, says) in [
        ("/nonexistent/liveness", "No such file"),
        ("/bin/true", "--version"),
    ] {
        let out = loadtest()
            .args(["--jobs", "1", "--liveness", path])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{path}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("the liveness binary") && err.contains(path) && err.contains(says),
            "{path}: {err}"
        );
    }
}

/// Runs `liveness-loadtest --soak` with `args` (and `env`), returns its exit code, stdout,
/// stderr and JSON report.
fn soak(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String, serde_json::Value) {
    let out_file =
        std::env::temp_dir().join(format!("soak-{}-{}.json", std::process::id(), next_run()));
    let out = loadtest()
        .arg("--soak")
        .args(args)
        .arg("--json")
        .arg(&out_file)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = std::fs::read(&out_file)
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}\n{stderr}"));
    let _ = std::fs::remove_file(&out_file);
    (out.status.code(), stdout, stderr, report)
}

/// A name unique among the tests of this process (they run in parallel under `cargo test`).
fn next_run() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn a_short_soak_answers_every_job_once_with_200_and_reads_each_workers_memory() {
    let (code, stdout, stderr, r) = soak(&["--jobs", "60", "--workers", "2"], &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("errors: none"), "{stdout}");
    assert_eq!(
        (r["jobs"].as_u64(), r["workers"].as_u64()),
        (Some(60), Some(2))
    );
    assert_eq!(r["published"], 60, "{r}");
    assert_eq!(r["answered"], 60, "{r}");
    assert_eq!(r["statuses"], serde_json::json!({ "200": 60 }), "{r}");
    assert_eq!(
        r["errors"],
        serde_json::json!({
            "non_200": 0, "missing": 0, "duplicates": 0, "unknown": 0, "rejected": 0,
            "worker_exits": [], "stalled": false
        })
    );
    // The default soak mix is one-image jobs only.
    let mix: Vec<&str> = r["mix"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let singles = mix::build(&root().join("../shared/data"), MixKind::Single).unwrap();
    assert_eq!(
        mix,
        singles.iter().map(|t| t.name.as_str()).collect::<Vec<_>>()
    );
    // The window of unanswered jobs was used and never exceeded.
    let (most, bound) = (r["max_in_flight"].as_u64(), r["in_flight"].as_u64());
    assert!(most > Some(0) && most <= bound, "{r}");
    assert!(r["jobs_per_second"].as_f64().unwrap() > 0.0);
    assert!(r["cpu_ms_per_job"].as_f64().unwrap() > 0.0);

    // 60 jobs: windows of 30, memory read at the end of each, for both workers.
    assert_eq!(r["window"], 30);
    let memory = r["memory"].as_array().unwrap();
    assert_eq!(memory.len(), 2);
    let mb = |v: &serde_json::Value| v.as_f64().unwrap();
    for g in memory.iter().chain([&r["total"]]) {
        assert_eq!(
            (g["first_answered"].as_u64(), g["last_answered"].as_u64()),
            (Some(30), Some(60)),
            "{g}"
        );
        for end in [&g["first"], &g["last"]] {
            // A worker holds its code, ONNX Runtime and three models: far more than 10 MiB.
            assert!(mb(&end["rss"]) > 10.0, "{g}");
            assert!(mb(&end["hwm"]) >= mb(&end["rss"]), "{g}");
            assert!(
                mb(&end["anon"]) > 0.0 && mb(&end["anon"]) <= mb(&end["rss"]),
                "{g}"
            );
        }
        assert!(
            (mb(&g["hwm_mib"]) - (mb(&g["last"]["hwm"]) - mb(&g["first"]["hwm"]))).abs() < 1e-6
        );
        // A peak never falls.
        assert!(mb(&g["hwm_mib"]) >= 0.0, "{g}");
    }
    let total_rss: f64 = memory.iter().map(|g| mb(&g["last"]["rss"])).sum();
    assert!((mb(&r["total"]["last"]["rss"]) - total_rss).abs() < 1e-6);
    // Samples from before the first job to the last, each with both workers.
    let samples = r["samples"].as_array().unwrap();
    assert_eq!(samples.first().unwrap()["answered"], 0);
    assert_eq!(samples.last().unwrap()["answered"], 60);
    assert!(samples.iter().all(|s| {
        s["workers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| mb(&w["rss"]) > 10.0)
    }));
}

#[test]
fn a_soak_whose_jobs_fail_exits_with_status_1_and_still_reports() {
    // The workers inherit this limit: every body of the mix is larger, so every job is answered
    // 400 (InvalidArgument) without being scored.
    let (code, stdout, stderr, r) = soak(
        &["--jobs", "8", "--workers", "1"],
        &[("LIVENESS__LIMITS__MAX_REQUEST_BYTES", "1000")],
    );
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the soak failed: 8 of 8 jobs answered (8 non-200, 0 missing"),
        "{stderr}"
    );
    assert!(stdout.contains("errors: 8 non-200, 0 missing"), "{stdout}");
    assert_eq!(r["answered"], 8, "{r}");
    assert_eq!(r["statuses"], serde_json::json!({ "400": 8 }), "{r}");
    assert_eq!(r["errors"]["non_200"], 8);
    assert_eq!(r["errors"]["missing"], 0);
}
