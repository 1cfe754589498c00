//! `liveness loadtest`: its job mix is the realistic one the performance issue asks for, and a
//! short run against the real broker answers every job with real worker processes.

mod common;

use std::process::Command;

use base64::Engine as _;
use liveness::api::LivenessDetectionRequest;
use liveness::loadtest::mix::{self, MixKind};

#[test]
fn the_mix_holds_one_and_two_image_jobs_png_and_jpeg_of_0_2_to_1_mb() {
    let jobs = mix::build(&common::data_dir(), MixKind::All).unwrap();
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
    let only_pairs = mix::build(&common::data_dir(), MixKind::Pairs).unwrap();
    assert!(!only_pairs.is_empty() && only_pairs.iter().all(|j| j.images == 2));
}

#[test]
fn a_short_run_through_the_broker_answers_every_job() {
    let out_file = std::env::temp_dir().join(format!("loadtest-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_liveness"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["loadtest", "--jobs", "12", "--workers", "2", "--json"])
        .arg(&out_file)
        .env("RUST_LOG", "warn")
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
    assert!(r["jobs_per_second"].as_f64().unwrap() > 0.0);
    let l = &r["latency_ms"];
    assert!(l["p50"].as_f64().unwrap() <= l["p99"].as_f64().unwrap());
    assert!(l["p99"].as_f64().unwrap() <= l["max"].as_f64().unwrap());
    assert!(r["cpu_ms_per_job"].as_f64().unwrap() > 0.0);
    assert!(r["peak_rss_mb"].as_f64().unwrap() > 10.0);
}
