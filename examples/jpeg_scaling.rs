//! DCT-scaled JPEG decoding (`[limits] jpeg_dct_scaling`) against the whole decode it replaces,
//! on large camera-sized JPEGs made from every shared bona fide photo and attack: what it saves
//! in time and memory, and what it moves in the responses (decisions, errors, the texture and
//! liveness scores, and the quality checks that depend on pixel size). Written up in
//! `docs/performance.md`, "DCT-scaled JPEG decoding".
//!
//! Each image is decoded upright, scaled up so that its long side is 4032 px (a 12 MP phone
//! photo, read at half scale to 2016 px) or 6000 px (read at half scale to 3000 px, then scaled
//! to the 2048 px working side), with sensor-like noise added at that size, once as it is and
//! once dim (light divided by 5 in linear space, then the noise), and stored as a quality-90
//! JPEG. Each file is then scored by two engines that differ only in `jpeg_dct_scaling`.
//!
//! `cargo run --release --example jpeg_scaling [scaled|side|quality]` (needs `make setup`);
//! about eight minutes for `scaled`, four for the others. `side` and `quality` give the scale
//! of the moves any small change of the input causes: the whole decode at a working side of
//! 2016 against 2048 px, and the photo stored at JPEG quality 89 against 90.

#[path = "../tests/common/images.rs"]
mod images;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use base64::Engine as _;
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use liveness::Engine;
use liveness::api::{ImageData, LivenessDetectionRequest};
use liveness::config::{Limits, Settings};
use liveness::pipeline::image as limg;
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn to_linear(v: u8) -> f32 {
    let c = f32::from(v) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn to_srgb(l: f32) -> f32 {
    let l = l.clamp(0.0, 1.0);
    let c = if l <= 0.003_130_8 {
        l * 12.92
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    };
    c * 255.0
}

/// The camera-sized file: `img` scaled so its long side is `long`, light multiplied by `light`
/// in linear space, Gaussian noise of `sigma` levels per channel, quality-90 JPEG.
fn camera_jpeg(
    img: &RgbImage,
    long: u32,
    light: f32,
    sigma: f32,
    seed: u64,
    quality: u8,
) -> Result<Vec<u8>> {
    let f = long as f32 / img.width().max(img.height()) as f32;
    let w = ((img.width() as f32 * f).round() as u32).max(1);
    let h = ((img.height() as f32 * f).round() as u32).max(1);
    let mut big = limg::resize_rgb(img, w, h).context("resize")?;
    let lut: Vec<f32> = (0..=255u8).map(|v| to_srgb(to_linear(v) * light)).collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    for c in big.iter_mut() {
        // Box-Muller from two uniforms: one normal sample per channel.
        let (u, v) = (rng.f32().max(1e-7), rng.f32());
        let n = (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos();
        *c = (lut[usize::from(*c)] + n * sigma).round().clamp(0.0, 255.0) as u8;
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).encode_image(&big)?;
    Ok(out)
}

fn request(file: &[u8]) -> LivenessDetectionRequest {
    LivenessDetectionRequest {
        live_images: vec![ImageData {
            image: base64::engine::general_purpose::STANDARD.encode(file),
            tags: vec![],
        }],
    }
}

/// What the two responses differ in: whether the decision or the error codes differ, and the
/// largest move of each score (by the JSON key, or the quality check's name).
#[derive(Default)]
struct Moves {
    decision: bool,
    errors: bool,
    scores: Vec<(String, f64)>,
}

impl Moves {
    fn record(&mut self, key: String, d: f64) {
        match self.scores.iter_mut().find(|(k, _)| *k == key) {
            Some((_, m)) => *m = m.max(d),
            None => self.scores.push((key, d)),
        }
    }
}

fn walk(a: &Value, b: &Value, key: &str, moves: &mut Moves) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if let (Some(Value::String(check)), Some(sa), Some(sb)) =
                (x.get("check"), x.get("score"), y.get("score"))
            {
                let d = (sa.as_f64().unwrap_or(0.0) - sb.as_f64().unwrap_or(0.0)).abs();
                moves.record(format!("quality {check}"), d);
                return;
            }
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => walk(v, w, k, moves),
                    None => moves.errors = true,
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if key == "errors" => {
            let codes = |v: &Vec<Value>| -> Vec<Value> {
                v.iter().map(|e| e["errorCode"].clone()).collect()
            };
            moves.errors |= codes(x) != codes(y);
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                moves.errors = true;
            }
            for (v, w) in x.iter().zip(y) {
                walk(v, w, key, moves);
            }
        }
        (Value::Number(x), Value::Number(y)) if key.ends_with("Score") => {
            let d = (x.as_f64().unwrap_or(0.0) - y.as_f64().unwrap_or(0.0)).abs();
            moves.record(key.to_string(), d);
        }
        (Value::Bool(x), Value::Bool(y)) if key == "live" => moves.decision |= x != y,
        _ => {}
    }
}

#[derive(Default)]
struct Population {
    files: usize,
    decisions: usize,
    error_lists: usize,
    live: [usize; 2],
    scores: Vec<(String, f64)>,
    decode_ms: [Vec<f64>; 2],
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<()> {
    let settings = Settings::load(None)?.scoring;
    let scaled_limits = settings.limits.clone();
    let whole_limits = Limits {
        jpeg_dct_scaling: false,
        ..settings.limits.clone()
    };
    let engine_with = |limits: &Limits| {
        let mut s = settings.clone();
        s.limits = limits.clone();
        Engine::new(s, 1)
    };
    // The comparison: DCT scaling against the whole decode (the default), or, for the scale of
    // the moves that any small change of the input causes, the whole decode at a working side of
    // 2016 against 2048 (`side`), or of the same photo stored at JPEG quality 89 against 90
    // (`quality`).
    let mode = std::env::args().nth(1).unwrap_or_else(|| "scaled".into());
    let first_limits = match mode.as_str() {
        "side" => Limits {
            max_working_side: 2016,
            ..whole_limits.clone()
        },
        "quality" => whole_limits.clone(),
        _ => scaled_limits.clone(),
    };
    let first_quality = if mode == "quality" { 89 } else { 90 };
    let sides: &[u32] = if mode == "scaled" {
        &[4032, 6000]
    } else {
        &[4032]
    };
    let (scaled, whole) = (engine_with(&first_limits)?, engine_with(&whole_limits)?);
    let unlimited = Limits {
        max_working_side: 0,
        ..whole_limits.clone()
    };

    let root = data_dir();
    let mut sources = Vec::new();
    for (dir, population) in [
        ("bonafide", "bona fide"),
        ("attacks", "attack"),
        ("minivision", "minivision"),
    ] {
        let files = images::under(&root.join(dir), &root);
        sources.extend(files.into_iter().map(|f| (root.join(f), population)));
    }
    for f in ["bioid/challenge_right_1.png", "bioid/photo.png"] {
        sources.push((root.join(f), "bioid"));
    }

    let mut table: Vec<((&str, &str, u32), Population)> = Vec::new();
    let t0 = Instant::now();
    for (i, (path, population)) in sources.iter().enumerate() {
        let bytes = std::fs::read(path)?;
        let Ok(upright) = limg::decode(&bytes, &unlimited) else {
            continue;
        };
        for (light_name, light) in [("as shot", 1.0), ("dim", 0.2)] {
            for &long in sides {
                let file = camera_jpeg(&upright.rgb, long, light, 2.5, i as u64, 90)?;
                let first = match first_quality {
                    90 => file.clone(),
                    q => camera_jpeg(&upright.rgb, long, light, 2.5, i as u64, q)?,
                };
                let a = serde_json::to_value(scaled.score(&request(&first))?)?;
                let b = serde_json::to_value(whole.score(&request(&file))?)?;
                let mut moves = Moves::default();
                walk(&a, &b, "", &mut moves);
                let mut ms = [0.0; 2];
                for (k, limits) in [&first_limits, &whole_limits].into_iter().enumerate() {
                    let t = Instant::now();
                    limg::decode(&file, limits)?;
                    ms[k] = t.elapsed().as_secs_f64() * 1e3;
                }
                let key = (*population, light_name, long);
                let row = match table.iter().position(|(k, _)| *k == key) {
                    Some(p) => &mut table[p].1,
                    None => {
                        table.push((key, Population::default()));
                        &mut table.last_mut().context("row")?.1
                    }
                };
                row.files += 1;
                row.decisions += usize::from(moves.decision);
                row.error_lists += usize::from(moves.errors);
                row.live[0] += usize::from(a["live"] == Value::Bool(true));
                row.live[1] += usize::from(b["live"] == Value::Bool(true));
                for (k, d) in moves.scores {
                    match row.scores.iter_mut().find(|(x, _)| *x == k) {
                        Some((_, m)) => *m = m.max(d),
                        None => row.scores.push((k, d)),
                    }
                }
                row.decode_ms[0].push(ms[0]);
                row.decode_ms[1].push(ms[1]);
                if moves.decision || moves.errors {
                    println!(
                        "differs: {} ({light_name}, {long} px): live {} / {}, errors {} / {}",
                        path.strip_prefix(&root).unwrap_or(path).display(),
                        a["live"],
                        b["live"],
                        a["errors"],
                        b["errors"]
                    );
                }
            }
        }
    }
    println!(
        "\n| population | light | long side | files | live (scaled / whole) | decisions differ | error lists differ | decode ms, median (scaled / whole) | largest moves |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for ((population, light, long), mut row) in table {
        row.scores.sort_by(|a, b| a.0.cmp(&b.0));
        let moves: Vec<String> = row
            .scores
            .iter()
            .map(|(k, d)| format!("{k} {d:.4}"))
            .collect();
        let [a, b] = &mut row.decode_ms;
        println!(
            "| {population} | {light} | {long} | {} | {} / {} | {} | {} | {:.1} / {:.1} | {} |",
            row.files,
            row.live[0],
            row.live[1],
            row.decisions,
            row.error_lists,
            median(a),
            median(b),
            moves.join(", ")
        );
    }
    println!("\n{mode}: {:.0} s", t0.elapsed().as_secs_f64());
    Ok(())
}
