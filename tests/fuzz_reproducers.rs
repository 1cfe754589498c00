//! The fuzz targets' inputs as ordinary tests (docs/fuzzing.md): every committed seed
//! (`fuzz/seeds/<target>/`) and every reproducer of a bug the fuzzer found
//! (`fuzz/regressions/<target>/`) runs through the target's own body, the very file the fuzz
//! target includes (`fuzz/common/<target>.rs`), with its checks. Named seeds and each reproducer
//! must also give their specific answer.

#[path = "../fuzz/common/image_intake.rs"]
mod image_intake;
#[path = "../fuzz/common/request.rs"]
mod request;
#[path = "../fuzz/common/token.rs"]
mod token;

use std::path::{Path, PathBuf};

use liveness::AuthError;
use liveness::ScoreError;
use liveness::pipeline::image::ImageError;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted by name.
fn files(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let path = e.expect("a readable directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("a readable file"))
        })
        .collect();
    out.sort();
    out
}

/// Runs every seed and reproducer of a target through `run` (whose own checks panic on a
/// violation); returns the seeds by name for the expectations below.
fn run_all<T>(target: &str, run: impl Fn(&[u8]) -> T) -> Vec<(String, T)> {
    let seeds = files("seeds", target);
    assert!(
        seeds.len() >= 10,
        "fuzz/seeds/{target} has {} seeds; run `make fuzz-seeds`",
        seeds.len()
    );
    for (name, data) in files("regressions", target) {
        eprintln!("{target} reproducer {name}");
        run(&data);
    }
    seeds
        .into_iter()
        .map(|(name, data)| {
            eprintln!("{target} seed {name}");
            let outcome = run(&data);
            (name, outcome)
        })
        .collect()
}

fn seed<'a, T>(outcomes: &'a [(String, T)], name: &str) -> &'a T {
    &outcomes
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no seed {name}"))
        .1
}

#[test]
fn image_intake_seeds_and_reproducers() {
    let outcomes = run_all("image_intake", image_intake::run);
    // Every plain file of the four formats decodes, upright (EXIF 5 to 8 turn it a quarter).
    for (name, outcome) in &outcomes {
        let plain = ["png_", "jpeg_", "webp_", "bmp_"]
            .iter()
            .any(|p| name.starts_with(p));
        let broken = ["truncated", "huge", "zero"]
            .iter()
            .any(|b| name.contains(b));
        if plain && !broken {
            let size = outcome
                .as_ref()
                .expect("a flag byte")
                .as_ref()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = match name.as_str() {
                "jpeg_restart.bin" => (32, 24),
                "bmp_top_down.bin" => (4, 3),
                n if n.contains("exif5") || n.contains("exif7") => (6, 10),
                n if n.contains("exif6") && n.starts_with("jpeg") => (6, 10),
                n if n.contains("exif6") => (12, 16),
                n if n.contains("exif8") => (5, 9),
                _ => (16, 12),
            };
            assert_eq!(*size, expected, "{name}");
        }
    }
    assert!(matches!(
        seed(&outcomes, "png_huge_header.bin"),
        Some(Err(ImageError::TooManyPixels {
            width: 100_000,
            height: 100_000,
            ..
        }))
    ));
    assert!(matches!(
        seed(&outcomes, "jpeg_truncated.bin"),
        Some(Err(ImageError::Undecodable { format: "JPEG", .. }))
    ));
    // Under the tiny limits (256 pixels, working side 8) a 16x12 file is scaled down to 8x6,
    // and a 10x6 one, turned by its EXIF, to 5x8; under the small ones (working side 64) a
    // file is kept as it is.
    assert_eq!(seed(&outcomes, "tiny_png_rgb.bin"), &Some(Ok((8, 6))));
    assert_eq!(seed(&outcomes, "tiny_jpeg_exif6.bin"), &Some(Ok((5, 8))));
    assert_eq!(seed(&outcomes, "small_webp_lossy.bin"), &Some(Ok((16, 12))));
    assert_eq!(
        seed(&outcomes, "field_data_url_jpeg.bin"),
        &Some(Ok((6, 10)))
    );
    assert!(matches!(
        seed(&outcomes, "field_bad_data_url.bin"),
        Some(Err(ImageError::Base64(_)))
    ));
}

#[test]
fn request_seeds_and_reproducers() {
    let outcomes = run_all("request", request::run);
    let refusal = |name: &str| match seed(&outcomes, name) {
        Err(ScoreError::InvalidArgument(m)) => m.clone(),
        other => panic!("{name}: expected InvalidArgument, got {other:?}"),
    };
    assert_eq!(
        seed(&outcomes, "camel_one.json").as_ref().unwrap(),
        &[(4, 3)]
    );
    assert_eq!(
        seed(&outcomes, "pascal_two_right.json").as_ref().unwrap(),
        &[(4, 3), (6, 10)]
    );
    assert_eq!(
        seed(&outcomes, "mime_escaped.json").as_ref().unwrap(),
        &[(16, 12)]
    );
    assert!(refusal("unknown_tag.json").contains("unknown tag \"sideways\""));
    assert!(refusal("no_images.json").contains("one or two images, got 0"));
    assert!(refusal("three_images.json").contains("one or two images, got 3"));
    assert!(refusal("not_json.txt").contains("not valid JSON"));
    assert!(refusal("bad_base64.json").starts_with("image 1: the image is not valid base64"));
    assert!(refusal("not_an_image.json").starts_with("image 1: the image format is not supported"));
}

#[test]
fn token_seeds_and_reproducers() {
    let outcomes = run_all("token", token::run);
    let verdict = |name: &str| {
        seed(&outcomes, name)
            .as_ref()
            .unwrap_or_else(|| panic!("{name} is not an input"))
    };
    let client = |c: &str| Ok(Some(c.to_string()));
    assert_eq!(verdict("signed_csharp_hs256_a.bin"), &client("client-a"));
    assert_eq!(verdict("signed_java_hs512_b.bin"), &client("client-b"));
    assert_eq!(
        verdict("signed_webapp_hs512_a_canonical.bin"),
        &client("client-a")
    );
    assert_eq!(verdict("signed_bare_key_c.bin"), &client("someone"));
    assert_eq!(verdict("raw_bearer_valid.bin"), &client("client-a"));
    assert_eq!(verdict("raw_jwt_valid_hs512.bin"), &client("client-b"));
    assert_eq!(verdict("keys_unpadded.bin"), &client("client-a"));
    // An entry naming client-a with another key: only that key may sign client-a's tokens.
    assert_eq!(
        verdict("keys_other_key_for_a.bin"),
        &Err(AuthError::Signature("client \"client-a\"".into()))
    );
    assert!(matches!(
        verdict("signed_wrong_key.bin"),
        Err(AuthError::Signature(_))
    ));
    assert_eq!(
        verdict("signed_b_claims_a.bin"),
        &Err(AuthError::Signature("client \"client-a\"".into()))
    );
    assert_eq!(
        verdict("signed_hs384.bin"),
        &Err(AuthError::Algorithm("HS384".into()))
    );
    assert_eq!(verdict("signed_expired.bin"), &Err(AuthError::Expired));
    assert_eq!(verdict("signed_not_yet.bin"), &Err(AuthError::NotYetValid));
    assert_eq!(
        verdict("signed_iat_future.bin"),
        &Err(AuthError::IssuedInFuture)
    );
    assert_eq!(
        verdict("signed_no_aud.bin"),
        &Err(AuthError::Audience("BWS".into()))
    );
    assert_eq!(verdict("raw_basic.bin"), &Err(AuthError::Malformed));
    assert!(matches!(
        verdict("raw_alg_none.bin"),
        Err(AuthError::Invalid(_))
    ));
    assert!(matches!(
        verdict("keys_not_base64.bin"),
        Err(AuthError::BadKey(1, _))
    ));
    assert!(matches!(
        verdict("keys_empty_id.bin"),
        Err(AuthError::BadKey(1, _))
    ));
}

// The bugs the fuzzers found, one test each, on the reproducer the fuzzer left (minimised with
// `cargo fuzz tmin` where a smaller input still failed).

fn regression(target: &str, name: &str) -> Vec<u8> {
    let path = fuzz_dir().join("regressions").join(target).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A WebP of 114 bytes whose EXIF chunk declares 4 GB: the decoder allocated the 4 GB
/// to read the orientation (an out-of-memory abort where the allocation fails).
#[test]
fn webp_exif_chunk_of_4gb_is_refused_before_allocating() {
    assert_eq!(
        image_intake::run(&regression("image_intake", "webp_exif_chunk_4gb.bin")),
        Some(Err(ImageError::Undecodable {
            format: "WebP",
            message: "a chunk extends past the end of the data (truncated file)".into(),
        }))
    );
}

/// 601 bytes as unpadded base64 under a limit of 600: the size estimate (text length / 4 * 3)
/// said 600 and let them through.
#[test]
fn unpadded_base64_past_the_byte_limit_is_refused() {
    assert_eq!(
        image_intake::run(&regression("image_intake", "unpadded_past_limit.bin")),
        Some(Err(ImageError::TooLarge {
            bytes: 601,
            limit: 600
        }))
    );
}

/// 590 bytes as MIME base64 (CRLF every 76 characters) under a limit of 600: the estimate
/// counted the line breaks (606) and refused them. They pass, and are then no image.
#[test]
fn mime_base64_within_the_byte_limit_is_accepted() {
    assert!(matches!(
        image_intake::run(&regression("image_intake", "mime_within_limit.bin")),
        Some(Err(ImageError::UnknownFormat(_)))
    ));
}

/// A leeway of 21474836510 s (beyond the current time): `jsonwebtoken` computed `now - leeway`
/// in u64 and panicked (in release builds it wrapped, and every token had expired).
#[test]
fn leeway_beyond_now_is_refused_not_a_panic() {
    assert_eq!(
        token::run(&regression("token", "leeway_beyond_now.bin")),
        Some(Err(AuthError::Leeway(0x5_0000_001e)))
    );
}

/// A valid token whose `iat` has a fraction (`Date.now() / 1000`), as RFC 7519 allows and as
/// `exp` and `nbf` were already read: it was refused as invalid. The token oracle's "a plain
/// token that breaks no rule is accepted" found it on this input, written by hand rather than by
/// the fuzzer's own search (docs/fuzzing.md).
#[test]
fn iat_with_a_fraction_is_accepted() {
    assert_eq!(
        token::run(&regression("token", "iat_with_fraction.bin")),
        Some(Ok(Some("client-a".to_string())))
    );
}
