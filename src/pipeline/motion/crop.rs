//! Step 1: the part of the first frame that holds both faces, and the working resolution it is
//! resampled to (the first face's eye distance becomes [`MotionConfig::work_eye_distance`]
//! pixels, so every pixel threshold means the same for every face size).

use super::config::MotionConfig;
use super::{Detection, Gray};
use crate::pipeline::face::NOSE;

/// An axis-aligned rectangle, in first-frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Region {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

/// Where the working images come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Crop {
    /// Second-frame pixels to first-frame pixels: 1 for frames of one size (same camera: a
    /// change of the face's size is real motion), else the ratio of the eye distances.
    pub second_to_first: f64,
    /// Working pixels per first-frame pixel.
    pub scale: f64,
    /// First-frame index coordinate of the centre of working pixel (0, 0).
    pub origin: [f64; 2],
    /// Size of the working images.
    pub width: usize,
    pub height: usize,
}

/// The bounding box of the inner-face ellipse (the region whose points are tracked) and the nose
/// disc, of `face` scaled by `scale`. Generous: the larger semi-axis in every direction, which
/// covers any in-plane rotation.
pub(super) fn inner_face_box(face: &Detection, scale: f64, cfg: &MotionConfig) -> Region {
    let l = &face.landmarks;
    let s = |v: f32| v as f64 * scale;
    let frame = face.eye_frame().toward_mouth(l);
    let (mid, down) = (frame.mid, frame.v);
    let d = frame.eye_distance as f64 * scale;
    let centre_down = cfg.ellipse_center_y as f64 * d;
    let centre = [
        s(mid[0]) + down[0] as f64 * centre_down,
        s(mid[1]) + down[1] as f64 * centre_down,
    ];
    let radius = d * (cfg.ellipse_semi_x.max(cfg.ellipse_semi_y) as f64);
    let nose = [s(l[NOSE][0]), s(l[NOSE][1])];
    let nose_radius = d * cfg.nose_radius as f64;
    Region {
        left: (centre[0] - radius).min(nose[0] - nose_radius),
        top: (centre[1] - radius).min(nose[1] - nose_radius),
        right: (centre[0] + radius).max(nose[0] + nose_radius),
        bottom: (centre[1] + radius).max(nose[1] + nose_radius),
    }
}

/// The detector's box of `face`, scaled by `scale`.
pub(super) fn detector_box(face: &Detection, scale: f64) -> Region {
    let [x, y, w, h] = face.bbox;
    Region {
        left: x as f64 * scale,
        top: y as f64 * scale,
        right: (x + w) as f64 * scale,
        bottom: (y + h) as f64 * scale,
    }
}

impl Crop {
    /// The crop for two frames of one face: the union, over both faces, of the inner-face box
    /// plus a margin for the tracking windows, limited to the union of the detector boxes plus
    /// that margin. Only the inner face is tracked, so a bigger crop would only cost time.
    /// `None` when a face's eye distance is below `min_eye_distance_px`.
    pub fn around(
        first: &Gray,
        first_face: &Detection,
        second: &Gray,
        second_face: &Detection,
        cfg: &MotionConfig,
    ) -> Option<Crop> {
        let (d1, d2) = (first_face.eye_distance(), second_face.eye_distance());
        let min_eyes = cfg.min_eye_distance_px.max(1.0);
        if d1 < min_eyes || d2 < min_eyes {
            return None;
        }
        let k = if first.width == second.width && first.height == second.height {
            1.0f64
        } else {
            (d1 / d2) as f64
        };
        let margin = (cfg.crop_margin * d1) as f64;
        let (e1, e2) = (
            inner_face_box(first_face, 1.0, cfg),
            inner_face_box(second_face, k, cfg),
        );
        let (b1, b2) = (detector_box(first_face, 1.0), detector_box(second_face, k));
        // `max(lo).min(hi)` rather than `clamp`, which panics when lo > hi (tiny frames).
        let lim_x = (first.width as f64).min(second.width as f64 * k).max(1.0);
        let lim_y = (first.height as f64).min(second.height as f64 * k).max(1.0);
        let x0 = (e1.left.min(e2.left).max(b1.left.min(b2.left)) - margin)
            .min(lim_x - 1.0)
            .max(0.0);
        let y0 = (e1.top.min(e2.top).max(b1.top.min(b2.top)) - margin)
            .min(lim_y - 1.0)
            .max(0.0);
        let x1 = (e1.right.max(e2.right).min(b1.right.max(b2.right)) + margin)
            .min(lim_x)
            .max(x0 + 1.0);
        let y1 = (e1.bottom.max(e2.bottom).min(b1.bottom.max(b2.bottom)) + margin)
            .min(lim_y)
            .max(y0 + 1.0);
        let scale = (cfg.work_eye_distance / d1).min(cfg.max_upscale).max(1e-3) as f64;
        let step = 1.0 / scale;
        Some(Crop {
            second_to_first: k,
            scale,
            // Working pixel u is centred on first-frame index coordinate x0 + (u + 0.5) * step
            // - 0.5: the working pixels tile the crop.
            origin: [x0 + 0.5 * step - 0.5, y0 + 0.5 * step - 0.5],
            width: ((x1 - x0) * scale).ceil().max(1.0) as usize,
            height: ((y1 - y0) * scale).ceil().max(1.0) as usize,
        })
    }

    /// First-frame pixels per working pixel.
    pub fn step(&self) -> f64 {
        1.0 / self.scale
    }

    /// A point of the first frame (`frame_scale` 1) or of the second (`second_to_first`) in
    /// working pixels.
    pub fn working_px(&self, p: [f32; 2], frame_scale: f64) -> [f32; 2] {
        [
            ((p[0] as f64 * frame_scale - self.origin[0]) * self.scale) as f32,
            ((p[1] as f64 * frame_scale - self.origin[1]) * self.scale) as f32,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_pair::{NOD_FAR, gray, pair};
    use super::*;
    use crate::pipeline::face::geometry::distance;
    use crate::pipeline::face::{LEFT_EYE, RIGHT_EYE};

    #[test]
    fn the_crop_holds_both_inner_faces_at_the_working_scale() {
        let (a, b) = pair(NOD_FAR);
        let cfg = MotionConfig::default();
        let crop = Crop::around(&gray(&a), &a.detection, &gray(&b), &b.detection, &cfg)
            .expect("faces large enough");
        // One camera: the second frame keeps its pixels.
        assert_eq!(crop.second_to_first, 1.0);
        // The first face's eye distance becomes work_eye_distance working pixels.
        let l = a.detection.landmarks.map(|p| crop.working_px(p, 1.0));
        let eyes = distance(l[RIGHT_EYE], l[LEFT_EYE]);
        assert!((eyes - cfg.work_eye_distance).abs() < 1e-3, "{eyes}");
        // Every inner-face point of both faces lies inside the working image, and the crop is
        // no wider than the faces' boxes plus the margins (the face, not the frame).
        for (face, k) in [(&a.detection, 1.0), (&b.detection, crop.second_to_first)] {
            let r = inner_face_box(face, k, &cfg);
            for p in [[r.left, r.top], [r.right, r.bottom]] {
                let w = crop.working_px([p[0] as f32, p[1] as f32], 1.0);
                assert!(w[0] >= -0.5 && w[1] >= -0.5, "{w:?}");
                assert!(
                    w[0] <= crop.width as f32 && w[1] <= crop.height as f32,
                    "{w:?}"
                );
            }
        }
        let widest = a.detection.bbox[2].max(b.detection.bbox[2]) as f64;
        assert!((crop.width as f64) < crop.scale * 2.0 * widest, "{crop:?}");
    }

    #[test]
    fn frames_of_different_sizes_are_matched_by_their_faces() {
        let (a, b) = pair(NOD_FAR);
        let half = super::super::test_pair::half(&b);
        let cfg = MotionConfig::default();
        let crop = Crop::around(&gray(&a), &a.detection, &gray(&half), &half.detection, &cfg)
            .expect("faces large enough");
        let ratio = a.detection.eye_distance() / half.detection.eye_distance();
        assert_eq!(crop.second_to_first, ratio as f64);
        assert!((1.8..2.2).contains(&crop.second_to_first), "{crop:?}");
    }

    #[test]
    fn a_tiny_face_gives_no_crop() {
        let (a, b) = pair(NOD_FAR);
        let cfg = MotionConfig {
            min_eye_distance_px: a.detection.eye_distance() + 1.0,
            ..Default::default()
        };
        assert_eq!(
            Crop::around(&gray(&a), &a.detection, &gray(&b), &b.detection, &cfg),
            None
        );
    }

    #[test]
    fn the_inner_face_box_is_centred_below_the_eyes() {
        let (a, _) = pair(NOD_FAR);
        let cfg = MotionConfig::default();
        let r = inner_face_box(&a.detection, 1.0, &cfg);
        let frame = a.detection.eye_frame();
        let centre_y = (r.top + r.bottom) / 2.0;
        // Upright face: the ellipse's centre is ellipse_center_y eye distances below the eyes.
        let expected =
            frame.mid[1] as f64 + cfg.ellipse_center_y as f64 * frame.eye_distance as f64;
        assert!((centre_y - expected).abs() < 0.05 * frame.eye_distance as f64);
        // Twice as large at twice the scale.
        let r2 = inner_face_box(&a.detection, 2.0, &cfg);
        assert!(((r2.right - r2.left) - 2.0 * (r.right - r.left)).abs() < 1e-6);
    }
}
