//! Preview of the synthetic medium attacks of `tests/common/composites.rs`: builds the catalogue
//! from one real face photo and one real room photo of `../shared/data`, writes every capture to
//! `/tmp/composites/*.png`, and scores each one (encoded as JPEG 85) with the real engine.
//!
//! `cargo run --release --example composites_preview -- [FACE] [SCENE] [SEED]` (paths relative
//! to `../shared/data`; needs `make setup`).

#[path = "../tests/common/attacks.rs"]
mod attacks;
#[path = "../tests/common/composites.rs"]
mod composites;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use liveness::Engine;
use liveness::api::{ImageData, LivenessDetectionRequest, LivenessDetectionResponse};
use liveness::config::Settings;

const OUT_DIR: &str = "/tmp/composites";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).context("encoding")?;
    Ok(out.into_inner())
}

fn jpeg(img: &image::RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .context("JPEG encoding")?;
    Ok(buf)
}

fn score(engine: &Engine, bytes: &[u8]) -> Result<LivenessDetectionResponse> {
    let request = LivenessDetectionRequest {
        live_images: vec![ImageData {
            image: base64::engine::general_purpose::STANDARD.encode(bytes),
            tags: vec![],
        }],
    };
    Ok(engine.score(&request)?)
}

/// The photo as the pipeline sees it (EXIF applied) and its decoded RGB.
fn load(engine: &Engine, name: &str) -> Result<image::RgbImage> {
    let path = data_dir().join(name);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let decoded = liveness::pipeline::image::decode(&bytes, &engine.settings().limits)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(decoded.rgb)
}

/// The scene without its faces: while the detector finds one, keep the largest of the four
/// regions beside the face (left, right, above, below) with a margin for hair and shoulders.
fn room(engine: &Engine, mut scene: image::RgbImage) -> Result<image::RgbImage> {
    for _ in 0..4 {
        let r = score(engine, &jpeg(&scene, 85)?)?;
        let Some(f) = r.image_properties.first().and_then(|p| p.faces.first()) else {
            return Ok(scene);
        };
        let (w, h) = (f64::from(scene.width()), f64::from(scene.height()));
        let d = (f.left_eye.x - f.right_eye.x).hypot(f.left_eye.y - f.right_eye.y);
        let (cx, cy) = (
            0.5 * (f.left_eye.x + f.right_eye.x),
            0.5 * (f.left_eye.y + f.right_eye.y),
        );
        let (x0, x1) = ((cx - 2.2 * d).max(0.0), (cx + 2.2 * d).min(w));
        let (y0, y1) = ((cy - 2.5 * d).max(0.0), (cy + 4.0 * d).min(h));
        // (x, y, width, height) of each candidate, px.
        let regions = [
            (0.0, 0.0, x0, h),
            (x1, 0.0, w - x1, h),
            (0.0, 0.0, w, y0),
            (0.0, y1, w, h - y1),
        ];
        let best = regions
            .into_iter()
            .max_by(|a, b| (a.2 * a.3).total_cmp(&(b.2 * b.3)))
            .unwrap_or(regions[0]);
        anyhow::ensure!(
            best.2 >= 64.0 && best.3 >= 64.0,
            "the scene has no face-free region"
        );
        scene = image::imageops::crop_imm(
            &scene,
            best.0 as u32,
            best.1 as u32,
            best.2 as u32,
            best.3 as u32,
        )
        .to_image();
    }
    anyhow::bail!("the scene keeps showing faces")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let face_name = args
        .first()
        .map_or("bonafide/deepface/img1.jpg", String::as_str);
    let scene_name = args
        .get(1)
        .map_or("bonafide/deepface/img22.jpg", String::as_str);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);

    let engine =
        Engine::new(Settings::load(None)?.scoring, 1).context("models (run `make setup`)")?;
    let face = load(&engine, face_name)?;
    let scene = load(&engine, scene_name)?;

    // Where the face is, from the pipeline's own detector (as examples/eval/main.rs make_base).
    let r = score(&engine, &encode(&face, image::ImageFormat::Png)?)?;
    let p = r.image_properties.first().context("no image properties")?;
    anyhow::ensure!(p.faces.len() == 1, "{face_name}: expected one face");
    let f = &p.faces[0];
    let (re, le) = ([f.right_eye.x, f.right_eye.y], [f.left_eye.x, f.left_eye.y]);
    let d = ((le[0] - re[0]).powi(2) + (le[1] - re[1]).powi(2))
        .sqrt()
        .max(1.0);
    let center = [0.5 * (le[0] + re[0]), 0.5 * (le[1] + re[1]) + 0.5 * d];
    println!(
        "face {face_name} {}x{}: centre ({:.0}, {:.0}), eye distance {d:.0} px, texture {:.3}; scene {scene_name}; seed {seed}",
        face.width(),
        face.height(),
        center[0],
        center[1],
        f.texture_liveness_score
    );
    let scene = room(&engine, scene)?;
    println!(
        "room: {}x{} px of the scene, no face",
        scene.width(),
        scene.height()
    );

    std::fs::create_dir_all(OUT_DIR).with_context(|| format!("creating {OUT_DIR}"))?;
    let t = std::time::Instant::now();
    let all = composites::catalogue(&face, center, d, &scene, seed);
    println!(
        "{} composites in {:.1} s\n",
        all.len(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "{:<3} {:<15} {:>5} {:>8}  {:<40} name",
        "#", "kind", "faces", "texture", "errors"
    );
    for (i, c) in all.iter().enumerate() {
        let file = format!("{OUT_DIR}/{i:02}-{}.png", c.kind);
        std::fs::write(&file, encode(&c.rgb, image::ImageFormat::Png)?)
            .with_context(|| format!("writing {file}"))?;
        let r = score(&engine, &jpeg(&c.rgb, 85)?)?;
        let errors: Vec<&str> = r.errors.iter().map(|e| e.error_code.as_str()).collect();
        let faces = r.image_properties.first().map_or(0, |p| p.faces.len());
        let texture = r
            .image_properties
            .first()
            .and_then(|p| p.faces.first())
            .map_or("-".to_string(), |f| {
                format!("{:.3}", f.texture_liveness_score)
            });
        println!(
            "{i:<3} {:<15} {faces:>5} {texture:>8}  {:<40} {}",
            c.kind,
            errors.join(","),
            c.name
        );
    }
    Ok(())
}
