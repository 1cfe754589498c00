//! Face detection with YuNet (`yunet_s_dynamic.onnx`), per `models/README` of the shared mirror:
//! BGR 0..255 input padded to multiples of 32, three strides of outputs, NMS, and the mapping
//! back to the image's coordinates.

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use super::Detection;
use crate::config::DetectorSettings;
use crate::models::yunet_heads::{self, STRIDES};

/// The detector's input: the image scaled so its long side is at most `input_side` (YuNet is
/// trained on faces of about 10..300 px; a 550 px face at full size was detected badly), as
/// planar BGR f32 padded with zeros to multiples of 32.
struct Input {
    tensor: Vec<f32>,
    width: usize,
    height: usize,
    /// Original coordinates = input coordinates * (sx, sy).
    sx: f32,
    sy: f32,
}

/// The factor from `img`'s pixels to those of its pass at `input_side` (never above 1).
fn input_scale(img: &RgbImage, input_side: u32) -> f32 {
    (input_side as f32 / img.width().max(img.height()) as f32).min(1.0)
}

/// Whether a face `width` pixels wide in `img` is too narrow for the pass at `input_side`, so
/// that [`detect`] reads the image again at `fallback_side`.
fn too_narrow_for_first_pass(img: &RgbImage, width: f32, cfg: &DetectorSettings) -> bool {
    width * input_scale(img, cfg.input_side) < cfg.fallback_below_px
}

/// Whether `face`, found in `img`, is wide and tall enough for the pass at `input_side`: turned
/// by a quarter, it would still be found without the second pass ([`detect_known_large`]).
pub fn large_for_first_pass(img: &RgbImage, face: &Detection, cfg: &DetectorSettings) -> bool {
    !too_narrow_for_first_pass(img, face.bbox[2].min(face.bbox[3]), cfg)
}

fn prepare(img: &RgbImage, input_side: u32) -> Input {
    let (w, h) = img.dimensions();
    let scale = input_scale(img, input_side);
    let rw = ((w as f32 * scale).round() as u32).max(1);
    let rh = ((h as f32 * scale).round() as u32).max(1);
    let resized;
    let src = if (rw, rh) == (w, h) {
        img
    } else {
        resized = crate::pipeline::image::resize_rgb(img, rw, rh);
        resized.as_ref().unwrap_or(img)
    };
    let (rw, rh) = src.dimensions();
    let pw = (rw as usize).div_ceil(32) * 32;
    let ph = (rh as usize).div_ceil(32) * 32;
    let plane = pw * ph;
    let mut tensor = vec![0f32; 3 * plane];
    // Planes in BGR order; each row of the image into the start of its padded row in each
    // plane. Slices zipped rather than indexed, so that the loop has no bounds checks and the
    // compiler vectorises it (indexed, it was 2 % of a job).
    let (b_plane, rest) = tensor.split_at_mut(plane);
    let (g_plane, r_plane) = rest.split_at_mut(plane);
    let rows = src.as_raw().chunks_exact(rw as usize * 3);
    let planes = b_plane
        .chunks_exact_mut(pw)
        .zip(g_plane.chunks_exact_mut(pw))
        .zip(r_plane.chunks_exact_mut(pw));
    for (row, ((b, g), r)) in rows.zip(planes) {
        for (((px, b), g), r) in row.chunks_exact(3).zip(b).zip(g).zip(r) {
            *b = f32::from(px[2]);
            *g = f32::from(px[1]);
            *r = f32::from(px[0]);
        }
    }
    Input {
        tensor,
        width: pw,
        height: ph,
        sx: w as f32 / rw as f32,
        sy: h as f32 / rh as f32,
    }
}

/// Runs YuNet and returns the faces above the score threshold after NMS, best first.
///
/// The image is first read at `input_side` (320 by default: a selfie's face is then 50 to
/// 150 px, inside YuNet's training range, for a quarter of the work of 640). When that finds
/// no face, or only one narrower than `fallback_below_px` at that scale (a small face in a
/// large frame, or a group photo whose other faces would be near YuNet's 10 px floor), the
/// image is read again at `fallback_side`. Measured against 640 in `docs/performance.md`.
pub fn detect(
    session: &mut Session,
    img: &RgbImage,
    cfg: &DetectorSettings,
) -> Result<Vec<Detection>, ort::Error> {
    detect_with(session, img, cfg, true)
}

/// As [`detect`], but when the pass at `input_side` finds no face at all there is no second
/// pass: for an image whose face, if it has one, is known to be large enough for that pass
/// (the turned copies of the quarter-turn search, see `Engine::locate`). A face found narrow
/// still gets the second pass.
pub fn detect_known_large(
    session: &mut Session,
    img: &RgbImage,
    cfg: &DetectorSettings,
) -> Result<Vec<Detection>, ort::Error> {
    detect_with(session, img, cfg, false)
}

fn detect_with(
    session: &mut Session,
    img: &RgbImage,
    cfg: &DetectorSettings,
    again_when_none: bool,
) -> Result<Vec<Detection>, ort::Error> {
    let faces = detect_at(session, img, cfg.input_side, cfg)?;
    let long = img.width().max(img.height());
    let too_small = match faces.first() {
        Some(f) => too_narrow_for_first_pass(img, f.bbox[2], cfg),
        None => again_when_none,
    };
    if too_small && cfg.fallback_side > cfg.input_side && long > cfg.input_side {
        return detect_at(session, img, cfg.fallback_side, cfg);
    }
    Ok(faces)
}

/// One YuNet pass with the image's long side scaled to at most `input_side`.
pub fn detect_at(
    session: &mut Session,
    img: &RgbImage,
    input_side: u32,
    cfg: &DetectorSettings,
) -> Result<Vec<Detection>, ort::Error> {
    let input = prepare(img, input_side);
    let tensor = TensorRef::from_array_view((
        [1usize, 3, input.height, input.width],
        input.tensor.as_slice(),
    ))?;
    let outputs = session.run(ort::inputs!["input" => tensor])?;
    let merged = outputs.contains_key(yunet_heads::output_name(STRIDES[0]));
    let mut candidates = Vec::new();
    for stride in STRIDES {
        let cols = input.width / stride;
        let rows = input.height / stride;
        let cells = rows * cols;
        let heads = if merged {
            let (_, head) =
                outputs[yunet_heads::output_name(stride)].try_extract_tensor::<f32>()?;
            yunet_heads::Heads::Merged { head, cells }
        } else {
            let get = |kind: &str| {
                outputs[yunet_heads::published_output_name(kind, stride)]
                    .try_extract_tensor::<f32>()
            };
            yunet_heads::Heads::Published {
                cls: get("cls")?.1,
                obj: get("obj")?.1,
                bbox: get("bbox")?.1,
                kps: get("kps")?.1,
            }
        };
        let s = stride as f32;
        for i in 0..cells.min(heads.cells()) {
            let (cls, obj) = heads.probabilities(i);
            let score = (cls.clamp(0.0, 1.0) * obj.clamp(0.0, 1.0)).sqrt();
            if score < cfg.score_threshold {
                continue;
            }
            let r = (i / cols) as f32;
            let c = (i % cols) as f32;
            let b: [f32; 4] = std::array::from_fn(|k| heads.bbox(i, k));
            let cx = (c + b[0]) * s;
            let cy = (r + b[1]) * s;
            let w = b[2].exp() * s;
            let h = b[3].exp() * s;
            let mut landmarks = [[0f32; 2]; 5];
            for (j, lm) in landmarks.iter_mut().enumerate() {
                *lm = [
                    (heads.kps(i, 2 * j) + c) * s * input.sx,
                    (heads.kps(i, 2 * j + 1) + r) * s * input.sy,
                ];
            }
            candidates.push(Detection {
                score,
                bbox: [
                    (cx - w / 2.0) * input.sx,
                    (cy - h / 2.0) * input.sy,
                    w * input.sx,
                    h * input.sy,
                ],
                landmarks,
            });
        }
    }
    Ok(nms(candidates, cfg.nms_iou))
}

/// Greedy non-maximum suppression, best score first.
fn nms(mut candidates: Vec<Detection>, iou: f32) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for c in candidates {
        if kept.iter().all(|k| k.iou(&c) <= iou) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(score: f32, x: f32) -> Detection {
        Detection {
            score,
            bbox: [x, 0.0, 10.0, 10.0],
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn nms_keeps_best_of_overlapping() {
        let kept = nms(vec![det(0.7, 1.0), det(0.9, 0.0), det(0.8, 50.0)], 0.3);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].score, 0.8);
    }

    #[test]
    fn input_is_padded_bgr() {
        let img = RgbImage::from_pixel(40, 20, image::Rgb([10, 20, 30]));
        let input = prepare(&img, 640);
        assert_eq!((input.width, input.height), (64, 32));
        let plane = 64 * 32;
        assert_eq!(input.tensor[0], 30.0);
        assert_eq!(input.tensor[plane], 20.0);
        assert_eq!(input.tensor[2 * plane], 10.0);
        assert_eq!(input.tensor[45], 0.0, "padding is zero");
    }
}
