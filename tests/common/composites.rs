//! Realistic synthetic presentation attacks composed from one real face photo, for evaluating
//! the passive-liveness "medium cue": a detector of the border of a phone, tablet, printed sheet
//! or card around a face.
//!
//! What is modelled: the face photo is put on a presentation medium (a smartphone or tablet
//! screen, a printed sheet, an ID card, a passport-size print), the medium is given its own look
//! (screen black level, blue tint and moiré; paper white point, ink contrast and blur; card
//! guilloche, header band and text lines), posed in 3D in front of a real room photo (rotated,
//! tilted with a true perspective homography, optionally bent, not always centred, sometimes
//! leaving the frame), held by a hand whose fingers overlap and hide parts of the border, and
//! finally seen by a camera (optical blur, vignetting, sensor noise).
//!
//! Why: the few real attack images in `../shared/data` cannot tell whether a border detector
//! generalises. These composites are harder than a clean rectangle: borders are rotated,
//! foreshortened, curved, partly outside the capture and partly occluded, the bezel can be light
//! or dark, the skin tones of the hands range from light to dark brown. The displayed face is
//! kept at least ~70 px wide so that the face detector still finds it.
//!
//! Needs only the `image` crate, std and its sibling module `attacks` (the homography helpers;
//! a splitmix64 generator, no `rand`): included by `tests/common/mod.rs` and, through `#[path]`
//! beside `attacks.rs`, by examples. Deterministic for a seed.
#![allow(dead_code)]

use std::borrow::Cow;

use image::{RgbImage, imageops};

use super::attacks::{Mat3, apply, mat_inv};

/// One synthetic attack capture.
pub struct Composite {
    /// The attack kind: `phone-replay`, `tablet-replay`, `print`, `id-card`, `passport-photo`.
    pub kind: &'static str,
    /// The variant and its parameters, for reports.
    pub name: String,
    /// The capture (1280x720 or 960x720); the caller encodes it.
    pub rgb: RgbImage,
}

/// Face width (the detector's box) as a multiple of the eye distance.
const FACE_W: f64 = 2.1;
/// Layer pixels per capture pixel: the media are drawn slightly finer than they are seen.
const OVERSAMPLE: f64 = 1.25;

/// Every attack kind in 2-4 parameter variants (15 captures), deterministic for `seed`.
///
/// `face`: a real photo of one person; `face_center` [x, y] px and `eye_distance` px of that face
/// in `face` (as `attacks::Base` computes them). `scene`: a real photo used as the room behind
/// the medium (it is cropped, defocused and darkened).
/// A room to put the media in: the lower left third of a real photo, where a portrait's own
/// face is not (the composites must show one face only).
pub fn room(scene: &RgbImage) -> RgbImage {
    image::imageops::crop_imm(
        scene,
        0,
        scene.height() / 2,
        scene.width() / 3,
        scene.height() / 2,
    )
    .to_image()
}

pub fn catalogue(
    face: &RgbImage,
    face_center: [f64; 2],
    eye_distance: f64,
    scene: &RgbImage,
    seed: u64,
) -> Vec<Composite> {
    let src = Source {
        img: face,
        center: face_center,
        d: eye_distance.max(4.0),
    };
    let mut out = Vec::new();
    for v in 0..4 {
        out.push(phone_replay(&src, scene, v, &mut Rng::new(seed, 1, v)));
    }
    for v in 0..3 {
        out.push(tablet_replay(&src, scene, v, &mut Rng::new(seed, 2, v)));
    }
    for v in 0..3 {
        out.push(print(&src, scene, v, &mut Rng::new(seed, 3, v)));
    }
    for v in 0..3 {
        out.push(id_card(&src, scene, v, &mut Rng::new(seed, 4, v)));
    }
    for v in 0..2 {
        out.push(passport_photo(&src, scene, v, &mut Rng::new(seed, 5, v)));
    }
    out
}

// ------------------------------------------------------------------------------------ PRNG

/// splitmix64: tiny, deterministic, plenty for parameters and noise.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, kind: u64, variant: u64) -> Rng {
        let mut r = Rng(seed
            ^ kind.wrapping_mul(0xA076_1D64_78BD_642F)
            ^ variant.wrapping_mul(0xE703_7ED1_A0B4_28DB));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `v` plus a uniform offset in [-amp, amp].
    fn jitter(&mut self, v: f64, amp: f64) -> f64 {
        v + self.range(-amp, amp)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn index(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

// ------------------------------------------------------------------------ float images

type Px = [f32; 3];

/// A float RGB image (0..255 per channel, unclamped while composing).
#[derive(Clone)]
struct Img {
    w: usize,
    h: usize,
    px: Vec<Px>,
}

impl Img {
    fn filled(w: usize, h: usize, c: Px) -> Img {
        Img {
            w,
            h,
            px: vec![c; w * h],
        }
    }

    fn from_fn(w: usize, h: usize, f: impl Fn(usize, usize) -> Px) -> Img {
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                px.push(f(x, y));
            }
        }
        Img { w, h, px }
    }

    fn from_rgb(img: &RgbImage) -> Img {
        let px = img
            .pixels()
            .map(|p| [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])])
            .collect();
        Img {
            w: img.width() as usize,
            h: img.height() as usize,
            px,
        }
    }

    fn to_rgb(&self) -> RgbImage {
        let data = self
            .px
            .iter()
            .flat_map(|p| p.map(|v| v.round().clamp(0.0, 255.0) as u8))
            .collect();
        RgbImage::from_raw(self.w as u32, self.h as u32, data)
            .unwrap_or_else(|| RgbImage::new(self.w as u32, self.h as u32))
    }

    /// Bilinear sample, pixel centres at integer coordinates, edges repeated.
    fn sample(&self, x: f64, y: f64) -> Px {
        let x = x.clamp(0.0, (self.w - 1) as f64);
        let y = y.clamp(0.0, (self.h - 1) as f64);
        let x0 = (x.floor() as usize).min(self.w.saturating_sub(2));
        let y0 = (y.floor() as usize).min(self.h.saturating_sub(2));
        let x1 = (x0 + 1).min(self.w - 1);
        let y1 = (y0 + 1).min(self.h - 1);
        let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
        let p = |xx: usize, yy: usize| self.px[yy * self.w + xx];
        let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
        std::array::from_fn(|k| {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bot = c[k] + (d[k] - c[k]) * fx;
            top + (bot - top) * fy
        })
    }
}

/// Bilinear sample of an 8-bit image, pixel centres at integer coordinates, edges repeated.
fn sample_rgb(img: &RgbImage, x: f64, y: f64) -> Px {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let x0 = (x.floor() as usize).min(w.saturating_sub(2));
    let y0 = (y.floor() as usize).min(h.saturating_sub(2));
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let raw = img.as_raw();
    std::array::from_fn(|k| {
        let p = |xx: usize, yy: usize| f32::from(raw[(yy * w + xx) * 3 + k]);
        let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * fx;
        let bot = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * fx;
        top + (bot - top) * fy
    })
}

/// Bilinear sample of a mask, zero outside (so that a medium's edge is anti-aliased).
fn sample_mask(m: &[f32], w: usize, h: usize, x: f64, y: f64) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
    let get = |xx: f64, yy: f64| {
        if xx < 0.0 || yy < 0.0 || xx >= w as f64 || yy >= h as f64 {
            0.0
        } else {
            m[yy as usize * w + xx as usize]
        }
    };
    let top = get(x0, y0) * (1.0 - fx) + get(x0 + 1.0, y0) * fx;
    let bot = get(x0, y0 + 1.0) * (1.0 - fx) + get(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bot * fy
}

fn mix(a: Px, b: Px, t: f32) -> Px {
    std::array::from_fn(|k| a[k] + (b[k] - a[k]) * t)
}

fn scale(a: Px, s: f32) -> Px {
    a.map(|v| v * s)
}

/// Separable box blur of radius `r`, edges repeated.
fn box_blur(img: &mut Img, r: usize) {
    if r == 0 {
        return;
    }
    let (w, h) = (img.w, img.h);
    let n = (2 * r + 1) as f32;
    let mut line: Vec<Px> = Vec::new();
    for pass in 0..2 {
        let (len, count) = if pass == 0 { (w, h) } else { (h, w) };
        for j in 0..count {
            let idx = |i: usize| if pass == 0 { j * w + i } else { i * w + j };
            line.clear();
            line.extend((0..len).map(|i| img.px[idx(i)]));
            let at = |i: isize| line[i.clamp(0, len as isize - 1) as usize];
            let mut acc = [0.0f32; 3];
            for i in -(r as isize)..=(r as isize) {
                let p = at(i);
                for k in 0..3 {
                    acc[k] += p[k];
                }
            }
            for i in 0..len {
                img.px[idx(i)] = acc.map(|v| v / n);
                let (add, sub) = (at(i as isize + r as isize + 1), at(i as isize - r as isize));
                for k in 0..3 {
                    acc[k] += add[k] - sub[k];
                }
            }
        }
    }
}

/// Separable binomial blur with 3 ([1 2 1]) or 5 ([1 4 6 4 1]) taps: camera optics.
fn binomial(img: &mut Img, taps: usize) {
    let k: &[f32] = if taps >= 5 {
        &[1.0, 4.0, 6.0, 4.0, 1.0]
    } else {
        &[1.0, 2.0, 1.0]
    };
    let norm: f32 = k.iter().sum();
    let r = (k.len() / 2) as isize;
    let (w, h) = (img.w as isize, img.h as isize);
    let mut tmp = img.px.clone();
    for (dx, dy) in [(1isize, 0isize), (0, 1)] {
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0.0f32; 3];
                for (i, &kv) in k.iter().enumerate() {
                    let o = i as isize - r;
                    let xx = (x + o * dx).clamp(0, w - 1);
                    let yy = (y + o * dy).clamp(0, h - 1);
                    let p = img.px[(yy * w + xx) as usize];
                    for c in 0..3 {
                        acc[c] += p[c] * kv;
                    }
                }
                tmp[(y * w + x) as usize] = acc.map(|v| v / norm);
            }
        }
        std::mem::swap(&mut img.px, &mut tmp);
    }
}

// ---------------------------------------------------------------------- signed distances

fn sd_round_rect(p: [f64; 2], c: [f64; 2], half: [f64; 2], r: f64) -> f64 {
    let r = r.min(half[0]).min(half[1]).max(0.0);
    let qx = (p[0] - c[0]).abs() - (half[0] - r);
    let qy = (p[1] - c[1]).abs() - (half[1] - r);
    let (ox, oy) = (qx.max(0.0), qy.max(0.0));
    (ox * ox + oy * oy).sqrt() + qx.max(qy).min(0.0) - r
}

/// Signed distance to a capsule from `a` to `b` of radius `r`, and the position along it (0..1).
fn sd_capsule(p: [f64; 2], a: [f64; 2], b: [f64; 2], r: f64) -> (f64, f64) {
    let (pa, ba) = ([p[0] - a[0], p[1] - a[1]], [b[0] - a[0], b[1] - a[1]]);
    let t = ((pa[0] * ba[0] + pa[1] * ba[1]) / (ba[0] * ba[0] + ba[1] * ba[1]).max(1e-9))
        .clamp(0.0, 1.0);
    let (dx, dy) = (pa[0] - ba[0] * t, pa[1] - ba[1] * t);
    ((dx * dx + dy * dy).sqrt() - r, t)
}

/// Approximate signed distance to a rotated ellipse; also the normalised radius (1 on the edge).
fn sd_ellipse(p: [f64; 2], c: [f64; 2], axes: [f64; 2], rot_deg: f64) -> (f64, f64) {
    let (s, co) = rot_deg.to_radians().sin_cos();
    let (dx, dy) = (p[0] - c[0], p[1] - c[1]);
    let (u, v) = (co * dx + s * dy, -s * dx + co * dy);
    let e = ((u / axes[0]).powi(2) + (v / axes[1]).powi(2)).sqrt();
    ((e - 1.0) * axes[0].min(axes[1]), e)
}

/// Pixel coverage of a shape from its signed distance at the pixel centre.
fn cov(sd: f64) -> f32 {
    (0.5 - sd).clamp(0.0, 1.0) as f32
}

/// Paints a shape (signed distance `sd`, colour `color`) over `img` inside `bbox`
/// [x0, y0, x1, y1]. Pixel (x, y) covers [x, x+1] x [y, y+1]; shapes are sampled at centres.
fn paint(
    img: &mut Img,
    bbox: [f64; 4],
    sd: impl Fn([f64; 2]) -> f64,
    color: impl Fn([f64; 2]) -> Px,
    opacity: f32,
) {
    let x0 = bbox[0].floor().max(0.0) as usize;
    let y0 = bbox[1].floor().max(0.0) as usize;
    let x1 = (bbox[2].ceil().max(0.0) as usize).min(img.w);
    let y1 = (bbox[3].ceil().max(0.0) as usize).min(img.h);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = [x as f64 + 0.5, y as f64 + 0.5];
            let a = cov(sd(p)) * opacity;
            if a > 0.0 {
                let i = y * img.w + x;
                img.px[i] = mix(img.px[i], color(p), a);
            }
        }
    }
}

/// A (rounded) rectangle in `color`.
fn rect(img: &mut Img, r: [f64; 4], radius: f64, color: Px, opacity: f32) {
    let c = [(r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0];
    let half = [(r[2] - r[0]) / 2.0, (r[3] - r[1]) / 2.0];
    paint(
        img,
        [r[0] - 1.0, r[1] - 1.0, r[2] + 1.0, r[3] + 1.0],
        |p| sd_round_rect(p, c, half, radius),
        |_| color,
        opacity,
    );
}

fn disc(img: &mut Img, c: [f64; 2], r: f64, color: Px, opacity: f32) {
    paint(
        img,
        [
            c[0] - r - 1.0,
            c[1] - r - 1.0,
            c[0] + r + 1.0,
            c[1] + r + 1.0,
        ],
        |p| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt() - r,
        |_| color,
        opacity,
    );
}

/// Seven-segment patterns of the digits: glyph-like marks for status bars and card text.
const SEGMENTS: [u8; 10] = [0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F];

/// One glyph of height `h` at top-left `p` (width 0.55 h): segments of `pattern`.
fn glyph(img: &mut Img, p: [f64; 2], h: f64, pattern: u8, color: Px, opacity: f32) {
    let w = 0.55 * h;
    let s = (0.16 * h).max(0.9);
    let (x0, y0, xm, ym, x1, y1) = (p[0], p[1], p[0] + w, p[1] + h / 2.0, p[0] + w, p[1] + h);
    let segs = [
        [x0, y0, x1, y0 + s],                 // a: top
        [xm - s, y0, xm, ym],                 // b: upper right
        [xm - s, ym, xm, y1],                 // c: lower right
        [x0, y1 - s, x1, y1],                 // d: bottom
        [x0, ym, x0 + s, y1],                 // e: lower left
        [x0, y0, x0 + s, ym],                 // f: upper left
        [x0, ym - s / 2.0, x1, ym + s / 2.0], // g: middle
    ];
    for (i, r) in segs.iter().enumerate() {
        if pattern & (1 << i) != 0 {
            rect(img, *r, 0.0, color, opacity);
        }
    }
}

/// A line of text-like glyphs starting at `p` (top-left), glyph height `h`, about `len` px long.
fn text_line(img: &mut Img, p: [f64; 2], h: f64, len: f64, color: Px, rng: &mut Rng) {
    let mut x = p[0];
    let mut word = 2 + rng.index(6);
    while x + 0.55 * h <= p[0] + len {
        let tall = if rng.chance(0.25) { 1.0 } else { 0.8 };
        let pattern = if rng.chance(0.5) {
            SEGMENTS[rng.index(10)]
        } else {
            (rng.next_u64() & 0x7F) as u8 | 0x08
        };
        glyph(
            img,
            [x, p[1] + (1.0 - tall) * h],
            h * tall,
            pattern,
            color,
            0.9,
        );
        x += 0.78 * h;
        word -= 1;
        if word == 0 {
            x += 0.45 * h;
            word = 2 + rng.index(7);
        }
    }
}

// ------------------------------------------------------------------------------ geometry

/// The homography taking the four `src` points to the four `dst` points.
fn homography(src: [[f64; 2]; 4], dst: [[f64; 2]; 4]) -> Mat3 {
    let mut a = [[0.0f64; 9]; 8];
    for (i, (s, d)) in src.iter().zip(dst.iter()).enumerate() {
        let ([x, y], [u, v]) = (*s, *d);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for col in 0..8 {
        let piv = (col..8)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, piv);
        let p = a[col][col];
        if p.abs() < 1e-12 {
            continue;
        }
        let pivot_row = a[col].map(|v| v / p);
        a[col] = pivot_row;
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col];
                for (v, pv) in row.iter_mut().zip(pivot_row.iter()) {
                    *v -= f * pv;
                }
            }
        }
    }
    let h: [f64; 8] = std::array::from_fn(|i| a[i][8]);
    [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0]
}

/// Where a flat (or bent) medium is in front of the camera. The medium's normalised coordinates
/// (u, v) in [0, 1]^2 go through: a cylindrical bend about the vertical axis, pitch (about x),
/// yaw (about y), roll (about the optical axis, positive counter-clockwise on screen), then a
/// pinhole camera (focal: the capture width, principal point: the capture centre) at a depth
/// where the unrotated medium is `size` px large with its centre at `center`.
#[derive(Clone, Copy)]
struct Pose {
    cap: [f64; 2],
    size: [f64; 2],
    center: [f64; 2],
    roll: f64,
    yaw: f64,
    pitch: f64,
    /// Bend radius in capture px (0: flat; positive: the side edges curve away from the camera).
    bend: f64,
}

impl Pose {
    fn fwd(&self, uv: [f64; 2]) -> [f64; 2] {
        let mut x = (uv[0] - 0.5) * self.size[0];
        let y = (uv[1] - 0.5) * self.size[1];
        let mut z = 0.0;
        if self.bend != 0.0 {
            let (r, s) = (self.bend, x);
            x = r * (s / r).sin();
            z = r * (1.0 - (s / r).cos());
        }
        let (sp, cp) = self.pitch.to_radians().sin_cos();
        let (y1, z1) = (cp * y - sp * z, sp * y + cp * z);
        let (sy, cy) = self.yaw.to_radians().sin_cos();
        let (x2, z2) = (cy * x + sy * z1, -sy * x + cy * z1);
        let (sr, cr) = (-self.roll).to_radians().sin_cos();
        let (x3, y3) = (cr * x2 - sr * y1, sr * x2 + cr * y1);
        let f = self.cap[0];
        let pc = [self.cap[0] / 2.0, self.cap[1] / 2.0];
        let zz = (f + z2).max(1.0);
        [
            pc[0] + f * (x3 + self.center[0] - pc[0]) / zz,
            pc[1] + f * (y3 + self.center[1] - pc[1]) / zz,
        ]
    }

    /// A point given in medium-width units (x across, y down; the medium is 1 x `aspect`).
    fn at(&self, p: [f64; 2], aspect: f64) -> [f64; 2] {
        self.fwd([p[0], p[1] / aspect])
    }

    /// Capture px per medium-width unit near `p` (medium-width units).
    fn scale_at(&self, p: [f64; 2], aspect: f64) -> f64 {
        let e = 0.01;
        let a = self.at(p, aspect);
        let bx = self.at([p[0] + e, p[1]], aspect);
        let by = self.at([p[0], p[1] + e], aspect);
        let dx = ((bx[0] - a[0]).powi(2) + (bx[1] - a[1]).powi(2)).sqrt();
        let dy = ((by[0] - a[0]).powi(2) + (by[1] - a[1]).powi(2)).sqrt();
        0.5 * (dx + dy) / e
    }

    /// The medium's corners in the capture (top-left, top-right, bottom-right, bottom-left).
    fn corners(&self) -> [[f64; 2]; 4] {
        [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]].map(|c| self.fwd(c))
    }
}

/// A medium drawn flat: colour, coverage (rounded corners) and the part that is a lit screen.
struct Layer {
    img: Img,
    alpha: Vec<f32>,
    screen: Vec<f32>,
}

impl Layer {
    fn new(w: usize, h: usize) -> Layer {
        Layer {
            img: Img::filled(w, h, [0.0; 3]),
            alpha: vec![0.0; w * h],
            screen: vec![0.0; w * h],
        }
    }

    /// Multiplies the medium's colour by `f(x, y)` (layer px), e.g. a lighting gradient.
    fn modulate(&mut self, f: impl Fn(f64, f64) -> f32) {
        let w = self.img.w;
        for (i, p) in self.img.px.iter_mut().enumerate() {
            let g = f((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
            *p = scale(*p, g);
        }
    }
}

/// Draws `layer` posed by `pose` over `dst`; records the screen coverage in `screen`.
fn render(dst: &mut Img, screen: &mut [f32], layer: &Layer, pose: &Pose) {
    let (lw, lh) = (layer.img.w, layer.img.h);
    let uv_corners = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let hinv = mat_inv(&homography(uv_corners, pose.corners()));
    let mut bb = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for i in 0..=64 {
        let t = f64::from(i) / 64.0;
        for p in [[t, 0.0], [t, 1.0], [0.0, t], [1.0, t]] {
            let q = pose.fwd(p);
            bb = [
                bb[0].min(q[0]),
                bb[1].min(q[1]),
                bb[2].max(q[0]),
                bb[3].max(q[1]),
            ];
        }
    }
    let x0 = (bb[0] - 2.0).floor().max(0.0) as usize;
    let y0 = (bb[1] - 2.0).floor().max(0.0) as usize;
    let x1 = ((bb[2] + 2.0).ceil().max(0.0) as usize).min(dst.w);
    let y1 = ((bb[3] + 2.0).ceil().max(0.0) as usize).min(dst.h);
    for y in y0..y1 {
        for x in x0..x1 {
            let t = [x as f64 + 0.5, y as f64 + 0.5];
            let mut uv = apply(&hinv, t);
            if pose.bend != 0.0 {
                // Newton on the forward map, from the homography's guess.
                let mut residual = f64::MAX;
                for _ in 0..10 {
                    let f0 = pose.fwd(uv);
                    let r = [t[0] - f0[0], t[1] - f0[1]];
                    residual = r[0].abs() + r[1].abs();
                    if residual < 1e-3 {
                        break;
                    }
                    let e = 1e-5;
                    let fx = pose.fwd([uv[0] + e, uv[1]]);
                    let fy = pose.fwd([uv[0], uv[1] + e]);
                    let j = [
                        (fx[0] - f0[0]) / e,
                        (fy[0] - f0[0]) / e,
                        (fx[1] - f0[1]) / e,
                        (fy[1] - f0[1]) / e,
                    ];
                    let det = j[0] * j[3] - j[1] * j[2];
                    if det.abs() < 1e-12 {
                        break;
                    }
                    uv[0] += (j[3] * r[0] - j[1] * r[1]) / det;
                    uv[1] += (-j[2] * r[0] + j[0] * r[1]) / det;
                }
                if residual > 0.05 {
                    continue;
                }
            }
            let (lx, ly) = (uv[0] * lw as f64 - 0.5, uv[1] * lh as f64 - 0.5);
            let a = sample_mask(&layer.alpha, lw, lh, lx, ly);
            if a <= 0.0 {
                continue;
            }
            let i = y * dst.w + x;
            dst.px[i] = mix(dst.px[i], layer.img.sample(lx, ly), a.min(1.0));
            screen[i] = sample_mask(&layer.screen, lw, lh, lx, ly) * a;
        }
    }
}

// ------------------------------------------------------------------------- the face photo

struct Source<'a> {
    img: &'a RgbImage,
    center: [f64; 2],
    d: f64,
}

impl Source<'_> {
    fn size(&self) -> [f64; 2] {
        [f64::from(self.img.width()), f64::from(self.img.height())]
    }

    /// Eye midpoint.
    fn eyes(&self) -> [f64; 2] {
        [self.center[0], self.center[1] - 0.5 * self.d]
    }
}

/// A crop `cw` x `ch` centred near `c`, shrunk (same aspect) to fit the photo but not below
/// `min_scale`, and moved inside the photo where it fits. Returns (centre, cw, ch).
fn fit_crop(size: [f64; 2], c: [f64; 2], cw: f64, ch: f64, min_scale: f64) -> ([f64; 2], f64, f64) {
    let s = (size[0] / cw).min(size[1] / ch).min(1.0).max(min_scale);
    let (cw, ch) = (cw * s, ch * s);
    let cx = if cw <= size[0] {
        c[0].clamp(cw / 2.0, size[0] - cw / 2.0)
    } else {
        size[0] / 2.0
    };
    let cy = if ch <= size[1] {
        c[1].clamp(ch / 2.0, size[1] - ch / 2.0)
    } else {
        size[1] / 2.0
    };
    ([cx, cy], cw, ch)
}

/// The photo region `cw` x `ch` (source px) centred at `c`, resampled to `out` px. Outside the
/// photo: `outside`, or the edge repeated.
fn crop(
    src: &RgbImage,
    c: [f64; 2],
    cw: f64,
    ch: f64,
    out: [usize; 2],
    outside: Option<Px>,
) -> Img {
    let (w, h) = (f64::from(src.width()), f64::from(src.height()));
    let s = out[0] as f64 / cw;
    // Minification: area-filter the photo first so that bilinear sampling does not alias.
    let small: Cow<RgbImage> = if s < 0.8 {
        let nw = ((w * s).round() as u32).max(2);
        let nh = ((h * s).round() as u32).max(2);
        Cow::Owned(imageops::resize(
            src,
            nw,
            nh,
            imageops::FilterType::Triangle,
        ))
    } else {
        Cow::Borrowed(src)
    };
    let (sx, sy) = (f64::from(small.width()) / w, f64::from(small.height()) / h);
    Img::from_fn(out[0], out[1], |x, y| {
        let xs = c[0] - cw / 2.0 + (x as f64 + 0.5) * cw / out[0] as f64;
        let ys = c[1] - ch / 2.0 + (y as f64 + 0.5) * ch / out[1] as f64;
        match outside {
            Some(o) if xs < 0.0 || ys < 0.0 || xs > w || ys > h => o,
            _ => sample_rgb(&small, xs * sx - 0.5, ys * sy - 0.5),
        }
    })
}

/// A passport-style portrait `out` px (35:45): the head about 70 % of the height, the
/// background replaced by `bg` outside a soft head-and-shoulders mask when `plain`.
/// Returns the portrait and the face width as a fraction of its width.
fn passport_portrait(src: &Source, out: [usize; 2], bg: Px, plain: bool) -> (Img, f64) {
    let d = src.d;
    let eyes = src.eyes();
    let ch = 2.9 * d / 0.70;
    let cw = ch * out[0] as f64 / out[1] as f64;
    let head_c = [eyes[0], eyes[1] - 0.15 * d];
    let want = [head_c[0], head_c[1] + 0.05 * ch];
    let (c, cw, ch) = fit_crop(src.size(), want, cw, ch, 0.0);
    let mut img = crop(src.img, c, cw, ch, out, None);
    if plain {
        let k = out[0] as f64 / cw;
        let to_src = |x: usize, y: usize| {
            [
                c[0] - cw / 2.0 + (x as f64 + 0.5) / k,
                c[1] - ch / 2.0 + (y as f64 + 0.5) / k,
            ]
        };
        let chin = eyes[1] + 1.45 * d;
        let feather = 0.35 * d;
        for y in 0..out[1] {
            for x in 0..out[0] {
                let p = to_src(x, y);
                let (h, _) = sd_ellipse(p, head_c, [1.3 * d, 1.75 * d], 0.0);
                let (s, _) = sd_ellipse(p, [eyes[0], chin + 1.7 * d], [2.7 * d, 1.5 * d], 0.0);
                let (n, _) = sd_capsule(
                    p,
                    [eyes[0], eyes[1] + d],
                    [eyes[0], chin + 0.6 * d],
                    0.75 * d,
                );
                let sd = h.min(s).min(n);
                let m = (0.5 - sd / feather).clamp(0.0, 1.0) as f32;
                let i = y * out[0] + x;
                img.px[i] = mix(bg, img.px[i], m);
            }
        }
    }
    (img, FACE_W * d / cw)
}

// ---------------------------------------------------------------------- scene and camera

/// The room: a random crop of the scene photo covering the capture, defocused and darkened.
fn backdrop(scene: &RgbImage, cap: [usize; 2], rng: &mut Rng) -> Img {
    let (sw, sh) = (f64::from(scene.width()), f64::from(scene.height()));
    let aspect = cap[0] as f64 / cap[1] as f64;
    let f = rng.range(0.55, 0.85);
    let (mut cw, mut ch) = (sw * f, sw * f / aspect);
    if ch > sh * f {
        ch = sh * f;
        cw = ch * aspect;
    }
    let c = [
        rng.range(cw / 2.0, (sw - cw / 2.0).max(cw / 2.0)),
        rng.range(ch / 2.0, (sh - ch / 2.0).max(ch / 2.0)),
    ];
    let mut img = crop(scene, c, cw, ch, cap, None);
    let r = 3 + rng.index(4);
    for _ in 0..3 {
        box_blur(&mut img, r);
    }
    let exposure = rng.range(0.55, 0.9) as f32;
    let cast = [
        rng.range(0.95, 1.06) as f32,
        1.0,
        rng.range(0.92, 1.04) as f32,
    ];
    for p in &mut img.px {
        *p = std::array::from_fn(|k| p[k] * exposure * cast[k]);
    }
    img
}

/// The camera: optics blur, vignetting, sensor noise.
fn camera(mut img: Img, rng: &mut Rng) -> RgbImage {
    binomial(&mut img, if rng.chance(0.5) { 5 } else { 3 });
    let (w, h) = (img.w as f64, img.h as f64);
    let vig = rng.range(0.08, 0.22) as f32;
    let amp = rng.range(2.0, 6.0) as f32;
    for (i, p) in img.px.iter_mut().enumerate() {
        let (x, y) = ((i % img.w) as f64 / w - 0.5, (i / img.w) as f64 / h - 0.5);
        let v = 1.0 - vig * (x * x + y * y) as f32 * 2.0;
        let luma = amp * (rng.unit() + rng.unit() - 1.0) as f32;
        *p = std::array::from_fn(|k| p[k] * v + luma + 0.4 * amp * (rng.unit() - 0.5) as f32);
    }
    img.to_rgb()
}

// ---------------------------------------------------------------------------------- hands

const SKIN: [Px; 6] = [
    [238.0, 198.0, 172.0],
    [222.0, 172.0, 135.0],
    [196.0, 138.0, 100.0],
    [160.0, 108.0, 76.0],
    [118.0, 78.0, 54.0],
    [82.0, 54.0, 38.0],
];

const SKIN_NAMES: [&str; 6] = [
    "light",
    "light-medium",
    "medium",
    "tan",
    "brown",
    "dark brown",
];

const SLEEVES: [Px; 5] = [
    [28.0, 30.0, 36.0],
    [46.0, 58.0, 88.0],
    [92.0, 92.0, 98.0],
    [118.0, 42.0, 44.0],
    [196.0, 198.0, 204.0],
];

/// A part of a hand in medium-width units (x across the medium, y down).
#[derive(Clone, Copy)]
enum Part {
    /// A finger from its base `a` to its tip `b`, radius `r`; `nail`: its nail faces the camera.
    Finger {
        a: [f64; 2],
        b: [f64; 2],
        r: f64,
        nail: bool,
    },
    /// Wrist or forearm (`sleeve`: in the sleeve's fabric).
    Limb {
        a: [f64; 2],
        b: [f64; 2],
        r: f64,
        sleeve: bool,
    },
    Palm {
        c: [f64; 2],
        axes: [f64; 2],
        rot: f64,
    },
}

/// A hand: the parts behind the medium (seen only around it) and in front of it.
struct Hand {
    skin: Px,
    sleeve: Px,
    behind: Vec<Part>,
    front: Vec<Part>,
}

impl Hand {
    fn new(rng: &mut Rng, skin: usize) -> Hand {
        Hand {
            skin: skin_tone(rng, skin),
            sleeve: SLEEVES[rng.index(SLEEVES.len())],
            behind: Vec::new(),
            front: Vec::new(),
        }
    }

    fn add(&mut self, (behind, front): (Vec<Part>, Vec<Part>)) {
        self.behind.extend(behind);
        self.front.extend(front);
    }
}

fn finger(a: [f64; 2], b: [f64; 2], r: f64, nail: bool) -> Part {
    Part::Finger { a, b, r, nail }
}

fn limb(a: [f64; 2], b: [f64; 2], r: f64, sleeve: bool) -> Part {
    Part::Limb { a, b, r, sleeve }
}

fn palm(c: [f64; 2], axes: [f64; 2], rot: f64) -> Part {
    Part::Palm { c, axes, rot }
}

fn add(p: [f64; 2], v: [f64; 2], k: f64) -> [f64; 2] {
    [p[0] + v[0] * k, p[1] + v[1] * k]
}

fn unit(v: [f64; 2]) -> [f64; 2] {
    let n = (v[0] * v[0] + v[1] * v[1]).sqrt().max(1e-9);
    [v[0] / n, v[1] / n]
}

/// The arm behind a palm centred at `c`: wrist in skin, then the sleeve, leaving toward `arm`.
fn arm_parts(c: [f64; 2], arm: [f64; 2], r: f64) -> Vec<Part> {
    vec![
        limb(c, add(c, arm, 7.0 * r), 1.8 * r, false),
        limb(add(c, arm, 6.5 * r), add(c, arm, 24.0 * r), 2.4 * r, true),
    ]
}

/// A thumb grip at `edge` (a point of the medium's border, medium-width units): the thumb
/// crosses the border going `inward` and covers `reach` of the medium; the palm sits behind and
/// outside the border, the index finger behind the medium along it, the wrist and sleeved
/// forearm leave toward `arm`. `r`: a finger's radius. Returns (behind, front).
fn thumb_grip(
    edge: [f64; 2],
    inward: [f64; 2],
    reach: f64,
    r: f64,
    arm: [f64; 2],
) -> (Vec<Part>, Vec<Part>) {
    let (inward, arm) = (unit(inward), unit(arm));
    let out = [-inward[0], -inward[1]];
    let along = [-inward[1], inward[0]];
    // The index finger lies on the side of the thumb away from the arm.
    let side = if along[0] * arm[0] + along[1] * arm[1] > 0.0 {
        -1.0
    } else {
        1.0
    };
    let c = add(add(edge, out, 2.4 * r), arm, 1.6 * r);
    let rot = arm[1].atan2(arm[0]).to_degrees();
    let mut behind = vec![palm(c, [2.2 * r, 1.8 * r], rot)];
    behind.extend(arm_parts(c, arm, r));
    let base = add(edge, out, 0.5 * r);
    behind.push(limb(c, base, 1.25 * r, false));
    behind.push(finger(
        add(c, along, side * 1.2 * r),
        add(add(edge, along, side * 2.6 * r), inward, 1.2 * r),
        0.95 * r,
        false,
    ));
    let front = vec![finger(base, add(edge, inward, reach), 1.15 * r, true)];
    (behind, front)
}

/// Fingers of a hand behind the medium wrapping its left or right edge (`right`), their tips
/// over the front, at heights `ys` (medium-width units).
fn finger_wrap(right: bool, ys: &[f64], r: f64) -> (Vec<Part>, Vec<Part>) {
    let x = |v: f64| if right { 1.0 + v } else { -v };
    let mut behind = Vec::new();
    let mut front = Vec::new();
    for (k, &y) in ys.iter().enumerate() {
        let rr = r * (1.0 - 0.07 * k as f64);
        behind.push(finger([x(-0.25), y + 0.08], [x(0.08), y + 0.01], rr, false));
        front.push(finger([x(0.08), y + 0.01], [x(-0.05), y - 0.01], rr, false));
    }
    (behind, front)
}

fn mirror(parts: &[Part]) -> Vec<Part> {
    let m = |p: [f64; 2]| [1.0 - p[0], p[1]];
    parts
        .iter()
        .map(|p| match *p {
            Part::Finger { a, b, r, nail } => finger(m(a), m(b), r, nail),
            Part::Limb { a, b, r, sleeve } => limb(m(a), m(b), r, sleeve),
            Part::Palm { c, axes, rot } => palm(m(c), axes, 180.0 - rot),
        })
        .collect()
}

fn skin_tone(rng: &mut Rng, idx: usize) -> Px {
    let base = SKIN[idx % SKIN.len()];
    let v = rng.range(0.94, 1.05) as f32;
    let red = rng.range(0.98, 1.04) as f32;
    [base[0] * v * red, base[1] * v, base[2] * v]
}

/// A cheap smooth value in [-1, 1] for skin and fabric texture.
fn wobble(p: [f64; 2]) -> f32 {
    ((p[0] * 0.31 + 1.7).sin() * (p[1] * 0.27 + 0.4).sin() * 0.6
        + (p[0] * 0.9 - p[1] * 0.7).sin() * 0.4) as f32
}

fn draw_parts(dst: &mut Img, hand: &Hand, front: bool, pose: &Pose, aspect: f64) {
    let parts = if front { &hand.front } else { &hand.behind };
    // Parts behind the medium are in its shadow.
    let skin = if front {
        hand.skin
    } else {
        scale(hand.skin, 0.9)
    };
    for part in parts {
        match *part {
            Part::Finger { a, b, r, nail } => {
                let s = pose.scale_at(b, aspect);
                let (pa, pb) = (pose.at(a, aspect), pose.at(b, aspect));
                draw_capsule(dst, pa, pb, r * s, skin, Some(nail), front);
            }
            Part::Limb { a, b, r, sleeve } => {
                let s = pose.scale_at(a, aspect);
                let (pa, pb) = (pose.at(a, aspect), pose.at(b, aspect));
                let c = if sleeve { hand.sleeve } else { skin };
                draw_capsule(dst, pa, pb, r * s, c, None, false);
            }
            Part::Palm { c, axes, rot } => {
                let s = pose.scale_at(c, aspect);
                let pc = pose.at(c, aspect);
                let ax = [axes[0] * s, axes[1] * s];
                let ext = ax[0].max(ax[1]) + 2.0;
                let rot = rot - pose.roll;
                paint(
                    dst,
                    [pc[0] - ext, pc[1] - ext, pc[0] + ext, pc[1] + ext],
                    |p| sd_ellipse(p, pc, ax, rot).0,
                    |p| {
                        let e = sd_ellipse(p, pc, ax, rot).1.min(1.0);
                        scale(skin, (0.92 - 0.28 * e.powi(4)) as f32 + 0.03 * wobble(p))
                    },
                    1.0,
                );
            }
        }
    }
}

/// A shaded capsule: a finger (`nail`: Some; redder toward the tip, two faint creases, an
/// optional nail) or a limb (None), with a soft contact shadow (light from the upper left).
fn draw_capsule(
    dst: &mut Img,
    a: [f64; 2],
    b: [f64; 2],
    r: f64,
    skin: Px,
    nail: Option<bool>,
    shadow: bool,
) {
    let ext = r * 2.0 + 3.0;
    let bbox = [
        a[0].min(b[0]) - ext,
        a[1].min(b[1]) - ext,
        a[0].max(b[0]) + ext,
        a[1].max(b[1]) + ext,
    ];
    if shadow {
        let off = [0.3 * r, 0.45 * r];
        let (sa, sb) = (
            [a[0] + off[0], a[1] + off[1]],
            [b[0] + off[0], b[1] + off[1]],
        );
        let soft = 0.6 * r;
        let x0 = bbox[0].floor().max(0.0) as usize;
        let y0 = bbox[1].floor().max(0.0) as usize;
        let x1 = (bbox[2].ceil().max(0.0) as usize).min(dst.w);
        let y1 = (bbox[3].ceil().max(0.0) as usize).min(dst.h);
        for y in y0..y1 {
            for x in x0..x1 {
                let p = [x as f64 + 0.5, y as f64 + 0.5];
                let (sd, _) = sd_capsule(p, sa, sb, r);
                let k = (0.5 - sd / (2.0 * soft)).clamp(0.0, 1.0) as f32 * 0.4;
                let i = y * dst.w + x;
                dst.px[i] = scale(dst.px[i], 1.0 - k);
            }
        }
    }
    let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2))
        .sqrt()
        .max(1e-6);
    let dir = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
    let tip: Px = [skin[0] * 1.04, skin[1] * 0.9, skin[2] * 0.9];
    let is_finger = nail.is_some();
    paint(
        dst,
        bbox,
        |p| sd_capsule(p, a, b, r).0,
        |p| {
            let (sd, t) = sd_capsule(p, a, b, r);
            let h = ((r + sd) / r).clamp(0.0, 1.0);
            let shade = 0.62 + 0.38 * (1.0 - h * h).max(0.0).sqrt();
            let mut c = scale(skin, shade as f32 + 0.03 * wobble(p));
            if is_finger {
                let along = (len - t * len) / r;
                let crease = 1.0
                    - 0.04 * (-((along - 1.6) / 0.12).powi(2)).exp()
                    - 0.04 * (-((along - 3.3) / 0.15).powi(2)).exp();
                c = scale(
                    mix(c, scale(tip, shade as f32), (t.powi(6) * 0.5) as f32),
                    crease as f32,
                );
            }
            c
        },
        1.0,
    );
    if nail == Some(true) {
        let nc = [b[0] - dir[0] * 0.4 * r, b[1] - dir[1] * 0.4 * r];
        let rot = dir[1].atan2(dir[0]).to_degrees();
        let ax = [0.55 * r, 0.6 * r];
        let color = mix(skin, [250.0, 226.0, 218.0], 0.5);
        paint(
            dst,
            [nc[0] - r, nc[1] - r, nc[0] + r, nc[1] + r],
            |p| sd_ellipse(p, nc, ax, rot).0.max(sd_capsule(p, a, b, r).0),
            |p| scale(color, (1.02 - 0.15 * sd_ellipse(p, nc, ax, rot).1) as f32),
            0.7,
        );
    }
}

// ------------------------------------------------------------------------------- devices

/// A phone or tablet front: body (metal rim), bezel, screen, optional front camera dot.
struct Device {
    w: usize,
    h: usize,
    rim: f64,
    /// Bezel width (px) at left/right and top/bottom.
    bezel: [f64; 2],
    radius: f64,
    screen_radius: f64,
    rim_color: Px,
    bezel_color: Px,
    camera: bool,
}

impl Device {
    /// The screen rectangle (x0, y0, width, height), whole px.
    fn screen_rect(&self) -> [usize; 4] {
        let x0 = (self.rim + self.bezel[0]).round() as usize;
        let y0 = (self.rim + self.bezel[1]).round() as usize;
        [x0, y0, self.w - 2 * x0, self.h - 2 * y0]
    }

    fn layer(&self, screen: &Img) -> Layer {
        let mut l = Layer::new(self.w, self.h);
        let (w, h) = (self.w as f64, self.h as f64);
        let c = [w / 2.0, h / 2.0];
        let [sx, sy, sw, sh] = self.screen_rect();
        let sc = [sx as f64 + sw as f64 / 2.0, sy as f64 + sh as f64 / 2.0];
        for y in 0..self.h {
            for x in 0..self.w {
                let p = [x as f64 + 0.5, y as f64 + 0.5];
                let i = y * self.w + x;
                let body = sd_round_rect(p, c, [w / 2.0, h / 2.0], self.radius);
                l.alpha[i] = cov(body);
                // The rim catches light from the upper left.
                let lit = (1.15 - 0.3 * (p[0] / w + p[1] / h)) as f32;
                let mut col = scale(self.rim_color, lit);
                let inner = sd_round_rect(
                    p,
                    c,
                    [w / 2.0 - self.rim, h / 2.0 - self.rim],
                    self.radius - self.rim,
                );
                // Glass over the bezel reflects a little of the room, brighter at the top.
                let glass = scale(self.bezel_color, (1.08 - 0.16 * p[1] / h) as f32);
                col = mix(col, glass, cov(inner));
                let s = sd_round_rect(
                    p,
                    sc,
                    [sw as f64 / 2.0, sh as f64 / 2.0],
                    self.screen_radius,
                );
                let sa = cov(s);
                if sa > 0.0 {
                    let qx = x.saturating_sub(sx).min(sw - 1).min(screen.w - 1);
                    let qy = y.saturating_sub(sy).min(sh - 1).min(screen.h - 1);
                    let q = screen.px[qy * screen.w + qx];
                    col = mix(col, q, sa);
                }
                l.screen[i] = sa;
                l.img.px[i] = col;
            }
        }
        if self.camera {
            let r = (0.18 * self.bezel[1]).max(1.5);
            disc(
                &mut l.img,
                [w / 2.0, self.rim + self.bezel[1] / 2.0],
                r,
                [18.0, 20.0, 30.0],
                1.0,
            );
            disc(
                &mut l.img,
                [w / 2.0 - 0.3 * r, self.rim + self.bezel[1] / 2.0 - 0.3 * r],
                0.35 * r,
                [70.0, 80.0, 110.0],
                0.8,
            );
        }
        l
    }
}

/// A screen's own look: raised black level, lower contrast, slightly blue.
fn screen_look(img: &mut Img, black: f32, contrast: f32, blue: f32) {
    for p in &mut img.px {
        *p = [
            black + p[0] * contrast * (1.0 - 0.5 * blue),
            black + p[1] * contrast,
            black * (1.0 + blue) + p[2] * contrast * (1.0 + blue),
        ];
    }
}

/// A phone's status bar: a dark strip with the time at the left, signal and battery at the
/// right, a punch-hole camera in the middle (`camera`); `h`: its height.
fn status_bar(img: &mut Img, h: f64, camera: bool, dark: bool, rng: &mut Rng) {
    let w = img.w as f64;
    if dark {
        for y in 0..(h.ceil() as usize).min(img.h) {
            for x in 0..img.w {
                let p = &mut img.px[y * img.w + x];
                *p = p.map(|v| 8.0 + 0.12 * v);
            }
        }
    }
    let white = [245.0, 245.0, 245.0];
    let gh = 0.36 * h;
    let top = 0.55 * h - gh / 2.0;
    let mut x = 0.09 * w;
    let hour = 1 + rng.index(12);
    let minute = rng.index(60);
    let digits: Vec<usize> = if hour >= 10 {
        vec![hour / 10, hour % 10, minute / 10, minute % 10]
    } else {
        vec![hour, minute / 10, minute % 10]
    };
    let n = digits.len();
    for (i, &dg) in digits.iter().enumerate() {
        glyph(img, [x, top], gh, SEGMENTS[dg], white, 1.0);
        x += 0.75 * gh;
        if i == n - 3 {
            let s = (0.15 * gh).max(0.9);
            rect(
                img,
                [x, top + 0.25 * gh, x + s, top + 0.25 * gh + s],
                0.0,
                white,
                1.0,
            );
            rect(
                img,
                [x, top + 0.7 * gh, x + s, top + 0.7 * gh + s],
                0.0,
                white,
                1.0,
            );
            x += 0.35 * gh;
        }
    }
    // Battery: outline, fill, cap.
    let bw = 1.9 * gh;
    let bx = w * 0.91 - bw;
    let s = (0.12 * gh).max(0.8);
    let (bt, bb) = (top + 0.05 * gh, top + 0.95 * gh);
    rect(img, [bx, bt, bx + bw, bb], 0.2 * gh, white, 0.6);
    rect(
        img,
        [bx + s, bt + s, bx + bw - s, bb - s],
        0.15 * gh,
        [20.0, 20.0, 20.0],
        0.9,
    );
    let level = rng.range(0.3, 0.95);
    rect(
        img,
        [
            bx + 2.0 * s,
            bt + 2.0 * s,
            bx + 2.0 * s + (bw - 4.0 * s) * level,
            bb - 2.0 * s,
        ],
        0.1 * gh,
        white,
        1.0,
    );
    rect(
        img,
        [
            bx + bw + 0.3 * s,
            top + 0.35 * gh,
            bx + bw + 2.0 * s,
            top + 0.65 * gh,
        ],
        0.0,
        white,
        0.6,
    );
    // Signal bars.
    let mut sx = bx - 1.9 * gh;
    for k in 0..4 {
        let hh = gh * (0.35 + 0.2 * f64::from(k));
        rect(
            img,
            [sx, top + gh - hh, sx + 0.26 * gh, top + gh],
            0.05 * gh,
            white,
            1.0,
        );
        sx += 0.38 * gh;
    }
    if camera {
        disc(img, [w / 2.0, 0.5 * h], 0.28 * h, [4.0, 4.0, 6.0], 1.0);
    }
}

/// Glare on a glossy front: a soft white ellipse (`band` false) or a diagonal streak, screen-
/// blended (never brighter than white).
fn add_glare(layer: &mut Layer, band: bool, strength: f32, rng: &mut Rng) {
    let (w, h) = (layer.img.w as f64, layer.img.h as f64);
    let c = [rng.range(0.2, 0.8) * w, rng.range(0.1, 0.55) * h];
    let angle = rng.range(25.0, 65.0) * if rng.chance(0.5) { 1.0 } else { -1.0 };
    let (s, co) = f64::to_radians(angle).sin_cos();
    let axes = if band {
        [0.07 * w.max(h), 2.0 * w.max(h)]
    } else {
        [0.35 * w, 0.18 * h]
    };
    for y in 0..layer.img.h {
        for x in 0..layer.img.w {
            let i = y * layer.img.w + x;
            if layer.alpha[i] <= 0.0 {
                continue;
            }
            let (dx, dy) = (x as f64 + 0.5 - c[0], y as f64 + 0.5 - c[1]);
            let (u, v) = (co * dx + s * dy, -s * dx + co * dy);
            let q = (u / axes[0]).powi(2) + (v / axes[1]).powi(2);
            let g = strength * (-q).exp() as f32;
            let p = &mut layer.img.px[i];
            *p = p.map(|v| v + (255.0 - v).max(0.0) * g);
        }
    }
}

/// Moiré between the screen's pixel grid and the camera's: the screen multiplied by two
/// nearly parallel gratings (period `period` px in the capture), which beat into slow bands.
fn add_moire(img: &mut Img, screen: &[f32], amp: f32, period: f64, angle_deg: f64) {
    let k1 = 2.0 * std::f64::consts::PI / period;
    let k2 = 2.0 * std::f64::consts::PI / (period * 1.06);
    let (s1, c1) = angle_deg.to_radians().sin_cos();
    let (s2, c2) = (angle_deg + 4.0).to_radians().sin_cos();
    for (i, p) in img.px.iter_mut().enumerate() {
        let m = screen[i];
        if m <= 0.0 {
            continue;
        }
        let (x, y) = ((i % img.w) as f64, (i / img.w) as f64);
        let g = (k1 * (c1 * x + s1 * y)).sin() + 0.7 * (k2 * (c2 * x + s2 * y)).sin();
        let f = 1.0 + amp * m * (g / 1.7) as f32;
        *p = scale(*p, f);
    }
}

/// Composes: the room (from `scene`, at capture size `cap`), hand parts behind the medium, the medium, moiré, hand parts in front, camera.
struct Scene<'a> {
    layer: &'a Layer,
    pose: Pose,
    aspect: f64,
    hand: Option<Hand>,
    moire: Option<(f32, f64, f64)>,
}

fn compose(scene: &RgbImage, cap: [usize; 2], sc: &Scene, rng: &mut Rng) -> RgbImage {
    let mut img = backdrop(scene, cap, rng);
    if let Some(hand) = &sc.hand {
        draw_parts(&mut img, hand, false, &sc.pose, sc.aspect);
    }
    let mut screen = vec![0.0f32; img.w * img.h];
    render(&mut img, &mut screen, sc.layer, &sc.pose);
    if let Some((amp, period, angle)) = sc.moire {
        add_moire(&mut img, &screen, amp, period, angle);
    }
    if let Some(hand) = &sc.hand {
        draw_parts(&mut img, hand, true, &sc.pose, sc.aspect);
    }
    camera(img, rng)
}

// ------------------------------------------------------------------------- phone replay

fn phone_replay(src: &Source, scene: &RgbImage, v: u64, rng: &mut Rng) -> Composite {
    // (capture, displayed face px, face / screen width, centre, roll, yaw, pitch, grip, skin)
    let (cap, face_px, frac, center, roll, yaw, pitch, grip, skin) = match v {
        0 => (
            [1280, 720],
            100.0,
            0.55,
            [0.42, 0.50],
            5.0,
            10.0,
            -6.0,
            0,
            0,
        ),
        1 => (
            [960, 720],
            140.0,
            0.50,
            [0.57, 0.64],
            -9.0,
            -12.0,
            8.0,
            1,
            5,
        ),
        2 => ([1280, 720], 205.0, 0.58, [0.60, 0.66], 3.0, 6.0, 12.0, 2, 2),
        _ => (
            [1280, 720],
            84.0,
            0.38,
            [0.62, 0.47],
            -12.0,
            18.0,
            -10.0,
            3,
            3,
        ),
    };
    let face_px = rng.jitter(face_px, 0.06 * face_px);
    let frac = rng.jitter(frac, 0.03);
    let roll = rng.jitter(roll, 2.0);
    let yaw = rng.jitter(yaw, 3.0);
    let pitch = rng.jitter(pitch, 3.0);
    let center = [rng.jitter(center[0], 0.03), rng.jitter(center[1], 0.03)];
    let cap_f = [cap[0] as f64, cap[1] as f64];

    // The selfie on the screen: cropped around the face, letterboxed in black if the photo is
    // not tall enough.
    let aspect_screen = 19.5 / 9.0;
    let cw = FACE_W * src.d / frac;
    let want = [src.center[0], src.center[1] + 0.12 * cw * aspect_screen];
    let (c, cw, ch) = fit_crop(src.size(), want, cw, cw * aspect_screen, frac / 0.58);
    let frac = FACE_W * src.d / cw;
    let bezel = rng.range(0.03, 0.06);
    let rim = 0.009;
    let screen_w = face_px / frac;
    let body_w = screen_w / (1.0 - 2.0 * (bezel + rim));
    let body_h = screen_w * aspect_screen + 2.0 * (bezel + rim) * body_w;
    let lw = (body_w * OVERSAMPLE).round() as usize;
    let lh = (body_h * OVERSAMPLE).round() as usize;
    let dark_gray = v % 2 == 1;
    let bezel_gray = if dark_gray {
        rng.range(32.0, 48.0)
    } else {
        rng.range(6.0, 14.0)
    } as f32;
    let rim_gray = rng.range(105.0, 175.0) as f32;
    let dev = Device {
        w: lw,
        h: lh,
        rim: rim * lw as f64,
        bezel: [bezel * lw as f64, bezel * lw as f64],
        radius: 0.14 * lw as f64,
        screen_radius: (0.14 - bezel - rim).max(0.03) * lw as f64,
        rim_color: [rim_gray, rim_gray * 0.99, rim_gray * 1.02],
        bezel_color: [bezel_gray, bezel_gray, bezel_gray * 1.08],
        camera: false,
    };
    let [_, _, sw, sh] = dev.screen_rect();
    let mut content = crop(src.img, c, cw, ch, [sw, sh], Some([0.0; 3]));
    let bar = 0.11 * sw as f64;
    status_bar(&mut content, bar, true, rng.chance(0.7), rng);
    let hw = 0.36 * sw as f64;
    let hy = sh as f64 - 0.03 * sw as f64;
    rect(
        &mut content,
        [
            (sw as f64 - hw) / 2.0,
            hy - 0.014 * sw as f64,
            (sw as f64 + hw) / 2.0,
            hy,
        ],
        0.007 * sw as f64,
        [235.0, 235.0, 235.0],
        0.85,
    );
    let black = rng.range(10.0, 26.0) as f32;
    let contrast = rng.range(0.8, 0.9) as f32;
    let blue = rng.range(0.03, 0.08) as f32;
    screen_look(&mut content, black, contrast, blue);
    let mut layer = dev.layer(&content);
    let glare = v == 1 || v == 2 || v == 3;
    if glare {
        add_glare(&mut layer, v == 3, rng.range(0.25, 0.45) as f32, rng);
    }

    let pose = Pose {
        cap: cap_f,
        size: [body_w, body_h],
        center: [center[0] * cap_f[0], center[1] * cap_f[1]],
        roll,
        yaw,
        pitch,
        bend: 0.0,
    };
    let aspect = body_h / body_w;
    let r = 0.11;
    let a = aspect;
    let mut hand = Hand::new(rng, skin);
    let grip_name = match grip {
        0 | 1 => {
            // A hand behind the phone: the fingers wrap the right edge (their tips come over
            // the bezel), the thumb crosses the left edge, the heel of the hand and the wrist
            // show below.
            let ys: Vec<f64> = (0..4)
                .map(|k| a * (0.5 + 0.1 * f64::from(k)) + rng.jitter(0.0, 0.03))
                .collect();
            let (mut behind, mut front) = finger_wrap(true, &ys, r);
            let c = [0.55, a * 0.86];
            behind.push(palm(c, [0.55, 0.45], 75.0));
            behind.extend(arm_parts(c, unit([0.25, 1.0]), r));
            behind.push(limb([0.3, a * 0.92], [-0.06, a * 0.74], r * 1.3, false));
            front.push(finger([-0.06, a * 0.74], [0.1, a * 0.61], r * 1.12, true));
            if grip == 1 {
                hand.add((mirror(&behind), mirror(&front)));
                "left-hand grip"
            } else {
                hand.add((behind, front));
                "right-hand grip"
            }
        }
        2 => {
            hand.add(thumb_grip([0.3, a], [0.15, -1.0], 0.12, r, [0.25, 1.0]));
            let ys = [a * 0.78, a * 0.89];
            hand.add(finger_wrap(true, &ys, r));
            "thumb at the bottom"
        }
        _ => {
            hand.add(thumb_grip([0.0, a * 0.9], [1.0, -0.5], 0.1, r, [-0.4, 1.0]));
            "thumb at a corner"
        }
    };
    let hand = Some(hand);
    let moire_amp = rng.range(0.03, 0.08) as f32;
    let period = rng.range(3.0, 6.0);
    let moire = if v != 2 {
        Some((moire_amp, period, rng.range(0.0, 180.0)))
    } else {
        None
    };
    let bottom_out = pose.corners()[2][1].max(pose.corners()[3][1]) > cap_f[1];
    let rgb = compose(
        scene,
        cap,
        &Scene {
            layer: &layer,
            pose,
            aspect,
            hand,
            moire,
        },
        rng,
    );
    Composite {
        kind: "phone-replay",
        name: format!(
            "phone {}: face {:.0} px ({:.0} % of screen), roll {:+.0}°, yaw {:+.0}°, pitch {:+.0}°, {} bezel, {}, {} skin{}{}{}",
            v + 1,
            face_px,
            100.0 * frac,
            roll,
            yaw,
            pitch,
            if dark_gray { "dark-gray" } else { "black" },
            grip_name,
            SKIN_NAMES[skin],
            if glare { ", glare" } else { "" },
            if moire.is_some() { ", moiré" } else { "" },
            if bottom_out {
                ", bottom out of frame"
            } else {
                ""
            },
        ),
        rgb,
    }
}

// ------------------------------------------------------------------------ tablet replay

fn tablet_replay(src: &Source, scene: &RgbImage, v: u64, rng: &mut Rng) -> Composite {
    // (capture, fill of the capture height, landscape, white bezel, dark viewer, roll, yaw,
    // pitch, skin)
    let (cap, fill, landscape, white, dark_viewer, roll, yaw, pitch, skin) = match v {
        0 => ([1280, 720], 0.88, false, true, true, 4.0, -8.0, 5.0, 2),
        1 => ([960, 720], 0.68, false, false, false, -6.0, 12.0, -8.0, 4),
        _ => ([1280, 720], 0.93, true, false, true, 3.0, 6.0, 9.0, 0),
    };
    let fill = rng.jitter(fill, 0.03);
    let roll = rng.jitter(roll, 2.0);
    let yaw = rng.jitter(yaw, 3.0);
    let pitch = rng.jitter(pitch, 3.0);
    let cap_f = [cap[0] as f64, cap[1] as f64];
    let aspect = if landscape { 0.75 } else { 4.0 / 3.0 };
    let body_h = fill * cap_f[1];
    let body_w = body_h / aspect;
    let lw = (body_w * OVERSAMPLE).round() as usize;
    let lh = (body_h * OVERSAMPLE).round() as usize;
    let bezel = rng.range(0.055, 0.075) * lw.min(lh) as f64;
    let (rim_c, bezel_c): (Px, Px) = if white {
        ([200.0, 200.0, 205.0], [236.0, 236.0, 238.0])
    } else {
        ([70.0, 70.0, 74.0], [16.0, 16.0, 18.0])
    };
    let dev = Device {
        w: lw,
        h: lh,
        rim: 0.006 * lw.min(lh) as f64,
        bezel: [bezel, bezel],
        radius: 0.06 * lw.min(lh) as f64,
        screen_radius: 0.012 * lw.min(lh) as f64,
        rim_color: rim_c,
        bezel_color: bezel_c,
        camera: true,
    };
    let [_, _, sw, sh] = dev.screen_rect();
    let viewer: Px = if dark_viewer {
        [14.0, 14.0, 16.0]
    } else {
        [236.0, 238.0, 240.0]
    };
    let mut content = Img::filled(sw, sh, viewer);
    // The passport photo on the screen: 60-70 % of the screen width (portrait) or height.
    let (pw, ph) = if landscape {
        let ph = (0.72 * sh as f64).round();
        ((ph * 35.0 / 45.0).round(), ph)
    } else {
        let pw = (rng.range(0.6, 0.7) * sw as f64).round();
        (pw, (pw * 45.0 / 35.0).round())
    };
    let bg: Px = if v == 1 {
        [224.0, 230.0, 238.0]
    } else {
        [244.0, 244.0, 242.0]
    };
    let (photo, face_frac) = passport_portrait(src, [pw as usize, ph as usize], bg, v != 2);
    let ox = ((sw as f64 - pw) / 2.0).round() as usize;
    let oy = ((sh as f64 - ph) / 2.0 + 0.02 * sh as f64).round() as usize;
    for y in 0..photo.h {
        for x in 0..photo.w {
            if y + oy < sh && x + ox < sw {
                content.px[(y + oy) * sw + x + ox] = photo.px[y * photo.w + x];
            }
        }
    }
    status_bar(&mut content, 0.035 * sh.max(sw) as f64, false, false, rng);
    let black = rng.range(8.0, 20.0) as f32;
    screen_look(
        &mut content,
        black,
        rng.range(0.82, 0.92) as f32,
        rng.range(0.03, 0.07) as f32,
    );
    let mut layer = dev.layer(&content);
    let glare = v == 1;
    if glare {
        add_glare(&mut layer, true, rng.range(0.2, 0.35) as f32, rng);
    }
    let face_px = face_frac * pw / OVERSAMPLE;
    let pose = Pose {
        cap: cap_f,
        size: [body_w, body_h],
        center: [
            rng.jitter(0.5, 0.06) * cap_f[0],
            rng.jitter(0.52, 0.03) * cap_f[1],
        ],
        roll,
        yaw,
        pitch,
        bend: 0.0,
    };
    // Two hands at the sides: palms behind, thumbs over the bezel.
    let r = if landscape { 0.035 } else { 0.045 };
    let a = aspect;
    let yl = rng.range(0.5, 0.7) * a;
    let yr = rng.range(0.4, 0.65) * a;
    let mut hand = Hand::new(rng, skin);
    let reach = rng.range(0.04, 0.07);
    hand.add(thumb_grip([0.0, yl], [1.0, -0.35], reach, r, [-0.7, 1.0]));
    let (b2, f2) = thumb_grip([0.0, yr], [1.0, -0.3], reach, r, [-0.6, 1.0]);
    hand.add((mirror(&b2), mirror(&f2)));
    let moire = Some((
        rng.range(0.03, 0.07) as f32,
        rng.range(3.0, 6.0),
        rng.range(0.0, 180.0),
    ));
    let rgb = compose(
        scene,
        cap,
        &Scene {
            layer: &layer,
            pose,
            aspect,
            hand: Some(hand),
            moire,
        },
        rng,
    );
    Composite {
        kind: "tablet-replay",
        name: format!(
            "tablet {}: {} {:.0} % of capture height, face {:.0} px, roll {:+.0}°, yaw {:+.0}°, pitch {:+.0}°, {} bezel, {} viewer, two {} hands{}",
            v + 1,
            if landscape { "landscape" } else { "portrait" },
            100.0 * fill,
            face_px,
            roll,
            yaw,
            pitch,
            if white { "white" } else { "black" },
            if dark_viewer { "dark" } else { "light" },
            SKIN_NAMES[skin],
            if glare { ", glare" } else { "" },
        ),
        rgb,
    }
}

// -------------------------------------------------------------------------------- prints

/// Ink on paper: lower contrast and saturation, a warm white point.
fn paper_look(img: &mut Img, paper: Px) {
    for p in &mut img.px {
        let l = (p[0] + p[1] + p[2]) / 3.0;
        *p = std::array::from_fn(|k| {
            let v = (l + 0.88 * (p[k] - l)) / 255.0;
            paper[k] * (0.07 + 0.9 * v.clamp(0.0, 1.0).powf(1.08))
        });
    }
}

/// A lighting gradient across a flat medium: `lo`..`hi` along a random direction.
fn lighting(layer: &mut Layer, lo: f32, hi: f32, rng: &mut Rng) {
    let (w, h) = (layer.img.w as f64, layer.img.h as f64);
    let (s, c) = rng.range(0.0, 2.0 * std::f64::consts::PI).sin_cos();
    layer.modulate(|x, y| {
        let t = ((x / w - 0.5) * c + (y / h - 0.5) * s + 0.5).clamp(0.0, 1.0);
        lo + (hi - lo) * t as f32
    });
}

fn print(src: &Source, scene: &RgbImage, v: u64, rng: &mut Rng) -> Composite {
    // (capture, sheet height / capture height, margin, bend radius in sheet widths (0: flat),
    // roll, yaw, pitch, grip, skin)
    let (cap, fill, margin, bend, roll, yaw, pitch, grip, skin) = match v {
        0 => ([1280, 720], 0.74, 0.05, 0.0, 3.0, 10.0, -4.0, 0, 1),
        1 => ([960, 720], 0.62, 0.0, 0.9, -7.0, -6.0, 12.0, 1, 5),
        _ => ([1280, 720], 0.5, 0.08, -1.2, 10.0, 14.0, 6.0, 2, 3),
    };
    let fill = rng.jitter(fill, 0.04);
    let roll = rng.jitter(roll, 2.0);
    let yaw = rng.jitter(yaw, 3.0);
    let pitch = rng.jitter(pitch, 3.0);
    let cap_f = [cap[0] as f64, cap[1] as f64];
    let aspect = std::f64::consts::SQRT_2;
    let mut sheet_h = fill * cap_f[1];
    let m = margin * sheet_h / aspect;
    let printed_aspect = (sheet_h - 2.0 * m) / (sheet_h / aspect - 2.0 * m);
    // Head and shoulders.
    let cw = rng.range(4.6, 5.6) * src.d;
    let want = [src.center[0], src.center[1] + 0.22 * cw * printed_aspect];
    let (c, cw, ch) = fit_crop(src.size(), want, cw, cw * printed_aspect, 0.0);
    let face_frac = FACE_W * src.d / cw;
    let mut face_px = face_frac * (sheet_h / aspect - 2.0 * m);
    if face_px < 80.0 {
        sheet_h *= 80.0 / face_px;
        face_px = 80.0;
    }
    let sheet_w = sheet_h / aspect;
    let lw = (sheet_w * OVERSAMPLE).round() as usize;
    let lh = (sheet_h * OVERSAMPLE).round() as usize;
    let ml = (margin * lw as f64).round() as usize;
    let paper: Px = [
        rng.range(246.0, 252.0) as f32,
        rng.range(238.0, 246.0) as f32,
        rng.range(220.0, 234.0) as f32,
    ];
    let mut photo = crop(src.img, c, cw, ch, [lw - 2 * ml, lh - 2 * ml], None);
    box_blur(&mut photo, 1);
    paper_look(&mut photo, paper);
    let mut layer = Layer::new(lw, lh);
    for y in 0..lh {
        for x in 0..lw {
            let i = y * lw + x;
            // Sharp corners, a hint of a rounded cut.
            let p = [x as f64 + 0.5, y as f64 + 0.5];
            let half = [lw as f64 / 2.0, lh as f64 / 2.0];
            layer.alpha[i] = cov(sd_round_rect(p, half, half, 1.5));
            let inside = x >= ml && y >= ml && x < lw - ml && y < lh - ml;
            layer.img.px[i] = if inside {
                photo.px[(y - ml) * photo.w + x - ml]
            } else {
                paper
            };
        }
    }
    let exposure = rng.range(0.82, 1.0) as f32;
    lighting(
        &mut layer,
        exposure * rng.range(0.7, 0.85) as f32,
        exposure * 1.03,
        rng,
    );
    let bend_px = bend * sheet_w;
    if bend != 0.0 {
        // A bent sheet: the faces turned away from the light are darker.
        let lwf = lw as f64;
        let (r, tilt) = (bend * lwf, rng.range(-0.3, 0.3));
        layer.modulate(|x, _| {
            let ang = (x - lwf / 2.0) / r;
            (1.0 - 0.22 * (ang + tilt).sin().abs().powf(1.5) + 0.06 * (ang + tilt).cos()) as f32
        });
    }
    let pose = Pose {
        cap: cap_f,
        size: [sheet_w, sheet_h],
        center: [
            rng.jitter(0.5, 0.1) * cap_f[0],
            rng.jitter(0.5, 0.05) * cap_f[1],
        ],
        roll,
        yaw,
        pitch,
        bend: bend_px,
    };
    let r = 0.045 * (0.74 / fill).sqrt();
    let a = aspect;
    let x0 = rng.range(0.5, 0.7);
    let mut hand = Hand::new(rng, skin);
    let grip_name = match grip {
        0 => {
            hand.add(thumb_grip([x0, a], [-0.1, -1.0], 0.05, r, [0.3, 1.0]));
            "thumb at the bottom edge"
        }
        1 => {
            hand.add(thumb_grip(
                [0.0, a * 0.55],
                [1.0, -0.2],
                0.05,
                r,
                [-1.0, 0.8],
            ));
            "thumb at the left edge"
        }
        _ => {
            hand.add(thumb_grip([0.85, 0.0], [-0.2, 1.0], 0.06, r, [0.5, -1.0]));
            "pinched at the top"
        }
    };
    let rgb = compose(
        scene,
        cap,
        &Scene {
            layer: &layer,
            pose,
            aspect,
            hand: Some(hand),
            moire: None,
        },
        rng,
    );
    Composite {
        kind: "print",
        name: format!(
            "print {}: sheet {:.0} % of capture height, face {:.0} px, {}, {}, roll {:+.0}°, yaw {:+.0}°, pitch {:+.0}°, {}, {} skin",
            v + 1,
            100.0 * sheet_h / cap_f[1],
            face_px,
            if margin > 0.0 {
                format!("{:.0} % white margin", 100.0 * margin)
            } else {
                "borderless".to_string()
            },
            if bend > 0.0 {
                "bent (edges away)"
            } else if bend < 0.0 {
                "bent (edges toward)"
            } else {
                "flat"
            },
            roll,
            yaw,
            pitch,
            grip_name,
            SKIN_NAMES[skin],
        ),
        rgb,
    }
}

// ------------------------------------------------------------------------------- ID card

fn id_card(src: &Source, scene: &RgbImage, v: u64, rng: &mut Rng) -> Composite {
    // (capture, card width / capture width, pale background, header colour, roll, yaw, pitch,
    // grip, skin)
    let (cap, fill, pale, header, roll, yaw, pitch, grip, skin) = match v {
        0 => (
            [1280, 720],
            0.6,
            [214.0, 228.0, 240.0],
            [28.0, 58.0, 118.0],
            -4.0,
            14.0,
            3.0,
            0,
            0,
        ),
        1 => (
            [1280, 720],
            0.47,
            [228.0, 238.0, 218.0],
            [126.0, 30.0, 40.0],
            8.0,
            -5.0,
            -15.0,
            1,
            4,
        ),
        _ => (
            [960, 720],
            0.74,
            [240.0, 226.0, 230.0],
            [22.0, 92.0, 64.0],
            2.0,
            -10.0,
            10.0,
            2,
            2,
        ),
    };
    let pale: Px = pale;
    let header: Px = header;
    let fill = rng.jitter(fill, 0.03);
    let roll = rng.jitter(roll, 2.0);
    let yaw = rng.jitter(yaw, 3.0);
    let pitch = rng.jitter(pitch, 3.0);
    let cap_f = [cap[0] as f64, cap[1] as f64];
    let aspect = 54.0 / 85.6;
    let card_w = fill * cap_f[0];
    let card_h = card_w * aspect;
    let lw = (card_w * OVERSAMPLE).round() as usize;
    let lh = (card_w * aspect * OVERSAMPLE).round() as usize;
    let (w, h) = (lw as f64, lh as f64);
    let mut layer = Layer::new(lw, lh);
    let phase = rng.range(0.0, 6.3);
    let (f1, f2) = (rng.range(32.0, 44.0), rng.range(28.0, 40.0));
    let rosette = [rng.range(0.6, 0.85) * w, rng.range(0.45, 0.7) * h];
    for y in 0..lh {
        for x in 0..lw {
            let i = y * lw + x;
            let p = [x as f64 + 0.5, y as f64 + 0.5];
            layer.alpha[i] = cov(sd_round_rect(
                p,
                [w / 2.0, h / 2.0],
                [w / 2.0, h / 2.0],
                0.037 * w,
            ));
            let (u, vv) = (p[0] / w, p[1] / w);
            // Guilloche: two families of wavy lines and a rosette, over a diagonal gradient.
            let g1 = (std::f64::consts::TAU
                * (u * f1 + 0.8 * (std::f64::consts::TAU * vv * 3.1 + phase).sin()))
            .sin();
            let g2 = (std::f64::consts::TAU
                * (vv * f2 + 0.7 * (std::f64::consts::TAU * u * 2.3).sin()))
            .sin();
            let (dx, dy) = ((p[0] - rosette[0]) / w, (p[1] - rosette[1]) / w);
            let rr = (dx * dx + dy * dy).sqrt();
            let g3 = (rr * 180.0 + 3.0 * (8.0 * dy.atan2(dx)).sin()).sin() * (-rr * 6.0).exp();
            let lines = ((g1.abs() - 0.9) / 0.1).max(0.0)
                + ((g2.abs() - 0.9) / 0.1).max(0.0)
                + ((g3.abs() - 0.8) / 0.2).max(0.0);
            let grad = (0.55 * u + 0.45 * p[1] / h) as f32;
            let base = mix(pale, [250.0, 250.0, 248.0], 0.5 * grad);
            let line_c = mix(pale, header, 0.35);
            layer.img.px[i] = mix(base, line_c, (0.35 * lines).min(0.6) as f32);
        }
    }
    // Header band with a title and an emblem.
    let band = 0.17 * h;
    rect(&mut layer.img, [0.0, 0.0, w, band], 0.0, header, 1.0);
    disc(
        &mut layer.img,
        [0.07 * w, band / 2.0],
        0.33 * band,
        [214.0, 178.0, 82.0],
        1.0,
    );
    text_line(
        &mut layer.img,
        [0.14 * w, 0.3 * band],
        0.42 * band,
        rng.range(0.45, 0.7) * w,
        [246.0, 246.0, 246.0],
        rng,
    );
    // Portrait, left third.
    let pw = (0.27 * w).round();
    let ph = (pw * 1.28).round();
    let (px0, py0) = ((0.05 * w).round(), (band + 0.07 * h).round());
    let cw = 3.3 * src.d;
    let want = [src.center[0], src.center[1] + 0.1 * cw];
    let (c, cw, ch) = fit_crop(src.size(), want, cw, cw * 1.28, 0.0);
    let mut photo = crop(src.img, c, cw, ch, [pw as usize, ph as usize], None);
    paper_look(&mut photo, [250.0, 248.0, 244.0]);
    rect(
        &mut layer.img,
        [px0 - 2.0, py0 - 2.0, px0 + pw + 2.0, py0 + ph + 2.0],
        0.0,
        [150.0, 150.0, 150.0],
        0.8,
    );
    for y in 0..photo.h {
        for x in 0..photo.w {
            let (lx, ly) = (px0 as usize + x, py0 as usize + y);
            if lx < lw && ly < lh {
                layer.img.px[ly * lw + lx] = photo.px[y * photo.w + x];
            }
        }
    }
    let face_px = FACE_W * src.d / cw * pw / OVERSAMPLE;
    // Hologram: an iridescent translucent disc over the portrait's corner.
    let hc = [px0 + 0.92 * pw, py0 + 0.88 * ph];
    let hr = 0.09 * w;
    paint(
        &mut layer.img,
        [
            hc[0] - hr - 1.0,
            hc[1] - hr - 1.0,
            hc[0] + hr + 1.0,
            hc[1] + hr + 1.0,
        ],
        |p| ((p[0] - hc[0]).powi(2) + (p[1] - hc[1]).powi(2)).sqrt() - hr,
        |p| {
            let t = (p[1] - hc[1]).atan2(p[0] - hc[0]) * 2.0;
            [
                200.0 + 55.0 * t.sin() as f32,
                200.0 + 55.0 * (t + 2.1).sin() as f32,
                200.0 + 55.0 * (t + 4.2).sin() as f32,
            ]
        },
        0.22,
    );
    // Text fields on the right two thirds: a small grey label over a dark value.
    let tx = 0.37 * w;
    let mut ty = band + 0.07 * h;
    let dark = [30.0, 32.0, 40.0];
    while ty < 0.86 * h {
        text_line(
            &mut layer.img,
            [tx, ty],
            0.028 * h,
            rng.range(0.1, 0.2) * w,
            [120.0, 120.0, 130.0],
            rng,
        );
        ty += 0.045 * h;
        text_line(
            &mut layer.img,
            [tx, ty],
            0.05 * h,
            rng.range(0.18, 0.55) * w,
            dark,
            rng,
        );
        ty += 0.1 * h;
    }
    // Signature under the portrait.
    let mut prev = [px0 + 0.05 * pw, py0 + ph + 0.07 * h];
    let amp = 0.03 * h;
    for k in 1..40 {
        let t = f64::from(k) / 39.0;
        let q = [
            px0 + (0.05 + 0.9 * t) * pw,
            py0 + ph + 0.07 * h + amp * (t * 19.0 + phase).sin() * (1.0 - 0.5 * t),
        ];
        let (a0, b0) = (prev, q);
        let r = 0.005 * w;
        paint(
            &mut layer.img,
            [
                a0[0].min(b0[0]) - 3.0,
                a0[1].min(b0[1]) - 3.0,
                a0[0].max(b0[0]) + 3.0,
                a0[1].max(b0[1]) + 3.0,
            ],
            |p| sd_capsule(p, a0, b0, r).0,
            |_| [30.0, 40.0, 90.0],
            0.85,
        );
        prev = q;
    }
    // The card's edge (its thickness catches the light) and a lighting gradient.
    for y in 0..lh {
        for x in 0..lw {
            let p = [x as f64 + 0.5, y as f64 + 0.5];
            let sd = sd_round_rect(p, [w / 2.0, h / 2.0], [w / 2.0, h / 2.0], 0.037 * w);
            if sd > -2.5 {
                let i = y * lw + x;
                layer.img.px[i] = mix(layer.img.px[i], [235.0, 235.0, 232.0], 0.6);
            }
        }
    }
    let exposure = rng.range(0.85, 1.0) as f32;
    lighting(
        &mut layer,
        exposure * rng.range(0.72, 0.88) as f32,
        exposure * 1.02,
        rng,
    );
    if rng.chance(0.6) {
        add_glare(
            &mut layer,
            rng.chance(0.5),
            rng.range(0.12, 0.25) as f32,
            rng,
        );
    }
    let pose = Pose {
        cap: cap_f,
        size: [card_w, card_h],
        center: [
            rng.jitter(0.5, 0.08) * cap_f[0],
            rng.jitter(0.5, 0.06) * cap_f[1],
        ],
        roll,
        yaw,
        pitch,
        bend: 0.0,
    };
    let r = 0.09;
    let a = aspect;
    let mut hand = Hand::new(rng, skin);
    let grip_name = match grip {
        0 => {
            hand.add(thumb_grip(
                [1.0, a * 0.6],
                [-1.0, -0.4],
                0.09,
                r,
                [1.0, 0.9],
            ));
            "thumb at the right edge"
        }
        1 => {
            hand.add(thumb_grip([0.06, a], [0.5, -1.0], 0.08, r, [-0.5, 1.0]));
            "thumb at the bottom-left corner"
        }
        _ => {
            hand.add(thumb_grip(
                [0.0, a * 0.9],
                [1.0, -0.25],
                0.05,
                r,
                [-1.0, 0.7],
            ));
            "thumb over the lower left edge"
        }
    };
    let rgb = compose(
        scene,
        cap,
        &Scene {
            layer: &layer,
            pose,
            aspect,
            hand: Some(hand),
            moire: None,
        },
        rng,
    );
    Composite {
        kind: "id-card",
        name: format!(
            "ID card {}: card {:.0} % of capture width, face {:.0} px, roll {:+.0}°, yaw {:+.0}°, pitch {:+.0}°, {}, {} skin",
            v + 1,
            100.0 * fill,
            face_px,
            roll,
            yaw,
            pitch,
            grip_name,
            SKIN_NAMES[skin],
        ),
        rgb,
    }
}

// ------------------------------------------------------------------------ passport photo

fn passport_photo(src: &Source, scene: &RgbImage, v: u64, rng: &mut Rng) -> Composite {
    // (capture, face px, background, roll, yaw, pitch, grip, skin)
    let (cap, face_px, bg, roll, yaw, pitch, grip, skin) = match v {
        0 => (
            [1280, 720],
            120.0,
            [214.0, 224.0, 234.0],
            6.0,
            -6.0,
            4.0,
            0,
            3,
        ),
        _ => (
            [960, 720],
            180.0,
            [246.0, 246.0, 244.0],
            -10.0,
            15.0,
            -8.0,
            1,
            1,
        ),
    };
    let bg: Px = bg;
    let face_px = rng.jitter(face_px, 0.08 * face_px);
    let roll = rng.jitter(roll, 2.0);
    let yaw = rng.jitter(yaw, 3.0);
    let pitch = rng.jitter(pitch, 3.0);
    let cap_f = [cap[0] as f64, cap[1] as f64];
    let aspect = 45.0 / 35.0;
    // First pass to learn the face fraction, then the photo at its final resolution.
    let (_, frac) = passport_portrait(src, [35, 45], bg, false);
    let photo_w = face_px / frac;
    let photo_h = photo_w * aspect;
    let lw = (photo_w * OVERSAMPLE).round() as usize;
    let lh = (photo_h * OVERSAMPLE).round() as usize;
    let border = if v == 0 {
        (0.03 * lw as f64).round() as usize
    } else {
        0
    };
    let paper: Px = [250.0, 247.0, 240.0];
    let (mut photo, _) = passport_portrait(src, [lw - 2 * border, lh - 2 * border], bg, true);
    box_blur(&mut photo, 1);
    paper_look(&mut photo, paper);
    let mut layer = Layer::new(lw, lh);
    for y in 0..lh {
        for x in 0..lw {
            let i = y * lw + x;
            let p = [x as f64 + 0.5, y as f64 + 0.5];
            let half = [lw as f64 / 2.0, lh as f64 / 2.0];
            layer.alpha[i] = cov(sd_round_rect(p, half, half, 1.0));
            let inside = x >= border && y >= border && x < lw - border && y < lh - border;
            layer.img.px[i] = if inside {
                photo.px[(y - border) * photo.w + x - border]
            } else {
                paper
            };
        }
    }
    lighting(&mut layer, rng.range(0.75, 0.9) as f32, 1.0, rng);
    add_glare(&mut layer, false, rng.range(0.1, 0.25) as f32, rng);
    let pose = Pose {
        cap: cap_f,
        size: [photo_w, photo_h],
        center: [
            rng.jitter(0.5, 0.12) * cap_f[0],
            rng.jitter(0.45, 0.06) * cap_f[1],
        ],
        roll,
        yaw,
        pitch,
        bend: 0.0,
    };
    let r = 0.22;
    let a = aspect;
    let mut hand = Hand::new(rng, skin);
    let grip_name = match grip {
        0 => {
            hand.add(thumb_grip([0.85, a], [-0.4, -1.0], 0.1, r, [0.5, 1.0]));
            "pinched at the bottom corner"
        }
        _ => {
            hand.add(thumb_grip(
                [0.0, a * 0.84],
                [1.0, -0.15],
                0.04,
                r,
                [-1.0, 0.6],
            ));
            "pinched at the left edge"
        }
    };
    let rgb = compose(
        scene,
        cap,
        &Scene {
            layer: &layer,
            pose,
            aspect,
            hand: Some(hand),
            moire: None,
        },
        rng,
    );
    Composite {
        kind: "passport-photo",
        name: format!(
            "passport photo {}: face {:.0} px, {}, roll {:+.0}°, yaw {:+.0}°, pitch {:+.0}°, {}, {} skin",
            v + 1,
            face_px,
            if border > 0 {
                "white border"
            } else {
                "borderless"
            },
            roll,
            yaw,
            pitch,
            grip_name,
            SKIN_NAMES[skin],
        ),
        rgb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic "photo": a skin-coloured ellipse with two dark eyes on a textured background.
    fn fake_face() -> (RgbImage, [f64; 2], f64) {
        let img = RgbImage::from_fn(400, 500, |x, y| {
            let (dx, dy) = (
                (f64::from(x) - 200.0) / 90.0,
                (f64::from(y) - 230.0) / 120.0,
            );
            if ((f64::from(x) - 165.0).powi(2) + (f64::from(y) - 200.0).powi(2)) < 80.0
                || ((f64::from(x) - 235.0).powi(2) + (f64::from(y) - 200.0).powi(2)) < 80.0
            {
                image::Rgb([30, 25, 20])
            } else if dx * dx + dy * dy < 1.0 {
                image::Rgb([210, 160, 130])
            } else {
                image::Rgb([(x % 97) as u8 + 60, (y % 89) as u8 + 60, 120])
            }
        });
        (img, [200.0, 235.0], 70.0)
    }

    fn fake_scene() -> RgbImage {
        RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x / 3) as u8, (y / 2) as u8, 90])
        })
    }

    #[test]
    fn catalogue_has_every_kind_at_capture_sizes() {
        let (face, c, d) = fake_face();
        let all = catalogue(&face, c, d, &fake_scene(), 7);
        assert!((12..=20).contains(&all.len()), "{} composites", all.len());
        for kind in [
            "phone-replay",
            "tablet-replay",
            "print",
            "id-card",
            "passport-photo",
        ] {
            let n = all.iter().filter(|k| k.kind == kind).count();
            assert!((2..=4).contains(&n), "{kind}: {n} variants");
        }
        for k in &all {
            let dims = k.rgb.dimensions();
            assert!(
                dims == (1280, 720) || dims == (960, 720),
                "{}: {dims:?}",
                k.name
            );
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (face, c, d) = fake_face();
        let scene = fake_scene();
        let src = Source {
            img: &face,
            center: c,
            d,
        };
        let a = print(&src, &scene, 1, &mut Rng::new(42, 3, 1));
        let b = print(&src, &scene, 1, &mut Rng::new(42, 3, 1));
        let other = print(&src, &scene, 1, &mut Rng::new(43, 3, 1));
        assert_eq!(a.name, b.name);
        assert!(a.rgb.as_raw() == b.rgb.as_raw(), "same seed, same image");
        assert!(
            a.rgb.as_raw() != other.rgb.as_raw(),
            "another seed, another image"
        );
    }

    #[test]
    fn phone_bezel_is_dark_and_screen_is_marked() {
        let dev = Device {
            w: 200,
            h: 420,
            rim: 2.0,
            bezel: [9.0, 9.0],
            radius: 28.0,
            screen_radius: 18.0,
            rim_color: [150.0; 3],
            bezel_color: [10.0; 3],
            camera: false,
        };
        let [_, _, sw, sh] = dev.screen_rect();
        let layer = dev.layer(&Img::filled(sw, sh, [200.0; 3]));
        let at = |x: usize, y: usize| {
            (
                layer.img.px[y * 200 + x],
                layer.alpha[y * 200 + x],
                layer.screen[y * 200 + x],
            )
        };
        // Left bezel, halfway down: opaque, dark, not screen.
        let (c, a, s) = at(6, 210);
        assert!(
            a > 0.99 && s == 0.0 && c.iter().all(|&v| v < 30.0),
            "{c:?} {a} {s}"
        );
        // Screen centre: the content, marked as screen.
        let (c, _, s) = at(100, 210);
        assert!(s > 0.99 && c[0] > 190.0, "{c:?} {s}");
        // Outside the rounded corner: transparent.
        assert_eq!(at(0, 0).1, 0.0);
        // Posed and rendered, a bezel point lands dark in the capture.
        let pose = Pose {
            cap: [640.0, 480.0],
            size: [160.0, 336.0],
            center: [320.0, 240.0],
            roll: 8.0,
            yaw: 10.0,
            pitch: -5.0,
            bend: 0.0,
        };
        let mut img = Img::filled(640, 480, [128.0; 3]);
        let mut screen = vec![0.0; 640 * 480];
        render(&mut img, &mut screen, &layer, &pose);
        let q = pose.fwd([6.5 / 200.0, 0.5]);
        let p = img.px[q[1] as usize * 640 + q[0] as usize];
        assert!(p.iter().all(|&v| v < 40.0), "bezel in capture {p:?}");
        let m = pose.fwd([0.5, 0.5]);
        assert!(screen[m[1] as usize * 640 + m[0] as usize] > 0.99);
    }
}
