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
//!    resolution, and all pixel thresholds mean the same thing for every face size.
//! 2. Place points on a grid inside the *inner* face only (an ellipse in the face frame spanned
//!    by the eyes, see [`FaceGeometry`]): hair, ears, background and screen overlays do not
//!    move with a photo held in front of a static scene, so they would fake parallax. A denser
//!    grid covers the nose tip. Untextured points are dropped (Shi-Tomasi test).
//! 3. Track every point with pyramidal Lucas-Kanade, started from the similarity transform that
//!    maps the first frame's landmarks onto the second's (the landmarks only give the initial
//!    guess; the measured motion comes from the pixels). Forward-backward check.
//! 4. Fit a homography with RANSAC to the points *away* from the nose (eyes, brows, cheeks,
//!    mouth, chin): the best planar explanation of the face's motion.
//! 5. Parallax = the median residual vector of the nose points against that homography, minus
//!    what tracking noise explains (the residual of the plane points), in eye distances.
//!    A flat photo, even tilted in perspective, gives ~0; a turning or nodding head does not.
//! 6. Score = logistic of the parallax, centred on the decision threshold 0.5, times a gate on
//!    the amount of motion (too little motion cannot prove 3D).
//!
//! The landmark order everywhere is the detector's (YuNet): `[0]` the subject's right eye
//! (on the image's left), `[1]` the subject's left eye (image right), `[2]` the nose tip,
//! `[3]` the right mouth corner (image left), `[4]` the left mouth corner (image right).

mod gray;
pub mod homography;
mod lk;

use std::fmt;

use gray::{resample, warp_similarity};
use homography::{Homography, ransac};
use lk::{LkParams, Pyramid, min_eigen_at, track_fb};

/// Index of the subject's right eye (image left) in [`FaceGeometry::landmarks`].
pub const RIGHT_EYE: usize = 0;
/// Index of the subject's left eye (image right).
pub const LEFT_EYE: usize = 1;
/// Index of the nose tip.
pub const NOSE: usize = 2;
/// Index of the subject's right mouth corner (image left).
pub const RIGHT_MOUTH: usize = 3;
/// Index of the subject's left mouth corner (image right).
pub const LEFT_MOUTH: usize = 4;

/// The smallest score reported: scores live in ]0,1] (0 means "not computed" on the wire).
pub const SCORE_FLOOR: f32 = 1e-3;

/// A detected face in one frame, in that frame's pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceGeometry {
    /// `[x, y, w, h]` of the detector box.
    pub bbox: [f32; 4],
    /// The 5 detector landmarks, `[x, y]` each, in the order documented on the module
    /// ([`RIGHT_EYE`], [`LEFT_EYE`], [`NOSE`], [`RIGHT_MOUTH`], [`LEFT_MOUTH`]).
    pub landmarks: [[f32; 2]; 5],
}

/// A borrowed 8-bit grayscale frame, row-major, `data.len() == width * height`.
#[derive(Debug, Clone, Copy)]
pub struct Gray<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
}

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
#[derive(Debug, Clone, PartialEq)]
pub enum MotionError {
    /// A frame has zero width/height or a buffer whose length is not `width * height`.
    InvalidFrame {
        which: &'static str,
        width: usize,
        height: usize,
        len: usize,
    },
    /// A face has non-finite coordinates or a non-positive box.
    InvalidFace { which: &'static str },
}

impl fmt::Display for MotionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MotionError::InvalidFrame {
                which,
                width,
                height,
                len,
            } => write!(
                f,
                "invalid {which} frame: {width}x{height} with {len} bytes of pixel data"
            ),
            MotionError::InvalidFace { which } => {
                write!(f, "invalid {which} face geometry (non-finite or empty box)")
            }
        }
    }
}

impl std::error::Error for MotionError {}

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

fn check_face(f: &FaceGeometry, which: &'static str) -> Result<(), MotionError> {
    let finite =
        f.bbox.iter().all(|v| v.is_finite()) && f.landmarks.iter().flatten().all(|v| v.is_finite());
    if finite && f.bbox[2] > 0.0 && f.bbox[3] > 0.0 {
        Ok(())
    } else {
        Err(MotionError::InvalidFace { which })
    }
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The face frame of a landmark set: eye midpoint, unit vector from the subject's right eye
/// (image left) to the left eye, the perpendicular unit vector pointing toward the mouth, and
/// the eye distance. The "down" direction is taken toward the mouth corners rather than
/// assumed from the eye order, so a mirrored or rotated landmark set still gives an inner-face
/// region on the face.
fn face_frame(l: &[[f32; 2]]) -> ([f32; 2], [f32; 2], [f32; 2], f32) {
    let (re, le) = (l[RIGHT_EYE], l[LEFT_EYE]);
    let d = dist(re, le).max(1e-3);
    let mid = [0.5 * (re[0] + le[0]), 0.5 * (re[1] + le[1])];
    let ex = [(le[0] - re[0]) / d, (le[1] - re[1]) / d];
    let mut ey = [-ex[1], ex[0]];
    let mouth = [
        0.5 * (l[RIGHT_MOUTH][0] + l[LEFT_MOUTH][0]),
        0.5 * (l[RIGHT_MOUTH][1] + l[LEFT_MOUTH][1]),
    ];
    if (mouth[0] - mid[0]) * ey[0] + (mouth[1] - mid[1]) * ey[1] < 0.0 {
        ey = [-ey[0], -ey[1]];
    }
    (mid, ex, ey, d)
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

/// Least-squares similarity (rotation, scale, translation) mapping `a` onto `b`, as
/// `(s*cos, s*sin, tx, ty)`. Used only for the tracker's initial guess.
fn similarity(a: &[[f32; 2]], b: &[[f32; 2]]) -> [f32; 4] {
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
    [
        c,
        s,
        mb[0] - (c * ma[0] - s * ma[1]),
        mb[1] - (s * ma[0] + c * ma[1]),
    ]
}

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

/// Estimate the 3D-motion liveness score and the movement direction between two frames of the
/// same face. Frames may differ in size: the second is scaled by the ratio of eye distances.
///
/// Errors only on invalid input (empty or inconsistent buffers, non-finite faces); every
/// "cannot tell" situation (tiny face, no texture, no motion) is a low score instead.
pub fn estimate(
    prev: &Gray,
    prev_face: &FaceGeometry,
    cur: &Gray,
    cur_face: &FaceGeometry,
    cfg: &MotionConfig,
) -> Result<MotionEstimate, MotionError> {
    check_frame(prev, "first")?;
    check_frame(cur, "second")?;
    check_face(prev_face, "first")?;
    check_face(cur_face, "second")?;

    let d1 = dist(
        prev_face.landmarks[RIGHT_EYE],
        prev_face.landmarks[LEFT_EYE],
    );
    let d2 = dist(cur_face.landmarks[RIGHT_EYE], cur_face.landmarks[LEFT_EYE]);
    if d1 < cfg.min_eye_distance_px.max(1.0) || d2 < cfg.min_eye_distance_px.max(1.0) {
        return Ok(low(MotionStatus::FaceTooSmall, 0, 0));
    }
    // Second frame -> first frame's pixel scale. Same size: same camera, keep pixels as they
    // are (so translation and scale changes are real); different sizes: scale by the faces.
    let k = if prev.width == cur.width && prev.height == cur.height {
        1.0f64
    } else {
        (d1 / d2) as f64
    };

    // 1. Crop (in first-frame pixel units) and working scale. The crop is the union, over
    // both faces, of the inner-face ellipse's bounding box (from the landmarks) plus a margin
    // for the tracking windows, limited to the union of the detector boxes plus the margin.
    // Only the inner face is tracked, so a bigger crop would only cost time.
    let m = (cfg.crop_margin * d1) as f64;
    let ellipse_box = |f: &FaceGeometry, kk: f64| -> [f64; 4] {
        let l = &f.landmarks;
        let s = |v: f32| v as f64 * kk;
        let (mid, _, ey, d) = face_frame(l);
        let d = d as f64 * kk;
        let cy = cfg.ellipse_center_y as f64 * d;
        let c = [s(mid[0]) + ey[0] as f64 * cy, s(mid[1]) + ey[1] as f64 * cy];
        // Generous: the larger semi-axis in every direction (covers any in-plane rotation),
        // and the nose disc.
        let rad = d * (cfg.ellipse_semi_x.max(cfg.ellipse_semi_y) as f64);
        let nose = [s(l[NOSE][0]), s(l[NOSE][1])];
        let nr = d * cfg.nose_radius as f64;
        [
            (c[0] - rad).min(nose[0] - nr),
            (c[1] - rad).min(nose[1] - nr),
            (c[0] + rad).max(nose[0] + nr),
            (c[1] + rad).max(nose[1] + nr),
        ]
    };
    let fb = |f: &FaceGeometry, kk: f64| {
        [
            f.bbox[0] as f64 * kk,
            f.bbox[1] as f64 * kk,
            (f.bbox[0] + f.bbox[2]) as f64 * kk,
            (f.bbox[1] + f.bbox[3]) as f64 * kk,
        ]
    };
    let (e1, e2) = (ellipse_box(prev_face, 1.0), ellipse_box(cur_face, k));
    let (b1, b2) = (fb(prev_face, 1.0), fb(cur_face, k));
    // `max(lo).min(hi)` rather than `clamp`, which panics when lo > hi (tiny frames).
    let lim_x = (prev.width as f64).min(cur.width as f64 * k).max(1.0);
    let lim_y = (prev.height as f64).min(cur.height as f64 * k).max(1.0);
    let x0 = (e1[0].min(e2[0]).max(b1[0].min(b2[0])) - m)
        .min(lim_x - 1.0)
        .max(0.0);
    let y0 = (e1[1].min(e2[1]).max(b1[1].min(b2[1])) - m)
        .min(lim_y - 1.0)
        .max(0.0);
    let x1 = (e1[2].max(e2[2]).min(b1[2].max(b2[2])) + m)
        .min(lim_x)
        .max(x0 + 1.0);
    let y1 = (e1[3].max(e2[3]).min(b1[3].max(b2[3])) + m)
        .min(lim_y)
        .max(y0 + 1.0);
    let scale = (cfg.work_eye_distance / d1).min(cfg.max_upscale).max(1e-3) as f64;
    let step = 1.0 / scale;
    let out_w = ((x1 - x0) * scale).ceil().max(1.0) as usize;
    let out_h = ((y1 - y0) * scale).ceil().max(1.0) as usize;
    // Working pixel u is centred on first-frame index coordinate a + u*step.
    let ax = x0 + 0.5 * step - 0.5;
    let ay = y0 + 0.5 * step - 0.5;
    let img1 = resample(prev, ax, ay, step, out_w, out_h);
    let img2 = resample(cur, ax / k, ay / k, step / k, out_w, out_h);
    let to_work = |p: [f32; 2], kk: f64| -> [f32; 2] {
        [
            ((p[0] as f64 * kk - ax) * scale) as f32,
            ((p[1] as f64 * kk - ay) * scale) as f32,
        ]
    };
    let lm1: Vec<[f32; 2]> = prev_face
        .landmarks
        .iter()
        .map(|&p| to_work(p, 1.0))
        .collect();
    let lm2: Vec<[f32; 2]> = cur_face.landmarks.iter().map(|&p| to_work(p, k)).collect();
    let dw = dist(lm1[RIGHT_EYE], lm1[LEFT_EYE]).max(1e-3);

    // Pre-align the second frame onto the first with the landmark similarity: LK then only
    // needs the small residual motion. A similarity composed with a homography is a
    // homography, so this changes nothing about what is planar and what is not.
    let sim = similarity(&lm1, &lm2);
    let img2 = warp_similarity(&img2, sim);
    let unalign = |q: [f32; 2]| -> [f64; 2] {
        [
            (sim[0] * q[0] - sim[1] * q[1] + sim[2]) as f64,
            (sim[1] * q[0] + sim[0] * q[1] + sim[3]) as f64,
        ]
    };

    let min_side = 2 * cfg.lk_half_window + 3;
    let pyr1 = Pyramid::new(img1, cfg.pyramid_levels, min_side);
    let pyr2 = Pyramid::new(img2, cfg.pyramid_levels, min_side);

    // 2. Candidate points in the inner face of the first frame.
    let (mid, ex, ey, _) = face_frame(&lm1);
    let face_pt = |a: f32, b: f32| -> [f32; 2] {
        [
            mid[0] + dw * (a * ex[0] + b * ey[0]),
            mid[1] + dw * (a * ex[1] + b * ey[1]),
        ]
    };
    let nose = lm1[NOSE];
    let margin = (cfg.lk_half_window + 2) as f32;
    let inside = |p: [f32; 2]| {
        p[0] >= margin
            && p[1] >= margin
            && p[0] < pyr1.levels[0].w as f32 - margin
            && p[1] < pyr1.levels[0].h as f32 - margin
    };
    let textured =
        |p: [f32; 2]| min_eigen_at(&pyr1, p[0], p[1], cfg.lk_half_window) >= cfg.point_min_eigen;
    let mut plane_pts: Vec<[f32; 2]> = Vec::new();
    let mut nose_pts: Vec<[f32; 2]> = Vec::new();
    let gs = cfg.grid_step.max(0.01);
    let (sx, sy) = (cfg.ellipse_semi_x.max(0.05), cfg.ellipse_semi_y.max(0.05));
    let nx = (sx / gs).ceil() as i32;
    let ny = (sy / gs).ceil() as i32;
    for j in -ny..=ny {
        for i in -nx..=nx {
            let (a, b) = (i as f32 * gs, cfg.ellipse_center_y + j as f32 * gs);
            let e = (a / sx).powi(2) + ((b - cfg.ellipse_center_y) / sy).powi(2);
            if e > 1.0 {
                continue;
            }
            let p = face_pt(a, b);
            if dist(p, nose) < cfg.nose_exclusion_radius * dw || !inside(p) {
                continue;
            }
            plane_pts.push(p);
        }
    }
    let ns = cfg.nose_step.max(0.005);
    let nn = (cfg.nose_radius / ns).ceil() as i32;
    for j in -nn..=nn {
        for i in -nn..=nn {
            let off = [i as f32 * ns * dw, j as f32 * ns * dw];
            if (off[0] * off[0] + off[1] * off[1]).sqrt() > cfg.nose_radius * dw {
                continue;
            }
            let p = [nose[0] + off[0], nose[1] + off[1]];
            if inside(p) {
                nose_pts.push(p);
            }
        }
    }
    let candidates = plane_pts.len() + nose_pts.len();
    plane_pts.retain(|&p| textured(p));
    nose_pts.retain(|&p| textured(p));

    // 3. Track in the pre-aligned frame (initial guess: no residual motion), then map the
    // tracked positions back to the second frame's working coordinates.
    let prm = LkParams {
        half_window: cfg.lk_half_window,
        max_iters: cfg.lk_max_iters,
        epsilon: cfg.lk_epsilon,
        min_eigen: cfg.lk_min_eigen,
    };
    let track_all = |pts: &[[f32; 2]]| -> Vec<([f64; 2], [f64; 2])> {
        pts.iter()
            .filter_map(|&p| {
                track_fb(&pyr1, &pyr2, p, p, &prm, cfg.fb_max_error)
                    .map(|(q, _)| ([p[0] as f64, p[1] as f64], unalign(q)))
            })
            .collect()
    };
    let plane = track_all(&plane_pts);
    let nose_tr = track_all(&nose_pts);
    let tracked = plane.len() + nose_tr.len();
    if plane.len() < cfg.min_plane_points.max(4) || nose_tr.len() < cfg.min_nose_points.max(1) {
        return Ok(low(MotionStatus::TooFewPoints, tracked, candidates));
    }

    // Direction and magnitude from the nose displacement (captures turns and translations).
    let mut ndx: Vec<f32> = nose_tr.iter().map(|(p, q)| (q[0] - p[0]) as f32).collect();
    let mut ndy: Vec<f32> = nose_tr.iter().map(|(p, q)| (q[1] - p[1]) as f32).collect();
    let (mdx, mdy) = (median(&mut ndx), median(&mut ndy));
    let direction_deg = direction_of(mdx, mdy);
    let magnitude = (mdx * mdx + mdy * mdy).sqrt() / dw;

    // 4. Plane fit on the non-nose points.
    let src: Vec<[f64; 2]> = plane.iter().map(|t| t.0).collect();
    let dst: Vec<[f64; 2]> = plane.iter().map(|t| t.1).collect();
    let Some(fit) = ransac(
        &src,
        &dst,
        cfg.ransac_threshold as f64,
        cfg.ransac_iterations,
        cfg.ransac_seed,
    ) else {
        let mut e = low(MotionStatus::PlaneFitFailed, tracked, candidates);
        e.direction_deg = direction_deg;
        e.magnitude = magnitude;
        return Ok(e);
    };
    let h: Homography = fit.h;

    // 5. Residuals.
    let mut plane_res: Vec<f32> = plane.iter().map(|(p, q)| h.error(*p, *q) as f32).collect();
    let plane_residual_px = median(&mut plane_res);
    let mut rx = Vec::with_capacity(nose_tr.len());
    let mut ry = Vec::with_capacity(nose_tr.len());
    for (p, q) in &nose_tr {
        if let Some(m) = h.apply(*p) {
            rx.push((q[0] - m[0]) as f32);
            ry.push((q[1] - m[1]) as f32);
        }
    }
    if rx.len() < cfg.min_nose_points.max(1) {
        return Ok(low(MotionStatus::PlaneFitFailed, tracked, candidates));
    }
    let (mrx, mry) = (median(&mut rx), median(&mut ry));
    let par_raw_px = (mrx * mrx + mry * mry).sqrt();
    let parallax_raw = par_raw_px / dw;
    let plane_residual = plane_residual_px / dw;
    let parallax = parallax_raw - cfg.noise_factor * plane_residual;

    // 6. Score.
    let s_par = logistic((parallax - cfg.parallax_threshold) / cfg.parallax_scale.max(1e-6));
    let s_mot = logistic((magnitude - cfg.min_motion) / cfg.min_motion_scale.max(1e-6));
    let score = (s_par * s_mot).clamp(SCORE_FLOOR, 1.0);
    let score = if score.is_finite() {
        score
    } else {
        SCORE_FLOOR
    };
    Ok(MotionEstimate {
        score,
        direction_deg,
        magnitude,
        parallax,
        parallax_raw,
        plane_residual,
        tracked,
        tracked_nose: nose_tr.len(),
        candidates,
        plane_inliers: fit.inliers.iter().filter(|&&b| b).count(),
        status: MotionStatus::Measured,
    })
}
