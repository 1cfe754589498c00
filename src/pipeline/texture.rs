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
/// planar BGR f32, sampling like OpenCV's `INTER_LINEAR` (half-pixel centres).
pub fn crop_bgr(img: &RgbImage, window: [i64; 4], side: usize) -> Vec<f32> {
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
                out[(2 - c) * plane + dy * side + dx] = top * (1.0 - wy) + bottom * wy;
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
) -> Result<f32, ort::Error> {
    let window = crop_window(bbox, scale, img.width(), img.height());
    let input = crop_bgr(img, window, INPUT_SIDE);
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

/// The probability that the face is real: softmax of each model, averaged, index 1.
/// Clamped into ]0,1] because 0 means "not computed" on the wire.
pub fn score(models: &mut ModelSet, img: &RgbImage, bbox: [f32; 4]) -> Result<f64, ort::Error> {
    let v2 = real_probability(&mut models.fas_v2, img, bbox, V2_SCALE)?;
    let v1se = real_probability(&mut models.fas_v1se, img, bbox, V1SE_SCALE)?;
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
        let out = crop_bgr(&img, [5, 5, 44, 34], 8);
        assert!(out[..64].iter().all(|&v| v == 3.0));
        assert!(out[64..128].iter().all(|&v| v == 2.0));
        assert!(out[128..].iter().all(|&v| v == 1.0));
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax3(&[1.0, 2.0, 0.5]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[1] > p[0] && p[0] > p[2]);
    }
}
