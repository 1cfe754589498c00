//! The motion estimator's tunables, their defaults and the measurements behind them.

use super::lk::LkParams;
use crate::config::MotionSettings;

/// Tunables. Pixel quantities marked "working px" are in the resampled crop, where the first
/// frame's eye distance is `work_eye_distance` pixels; "eye distances" are relative units.
#[derive(Debug, Clone)]
pub struct MotionConfig {
    /// Eye distance of the first face after resampling (working px). 64 makes the face about
    /// 130-150 px wide: enough texture for LK, small enough for ~3 ms per pair.
    pub work_eye_distance: f32,
    /// Largest allowed upsampling factor for small faces (upsampling adds no detail).
    pub max_upscale: f32,
    /// Margin added around the union of both face boxes, in eye distances.
    pub crop_margin: f32,
    /// Pyramid levels (3: handles displacements up to ~30 working px beyond the initial guess).
    pub pyramid_levels: usize,
    /// LK window half size (working px); the window is `2r+1` square.
    pub lk_half_window: usize,
    /// LK iterations per level. 10 is plenty after the landmark pre-alignment (30 gave the
    /// same scores to 0.001 on every test pair and cost 40 % more time: the points that do not
    /// converge in 10 steps are the ones the forward-backward check rejects anyway).
    pub lk_max_iters: usize,
    /// LK convergence threshold (px of the level).
    pub lk_epsilon: f32,
    /// Minimum structure-tensor eigenvalue for LK to accept a window, (intensity/px)^2.
    pub lk_min_eigen: f32,
    /// Minimum structure-tensor eigenvalue for a grid point to be tracked at all.
    pub point_min_eigen: f32,
    /// Forward-backward error above which a track is rejected (working px).
    pub fb_max_error: f32,
    /// Grid spacing of the plane (non-nose) points, in eye distances.
    pub grid_step: f32,
    /// Grid spacing of the nose points, in eye distances.
    pub nose_step: f32,
    /// Inner-face ellipse in the face frame (origin between the eyes, x toward the subject's
    /// left eye, y toward the mouth, unit = eye distance): centre y and semi-axes. Chosen to
    /// cover brows, eyes, cheeks, nose, mouth and upper chin but not hair, ears or background.
    pub ellipse_center_y: f32,
    pub ellipse_semi_x: f32,
    pub ellipse_semi_y: f32,
    /// Radius of the nose-tip disc whose points measure the parallax (eye distances).
    pub nose_radius: f32,
    /// Plane points must be at least this far from the nose tip (eye distances), so that the
    /// nose's own depth does not leak into the plane fit.
    pub nose_exclusion_radius: f32,
    /// RANSAC inlier threshold (working px; 2 px = 0.03 eye distances). A real face is not
    /// planar either: with 1 px the consensus set shrank to a small cluster on large nods and
    /// its extrapolation to the nose became unstable (some clearly moving pairs failed, and one
    /// bent-photo attack rose to 0.04 parallax); 2 px keeps most of the face in the plane fit
    /// while still excluding blinks, mouth motion and bad tracks.
    pub ransac_threshold: f32,
    /// RANSAC iterations.
    pub ransac_iterations: usize,
    /// RANSAC seed (fixed: the score must be deterministic).
    pub ransac_seed: u64,
    /// Fewer tracked plane points than this: no reliable plane, low score.
    pub min_plane_points: usize,
    /// Fewer tracked nose points than this: no parallax measurement, low score.
    pub min_nose_points: usize,
    /// How many times the plane points' median residual is subtracted from the nose parallax
    /// (tracking noise and non-rigid plane parts can shift the nose residual by that much).
    pub noise_factor: f32,
    /// Parallax (eye distances, after the noise correction) at which the score is 0.5.
    /// Measured: planar attacks (incl. tilts of 30 degrees and a bent photo) <= 0.007; real
    /// nod/turn pairs whose landmarks moved >= 0.15 eye distances >= 0.032 (1 % quantile
    /// 0.045). 0.03 leaves 4x margin over the worst attack.
    pub parallax_threshold: f32,
    /// Width of the logistic on the parallax (eye distances): 0.008 puts the worst measured
    /// attack (0.007) at ~0.05 and 0.045 at ~0.87.
    pub parallax_scale: f32,
    /// Nose displacement (eye distances) below which the motion is too small to prove 3D: the
    /// score is multiplied by a logistic gate centred here.
    pub min_motion: f32,
    /// Width of the motion gate (eye distances).
    pub min_motion_scale: f32,
    /// Faces whose eye distance is smaller than this (source px) are not analysed.
    pub min_eye_distance_px: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            work_eye_distance: 64.0,
            max_upscale: 2.0,
            crop_margin: 0.4,
            pyramid_levels: 3,
            lk_half_window: 6,
            lk_max_iters: 10,
            lk_epsilon: 0.01,
            lk_min_eigen: 1.0,
            point_min_eigen: 4.0,
            fb_max_error: 0.5,
            grid_step: 0.1,
            nose_step: 0.05,
            ellipse_center_y: 0.5,
            ellipse_semi_x: 0.85,
            ellipse_semi_y: 1.0,
            nose_radius: 0.28,
            nose_exclusion_radius: 0.45,
            ransac_threshold: 2.0,
            ransac_iterations: 300,
            ransac_seed: 0x5eed_1e55,
            min_plane_points: 16,
            min_nose_points: 6,
            noise_factor: 1.0,
            parallax_threshold: 0.03,
            parallax_scale: 0.008,
            min_motion: 0.05,
            min_motion_scale: 0.01,
            min_eye_distance_px: 16.0,
        }
    }
}

impl From<&MotionSettings> for MotionConfig {
    /// The two tunables that set the score's scale come from the configuration; the others
    /// keep the defaults above.
    fn from(settings: &MotionSettings) -> Self {
        MotionConfig {
            parallax_threshold: settings.parallax_threshold,
            min_motion: settings.min_motion,
            ..Default::default()
        }
    }
}

impl MotionConfig {
    /// The tracker's part of the tunables.
    pub(crate) fn lk_params(&self) -> LkParams {
        LkParams {
            half_window: self.lk_half_window,
            max_iters: self.lk_max_iters,
            epsilon: self.lk_epsilon,
            min_eigen: self.lk_min_eigen,
        }
    }
}
