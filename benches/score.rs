//! Single-image scoring and its stages on one core (one intra-op thread, one job at a time).
//! Run with `make bench`; needs `make setup` (the models and ONNX Runtime).

use std::hint::black_box;
use std::path::Path;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use liveness::Engine;
use liveness::api::{ImageData, LivenessDetectionRequest};
use liveness::config::{MiniFasnetGraph, Settings};
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
        let mut models = engine.models();
        group.bench_function("detect (incl. rotation search)", |b| {
            b.iter(|| {
                engine
                    .locate(&mut models, black_box(&decoded.rgb))
                    .expect("detect")
                    .detections
                    .len()
            })
        });
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
