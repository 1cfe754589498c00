//! The body of the `image_intake` fuzz target, shared with `tests/fuzz_reproducers.rs`.
//!
//! Input layout: one flag byte, then the data.
//! - bits 0-1, what the data is: 0 and 3 the image file itself (as gRPC carries it); 1 the
//!   request's `image` field as text; 2 the file, base64-encoded here in one of the ways clients
//!   encode it (bits 4-6 choose which), so that decoding must give the file back.
//! - bits 2-3, the limits: 0 production (the compiled-in configuration), 1 small, 2 tiny (so
//!   that the pixel, byte and downscale limits are reached by small inputs), 3 production
//!   without the downscale (`max_working_side = 0`).
//!
//! Besides "no panic", a decoded image must respect the limits it was decoded under.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use liveness::config::{Limits, Settings};
use liveness::pipeline::image::{self, ImageError};

static PRODUCTION: LazyLock<Limits> = LazyLock::new(|| {
    Settings::defaults()
        .expect("the compiled-in configuration is valid")
        .scoring
        .limits
});

/// The limits selected by bits 2-3 of the flag byte.
pub fn limits(flags: u8) -> Limits {
    match (flags >> 2) & 3 {
        0 => PRODUCTION.clone(),
        1 => Limits {
            max_request_bytes: 1 << 16,
            max_pixels: 1 << 16,
            max_working_side: 64,
            jpeg_dct_scaling: true,
        },
        2 => Limits {
            max_request_bytes: 600,
            max_pixels: 256,
            max_working_side: 8,
            jpeg_dct_scaling: true,
        },
        _ => Limits {
            max_working_side: 0,
            ..PRODUCTION.clone()
        },
    }
}

/// The file as a client may write it into the `image` field.
pub fn encode_as_client(variant: u8, file: &[u8]) -> String {
    let wrap = |text: &str, width: usize, eol: &str| {
        text.as_bytes()
            .chunks(width)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(eol)
    };
    match variant & 7 {
        0 => STANDARD.encode(file),
        1 => STANDARD_NO_PAD.encode(file),
        // MIME (RFC 2045): lines of 76 characters, CRLF.
        2 => wrap(&STANDARD.encode(file), 76, "\r\n"),
        3 => format!("data:image/png;base64,{}", STANDARD.encode(file)),
        // PEM-style lines of 64, LF, and a final newline.
        4 => wrap(&STANDARD.encode(file), 64, "\n") + "\n",
        5 => format!(" \t{}\r\n", STANDARD.encode(file)),
        6 => format!(
            "data:application/octet-stream;base64,{}",
            STANDARD_NO_PAD.encode(file)
        ),
        _ => wrap(&STANDARD_NO_PAD.encode(file), 4, " "),
    }
}

/// Runs one input; `None` when it is not one (no flag byte, or field text that is not UTF-8).
pub fn run(data: &[u8]) -> Option<Result<(u32, u32), ImageError>> {
    let (&flags, rest) = data.split_first()?;
    let limits = limits(flags);
    let bytes = match flags & 3 {
        1 => {
            let field = std::str::from_utf8(rest).ok()?;
            match image::decode_base64(field, limits.max_request_bytes) {
                Ok(bytes) => bytes,
                Err(e) => return Some(Err(e)),
            }
        }
        2 => {
            let field = encode_as_client(flags >> 4, rest);
            let decoded = image::decode_base64(&field, limits.max_request_bytes);
            match &decoded {
                _ if rest.is_empty() => assert_eq!(decoded, Err(ImageError::Empty)),
                Ok(bytes) => assert_eq!(bytes, rest, "base64 did not give the file back"),
                Err(ImageError::TooLarge { .. }) => assert!(
                    rest.len() > limits.max_request_bytes,
                    "a file of {} bytes was refused as larger than the limit of {}",
                    rest.len(),
                    limits.max_request_bytes
                ),
                Err(e) => panic!("a file encoded as clients do was refused: {e}"),
            }
            match decoded {
                Ok(bytes) => bytes,
                Err(e) => return Some(Err(e)),
            }
        }
        _ => rest.to_vec(),
    };
    if matches!(flags & 3, 1 | 2) {
        // The byte limit holds for what base64 gave. (A file given as it is, as gRPC carries
        // it, was counted in its request's size instead.)
        assert!(
            bytes.len() <= limits.max_request_bytes,
            "{} bytes passed the limit of {}",
            bytes.len(),
            limits.max_request_bytes
        );
    }
    let result = image::decode(&bytes, &limits);
    match &result {
        Ok(decoded) => check_decoded(decoded, &limits),
        Err(ImageError::TooManyPixels {
            width,
            height,
            limit,
        }) => assert!(u64::from(*width) * u64::from(*height) > *limit),
        Err(ImageError::NoPixels { width, height }) => assert!(*width == 0 || *height == 0),
        Err(ImageError::TooLarge { .. } | ImageError::Base64(_)) => {
            panic!(
                "decode gave an error of decode_base64: {result:?}",
                result = result.as_ref().err()
            )
        }
        Err(_) => {}
    }
    Some(result.map(|d| d.rgb.dimensions()))
}

/// What a decoded image must be: upright RGB within the pixel limit, scaled down to the working
/// side when larger, and left alone when not.
fn check_decoded(decoded: &image::Decoded, limits: &Limits) {
    let (ow, oh) = decoded.original_size;
    assert!(ow > 0 && oh > 0);
    assert!(u64::from(ow) * u64::from(oh) <= limits.max_pixels);
    let (w, h) = decoded.rgb.dimensions();
    assert!(w > 0 && h > 0);
    assert_eq!(decoded.rgb.as_raw().len(), w as usize * h as usize * 3);
    let side = limits.max_working_side;
    if side == 0 || ow.max(oh) <= side {
        assert_eq!((w, h), (ow, oh));
    } else {
        assert!(
            w.max(h) <= side,
            "{w}x{h} is larger than the working side {side}"
        );
    }
}
