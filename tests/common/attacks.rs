//! Synthetic presentation attacks on one real image: what a printed photo or a screen showing
//! one still image looks like when it is moved, tilted, rotated, scaled or bent in front of the
//! camera, plus "no motion" pairs, made from whole RGB images so that the attacks can be
//! encoded and scored end to end by `Engine::score`.
//!
//! Self-contained (only the `image` crate): used by `tests/active.rs` through
//! `tests/common/mod.rs`, and by `examples/eval/main.rs` through `#[path]`.
#![allow(dead_code)]

use image::{Rgb, RgbImage};

/// A 3x3 matrix, row-major.
pub type Mat3 = [f64; 9];

/// One real image and where its face is, from the pipeline's own detector (the eyes of the
/// single-image response): the attacks are placed relative to the face.
pub struct Base {
    pub name: String,
    pub rgb: RgbImage,
    /// Centre of the face (eye midpoint moved half an eye distance toward the mouth).
    pub center: [f64; 2],
    /// Eye distance, px.
    pub eye_distance: f64,
}

impl Base {
    /// `right_eye`/`left_eye` as the BWS response gives them (subject's right eye on the image
    /// left). Assumes an upright face (apply EXIF orientation before).
    pub fn new(name: &str, rgb: RgbImage, right_eye: [f64; 2], left_eye: [f64; 2]) -> Base {
        let d = ((left_eye[0] - right_eye[0]).powi(2) + (left_eye[1] - right_eye[1]).powi(2))
            .sqrt()
            .max(1.0);
        let mid = [
            0.5 * (left_eye[0] + right_eye[0]),
            0.5 * (left_eye[1] + right_eye[1]),
        ];
        Base {
            name: name.to_string(),
            rgb,
            center: [mid[0], mid[1] + 0.5 * d],
            eye_distance: d,
        }
    }

    /// Focal length of the simulated camera: the image width (a ~53 degree field of view, a
    /// phone's front camera or a webcam).
    pub fn focal(&self) -> f64 {
        f64::from(self.rgb.width())
    }
}

pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            r[3 * i + j] = (0..3).map(|k| a[3 * i + k] * b[3 * k + j]).sum();
        }
    }
    r
}

pub fn mat_inv(m: &Mat3) -> Mat3 {
    let [a, b, c, d, e, f, g, h, i] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    [
        (e * i - f * h) / det,
        (c * h - b * i) / det,
        (b * f - c * e) / det,
        (f * g - d * i) / det,
        (a * i - c * g) / det,
        (c * d - a * f) / det,
        (d * h - e * g) / det,
        (b * g - a * h) / det,
        (a * e - b * d) / det,
    ]
}

pub fn apply(m: &Mat3, p: [f64; 2]) -> [f64; 2] {
    let w = m[6] * p[0] + m[7] * p[1] + m[8];
    [
        (m[0] * p[0] + m[1] * p[1] + m[2]) / w,
        (m[3] * p[0] + m[4] * p[1] + m[5]) / w,
    ]
}

/// Similarity about the face centre: rotation (degrees, counter-clockwise on screen), scale,
/// then a translation in px.
pub fn similarity(base: &Base, rot_deg: f64, scale: f64, tx: f64, ty: f64) -> Mat3 {
    let c = base.center;
    // Image y points down: a positive angle turns the picture counter-clockwise on screen.
    let (s, co) = (-rot_deg).to_radians().sin_cos();
    let a = [scale * co, -scale * s, scale * s, scale * co];
    [
        a[0],
        a[1],
        c[0] - a[0] * c[0] - a[1] * c[1] + tx,
        a[2],
        a[3],
        c[1] - a[2] * c[0] - a[3] * c[1] + ty,
        0.0,
        0.0,
        1.0,
    ]
}

/// The photo (the image plane) turned in 3D by `deg` about an axis through the face centre,
/// parallel to the image x axis (`about_x`: the photo tips forward/back) or y axis (turns
/// left/right), seen by a pinhole camera (focal [`Base::focal`], principal point at the image
/// centre). The photo starts at depth `focal`, so untilted it maps onto itself. The result is
/// a true perspective homography, not an affine approximation.
pub fn tilt(base: &Base, deg: f64, about_x: bool) -> Mat3 {
    let focal = base.focal();
    let (pcx, pcy) = (
        f64::from(base.rgb.width()) / 2.0,
        f64::from(base.rgb.height()) / 2.0,
    );
    let c = base.center;
    let cc = [c[0] - pcx, c[1] - pcy, focal];
    let (s, co) = deg.to_radians().sin_cos();
    let r: Mat3 = if about_x {
        [1.0, 0.0, 0.0, 0.0, co, -s, 0.0, s, co]
    } else {
        [co, 0.0, s, 0.0, 1.0, 0.0, -s, 0.0, co]
    };
    let m: Mat3 = [1.0, 0.0, -pcx, 0.0, 1.0, -pcy, 0.0, 0.0, focal];
    let rm = mat_mul(&r, &m);
    // Rotation about the face centre C: X' = R (X - C) + C = R X + (I - R) C.
    let rc = [
        r[0] * cc[0] + r[1] * cc[1] + r[2] * cc[2],
        r[3] * cc[0] + r[4] * cc[1] + r[5] * cc[2],
        r[6] * cc[0] + r[7] * cc[1] + r[8] * cc[2],
    ];
    let t = [cc[0] - rc[0], cc[1] - rc[1], cc[2] - rc[2]];
    let n: Mat3 = [
        rm[0],
        rm[1],
        rm[2] + t[0],
        rm[3],
        rm[4],
        rm[5] + t[1],
        rm[6],
        rm[7],
        rm[8] + t[2],
    ];
    let k: Mat3 = [focal, 0.0, pcx, 0.0, focal, pcy, 0.0, 0.0, 1.0];
    mat_mul(&k, &n)
}

fn bilinear(img: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let x0 = (x.floor() as usize).min(w.saturating_sub(2));
    let y0 = (y.floor() as usize).min(h.saturating_sub(2));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let raw = img.as_raw();
    let mut out = [0u8; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        let p = |xx: usize, yy: usize| f64::from(raw[(yy * w + xx) * 3 + ch]);
        let a = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
        let b = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
        *o = (a * (1.0 - fy) + b * fy).round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// The image warped by homography `m` (output pixel p shows source pixel m⁻¹ p); outside the
/// source, the border pixels are repeated (a photo larger than the field of view).
pub fn warp_h(img: &RgbImage, m: &Mat3) -> RgbImage {
    let inv = mat_inv(m);
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let s = apply(&inv, [f64::from(x), f64::from(y)]);
        bilinear(img, s[0], s[1])
    })
}

/// A photo bent around a vertical axis (parabolic, edges away from the camera, radius
/// `radius_px`), turned by `yaw_deg` about the vertical axis through the face centre, then
/// moved by `shift` px, seen by the pinhole camera. A bent photo is not a plane: the hard case.
pub fn bent_forward(
    base: &Base,
    radius_px: f64,
    yaw_deg: f64,
    shift: [f64; 2],
) -> impl Fn([f64; 2]) -> [f64; 2] + use<> {
    let focal = base.focal();
    let (pcx, pcy) = (
        f64::from(base.rgb.width()) / 2.0,
        f64::from(base.rgb.height()) / 2.0,
    );
    let c = base.center;
    let (s, co) = yaw_deg.to_radians().sin_cos();
    move |p: [f64; 2]| {
        let u = p[0] - c[0];
        let v = p[1] - c[1];
        // Continued linearly beyond `edge` so that the surface never folds back.
        let edge = 0.8 * radius_px;
        let z = if u.abs() <= edge {
            u * u / (2.0 * radius_px)
        } else {
            edge * edge / (2.0 * radius_px) + edge / radius_px * (u.abs() - edge)
        };
        let xr = co * u + s * z;
        let zr = -s * u + co * z;
        let cam = [xr + c[0] - pcx, v + c[1] - pcy, zr + focal];
        [
            pcx + focal * cam[0] / cam[2] + shift[0],
            pcy + focal * cam[1] / cam[2] + shift[1],
        ]
    }
}

/// Renders a general forward map by inverting it per pixel (Newton with a numeric Jacobian,
/// started from the previous pixel's solution).
pub fn warp_fn(img: &RgbImage, fwd: &dyn Fn([f64; 2]) -> [f64; 2]) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut out = RgbImage::new(w, h);
    let mut row_start = [0.0f64, 0.0];
    for y in 0..h {
        let mut guess = row_start;
        for x in 0..w {
            let target = [f64::from(x), f64::from(y)];
            let mut q = guess;
            for _ in 0..8 {
                let fq = fwd(q);
                let r = [target[0] - fq[0], target[1] - fq[1]];
                if r[0].abs() + r[1].abs() < 1e-3 {
                    break;
                }
                let e = 1e-3;
                let fx = fwd([q[0] + e, q[1]]);
                let fy = fwd([q[0], q[1] + e]);
                let j = [
                    (fx[0] - fq[0]) / e,
                    (fy[0] - fq[0]) / e,
                    (fx[1] - fq[1]) / e,
                    (fy[1] - fq[1]) / e,
                ];
                let det = j[0] * j[3] - j[1] * j[2];
                if det.abs() < 1e-9 {
                    break;
                }
                q[0] += (j[3] * r[0] - j[1] * r[1]) / det;
                q[1] += (-j[2] * r[0] + j[0] * r[1]) / det;
            }
            guess = q;
            if x == 0 {
                row_start = q;
            }
            out.put_pixel(x, y, bilinear(img, q[0], q[1]));
        }
    }
    out
}

/// Deterministic uniform noise of amplitude `amp` grey levels (sensor noise between frames).
pub fn add_noise(img: &RgbImage, amp: i32, seed: u64) -> RgbImage {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = img
        .as_raw()
        .iter()
        .map(|&v| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let n = (s % (2 * amp as u64 + 1)) as i32 - amp;
            (i32::from(v) + n).clamp(0, 255) as u8
        })
        .collect();
    RgbImage::from_raw(img.width(), img.height(), data).expect("same size")
}

pub fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png encode");
    out.into_inner()
}

pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .expect("jpeg encode");
    buf
}

/// The attack types of the evaluation (ISO/IEC 30107-3 reports APCER per type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Translate,
    TiltX,
    TiltY,
    Rotate,
    Scale,
    Combination,
    BentPhoto,
    NoMotion,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Translate,
        Kind::TiltX,
        Kind::TiltY,
        Kind::Rotate,
        Kind::Scale,
        Kind::Combination,
        Kind::BentPhoto,
        Kind::NoMotion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Translate => "planar: translate",
            Kind::TiltX => "planar: tilt about x (perspective)",
            Kind::TiltY => "planar: tilt about y (perspective)",
            Kind::Rotate => "planar: in-plane rotation",
            Kind::Scale => "planar: scale (toward/away)",
            Kind::Combination => "planar: combinations",
            Kind::BentPhoto => "bent photo (not planar)",
            Kind::NoMotion => "no motion (identical / near-identical)",
        }
    }

    /// Whether the surface is a plane (the motion is exactly one homography).
    pub fn planar(self) -> bool {
        !matches!(self, Kind::BentPhoto | Kind::NoMotion)
    }
}

/// How the two images of an attack are made from the base.
#[derive(Debug, Clone)]
pub enum Op {
    /// First: the base; second: the base warped by the homography.
    Warp(Mat3),
    /// Both images warped (the photo already tilted in the first one).
    WarpBoth(Mat3, Mat3),
    /// Bent photo: first bent and facing the camera, second bent, turned by `yaw` degrees and
    /// moved by `shift` eye distances. `radius` in eye distances.
    Bent {
        radius: f64,
        yaw: f64,
        shift: [f64; 2],
    },
    Identical,
    Noise(i32),
    /// The second image is the base re-encoded as JPEG of this quality.
    Jpeg(u8),
    /// The second image is the base warped by the homography, then encoded as JPEG.
    WarpJpeg(Mat3, u8),
}

#[derive(Debug, Clone)]
pub struct Attack {
    pub kind: Kind,
    pub name: String,
    pub op: Op,
}

fn attack(kind: Kind, name: String, op: Op) -> Attack {
    Attack { kind, name, op }
}

/// Every attack on one base image. Sizes are relative to the face (eye distance `d`): a shift
/// of 0.5 d is a clear movement for the challenge check (0.12 d).
pub fn catalogue(base: &Base) -> Vec<Attack> {
    let d = base.eye_distance;
    let mut out = Vec::new();
    for (tx, ty) in [
        (0.5, 0.0),
        (-0.5, 0.0),
        (0.0, 0.5),
        (0.0, -0.5),
        (0.35, 0.35),
    ] {
        out.push(attack(
            Kind::Translate,
            format!("translate {tx:+}d,{ty:+}d"),
            Op::Warp(similarity(base, 0.0, 1.0, tx * d, ty * d)),
        ));
    }
    for deg in [-30.0, -20.0, -10.0, 10.0, 20.0, 30.0] {
        out.push(attack(
            Kind::TiltX,
            format!("tilt x {deg:+}°"),
            Op::Warp(tilt(base, deg, true)),
        ));
        out.push(attack(
            Kind::TiltY,
            format!("tilt y {deg:+}°"),
            Op::Warp(tilt(base, deg, false)),
        ));
    }
    for deg in [-20.0, -12.0, -5.0, 5.0, 12.0, 20.0] {
        out.push(attack(
            Kind::Rotate,
            format!("rotate {deg:+}°"),
            Op::Warp(similarity(base, deg, 1.0, 0.0, 0.0)),
        ));
    }
    for s in [0.85, 0.92, 1.1, 1.2] {
        out.push(attack(
            Kind::Scale,
            format!("scale {s}"),
            Op::Warp(similarity(base, 0.0, s, 0.0, 0.0)),
        ));
    }
    out.push(attack(
        Kind::Combination,
        "tilt y 20° + rotate 8° + scale 1.1 + shift".into(),
        Op::Warp(mat_mul(
            &tilt(base, 20.0, false),
            &similarity(base, 8.0, 1.1, 0.3 * d, -0.2 * d),
        )),
    ));
    out.push(attack(
        Kind::Combination,
        "tilt x -15° + rotate -10° + scale 0.9 + shift".into(),
        Op::Warp(mat_mul(
            &tilt(base, -15.0, true),
            &similarity(base, -10.0, 0.9, -0.3 * d, 0.25 * d),
        )),
    ));
    out.push(attack(
        Kind::Combination,
        "tilt x 25° + tilt y -25° + shift down".into(),
        Op::Warp(mat_mul(
            &similarity(base, 0.0, 1.0, 0.0, 0.4 * d),
            &mat_mul(&tilt(base, 25.0, true), &tilt(base, -25.0, false)),
        )),
    ));
    out.push(attack(
        Kind::Combination,
        "tilted y -15° → tilted y +15° and x +10°".into(),
        Op::WarpBoth(
            tilt(base, -15.0, false),
            mat_mul(&tilt(base, 15.0, false), &tilt(base, 10.0, true)),
        ),
    ));
    out.push(attack(
        Kind::Combination,
        "tilt x 20° + JPEG q70".into(),
        Op::WarpJpeg(tilt(base, 20.0, true), 70),
    ));
    out.push(attack(
        Kind::BentPhoto,
        "bent (r 2d), turned y 20°".into(),
        Op::Bent {
            radius: 2.0,
            yaw: 20.0,
            shift: [0.0, 0.0],
        },
    ));
    out.push(attack(
        Kind::BentPhoto,
        "bent (r 1.2d), turned y -25°".into(),
        Op::Bent {
            radius: 1.2,
            yaw: -25.0,
            shift: [0.0, 0.0],
        },
    ));
    out.push(attack(
        Kind::BentPhoto,
        "bent (r 1.2d), turned y 20°, moved".into(),
        Op::Bent {
            radius: 1.2,
            yaw: 20.0,
            shift: [0.4, 0.25],
        },
    ));
    out.push(attack(Kind::NoMotion, "identical".into(), Op::Identical));
    out.push(attack(
        Kind::NoMotion,
        "shift 0.5 px".into(),
        Op::Warp(similarity(base, 0.0, 1.0, 0.5, 0.3)),
    ));
    out.push(attack(Kind::NoMotion, "noise ±4".into(), Op::Noise(4)));
    out.push(attack(Kind::NoMotion, "JPEG q70".into(), Op::Jpeg(70)));
    out
}

/// The two encoded images of an attack (PNG, lossless, unless the attack is a JPEG one).
pub fn render(base: &Base, op: &Op) -> (Vec<u8>, Vec<u8>) {
    let first = || png(&base.rgb);
    match op {
        Op::Warp(m) => (first(), png(&warp_h(&base.rgb, m))),
        Op::WarpBoth(a, b) => (png(&warp_h(&base.rgb, a)), png(&warp_h(&base.rgb, b))),
        Op::Bent { radius, yaw, shift } => {
            let r = radius * base.eye_distance;
            let s = [shift[0] * base.eye_distance, shift[1] * base.eye_distance];
            let a = warp_fn(&base.rgb, &bent_forward(base, r, 0.0, [0.0, 0.0]));
            let b = warp_fn(&base.rgb, &bent_forward(base, r, *yaw, s));
            (png(&a), png(&b))
        }
        Op::Identical => {
            let a = first();
            (a.clone(), a)
        }
        Op::Noise(amp) => (first(), png(&add_noise(&base.rgb, *amp, 11))),
        Op::Jpeg(q) => (first(), jpeg(&base.rgb, *q)),
        Op::WarpJpeg(m, q) => (first(), jpeg(&warp_h(&base.rgb, m), *q)),
    }
}
