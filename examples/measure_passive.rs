//! The measurements behind the exposure normalisation and the medium cue (docs/thresholds.md,
//! `[texture]` and `[medium]`): for every live photo, shared spoof and medium composite, as
//! captured and as the dim captures of `tests/common/captures.rs`, the face's luminance, noise
//! and clipping, the MiniFASNet pair's score under several normalisations (none; gain to 110,
//! 130, 150; darkening bright faces; a higher gain cap; per-channel white balance to `REFC`
//! (R,G,B chroma, default the live median); gray-world) and the medium cue's strength.
//!
//! `cargo run --profile iterate --example measure_passive > passive.tsv`, then
//! `python3 scripts/passive_summary.py passive.tsv`. With `FAST=1` only the configured
//! normalisation is scored (the medium columns are always computed).

#[path = "../tests/common/attacks.rs"]
mod attacks;
#[path = "../tests/common/captures.rs"]
mod captures;
#[path = "../tests/common/composites.rs"]
mod composites;
#[path = "../tests/common/images.rs"]
mod images;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use image::RgbImage;
use liveness::Engine;
use liveness::config::Settings;
use liveness::pipeline::{image as pimage, medium, quality, texture};

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let settings = Settings::load(None)?.scoring;
    let engine = Engine::new(settings.clone(), 2)?;
    let mut live = images::under(&root.join("bonafide"), &root);
    for i in (1..=92).step_by(10) {
        live.push(format!("bioid/nod/{i:03}.jpg"));
    }
    live.push("bioid/challenge_right_1.png".into());
    live.push("minivision/live_T1.jpg".into());
    let attacks_list = [
        "bioid/photo.png",
        "minivision/spoof_print_F1.jpg",
        "minivision/spoof_screen_F2.jpg",
        "attacks/HyperFAS/fake_screen.png",
        "attacks/light-weight-face-anti-spoofing/demo.png",
    ];
    let mut jobs: Vec<(String, String)> = live
        .iter()
        .map(|n| ("live".to_string(), n.clone()))
        .collect();
    jobs.extend(
        attacks_list
            .iter()
            .map(|n| ("attack".to_string(), n.to_string())),
    );
    // Composites: faces of several people over rooms.
    let faces = [
        "bonafide/deepface/img1.jpg",
        "bonafide/face_recognition/examples/obama.jpg",
        "bioid/challenge_right_1.png",
        "minivision/live_T1.jpg",
        "bonafide/face_recognition/examples/lin-manuel-miranda.png",
    ];
    let scenes = [
        "bonafide/deepface/img22.jpg",
        "bonafide/face_recognition/examples/knn_examples/test/obama1.jpg",
        "bonafide/deepface/img57.jpg",
    ];
    std::fs::create_dir_all("/tmp/probe_comp")?;
    {
        let mut m = engine.models();
        let loadimg = |n: &str| {
            pimage::decode(&std::fs::read(root.join(n)).unwrap(), &settings.limits)
                .unwrap()
                .rgb
        };
        for (fi, fname) in faces.iter().enumerate() {
            let face = loadimg(fname);
            let a = engine.analyse(
                &mut m,
                pimage::decode(&attacks::png(&face), &settings.limits).unwrap(),
            )?;
            let Some(f) = a.face.as_ref() else { continue };
            let l = f.detection.landmarks;
            let ed = f.detection.eye_distance() as f64;
            let center = [
                (l[0][0] + l[1][0]) as f64 / 2.0,
                (l[0][1] + l[1][1]) as f64 / 2.0 + 0.5 * ed,
            ];
            let scene = loadimg(scenes[fi % scenes.len()]);
            // The lower-left quarter of the scene as the room (most scenes have their face centred).
            let room = composites::room(&scene);
            for c in composites::catalogue(&face, center, ed, &room, 7 + fi as u64) {
                let path = format!(
                    "/tmp/probe_comp/{fi}-{}-{}.png",
                    c.kind,
                    c.name.replace([' ', '/', ','], "_")
                );
                std::fs::write(&path, attacks::png(&c.rgb))?;
                jobs.push((format!("attack:{}", c.kind), path));
            }
        }
    }
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::new());
    let variants = captures::standard();
    println!(
        "class\tsource\tvariant\tluma\tnoise\tdark\tbright\twidth\tt_off\tt110\tt130\tt150\tt130b\tt130g6\tcr\tcb\twbface\twbhalf\tgw\tmedium\tframe"
    );
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut m = engine.models();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((class, name)) = jobs.get(k) else {
                        break;
                    };
                    let bytes = std::fs::read(root.join(name)).unwrap();
                    let mut decoded = match pimage::decode(&bytes, &settings.limits) {
                        Ok(d) => d,
                        Err(_) => continue,
                    };
                    if name.ends_with("demo.png") {
                        decoded.rgb =
                            image::imageops::crop_imm(&decoded.rgb, 0, 0, 350, decoded.rgb.height())
                                .to_image();
                    }
                    let rgb = decoded.rgb.clone();
                    let mut rows = Vec::new();
                    let mut eval = |variant: &str, img: RgbImage, m: &mut liveness::ModelSet| -> Option<([f64; 2], f64)> {
                        let d = pimage::decode(&attacks::jpeg(&img, 92), &settings.limits).ok()?;
                        let d = if variant == "original" { pimage::decode(&bytes, &settings.limits).ok().map(|mut o| { o.rgb = img.clone(); o })? } else { d };
                        let a = engine.analyse(m, d).ok()?;
                        let f = a.face.as_ref()?;
                        let det = &f.detection;
                        let st = quality::patch_stats(&f.rgb, det);
                        let t = |r: f32, lo: f32, hi: f32, m: &mut liveness::ModelSet| {
                            let g = texture::exposure_gain(st.mean_luma, r, lo, hi);
                            if std::env::var("FAST").is_ok() && r != 130.0 { return -1.0; }
                            texture::score(m, &f.rgb, det.bbox, [g; 3], settings.texture.area_downscale).unwrap_or(-1.0)
                        };
                        let refc: [f32; 3] = std::env::var("REFC").ok().map(|v| { let p: Vec<f32> = v.split(',').map(|x| x.parse().unwrap()).collect(); [p[0], p[1], p[2]] }).unwrap_or([1.2, 0.95, 0.8]);
                        let luma = st.mean_luma.max(1.0);
                        let chroma = st.mean_rgb.map(|c| c.max(1.0) / luma);
                        let g0 = texture::exposure_gain(st.mean_luma, 130.0, 1.0, 4.0);
                        let wb = |p: f32| [0, 1, 2].map(|c| g0 * (refc[c] / chroma[c]).powf(p));
                        let means = {
                            let mut m = [0f64; 3];
                            for px in f.rgb.pixels() { for c in 0..3 { m[c] += f64::from(px[c]); } }
                            let n = (f.rgb.width() * f.rgb.height()) as f64;
                            m.map(|v| (v / n).max(1.0))
                        };
                        let gm = (means[0] + means[1] + means[2]) / 3.0;
                        let gw = [0, 1, 2].map(|c| g0 * (gm / means[c]) as f32);
                        let fast = std::env::var("FAST").is_ok();
                        let tg = |g: [f32; 3], m: &mut liveness::ModelSet| if fast { -1.0 } else { texture::score(m, &f.rgb, det.bbox, g, settings.texture.area_downscale).unwrap_or(-1.0) };
                        let ev = medium::inspect(&f.rgb, det, st.mean_luma, &settings.medium);
                        let row = format!(
                            "{class}\t{name}\t{variant}\t{:.0}\t{:.2}\t{:.3}\t{:.3}\t{:.0}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:?}",
                            st.mean_luma,
                            st.noise,
                            st.clipped_dark,
                            st.clipped_bright,
                            det.bbox[2],
                            t(0.0, 1.0, 1.0, m),
                            t(110.0, 1.0, 4.0, m),
                            t(130.0, 1.0, 4.0, m),
                            t(150.0, 1.0, 4.0, m),
                            t(130.0, 0.5, 4.0, m),
                            t(130.0, 1.0, 6.0, m),
                            chroma[0], chroma[2],
                            tg(wb(1.0), m),
                            tg(wb(0.5), m),
                            tg(gw, m),
                            ev.strength,
                            ev.frame,
                        );
                        rows.push(row);
                        let l = det.landmarks;
                        let eyes = [(l[0][0] + l[1][0]) as f64 / 2.0, (l[0][1] + l[1][1]) as f64 / 2.0];
                        let ed = det.eye_distance() as f64;
                        // Only when no turn was needed do the coordinates refer to `rgb`.
                        (a.properties.rotated == 0).then_some(([eyes[0], eyes[1] + 0.5 * ed], ed))
                    };
                    let Some((center, ed)) = eval("original", rgb.clone(), &mut m) else {
                        out.lock().unwrap().extend(rows);
                        continue;
                    };
                    for (vi, v) in variants.iter().enumerate() {
                        let img = captures::render(&rgb, center, ed, v, 1000 + vi as u64);
                        let jpg = attacks::jpeg(&img, v.jpeg_quality);
                        let back = image::load_from_memory(&jpg).unwrap().to_rgb8();
                        eval(v.name, back, &mut m);
                    }
                    out.lock().unwrap().extend(rows);
                }
            });
        }
    });
    for r in out.into_inner().unwrap() {
        println!("{r}");
    }
    Ok(())
}
