//! The working pair: both frames resampled into the [`Crop`], and the second pre-aligned onto
//! the first with the similarity that maps the first face's landmarks onto the second's, so that
//! the tracker only has to find the small residual motion (the landmarks give the initial guess
//! only; the measured motion comes from the pixels). A similarity composed with a homography is
//! a homography, so the pre-alignment changes nothing about what is planar and what is not.

use super::config::MotionConfig;
use super::crop::Crop;
use super::gray::{resample, warp_similarity};
use super::lk::Pyramid;
use super::{Detection, Gray};
use crate::pipeline::face::{EyeFrame, Landmarks, NOSE};

/// A similarity transform `x' = c x - s y + tx`, `y' = s x + c y + ty`, with `c = scale · cos`
/// and `s = scale · sin` of its rotation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Similarity {
    pub c: f32,
    pub s: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.c * p[0] - self.s * p[1] + self.tx,
            self.s * p[0] + self.c * p[1] + self.ty,
        ]
    }

    /// The least-squares similarity (rotation, scale, translation) mapping `a` onto `b`.
    pub fn fit(a: &[[f32; 2]], b: &[[f32; 2]]) -> Similarity {
        let n = a.len().max(1) as f32;
        let ma = [
            a.iter().map(|p| p[0]).sum::<f32>() / n,
            a.iter().map(|p| p[1]).sum::<f32>() / n,
        ];
        let mb = [
            b.iter().map(|p| p[0]).sum::<f32>() / n,
            b.iter().map(|p| p[1]).sum::<f32>() / n,
        ];
        let (mut re, mut im, mut den) = (0.0f32, 0.0f32, 0.0f32);
        for (p, q) in a.iter().zip(b) {
            let (x, y) = (p[0] - ma[0], p[1] - ma[1]);
            let (u, v) = (q[0] - mb[0], q[1] - mb[1]);
            // (u + iv) * conj(x + iy)
            re += u * x + v * y;
            im += v * x - u * y;
            den += x * x + y * y;
        }
        let (c, s) = if den > 1e-9 {
            (re / den, im / den)
        } else {
            (1.0, 0.0)
        };
        Similarity {
            c,
            s,
            tx: mb[0] - (c * ma[0] - s * ma[1]),
            ty: mb[1] - (s * ma[0] + c * ma[1]),
        }
    }
}

/// The two frames as the tracker sees them.
pub(super) struct WorkingPair {
    /// The first frame's crop, as a pyramid.
    pub first: Pyramid,
    /// The second frame's crop, pre-aligned onto the first by `alignment`.
    pub second: Pyramid,
    /// The first face's landmarks, in working pixels.
    pub landmarks: Landmarks,
    /// The first face's eye-aligned frame in working pixels, its `v` toward the mouth.
    pub face: EyeFrame,
    /// Maps a point of the pre-aligned second crop to the second frame's working pixels.
    pub alignment: Similarity,
}

impl WorkingPair {
    pub fn new(
        first: &Gray,
        first_face: &Detection,
        second: &Gray,
        second_face: &Detection,
        crop: &Crop,
        cfg: &MotionConfig,
    ) -> WorkingPair {
        let (step, k) = (crop.step(), crop.second_to_first);
        let [ax, ay] = crop.origin;
        let img1 = resample(first, ax, ay, step, crop.width, crop.height);
        let img2 = resample(second, ax / k, ay / k, step / k, crop.width, crop.height);
        let lm1 = first_face.landmarks.map(|p| crop.working_px(p, 1.0));
        let lm2 = second_face.landmarks.map(|p| crop.working_px(p, k));
        let alignment = Similarity::fit(&lm1, &lm2);
        let img2 = warp_similarity(&img2, &alignment);
        // The coarsest level must still hold a tracking window with a border.
        let min_side = 2 * cfg.lk_half_window + 3;
        WorkingPair {
            first: Pyramid::new(img1, cfg.pyramid_levels, min_side),
            second: Pyramid::new(img2, cfg.pyramid_levels, min_side),
            landmarks: lm1,
            face: EyeFrame::new(&lm1).toward_mouth(&lm1),
            alignment,
        }
    }

    /// The first face's nose tip, in working pixels.
    pub fn nose(&self) -> [f32; 2] {
        self.landmarks[NOSE]
    }
}

#[cfg(test)]
mod tests {
    use super::super::gray::ImageF;
    use super::super::test_pair::{GENUINE, gray, pair, shifted};
    use super::*;

    #[test]
    fn the_fitted_similarity_maps_points_onto_their_images() {
        let truth = Similarity {
            c: 1.1 * 0.2f32.cos(),
            s: 1.1 * 0.2f32.sin(),
            tx: 5.0,
            ty: -3.0,
        };
        let a = [
            [10.0, 20.0],
            [50.0, 22.0],
            [30.0, 45.0],
            [15.0, 60.0],
            [45.0, 61.0],
        ];
        let b = a.map(|p| truth.apply(p));
        let fit = Similarity::fit(&a, &b);
        for (p, q) in a.iter().zip(&b) {
            let m = fit.apply(*p);
            assert!(
                (m[0] - q[0]).abs() < 1e-3 && (m[1] - q[1]).abs() < 1e-3,
                "{m:?} {q:?}"
            );
        }
    }

    #[test]
    fn the_working_pair_puts_the_first_face_at_the_working_eye_distance() {
        let (a, b) = pair(GENUINE);
        let cfg = MotionConfig::default();
        let (ga, gb) = (gray(&a), gray(&b));
        let crop = Crop::around(&ga, &a.detection, &gb, &b.detection, &cfg).expect("crop");
        let w = WorkingPair::new(&ga, &a.detection, &gb, &b.detection, &crop, &cfg);
        assert!((w.face.eye_distance - cfg.work_eye_distance).abs() < 1e-3);
        assert_eq!(w.first.levels.len(), cfg.pyramid_levels);
        assert_eq!(w.first.levels[0].w, crop.width);
        assert_eq!(w.second.levels[0].h, crop.height);
        // The face frame's v points toward the mouth.
        let mouth = w.landmarks[crate::pipeline::face::LEFT_MOUTH];
        assert!(w.face.coordinates(mouth)[1] > 0.0);
        assert_eq!(w.nose(), w.landmarks[NOSE]);
    }

    #[test]
    fn a_shifted_frame_is_aligned_back_onto_the_first() {
        // The second frame is the first moved 24 px right and 16 px down: the alignment maps
        // the first face's landmarks onto the second's, and the pre-aligned second crop shows
        // about the pixels of the first.
        let (a, _) = pair(GENUINE);
        let b = shifted(&a, 24, 16);
        let cfg = MotionConfig::default();
        let (ga, gb) = (gray(&a), gray(&b));
        let crop = Crop::around(&ga, &a.detection, &gb, &b.detection, &cfg).expect("crop");
        let w = WorkingPair::new(&ga, &a.detection, &gb, &b.detection, &crop, &cfg);
        let second = b.detection.landmarks.map(|p| crop.working_px(p, 1.0));
        let misfit = w
            .landmarks
            .iter()
            .zip(&second)
            .map(|(p, q)| {
                let m = w.alignment.apply(*p);
                (m[0] - q[0]).hypot(m[1] - q[1])
            })
            .sum::<f32>()
            / 5.0;
        assert!(misfit < 0.1 * w.face.eye_distance, "{misfit}");
        let (l1, l2) = (&w.first.levels[0], &w.second.levels[0]);
        let mean_abs = |img: &ImageF| {
            let (cx, cy) = (img.w / 2, img.h / 2);
            let mut sum = 0.0;
            for y in cy - 20..cy + 20 {
                for x in cx - 20..cx + 20 {
                    sum += (img.data[y * img.w + x] - l1.data[y * l1.w + x]).abs();
                }
            }
            sum / 1600.0
        };
        let [ax, ay] = crop.origin;
        let unaligned = resample(&gb, ax, ay, crop.step(), crop.width, crop.height);
        let (aligned, before) = (mean_abs(l2), mean_abs(&unaligned));
        assert!(
            aligned < 0.5 * before,
            "aligned {aligned} vs unaligned {before}"
        );
    }
}
