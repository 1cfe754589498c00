//! Step 3: every candidate point tracked with pyramidal Lucas-Kanade from the first working
//! frame into the pre-aligned second one (initial guess: no residual motion), kept only when the
//! forward-backward check passes, and mapped back to the second frame's working pixels. Then the
//! direction and size of the face's motion, from the nose points (a turn or a translation moves
//! the nose tip most).

use super::config::MotionConfig;
use super::lk::track_fb;
use super::points::Candidates;
use super::working::WorkingPair;
use super::{direction_of, median};

/// One tracked point, in working pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Track {
    /// Where it is in the first frame.
    pub first: [f64; 2],
    /// Where it went in the second frame.
    pub second: [f64; 2],
}

/// The tracked points of both kinds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tracks {
    pub plane: Vec<Track>,
    pub nose: Vec<Track>,
}

impl Tracks {
    pub fn follow(pair: &WorkingPair, candidates: &Candidates, cfg: &MotionConfig) -> Tracks {
        let params = cfg.lk_params();
        let follow = |points: &[[f32; 2]]| -> Vec<Track> {
            points
                .iter()
                .filter_map(|&p| {
                    track_fb(&pair.first, &pair.second, p, p, &params, cfg.fb_max_error).map(
                        |(q, _)| {
                            let q = pair.alignment.apply(q);
                            Track {
                                first: [p[0] as f64, p[1] as f64],
                                second: [q[0] as f64, q[1] as f64],
                            }
                        },
                    )
                })
                .collect()
        };
        Tracks {
            plane: follow(&candidates.plane),
            nose: follow(&candidates.nose),
        }
    }

    pub fn len(&self) -> usize {
        self.plane.len() + self.nose.len()
    }
}

/// How the face moved between the frames: the median displacement of the nose points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct NoseMotion {
    /// In ]0,360]: 360 = toward image +x, 90 = up (-y).
    pub direction_deg: f32,
    /// In the first face's eye distances.
    pub magnitude: f32,
}

impl NoseMotion {
    /// The motion of `nose` tracks on a face whose eye distance is `eye_distance` working px.
    pub fn of(nose: &[Track], eye_distance: f32) -> NoseMotion {
        let mut dx: Vec<f32> = nose
            .iter()
            .map(|t| (t.second[0] - t.first[0]) as f32)
            .collect();
        let mut dy: Vec<f32> = nose
            .iter()
            .map(|t| (t.second[1] - t.first[1]) as f32)
            .collect();
        let (mdx, mdy) = (median(&mut dx), median(&mut dy));
        NoseMotion {
            direction_deg: direction_of(mdx, mdy),
            magnitude: (mdx * mdx + mdy * mdy).sqrt() / eye_distance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_pair::{GENUINE, working, working_shifted};
    use super::*;

    #[test]
    fn tracks_follow_a_shifted_frame_exactly() {
        // A whole-frame shift of 24 px right and 16 px down moves every point by the same
        // amount: tracks must recover it to a fraction of a pixel, whatever the landmarks said.
        let cfg = MotionConfig::default();
        let (w, scale) = working_shifted(24, 16, &cfg);
        let c = Candidates::place(&w.first, &w.face, w.nose(), &cfg);
        let t = Tracks::follow(&w, &c, &cfg);
        assert!(t.plane.len() > c.plane.len() / 2 && t.nose.len() > c.nose.len() / 2);
        let shift = [24.0 * scale, 16.0 * scale];
        // The detector's landmarks moved by up to 7 working px more or less than the face (and
        // their similarity scaled it by 4 %): the pixels, not the landmarks, give the motion.
        let mut dx: Vec<f32> = t
            .plane
            .iter()
            .map(|t| (t.second[0] - t.first[0]) as f32)
            .collect();
        let mut dy: Vec<f32> = t
            .plane
            .iter()
            .map(|t| (t.second[1] - t.first[1]) as f32)
            .collect();
        let (mx, my) = (median(&mut dx), median(&mut dy));
        assert!(
            (f64::from(mx) - shift[0]).abs() < 0.1,
            "{mx} vs {}",
            shift[0]
        );
        assert!(
            (f64::from(my) - shift[1]).abs() < 0.1,
            "{my} vs {}",
            shift[1]
        );
        for tr in t.plane.iter().chain(&t.nose) {
            let d = [tr.second[0] - tr.first[0], tr.second[1] - tr.first[1]];
            assert!((d[0] - shift[0]).hypot(d[1] - shift[1]) < 1.0, "{tr:?}");
        }
        let m = NoseMotion::of(&t.nose, w.face.eye_distance);
        // 24 px right, 16 px down: 360 - atan(16/24) = 326.3 degrees.
        assert!((m.direction_deg - 326.31).abs() < 1.0, "{m:?}");
        let expected = (shift[0].hypot(shift[1]) as f32) / w.face.eye_distance;
        assert!((m.magnitude - expected).abs() < 0.01, "{m:?} vs {expected}");
    }

    #[test]
    fn the_bioid_head_moves_right() {
        // BioID's own challenge pair, sent with the tag `right`: the nose moves toward +x.
        let cfg = MotionConfig::default();
        let w = working(GENUINE, &cfg);
        let c = Candidates::place(&w.first, &w.face, w.nose(), &cfg);
        let t = Tracks::follow(&w, &c, &cfg);
        assert_eq!(t.len(), t.plane.len() + t.nose.len());
        let m = NoseMotion::of(&t.nose, w.face.eye_distance);
        let off_right = (m.direction_deg - 360.0).abs().min(m.direction_deg);
        assert!(off_right < 45.0, "{m:?}");
        assert!(m.magnitude > cfg.min_motion, "{m:?}");
    }

    #[test]
    fn nose_motion_is_the_median_displacement() {
        let t = |dx: f64, dy: f64| Track {
            first: [10.0, 10.0],
            second: [10.0 + dx, 10.0 + dy],
        };
        // Two points moved up by 8 px, one outlier moved far right: the median says up.
        let m = NoseMotion::of(&[t(0.0, -8.0), t(40.0, 0.0), t(0.0, -8.0)], 16.0);
        assert_eq!(m.direction_deg, 90.0);
        assert_eq!(m.magnitude, 0.5);
    }
}
