//! Passive-liveness evaluation: one-image requests scored end to end by `Engine::score`.
//!
//! - Bona fide: `bonafide/` (78 real photos), every 4th nod frame, the BioID and minivision live
//!   images, each as it is and as six realistic dim captures (`tests/common/captures.rs`: light
//!   lowered in linear space, noise that grows as the light falls, white balance, webcam
//!   resolution, JPEG).
//! - Attacks: the shared spoofs as they are, darkened (the old finding: an 8-bit brightness
//!   scale) and dim-captured; and medium composites (`tests/common/composites.rs`: phones and
//!   tablets held up, prints, ID cards, passport photos, over real rooms, with hands, glare and
//!   moiré) of several people, as they are and dim-captured.
//!
//! BPCER is counted over the live faces found alone and whole (no `FaceNotFound`,
//! `MultipleFacesFound` or `ThumbnailExtractionFailed`), as the bar is; APCER over every
//! attack presentation (one not found is not accepted).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use image::RgbImage;
use liveness::Engine;
use liveness::api::{ErrorCode, LivenessDetectionResponse, QualityCheck};

use super::{attacks, captures, composites, data_dir, images, pct, read};

/// Faces for the composites: several people, lighter and darker skin, studio and webcam.
const COMPOSITE_FACES: [&str; 6] = [
    "bioid/challenge_right_1.png",
    "minivision/live_T1.jpg",
    "bonafide/face_recognition/examples/obama.jpg",
    "bonafide/face_recognition/examples/lin-manuel-miranda.png",
    "bonafide/deepface/img1.jpg",
    "bonafide/deepface/img30.jpg",
];
/// Rooms behind the composites: the lower left of these photos (their faces are elsewhere).
const ROOMS: [&str; 3] = [
    "bonafide/deepface/img22.jpg",
    "bonafide/face_recognition/examples/knn_examples/test/obama1.jpg",
    "bonafide/deepface/img57.jpg",
];
const SPOOFS: [(&str, &str); 5] = [
    ("bioid/photo.png", "photo of a photo (BioID ID photo)"),
    (
        "minivision/spoof_print_F1.jpg",
        "print held up (minivision F1)",
    ),
    (
        "minivision/spoof_screen_F2.jpg",
        "tablet replay (minivision F2)",
    ),
    (
        "attacks/HyperFAS/fake_screen.png",
        "tablet replay (HyperFAS)",
    ),
    (
        "attacks/light-weight-face-anti-spoofing/demo.png",
        "phone replay (demo.png, left 350 px)",
    ),
];
/// The composite dim captures: the median real capture and a dark, neutral one.
const COMPOSITE_DIM: [usize; 2] = [1, 4];

/// One image to score.
struct Item {
    /// `live`, or the attack type.
    population: String,
    source: String,
    variant: String,
    bytes: Vec<u8>,
}

/// What its response says.
struct Row {
    population: String,
    source: String,
    variant: String,
    /// One face, found whole.
    whole: bool,
    live: bool,
    texture: f64,
    luma: f64,
    /// What rejected it: `texture`, `medium`, `unusable`, `face`, or empty when live.
    cue: &'static str,
}

fn rgb_of(name: &str, engine: &Engine) -> Result<RgbImage> {
    let mut rgb = liveness::pipeline::image::decode(&read(name)?, &engine.settings().limits)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?
        .rgb;
    if name.ends_with("demo.png") {
        rgb = image::imageops::crop_imm(&rgb, 0, 0, 350, rgb.height()).to_image();
    }
    Ok(rgb)
}

fn score(engine: &Engine, bytes: &[u8]) -> Result<LivenessDetectionResponse> {
    score_labelled(engine, bytes, "a passive item")
}

fn score_labelled(engine: &Engine, bytes: &[u8], label: &str) -> Result<LivenessDetectionResponse> {
    use base64::Engine as _;
    let request = liveness::api::LivenessDetectionRequest {
        live_images: vec![liveness::api::ImageData {
            image: base64::engine::general_purpose::STANDARD.encode(bytes),
            tags: vec![],
        }],
    };
    let response = engine.score(&request)?;
    super::parity::check(&request, &response, label);
    Ok(response)
}

/// The single face's centre and eye distance, when the image is upright with one face.
fn face_of(engine: &Engine, rgb: &RgbImage) -> Result<Option<([f64; 2], f64)>> {
    let r = score(engine, &attacks::png(rgb))?;
    let p = &r.image_properties[0];
    if p.rotated != 0 || p.faces.len() != 1 {
        return Ok(None);
    }
    let f = &p.faces[0];
    let d = (f.left_eye.x - f.right_eye.x).hypot(f.left_eye.y - f.right_eye.y);
    let mid = [
        0.5 * (f.left_eye.x + f.right_eye.x),
        0.5 * (f.left_eye.y + f.right_eye.y),
    ];
    Ok(Some(([mid[0], mid[1] + 0.5 * d], d)))
}

/// The original and its six dim captures.
fn with_dim_captures(
    engine: &Engine,
    population: &str,
    name: &str,
    rgb: &RgbImage,
    which: &[usize],
    out: &mut Vec<Item>,
) -> Result<()> {
    out.push(Item {
        population: population.into(),
        source: name.into(),
        variant: "as captured".into(),
        bytes: attacks::png(rgb),
    });
    let Some((center, d)) = face_of(engine, rgb)? else {
        return Ok(());
    };
    let all = captures::standard();
    for &i in which {
        let v = &all[i];
        let dim = captures::render(rgb, center, d, v, 1000 + i as u64);
        out.push(Item {
            population: population.into(),
            source: name.into(),
            variant: v.name.into(),
            bytes: attacks::jpeg(&dim, v.jpeg_quality),
        });
    }
    Ok(())
}

fn items(engine: &Engine) -> Result<Vec<Item>> {
    let root = data_dir();
    let all_dim: Vec<usize> = (0..captures::standard().len()).collect();
    let live = images::live_photos(&root);
    let mut out = Vec::new();
    for name in &live {
        let rgb = rgb_of(name, engine)?;
        with_dim_captures(engine, "live", name, &rgb, &all_dim, &mut out)?;
    }
    for (name, kind) in SPOOFS {
        let rgb = rgb_of(name, engine)?;
        with_dim_captures(engine, kind, name, &rgb, &all_dim, &mut out)?;
        for f in [0.2f32, 0.36, 0.6] {
            let mut dark = rgb.clone();
            for p in dark.pixels_mut() {
                for c in p.0.iter_mut() {
                    *c = (f32::from(*c) * f).round() as u8;
                }
            }
            out.push(Item {
                population: format!("{kind}, darkened"),
                source: name.into(),
                variant: format!("8-bit values x{f}"),
                bytes: attacks::png(&dark),
            });
        }
    }
    for (fi, name) in COMPOSITE_FACES.iter().enumerate() {
        let face = rgb_of(name, engine)?;
        let Some((center, d)) = face_of(engine, &face)? else {
            continue;
        };
        let scene = rgb_of(ROOMS[fi % ROOMS.len()], engine)?;
        let room = composites::room(&scene);
        for c in composites::catalogue(&face, center, d, &room, 100 + fi as u64) {
            let source = format!("{name}: {}", c.name);
            with_dim_captures(
                engine,
                &format!("composite {}", c.kind),
                &source,
                &c.rgb,
                &COMPOSITE_DIM,
                &mut out,
            )?;
        }
    }
    Ok(out)
}

fn row(item: &Item, r: &LivenessDetectionResponse) -> Row {
    let whole = !r.errors.iter().any(|e| {
        matches!(
            e.error_code,
            ErrorCode::FaceNotFound
                | ErrorCode::MultipleFacesFound
                | ErrorCode::ThumbnailExtractionFailed
        )
    });
    let passive = r
        .errors
        .iter()
        .find(|e| e.error_code == ErrorCode::RejectedByPassiveLiveDetection)
        .map(|e| e.message.as_str());
    let cue = match passive {
        _ if r.live => "",
        _ if !whole => "face",
        Some(m) if m.contains("shown on a medium") => "medium",
        Some(m) if m.contains("cannot be analysed") => "unusable",
        Some(_) => "texture",
        None => "other",
    };
    let p = r.image_properties.first();
    let texture = p
        .and_then(|p| p.faces.first())
        .map_or(0.0, |f| f.texture_liveness_score);
    let luma = p
        .and_then(|p| {
            p.quality_assessments
                .iter()
                .find(|a| a.check == QualityCheck::Exposure)
        })
        .and_then(|a| {
            a.message
                .rsplit("mean luminance ")
                .next()
                .and_then(|s| s.trim_end_matches(')').parse().ok())
        })
        .unwrap_or(f64::NAN);
    Row {
        population: item.population.clone(),
        source: item.source.clone(),
        variant: item.variant.clone(),
        whole,
        live: r.live,
        texture,
        luma,
        cue,
    }
}

fn quantiles(v: &[f64]) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
    format!(
        "{:.3} / {:.3} / {:.3} / {:.3}",
        q(0.0),
        q(0.05),
        q(0.5),
        q(1.0)
    )
}

fn source_group(source: &str) -> &'static str {
    if source.starts_with("bonafide/deepface") {
        "bonafide/deepface (press and event photos)"
    } else if source.starts_with("bonafide/face_recognition") {
        "bonafide/face_recognition (portraits, video frames)"
    } else if source.starts_with("bonafide/") {
        "bonafide/other (small faces)"
    } else if source.starts_with("bioid/nod") {
        "bioid/nod (phone front camera)"
    } else {
        "bioid and minivision live images"
    }
}

fn band(luma: f64) -> &'static str {
    match luma {
        // Zero-padded so that the table sorts by luminance.
        l if l < 40.0 => "000..040",
        l if l < 55.0 => "040..055",
        l if l < 70.0 => "055..070",
        l if l < 90.0 => "070..090",
        l if l < 130.0 => "090..130",
        l if l >= 130.0 => "130..255",
        _ => "unknown",
    }
}

/// A BPCER table of `rows` (live, found whole) grouped by `key`.
fn bpcer_table(w: &mut String, title: &str, rows: &[&Row], key: &dyn Fn(&Row) -> String) {
    let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        groups.entry(key(r)).or_default().push(r);
    }
    let _ = writeln!(
        w,
        "| {title} | n | BPCER | texture score min / p5 / median / max |"
    );
    let _ = writeln!(w, "|---|---|---|---|");
    for (k, g) in &groups {
        let rejected = g.iter().filter(|r| !r.live).count();
        let scores: Vec<f64> = g.iter().map(|r| r.texture).collect();
        let _ = writeln!(
            w,
            "| {k} | {} | {} | {} |",
            g.len(),
            pct(rejected, g.len()),
            quantiles(&scores)
        );
    }
    let _ = writeln!(w);
}

/// Scores everything on `workers` threads; returns the report's passive section and a one-line
/// summary for the console.
pub fn run(engine: &Engine, workers: usize) -> Result<(String, String)> {
    let items = items(engine).context("building the passive evaluation set")?;
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<(usize, Row)>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    eprintln!("eval: {} passive images on {workers} threads", items.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(k) else { break };
                    let label = format!("{} ({})", item.source, item.variant);
                    match score_labelled(engine, &item.bytes, &label) {
                        Ok(r) => {
                            if let Ok(mut v) = rows.lock() {
                                v.push((k, row(item, &r)));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failed.lock() {
                                *f = Some(e.context(format!("{} ({})", item.source, item.variant)));
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut rows = rows
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a scoring thread panicked"))?;
    rows.sort_by_key(|(k, _)| *k);
    let rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    Ok(report(engine, &rows))
}

fn report(engine: &Engine, rows: &[Row]) -> (String, String) {
    let s = engine.settings();
    let mut md = String::new();
    let w = &mut md;
    let live: Vec<&Row> = rows
        .iter()
        .filter(|r| r.population == "live" && r.whole)
        .collect();
    let live_all = rows.iter().filter(|r| r.population == "live").count();
    let attacks: Vec<&Row> = rows.iter().filter(|r| r.population != "live").collect();
    let bpcer = live.iter().filter(|r| !r.live).count();
    let apcer = attacks.iter().filter(|r| r.live).count();

    let _ = writeln!(w, "# Passive liveness: evaluation\n");
    let _ = writeln!(
        w,
        "One-image requests scored end to end by `Engine::score` (source `examples/eval/passive.rs`; \
         dim captures `tests/common/captures.rs`, medium composites `tests/common/composites.rs`). \
         Configuration: `texture.threshold` = {}, exposure normalised to `texture.reference_luma` = {} \
         (gain {}..{}), `medium.min_strength` = {}, `quality.max_clipped_fraction` = {}, \
         `quality.max_noise` = {}.\n",
        s.texture.threshold,
        s.texture.reference_luma,
        s.texture.min_gain,
        s.texture.max_gain,
        s.medium.min_strength,
        s.quality.max_clipped_fraction,
        s.quality.max_noise,
    );
    let _ = writeln!(
        w,
        "BPCER is over the live faces found alone and whole ({} of {live_all} live images; the \
         others are group photos, faces cut by the border or below the minimum face size). \
         A rejection's **cue** is what the error message names: `texture` (the MiniFASNet pair), \
         `medium` (a border framing the face), `unusable` (clipped or noise-swamped face), `face` \
         (no single whole face found).\n",
        live.len()
    );
    let _ = writeln!(w, "## Summary\n");
    let _ = writeln!(w, "| population | n | error |");
    let _ = writeln!(w, "|---|---|---|");
    let _ = writeln!(
        w,
        "| BPCER, live faces found alone and whole (all sources and captures) | {} | {} |",
        live.len(),
        pct(bpcer, live.len())
    );
    let as_captured: Vec<&Row> = live
        .iter()
        .copied()
        .filter(|r| r.variant == "as captured")
        .collect();
    let _ = writeln!(
        w,
        "| BPCER, the photos as captured | {} | {} |",
        as_captured.len(),
        pct(
            as_captured.iter().filter(|r| !r.live).count(),
            as_captured.len()
        )
    );
    let dim: Vec<&Row> = live
        .iter()
        .copied()
        .filter(|r| r.variant != "as captured")
        .collect();
    let _ = writeln!(
        w,
        "| BPCER, their dim captures | {} | {} |",
        dim.len(),
        pct(dim.iter().filter(|r| !r.live).count(), dim.len())
    );
    let _ = writeln!(
        w,
        "| APCER, all attacks | {} | {} |\n",
        attacks.len(),
        pct(apcer, attacks.len())
    );

    let _ = writeln!(w, "## Attacks: APCER per type\n");
    let _ = writeln!(
        w,
        "| attack type | n | APCER | rejected by texture / medium / unusable / no whole face | texture score min / p5 / median / max |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|");
    let mut types: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in &attacks {
        let dimmed = if r.variant == "as captured" || r.variant.starts_with("8-bit") {
            ""
        } else {
            ", dim captures"
        };
        types
            .entry(format!("{}{dimmed}", r.population))
            .or_default()
            .push(r);
    }
    for (t, g) in &types {
        let by = |c: &str| g.iter().filter(|r| r.cue == c).count();
        let scores: Vec<f64> = g.iter().filter(|r| r.whole).map(|r| r.texture).collect();
        let _ = writeln!(
            w,
            "| {t} | {} | {} | {} / {} / {} / {} | {} |",
            g.len(),
            pct(g.iter().filter(|r| r.live).count(), g.len()),
            by("texture"),
            by("medium"),
            by("unusable"),
            by("face"),
            quantiles(&scores)
        );
    }
    let _ = writeln!(w);
    let accepted: Vec<&&Row> = attacks.iter().filter(|r| r.live).collect();
    if !accepted.is_empty() {
        let _ = writeln!(w, "Accepted attacks:\n");
        for r in accepted {
            let _ = writeln!(
                w,
                "- {} — {} ({}), texture {:.3}, face luminance {:.0}",
                r.population, r.source, r.variant, r.texture, r.luma
            );
        }
        let _ = writeln!(w);
    }

    let _ = writeln!(w, "## Bona fide: BPCER\n");
    bpcer_table(w, "face luminance band", &live, &|r| {
        band(r.luma).to_string()
    });
    bpcer_table(w, "capture", &live, &|r| r.variant.clone());
    bpcer_table(w, "source", &live, &|r| source_group(&r.source).to_string());
    let by_cue = |c: &str| live.iter().filter(|r| r.cue == c).count();
    let _ = writeln!(
        w,
        "Live rejections by cue: texture {}, medium {}, unusable {}.\n",
        by_cue("texture"),
        by_cue("medium"),
        by_cue("unusable")
    );
    let _ = writeln!(w, "Rejected live images:\n");
    for r in live.iter().filter(|r| !r.live) {
        let _ = writeln!(
            w,
            "- {} ({}): rejected by {}, texture {:.3}, face luminance {:.0}",
            r.source, r.variant, r.cue, r.texture, r.luma
        );
    }
    let _ = writeln!(w);
    let summary = format!(
        "passive: BPCER {} (live found whole), APCER {} (all attacks)",
        pct(bpcer, live.len()),
        pct(apcer, attacks.len())
    );
    (md, summary)
}
