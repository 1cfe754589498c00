//! Steps 4 to 6: the plane that best explains the face's motion, the nose's departure from it
//! (the parallax, the 3D evidence), and the score.

use super::config::MotionConfig;
use super::homography::{Homography, RansacFit, ransac};
use super::track::{Track, Tracks};
use super::{logistic, median};

/// Step 4: a homography fitted with RANSAC to the points *away* from the nose (eyes, brows,
/// cheeks, mouth, chin): the best planar explanation of the face's motion. `None` when the
/// points are degenerate.
pub(super) fn plane_fit(plane: &[Track], cfg: &MotionConfig) -> Option<RansacFit> {
    let first: Vec<[f64; 2]> = plane.iter().map(|t| t.first).collect();
    let second: Vec<[f64; 2]> = plane.iter().map(|t| t.second).collect();
    ransac(
        &first,
        &second,
        cfg.ransac_threshold as f64,
        cfg.ransac_iterations,
        cfg.ransac_seed,
    )
}

/// Step 5: how far the nose departs from the plane, in the first face's eye distances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Parallax {
    /// The raw parallax less `noise_factor` times the plane's own residual.
    pub corrected: f32,
    /// The length of the median nose residual vector against the plane.
    pub raw: f32,
    /// The median residual of the plane points against the plane: what tracking noise and the
    /// non-rigid parts of the face (blinks, the mouth) explain.
    pub plane_residual: f32,
}

impl Parallax {
    /// The parallax of `tracks` against the plane `h`, on a face whose eye distance is
    /// `eye_distance` working px. A flat photo, even tilted in perspective, gives about 0; a
    /// turning or nodding head does not. `None` when too few nose points map through `h`.
    pub fn measure(
        h: &Homography,
        tracks: &Tracks,
        eye_distance: f32,
        cfg: &MotionConfig,
    ) -> Option<Parallax> {
        let mut plane_res: Vec<f32> = tracks
            .plane
            .iter()
            .map(|t| h.error(t.first, t.second) as f32)
            .collect();
        let plane_residual_px = median(&mut plane_res);
        let mut rx = Vec::with_capacity(tracks.nose.len());
        let mut ry = Vec::with_capacity(tracks.nose.len());
        for t in &tracks.nose {
            if let Some(m) = h.apply(t.first) {
                rx.push((t.second[0] - m[0]) as f32);
                ry.push((t.second[1] - m[1]) as f32);
            }
        }
        if rx.len() < cfg.min_nose_points.max(1) {
            return None;
        }
        let (mrx, mry) = (median(&mut rx), median(&mut ry));
        let raw = (mrx * mrx + mry * mry).sqrt() / eye_distance;
        let plane_residual = plane_residual_px / eye_distance;
        Some(Parallax {
            corrected: raw - cfg.noise_factor * plane_residual,
            raw,
            plane_residual,
        })
    }
}

/// Step 6: the logistic of the parallax, centred on the decision threshold 0.5, times a gate on
/// the amount of motion (too little motion cannot prove 3D). In [`super::SCORE_FLOOR`]..1.
pub(super) fn score(parallax: f32, magnitude: f32, cfg: &MotionConfig) -> f32 {
    let s_par = logistic((parallax - cfg.parallax_threshold) / cfg.parallax_scale.max(1e-6));
    let s_mot = logistic((magnitude - cfg.min_motion) / cfg.min_motion_scale.max(1e-6));
    let score = (s_par * s_mot).clamp(super::SCORE_FLOOR, 1.0);
    if score.is_finite() {
        score
    } else {
        super::SCORE_FLOOR
    }
}

#[cfg(test)]
mod tests {
    use super::super::points::Candidates;
    use super::super::test_pair::{GENUINE, working, working_shifted};
    use super::*;

    fn parallax_of(w: &super::super::working::WorkingPair, cfg: &MotionConfig) -> Parallax {
        let c = Candidates::place(&w.first, &w.face, w.nose(), cfg);
        let t = Tracks::follow(w, &c, cfg);
        let fit = plane_fit(&t.plane, cfg).expect("a plane");
        // Most plane points agree with the plane.
        let inliers = fit.inliers.iter().filter(|&&b| b).count();
        assert!(
            inliers * 2 > t.plane.len(),
            "{inliers} of {}",
            t.plane.len()
        );
        Parallax::measure(&fit.h, &t, w.face.eye_distance, cfg).expect("nose points")
    }

    #[test]
    fn a_moved_flat_picture_has_no_parallax() {
        let cfg = MotionConfig::default();
        let (w, _) = working_shifted(24, 16, &cfg);
        let p = parallax_of(&w, &cfg);
        assert!(p.raw < 0.01 && p.corrected < 0.01, "{p:?}");
        assert!(p.plane_residual < 0.01, "{p:?}");
    }

    #[test]
    fn a_turning_head_shows_parallax() {
        let cfg = MotionConfig::default();
        let p = parallax_of(&working(GENUINE, &cfg), &cfg);
        assert!(p.corrected > cfg.parallax_threshold, "{p:?}");
        assert_eq!(p.corrected, p.raw - cfg.noise_factor * p.plane_residual);
    }

    #[test]
    fn too_few_tracks_give_no_plane() {
        let t = Track {
            first: [1.0, 2.0],
            second: [1.0, 2.0],
        };
        assert!(plane_fit(&[t, t, t], &MotionConfig::default()).is_none());
    }

    #[test]
    fn the_score_is_one_half_at_the_thresholds_and_gated_by_motion() {
        let cfg = MotionConfig::default();
        let much = cfg.min_motion + 20.0 * cfg.min_motion_scale;
        assert!((score(cfg.parallax_threshold, much, &cfg) - 0.5).abs() < 1e-4);
        assert!(score(cfg.parallax_threshold + 0.05, much, &cfg) > 0.99);
        // The same parallax without motion cannot prove 3D.
        assert!(score(cfg.parallax_threshold + 0.05, 0.0, &cfg) < 0.01);
        assert_eq!(score(-1.0, much, &cfg), super::super::SCORE_FLOOR);
        assert_eq!(score(f32::NAN, much, &cfg), super::super::SCORE_FLOOR);
    }
}
