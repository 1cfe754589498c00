//! Passive (texture) liveness with the MiniFASNetV2 / MiniFASNetV1SE pair.
//!
//! The models are sensitive to the crop, so it follows the recipe of their authors
//! (Silent-Face-Anti-Spoofing `CropImage._get_new_box`): the detector box scaled about its centre
//! by 2.7 (V2) or 4.0 (V1SE), the scale reduced until the window fits the image and the window
//! shifted inside the frame, then resized to 80x80 with bilinear interpolation (OpenCV
//! `INTER_LINEAR` sampling), BGR, raw 0..255.

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use super::rows::ColumnSums;
use crate::models::ModelSet;

pub const INPUT_SIDE: usize = 80;
pub const V2_SCALE: f32 = 2.7;
pub const V1SE_SCALE: f32 = 4.0;

/// The crop window (inclusive pixel bounds x0, y0, x1, y1) for a box and scale.
pub fn crop_window(bbox: [f32; 4], scale: f32, img_w: u32, img_h: u32) -> [i64; 4] {
    let [x, y, bw, bh] = bbox;
    let (sw, sh) = (img_w as f32, img_h as f32);
    let bw = bw.max(1.0);
    let bh = bh.max(1.0);
    let scale = scale.min((sh - 1.0) / bh).min((sw - 1.0) / bw);
    let (nw, nh) = (bw * scale, bh * scale);
    let (cx, cy) = (x + bw / 2.0, y + bh / 2.0);
    let (mut x0, mut y0) = (cx - nw / 2.0, cy - nh / 2.0);
    let (mut x1, mut y1) = (cx + nw / 2.0, cy + nh / 2.0);
    if x0 < 0.0 {
        x1 -= x0;
        x0 = 0.0;
    }
    if y0 < 0.0 {
        y1 -= y0;
        y0 = 0.0;
    }
    if x1 > sw - 1.0 {
        x0 -= x1 - sw + 1.0;
        x1 = sw - 1.0;
    }
    if y1 > sh - 1.0 {
        y0 -= y1 - sh + 1.0;
        y1 = sh - 1.0;
    }
    // Truncation toward zero, as Python's int() does.
    let clamp_x = |v: f32| (v as i64).clamp(0, i64::from(img_w) - 1);
    let clamp_y = |v: f32| (v as i64).clamp(0, i64::from(img_h) - 1);
    [clamp_x(x0), clamp_y(y0), clamp_x(x1), clamp_y(y1)]
}

/// Crops the window straight from the decoded buffer and resizes it to `side`x`side`
/// planar BGR f32, sampling like OpenCV's `INTER_LINEAR` (half-pixel centres), with every value
/// multiplied by the gain of its channel (`gain` is R, G, B) and clipped to 255 (the exposure
/// normalisation, see [`exposure_gain`]).
pub fn crop_bgr(img: &RgbImage, window: [i64; 4], side: usize, gain: [f32; 3]) -> Vec<f32> {
    let [x0, y0, x1, y1] = window;
    let cw = (x1 - x0 + 1).max(1) as f32;
    let ch = (y1 - y0 + 1).max(1) as f32;
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let plane = side * side;
    let mut out = vec![0f32; 3 * plane];
    // Per-axis sample positions: index of the left/top neighbour and the weight of the other.
    let axis = |origin: i64, len: f32, limit: usize| -> Vec<(usize, usize, f32)> {
        (0..side)
            .map(|d| {
                let s = ((d as f32 + 0.5) * len / side as f32 - 0.5).max(0.0);
                let i0 = s.floor();
                let w = s - i0;
                let a = (origin + i0 as i64).clamp(0, limit as i64 - 1) as usize;
                let b = (origin + i0 as i64 + 1).clamp(0, limit as i64 - 1) as usize;
                (a, b, w)
            })
            .collect()
    };
    let xs = axis(x0, cw, iw);
    let ys = axis(y0, ch, ih);
    for (dy, &(ya, yb, wy)) in ys.iter().enumerate() {
        for (dx, &(xa, xb, wx)) in xs.iter().enumerate() {
            let px = |x: usize, y: usize, c: usize| f32::from(raw[(y * iw + x) * 3 + c]);
            for c in 0..3 {
                let top = px(xa, ya, c) * (1.0 - wx) + px(xb, ya, c) * wx;
                let bottom = px(xa, yb, c) * (1.0 - wx) + px(xb, yb, c) * wx;
                // RGB channel c goes to BGR plane 2 - c.
                out[(2 - c) * plane + dy * side + dx] =
                    ((top * (1.0 - wy) + bottom * wy) * gain[c]).min(255.0);
            }
        }
    }
    out
}

/// Crops the window and shrinks it to `side`x`side` planar BGR f32 by averaging every source
/// pixel of each output pixel's footprint (OpenCV's `INTER_AREA` for integer footprints), then
/// applies the channel gains as [`crop_bgr`] does. Used when the window is larger than the
/// output: bilinear sampling would pick single source pixels and pass their sensor noise to
/// the models untouched (at a face luminance of 40, two noise draws of one capture scored 0.60
/// and 0.20; docs/thresholds.md, "area_downscale").
pub fn crop_bgr_area(img: &RgbImage, window: [i64; 4], side: usize, gain: [f32; 3]) -> Vec<f32> {
    let [x0, y0, x1, y1] = window;
    let (cw, ch) = ((x1 - x0 + 1).max(1) as usize, (y1 - y0 + 1).max(1) as usize);
    if cw < side || ch < side {
        return crop_bgr(img, window, side, gain);
    }
    let iw = img.width() as usize;
    let raw = img.as_raw();
    let plane = side * side;
    // Source bounds of output column/row d: [d·len/side, (d+1)·len/side).
    let bounds = |len: usize| -> Vec<(usize, usize)> {
        (0..side)
            .map(|d| {
                (
                    d * len / side,
                    ((d + 1) * len / side).max(d * len / side + 1),
                )
            })
            .collect()
    };
    let xs = bounds(cw);
    let ys = bounds(ch);
    let (x0, y0) = (x0.max(0) as usize, y0.max(0) as usize);
    let mut out = vec![0f32; 3 * plane];
    // One output row's band of source rows added up byte by byte over the window's width
    // ([`ColumnSums`], vectorised), then each output column's footprint summed per channel:
    // the same integer sums as adding up each footprint pixel by pixel.
    let mut band_sums = ColumnSums::default();
    for (dy, &(ya, yb)) in ys.iter().enumerate() {
        let band = band_sums.sum(raw, iw * 3, x0 * 3, cw * 3, y0 + ya..y0 + yb);
        for (dx, &(xa, xb)) in xs.iter().enumerate() {
            let mut sums = [0u32; 3];
            for px in band[xa * 3..xb * 3].chunks_exact(3) {
                sums[0] += px[0];
                sums[1] += px[1];
                sums[2] += px[2];
            }
            let n = ((xb - xa) * (yb - ya)) as f32;
            for (c, &sum) in sums.iter().enumerate() {
                // RGB channel c goes to BGR plane 2 - c.
                out[(2 - c) * plane + dy * side + dx] = (sum as f32 / n * gain[c]).min(255.0);
            }
        }
    }
    out
}

fn softmax3(logits: &[f32]) -> [f32; 3] {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|v| (v - m).exp()).collect();
    let sum: f32 = e.iter().sum();
    [e[0] / sum, e[1] / sum, e[2] / sum]
}

fn real_probability(
    session: &mut Session,
    img: &RgbImage,
    bbox: [f32; 4],
    scale: f32,
    gain: [f32; 3],
    area: bool,
) -> Result<f32, ort::Error> {
    let window = crop_window(bbox, scale, img.width(), img.height());
    let input = if area {
        crop_bgr_area(img, window, INPUT_SIDE, gain)
    } else {
        crop_bgr(img, window, INPUT_SIDE, gain)
    };
    let tensor =
        TensorRef::from_array_view(([1usize, 3, INPUT_SIDE, INPUT_SIDE], input.as_slice()))?;
    let outputs = session.run(ort::inputs![tensor])?;
    let (_, logits) = outputs[0].try_extract_tensor::<f32>()?;
    if logits.len() < 3 {
        return Err(ort::Error::new(format!(
            "MiniFASNet returned {} values, expected 3",
            logits.len()
        )));
    }
    // Index 1 is the real face; 0 and 2 are attack classes.
    Ok(softmax3(&logits[..3])[1])
}

/// The gain that brings a face of mean luminance `face_luma` to `reference`, within
/// `[min_gain, max_gain]`.
///
/// Why: the MiniFASNet pair was trained on well-lit faces and reads brightness as a cue. A dim
/// live face scores low, and a photo of a photo darkened to a face luminance of 53 scored 0.65
/// "live" without it. Normalising the crop's gain makes both be judged as what they are
/// (docs/thresholds.md, "Exposure normalisation").
pub fn exposure_gain(face_luma: f32, reference: f32, min_gain: f32, max_gain: f32) -> f32 {
    if reference <= 0.0 {
        return 1.0;
    }
    (reference / face_luma.max(1.0)).clamp(min_gain.min(max_gain), max_gain)
}

/// The probability that the face is real: softmax of each model, averaged, index 1, on crops
/// whose values are multiplied by `gain`, shrunk by area averaging when `area` is set (else
/// bilinear, the models' reference recipe). Clamped into ]0,1] because 0 means "not computed"
/// on the wire.
pub fn score(
    models: &mut ModelSet,
    img: &RgbImage,
    bbox: [f32; 4],
    gain: [f32; 3],
    area: bool,
) -> Result<f64, ort::Error> {
    let v2 = real_probability(&mut models.fas_v2, img, bbox, V2_SCALE, gain, area)?;
    let v1se = real_probability(&mut models.fas_v1se, img, bbox, V1SE_SCALE, gain, area)?;
    Ok(f64::from((v2 + v1se) / 2.0).clamp(1e-6, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_scaled_about_the_centre() {
        assert_eq!(
            crop_window([100.0, 100.0, 20.0, 20.0], 2.0, 1000, 1000),
            [90, 90, 130, 130]
        );
    }

    #[test]
    fn window_shrinks_and_shifts_to_fit() {
        // Box near the right border, scale too large for the image height.
        let [x0, y0, x1, y1] = crop_window([80.0, 10.0, 20.0, 30.0], 4.0, 100, 60);
        assert!(
            x0 >= 0 && y0 >= 0 && x1 <= 99 && y1 <= 59,
            "{x0} {y0} {x1} {y1}"
        );
        assert_eq!(y1 - y0, 59, "scale reduced to fit the height");
    }

    #[test]
    fn crop_of_uniform_image_is_uniform_bgr() {
        let img = RgbImage::from_pixel(50, 40, image::Rgb([1, 2, 3]));
        let out = crop_bgr(&img, [5, 5, 44, 34], 8, [1.0; 3]);
        assert!(out[..64].iter().all(|&v| v == 3.0));
        assert!(out[64..128].iter().all(|&v| v == 2.0));
        assert!(out[128..].iter().all(|&v| v == 1.0));
    }

    #[test]
    fn gain_scales_the_crop_and_clips_at_white() {
        let img = RgbImage::from_pixel(50, 40, image::Rgb([40, 100, 200]));
        let out = crop_bgr(&img, [5, 5, 44, 34], 8, [2.0; 3]);
        assert!(out[..64].iter().all(|&v| v == 255.0), "blue 400 clips");
        assert!(out[64..128].iter().all(|&v| v == 200.0));
        assert!(out[128..].iter().all(|&v| v == 80.0));
    }

    #[test]
    fn area_shrink_averages_the_footprint() {
        // A 4x4 checkerboard of 0 and 200 shrunk to 2x2: every output pixel averages to 100.
        let img = RgbImage::from_fn(4, 4, |x, y| {
            let v = if (x + y) % 2 == 0 { 0 } else { 200 };
            image::Rgb([v, v, v])
        });
        let out = crop_bgr_area(&img, [0, 0, 3, 3], 2, [1.0; 3]);
        assert!(out.iter().all(|&v| v == 100.0), "{out:?}");
        // Smaller than the output: falls back to bilinear sampling.
        assert_eq!(crop_bgr_area(&img, [0, 0, 3, 3], 8, [1.0; 3]).len(), 3 * 64);
    }

    #[test]
    fn exposure_gain_brings_the_face_to_the_reference_within_limits() {
        assert_eq!(exposure_gain(65.0, 130.0, 0.6, 4.0), 2.0);
        assert_eq!(exposure_gain(20.0, 130.0, 0.6, 4.0), 4.0);
        assert_eq!(exposure_gain(250.0, 130.0, 0.6, 4.0), 0.6);
        assert_eq!(exposure_gain(65.0, 0.0, 0.6, 4.0), 1.0, "0 turns it off");
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax3(&[1.0, 2.0, 0.5]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[1] > p[0] && p[0] > p[2]);
    }

    /// The area shrink before the row-band accumulator: footprint by footprint, pixel by
    /// pixel. The reference the current one must match bit for bit.
    fn crop_bgr_area_reference(
        img: &RgbImage,
        window: [i64; 4],
        side: usize,
        gain: [f32; 3],
    ) -> Vec<f32> {
        let [x0, y0, x1, y1] = window;
        let (cw, ch) = ((x1 - x0 + 1).max(1) as usize, (y1 - y0 + 1).max(1) as usize);
        if cw < side || ch < side {
            return crop_bgr(img, window, side, gain);
        }
        let iw = img.width() as usize;
        let raw = img.as_raw();
        let plane = side * side;
        let bounds = |len: usize| -> Vec<(usize, usize)> {
            (0..side)
                .map(|d| {
                    (
                        d * len / side,
                        ((d + 1) * len / side).max(d * len / side + 1),
                    )
                })
                .collect()
        };
        let xs = bounds(cw);
        let ys = bounds(ch);
        let (x0, y0) = (x0.max(0) as usize, y0.max(0) as usize);
        let mut out = vec![0f32; 3 * plane];
        let mut acc = vec![0u32; side * 3];
        for (dy, &(ya, yb)) in ys.iter().enumerate() {
            acc.iter_mut().for_each(|v| *v = 0);
            for y in ya..yb {
                let row = &raw[((y0 + y) * iw + x0) * 3..];
                for (dx, &(xa, xb)) in xs.iter().enumerate() {
                    let a = &mut acc[dx * 3..dx * 3 + 3];
                    for px in row[xa * 3..xb * 3].chunks_exact(3) {
                        a[0] += u32::from(px[0]);
                        a[1] += u32::from(px[1]);
                        a[2] += u32::from(px[2]);
                    }
                }
            }
            for (dx, &(xa, xb)) in xs.iter().enumerate() {
                let n = ((xb - xa) * (yb - ya)) as f32;
                for c in 0..3 {
                    out[(2 - c) * plane + dy * side + dx] =
                        (acc[dx * 3 + c] as f32 / n * gain[c]).min(255.0);
                }
            }
        }
        out
    }

    #[test]
    fn area_shrink_matches_the_reference_bit_for_bit() {
        let mut rng = fastrand::Rng::with_seed(80);
        let sizes = [
            (1, 1),
            (5, 7),
            (80, 80),
            (81, 200),
            (333, 251),
            (930, 850),
            (1200, 97),
        ];
        for i in 0..300 {
            let (w, h) = sizes[i % sizes.len()];
            let mut raw = vec![0u8; (w * h * 3) as usize];
            rng.fill(&mut raw);
            let img = RgbImage::from_raw(w, h, raw).expect("sized buffer");
            let gain = [0.5 + rng.f32() * 3.0, 0.6 + rng.f32() * 3.0, 1.0];
            // Detector boxes anywhere, also past the border, through crop_window as scored;
            // and windows made by hand: the whole image, a corner, tiny ones.
            let bbox = [
                rng.f32() * w as f32 * 1.2 - w as f32 * 0.1,
                rng.f32() * h as f32 * 1.2 - h as f32 * 0.1,
                1.0 + rng.f32() * w as f32 * 0.5,
                1.0 + rng.f32() * h as f32 * 0.5,
            ];
            let (wi, hi) = (i64::from(w), i64::from(h));
            let x0 = rng.i64(0..wi);
            let y0 = rng.i64(0..hi);
            let windows = [
                crop_window(bbox, V2_SCALE, w, h),
                crop_window(bbox, V1SE_SCALE, w, h),
                [0, 0, wi - 1, hi - 1],
                [x0, y0, rng.i64(x0..wi), rng.i64(y0..hi)],
                [wi - 1, hi - 1, wi - 1, hi - 1],
            ];
            for window in windows {
                for side in [1, 2, 7, INPUT_SIDE] {
                    let new = crop_bgr_area(&img, window, side, gain);
                    let old = crop_bgr_area_reference(&img, window, side, gain);
                    assert!(
                        new.len() == old.len()
                            && new
                                .iter()
                                .zip(&old)
                                .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{w}x{h} {window:?} side {side}"
                    );
                }
            }
        }
    }
}
