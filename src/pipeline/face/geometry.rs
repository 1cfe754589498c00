//! Face geometry from YuNet's five landmarks: which landmark is which, and the eye-aligned frame
//! they span (eye midpoint, eye distance, the eye line and its perpendicular). The quality
//! checks, the medium cue and the motion stage all measure in this frame.

/// Landmark indices of YuNet's five points, in its output order.
/// The subject's right eye is on the image's left (the camera sees the subject mirrored).
pub const RIGHT_EYE: usize = 0;
/// The subject's left eye (image right).
pub const LEFT_EYE: usize = 1;
/// The nose tip.
pub const NOSE: usize = 2;
/// The subject's right mouth corner (image left).
pub const RIGHT_MOUTH: usize = 3;
/// The subject's left mouth corner (image right).
pub const LEFT_MOUTH: usize = 4;

/// YuNet's five landmarks, `[x, y]` each, indexed by [`RIGHT_EYE`] .. [`LEFT_MOUTH`].
pub type Landmarks = [[f32; 2]; 5];

/// Euclidean distance between two points.
pub fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The midpoint of two points.
pub fn midpoint(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
}

/// The eye-aligned frame of a face: origin at the eye midpoint, `u` along the eye line, `v`
/// across it, the eye distance as the unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EyeFrame {
    /// The midpoint between the eyes.
    pub mid: [f32; 2],
    /// The eye distance in pixels (at least 1e-3, so that dividing by it is safe).
    pub eye_distance: f32,
    /// Unit vector from the subject's right eye (image left) to the left eye: image +x when the
    /// face is upright.
    pub u: [f32; 2],
    /// `u` turned by +90 degrees in image coordinates (y down): from the eyes toward the mouth
    /// when the face is upright. See [`EyeFrame::toward_mouth`].
    pub v: [f32; 2],
}

impl EyeFrame {
    pub fn new(landmarks: &Landmarks) -> EyeFrame {
        let (right, left) = (landmarks[RIGHT_EYE], landmarks[LEFT_EYE]);
        let d = distance(right, left).max(1e-3);
        let u = [(left[0] - right[0]) / d, (left[1] - right[1]) / d];
        EyeFrame {
            mid: midpoint(right, left),
            eye_distance: d,
            u,
            v: [-u[1], u[0]],
        }
    }

    /// This frame with `v` turned to point toward the mouth corners' midpoint, rather than
    /// following from the eye order: a mirrored or rotated landmark set then still spans an
    /// inner-face region on the face. (The quality checks keep [`EyeFrame::new`]'s `v`, which is
    /// how they tell such landmark sets apart.)
    pub fn toward_mouth(self, landmarks: &Landmarks) -> EyeFrame {
        let mouth = midpoint(landmarks[RIGHT_MOUTH], landmarks[LEFT_MOUTH]);
        let (mid, v) = (self.mid, self.v);
        if (mouth[0] - mid[0]) * v[0] + (mouth[1] - mid[1]) * v[1] < 0.0 {
            EyeFrame {
                v: [-v[0], -v[1]],
                ..self
            }
        } else {
            self
        }
    }

    /// The image point `s` eye distances along `u` and `t` along `v` from the eye midpoint.
    pub fn point(&self, s: f32, t: f32) -> [f32; 2] {
        let d = self.eye_distance;
        [
            self.mid[0] + d * (s * self.u[0] + t * self.v[0]),
            self.mid[1] + d * (s * self.u[1] + t * self.v[1]),
        ]
    }

    /// The image point `x` pixels along `u` and `y` pixels along `v` from the eye midpoint.
    pub fn offset(&self, x: f32, y: f32) -> [f32; 2] {
        [
            self.mid[0] + x * self.u[0] + y * self.v[0],
            self.mid[1] + x * self.u[1] + y * self.v[1],
        ]
    }

    /// Where `p` lies in this frame, in pixels along `u` and `v`.
    pub fn coordinates(&self, p: [f32; 2]) -> [f32; 2] {
        let rel = [p[0] - self.mid[0], p[1] - self.mid[1]];
        [
            rel[0] * self.u[0] + rel[1] * self.u[1],
            rel[0] * self.v[0] + rel[1] * self.v[1],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eyes 40 px apart at (130, 150) and (170, 150), nose and mouth below them.
    fn upright() -> Landmarks {
        crate::pipeline::face::frontal().landmarks
    }

    #[test]
    fn the_frame_of_an_upright_face_is_the_image_axes() {
        let f = EyeFrame::new(&upright());
        assert_eq!(f.mid, [150.0, 150.0]);
        assert_eq!(f.eye_distance, 40.0);
        assert_eq!((f.u, f.v), ([1.0, 0.0], [-0.0, 1.0]));
        assert_eq!(f.point(0.5, 1.0), [170.0, 190.0]);
        assert_eq!(f.offset(20.0, 40.0), [170.0, 190.0]);
        assert_eq!(f.coordinates(upright()[NOSE]), [0.0, 25.0]);
        assert_eq!(f.toward_mouth(&upright()), f);
    }

    #[test]
    fn swapped_eyes_turn_the_frame_and_toward_mouth_turns_v_back() {
        let mut swapped = upright();
        swapped.swap(RIGHT_EYE, LEFT_EYE);
        let f = EyeFrame::new(&swapped);
        assert_eq!(f.u, [-1.0, 0.0]);
        // Without the mouth, v points up, away from it: the nose is "above" the eyes.
        assert_eq!(f.v, [-0.0, -1.0]);
        assert!(f.coordinates(swapped[NOSE])[1] < 0.0);
        let m = f.toward_mouth(&swapped);
        assert_eq!((m.u, m.v), ([-1.0, 0.0], [0.0, 1.0]));
        assert!(m.coordinates(swapped[NOSE])[1] > 0.0);
    }

    #[test]
    fn a_turned_face_has_a_turned_frame() {
        // The upright face turned by 90 degrees clockwise about (150, 150): x' = 300 - y, y' = x.
        let turned = upright().map(|[x, y]| [300.0 - y, x]);
        let f = EyeFrame::new(&turned);
        assert_eq!(f.mid, [150.0, 150.0]);
        assert_eq!(f.u, [0.0, 1.0]);
        assert_eq!(f.v, [-1.0, 0.0]);
        assert_eq!(f.coordinates(turned[NOSE]), [0.0, 25.0]);
    }
}
