//! Image intake: base64, format sniffing, limits checked before any pixel is allocated, EXIF
//! orientation, and the downscale of very large images.

use std::io::Cursor;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use fast_image_resize as fr;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::config::Limits;

/// Why an image was refused. Every message is written for the client that sent it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("the image is empty")]
    Empty,
    #[error("the image is not valid base64: {0}")]
    Base64(String),
    #[error("the image is {bytes} bytes, more than the limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the image format is not supported: expected PNG, JPEG, WebP or BMP{0}")]
    UnknownFormat(String),
    #[error("the image is {width}x{height} pixels, more than the limit of {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the image has no pixels ({width}x{height})")]
    NoPixels { width: u32, height: u32 },
    #[error("the {format} image cannot be decoded: {message}")]
    Undecodable {
        format: &'static str,
        message: String,
    },
}

/// Standard alphabet; padding optional (some clients strip it).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes the `image` field of a request: plain base64 or an RFC 2397 data URL
/// (`data:image/png;base64,...`). Line breaks and spaces (MIME-style base64) are ignored.
pub fn decode_base64(field: &str, max_bytes: usize) -> Result<Vec<u8>, ImageError> {
    let payload = match field.strip_prefix("data:") {
        Some(rest) => match rest.split_once(',') {
            Some((meta, data)) if meta.ends_with(";base64") => data,
            _ => {
                return Err(ImageError::Base64(
                    "a data URL must be of the form data:<type>;base64,<data>".into(),
                ));
            }
        },
        None => field,
    };
    let payload = payload.trim();
    if payload.is_empty() {
        return Err(ImageError::Empty);
    }
    // base64 inflates by 4/3: refuse before decoding what could not fit the limit anyway.
    let decoded_len = payload.len() / 4 * 3;
    if decoded_len > max_bytes {
        return Err(ImageError::TooLarge {
            bytes: decoded_len,
            limit: max_bytes,
        });
    }
    let result = if payload.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = payload
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        BASE64.decode(compact)
    } else {
        BASE64.decode(payload)
    };
    let bytes = result.map_err(|e| ImageError::Base64(e.to_string()))?;
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    Ok(bytes)
}

/// A decoded, upright (EXIF applied) RGB image, possibly scaled down.
pub struct Decoded {
    pub rgb: RgbImage,
    /// Size of the file's image after EXIF orientation, before any downscale.
    pub original_size: (u32, u32),
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Bmp => "BMP",
        _ => "unsupported",
    }
}

/// Sniffs the format from the magic bytes; only the four formats BWS accepts pass.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, ImageError> {
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Bmp)) => {
            Ok(f)
        }
        Ok(other) => Err(ImageError::UnknownFormat(format!(
            ", got {}",
            other
                .extensions_str()
                .first()
                .copied()
                .unwrap_or("another format")
        ))),
        Err(_) => Err(ImageError::UnknownFormat(String::new())),
    }
}

/// Decodes an image file. The header's dimensions are checked against `limits.max_pixels`
/// before the decoder allocates the pixel buffer, so a 100000x100000 header costs nothing.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let format = sniff(bytes)?;
    let fname = format_name(format);
    // The JPEG decoder fills a truncated scan with grey and reports success; a cut-off upload
    // must be refused, not scored.
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(ImageError::Undecodable {
            format: fname,
            message: "the data ends before the end-of-image marker (truncated file)".into(),
        });
    }
    let undecodable = |e: image::ImageError| ImageError::Undecodable {
        format: fname,
        message: e.to_string(),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // A second line of defence: the decoders themselves refuse allocations past this.
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4).saturating_add(1 << 24));
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::NoPixels { width, height });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    // A broken EXIF block is no reason to refuse the picture: decode it as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    img.apply_orientation(orientation);
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    };
    let original_size = rgb.dimensions();
    let rgb = limit_size(rgb, limits.max_working_side);
    Ok(Decoded { rgb, original_size })
}

/// Whether a JPEG's main image scan is followed by its end-of-image marker (FF D9).
///
/// The segments before the first start-of-scan are skipped by their lengths, so an EXIF
/// thumbnail's own end marker (inside APP1) does not count. In entropy-coded data a 0xFF byte is
/// always followed by 0x00 or a restart marker, so FF D9 after the scan start is the real end.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut pos = 2; // after SOI (FF D8)
    while pos + 4 <= bytes.len() {
        if bytes[pos] != 0xFF {
            return false;
        }
        let marker = bytes[pos + 1];
        if marker == 0xFF {
            pos += 1; // fill byte
            continue;
        }
        if marker == 0xDA {
            return bytes[pos..].windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        let len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        pos += 2 + len;
    }
    false
}

/// Scales an image down so its long side is at most `max_side`.
fn limit_size(rgb: RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = rgb.dimensions();
    let long = w.max(h);
    if long <= max_side || max_side == 0 {
        return rgb;
    }
    let scale = max_side as f32 / long as f32;
    let nw = ((w as f32 * scale).round() as u32).max(1);
    let nh = ((h as f32 * scale).round() as u32).max(1);
    resize_rgb(&rgb, nw, nh).unwrap_or(rgb)
}

/// Area-correct (convolution, bilinear kernel) RGB resize with SIMD; `None` only if the buffer
/// does not match its dimensions, which an `RgbImage` guarantees it does.
pub fn resize_rgb(src: &RgbImage, width: u32, height: u32) -> Option<RgbImage> {
    let src_view =
        fr::images::ImageRef::new(src.width(), src.height(), src.as_raw(), fr::PixelType::U8x3)
            .ok()?;
    let mut dst = fr::images::Image::new(width, height, fr::PixelType::U8x3);
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
    fr::Resizer::new()
        .resize(&src_view, &mut dst, &options)
        .ok()?;
    RgbImage::from_raw(width, height, dst.into_vec())
}

/// Rotates clockwise by a quarter-turn multiple (0, 90, 180, 270).
pub fn rotate_cw(img: &RgbImage, degrees: i32) -> RgbImage {
    match degrees.rem_euclid(360) {
        90 => image::imageops::rotate90(img),
        180 => image::imageops::rotate180(img),
        270 => image::imageops::rotate270(img),
        _ => img.clone(),
    }
}

/// ITU-R BT.601 luma, the weights OpenCV's `cvtColor(RGB2GRAY)` uses.
pub fn to_gray(img: &RgbImage) -> Vec<u8> {
    img.as_raw()
        .chunks_exact(3)
        .map(|p| {
            ((u32::from(p[0]) * 4899 + u32::from(p[1]) * 9617 + u32::from(p[2]) * 1868 + 8192)
                >> 14) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_request_bytes: 50 << 20,
            max_pixels: 40_000_000,
            max_working_side: 2048,
        }
    }

    #[test]
    fn base64_variants() {
        assert_eq!(decode_base64("AAEC", 100).unwrap(), vec![0, 1, 2]);
        assert_eq!(decode_base64("AAE", 100).unwrap(), vec![0, 1]);
        assert_eq!(decode_base64("AAE=", 100).unwrap(), vec![0, 1]);
        assert_eq!(
            decode_base64("data:image/png;base64,AAEC", 100).unwrap(),
            vec![0, 1, 2]
        );
        assert_eq!(decode_base64("AA\r\nEC", 100).unwrap(), vec![0, 1, 2]);
        assert!(matches!(
            decode_base64("!!!", 100),
            Err(ImageError::Base64(_))
        ));
        assert_eq!(decode_base64("", 100), Err(ImageError::Empty));
        assert!(matches!(
            decode_base64("AAECAAEC", 3),
            Err(ImageError::TooLarge { .. })
        ));
    }

    #[test]
    fn random_bytes_are_an_unknown_format() {
        let bytes: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(matches!(
            decode(&bytes, &limits()),
            Err(ImageError::UnknownFormat(_))
        ));
    }

    #[test]
    fn gray_of_white_is_white() {
        let img = RgbImage::from_pixel(2, 2, image::Rgb([255, 255, 255]));
        assert_eq!(to_gray(&img), vec![255; 4]);
    }
}
