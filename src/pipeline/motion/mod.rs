//! Active liveness from the motion between two frames: is the face a rigid 3D head or a flat
//! surface (photo, screen) that was moved in front of the camera?
//!
//! # Why this works
//! Any motion of a *plane* (translation, rotation, scaling, tilt, as a photo or a screen held in
//! front of the camera) moves its image by exactly one homography. A real head is not a plane:
//! when it turns or nods, points at different depths move differently (parallax). The nose tip
//! sticks out ~0.5-0.7 eye distances in front of the eyes, cheeks and mouth, so the nose region
//! deviates from the homography that explains the rest of the face.
//!
//! # Steps, and why in this order
//! 1. Crop the union of both face boxes (plus a margin) and resample it so the first frame's
//!    eye distance is [`MotionConfig::work_eye_distance`] pixels: fixed cost whatever the input
//!    resolution, and all pixel thresholds mean the same thing for every face size
//!    (`crop`, then `working`, which also pre-aligns the second frame for step 3).
//! 2. Place points on a grid inside the *inner* face only (an ellipse in the face frame spanned
//!    by the eyes, see [`EyeFrame`](crate::pipeline::face::EyeFrame)): hair, ears, background
//!    and screen overlays do not move with a photo held in front of a static scene, so they
//!    would fake parallax. A denser grid covers the nose tip. Untextured points are dropped
//!    (Shi-Tomasi test) (`points`).
//! 3. Track every point with pyramidal Lucas-Kanade, started from the similarity transform that
//!    maps the first frame's landmarks onto the second's (the landmarks only give the initial
//!    guess; the measured motion comes from the pixels). Forward-backward check (`track`).
//! 4. Fit a homography with RANSAC to the points *away* from the nose (eyes, brows, cheeks,
//!    mouth, chin): the best planar explanation of the face's motion.
//! 5. Parallax = the median residual vector of the nose points against that homography, minus
//!    what tracking noise explains (the residual of the plane points), in eye distances.
//!    A flat photo, even tilted in perspective, gives ~0; a turning or nodding head does not.
//! 6. Score = logistic of the parallax, centred on the decision threshold 0.5, times a gate on
//!    the amount of motion (too little motion cannot prove 3D) (`parallax`, steps 4 to 6).
//!
//! The landmark order is the detector's (YuNet), see [`crate::pipeline::face::geometry`].

mod config;
mod crop;
mod gray;
mod homography;
mod lk;
mod parallax;
mod points;
mod track;
mod working;

pub use config::MotionConfig;
use crop::Crop;
use parallax::Parallax;
use points::Candidates;
use track::{NoseMotion, Tracks};
use working::WorkingPair;

use super::face::Detection;

/// The smallest score reported: scores live in ]0,1] (0 means "not computed" on the wire).
pub const SCORE_FLOOR: f32 = 1e-3;

/// A borrowed 8-bit grayscale frame, row-major, `data.len() == width * height`.
#[derive(Debug, Clone, Copy)]
pub struct Gray<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
}

/// Why a low score was given without a full measurement (or `Measured` when it was measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MotionStatus {
    /// Full pipeline ran; the score reflects the measured parallax.
    Measured,
    /// A face's eye distance is below `min_eye_distance_px`.
    FaceTooSmall,
    /// Too few points were tracked on the plane region or the nose.
    TooFewPoints,
    /// The homography fit failed (degenerate point layout).
    PlaneFitFailed,
}

/// Result of [`estimate`].
#[derive(Debug, Clone)]
pub struct MotionEstimate {
    /// motionLivenessScore in ]0,1]: evidence of rigid 3D head motion (not a plane).
    pub score: f32,
    /// movementDirection in ]0,360]: 360 = toward image +x, 90 = up (-y), 180 = left, 270 = down.
    pub direction_deg: f32,
    /// Nose-region displacement, in the first image's eye distances.
    pub magnitude: f32,
    /// Nose-specific residual motion the plane cannot explain, minus the noise correction, in
    /// eye distances (the 3D evidence that the score maps).
    pub parallax: f32,
    /// Raw length of the median nose residual vector (eye distances), before noise correction.
    pub parallax_raw: f32,
    /// Median residual of the plane points against the homography (eye distances).
    pub plane_residual: f32,
    /// Points tracked successfully (plane + nose).
    pub tracked: usize,
    /// Of which on the nose.
    pub tracked_nose: usize,
    /// Candidate points that were tried.
    pub candidates: usize,
    /// RANSAC inliers among the plane points.
    pub plane_inliers: usize,
    /// Why the score is what it is.
    pub status: MotionStatus,
}

/// Invalid input (not a "low score" situation).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MotionError {
    /// A frame has zero width/height or a buffer whose length is not `width * height`.
    #[error("invalid {which} frame: {width}x{height} with {len} bytes of pixel data")]
    InvalidFrame {
        which: &'static str,
        width: usize,
        height: usize,
        len: usize,
    },
    /// A face has non-finite coordinates or a non-positive box.
    #[error("invalid {which} face geometry (non-finite or empty box)")]
    InvalidFace { which: &'static str },
}

fn check_frame(g: &Gray, which: &'static str) -> Result<(), MotionError> {
    let ok = g.width > 0 && g.height > 0 && g.width.checked_mul(g.height) == Some(g.data.len());
    if ok {
        Ok(())
    } else {
        Err(MotionError::InvalidFrame {
            which,
            width: g.width,
            height: g.height,
            len: g.data.len(),
        })
    }
}

fn check_face(f: &Detection, which: &'static str) -> Result<(), MotionError> {
    let finite =
        f.bbox.iter().all(|v| v.is_finite()) && f.landmarks.iter().flatten().all(|v| v.is_finite());
    if finite && f.bbox[2] > 0.0 && f.bbox[3] > 0.0 {
        Ok(())
    } else {
        Err(MotionError::InvalidFace { which })
    }
}

fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Median of a non-empty slice (sorts it); 0 for an empty one.
fn median(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Direction of an image displacement in ]0,360]: 360 = +x, 90 = up (-y).
fn direction_of(dx: f32, dy: f32) -> f32 {
    let a = (-dy).atan2(dx).to_degrees();
    if a <= 0.0 { a + 360.0 } else { a }
}

impl MotionEstimate {
    /// A floor score without a full measurement, for `status`.
    fn low(status: MotionStatus, tracked: usize, candidates: usize) -> MotionEstimate {
        MotionEstimate {
            score: SCORE_FLOOR,
            direction_deg: 360.0,
            magnitude: 0.0,
            parallax: 0.0,
            parallax_raw: 0.0,
            plane_residual: 0.0,
            tracked,
            tracked_nose: 0,
            candidates,
            plane_inliers: 0,
            status,
        }
    }
}

/// Estimate the 3D-motion liveness score and the movement direction between two frames of the
/// same face. Frames may differ in size: the second is scaled by the ratio of eye distances.
///
/// Errors only on invalid input (empty or inconsistent buffers, non-finite faces); every
/// "cannot tell" situation (tiny face, no texture, no motion) is a low score instead.
pub fn estimate(
    first: &Gray,
    first_face: &Detection,
    second: &Gray,
    second_face: &Detection,
    cfg: &MotionConfig,
) -> Result<MotionEstimate, MotionError> {
    check_frame(first, "first")?;
    check_frame(second, "second")?;
    check_face(first_face, "first")?;
    check_face(second_face, "second")?;

    // 1. The crop and the working pair.
    let Some(crop) = Crop::around(first, first_face, second, second_face, cfg) else {
        return Ok(MotionEstimate::low(MotionStatus::FaceTooSmall, 0, 0));
    };
    let pair = WorkingPair::new(first, first_face, second, second_face, &crop, cfg);
    let eye_distance = pair.face.eye_distance;

    // 2. Candidate points in the inner face of the first frame.
    let candidates = Candidates::place(&pair.first, &pair.face, pair.nose(), cfg);

    // 3. Tracks, and the face's motion from the nose.
    let tracks = Tracks::follow(&pair, &candidates, cfg);
    if tracks.plane.len() < cfg.min_plane_points.max(4)
        || tracks.nose.len() < cfg.min_nose_points.max(1)
    {
        return Ok(MotionEstimate::low(
            MotionStatus::TooFewPoints,
            tracks.len(),
            candidates.tried,
        ));
    }
    let motion = NoseMotion::of(&tracks.nose, eye_distance);

    // 4. Plane fit on the non-nose points.
    let Some(fit) = parallax::plane_fit(&tracks.plane, cfg) else {
        return Ok(MotionEstimate {
            direction_deg: motion.direction_deg,
            magnitude: motion.magnitude,
            ..MotionEstimate::low(MotionStatus::PlaneFitFailed, tracks.len(), candidates.tried)
        });
    };

    // 5. The nose's parallax against the plane.
    let Some(parallax) = Parallax::measure(&fit.h, &tracks, eye_distance, cfg) else {
        return Ok(MotionEstimate::low(
            MotionStatus::PlaneFitFailed,
            tracks.len(),
            candidates.tried,
        ));
    };

    // 6. Score.
    Ok(MotionEstimate {
        score: parallax::score(parallax.corrected, motion.magnitude, cfg),
        direction_deg: motion.direction_deg,
        magnitude: motion.magnitude,
        parallax: parallax.corrected,
        parallax_raw: parallax.raw,
        plane_residual: parallax.plane_residual,
        tracked: tracks.len(),
        tracked_nose: tracks.nose.len(),
        candidates: candidates.tried,
        plane_inliers: fit.inliers.iter().filter(|&&b| b).count(),
        status: MotionStatus::Measured,
    })
}

#[cfg(test)]
mod test_pair;

#[cfg(test)]
mod tests {
    use super::test_pair::{GENUINE, gray, load, pair, shifted};
    use super::*;

    #[test]
    fn the_bioid_pair_is_a_live_head_moving_right() {
        let (a, b) = pair(GENUINE);
        let cfg = MotionConfig::default();
        let m = estimate(&gray(&a), &a.detection, &gray(&b), &b.detection, &cfg).unwrap();
        assert_eq!(m.status, MotionStatus::Measured);
        assert!(m.score > 0.5 && m.score <= 1.0, "{m:?}");
        assert!(m.direction_deg > 315.0 || m.direction_deg < 45.0, "{m:?}");
        assert!(m.tracked_nose >= cfg.min_nose_points && m.tracked <= m.candidates);
        assert!(m.plane_inliers <= m.tracked - m.tracked_nose);
    }

    #[test]
    fn a_flat_picture_moved_is_not_live() {
        let a = load(GENUINE.0);
        let b = shifted(&a, 24, 16);
        let m = estimate(
            &gray(&a),
            &a.detection,
            &gray(&b),
            &b.detection,
            &MotionConfig::default(),
        )
        .unwrap();
        assert_eq!(m.status, MotionStatus::Measured);
        assert!(m.score < 0.05 && m.parallax < 0.01, "{m:?}");
    }

    #[test]
    fn a_face_too_small_is_a_floor_score_and_bad_input_an_error() {
        let (a, b) = pair(GENUINE);
        let cfg = MotionConfig {
            min_eye_distance_px: 1e4,
            ..Default::default()
        };
        let m = estimate(&gray(&a), &a.detection, &gray(&b), &b.detection, &cfg).unwrap();
        assert_eq!(
            (m.status, m.score),
            (MotionStatus::FaceTooSmall, SCORE_FLOOR)
        );

        let short = Gray {
            data: &a.luma[..10],
            ..gray(&a)
        };
        let cfg = MotionConfig::default();
        let e = estimate(&short, &a.detection, &gray(&b), &b.detection, &cfg).unwrap_err();
        assert!(
            matches!(e, MotionError::InvalidFrame { which: "first", .. }),
            "{e}"
        );
        let mut nan = b.detection.clone();
        nan.landmarks[0][0] = f32::NAN;
        let e = estimate(&gray(&a), &a.detection, &gray(&b), &nan, &cfg).unwrap_err();
        assert_eq!(e, MotionError::InvalidFace { which: "second" });
    }
}
