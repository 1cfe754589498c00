//! Faces: the detector (YuNet, `yunet`), the face it finds ([`Detection`]) and the geometry of its
//! landmarks ([`geometry`]).

pub mod geometry;
mod yunet;

pub use geometry::{EyeFrame, LEFT_EYE, LEFT_MOUTH, Landmarks, NOSE, RIGHT_EYE, RIGHT_MOUTH};
pub use yunet::{detect, detect_at, detect_known_large, large_for_first_pass};

/// One detected face in image coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// x, y, width, height.
    pub bbox: [f32; 4],
    /// See [`RIGHT_EYE`] .. [`LEFT_MOUTH`].
    pub landmarks: Landmarks,
}

impl Detection {
    /// The eye-aligned frame of the face's landmarks.
    pub fn eye_frame(&self) -> EyeFrame {
        EyeFrame::new(&self.landmarks)
    }

    pub fn eye_distance(&self) -> f32 {
        geometry::distance(self.landmarks[RIGHT_EYE], self.landmarks[LEFT_EYE])
    }

    /// Intersection over union of the two boxes.
    pub fn iou(&self, other: &Detection) -> f32 {
        let [ax, ay, aw, ah] = self.bbox;
        let [bx, by, bw, bh] = other.bbox;
        let ix = (ax + aw).min(bx + bw) - ax.max(bx);
        let iy = (ay + ah).min(by + bh) - ay.max(by);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (aw * ah + bw * bh - inter)
    }
}

/// A frontal face for unit tests: eyes 40 px apart at (130, 150) and (170, 150), the nose tip
/// 25 px below their midpoint, the mouth corners 45 px below it, in a 100x120 box.
#[cfg(test)]
pub(crate) fn frontal() -> Detection {
    Detection {
        score: 0.9,
        bbox: [100.0, 100.0, 100.0, 120.0],
        landmarks: [
            [130.0, 150.0],
            [170.0, 150.0],
            [150.0, 175.0],
            [135.0, 195.0],
            [165.0, 195.0],
        ],
    }
}
