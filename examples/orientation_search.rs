//! The quarter-turn search of `Engine::locate` on live faces as shot and in realistic dim
//! captures (`tests/common/captures.rs`): how often the upright face misses the early accept
//! (`[detector] upright_accept_score`) and so pays for the search, what the search then costs,
//! and whether it answers the right turn for every image stored upright or turned by a quarter,
//! half or three-quarter turn. Written up in `docs/thresholds.md` (`upright_accept_score`).
//!
//! `cargo run --release --example orientation_search` (needs `make setup`); about a minute.

#[path = "../tests/common/captures.rs"]
mod captures;
#[path = "../tests/common/images.rs"]
mod images;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use image::RgbImage;
use liveness::Engine;
use liveness::config::Settings;
use liveness::pipeline::face::{self, LEFT_EYE, RIGHT_EYE};
use liveness::pipeline::image as limg;
use liveness::pipeline::quality::{self, Unsuitable};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(img)?;
    Ok(out)
}

#[derive(Default)]
struct Row {
    images: usize,
    searched: usize,
    wrong: usize,
    turned: usize,
    accepted_ms: Vec<f64>,
    searched_ms: Vec<f64>,
    turned_ms: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn main() -> Result<()> {
    let s = Settings::load(None)?.scoring;
    let engine = Engine::new(s.clone(), 1)?;
    let mut models = engine.models();
    let root = data_dir();
    let live = images::live_photos(&root);
    let all = captures::standard();
    let mut rows: Vec<(String, Row)> = Vec::new();
    for name in &live {
        let rgb = limg::decode(&std::fs::read(root.join(name))?, &s.limits)?.rgb;
        let found = face::detect(&mut models.yunet, &rgb, &s.detector)?;
        let Some(d) = found.first() else {
            continue;
        };
        let (r, l) = (d.landmarks[RIGHT_EYE], d.landmarks[LEFT_EYE]);
        let eyes = f64::from((l[0] - r[0]).hypot(l[1] - r[1]));
        let center = [
            f64::from(0.5 * (l[0] + r[0])),
            f64::from(0.5 * (l[1] + r[1])) + 0.5 * eyes,
        ];
        let mut variants = vec![("as shot".to_string(), rgb.clone())];
        for (i, v) in all.iter().enumerate() {
            let dim = captures::render(&rgb, center, eyes, v, 1000 + i as u64);
            let file = jpeg(&dim, v.jpeg_quality)?;
            variants.push((v.name.to_string(), limg::decode(&file, &s.limits)?.rgb));
        }
        for (variant, upright) in variants {
            let row = match rows.iter().position(|(k, _)| *k == variant) {
                Some(p) => &mut rows[p].1,
                None => {
                    rows.push((variant.clone(), Row::default()));
                    &mut rows.last_mut().expect("pushed").1
                }
            };
            row.images += 1;
            // Stored turned counter-clockwise by `ccw`: a clockwise turn of `ccw` undoes it.
            for ccw in [0, 90, 180, 270] {
                let stored = limg::rotate_cw(&upright, (360 - ccw) % 360);
                let t = Instant::now();
                let located = engine.locate(&mut models, &stored)?;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                row.wrong += usize::from(located.rotated != ccw);
                // The search runs in full when the upright pass does not end it (the early
                // accept of `Engine::locate`: a confident detection with plausible landmarks).
                if ccw == 0 {
                    let up = face::detect(&mut models.yunet, &stored, &s.detector)?;
                    let early = up.first().is_some_and(|b| {
                        b.score >= s.detector.upright_accept_score
                            && matches!(
                                quality::suitability(b, stored.width(), stored.height()),
                                None | Some(Unsuitable::Profile) | Some(Unsuitable::BeyondBorder)
                            )
                    });
                    if early {
                        row.accepted_ms.push(ms);
                    } else {
                        if variant == "as shot" {
                            eprintln!("full search as shot: {name}");
                        }
                        row.searched += 1;
                        row.searched_ms.push(ms);
                    }
                } else {
                    row.turned += 1;
                    row.turned_ms.push(ms);
                }
            }
        }
    }
    println!(
        "| capture | images | upright: full search | answered turn wrong (of 4 per image) | locate ms: early accept / upright searched / stored turned |"
    );
    println!("|---|---|---|---|---|");
    for (variant, row) in &rows {
        println!(
            "| {variant} | {} | {} | {} | {:.1} / {:.1} / {:.1} |",
            row.images,
            row.searched,
            row.wrong,
            mean(&row.accepted_ms),
            mean(&row.searched_ms),
            mean(&row.turned_ms)
        );
    }
    Ok(())
}
