//! The faster forms of the MiniFASNet graphs (`[models] minifasnet_graph`, see
//! `src/models/prelu.rs` and `src/models/blocked.rs`) and of YuNet (`[models] yunet_graph`,
//! `src/models/yunet_heads.rs`) against the files as published, on every shared image alone and
//! on pairs:
//! - `prelu_as_max` must give the same JSON, scores included, to the last bit;
//! - `blocked` (the default) must give the same decisions, errors and every other field, with
//!   each texture and liveness score within [`BLOCKED_SCORE_TOLERANCE`] (measured: the largest
//!   move is printed, and was below 1e-5 here);
//! - `merged_heads` (the default) the same, with eye positions within [`EYE_TOLERANCE_PX`].

mod common;

use common::{data_dir, read, request};
use liveness::Engine;
use liveness::api::LivenessDetectionResponse;
use liveness::config::{MiniFasnetGraph, ModelSettings, Settings, YunetGraph};
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

/// An engine of the default configuration with `form` applied to its model settings.
fn engine(form: impl FnOnce(&mut ModelSettings)) -> Engine {
    let mut settings = Settings::load(None).expect("configuration").scoring;
    form(&mut settings.models);
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
        engine(|m| m.minifasnet_graph = MiniFasnetGraph::PreluAsMax),
        engine(|m| m.minifasnet_graph = MiniFasnetGraph::Published),
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

/// Walks two JSON values in step: the numbers under a key for which `tolerance` gives a bound
/// may differ by it, everything else must be equal. Returns the largest difference.
fn compare(
    a: &Value,
    b: &Value,
    key: &str,
    at: &str,
    tolerance: &dyn Fn(&str) -> Option<f64>,
) -> f64 {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            x.iter()
                .map(|(k, v)| compare(v, &y[k], k, &format!("{at}.{k}"), tolerance))
                .fold(0.0, f64::max)
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            x.iter()
                .zip(y)
                .enumerate()
                .map(|(i, (v, w))| compare(v, w, key, &format!("{at}[{i}]"), tolerance))
                .fold(0.0, f64::max)
        }
        (Value::Number(x), Value::Number(y)) if tolerance(key).is_some() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            let d = (x - y).abs();
            let allowed = tolerance(key).unwrap_or(0.0);
            assert!(d <= allowed, "{at}: {x} against {y}");
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
        engine(|m| m.minifasnet_graph = MiniFasnetGraph::Blocked),
        engine(|m| m.minifasnet_graph = MiniFasnetGraph::Published),
    );
    assert_eq!(
        fast.rewritten_graphs(),
        2,
        "both MiniFASNet graphs rewritten"
    );
    same_decisions(&fast, &published, "blocked", &|key| {
        key.ends_with("Score").then_some(BLOCKED_SCORE_TOLERANCE)
    });
}

/// Scores every request of [`requests`] with both engines: the same errors, decisions and
/// fields, the numbers under the keys `tolerance` names within its bound. Prints the largest
/// move.
fn same_decisions(
    fast: &Engine,
    published: &Engine,
    form: &str,
    tolerance: &dyn Fn(&str) -> Option<f64>,
) {
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
        largest = largest.max(compare(&ja, &jb, "", &name, tolerance));
        compared += 1;
        live += usize::from(a.live);
    }
    println!(
        "{form} against published: {compared} responses, {live} live, largest move {largest:e}"
    );
    assert!(compared > 150);
    // Both decisions occur, so an engine that said the same thing to everything would fail.
    // (Most shared images are live photos; 17 are attacks or unusable.)
    assert!(
        live > 10 && compared - live > 10,
        "{live} of {compared} live"
    );
}

/// How far an eye position (pixels of the image) may move with YuNet's heads merged: the
/// landmarks move by at most 1.5e-6 grid cells (measured, `src/models/yunet_heads.rs`), which is
/// 1.5e-4 px for the widest cell (stride 32) of a 2048 px image read at 640 px; the wire prints
/// f32 positions with 7 significant digits, 1e-4 px at 1000 px.
const EYE_TOLERANCE_PX: f64 = 2e-3;

#[test]
fn merged_yunet_heads_keep_every_decision_and_every_score_within_tolerance() {
    let (fast, published) = (
        engine(|m| m.yunet_graph = YunetGraph::MergedHeads),
        engine(|m| m.yunet_graph = YunetGraph::Published),
    );
    assert!(fast.yunet_heads_merged(), "the heads were merged");
    assert!(!published.yunet_heads_merged());
    same_decisions(&fast, &published, "merged YuNet heads", &|key| match key {
        k if k.ends_with("Score") => Some(BLOCKED_SCORE_TOLERANCE),
        "x" | "y" => Some(EYE_TOLERANCE_PX),
        _ => None,
    });
}
