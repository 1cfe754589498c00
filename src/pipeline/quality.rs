//! Quality assessments of one face: image size, face size, full visibility (the eye-aligned
//! thumbnail fits), landmark plausibility (`SuitableFace`), sharpness and exposure.

use image::RgbImage;

use super::face::geometry::midpoint;
use super::face::{Detection, EyeFrame, LEFT_MOUTH, NOSE, RIGHT_MOUTH};
use crate::api::{QualityAssessment, QualityCheck};
use crate::config::QualitySettings;

/// Why a detected face is not suitable for biometric processing (BWS's `SuitableFace` reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsuitable {
    /// The subject's right eye is not on the image's left: a mirrored or wrong detection.
    EyesInverted,
    /// The nose tip is not below the eyes.
    NoseAboveEyes,
    /// The nose tip is beside the eyes: the head is turned too far.
    Profile,
    /// The eyes are implausibly close for the face box (YuNet's false sideways detections have
    /// about half the true eye distance).
    EyesTooCloseTogether,
    /// Landmarks lie outside the image.
    BeyondBorder,
}

impl Unsuitable {
    pub fn name(self) -> &'static str {
        match self {
            Unsuitable::EyesInverted => "EyesInverted",
            Unsuitable::NoseAboveEyes => "NoseAboveEyes",
            Unsuitable::Profile => "Profile",
            Unsuitable::EyesTooCloseTogether => "EyesTooCloseTogether",
            Unsuitable::BeyondBorder => "BeyondBorder",
        }
    }
}

/// Landmark geometry in the eye-aligned frame, in units of the eye distance.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// The eye-aligned frame, `v` following from the eye order (not turned toward the mouth:
    /// that is how inverted eyes and a nose above them show).
    pub frame: EyeFrame,
    /// Nose tip beside / below the eye midpoint, in eye distances.
    pub nose_side: f32,
    pub nose_down: f32,
    /// Mouth midpoint below the eye midpoint, in eye distances.
    pub mouth_down: f32,
    /// Eye distance / box width.
    pub eye_box_ratio: f32,
}

pub fn geometry(det: &Detection) -> Geometry {
    let l = &det.landmarks;
    let frame = det.eye_frame();
    let d = frame.eye_distance;
    let [nose_side, nose_down] = frame.coordinates(l[NOSE]);
    let [_, mouth_down] = frame.coordinates(midpoint(l[LEFT_MOUTH], l[RIGHT_MOUTH]));
    Geometry {
        frame,
        nose_side: nose_side / d,
        nose_down: nose_down / d,
        mouth_down: mouth_down / d,
        eye_box_ratio: d / det.bbox[2].max(1e-3),
    }
}

/// Limits of plausible landmark geometry, in eye distances. Frontal faces measured here:
/// nose 0.5..0.8 below the eyes, |nose beside| < 0.2, eye distance 0.35..0.45 of the box width
/// (docs/thresholds.md).
const MIN_NOSE_DOWN: f32 = 0.15;
const MAX_NOSE_SIDE: f32 = 0.6;
const MIN_EYE_BOX_RATIO: f32 = 0.25;

/// Checks the landmarks of an upright-image detection; `None` when suitable.
pub fn suitability(det: &Detection, img_w: u32, img_h: u32) -> Option<Unsuitable> {
    let g = geometry(det);
    let (w, h) = (img_w as f32, img_h as f32);
    if det
        .landmarks
        .iter()
        .any(|&[x, y]| x < 0.0 || y < 0.0 || x >= w || y >= h)
    {
        return Some(Unsuitable::BeyondBorder);
    }
    // Upright means the eye line runs left to right (within +-90 degrees of roll).
    if g.frame.u[0] <= 0.0 {
        return Some(Unsuitable::EyesInverted);
    }
    if g.nose_down < MIN_NOSE_DOWN {
        return Some(Unsuitable::NoseAboveEyes);
    }
    if g.eye_box_ratio < MIN_EYE_BOX_RATIO {
        return Some(Unsuitable::EyesTooCloseTogether);
    }
    if g.nose_side.abs() > MAX_NOSE_SIDE {
        return Some(Unsuitable::Profile);
    }
    None
}

/// The eye-aligned thumbnail: one eye distance beside each eye, `margin_top` above the eyes and
/// the chin below the mouth. Returns its four corners in image coordinates.
pub fn thumbnail_corners(det: &Detection, q: &QualitySettings) -> [[f32; 2]; 4] {
    let g = geometry(det);
    let d = g.frame.eye_distance;
    let half_w = d * (0.5 + q.margin_side);
    let top = -q.margin_top * d;
    // The chin: below the mouth by margin_chin eye-to-mouth distances.
    let bottom = g.mouth_down.max(0.5) * d * (1.0 + q.margin_chin);
    let at = |s: f32, t: f32| g.frame.offset(s, t);
    [
        at(-half_w, top),
        at(half_w, top),
        at(half_w, bottom),
        at(-half_w, bottom),
    ]
}

pub fn thumbnail_fits(det: &Detection, q: &QualitySettings, img_w: u32, img_h: u32) -> bool {
    thumbnail_corners(det, q)
        .iter()
        .all(|&[x, y]| x >= 0.0 && y >= 0.0 && x <= img_w as f32 - 1.0 && y <= img_h as f32 - 1.0)
}

/// Side of the canonical gray face patch used for sharpness and exposure.
const PATCH: usize = 96;

/// `f32::from(b)` for every byte `b`, as a table. Read from memory, the twelve bytes of a
/// bilinear sample convert without waiting on each other: the conversion instruction
/// (`cvtsi2ss`) writes only part of its register, so on the baseline x86-64 target a chain of
/// them ran one after the other, and it alone took 12 % of [`patch_stats`] (`perf annotate`).
/// The values are the same, so every measurement is too.
static BYTE_TO_F32: [f32; 256] = {
    let mut table = [0f32; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b as f32;
        b += 1;
    }
    table
};

/// An eye-aligned gray patch of the inner face (eyebrows to mouth, cheek to cheek), sampled
/// bilinearly so that sharpness is measured at one scale whatever the face size. Luma is
/// computed per sample straight from the RGB buffer: no gray copy of the whole frame.
fn face_patch(rgb: &RgbImage, det: &Detection) -> (Vec<f32>, [f32; 3]) {
    let (width, height) = rgb.dimensions();
    let raw = rgb.as_raw();
    let frame = det.eye_frame();
    let d = frame.eye_distance;
    // 1.6 eye distances wide and high, starting 0.4 above the eyes: the inner face only.
    let span = 1.6 * d;
    let (w, h) = (width as usize, height as usize);
    // Bilinear sample of R, G and B at one position: the neighbours and weights are found
    // once for the three channels. After the clamp the position is not negative (or NaN), so
    // truncation (`as usize`) is its floor, without a call to libm's `floorf`.
    let (x_max, y_max) = (w as f32 - 1.001, h as f32 - 1.001);
    let sample = |x: f32, y: f32| -> [f32; 3] {
        let x = x.clamp(0.0, x_max);
        let y = y.clamp(0.0, y_max);
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let x1 = (x0 + 1).min(w - 1);
        let y1 = (y0 + 1).min(h - 1);
        let (i00, i10) = ((y0 * w + x0) * 3, (y0 * w + x1) * 3);
        let (i01, i11) = ((y1 * w + x0) * 3, (y1 * w + x1) * 3);
        std::array::from_fn(|c| {
            let p = |i: usize| BYTE_TO_F32[usize::from(raw[i + c])];
            (p(i00) * (1.0 - fx) + p(i10) * fx) * (1.0 - fy)
                + (p(i01) * (1.0 - fx) + p(i11) * fx) * fy
        })
    };
    // The columns' positions along the eye line, the same for every row.
    let columns: [f32; PATCH] =
        std::array::from_fn(|i| -span / 2.0 + span * (i as f32 + 0.5) / PATCH as f32);
    let mut out = Vec::with_capacity(PATCH * PATCH);
    let mut sums = [0f64; 3];
    for j in 0..PATCH {
        let t = -0.4 * d + span * (j as f32 + 0.5) / PATCH as f32;
        for &s in &columns {
            let [x, y] = frame.offset(s, t);
            let rgb = sample(x, y);
            for (sum, v) in sums.iter_mut().zip(rgb) {
                *sum += f64::from(v);
            }
            // BT.601 luma, as `image::to_gray`.
            out.push(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]);
        }
    }
    let n = (PATCH * PATCH) as f64;
    (out, sums.map(|s| (s / n) as f32))
}

/// Variance of the 4-neighbour Laplacian over the patch.
fn laplacian_variance(p: &[f32]) -> f32 {
    let n = PATCH;
    let mut sum = 0f64;
    let mut sum2 = 0f64;
    let mut count = 0f64;
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let c = p[y * n + x];
            let lap = p[y * n + x - 1] + p[y * n + x + 1] + p[(y - 1) * n + x] + p[(y + 1) * n + x]
                - 4.0 * c;
            sum += f64::from(lap);
            sum2 += f64::from(lap) * f64::from(lap);
            count += 1.0;
        }
    }
    let mean = sum / count;
    (sum2 / count - mean * mean) as f32
}

/// Noise standard deviation of the patch, by Immerkær's estimator ("Fast noise variance
/// estimation", 1996): the mean absolute response to the difference of two Laplacians, which
/// cancels smooth shading and keeps the sensor's pixel-to-pixel noise.
fn noise_sigma(p: &[f32]) -> f32 {
    let n = PATCH;
    let mut sum = 0f64;
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let at = |dx: isize, dy: isize| {
                f64::from(p[(y as isize + dy) as usize * n + (x as isize + dx) as usize])
            };
            let r = at(-1, -1) + at(1, -1) + at(-1, 1) + at(1, 1)
                - 2.0 * (at(0, -1) + at(-1, 0) + at(1, 0) + at(0, 1))
                + 4.0 * at(0, 0);
            sum += r.abs();
        }
    }
    let m = (n - 2) as f64;
    ((std::f64::consts::FRAC_PI_2).sqrt() * sum / (6.0 * m * m)) as f32
}

/// A patch value at or below this is clipped black; at or above `255 - CLIP`, clipped white.
const CLIP: f32 = 3.0;

/// Sharpness, exposure and noise measurements of a face.
#[derive(Debug, Clone, Copy)]
pub struct PatchStats {
    pub laplacian_variance: f32,
    pub mean_luma: f32,
    /// Fraction of the inner face clipped to black (luma <= 3) and to white (>= 252).
    pub clipped_dark: f32,
    pub clipped_bright: f32,
    /// Sensor noise (standard deviation, luma levels) of the inner face.
    pub noise: f32,
    /// Mean R, G, B of the inner face.
    pub mean_rgb: [f32; 3],
}

pub fn patch_stats(rgb: &RgbImage, det: &Detection) -> PatchStats {
    let (p, mean_rgb) = face_patch(rgb, det);
    let n = p.len() as f32;
    PatchStats {
        laplacian_variance: laplacian_variance(&p),
        mean_luma: p.iter().sum::<f32>() / n,
        clipped_dark: p.iter().filter(|&&v| v <= CLIP).count() as f32 / n,
        clipped_bright: p.iter().filter(|&&v| v >= 255.0 - CLIP).count() as f32 / n,
        noise: noise_sigma(&p),
        mean_rgb,
    }
}

/// Why a found face cannot be judged on its texture at all: most of it holds no picture.
/// A dim face is not such a face: its gain is normalised before the texture models.
pub fn unusable_exposure(stats: &PatchStats, q: &QualitySettings, gain: f32) -> Option<String> {
    if stats.clipped_dark > q.max_clipped_fraction {
        return Some(format!(
            "the face cannot be analysed: {:.0} % of it is clipped to black (at most {:.0} %)",
            100.0 * stats.clipped_dark,
            100.0 * q.max_clipped_fraction
        ));
    }
    if stats.clipped_bright > q.max_clipped_fraction {
        return Some(format!(
            "the face cannot be analysed: {:.0} % of it is clipped to white (at most {:.0} %)",
            100.0 * stats.clipped_bright,
            100.0 * q.max_clipped_fraction
        ));
    }
    let amplified = stats.noise * gain;
    if amplified > q.max_noise {
        return Some(format!(
            "the face cannot be analysed: its sensor noise ({:.1} luma levels after the exposure gain of {:.1}) swamps the texture (at most {:.1})",
            amplified, gain, q.max_noise
        ));
    }
    None
}

fn assessment(check: QualityCheck, score: f64, message: impl Into<String>) -> QualityAssessment {
    QualityAssessment {
        check,
        score: (score.clamp(0.0, 1.0) * 1000.0).round() / 1000.0,
        message: message.into(),
    }
}

pub fn image_size(original: (u32, u32), working: (u32, u32)) -> QualityAssessment {
    if original == working {
        assessment(
            QualityCheck::ImageSize,
            1.0,
            format!("{}x{} pixels", original.0, original.1),
        )
    } else {
        assessment(
            QualityCheck::ImageSize,
            f64::from(working.0) / f64::from(original.0.max(1)),
            format!(
                "the image was scaled down from {}x{} to {}x{} pixels",
                original.0, original.1, working.0, working.1
            ),
        )
    }
}

pub fn face_size(det: &Detection, q: &QualitySettings) -> QualityAssessment {
    let w = det.bbox[2];
    let score = f64::from(w / q.min_face_width.max(1.0));
    let msg = if score >= 1.0 {
        format!("face {w:.0} px wide")
    } else {
        format!(
            "face {w:.0} px wide, too small for reliable texture analysis (at least {:.0} px)",
            q.min_face_width
        )
    };
    assessment(QualityCheck::FaceSize, score, msg)
}

pub fn fully_visible(fits: bool) -> QualityAssessment {
    if fits {
        assessment(
            QualityCheck::FullyVisibleFace,
            1.0,
            "the whole face is inside the image",
        )
    } else {
        assessment(
            QualityCheck::FullyVisibleFace,
            0.0,
            "the face is cut by the image border: the eye-aligned thumbnail does not fit",
        )
    }
}

pub fn suitable(reason: Option<Unsuitable>) -> QualityAssessment {
    match reason {
        None => assessment(QualityCheck::SuitableFace, 1.0, "suitable face"),
        Some(r) => assessment(QualityCheck::SuitableFace, 0.0, r.name()),
    }
}

pub fn sharpness(stats: &PatchStats, q: &QualitySettings) -> QualityAssessment {
    let score = f64::from(stats.laplacian_variance / q.sharpness_reference.max(1e-3));
    let msg = if score >= 1.0 {
        "sharp".to_string()
    } else {
        format!(
            "blurred (Laplacian variance {:.1})",
            stats.laplacian_variance
        )
    };
    assessment(QualityCheck::Sharpness, score, msg)
}

/// Information only: a dim or bright face is normalised before the texture models, never
/// rejected for its brightness alone ([`unusable_exposure`] rejects only faces without picture).
pub fn exposure(stats: &PatchStats, q: &QualitySettings) -> QualityAssessment {
    let m = stats.mean_luma;
    let (score, msg) = if m < q.exposure_low {
        (m / q.exposure_low.max(1.0), "underexposed face")
    } else if m > q.exposure_high {
        (
            (255.0 - m) / (255.0 - q.exposure_high).max(1.0),
            "overexposed face",
        )
    } else {
        (1.0, "well exposed face")
    };
    assessment(
        QualityCheck::Exposure,
        f64::from(score),
        format!("{msg} (mean luminance {m:.0})"),
    )
}

/// The aggregate `qualityScore`: the mean of the assessment scores.
pub fn quality_score(assessments: &[QualityAssessment]) -> f64 {
    if assessments.is_empty() {
        return 0.0;
    }
    let mean = assessments.iter().map(|a| a.score).sum::<f64>() / assessments.len() as f64;
    (mean * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::face::frontal;
    use crate::pipeline::face::{LEFT_EYE, RIGHT_EYE};

    #[test]
    fn frontal_face_is_suitable() {
        assert_eq!(suitability(&frontal(), 400, 400), None);
        let g = geometry(&frontal());
        assert!((g.nose_down - 0.625).abs() < 1e-4);
        assert!(g.nose_side.abs() < 1e-4);
    }

    #[test]
    fn swapped_eyes_are_inverted() {
        let mut d = frontal();
        d.landmarks.swap(RIGHT_EYE, LEFT_EYE);
        assert_eq!(suitability(&d, 400, 400), Some(Unsuitable::EyesInverted));
    }

    #[test]
    fn nose_above_eyes_and_profile_and_border() {
        let mut d = frontal();
        d.landmarks[NOSE] = [150.0, 140.0];
        assert_eq!(suitability(&d, 400, 400), Some(Unsuitable::NoseAboveEyes));
        let mut d = frontal();
        d.landmarks[NOSE] = [180.0, 175.0];
        assert_eq!(suitability(&d, 400, 400), Some(Unsuitable::Profile));
        assert_eq!(
            suitability(&frontal(), 160, 400),
            Some(Unsuitable::BeyondBorder)
        );
    }

    #[test]
    fn thumbnail_needs_margin_beside_the_eyes() {
        let q = crate::config::Settings::defaults().unwrap().scoring.quality;
        assert!(thumbnail_fits(&frontal(), &q, 400, 400));
        // The right eye at x=130 - 95 = 35 has less than one eye distance (40 px) to its left.
        let mut d = frontal();
        for lm in d.landmarks.iter_mut() {
            lm[0] -= 95.0;
        }
        assert!(!thumbnail_fits(&d, &q, 400, 400));
    }

    /// The patch before the positions were shared by the channels: a bilinear sample per
    /// channel with `floor`. The reference the current one must match bit for bit.
    fn face_patch_reference(rgb: &RgbImage, det: &Detection) -> (Vec<f32>, [f32; 3]) {
        let (width, height) = rgb.dimensions();
        let raw = rgb.as_raw();
        let frame = det.eye_frame();
        let d = frame.eye_distance;
        let span = 1.6 * d;
        let (w, h) = (width as usize, height as usize);
        let sample = |x: f32, y: f32, c: usize| -> f32 {
            let x = x.clamp(0.0, w as f32 - 1.001);
            let y = y.clamp(0.0, h as f32 - 1.001);
            let (x0, y0) = (x.floor() as usize, y.floor() as usize);
            let (fx, fy) = (x - x0 as f32, y - y0 as f32);
            let x1 = (x0 + 1).min(w - 1);
            let y1 = (y0 + 1).min(h - 1);
            let p = |xx: usize, yy: usize| f32::from(raw[(yy * w + xx) * 3 + c]);
            (p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx) * (1.0 - fy)
                + (p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx) * fy
        };
        let mut out = Vec::with_capacity(PATCH * PATCH);
        let mut sums = [0f64; 3];
        for j in 0..PATCH {
            let t = -0.4 * d + span * (j as f32 + 0.5) / PATCH as f32;
            for i in 0..PATCH {
                let s = -span / 2.0 + span * (i as f32 + 0.5) / PATCH as f32;
                let [x, y] = frame.offset(s, t);
                let rgb = [sample(x, y, 0), sample(x, y, 1), sample(x, y, 2)];
                for (sum, v) in sums.iter_mut().zip(rgb) {
                    *sum += f64::from(v);
                }
                out.push(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]);
            }
        }
        let n = (PATCH * PATCH) as f64;
        (out, sums.map(|s| (s / n) as f32))
    }

    #[test]
    fn face_patch_matches_the_reference_bit_for_bit() {
        assert!(
            (0..=255u8).all(|b| BYTE_TO_F32[usize::from(b)].to_bits() == f32::from(b).to_bits())
        );
        let mut rng = fastrand::Rng::with_seed(96);
        let same = |a: &[f32], b: &[f32]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
        };
        let sizes = [(2, 2), (3, 9), (64, 48), (400, 400), (930, 850)];
        for i in 0..200 {
            let (w, h) = sizes[i % sizes.len()];
            let mut raw = vec![0u8; w * h * 3];
            rng.fill(&mut raw);
            let img = RgbImage::from_raw(w as u32, h as u32, raw).expect("sized buffer");
            // Faces inside, at and past the border, tiny and huge, rolled either way.
            let (cx, cy) = (
                rng.f32() * w as f32 * 1.6 - w as f32 * 0.3,
                rng.f32() * h as f32 * 1.6 - h as f32 * 0.3,
            );
            let d = 0.5 + rng.f32() * w.max(h) as f32 * 0.6;
            let roll = (rng.f32() - 0.5) * 7.0;
            let (c, s) = (roll.cos(), roll.sin());
            let at = |u: f32, v: f32| [cx + d * (u * c - v * s), cy + d * (u * s + v * c)];
            let det = Detection {
                score: 0.9,
                bbox: [cx - d, cy - d, 2.0 * d, 2.5 * d],
                landmarks: [
                    at(-0.5, 0.0),
                    at(0.5, 0.0),
                    at(0.0, 0.6),
                    at(-0.35, 1.1),
                    at(0.35, 1.1),
                ],
            };
            let (new, new_rgb) = face_patch(&img, &det);
            let (old, old_rgb) = face_patch_reference(&img, &det);
            assert!(
                same(&new, &old) && same(&new_rgb, &old_rgb),
                "{w}x{h} {det:?}"
            );
        }
        let img = RgbImage::from_fn(400, 400, |x, y| image::Rgb([x as u8, y as u8, 7]));
        assert_eq!(
            face_patch(&img, &frontal()),
            face_patch_reference(&img, &frontal())
        );
    }
}
