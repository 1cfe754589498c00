//! Measurements behind the defaults of `config/default.toml` ([limits], [detector], [quality],
//! [texture], [challenge]); the numbers are written up in `docs/thresholds.md`.
//!
//! Runs the library's own stages (decode, YuNet, quality, MiniFASNet, motion) on the real images
//! of `../shared/data` and on variants made here with the `image` crate: quarter turns, crops,
//! JPEG re-encodings, downscales, Gaussian blur, brightness changes and horizontal flips.
//! Prints plain-text tables. Run with `cargo run --release --example measure` (needs
//! `make setup`); about two minutes on two cores.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use base64::Engine as _;
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use liveness::Engine;
use liveness::api::{ImageData, LivenessDetectionRequest};
use liveness::config::{DetectorSettings, Settings};
use liveness::models::ModelSet;
use liveness::pipeline::face::{self, Detection, LEFT_EYE, RIGHT_EYE};
use liveness::pipeline::quality::{self, Unsuitable};
use liveness::pipeline::{decision, image as limg, texture};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn read(name: &str) -> Result<Vec<u8>> {
    let p = data_dir().join(name);
    std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
}

/// Decodes through the service's intake (EXIF applied, working-size limit).
fn load(name: &str, s: &Settings) -> Result<RgbImage> {
    Ok(limg::decode(&read(name)?, &s.limits)?.rgb)
}

fn jpeg_bytes(img: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).encode_image(img)?;
    Ok(out)
}

fn reencode(img: &RgbImage, quality: u8, s: &Settings) -> Result<RgbImage> {
    Ok(limg::decode(&jpeg_bytes(img, quality)?, &s.limits)?.rgb)
}

fn scaled(img: &RgbImage, f: f32) -> RgbImage {
    let w = ((img.width() as f32 * f).round() as u32).max(1);
    let h = ((img.height() as f32 * f).round() as u32).max(1);
    limg::resize_rgb(img, w, h).expect("resize")
}

fn brightness(img: &RgbImage, f: f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (f32::from(*c) * f).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn gamma(img: &RgbImage, g: f32) -> RgbImage {
    let lut: Vec<u8> = (0..256)
        .map(|v| ((v as f32 / 255.0).powf(g) * 255.0).round() as u8)
        .collect();
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = lut[usize::from(*c)];
        }
    }
    out
}

fn crop(img: &RgbImage, x0: f32, y0: f32, x1: f32, y1: f32) -> RgbImage {
    let x0 = x0.max(0.0).round() as u32;
    let y0 = y0.max(0.0).round() as u32;
    let x1 = (x1.round() as u32).min(img.width());
    let y1 = (y1.round() as u32).min(img.height());
    image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image()
}

/// min / 5 % / median / 95 % / max (nearest rank) of a sample.
fn summary(v: &[f64]) -> String {
    if v.is_empty() {
        return "n=0".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let q = |p: f64| s[((p * (s.len() - 1) as f64).round()) as usize];
    format!(
        "n={} min={:.4} p05={:.4} med={:.4} p95={:.4} max={:.4}",
        s.len(),
        s[0],
        q(0.05),
        q(0.5),
        q(0.95),
        s[s.len() - 1]
    )
}

/// One downscale result: target face width, live?, image name, (detected width, texture, lapvar).
type WidthRow = (f32, bool, String, Option<(f32, f64, f32)>);
/// A named image transformation.
type ImageOp = (String, Box<dyn Fn(&RgbImage) -> RgbImage>);
/// A named re-encoding or flip of an image.
type Variant = (&'static str, fn(&RgbImage, &Settings) -> Result<RgbImage>);

struct Ctx {
    engine: Engine,
    s: Settings,
}

impl Ctx {
    fn detect(&self, m: &mut ModelSet, img: &RgbImage) -> Result<Vec<Detection>> {
        Ok(face::detect(&mut m.yunet, img, &self.s.detector)?)
    }

    fn detect_with(
        &self,
        m: &mut ModelSet,
        img: &RgbImage,
        cfg: &DetectorSettings,
    ) -> Result<Vec<Detection>> {
        Ok(face::detect(&mut m.yunet, img, cfg)?)
    }

    /// Upright detection, then texture on the best face: (detection, texture score).
    fn texture(&self, m: &mut ModelSet, img: &RgbImage) -> Result<Option<(Detection, f64)>> {
        let dets = self.detect(m, img)?;
        let Some(d) = dets.into_iter().next() else {
            return Ok(None);
        };
        let t = texture::score(
            m,
            img,
            d.bbox,
            [self.gain(img, &d); 3],
            self.s.texture.area_downscale,
        )?;
        Ok(Some((d, t)))
    }

    /// The configured exposure-normalisation gain of a face, as the pipeline applies it.
    fn gain(&self, img: &RgbImage, d: &Detection) -> f32 {
        let t = &self.s.texture;
        let luma = quality::patch_stats(img, d).mean_luma;
        texture::exposure_gain(luma, t.reference_luma, t.min_gain, t.max_gain)
    }
}

fn nod(i: usize) -> String {
    format!("bioid/nod/{i:03}.jpg")
}

const STILLS_LIVE: [&str; 3] = [
    "bioid/challenge_right_1.png",
    "bioid/challenge_right_2.png",
    "minivision/live_T1.jpg",
];
const SPOOFS: [&str; 3] = [
    "bioid/photo.png",
    "minivision/spoof_print_F1.jpg",
    "minivision/spoof_screen_F2.jpg",
];
const GROUPS: [&str; 4] = [
    "groups/two_people.jpg",
    "groups/duo.jpg",
    "groups/group_small.jpg",
    "groups/group_large.jpg",
];

fn all_live_names() -> Vec<String> {
    let mut v: Vec<String> = STILLS_LIVE.iter().map(|s| s.to_string()).collect();
    v.extend((1..=92).map(nod));
    v
}

/// The live images of the expensive sweeps: the stills and every 7th nod frame.
fn sweep_live_names() -> Vec<String> {
    let mut v: Vec<String> = STILLS_LIVE.iter().map(|s| s.to_string()).collect();
    v.extend((1..=92).step_by(7).map(nod));
    v
}

fn main() -> Result<()> {
    let t0 = Instant::now();
    let s = Settings::load(None)?;
    let engine = Engine::new(s.clone(), 2)?;
    let ctx = Ctx { engine, s };
    println!(
        "# measure: defaults {:?} {:?} {:?} texture {:?} challenge {:?}",
        ctx.s.limits, ctx.s.detector, ctx.s.quality, ctx.s.texture, ctx.s.challenge
    );
    // Optional section names on the command line run only those sections.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    if run("detector") {
        detector_scores(&ctx)?;
        secondary_faces(&ctx)?;
    }
    if run("turns") {
        quarter_turns(&ctx)?;
    }
    if run("width") {
        face_width(&ctx)?;
        group_faces(&ctx)?;
    }
    if run("margins") {
        margins(&ctx)?;
    }
    if run("sharpness") {
        sharpness_exposure(&ctx)?;
        dark_spoofs(&ctx)?;
    }
    if run("texture") {
        texture_sets(&ctx)?;
    }
    if run("challenge") {
        challenge(&ctx)?;
    }
    if run("limits") {
        limits(&ctx)?;
    }
    println!("\n# total {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// [detector] score_threshold, nms_iou, other_face_min_ratio

fn detector_scores(ctx: &Ctx) -> Result<()> {
    println!("\n## detector: scores of every detection at score_threshold 0.3 (default NMS)");
    let mut low = ctx.s.detector.clone();
    low.score_threshold = 0.3;
    let mut m = ctx.engine.models();
    let mut names: Vec<String> = all_live_names();
    names.extend(SPOOFS.iter().map(|s| s.to_string()));
    let mut best = Vec::new();
    let mut extra = Vec::new();
    for n in &names {
        let img = load(n, &ctx.s)?;
        let d = ctx.detect_with(&mut m, &img, &low)?;
        if let Some(b) = d.first() {
            best.push(f64::from(b.score));
            if !n.contains("/nod/") {
                println!("{n}: best {:.4} width {:.0}", b.score, b.bbox[2]);
            }
        } else {
            println!("{n}: no detection >= 0.3");
        }
        for e in d.iter().skip(1) {
            extra.push(f64::from(e.score));
            println!(
                "{n}: EXTRA detection score {:.4} width {:.0} ({:.2} of the main face)",
                e.score,
                e.bbox[2],
                e.bbox[2] / d[0].bbox[2]
            );
        }
    }
    println!(
        "single-face images (live+spoof, {}): best score {}",
        names.len(),
        summary(&best)
    );
    println!(
        "extra detections >= 0.3 on single-face images: {}",
        summary(&extra)
    );

    println!(
        "\n## detector: NMS — candidates before suppression (nms_iou 0.99), IoU with the best box"
    );
    let mut no_nms = ctx.s.detector.clone();
    no_nms.nms_iou = 0.99;
    let mut dup_iou = Vec::new();
    for n in STILLS_LIVE
        .iter()
        .chain(SPOOFS.iter())
        .map(|s| s.to_string())
        .chain((1..=92).step_by(7).map(nod))
    {
        let img = load(&n, &ctx.s)?;
        let d = ctx.detect_with(&mut m, &img, &no_nms)?;
        let ious: Vec<f64> = d.iter().skip(1).map(|e| f64::from(d[0].iou(e))).collect();
        let disjoint = ious.iter().filter(|&&v| v <= 0.0).count();
        dup_iou.extend(ious.iter().copied().filter(|&v| v > 0.0));
        println!(
            "{n}: {} candidates >= 0.6; {} overlap the best (IoU {}), {} disjoint",
            d.len(),
            ious.len() - disjoint,
            summary(
                &ious
                    .iter()
                    .copied()
                    .filter(|&v| v > 0.0)
                    .collect::<Vec<_>>()
            ),
            disjoint
        );
    }
    println!(
        "overlapping duplicate candidates, IoU with best: {}",
        summary(&dup_iou)
    );

    println!("\n## detector: groups — faces per nms_iou, widths relative to the largest face");
    for n in GROUPS {
        let img = load(n, &ctx.s)?;
        for nms in [0.2f32, 0.3, 0.4, 0.5, 0.7] {
            let mut c = ctx.s.detector.clone();
            c.nms_iou = nms;
            let d = ctx.detect_with(&mut m, &img, &c)?;
            println!("{n}: nms_iou {nms}: {} faces >= 0.6", d.len());
        }
        let d = ctx.detect_with(&mut m, &img, &low)?;
        let maxw = d.iter().map(|e| e.bbox[2]).fold(0.0, f32::max);
        let mut pair_iou = 0f32;
        for (i, a) in d.iter().enumerate() {
            for b in d.iter().skip(i + 1) {
                pair_iou = pair_iou.max(a.iou(b));
            }
        }
        let list: Vec<String> = d
            .iter()
            .map(|e| format!("{:.2}/{:.0}px/r{:.2}", e.score, e.bbox[2], e.bbox[2] / maxw))
            .collect();
        println!(
            "{n} ({}x{}): {} detections >= 0.3 (score/width/ratio to largest): {}",
            img.width(),
            img.height(),
            d.len(),
            list.join(" ")
        );
        println!("{n}: largest IoU between two kept faces {pair_iou:.3}");
        let first = d.first().map(|e| e.bbox[2]).unwrap_or(0.0);
        let ratios: Vec<f64> = d
            .iter()
            .skip(1)
            .filter(|e| e.score >= ctx.s.detector.score_threshold)
            .map(|e| f64::from(e.bbox[2] / first))
            .collect();
        println!(
            "{n}: faces >= 0.6 besides the best one, width / best face's width: {}",
            summary(&ratios)
        );
    }
    drop(m);
    // End to end: what the service answers on the group photos.
    for n in GROUPS {
        let r = ctx.engine.score(&request(&[&read(n)?], &[]))?;
        let codes: Vec<&str> = r.errors.iter().map(|e| e.error_code.as_str()).collect();
        println!(
            "{n}: engine.score errors {codes:?}, faces reported {}",
            r.image_properties[0].faces.len()
        );
    }
    Ok(())
}

fn request(images: &[&[u8]], tags: &[&str]) -> LivenessDetectionRequest {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let n = images.len();
    LivenessDetectionRequest {
        live_images: images
            .iter()
            .enumerate()
            .map(|(i, b)| ImageData {
                image: b64(b),
                tags: if i + 1 == n {
                    tags.iter().map(|t| t.to_string()).collect()
                } else {
                    Vec::new()
                },
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// [detector] upright_accept_score

fn early_ok(d: &Detection, w: u32, h: u32) -> bool {
    matches!(
        quality::suitability(d, w, h),
        None | Some(Unsuitable::Profile) | Some(Unsuitable::BeyondBorder)
    )
}

fn quarter_turns(ctx: &Ctx) -> Result<()> {
    println!("\n## detector: best score at each quarter turn of the upright image");
    let mut names: Vec<String> = all_live_names();
    names.extend(SPOOFS.iter().map(|s| s.to_string()));
    let mut m = ctx.engine.models();
    let mut upright = Vec::new();
    let mut wrong = Vec::new();
    let mut wrong_plausible = Vec::new();
    let mut early = 0usize;
    let mut located_ok = 0usize;
    let mut located_n = 0usize;
    let accept = ctx.s.detector.upright_accept_score;
    let mut variants: Vec<(String, RgbImage)> = Vec::new();
    for n in &names {
        let img = load(n, &ctx.s)?;
        variants.push((n.clone(), img));
    }
    // Degraded versions of the stills and every 10th nod frame.
    let mut degraded: Vec<(String, RgbImage)> = Vec::new();
    for n in STILLS_LIVE
        .iter()
        .chain(SPOOFS.iter())
        .map(|s| s.to_string())
        .chain((1..=92).step_by(10).map(nod))
    {
        let img = load(&n, &ctx.s)?;
        let w0 = ctx.detect(&mut m, &img)?.first().map_or(1.0, |d| d.bbox[2]);
        degraded.push((format!("{n} jpeg30"), reencode(&img, 30, &ctx.s)?));
        degraded.push((format!("{n} blur2"), image::imageops::blur(&img, 2.0)));
        degraded.push((format!("{n} face80px"), scaled(&img, 80.0 / w0)));
        degraded.push((format!("{n} dark0.4"), brightness(&img, 0.4)));
        degraded.push((format!("{n} flip"), image::imageops::flip_horizontal(&img)));
    }
    let mut deg_upright = Vec::new();
    let mut deg_wrong = Vec::new();
    let mut deg_early = 0usize;
    let mut deg_loc_ok = 0usize;
    for (set, list) in [("real", &variants), ("degraded", &degraded)] {
        for (n, img) in list.iter() {
            let mut tops = [0f32; 4];
            for (k, t) in [0, 90, 180, 270].into_iter().enumerate() {
                let turned = limg::rotate_cw(img, t);
                let d = ctx.detect(&mut m, &turned)?;
                if let Some(b) = d.first() {
                    tops[k] = b.score;
                    if k > 0 {
                        let plausible = early_ok(b, turned.width(), turned.height());
                        if set == "real" {
                            wrong.push(f64::from(b.score));
                            if plausible {
                                wrong_plausible.push(f64::from(b.score));
                            }
                        } else {
                            deg_wrong.push(f64::from(b.score));
                        }
                        if plausible && b.score >= accept {
                            println!(
                                "!! {n}: turn {t}: wrong turn would be accepted early ({:.4})",
                                b.score
                            );
                        }
                    } else if b.score >= accept && early_ok(b, turned.width(), turned.height()) {
                        if set == "real" {
                            early += 1;
                        } else {
                            deg_early += 1;
                        }
                    }
                }
                // End to end: locate() on the image turned by t must answer rotated = -t.
                let loc = ctx.engine.locate(&mut m, &turned)?;
                let expect = (360 - t) % 360;
                if set == "real" {
                    located_n += 1;
                    if loc.rotated == expect {
                        located_ok += 1;
                    }
                } else if loc.rotated == expect {
                    deg_loc_ok += 1;
                }
                if loc.rotated != expect {
                    println!(
                        "!! {n}: turned {t}: locate said {} (expected {expect})",
                        loc.rotated
                    );
                }
            }
            if set == "real" {
                upright.push(f64::from(tops[0]));
            } else {
                deg_upright.push(f64::from(tops[0]));
            }
            if !n.contains("/nod/") || set == "degraded" {
                println!(
                    "{n}: 0:{:.4} 90:{:.4} 180:{:.4} 270:{:.4}",
                    tops[0], tops[1], tops[2], tops[3]
                );
            }
        }
    }
    println!("real upright best score: {}", summary(&upright));
    println!("real wrong-turn best score (0 = none): {}", summary(&wrong));
    println!(
        "real wrong-turn best score with landmarks that pass the early-accept check: {}",
        summary(&wrong_plausible)
    );
    println!(
        "early accept fires on {early} of {} real upright images; locate() correct {located_ok}/{located_n}",
        upright.len()
    );
    println!("degraded upright: {}", summary(&deg_upright));
    println!("degraded wrong turns: {}", summary(&deg_wrong));
    println!(
        "degraded: early accept fires on {deg_early} of {}; locate() correct {deg_loc_ok}/{}",
        deg_upright.len(),
        deg_upright.len() * 4
    );

    // Cost of the full search against the early accept.
    let img = load("bioid/nod/001.jpg", &ctx.s)?;
    let mut full = ctx.s.detector.clone();
    full.upright_accept_score = 1.01;
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        ctx.engine.locate(&mut m, &img)?;
    }
    let fast = t.elapsed().as_secs_f64() * 1000.0 / f64::from(reps);
    let t = Instant::now();
    for _ in 0..reps {
        let _ = ctx.detect(&mut m, &img)?;
        for turn in [90, 180, 270] {
            let turned = limg::rotate_cw(&img, turn);
            let _ = ctx.detect_with(&mut m, &turned, &full)?;
        }
    }
    let slow = t.elapsed().as_secs_f64() * 1000.0 / f64::from(reps);
    println!("locate() nod/001 1280x720: early accept {fast:.1} ms, four turns {slow:.1} ms");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// [quality] min_face_width (and sharpness against face size)

fn face_width(ctx: &Ctx) -> Result<()> {
    println!(
        "\n## quality.min_face_width: texture score of whole images downscaled to a face width"
    );
    let targets = [
        20.0f32, 24.0, 28.0, 32.0, 36.0, 40.0, 45.0, 50.0, 55.0, 60.0, 70.0, 80.0, 100.0, 120.0,
        160.0, 200.0, 250.0, 300.0, 400.0,
    ];
    let mut m = ctx.engine.models();
    let mut rows: Vec<WidthRow> = Vec::new();
    let mut names = sweep_live_names();
    names.extend(SPOOFS.iter().map(|s| s.to_string()));
    for n in &names {
        let img = load(n, &ctx.s)?;
        let Some((d0, t0)) = ctx.texture(&mut m, &img)? else {
            continue;
        };
        let w0 = d0.bbox[2];
        let live = !SPOOFS.contains(&n.as_str());
        println!(
            "{n}: {}x{} face {:.0} px wide, texture {:.4}",
            img.width(),
            img.height(),
            w0,
            t0
        );
        for &t in &targets {
            if t > w0 * 1.05 {
                continue;
            }
            let small = scaled(&img, t / w0);
            let got = ctx.texture(&mut m, &small)?;
            let r = match got {
                Some((d, tex)) => {
                    let st = quality::patch_stats(&small, &d);
                    Some((d.bbox[2], tex, st.laplacian_variance))
                }
                None => None,
            };
            rows.push((t, live, n.clone(), r));
        }
    }
    drop(m);
    println!(
        "target | live: found, texture (min med max), <0.5 | spoof: found, texture max | live lapvar med"
    );
    for &t in &targets {
        let live: Vec<_> = rows.iter().filter(|r| r.0 == t && r.1).collect();
        let spoof: Vec<_> = rows.iter().filter(|r| r.0 == t && !r.1).collect();
        if live.is_empty() && spoof.is_empty() {
            continue;
        }
        let lt: Vec<f64> = live.iter().filter_map(|r| r.3.map(|x| x.1)).collect();
        let st: Vec<f64> = spoof.iter().filter_map(|r| r.3.map(|x| x.1)).collect();
        let lap: Vec<f64> = live
            .iter()
            .filter_map(|r| r.3.map(|x| f64::from(x.2)))
            .collect();
        let mut s = lt.clone();
        s.sort_by(f64::total_cmp);
        let med = |v: &[f64]| {
            if v.is_empty() {
                f64::NAN
            } else {
                v[v.len() / 2]
            }
        };
        let mut lap_s = lap.clone();
        lap_s.sort_by(f64::total_cmp);
        println!(
            "{t:>4} px | live {}/{} min {:.3} med {:.3} max {:.3}, {} below 0.5 | spoof {}/{} max {:.3} | lapvar {:.1}",
            lt.len(),
            live.len(),
            s.first().copied().unwrap_or(f64::NAN),
            med(&s),
            s.last().copied().unwrap_or(f64::NAN),
            lt.iter().filter(|&&v| v < 0.5).count(),
            st.len(),
            spoof.len(),
            st.iter().copied().fold(f64::NAN, f64::max),
            med(&lap_s)
        );
    }
    for r in rows.iter().filter(|r| r.0 <= 60.0) {
        if let Some((w, tex, _)) = r.3
            && ((r.1 && tex < 0.5) || (!r.1 && tex >= 0.5))
        {
            println!(
                "  {} at target {} px (detected {:.0} px): texture {:.3} ({})",
                r.2,
                r.0,
                w,
                tex,
                if r.1 {
                    "live rejected"
                } else {
                    "spoof accepted"
                }
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// [quality] margin_side, margin_top, margin_chin

fn margins(ctx: &Ctx) -> Result<()> {
    println!("\n## quality margins: where the detector box lies in the eye-aligned frame");
    let mut m = ctx.engine.models();
    let mut names = all_live_names();
    names.extend(SPOOFS.iter().map(|s| s.to_string()));
    let (mut fits, mut total) = (0, 0);
    let mut side = Vec::new();
    let mut top = Vec::new();
    let mut chin = Vec::new();
    let mut mouth = Vec::new();
    let mut eye_box = Vec::new();
    for n in &names {
        let img = load(n, &ctx.s)?;
        let Some(d) = ctx.detect(&mut m, &img)?.into_iter().next() else {
            continue;
        };
        total += 1;
        let ok = quality::thumbnail_fits(&d, &ctx.s.quality, img.width(), img.height());
        if ok {
            fits += 1;
        } else {
            println!("{n}: thumbnail does NOT fit");
        }
        let g = quality::geometry(&d);
        let [bx, by, bw, bh] = d.bbox;
        let ed = g.eye_distance;
        let le = d.landmarks[LEFT_EYE];
        let re = d.landmarks[RIGHT_EYE];
        // Box edges beyond the eyes (eye distances), above the eyes, below the mouth.
        side.push(f64::from((re[0] - bx) / ed));
        side.push(f64::from((bx + bw - le[0]) / ed));
        let eye_y = (le[1] + re[1]) / 2.0;
        top.push(f64::from((eye_y - by) / ed));
        let mouth_y = eye_y + g.mouth_down * ed;
        chin.push(f64::from((by + bh - mouth_y) / (g.mouth_down * ed)));
        mouth.push(f64::from(g.mouth_down));
        eye_box.push(f64::from(g.eye_box_ratio));
    }
    println!("thumbnail fits on {fits} of {total} real single-face images");
    println!("box edge beside the eye, eye distances: {}", summary(&side));
    println!("box top above the eyes, eye distances: {}", summary(&top));
    println!(
        "box bottom below the mouth, eye-to-mouth distances: {}",
        summary(&chin)
    );
    println!("eye-to-mouth distance, eye distances: {}", summary(&mouth));
    println!("eye distance / box width: {}", summary(&eye_box));

    println!("\n## quality margins: crops that cut the image k units from the face");
    let ks = [0.0f32, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0];
    let bases = [
        "bioid/challenge_right_1.png",
        "bioid/challenge_right_2.png",
        "minivision/live_T1.jpg",
        "bioid/nod/001.jpg",
        "bioid/nod/040.jpg",
        "bioid/nod/075.jpg",
    ];
    for edge in ["left", "top", "bottom"] {
        println!(
            "edge {edge} (k in eye distances{}):",
            if edge == "bottom" {
                " x eye-to-mouth, below the mouth"
            } else {
                ""
            }
        );
        for &k in &ks {
            let mut found = 0;
            let mut fit = 0;
            let mut tex = Vec::new();
            for b in bases {
                let img = load(b, &ctx.s)?;
                let d = ctx
                    .detect(&mut m, &img)?
                    .into_iter()
                    .next()
                    .context("base face")?;
                let g = quality::geometry(&d);
                let ed = g.eye_distance;
                let re = d.landmarks[RIGHT_EYE];
                let le = d.landmarks[LEFT_EYE];
                let eye_y = (le[1] + re[1]) / 2.0;
                let (w, h) = (img.width() as f32, img.height() as f32);
                let c = match edge {
                    "left" => crop(&img, re[0] - k * ed, 0.0, w, h),
                    "top" => crop(&img, 0.0, eye_y - k * ed, w, h),
                    _ => {
                        let my = eye_y + g.mouth_down * ed;
                        crop(&img, 0.0, 0.0, w, my + k * g.mouth_down * ed)
                    }
                };
                if let Some((dc, t)) = ctx.texture(&mut m, &c)? {
                    found += 1;
                    tex.push(t);
                    if quality::thumbnail_fits(&dc, &ctx.s.quality, c.width(), c.height())
                        && quality::suitability(&dc, c.width(), c.height())
                            != Some(Unsuitable::BeyondBorder)
                    {
                        fit += 1;
                    }
                }
            }
            println!(
                "  k={k:<4}: face found {found}/{}, thumbnail fits {fit}, texture {}",
                bases.len(),
                summary(&tex)
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// [quality] sharpness_reference, exposure_low, exposure_high

fn sharpness_exposure(ctx: &Ctx) -> Result<()> {
    println!(
        "\n## quality.sharpness_reference: Laplacian variance of the face patch, Gaussian blur"
    );
    let mut m = ctx.engine.models();
    let mut names = all_live_names();
    names.extend(SPOOFS.iter().map(|s| s.to_string()));
    let mut lv = Vec::new();
    let mut luma = Vec::new();
    for n in &names {
        let img = load(n, &ctx.s)?;
        let Some(d) = ctx.detect(&mut m, &img)?.into_iter().next() else {
            continue;
        };
        let st = quality::patch_stats(&img, &d);
        lv.push(f64::from(st.laplacian_variance));
        luma.push(f64::from(st.mean_luma));
        if !n.contains("/nod/") {
            println!(
                "{n}: lapvar {:.1} mean luma {:.1} (face {:.0} px)",
                st.laplacian_variance, st.mean_luma, d.bbox[2]
            );
        }
    }
    println!("all real images: lapvar {}", summary(&lv));
    println!("all real images: mean face luma {}", summary(&luma));
    let sweep = sweep_live_names();
    for sigma in [0.0f32, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0] {
        let mut lv = Vec::new();
        let mut tex = Vec::new();
        let mut found = 0;
        let mut spoof = Vec::new();
        for n in sweep.iter().map(String::as_str).chain(SPOOFS) {
            let img = load(n, &ctx.s)?;
            let b = if sigma > 0.0 {
                image::imageops::blur(&img, sigma)
            } else {
                img
            };
            let Some((d, t)) = ctx.texture(&mut m, &b)? else {
                continue;
            };
            let st = quality::patch_stats(&b, &d);
            if SPOOFS.contains(&n) {
                spoof.push(format!("{:.1}/{:.3}", st.laplacian_variance, t));
            } else {
                found += 1;
                lv.push(f64::from(st.laplacian_variance));
                tex.push(t);
            }
        }
        println!(
            "sigma {sigma}: live found {found}/{}; lapvar {}; texture {}; spoofs lapvar/texture {}",
            sweep.len(),
            summary(&lv),
            summary(&tex),
            spoof.join(" ")
        );
    }

    println!("\n## quality exposure: brightness-scaled and gamma-changed versions");
    let mut ops: Vec<ImageOp> = Vec::new();
    for f in [0.15f32, 0.25, 0.35, 0.5, 0.7, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0] {
        ops.push((format!("x{f}"), Box::new(move |i| brightness(i, f))));
    }
    for g in [3.0f32, 2.0, 0.5, 0.33] {
        ops.push((format!("gamma{g}"), Box::new(move |i| gamma(i, g))));
    }
    for (label, op) in &ops {
        let mut rows = Vec::new();
        let mut lum = Vec::new();
        let mut tex = Vec::new();
        let mut found = 0;
        for n in sweep.iter().map(String::as_str).chain(SPOOFS) {
            let img = op(&load(n, &ctx.s)?);
            let Some((d, t)) = ctx.texture(&mut m, &img)? else {
                continue;
            };
            let st = quality::patch_stats(&img, &d);
            if SPOOFS.contains(&n) {
                rows.push(format!("{:.0}/{:.3}", st.mean_luma, t));
            } else {
                found += 1;
                lum.push(f64::from(st.mean_luma));
                tex.push(t);
            }
        }
        println!(
            "{label}: live found {found}/{}; luma {}; texture {}; spoofs luma/texture {}",
            sweep.len(),
            summary(&lum),
            summary(&tex),
            rows.join(" ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// [texture] threshold

fn texture_sets(ctx: &Ctx) -> Result<()> {
    println!("\n## texture.threshold: live vs spoof, originals and variants");
    let mut m = ctx.engine.models();
    let mut live: Vec<(String, f64)> = Vec::new();
    let mut spoof: Vec<(String, f64)> = Vec::new();
    let mut missed = 0;
    let variants: [Variant; 6] = [
        ("orig", |i, _| Ok(i.clone())),
        ("jpeg30", |i, s| reencode(i, 30, s)),
        ("jpeg50", |i, s| reencode(i, 50, s)),
        ("jpeg70", |i, s| reencode(i, 70, s)),
        ("jpeg95", |i, s| reencode(i, 95, s)),
        ("flip", |i, _| Ok(image::imageops::flip_horizontal(i))),
    ];
    let mut names = all_live_names();
    names.extend(SPOOFS.iter().map(|s| s.to_string()));
    for n in &names {
        let img = load(n, &ctx.s)?;
        let is_spoof = SPOOFS.contains(&n.as_str());
        let mut extra: Vec<(String, RgbImage)> = Vec::new();
        for (label, f) in &variants {
            extra.push((label.to_string(), f(&img, &ctx.s)?));
        }
        // Downscales (face 80, 120, 160 px) of the stills, spoofs and every 7th nod frame.
        let sweep = sweep_live_names();
        if is_spoof || sweep.contains(n) {
            if let Some(d) = ctx.detect(&mut m, &img)?.first() {
                for t in [80.0f32, 120.0, 160.0] {
                    if t < d.bbox[2] {
                        extra.push((format!("face{t}px"), scaled(&img, t / d.bbox[2])));
                    }
                }
            }
            extra.push(("jpeg50+face120px".into(), {
                let w = ctx.detect(&mut m, &img)?.first().map_or(1.0, |d| d.bbox[2]);
                reencode(&scaled(&img, (120.0 / w).min(1.0)), 50, &ctx.s)?
            }));
        }
        let mut line = Vec::new();
        for (label, v) in extra {
            match ctx.texture(&mut m, &v)? {
                Some((_, t)) => {
                    line.push(format!("{label} {t:.3}"));
                    if is_spoof {
                        spoof.push((format!("{n} {label}"), t));
                    } else {
                        live.push((format!("{n} {label}"), t));
                    }
                }
                None => {
                    missed += 1;
                    line.push(format!("{label} -"));
                }
            }
        }
        if !n.contains("/nod/") || is_spoof {
            println!("{n}: {}", line.join(", "));
        }
    }
    let lv: Vec<f64> = live.iter().map(|x| x.1).collect();
    let sv: Vec<f64> = spoof.iter().map(|x| x.1).collect();
    let lo: Vec<f64> = live
        .iter()
        .filter(|x| x.0.ends_with(" orig"))
        .map(|x| x.1)
        .collect();
    let so: Vec<f64> = spoof
        .iter()
        .filter(|x| x.0.ends_with(" orig"))
        .map(|x| x.1)
        .collect();
    println!("live originals: {}", summary(&lo));
    println!("spoof originals: {}", summary(&so));
    println!("live all variants: {}", summary(&lv));
    println!("spoof all variants: {}", summary(&sv));
    println!("faces not found on variants: {missed}");
    let mut lows: Vec<&(String, f64)> = live.iter().collect();
    lows.sort_by(|a, b| a.1.total_cmp(&b.1));
    for x in lows.iter().take(8) {
        println!("  lowest live: {} {:.4}", x.0, x.1);
    }
    let mut highs: Vec<&(String, f64)> = spoof.iter().collect();
    highs.sort_by(|a, b| b.1.total_cmp(&a.1));
    for x in highs.iter().take(8) {
        println!("  highest spoof: {} {:.4}", x.0, x.1);
    }
    println!("threshold | live rejected (BPCER) | spoof accepted (APCER)");
    for th in [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] {
        let b = lv.iter().filter(|&&v| v < th).count();
        let a = sv.iter().filter(|&&v| v >= th).count();
        println!(
            "{th:>5} | {b}/{} ({:.1} %) | {a}/{} ({:.1} %)",
            lv.len(),
            100.0 * b as f64 / lv.len() as f64,
            sv.len(),
            100.0 * a as f64 / sv.len() as f64
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// [challenge] min_magnitude, tolerance_deg

fn challenge(ctx: &Ctx) -> Result<()> {
    println!("\n## challenge: movement magnitude and direction of nod pairs and the BioID pair");
    let mut m = ctx.engine.models();
    let mut frames = Vec::new();
    for i in 1..=92 {
        let d = limg::decode(&read(&nod(i))?, &ctx.s.limits)?;
        let a = ctx.engine.analyse(&mut m, d)?;
        frames.push(a.face.context("nod frame without a usable face")?);
    }
    let mut bioid = Vec::new();
    for n in ["bioid/challenge_right_1.png", "bioid/challenge_right_2.png"] {
        let d = limg::decode(&read(n)?, &ctx.s.limits)?;
        bioid.push(ctx.engine.analyse(&mut m, d)?.face.context("bioid face")?);
    }
    drop(m);
    let angle = |a: f64, b: f64| {
        let d = (a - b).rem_euclid(360.0);
        d.min(360.0 - d)
    };
    for (label, a, b) in [("bioid 1->2", 0usize, 1usize), ("bioid 2->1", 1, 0)] {
        let pm = decision::pair_motion(&ctx.s, &bioid[a], &bioid[b])?;
        println!(
            "{label}: magnitude {:.4} direction {:.1} score {:.4}",
            pm.magnitude, pm.direction, pm.score
        );
    }
    // Detector-only displacement of the eye midpoint, in first-image eye distances.
    let eye_shift = |a: &liveness::pipeline::FoundFace, b: &liveness::pipeline::FoundFace| {
        let mid = |f: &liveness::pipeline::FoundFace| {
            let l = f.detection.landmarks;
            [(l[0][0] + l[1][0]) / 2.0, (l[0][1] + l[1][1]) / 2.0]
        };
        let (p, q) = (mid(a), mid(b));
        f64::from((q[0] - p[0]).hypot(q[1] - p[1]) / a.detection.eye_distance())
    };
    let mut still = Vec::new();
    let mut still_shift = Vec::new();
    let mut moving: Vec<(String, usize, f64, f64, f64)> = Vec::new();
    for gap in [2usize, 3, 5, 10, 15, 20, 30] {
        for i in 1..=92 - gap {
            let j = i + gap;
            let class = if j <= 36 {
                "down"
            } else if i >= 40 && j <= 64 {
                "rest"
            } else if i >= 66 {
                "up"
            } else {
                continue;
            };
            let pm = decision::pair_motion(&ctx.s, &frames[i - 1], &frames[j - 1])?;
            let shift = eye_shift(&frames[i - 1], &frames[j - 1]);
            if class == "rest" {
                still.push(pm.magnitude);
                still_shift.push(shift);
                if pm.magnitude >= ctx.s.challenge.min_magnitude {
                    println!(
                        "  rest pair {i:03}->{j:03} magnitude {:.4} direction {:.1}",
                        pm.magnitude, pm.direction
                    );
                }
            } else {
                let want = if class == "down" { 270.0 } else { 90.0 };
                let dev = if pm.direction > 0.0 {
                    angle(pm.direction, want)
                } else {
                    f64::NAN
                };
                moving.push((class.to_string(), gap, pm.magnitude, dev, shift));
            }
        }
    }
    println!("rest pairs (frames 40..64): magnitude {}", summary(&still));
    println!(
        "rest pairs: detector eye-midpoint shift {}",
        summary(&still_shift)
    );
    let minmag = ctx.s.challenge.min_magnitude;
    let tol = ctx.s.challenge.tolerance_deg;
    for class in ["down", "up"] {
        for gap in [2usize, 3, 5, 10, 15, 20, 30] {
            let v: Vec<_> = moving
                .iter()
                .filter(|x| x.0 == class && x.1 == gap)
                .collect();
            if v.is_empty() {
                continue;
            }
            let mags: Vec<f64> = v.iter().map(|x| x.2).collect();
            let devs: Vec<f64> = v.iter().map(|x| x.3).filter(|d| d.is_finite()).collect();
            let pass = v.iter().filter(|x| x.2 >= minmag && x.3 <= tol).count();
            let big = v.iter().filter(|x| x.2 >= minmag).count();
            println!(
                "{class} gap {gap}: magnitude {}; deviation from {} deg {}; >= min_magnitude {big}/{}, challenge passes {pass}/{}",
                summary(&mags),
                if class == "down" { 270 } else { 90 },
                summary(&devs),
                v.len(),
                v.len()
            );
        }
    }
    // Deviation of moving pairs by size: are small moves' directions reliable?
    for (lo, hi) in [
        (0.0, 0.06),
        (0.06, 0.12),
        (0.12, 0.2),
        (0.2, 0.4),
        (0.4, 10.0),
    ] {
        let devs: Vec<f64> = moving
            .iter()
            .filter(|x| x.2 >= lo && x.2 < hi)
            .map(|x| x.3)
            .filter(|d| d.is_finite())
            .collect();
        println!(
            "moving pairs with magnitude in [{lo}, {hi}): direction deviation {}",
            summary(&devs)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// [limits] max_working_side, max_pixels, max_request_bytes

fn limits(ctx: &Ctx) -> Result<()> {
    println!("\n## limits: a 12 MP and a 40 MP JPEG (nod/001 upscaled), scored end to end");
    let base = load("bioid/nod/001.jpg", &ctx.s)?;
    for (label, w, h) in [("12 MP", 4608u32, 2592u32), ("40 MP", 8400, 4725)] {
        let big = limg::resize_rgb(&base, w, h).context("upscale")?;
        let t = Instant::now();
        let jpg = jpeg_bytes(&big, 90)?;
        let enc = t.elapsed().as_secs_f64();
        drop(big);
        println!(
            "{label} {w}x{h}: JPEG q90 {:.1} MB (base64 {:.1} MB), encoded in {enc:.1} s",
            jpg.len() as f64 / 1e6,
            jpg.len() as f64 * 4.0 / 3.0 / 1e6
        );
        let mut lim = ctx.s.limits.clone();
        lim.max_working_side = 0;
        reset_peak_rss();
        let t = Instant::now();
        let full = limg::decode(&jpg, &lim)?;
        println!(
            "  decode only, full size: {:.0} ms, peak RSS {} MB",
            t.elapsed().as_secs_f64() * 1000.0,
            peak_rss_mb()
        );
        drop(full);
        let t = Instant::now();
        let d = limg::decode(&jpg, &ctx.s.limits)?;
        println!(
            "  decode + downscale to {}x{}: {:.0} ms",
            d.rgb.width(),
            d.rgb.height(),
            t.elapsed().as_secs_f64() * 1000.0
        );
        if label == "40 MP" {
            continue;
        }
        let sideways = jpeg_bytes(&limg::rotate_cw(&limg::decode(&jpg, &lim)?.rgb, 90), 90)?;
        for (orient, bytes) in [("upright", &jpg), ("sideways", &sideways)] {
            let req = request(&[bytes], &[]);
            for side in [1024u32, 1280, 2048, 3072, 0] {
                let mut s = ctx.s.clone();
                s.limits.max_working_side = side;
                let e = Engine::new(s, 1)?;
                reset_peak_rss();
                let mut times = Vec::new();
                let mut out = String::new();
                for _ in 0..3 {
                    let t = Instant::now();
                    let r = e.score(&req)?;
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                    let ip = &r.image_properties[0];
                    let f = ip.faces.first();
                    out = format!(
                        "live {} texture {:.4} eye distance {:.0} px quality {:.3} errors {:?}",
                        r.live,
                        f.map_or(0.0, |f| f.texture_liveness_score),
                        f.map_or(0.0, |f| (f.left_eye.x - f.right_eye.x)
                            .hypot(f.left_eye.y - f.right_eye.y)),
                        ip.quality_score,
                        r.errors
                            .iter()
                            .map(|e| e.error_code.as_str())
                            .collect::<Vec<_>>()
                    );
                }
                times.sort_by(f64::total_cmp);
                println!(
                    "  {orient} max_working_side {}: score {:.0} ms (median of 3), peak RSS {} MB; {out}",
                    if side == 0 {
                        "off".to_string()
                    } else {
                        side.to_string()
                    },
                    times[1],
                    peak_rss_mb()
                );
            }
        }
    }
    // Real photos' bytes per megapixel, for the request-size limit.
    for n in [
        "bioid/challenge_right_1.png",
        "bioid/nod/001.jpg",
        "minivision/live_T1.jpg",
    ] {
        let b = read(n)?;
        let d = limg::decode(&b, &ctx.s.limits)?;
        let (w, h) = d.original_size;
        println!(
            "{n}: {w}x{h}, {:.2} MB, {:.2} bytes/pixel",
            b.len() as f64 / 1e6,
            b.len() as f64 / (f64::from(w) * f64::from(h))
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Extra cases: a smaller second face pasted into a live image; every face of the group photos;
// a fine darkness sweep of the spoofs.

fn secondary_faces(ctx: &Ctx) -> Result<()> {
    println!(
        "\n## detector.other_face_min_ratio: a second face pasted at a fraction of the main face's width"
    );
    let mut m = ctx.engine.models();
    for (host, donor) in [
        ("bioid/nod/001.jpg", "bioid/challenge_right_1.png"),
        ("bioid/challenge_right_1.png", "bioid/nod/040.jpg"),
        ("minivision/live_T1.jpg", "bioid/nod/075.jpg"),
    ] {
        let h = load(host, &ctx.s)?;
        let dn = load(donor, &ctx.s)?;
        let hd = ctx
            .detect(&mut m, &h)?
            .into_iter()
            .next()
            .context("host face")?;
        let dd = ctx
            .detect(&mut m, &dn)?
            .into_iter()
            .next()
            .context("donor face")?;
        // The donor's head with a margin of half a box around the detector box.
        let [x, y, w, hh] = dd.bbox;
        let head = crop(&dn, x - 0.5 * w, y - 0.5 * hh, x + 1.5 * w, y + 1.5 * hh);
        let mut line = Vec::new();
        for ratio in [0.06f32, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5] {
            let f = ratio * hd.bbox[2] / w;
            let small = scaled(&head, f);
            let mut img = h.clone();
            // Top-left corner, away from the main face.
            image::imageops::overlay(&mut img, &small, 4, 4);
            let d = ctx.detect(&mut m, &img)?;
            let main_w = d.first().map_or(1.0, |e| e.bbox[2]);
            let second = d
                .iter()
                .skip(1)
                .map(|e| (e.score, e.bbox[2] / main_w))
                .next();
            let counted = d
                .iter()
                .filter(|e| e.bbox[2] >= main_w * ctx.s.detector.other_face_min_ratio)
                .count();
            line.push(match second {
                Some((sc, r)) => format!(
                    "{ratio}: found {sc:.2} r{r:.2} {}",
                    if counted > 1 { "MULTI" } else { "ignored" }
                ),
                None => format!("{ratio}: not detected"),
            });
        }
        println!(
            "{host} (face {:.0} px) + {donor}: {}",
            hd.bbox[2],
            line.join("; ")
        );
    }
    Ok(())
}

fn group_faces(ctx: &Ctx) -> Result<()> {
    println!(
        "\n## quality.min_face_width: texture of every face in the group photos (real people, small faces in context)"
    );
    let mut m = ctx.engine.models();
    let mut rows: Vec<(f32, f64, f32)> = Vec::new();
    for n in GROUPS {
        let img = load(n, &ctx.s)?;
        let d = ctx.detect(&mut m, &img)?;
        let mut line = Vec::new();
        for e in &d {
            let t = texture::score(
                &mut m,
                &img,
                e.bbox,
                [ctx.gain(&img, e); 3],
                ctx.s.texture.area_downscale,
            )?;
            rows.push((e.bbox[2], t, e.score));
            line.push(format!("{:.0}px/{:.2}", e.bbox[2], t));
        }
        println!("{n}: width/texture {}", line.join(" "));
    }
    for (lo, hi) in [(0.0, 30.0), (30.0, 60.0), (60.0, 100.0), (100.0, 1000.0)] {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.0 >= lo && r.0 < hi)
            .map(|r| r.1)
            .collect();
        let sc: Vec<f64> = rows
            .iter()
            .filter(|r| r.0 >= lo && r.0 < hi)
            .map(|r| f64::from(r.2))
            .collect();
        println!(
            "group faces {lo}..{hi} px: texture {}; below 0.5: {}; detector score {}",
            summary(&v),
            v.iter().filter(|&&t| t < 0.5).count(),
            summary(&sc)
        );
    }
    // The same faces upscaled 2x and 3x (bilinear): does the texture come back with size alone?
    let img = load("groups/group_large.jpg", &ctx.s)?;
    for f in [2.0f32, 3.0] {
        let big = scaled(&img, f);
        let d = ctx.detect(&mut m, &big)?;
        let mut v = Vec::new();
        for e in &d {
            v.push(texture::score(
                &mut m,
                &big,
                e.bbox,
                [ctx.gain(&big, e); 3],
                ctx.s.texture.area_downscale,
            )?);
        }
        println!(
            "group_large upscaled x{f}: {} faces, texture {}",
            d.len(),
            summary(&v)
        );
    }
    Ok(())
}

fn dark_spoofs(ctx: &Ctx) -> Result<()> {
    println!(
        "\n## exposure: fine brightness sweep, texture of spoofs and live stills vs face luma"
    );
    let mut m = ctx.engine.models();
    for n in SPOOFS
        .iter()
        .chain(STILLS_LIVE.iter())
        .copied()
        .chain(["bioid/nod/040.jpg"])
    {
        let img = load(n, &ctx.s)?;
        let mut line = Vec::new();
        for f in [
            0.15f32, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.85, 1.0, 1.15, 1.3, 1.45,
            1.6, 1.8, 2.0,
        ] {
            let b = brightness(&img, f);
            match ctx.texture(&mut m, &b)? {
                Some((d, t)) => {
                    let st = quality::patch_stats(&b, &d);
                    line.push(format!("x{f}:{:.0}/{:.3}", st.mean_luma, t));
                }
                None => line.push(format!("x{f}:-")),
            }
        }
        println!("{n}: factor:luma/texture {}", line.join(" "));
    }
    Ok(())
}

/// Resets the process's peak resident set size (Linux `clear_refs` 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size since the last reset, MB (Linux `VmHWM`).
fn peak_rss_mb() -> u64 {
    liveness::telemetry::peak_rss(std::process::id()).map_or(0, |b| b / (1024 * 1024))
}
