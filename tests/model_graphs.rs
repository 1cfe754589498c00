//! The faster forms of the MiniFASNet graphs (`[models] minifasnet_graph`, see
//! `src/models/prelu.rs` and `src/models/blocked.rs`) against the files as published, on every
//! shared image alone and on pairs:
//! - `prelu_as_max` must give the same JSON, scores included, to the last bit;
//! - `blocked` (the default) must give the same decisions, errors and every other field, with
//!   each texture and liveness score within [`BLOCKED_SCORE_TOLERANCE`] (measured: the largest
//!   move is printed, and was below 1e-5 here).

mod common;

use common::{data_dir, read, request};
use liveness::Engine;
use liveness::api::LivenessDetectionResponse;
use liveness::config::{MiniFasnetGraph, Settings};
use serde_json::Value;

/// The largest move of a texture or liveness score that the `blocked` form may cause. Scores
/// are rounded to 4 decimals on the wire, so a change of 1e-6 can show as one unit there (1e-4,
/// or a hair more in binary); two units leave room for that. The bar for a cheaper
/// network is 0.03.
const BLOCKED_SCORE_TOLERANCE: f64 = 2e-4;

/// The response as JSON (floats in shortest round-trip form, so equal text is equal bits), or
/// the error.
fn text<E: std::fmt::Display>(r: &Result<LivenessDetectionResponse, E>) -> String {
    match r {
        Ok(v) => serde_json::to_string(v).expect("serialisable"),
        Err(e) => format!("error: {e}"),
    }
}

fn engine(form: MiniFasnetGraph) -> Engine {
    let mut settings = Settings::load(None).expect("configuration").scoring;
    settings.models.minifasnet_graph = form;
    Engine::new(settings, 1).expect("models and ONNX Runtime (run `make setup`)")
}

/// Every request of the comparison: each shared image alone, and three pairs (the active stage
/// and the challenge read the texture score of both images).
fn requests() -> Vec<(String, liveness::api::LivenessDetectionRequest)> {
    let root = data_dir();
    let files = common::images::under(&root, &root);
    assert!(files.len() > 150, "the shared images are there");
    let mut all: Vec<_> = files
        .iter()
        .map(|name| (name.clone(), request(&[(&read(name), &[])])))
        .collect();
    for pair in [
        ["bioid/challenge_right_1.png", "bioid/challenge_right_2.png"],
        ["bioid/nod/001.jpg", "bioid/nod/040.jpg"],
        ["bioid/nod/064.jpg", "bioid/nod/092.jpg"],
    ] {
        let (a, b) = (read(pair[0]), read(pair[1]));
        all.push((format!("{pair:?}"), request(&[(&a, &[]), (&b, &["right"])])));
    }
    all
}

#[test]
fn prelu_as_max_gives_the_same_responses_on_every_shared_image() {
    let (fast, published) = (
        engine(MiniFasnetGraph::PreluAsMax),
        engine(MiniFasnetGraph::Published),
    );
    assert_eq!(
        fast.rewritten_graphs(),
        2,
        "both MiniFASNet graphs rewritten"
    );
    assert_eq!(published.rewritten_graphs(), 0);
    for (name, req) in requests() {
        assert_eq!(
            text(&fast.score(&req)),
            text(&published.score(&req)),
            "{name}"
        );
    }
}

/// Walks two JSON values in step: the numbers under a key ending in "Score" (texture, motion,
/// liveness, quality) may differ by the tolerance, everything else must be equal. Returns the
/// largest score difference.
fn compare(a: &Value, b: &Value, key: &str, at: &str) -> f64 {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            x.iter()
                .map(|(k, v)| compare(v, &y[k], k, &format!("{at}.{k}")))
                .fold(0.0, f64::max)
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            x.iter()
                .zip(y)
                .enumerate()
                .map(|(i, (v, w))| compare(v, w, key, &format!("{at}[{i}]")))
                .fold(0.0, f64::max)
        }
        (Value::Number(x), Value::Number(y)) if key.ends_with("Score") => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            let d = (x - y).abs();
            assert!(d <= BLOCKED_SCORE_TOLERANCE, "{at}: {x} against {y}");
            d
        }
        _ => {
            assert_eq!(a, b, "{at}");
            0.0
        }
    }
}

#[test]
fn blocked_graphs_keep_every_decision_and_every_score_within_tolerance() {
    let (fast, published) = (
        engine(MiniFasnetGraph::Blocked),
        engine(MiniFasnetGraph::Published),
    );
    assert_eq!(
        fast.rewritten_graphs(),
        2,
        "both MiniFASNet graphs rewritten"
    );
    let (mut largest, mut compared, mut live) = (0.0f64, 0, 0);
    for (name, req) in requests() {
        let (a, b) = (fast.score(&req), published.score(&req));
        let (Ok(a), Ok(b)) = (&a, &b) else {
            assert_eq!(text(&a), text(&b), "{name}");
            continue;
        };
        assert_eq!(a.live, b.live, "{name}: the decision");
        let (ja, jb) = (
            serde_json::to_value(a).expect("json"),
            serde_json::to_value(b).expect("json"),
        );
        largest = largest.max(compare(&ja, &jb, "", &name));
        compared += 1;
        live += usize::from(a.live);
    }
    println!(
        "blocked against published: {compared} responses, {live} live, largest score move {largest:e}"
    );
    assert!(compared > 150);
    // Both decisions occur, so an engine that said the same thing to everything would fail.
    // (Most shared images are live photos; 17 are attacks or unusable.)
    assert!(
        live > 10 && compared - live > 10,
        "{live} of {compared} live"
    );
}
