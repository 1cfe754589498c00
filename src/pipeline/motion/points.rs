//! Step 2: the points to track, on a grid inside the first frame's *inner* face only (an
//! ellipse in the eye-aligned face frame): hair, ears, background and screen overlays do not move
//! with a photo held in front of a static scene, so they would fake parallax. A denser grid
//! covers the nose tip. Untextured points are dropped (Shi-Tomasi test).

use super::config::MotionConfig;
use super::lk::{Pyramid, min_eigen_at};
use crate::pipeline::face::EyeFrame;
use crate::pipeline::face::geometry::distance;

/// The candidate points, in the first frame's working pixels.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Candidates {
    /// Away from the nose (eyes, brows, cheeks, mouth, chin): they carry the plane fit.
    pub plane: Vec<[f32; 2]>,
    /// On the nose-tip disc: they measure the parallax.
    pub nose: Vec<[f32; 2]>,
    /// How many grid points were inside the image before the texture test.
    pub tried: usize,
}

impl Candidates {
    /// Places the grids on `face` (the first face's frame, `v` toward the mouth) and its `nose`
    /// tip, and keeps the textured points of `first`'s finest level.
    pub fn place(first: &Pyramid, face: &EyeFrame, nose: [f32; 2], cfg: &MotionConfig) -> Self {
        let d = face.eye_distance;
        // A tracking window (and the gradient's border) must fit around every point.
        let margin = (cfg.lk_half_window + 2) as f32;
        let (w, h) = (first.levels[0].w as f32, first.levels[0].h as f32);
        let inside = |p: [f32; 2]| {
            p[0] >= margin && p[1] >= margin && p[0] < w - margin && p[1] < h - margin
        };
        let mut plane = Vec::new();
        let mut nose_points = Vec::new();
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
                let p = face.point(a, b);
                if distance(p, nose) < cfg.nose_exclusion_radius * d || !inside(p) {
                    continue;
                }
                plane.push(p);
            }
        }
        let ns = cfg.nose_step.max(0.005);
        let nn = (cfg.nose_radius / ns).ceil() as i32;
        for j in -nn..=nn {
            for i in -nn..=nn {
                let off = [i as f32 * ns * d, j as f32 * ns * d];
                if (off[0] * off[0] + off[1] * off[1]).sqrt() > cfg.nose_radius * d {
                    continue;
                }
                let p = [nose[0] + off[0], nose[1] + off[1]];
                if inside(p) {
                    nose_points.push(p);
                }
            }
        }
        let tried = plane.len() + nose_points.len();
        let textured = |p: &[f32; 2]| {
            min_eigen_at(first, p[0], p[1], cfg.lk_half_window) >= cfg.point_min_eigen
        };
        plane.retain(textured);
        nose_points.retain(textured);
        Candidates {
            plane,
            nose: nose_points,
            tried,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_pair::{GENUINE, working};
    use super::*;

    #[test]
    fn points_cover_the_inner_face_and_the_nose_tip_apart() {
        let cfg = MotionConfig::default();
        let w = working(GENUINE, &cfg);
        let c = Candidates::place(&w.first, &w.face, w.nose(), &cfg);
        let d = w.face.eye_distance;
        assert!(c.plane.len() >= cfg.min_plane_points && c.nose.len() >= cfg.min_nose_points);
        assert!(c.plane.len() + c.nose.len() <= c.tried);
        for p in &c.plane {
            // Outside the nose's exclusion disc, inside the ellipse.
            assert!(
                distance(*p, w.nose()) >= cfg.nose_exclusion_radius * d,
                "{p:?}"
            );
            let [s, t] = w.face.coordinates(*p).map(|v| v / d);
            let e = (s / cfg.ellipse_semi_x).powi(2)
                + ((t - cfg.ellipse_center_y) / cfg.ellipse_semi_y).powi(2);
            assert!(e <= 1.0 + 1e-4, "{p:?} at {s}, {t}");
        }
        for p in &c.nose {
            assert!(
                distance(*p, w.nose()) <= cfg.nose_radius * d + 1e-3,
                "{p:?}"
            );
        }
        // The nose grid is denser: more points per area than the plane grid.
        let nose_area = std::f32::consts::PI * cfg.nose_radius.powi(2);
        let ellipse_area = std::f32::consts::PI * cfg.ellipse_semi_x * cfg.ellipse_semi_y;
        assert!(c.nose.len() as f32 / nose_area > c.plane.len() as f32 / ellipse_area);
    }

    #[test]
    fn a_flat_image_has_no_textured_point() {
        let cfg = MotionConfig::default();
        let mut w = working(GENUINE, &cfg);
        let flat = super::super::gray::ImageF {
            w: w.first.levels[0].w,
            h: w.first.levels[0].h,
            data: vec![128.0; w.first.levels[0].data.len()],
        };
        w.first = Pyramid::new(flat, cfg.pyramid_levels, 2 * cfg.lk_half_window + 3);
        let c = Candidates::place(&w.first, &w.face, w.nose(), &cfg);
        assert!(c.tried > 0);
        assert!(c.plane.is_empty() && c.nose.is_empty(), "{c:?}");
    }
}
