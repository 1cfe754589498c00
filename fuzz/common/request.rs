//! The body of the `request` fuzz target, shared with `tests/fuzz_reproducers.rs` so that the
//! reproducers run exactly what the fuzzer ran.
//!
//! The input is a request body as it arrives over REST or the queue. It goes through everything
//! that happens to a body before a model runs: the gateway's shape check, the worker's size and
//! JSON check, the image count and tags, and the decoding of every image. Besides "no panic",
//! it checks that the gateway and the worker judge the same body alike, and that a request read
//! from the wire reads back the same after being written out.

use std::sync::LazyLock;

use liveness::api::{self, LivenessDetectionRequest};
use liveness::config::{Limits, Settings};
use liveness::gateway::{ShapeError, check_request_shape};
use liveness::{ScoreError, pipeline};

/// The limits of the compiled-in configuration: the fuzzer runs what production runs.
pub static LIMITS: LazyLock<Limits> = LazyLock::new(|| {
    Settings::defaults()
        .expect("the compiled-in configuration is valid")
        .scoring
        .limits
});

/// Runs one body; returns the sizes of the decoded images, or why the request was refused.
pub fn run(body: &[u8]) -> Result<Vec<(u32, u32)>, ScoreError> {
    let wire = api::parse_request(body);
    // The gateway forwards what it accepts to a worker: if they disagreed, a client would get
    // a refusal whose words depend on who refused, or a job that a worker throws away.
    match (&wire, check_request_shape(body)) {
        (Ok(r), Ok(())) => assert!((1..=2).contains(&r.live_images.len())),
        (Ok(r), Err(ShapeError::ImageCount(n))) => assert_eq!(r.live_images.len(), n),
        (Err(_), Err(ShapeError::Json(_))) => {}
        (w, g) => panic!("the gateway ({g:?}) and the worker ({w:?}) disagree on this body"),
    }
    // The size is checked before the JSON is read.
    if let Some(limit) = body.len().checked_sub(1) {
        match pipeline::parse_request(body, limit) {
            Err(ScoreError::InvalidArgument(m)) if m.contains("more than the limit") => {}
            other => panic!("a body over the limit was not refused as too large: {other:?}"),
        }
    }
    let request = pipeline::parse_request(body, LIMITS.max_request_bytes);
    match (&wire, &request) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(ScoreError::InvalidArgument(_))) => {}
        (w, r) => panic!("api::parse_request ({w:?}) and pipeline::parse_request ({r:?}) disagree"),
    }
    let request = request?;
    round_trips(&request);
    let challenges = pipeline::validate(&request)?;
    let second_tags = request.live_images.get(1).map_or(0, |i| i.tags.len());
    assert_eq!(challenges.len(), second_tags);
    let decoded = pipeline::decode_images(&request, &LIMITS)?;
    assert_eq!(decoded.len(), request.live_images.len());
    Ok(decoded.iter().map(|d| d.rgb.dimensions()).collect())
}

/// A request written out as JSON reads back as the same request (what `liveness enqueue` and
/// the load test rely on when they write requests for the worker).
fn round_trips(request: &LivenessDetectionRequest) {
    let json = serde_json::to_vec(request).expect("a request serialises");
    let again = api::parse_request(&json).expect("a serialised request parses");
    assert_eq!(&again, request);
}
