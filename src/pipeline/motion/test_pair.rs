//! Real frames for the unit tests of the steps: images of `../shared/data` with the faces the
//! real detector finds in them (read at the pairs' detector size, as in a two-image request).

use std::path::Path;
use std::sync::OnceLock;

use ::image::RgbImage;

use super::config::MotionConfig;
use super::crop::Crop;
use super::working::WorkingPair;
use super::{Detection, Gray};
use crate::config::Settings;
use crate::pipeline::{Engine, image};

/// BioID's challenge pair: the head turns toward image +x.
pub const GENUINE: (&str, &str) = ("bioid/challenge_right_1.png", "bioid/challenge_right_2.png");
/// Frames 1 and 40 of the BioID nod sequence.
pub const NOD_FAR: (&str, &str) = ("bioid/nod/001.jpg", "bioid/nod/040.jpg");

/// A frame with its one face.
pub struct Frame {
    pub rgb: RgbImage,
    pub luma: Vec<u8>,
    pub detection: Detection,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut settings = Settings::defaults().expect("default settings").scoring;
        settings.detector = settings.detector.for_pairs();
        Engine::new(settings, 1).expect("models and ONNX Runtime (run `make setup`)")
    })
}

/// The frame of an upright image with its one face.
pub fn frame_of(rgb: RgbImage) -> Frame {
    let engine = engine();
    let mut models = engine.models();
    let located = engine.locate(&mut models, &rgb).expect("detector");
    assert_eq!(located.rotated, 0, "an upright test image");
    let detection = located.detections.first().expect("a face").clone();
    Frame {
        luma: image::to_gray(&rgb),
        rgb,
        detection,
    }
}

pub fn load(name: &str) -> Frame {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoded = image::decode(&bytes, &engine().settings().limits).expect("decode");
    frame_of(decoded.rgb)
}

pub fn pair((a, b): (&str, &str)) -> (Frame, Frame) {
    (load(a), load(b))
}

pub fn gray(f: &Frame) -> Gray<'_> {
    Gray {
        width: f.rgb.width() as usize,
        height: f.rgb.height() as usize,
        data: &f.luma,
    }
}

/// The frame at half its size, its face found again.
pub fn half(f: &Frame) -> Frame {
    let (w, h) = f.rgb.dimensions();
    let small = image::resize_rgb(&f.rgb, w / 2, h / 2).expect("resize");
    frame_of(small)
}

/// The frame moved `dx` px right and `dy` px down (a flat picture moved in front of the
/// camera), its face found again; the uncovered border repeats the edge.
pub fn shifted(f: &Frame, dx: u32, dy: u32) -> Frame {
    let (w, h) = f.rgb.dimensions();
    let moved = RgbImage::from_fn(w, h, |x, y| {
        *f.rgb.get_pixel(x.saturating_sub(dx), y.saturating_sub(dy))
    });
    frame_of(moved)
}

/// The working pair of two images.
pub fn working(names: (&str, &str), cfg: &MotionConfig) -> WorkingPair {
    let (a, b) = pair(names);
    working_of(&a, &b, cfg)
}

/// The working pair of the first BioID image and itself moved by `dx`, `dy` px, with the
/// crop's scale (working px per image px).
pub fn working_shifted(dx: u32, dy: u32, cfg: &MotionConfig) -> (WorkingPair, f64) {
    let a = load(GENUINE.0);
    let b = shifted(&a, dx, dy);
    let crop = crop_of(&a, &b, cfg);
    (working_of(&a, &b, cfg), crop.scale)
}

fn crop_of(a: &Frame, b: &Frame, cfg: &MotionConfig) -> Crop {
    Crop::around(&gray(a), &a.detection, &gray(b), &b.detection, cfg).expect("a crop")
}

fn working_of(a: &Frame, b: &Frame, cfg: &MotionConfig) -> WorkingPair {
    let crop = crop_of(a, b, cfg);
    WorkingPair::new(&gray(a), &a.detection, &gray(b), &b.detection, &crop, cfg)
}
