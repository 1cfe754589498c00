//! The faster MiniFASNet graphs (`[models] prelu_as_max`, see `src/models/prelu.rs`) must not
//! change one response: every shared image, alone and in pairs, scored with the rewritten
//! graphs and with the published ones gives the same JSON, scores included, to the last bit.

mod common;

use common::{data_dir, read, request};
use liveness::Engine;
use liveness::config::Settings;

/// The response as JSON (floats in shortest round-trip form, so equal text is equal bits), or
/// the error.
fn text<E: std::fmt::Display>(r: &Result<liveness::api::LivenessDetectionResponse, E>) -> String {
    match r {
        Ok(v) => serde_json::to_string(v).expect("serialisable"),
        Err(e) => format!("error: {e}"),
    }
}

fn engine(prelu_as_max: bool) -> Engine {
    let mut settings = Settings::load(None).expect("configuration").scoring;
    settings.models.prelu_as_max = prelu_as_max;
    Engine::new(settings, 1).expect("models and ONNX Runtime (run `make setup`)")
}

#[test]
fn rewritten_graphs_give_the_same_responses_on_every_shared_image() {
    let (fast, published) = (engine(true), engine(false));
    assert_eq!(
        fast.prelu_rewritten(),
        2,
        "both MiniFASNet graphs rewritten"
    );
    assert_eq!(published.prelu_rewritten(), 0);
    let root = data_dir();
    let files = common::images::under(&root, &root);
    assert!(files.len() > 150, "the shared images are there");
    let mut compared = 0;
    for name in &files {
        let req = request(&[(&read(name), &[])]);
        let (a, b) = (fast.score(&req), published.score(&req));
        assert_eq!(text(&a), text(&b), "{name}");
        compared += 1;
    }
    // Pairs: the active stage and the challenge read the texture score of both images.
    for pair in [
        ["bioid/challenge_right_1.png", "bioid/challenge_right_2.png"],
        ["bioid/nod/001.jpg", "bioid/nod/040.jpg"],
        ["bioid/nod/064.jpg", "bioid/nod/092.jpg"],
    ] {
        let (a, b) = (read(pair[0]), read(pair[1]));
        let req = request(&[(&a, &[]), (&b, &["right"])]);
        assert_eq!(
            text(&fast.score(&req)),
            text(&published.score(&req)),
            "{pair:?}"
        );
        compared += 1;
    }
    assert!(compared > 150);
}
