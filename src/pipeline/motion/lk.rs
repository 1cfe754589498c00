//! Pyramidal Lucas-Kanade point tracking (Bouguet's formulation) with a forward-backward check.
//!
//! Why pyramidal: a nod or head turn moves the face by 10-40 working pixels, far beyond the
//! ~±2 px basin of single-level LK; coarse levels catch the large motion, fine levels refine
//! it to sub-pixel accuracy, which the parallax measurement needs (it looks for 1-5 px effects).

use super::gray::{ImageF, pyr_down, scharr};

/// An image pyramid with Scharr gradients at every level (level 0 = full working resolution).
pub(crate) struct Pyramid {
    pub levels: Vec<ImageF>,
    pub gx: Vec<ImageF>,
    pub gy: Vec<ImageF>,
}

impl Pyramid {
    /// Build `n_levels` levels (at least 1), stopping early when a level would be smaller than
    /// a tracking window.
    pub fn new(base: ImageF, n_levels: usize, min_side: usize) -> Self {
        let mut levels = vec![base];
        while levels.len() < n_levels.max(1) {
            let Some(last) = levels.last() else { break };
            if last.w / 2 < min_side || last.h / 2 < min_side {
                break;
            }
            let next = pyr_down(last);
            levels.push(next);
        }
        let (gx, gy) = levels.iter().map(scharr).unzip();
        Self { levels, gx, gy }
    }
}

/// Tracker parameters (a subset of `MotionConfig`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LkParams {
    /// Half size of the square window: the window is `(2r+1)^2` pixels.
    pub half_window: usize,
    /// Maximum Gauss-Newton iterations per level.
    pub max_iters: usize,
    /// Stop iterating when the update is shorter than this (pixels of the level).
    pub epsilon: f32,
    /// Minimum eigenvalue of the (window-averaged) structure tensor, in (intensity/px)^2:
    /// below it the window has no 2D texture and the flow is not determined.
    pub min_eigen: f32,
}

/// Smallest eigenvalue of the 2x2 symmetric matrix [[a, b], [b, c]].
#[inline]
fn min_eig(a: f32, b: f32, c: f32) -> f32 {
    let t = 0.5 * (a + c);
    let d = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    t - d
}

/// Window-averaged minimum eigenvalue of the structure tensor at integer-ish point `(x, y)` of
/// pyramid level 0: the Shi-Tomasi "trackability" of the point.
pub(crate) fn min_eigen_at(pyr: &Pyramid, x: f32, y: f32, r: usize) -> f32 {
    let (gx, gy) = (&pyr.gx[0], &pyr.gy[0]);
    let (cx, cy) = (x.round() as isize, y.round() as isize);
    let r = r as isize;
    if cx - r < 1 || cy - r < 1 || cx + r >= gx.w as isize - 1 || cy + r >= gx.h as isize - 1 {
        return 0.0;
    }
    let (mut a, mut b, mut c) = (0.0f32, 0.0f32, 0.0f32);
    for yy in cy - r..=cy + r {
        for xx in cx - r..=cx + r {
            let i = yy as usize * gx.w + xx as usize;
            let (u, v) = (gx.data[i], gy.data[i]);
            a += u * u;
            b += u * v;
            c += v * v;
        }
    }
    let n = ((2 * r + 1) * (2 * r + 1)) as f32;
    min_eig(a / n, b / n, c / n)
}

/// Track one point `p` of `from` into `to`, starting from the guess `guess` (the expected
/// position in `to`, e.g. from the landmarks). Returns the tracked position in level-0 pixels,
/// or `None` when the window leaves the image or has no texture at some level.
pub(crate) fn track_point(
    from: &Pyramid,
    to: &Pyramid,
    p: [f32; 2],
    guess: [f32; 2],
    prm: &LkParams,
) -> Option<[f32; 2]> {
    let n_levels = from.levels.len().min(to.levels.len());
    let r = prm.half_window;
    let side = 2 * r + 1;
    let n = side * side;
    let mut tpl = vec![0.0f32; n];
    let mut tgx = vec![0.0f32; n];
    let mut tgy = vec![0.0f32; n];
    // Displacement (in level-L pixels) carried from coarser levels: starts as the guess.
    let top = (n_levels - 1) as i32;
    let sc_top = 0.5f32.powi(top);
    let mut g = [(guess[0] - p[0]) * sc_top, (guess[1] - p[1]) * sc_top];
    let mut win = vec![0.0f32; n];
    for lvl in (0..n_levels).rev() {
        let sc = 0.5f32.powi(lvl as i32);
        let (px, py) = (p[0] * sc, p[1] * sc);
        // The template window must lie inside the image (else the point is not trackable here).
        if !(from.levels[lvl].window(px, py, r, &mut tpl)
            && from.gx[lvl].window(px, py, r, &mut tgx)
            && from.gy[lvl].window(px, py, r, &mut tgy))
        {
            return None;
        }
        let img_j = &to.levels[lvl];
        let (mut a, mut b, mut c) = (0.0f32, 0.0f32, 0.0f32);
        for (u, v) in tgx.iter().zip(&tgy) {
            a += u * u;
            b += u * v;
            c += v * v;
        }
        let nf = n as f32;
        if min_eig(a / nf, b / nf, c / nf) < prm.min_eigen {
            return None;
        }
        let det = a * c - b * b;
        if det.abs() < f32::EPSILON {
            return None;
        }
        let mut d = [0.0f32; 2];
        for _ in 0..prm.max_iters {
            let (qx, qy) = (px + g[0] + d[0], py + g[1] + d[1]);
            // Leaving the target image means the point is lost (out of the crop).
            if !img_j.window(qx, qy, r, &mut win) {
                return None;
            }
            let (mut bx, mut by) = (0.0f32, 0.0f32);
            for k in 0..n {
                let diff = tpl[k] - win[k];
                bx += diff * tgx[k];
                by += diff * tgy[k];
            }
            let ux = (c * bx - b * by) / det;
            let uy = (a * by - b * bx) / det;
            d[0] += ux;
            d[1] += uy;
            if ux * ux + uy * uy < prm.epsilon * prm.epsilon {
                break;
            }
        }
        if lvl > 0 {
            g = [2.0 * (g[0] + d[0]), 2.0 * (g[1] + d[1])];
        } else {
            g = [g[0] + d[0], g[1] + d[1]];
        }
    }
    let out = [p[0] + g[0], p[1] + g[1]];
    if out[0].is_finite() && out[1].is_finite() {
        Some(out)
    } else {
        None
    }
}

/// Track `p` forward from `a` to `b`, then back from `b` to `a`; keep it only when the round
/// trip returns within `max_fb` pixels. This rejects occlusions, blinks, specular spots and
/// aperture-problem drift, which a one-way residual cannot detect.
pub(crate) fn track_fb(
    a: &Pyramid,
    b: &Pyramid,
    p: [f32; 2],
    guess: [f32; 2],
    prm: &LkParams,
    max_fb: f32,
) -> Option<([f32; 2], f32)> {
    let q = track_point(a, b, p, guess, prm)?;
    let back = track_point(b, a, q, p, prm)?;
    let e = ((back[0] - p[0]).powi(2) + (back[1] - p[1]).powi(2)).sqrt();
    if e <= max_fb { Some((q, e)) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(w: usize, h: usize, sx: f32, sy: f32) -> ImageF {
        let mut img = ImageF::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let (u, v) = (x as f32 - sx, y as f32 - sy);
                img.data[y * w + x] = 128.0
                    + 60.0 * (u * 0.21).sin() * (v * 0.17).cos()
                    + 40.0 * ((u + 2.0 * v) * 0.09).sin();
            }
        }
        img
    }

    #[test]
    fn recovers_subpixel_and_large_shift() {
        let prm = LkParams {
            half_window: 7,
            max_iters: 30,
            epsilon: 0.005,
            min_eigen: 1.0,
        };
        let a = Pyramid::new(pattern(160, 140, 0.0, 0.0), 3, 16);
        // (shift, initial guess offset): the last one is beyond the pyramid's reach from a
        // zero guess on this periodic pattern, but fine from a rough guess.
        for (sx, sy, gx, gy) in [
            (0.3f32, -0.6f32, 0.0f32, 0.0f32),
            (9.4, 6.2, 0.0, 0.0),
            (-7.7, 3.3, 0.0, 0.0),
            (-14.7, 3.3, -12.0, 2.0),
        ] {
            let b = Pyramid::new(pattern(160, 140, sx, sy), 3, 16);
            let p = [80.0, 70.0];
            let g = [p[0] + gx, p[1] + gy];
            let (q, e) = track_fb(&a, &b, p, g, &prm, 0.5).expect("tracked");
            assert!((q[0] - p[0] - sx).abs() < 0.05, "{q:?} {sx}");
            assert!((q[1] - p[1] - sy).abs() < 0.05, "{q:?} {sy}");
            assert!(e < 0.05);
        }
    }
}
