//! The active-liveness stage on one core: `pipeline::decision::pair_motion` (pyramidal LK,
//! RANSAC homography, nose parallax) on faces the engine found, for the BioID challenge pair
//! and the nod pair 001 → 040; and, for context, the full two-image `Engine::score`.
//! Run with `make bench`; needs `make setup` (the models and ONNX Runtime).

use std::hint::black_box;
use std::path::Path;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use liveness::Engine;
use liveness::api::{ImageData, LivenessDetectionRequest};
use liveness::config::Settings;
use liveness::pipeline::{FoundFace, decision, image};

const PAIRS: [(&str, &str, &str); 2] = [
    (
        "bioid challenge pair",
        "bioid/challenge_right_1.png",
        "bioid/challenge_right_2.png",
    ),
    ("nod 001 -> 040", "bioid/nod/001.jpg", "bioid/nod/040.jpg"),
];

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"))
}

fn found(engine: &Engine, bytes: &[u8]) -> FoundFace {
    let decoded = image::decode(bytes, &engine.settings().limits).expect("decode");
    let mut models = engine.models();
    engine
        .analyse(&mut models, decoded)
        .expect("analyse")
        .face
        .expect("one usable face")
}

fn bench(c: &mut Criterion) {
    let settings = Settings::load(None).expect("configuration").scoring;
    // One model set with one intra-op thread: everything below runs on one core.
    let engine = Engine::new(settings.clone(), 1).expect("models (run `make setup`)");
    for (label, a, b) in PAIRS {
        let bytes_a = std::fs::read(data_dir().join(a)).expect("test image");
        let bytes_b = std::fs::read(data_dir().join(b)).expect("test image");
        let (fa, fb) = (found(&engine, &bytes_a), found(&engine, &bytes_b));
        let check = decision::pair_motion(&settings.motion, &fa, &fb).expect("motion");
        assert!(
            check.score >= settings.motion.threshold,
            "{label} is a live pair: {check:?}"
        );
        let b64 = |x: &[u8]| base64::engine::general_purpose::STANDARD.encode(x);
        let request = LivenessDetectionRequest {
            live_images: vec![
                ImageData {
                    image: b64(&bytes_a),
                    tags: vec![],
                },
                ImageData {
                    image: b64(&bytes_b),
                    tags: vec![],
                },
            ],
        };
        let mut group = c.benchmark_group(label);
        group.sample_size(60);
        group.bench_function("active stage (pair_motion)", |bch| {
            bch.iter(|| {
                decision::pair_motion(black_box(&settings.motion), black_box(&fa), black_box(&fb))
                    .expect("motion")
            })
        });
        group.sample_size(20);
        group.bench_function("two-image score (total)", |bch| {
            bch.iter(|| engine.score(black_box(&request)).expect("score"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
