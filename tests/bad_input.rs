//! Bad input: each case gives a clear, specific `InvalidArgument` and never a panic.

mod common;

use common::*;
use liveness::ScoreError;
use liveness::api::{ImageData, LivenessDetectionRequest};

fn invalid(result: Result<liveness::api::LivenessDetectionResponse, ScoreError>) -> String {
    match result {
        Err(ScoreError::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

fn with_image(field: String) -> LivenessDetectionRequest {
    LivenessDetectionRequest {
        live_images: vec![ImageData {
            image: field,
            tags: vec![],
        }],
    }
}

fn invalid_image(bytes: &[u8]) -> String {
    invalid(engine().score(&with_image(b64(bytes))))
}

/// CRC-32 (IEEE) for hand-made PNG chunks.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A well-formed PNG header that claims `w`x`h` RGB pixels, with a tiny IDAT.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn invalid_base64() {
    let m = invalid(engine().score(&with_image("this is not base64!".into())));
    assert!(m.contains("base64"), "{m}");
}

#[test]
fn empty_image() {
    let m = invalid(engine().score(&with_image(String::new())));
    assert!(m.contains("empty"), "{m}");
}

#[test]
fn truncated_png() {
    let full = read("bioid/challenge_right_1.png");
    let m = invalid_image(&full[..full.len() / 3]);
    assert!(m.contains("PNG") && m.contains("cannot be decoded"), "{m}");
}

#[test]
fn truncated_jpeg() {
    let full = read("bioid/nod/001.jpg");
    // Past the headers, well before the end of the entropy-coded data.
    let m = invalid_image(&full[..full.len() / 2]);
    assert!(m.contains("JPEG") && m.contains("cannot be decoded"), "{m}");
}

#[test]
fn random_bytes() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let m = invalid_image(&bytes);
    assert!(m.contains("not supported"), "{m}");
}

#[test]
fn header_claiming_100000_by_100000_pixels_is_refused_before_decoding() {
    let m = invalid_image(&png_claiming(100_000, 100_000));
    assert!(m.contains("100000x100000") && m.contains("limit"), "{m}");
}

#[test]
fn zero_and_three_images() {
    let none = LivenessDetectionRequest {
        live_images: vec![],
    };
    assert!(invalid(engine().score(&none)).contains("got 0"));
    let img = read("bioid/photo.png");
    let three = request(&[(&img, &[]), (&img, &[]), (&img, &[])]);
    assert!(invalid(engine().score(&three)).contains("got 3"));
}

#[test]
fn unknown_tag() {
    let img = read("bioid/challenge_right_1.png");
    let m = invalid(engine().score(&request(&[(&img, &[]), (&img, &["sideways"])])));
    assert!(m.contains("unknown tag") && m.contains("sideways"), "{m}");
}

#[test]
fn malformed_json() {
    for body in [
        &b"{\"liveImages\": [ {\"image\": "[..],
        b"not json",
        b"{\"liveImages\": 5}",
        b"",
    ] {
        let m = invalid(engine().score_json(body));
        assert!(m.contains("not valid JSON"), "{m}");
    }
}

#[test]
fn the_second_bad_image_refuses_the_whole_request() {
    let good = read("bioid/challenge_right_1.png");
    let req = LivenessDetectionRequest {
        live_images: vec![
            ImageData {
                image: b64(&good),
                tags: vec![],
            },
            ImageData {
                image: "%%%".into(),
                tags: vec!["right".into()],
            },
        ],
    };
    let m = invalid(engine().score(&req));
    assert!(m.starts_with("image 2:"), "{m}");
}
