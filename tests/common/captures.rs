//! Realistic dim captures of a real photo: what a webcam or a cheap phone makes of the same scene
//! in a dim room. A brightness scale of an 8-bit file is not that (a real dim capture has fewer
//! photons, so more noise after the camera's gain, a shifted white balance and compression), and
//! a threshold chosen on brightness-scaled files once rejected two thirds of real live users.
//!
//! The model, per pixel and channel:
//! 1. sRGB → linear light (the exact sRGB curve);
//! 2. the light is lowered: electrons `e = k · FULL_WELL · linear` for a light factor `k`;
//! 3. sensor noise: shot noise (Gaussian with variance `e`) plus read noise (`READ_NOISE` e⁻),
//!    so that the noise grows relative to the signal as the light falls;
//! 4. the camera's auto exposure: a gain that brings the face to a target luminance (real dim
//!    captures end up darker than normal ones: the gain is capped, and the median face luminance
//!    of real indoor webcam captures is about 65);
//! 5. a white-balance shift (tungsten is warm, screens and shade are cool);
//! 6. back to sRGB, 8 bits; optionally scaled down to a webcam's resolution; the caller encodes
//!    it as JPEG at the variant's quality.
//!
//! Self-contained (only the `image` crate): used by the tests through `tests/common/mod.rs` and
//! by `examples/eval` through `#[path]`.
#![allow(dead_code)]

use image::{Rgb, RgbImage};

/// Electrons of a white pixel at full light: a small webcam or phone-camera pixel.
pub const FULL_WELL: f64 = 5000.0;
/// Read noise, electrons (rms).
pub const READ_NOISE: f64 = 3.0;

/// One way of capturing the scene in less light.
#[derive(Debug, Clone)]
pub struct DimCapture {
    pub name: &'static str,
    /// Fraction of the original light reaching the sensor.
    pub light: f64,
    /// Face luminance (0..255, BT.601 luma of sRGB) the camera's auto exposure reaches.
    pub target_luma: f64,
    /// Channel gains (R, G, B) of the white-balance error.
    pub white_balance: [f64; 3],
    /// Long side of the delivered frame (a webcam's 640 px), or the original size.
    pub long_side: Option<u32>,
    pub jpeg_quality: u8,
}

/// The standard set: face luminance from 85 down to 28, warm and cool light, webcam and phone
/// resolutions. The real captures that motivated this had a median face luminance of 65.
pub fn standard() -> Vec<DimCapture> {
    const WARM: [f64; 3] = [1.22, 1.0, 0.72];
    const COOL: [f64; 3] = [0.86, 1.0, 1.18];
    const NEUTRAL: [f64; 3] = [1.0, 1.0, 1.0];
    vec![
        DimCapture {
            name: "dim 85, warm, phone",
            light: 0.30,
            target_luma: 85.0,
            white_balance: WARM,
            long_side: None,
            jpeg_quality: 85,
        },
        DimCapture {
            name: "dim 65, warm, webcam",
            light: 0.12,
            target_luma: 65.0,
            white_balance: WARM,
            long_side: Some(640),
            jpeg_quality: 75,
        },
        DimCapture {
            name: "dim 65, cool, phone",
            light: 0.12,
            target_luma: 65.0,
            white_balance: COOL,
            long_side: None,
            jpeg_quality: 80,
        },
        DimCapture {
            name: "dim 50, warm, webcam",
            light: 0.05,
            target_luma: 50.0,
            white_balance: WARM,
            long_side: Some(640),
            jpeg_quality: 70,
        },
        DimCapture {
            name: "dim 40, neutral, webcam",
            light: 0.025,
            target_luma: 40.0,
            white_balance: NEUTRAL,
            long_side: Some(640),
            jpeg_quality: 70,
        },
        DimCapture {
            name: "dim 28, warm, webcam",
            light: 0.01,
            target_luma: 28.0,
            white_balance: WARM,
            long_side: Some(640),
            jpeg_quality: 70,
        },
    ]
}

/// sRGB-encoded 0..1 → linear light.
pub fn srgb_to_linear(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light → sRGB-encoded 0..1.
pub fn linear_to_srgb(v: f64) -> f64 {
    let v = v.clamp(0.0, 1.0);
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

fn luma(p: &Rgb<u8>) -> f64 {
    0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
}

/// Mean luma of the square of side `1.6 · eye_distance` centred on the face (the inner face).
pub fn face_luma(rgb: &RgbImage, center: [f64; 2], eye_distance: f64) -> f64 {
    let half = 0.8 * eye_distance;
    let (w, h) = (f64::from(rgb.width()), f64::from(rgb.height()));
    let x0 = (center[0] - half).clamp(0.0, w - 1.0) as u32;
    let x1 = (center[0] + half).clamp(0.0, w - 1.0) as u32;
    let y0 = (center[1] - half).clamp(0.0, h - 1.0) as u32;
    let y1 = (center[1] + half).clamp(0.0, h - 1.0) as u32;
    let (mut sum, mut n) = (0.0, 0.0);
    for y in y0..=y1 {
        for x in x0..=x1 {
            sum += luma(rgb.get_pixel(x, y));
            n += 1.0;
        }
    }
    if n > 0.0 { sum / n } else { 0.0 }
}

/// A deterministic Gaussian source (xorshift64* and Box–Muller).
struct Gauss {
    state: u64,
    spare: Option<f64>,
}

impl Gauss {
    fn new(seed: u64) -> Gauss {
        Gauss {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            spare: None,
        }
    }

    fn uniform(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let v = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((v >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let (u1, u2) = (self.uniform(), self.uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        self.spare = Some(r * a.sin());
        r * a.cos()
    }
}

/// Renders the dim capture of `rgb`, whose face (centre, eye distance) has luminance
/// `face_luma` now. Returns the frame before JPEG (encode it at `v.jpeg_quality`).
pub fn render(
    rgb: &RgbImage,
    center: [f64; 2],
    eye_distance: f64,
    v: &DimCapture,
    seed: u64,
) -> RgbImage {
    let lut: Vec<f64> = (0..256)
        .map(|i| srgb_to_linear(f64::from(i) / 255.0))
        .collect();
    let face_now = face_luma(rgb, center, eye_distance).max(1.0);
    // The camera's gain, from the face's linear light to the target's. Luma is computed on the
    // encoded values, so this is an approximation; the pipeline measures what was reached.
    let face_lin = srgb_to_linear(face_now / 255.0) * v.light;
    let gain = srgb_to_linear(v.target_luma / 255.0) / face_lin.max(1e-9);
    let mut g = Gauss::new(seed);
    let mut out = RgbImage::new(rgb.width(), rgb.height());
    for (src, dst) in rgb.pixels().zip(out.pixels_mut()) {
        let mut px = [0u8; 3];
        for c in 0..3 {
            let electrons = lut[usize::from(src[c])] * v.light * FULL_WELL;
            let noisy = electrons + g.next() * (electrons + READ_NOISE * READ_NOISE).sqrt();
            let linear = noisy.max(0.0) / FULL_WELL * gain * v.white_balance[c];
            px[c] = (linear_to_srgb(linear) * 255.0).round() as u8;
        }
        *dst = Rgb(px);
    }
    match v.long_side {
        Some(side) if rgb.width().max(rgb.height()) > side => {
            let s = f64::from(side) / f64::from(rgb.width().max(rgb.height()));
            let w = (f64::from(rgb.width()) * s).round().max(1.0) as u32;
            let h = (f64::from(rgb.height()) * s).round().max(1.0) as u32;
            image::imageops::resize(&out, w, h, image::imageops::FilterType::Triangle)
        }
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_round_trip() {
        for i in 0..=255u32 {
            let v = f64::from(i) / 255.0;
            assert!((linear_to_srgb(srgb_to_linear(v)) - v).abs() < 1e-9);
        }
    }

    #[test]
    fn dim_capture_reaches_about_the_target_and_is_noisier() {
        // A flat mid-gray "face": after the capture, its mean is near the target and its
        // spread grows as the light falls.
        let img = RgbImage::from_pixel(200, 200, Rgb([150, 150, 150]));
        let spread = |v: &DimCapture| {
            let out = render(&img, [100.0, 100.0], 60.0, v, 7);
            let lum: Vec<f64> = out.pixels().map(luma).collect();
            let mean = lum.iter().sum::<f64>() / lum.len() as f64;
            let var = lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64;
            (mean, var.sqrt())
        };
        let mut neutral = standard()[4].clone();
        neutral.long_side = None;
        let (mean, sd_dim) = spread(&neutral);
        assert!((mean - neutral.target_luma).abs() < 6.0, "mean {mean}");
        let mut brighter = neutral.clone();
        brighter.light = 0.5;
        let (_, sd_bright) = spread(&brighter);
        assert!(sd_dim > 2.0 * sd_bright, "{sd_dim} vs {sd_bright}");
    }
}
