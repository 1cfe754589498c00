//! Single-image scoring and its stages on one core (one intra-op thread, one job at a time).
//! Run with `make bench`; needs `make setup` (the models and ONNX Runtime).

use std::hint::black_box;
use std::path::Path;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use liveness::Engine;
use liveness::api::{ImageData, LivenessDetectionRequest};
use liveness::config::{MiniFasnetGraph, Settings, YunetGraph};
use liveness::pipeline::{face, image, quality, texture};

const IMAGES: [&str; 2] = ["bioid/challenge_right_1.png", "bioid/nod/001.jpg"];

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"))
}

fn bench(c: &mut Criterion) {
    let settings = Settings::load(None).expect("configuration").scoring;
    let engine = Engine::new(settings.clone(), 1).expect("models (run `make setup`)");
    // The other configured choices of `[models] minifasnet_graph` (the default is `blocked`).
    let other_forms = [MiniFasnetGraph::PreluAsMax, MiniFasnetGraph::Published].map(|form| {
        let mut s = settings.clone();
        s.models.minifasnet_graph = form;
        (form, Engine::new(s, 1).expect("models (run `make setup`)"))
    });
    // YuNet as published, against the default `[models] yunet_graph = "merged_heads"`.
    let published_yunet = {
        let mut s = settings.clone();
        s.models.yunet_graph = YunetGraph::Published;
        Engine::new(s, 1).expect("models (run `make setup`)")
    };
    for name in IMAGES {
        let bytes = std::fs::read(data_dir().join(name)).expect("test image");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let request = LivenessDetectionRequest {
            live_images: vec![ImageData {
                image: b64.clone(),
                tags: vec![],
            }],
        };
        let mut group = c.benchmark_group(name);
        group.sample_size(40);
        group.bench_function("score (total)", |b| {
            b.iter(|| engine.score(black_box(&request)).expect("score"))
        });
        for (form, other) in &other_forms {
            group.bench_function(format!("score (total, MiniFASNet graphs {form:?})"), |b| {
                b.iter(|| other.score(black_box(&request)).expect("score"))
            });
        }
        group.bench_function("decode (base64 + image)", |b| {
            b.iter(|| {
                let raw = image::decode_base64(black_box(&b64), usize::MAX).expect("base64");
                image::decode(&raw, &settings.limits).expect("decode")
            })
        });
        let decoded = image::decode(&bytes, &settings.limits).expect("decode");
        for (label, detector) in [("", &engine), (", YuNet as published", &published_yunet)] {
            // Each engine has one model set; it goes back to the pool at the end of the loop.
            let mut models = detector.models();
            group.bench_function(format!("detect (incl. rotation search{label})"), |b| {
                b.iter(|| {
                    detector
                        .locate(&mut models, black_box(&decoded.rgb))
                        .expect("detect")
                        .detections
                        .len()
                })
            });
        }
        let mut models = engine.models();
        let det = face::detect(&mut models.yunet, &decoded.rgb, &settings.detector)
            .expect("detect")
            .into_iter()
            .next()
            .expect("a face");
        group.bench_function("quality", |b| {
            b.iter(|| {
                let (w, h) = decoded.rgb.dimensions();
                let stats = quality::patch_stats(&decoded.rgb, &det);
                (
                    quality::suitability(&det, w, h),
                    quality::thumbnail_fits(&det, &settings.quality, w, h),
                    stats.laplacian_variance,
                )
            })
        });
        group.bench_function("texture (MiniFASNet pair)", |b| {
            b.iter(|| {
                texture::score(&mut models, &decoded.rgb, det.bbox, [1.0; 3], true)
                    .expect("texture")
            })
        });
        drop(models);
        for (form, other) in &other_forms {
            let mut other_models = other.models();
            group.bench_function(format!("texture (MiniFASNet pair, graphs {form:?})"), |b| {
                b.iter(|| {
                    texture::score(&mut other_models, &decoded.rgb, det.bbox, [1.0; 3], true)
                        .expect("texture")
                })
            });
        }
        group.finish();
    }
    phone_photo(c, &settings);
}

/// A 12 MP phone photo (4032x3024 JPEG, quality 90, made from the BioID PNG scaled up with
/// sensor-like noise), decoded and scored with and without DCT scaling
/// (`[limits] jpeg_dct_scaling`).
fn phone_photo(c: &mut Criterion, settings: &liveness::config::ScoringSettings) {
    let png = std::fs::read(data_dir().join(IMAGES[0])).expect("test image");
    let unlimited = liveness::config::Limits {
        max_working_side: 0,
        ..settings.limits.clone()
    };
    let small = image::decode(&png, &unlimited).expect("decode").rgb;
    let mut big = image::resize_rgb(&small, 4032, 3024).expect("resize");
    let mut rng = fastrand::Rng::with_seed(1);
    for v in big.iter_mut() {
        *v = v.saturating_add(rng.u8(0..6)).saturating_sub(3);
    }
    let mut file = Vec::new();
    ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 90)
        .encode_image(&big)
        .expect("encode");
    let request = LivenessDetectionRequest {
        live_images: vec![ImageData {
            image: base64::engine::general_purpose::STANDARD.encode(&file),
            tags: vec![],
        }],
    };
    let mut group = c.benchmark_group("phone photo 4032x3024 JPEG");
    group.sample_size(20);
    for scaling in [true, false] {
        let mut s = settings.clone();
        s.limits.jpeg_dct_scaling = scaling;
        let engine = Engine::new(s.clone(), 1).expect("models (run `make setup`)");
        group.bench_function(format!("decode (jpeg_dct_scaling = {scaling})"), |b| {
            b.iter(|| image::decode(black_box(&file), &s.limits).expect("decode"))
        });
        group.bench_function(
            format!("score (total, jpeg_dct_scaling = {scaling})"),
            |b| b.iter(|| engine.score(black_box(&request)).expect("score")),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
