//! Repeats the medium cue ([`medium::inspect`]) on the faces of the Python peer's images, for
//! instruction counts (`valgrind --tool=callgrind`) and timings of the cue alone.
//!
//! `cargo run --profile iterate --example medium_bench -- detect > faces.txt` finds the faces
//! once (ONNX Runtime); `cargo run --profile iterate --example medium_bench -- faces.txt 50`
//! then runs the cue 50 times per face from the stored detections, without the models.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use liveness::Engine;
use liveness::config::Settings;
use liveness::pipeline::face::Detection;
use liveness::pipeline::{image as pimage, medium, quality};

const IMAGES: [&str; 2] = ["bioid/challenge_right_1.png", "bioid/nod/001.jpg"];

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let settings = Settings::load(None)?.scoring;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("detect") {
        let engine = Engine::new(settings.clone(), 1)?;
        let mut models = engine.models();
        for name in IMAGES {
            let decoded = pimage::decode(&std::fs::read(root.join(name))?, &settings.limits)?;
            let (w, h) = decoded.rgb.dimensions();
            let a = engine.analyse(&mut models, decoded)?;
            let f = a.face.context("no face")?;
            anyhow::ensure!(
                f.rgb.dimensions() == (w, h),
                "the face's image is not the decoded one"
            );
            let d = f.detection;
            let l: Vec<String> = d
                .landmarks
                .iter()
                .flatten()
                .map(|v| v.to_string())
                .collect();
            let b: Vec<String> = d.bbox.iter().map(|v| v.to_string()).collect();
            println!("{name} {} {} {}", d.score, b.join(","), l.join(","));
        }
        return Ok(());
    }
    let faces = std::fs::read_to_string(args.first().context("faces file")?)?;
    let reps: usize = args.get(1).map_or(Ok(20), |s| s.parse())?;
    for line in faces.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let nums = |s: &str| -> Result<Vec<f32>> {
            Ok(s.split(',').map(str::parse).collect::<Result<_, _>>()?)
        };
        let (b, l) = (nums(f[2])?, nums(f[3])?);
        let det = Detection {
            score: f[1].parse()?,
            bbox: [b[0], b[1], b[2], b[3]],
            landmarks: [0, 1, 2, 3, 4].map(|i| [l[2 * i], l[2 * i + 1]]),
        };
        let rgb = pimage::decode(&std::fs::read(root.join(f[0]))?, &settings.limits)?.rgb;
        let luma = quality::patch_stats(&rgb, &det).mean_luma;
        let start = Instant::now();
        let mut ev = None;
        for _ in 0..reps {
            ev = Some(medium::inspect(&rgb, &det, luma, &settings.medium));
        }
        println!(
            "{} {}x{} eye distance {:.1}: {:.3} ms per call, {:?}",
            f[0],
            rgb.width(),
            rgb.height(),
            det.eye_distance(),
            start.elapsed().as_secs_f64() * 1e3 / reps.max(1) as f64,
            ev
        );
    }
    Ok(())
}
