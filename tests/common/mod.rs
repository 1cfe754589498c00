//! Shared helpers of the integration tests: the real models, the real images of `../shared/data`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use liveness::Engine;
use liveness::api::{ErrorCode, ImageData, LivenessDetectionRequest, LivenessDetectionResponse};
use liveness::config::Settings;

/// Ports handed to the processes a test starts: below Linux's default ephemeral range (32768
/// to 60999). A port the kernel picks for `bind(0)` comes from that range, and so does the
/// local port of every outgoing connection the parallel tests open, so one could take it
/// between the check and the process's bind: a RabbitMQ node of the cluster tests once failed
/// to boot with `dist_port_already_used` that way.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port free on 127.0.0.1 and on every address when this returns, chosen at random in
/// [`PORTS`], for a process that a test starts and that binds it itself.
pub fn free_port() -> u16 {
    let mut rng = fastrand::Rng::new();
    loop {
        let port = rng.u16(PORTS);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
        {
            return port;
        }
    }
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

pub fn read(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("test image {}: {e}", path.display()))
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One engine for all tests of a binary: loading the models once keeps the suite fast.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let settings = Settings::load(None).expect("configuration");
        Engine::new(settings.scoring, 2).expect("models and ONNX Runtime (run `make setup`)")
    })
}

pub fn request(images: &[(&[u8], &[&str])]) -> LivenessDetectionRequest {
    LivenessDetectionRequest {
        live_images: images
            .iter()
            .map(|(bytes, tags)| ImageData {
                image: b64(bytes),
                tags: tags.iter().map(|t| t.to_string()).collect(),
            })
            .collect(),
    }
}

pub fn score_bytes(images: &[(&[u8], &[&str])]) -> LivenessDetectionResponse {
    engine().score(&request(images)).expect("a scored response")
}

pub fn score_files(names: &[&str], tags: &[&str]) -> LivenessDetectionResponse {
    engine()
        .score(&score_files_request(names, tags))
        .expect("a scored response")
}

pub fn error_codes(r: &LivenessDetectionResponse) -> Vec<ErrorCode> {
    r.errors.iter().map(|e| e.error_code).collect()
}

pub fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png encode");
    out.into_inner()
}

/// Scales every pixel's 8-bit value by `f`: a brightness change of the file, not a dim capture
/// (for that, see `captures`).
pub fn scaled(img: &image::RgbImage, f: f32) -> image::RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (f32::from(*c) * f).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

pub fn load_rgb(name: &str) -> image::RgbImage {
    image::load_from_memory(&read(name))
        .expect("decode")
        .to_rgb8()
}
pub mod attacks;
pub mod broker;
pub mod captures;
pub mod cluster;
pub mod composites;
pub mod gateway;
pub mod images;

/// The image as the pipeline sees it: EXIF orientation applied.
pub fn decoded_rgb(name: &str) -> image::RgbImage {
    liveness::pipeline::image::decode(&read(name), &engine().settings().limits)
        .expect("decode")
        .rgb
}

/// The single face's centre (eye midpoint moved half an eye distance toward the mouth) and eye
/// distance, from the pipeline's own response to the image alone.
pub fn face_of(rgb: &image::RgbImage) -> ([f64; 2], f64) {
    let r = score_bytes(&[(&png(rgb), &[])]);
    let p = &r.image_properties[0];
    assert_eq!(p.rotated, 0, "an upright image");
    let f = &p.faces[0];
    let d = (f.left_eye.x - f.right_eye.x).hypot(f.left_eye.y - f.right_eye.y);
    let mid = [
        0.5 * (f.left_eye.x + f.right_eye.x),
        0.5 * (f.left_eye.y + f.right_eye.y),
    ];
    ([mid[0], mid[1] + 0.5 * d], d)
}

pub fn score_files_request(names: &[&str], tags: &[&str]) -> LivenessDetectionRequest {
    let files: Vec<Vec<u8>> = names.iter().map(|n| read(n)).collect();
    let mut images: Vec<(&[u8], &[&str])> = files.iter().map(|f| (f.as_slice(), &[][..])).collect();
    if let Some(last) = images.last_mut() {
        last.1 = tags;
    }
    request(&images)
}

/// A client key as the BWS portal shows it (base64 text of random bytes); test use only.
pub const TEST_KEY: &str = "gfZN0Y7anNNDyCYoC26iF/JM6lfNF5+oF02/F/KdSTw=";
/// Another key, which the services under test do not know.
pub const OTHER_KEY: &str = "3q0dJq4bM2pVfI5x0s1Tgk8N6m6yQm0nSxgVZ0mZ2xk=";

/// A BWS-style client token (HS256; `iss` = `sub` = the client id) for audience `aud`,
/// signed with the decoded bytes of the base64 `key`, expiring `exp_offset` seconds from now
/// (negative: already expired).
pub fn jwt(key: &str, aud: &str, exp_offset: i64) -> String {
    #[derive(serde::Serialize)]
    struct C<'a> {
        iss: &'a str,
        sub: &'a str,
        aud: &'a str,
        exp: i64,
    }
    let claims = C {
        iss: "client",
        sub: "client",
        aud,
        exp: chrono::Utc::now().timestamp() + exp_offset,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_base64_secret(key).expect("a base64 key"),
    )
    .unwrap()
}
