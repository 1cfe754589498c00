//! `liveness-loadtest`: its job mix is the realistic one the performance issue asks for, and a
//! short run against the real broker (127.0.0.1:5672) answers every job with real `liveness
//! worker` processes: the `liveness` binary next to `liveness-loadtest`, which `cargo nextest run
//! --workspace` (`make test`) builds alongside.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use liveness::api::LivenessDetectionRequest;
use liveness_loadtest::mix::{self, MixKind};

/// The workspace root: the folder `liveness` runs from (config, models, `../shared/data`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn loadtest() -> Command {
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

#[test]
fn a_short_run_through_the_broker_answers_every_job() {
    let out_file = std::env::temp_dir().join(format!("loadtest-{}.json", std::process::id()));
    let out = loadtest()
        .args(["--jobs", "12", "--workers", "2", "--json"])
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
    let r = &reports[0];
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
