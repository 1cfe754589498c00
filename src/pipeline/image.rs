//! Image intake: base64, format sniffing, limits checked before any pixel is allocated, EXIF
//! orientation, and the downscale of very large images (large JPEGs read at reduced scale from
//! their DCT coefficients).

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
    // Refuse before decoding what could not fit the limit. Valid base64 carries 3 bytes in 4
    // characters, and 1 or 2 in a final group of 2 or 3; line breaks and padding carry none.
    // (Counting them, as the whole text's length / 4 * 3 did, refused MIME text within the
    // limit and let unpadded text 1 or 2 bytes past it: fuzz/regressions/image_intake/.)
    let (whitespace, padding) = count_whitespace_and_padding(payload.as_bytes());
    let data_chars = payload.len() - whitespace - padding;
    let decoded_len = data_chars / 4 * 3 + data_chars % 4 * 3 / 4;
    if decoded_len > max_bytes {
        return Err(ImageError::TooLarge {
            bytes: decoded_len,
            limit: max_bytes,
        });
    }
    let result = if whitespace > 0 {
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

/// The ASCII whitespace bytes (as `u8::is_ascii_whitespace`) and the `=` bytes of `bytes`,
/// wherever they are, in one pass: counted in `u8` per block of 255 bytes, a loop the
/// compiler vectorises (the payload is a few hundred kB).
fn count_whitespace_and_padding(bytes: &[u8]) -> (usize, usize) {
    let (mut whitespace, mut padding) = (0usize, 0usize);
    for block in bytes.chunks(255) {
        let (mut w, mut p) = (0u8, 0u8);
        for &b in block {
            w += u8::from(b.is_ascii_whitespace());
            p += u8::from(b == b'=');
        }
        whitespace += usize::from(w);
        padding += usize::from(p);
    }
    (whitespace, padding)
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
    // The WebP decoder reads the EXIF chunk (for the orientation) into a buffer of the size the
    // chunk declares, before reading it and whatever the limits: 4 GB for a file of 100 bytes.
    if format == ImageFormat::WebP && !webp_chunks_fit(bytes) {
        return Err(ImageError::Undecodable {
            format: fname,
            message: "a chunk extends past the end of the data (truncated file)".into(),
        });
    }
    let undecodable = |e: image::ImageError| ImageError::Undecodable {
        format: fname,
        message: e.to_string(),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // A second line of defence: the decoders themselves refuse allocations past this.
    let mut decoder_limits = image::Limits::default();
    let max_alloc = decoder_limits_bytes(limits);
    decoder_limits.max_alloc = Some(max_alloc);
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
    let denominator = match format {
        ImageFormat::Jpeg if limits.jpeg_dct_scaling => {
            jpeg_scale_denominator(width.max(height), limits.max_working_side)
        }
        _ => 1,
    };
    let read_apart = match format {
        ImageFormat::Jpeg if denominator > 1 => {
            decode_jpeg_scaled(bytes, (width, height), denominator, max_alloc)
        }
        // Most PNGs inflate faster through libdeflate; what that path does not read (or finds
        // damaged) the `image` crate reads, and words the error for.
        ImageFormat::Png => super::png_rgb::decode_rgb8(bytes, max_alloc),
        _ => None,
    };
    let mut img = match read_apart {
        Some(rgb) => DynamicImage::ImageRgb8(rgb),
        None => DynamicImage::from_decoder(decoder).map_err(undecodable)?,
    };
    img.apply_orientation(orientation);
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    };
    // The size the client sent (after the EXIF turn), which the ImageSize check reports: the
    // header's, which a whole decode also allocates.
    let original_size = if oriented_sideways(orientation) {
        (height, width)
    } else {
        (width, height)
    };
    let rgb = limit_size(rgb, limits.max_working_side);
    Ok(Decoded { rgb, original_size })
}

/// The most any decoder may allocate for one image: four bytes per allowed pixel, and 16 MB for
/// tables and buffers.
fn decoder_limits_bytes(limits: &Limits) -> u64 {
    limits.max_pixels.saturating_mul(4).saturating_add(1 << 24)
}

/// Whether an EXIF orientation turns the image by a quarter turn (so width and height swap).
fn oriented_sideways(orientation: image::metadata::Orientation) -> bool {
    use image::metadata::Orientation as O;
    matches!(
        orientation,
        O::Rotate90 | O::Rotate270 | O::Rotate90FlipH | O::Rotate270FlipH
    )
}

/// How much smaller than the working side a DCT-scaled JPEG may come out: 1/32 of it (2048 →
/// 1984). Without this slack the 12 MP photos of phones, 4000 and 4032 px wide, would miss half
/// scale by 48 and 32 px and be decoded whole (36 MB and 2.7 times the time) to be scaled down
/// to 2048 anyway; a working side 1.6 % smaller changes none of their decisions or quality
/// checks (docs/performance.md, "DCT-scaled JPEG decoding").
const DCT_SCALED_SLACK: u32 = 32;

/// The DCT scale-down (1, 2, 4 or 8) at which to read a JPEG whose long side is `long`: the
/// largest at which the long side is still at least the working side less
/// [`DCT_SCALED_SLACK`]. 1 when there is no working side.
fn jpeg_scale_denominator(long: u32, max_side: u32) -> u32 {
    if max_side == 0 {
        return 1;
    }
    let least = max_side - max_side / DCT_SCALED_SLACK;
    let mut denominator = 1;
    while denominator < 8 && long.div_ceil(denominator * 2) >= least {
        denominator *= 2;
    }
    denominator
}

/// Reads a baseline or progressive JPEG at 1/`denominator` of its size, straight from its DCT
/// coefficients (a reduced inverse DCT per block), into RGB. `None` when the file is anything
/// `jpeg-decoder` does not turn into 8-bit RGB or grey (CMYK, 12 or 16 bits), when its size
/// disagrees with the header the caller read, or when it cannot be decoded: the caller then
/// decodes it whole as before, so a file is refused only when the whole decoder refuses it too.
fn decode_jpeg_scaled(
    bytes: &[u8],
    size: (u32, u32),
    denominator: u32,
    max_alloc: u64,
) -> Option<RgbImage> {
    use jpeg_decoder::PixelFormat;
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size(usize::try_from(max_alloc).unwrap_or(usize::MAX));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    if (u32::from(info.width), u32::from(info.height)) != size
        || !matches!(info.pixel_format, PixelFormat::RGB24 | PixelFormat::L8)
    {
        return None;
    }
    let want = |side: u32| u16::try_from(side.div_ceil(denominator)).ok();
    let (w, h) = decoder.scale(want(size.0)?, want(size.1)?).ok()?;
    let pixels = decoder.decode().ok()?;
    let (w, h) = (u32::from(w), u32::from(h));
    match info.pixel_format {
        PixelFormat::RGB24 => RgbImage::from_raw(w, h, pixels),
        _ => RgbImage::from_raw(w, h, pixels.iter().flat_map(|&l| [l, l, l]).collect()),
    }
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

/// Whether every chunk of a WebP file that the decoder records lies within the data.
///
/// The chunks are walked as `image-webp` walks them: the first one after the 12-byte RIFF header;
/// when it is the extended header (VP8X), the chunks after it up to the RIFF size, each padded
/// to an even length, until a chunk header is cut off. Simple files (VP8, VP8L) have no other
/// chunk the decoder reads, and it reads their image data as a stream.
fn webp_chunks_fit(bytes: &[u8]) -> bool {
    let len = bytes.len() as u64;
    let u32_at = |pos: u64| {
        let start = usize::try_from(pos).ok()?;
        let four: [u8; 4] = bytes.get(start..start.checked_add(4)?)?.try_into().ok()?;
        Some(u64::from(u32::from_le_bytes(four)))
    };
    let (Some(riff_size), Some(first_size)) = (u32_at(4), u32_at(16)) else {
        // Too short for a first chunk: the decoder refuses it itself.
        return true;
    };
    if bytes.get(12..16) != Some(b"VP8X") {
        return true;
    }
    let mut pos = 20 + first_size + (first_size & 1);
    let end = pos + riff_size.saturating_sub(12);
    while pos < end {
        let Some(size) = u32_at(pos + 4) else {
            break;
        };
        if pos + 8 + size > len {
            return false;
        }
        pos += 8 + size + (size & 1);
    }
    true
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
            jpeg_dct_scaling: true,
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
    fn the_byte_limit_is_the_decoded_size() {
        // 4 bytes unpadded: `AAECAw`; the length / 4 * 3 estimate said 3 and let it pass a
        // limit of 3.
        assert_eq!(
            decode_base64("AAECAw", 3),
            Err(ImageError::TooLarge { bytes: 4, limit: 3 })
        );
        assert_eq!(decode_base64("AAECAw", 4).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(decode_base64("AAECAw==", 4).unwrap(), vec![0, 1, 2, 3]);
        // 6 bytes in MIME lines: the line breaks are no data.
        assert_eq!(
            decode_base64("AAEC\r\nAwQF\r\n", 6).unwrap(),
            vec![0, 1, 2, 3, 4, 5]
        );
        assert_eq!(
            decode_base64("AAEC\r\nAwQF\r\n", 5),
            Err(ImageError::TooLarge { bytes: 6, limit: 5 })
        );
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

    /// An extended WebP (VP8X) of a lossless 3x2 picture with an EXIF chunk that declares
    /// `exif_size` bytes and holds `exif`.
    fn extended_webp(exif: &[u8], exif_size: u32) -> Vec<u8> {
        let mut simple = Vec::new();
        let rgb = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8 * 80, y as u8 * 120, 7]));
        image::codecs::webp::WebPEncoder::new_lossless(&mut simple)
            .encode(rgb.as_raw(), 3, 2, image::ExtendedColorType::Rgb8)
            .unwrap();
        let vp8l = &simple[12..]; // the VP8L chunk, header included
        let mut body = b"WEBP".to_vec();
        body.extend(b"VP8X\x0a\0\0\0\x08\0\0\0"); // 10 bytes: flag EXIF
        body.extend([2, 0, 0, 1, 0, 0]); // canvas 3x2, each minus one, 24 bits
        body.extend(vp8l);
        body.extend(b"EXIF");
        body.extend(exif_size.to_le_bytes());
        body.extend(exif);
        if exif.len() % 2 == 1 {
            body.push(0);
        }
        let mut file = b"RIFF".to_vec();
        file.extend((body.len() as u32).to_le_bytes());
        file.extend(body);
        file
    }

    #[test]
    fn a_webp_chunk_past_the_end_is_refused_before_it_is_allocated() {
        // EXIF orientation 6 (rotate 90 degrees clockwise), big-endian TIFF.
        let exif: &[u8] = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
        let good = extended_webp(exif, exif.len() as u32);
        assert_eq!(decode(&good, &limits()).unwrap().rgb.dimensions(), (2, 3));
        // The same chunk declaring 4 GB (fuzz/regressions/image_intake/webp_exif_chunk_4gb.bin):
        // the decoder would have allocated them for the orientation.
        let bomb = extended_webp(exif, u32::MAX);
        assert_eq!(
            decode(&bomb, &limits()).err(),
            Some(ImageError::Undecodable {
                format: "WebP",
                message: "a chunk extends past the end of the data (truncated file)".into()
            })
        );
    }

    #[test]
    fn gray_of_white_is_white() {
        let img = RgbImage::from_pixel(2, 2, image::Rgb([255, 255, 255]));
        assert_eq!(to_gray(&img), vec![255; 4]);
    }

    #[test]
    fn jpeg_scale_is_the_largest_that_keeps_the_working_side() {
        // (long side, working side) -> denominator; 2048 - 2048 / 32 = 1984 is the least side.
        for (long, side, expected) in [
            (1280, 2048, 1),
            (2048, 2048, 1),
            // A scaled side is rounded up, as the decoder's output: 3967 px give 1984 at half scale.
            (3966, 2048, 1),
            (3967, 2048, 2),
            (4000, 2048, 2), // 12 MP phone photos
            (4032, 2048, 2),
            (7932, 2048, 2),
            (7933, 2048, 4),
            (16384, 2048, 8),
            (65535, 2048, 8), // never below 1/8, the smallest DCT scale
            (8000, 0, 1),     // no working side: every pixel is kept
            (64, 8, 8),
        ] {
            assert_eq!(
                jpeg_scale_denominator(long, side),
                expected,
                "{long} px at a working side of {side}"
            );
        }
    }

    /// A `width`x`height` JPEG with texture at every scale (a stand-in for a camera photo).
    fn textured_jpeg(width: u32, height: u32, grey: bool) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(7);
        let img = RgbImage::from_fn(width, height, |x, y| {
            let wave = ((x as f32 * 0.05).sin() + (y as f32 * 0.031).cos()) * 60.0 + 128.0;
            let n = rng.u8(0..24);
            let v = |k: f32| (wave + k + f32::from(n)).clamp(0.0, 255.0) as u8;
            if grey {
                image::Rgb([v(0.0); 3])
            } else {
                image::Rgb([v(0.0), v(-30.0), v(25.0)])
            }
        });
        let mut out = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
        if grey {
            DynamicImage::ImageRgb8(img)
                .to_luma8()
                .write_with_encoder(encoder)
                .unwrap();
        } else {
            img.write_with_encoder(encoder).unwrap();
        }
        out
    }

    /// The JPEG with an EXIF block (APP1) holding only `orientation`, right after its SOI.
    fn with_exif_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
        let mut tiff = b"MM\0*\0\0\0\x08".to_vec(); // big-endian, first IFD at offset 8
        tiff.extend([0, 1]); // one entry
        tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]); // 0x0112, SHORT, 1
        tiff.extend([0, 0, 0, 0]); // no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(tiff);
        let len = u16::try_from(app1.len() + 2).unwrap().to_be_bytes();
        let mut out = jpeg[..2].to_vec();
        out.extend([0xFF, 0xE1, len[0], len[1]]);
        out.extend(app1);
        out.extend(&jpeg[2..]);
        out
    }

    fn mean_abs_difference(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions());
        let sum: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        sum as f64 / a.as_raw().len() as f64
    }

    #[test]
    fn a_large_jpeg_read_at_half_scale_is_the_image_read_whole_and_scaled_down() {
        let whole = Limits {
            jpeg_dct_scaling: false,
            ..limits()
        };
        for (width, height, grey) in [(4100, 2300, false), (2300, 4100, true)] {
            let file = textured_jpeg(width, height, grey);
            let scaled = decode(&file, &limits()).unwrap();
            let reference = decode(&file, &whole).unwrap();
            assert_eq!(scaled.original_size, (width, height));
            assert_eq!(reference.original_size, (width, height));
            // 2050 px at half scale, then scaled to the working side like the whole image.
            assert_eq!(scaled.rgb.dimensions(), reference.rgb.dimensions());
            assert_eq!(scaled.rgb.width().max(scaled.rgb.height()), 2048);
            let diff = mean_abs_difference(&scaled.rgb, &reference.rgb);
            // Measured: 0.94 and 0.94 levels (two different low-pass filters on a noisy texture).
            assert!(
                diff < 2.0,
                "{width}x{height}: mean difference {diff:.2} levels"
            );
        }
    }

    #[test]
    fn a_phone_photo_is_read_at_half_scale_and_keeps_its_size_and_orientation() {
        // 4032x3024, stored landscape with EXIF orientation 6 (turn clockwise to view).
        let file = with_exif_orientation(&textured_jpeg(4032, 3024, false), 6);
        let scaled = decode(&file, &limits()).unwrap();
        // The size the client sent, upright, for the ImageSize check; the working image is the
        // half-scale read (2016 px: within 1/32 of the working side), turned the same way.
        assert_eq!(scaled.original_size, (3024, 4032));
        assert_eq!(scaled.rgb.dimensions(), (1512, 2016));
        // The whole image read and scaled straight to the same size.
        let whole = decode(
            &file,
            &Limits {
                jpeg_dct_scaling: false,
                max_working_side: 2016,
                ..limits()
            },
        )
        .unwrap();
        assert_eq!(whole.original_size, (3024, 4032));
        let diff = mean_abs_difference(&scaled.rgb, &whole.rgb);
        // Measured: 1.42 levels.
        assert!(diff < 2.0, "mean difference {diff:.2} levels");
    }

    #[test]
    fn a_broken_large_jpeg_is_refused_as_before() {
        // Entropy-coded data overwritten: whatever the half-scale read makes of it, the answer
        // is the whole decoder's, as without DCT scaling.
        let mut file = textured_jpeg(4000, 3000, false);
        let start = file.len() / 3;
        let end = file.len() - 2;
        for b in &mut file[start..end] {
            *b = 0xFF;
        }
        let whole = Limits {
            jpeg_dct_scaling: false,
            ..limits()
        };
        let a = decode(&file, &limits()).map(|d| d.rgb.dimensions());
        let b = decode(&file, &whole).map(|d| d.rgb.dimensions());
        assert!(a.is_err() == b.is_err(), "{a:?} against {b:?}");
    }

    /// `decode_base64` before the one-pass count: a count of the data characters, then a
    /// second scan for whitespace. The reference the current one must match.
    fn decode_base64_reference(field: &str, max_bytes: usize) -> Result<Vec<u8>, ImageError> {
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
        let data_chars = payload
            .bytes()
            .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
            .count();
        let decoded_len = data_chars / 4 * 3 + data_chars % 4 * 3 / 4;
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

    #[test]
    fn base64_matches_the_reference() {
        let mut rng = fastrand::Rng::with_seed(64);
        // Whitespace of every kind (and vertical tab, which is not ASCII whitespace to Rust),
        // padding, characters outside the alphabet and non-ASCII text, inserted anywhere.
        let extras = [
            " ", "\t", "\n", "\r\n", "\x0C", "\x0B", "=", "==", "-", "_", "!", "é", "\0",
        ];
        let mut cases: Vec<String> = [
            "",
            " ",
            "=",
            "====",
            " = ",
            "data:",
            "data:image/png;base64,",
            "data:x;base64, A=A ",
            "data:image/png,AAEC",
            "AAEC",
            "AAE",
            "AA",
            "A",
            "AAE=",
            "AA==",
            "A===",
            "AA=C",
            "=AAEC",
            "AAEC=",
            "AAEC====",
            "AA\r\nEC",
            "\u{a0}AAEC",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..4000 {
            let bytes: Vec<u8> = (0..rng.usize(0..1200)).map(|_| rng.u8(..)).collect();
            let mut text = BASE64.encode(&bytes);
            if rng.bool() {
                text = text.trim_end_matches('=').to_string();
            }
            for _ in 0..rng.usize(0..6) {
                let at = rng.usize(0..=text.len());
                if text.is_char_boundary(at) {
                    text.insert_str(at, extras[rng.usize(0..extras.len())]);
                }
            }
            if rng.u8(0..8) == 0 {
                text.insert_str(0, "data:image/jpeg;base64,");
            }
            cases.push(text);
        }
        // A payload longer than the 255-byte blocks of the count, with whitespace in each.
        cases.push(
            BASE64
                .encode(vec![7u8; 3000])
                .as_bytes()
                .chunks(76)
                .map(|l| std::str::from_utf8(l).expect("ASCII"))
                .collect::<Vec<_>>()
                .join("\r\n"),
        );
        for text in &cases {
            let len = text.len();
            for limit in [0, 1, len / 2, len * 3 / 4, len * 3 / 4 + 1, len, usize::MAX] {
                assert_eq!(
                    decode_base64(text, limit),
                    decode_base64_reference(text, limit),
                    "{text:?} limit {limit}"
                );
            }
        }
    }
}
