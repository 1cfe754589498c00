//! `LIVENESS_EVAL_REFERENCE_GRAPH=published make eval` (or `prelu_as_max`): every request of the
//! evaluation, active and passive, is scored a second time with the MiniFASNet graphs in that
//! form, and the run prints how many decisions and error lists differ and the largest move of
//! each score (the parity check of `[models] minifasnet_graph`, docs/performance.md).
//!
//! `LIVENESS_EVAL_REFERENCE_INPUT_SIDE=320 make eval` does the same against the detector read
//! at another `[detector] input_side`, its `fallback_below_px` scaled with it so that the same
//! faces (in the image's own pixels) get the second, larger pass (the parity check of
//! `input_side`). `LIVENESS_EVAL_REFERENCE_YUNET_GRAPH=published make eval` scores against the
//! YuNet file as published (the parity check of `[models] yunet_graph`). Any of the variables
//! may be given together. Without them nothing changes and nothing is
//! scored twice.

use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};
use liveness::Engine;
use liveness::api::{LivenessDetectionRequest, LivenessDetectionResponse};
use liveness::config::{MiniFasnetGraph, ScoringSettings, YunetGraph};

pub const VARIABLE: &str = "LIVENESS_EVAL_REFERENCE_GRAPH";
pub const YUNET_VARIABLE: &str = "LIVENESS_EVAL_REFERENCE_YUNET_GRAPH";
pub const SIDE_VARIABLE: &str = "LIVENESS_EVAL_REFERENCE_INPUT_SIDE";

struct Parity {
    /// What the reference differs in, for the report.
    what: String,
    engine: Engine,
    stats: Mutex<Stats>,
}

#[derive(Default)]
struct Stats {
    compared: usize,
    decisions: usize,
    errors: usize,
    texture: (f64, String),
    motion: (f64, String),
    liveness: (f64, String),
}

static PARITY: OnceLock<Option<Parity>> = OnceLock::new();

/// Reads the variables and, when one is set, loads the reference engine.
pub fn init(settings: &ScoringSettings, workers: usize) -> Result<()> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let mut s = settings.clone();
    let mut what = Vec::new();
    if let Some(name) = var(VARIABLE) {
        s.models.minifasnet_graph = match name.as_str() {
            "published" => MiniFasnetGraph::Published,
            "prelu_as_max" => MiniFasnetGraph::PreluAsMax,
            "blocked" => MiniFasnetGraph::Blocked,
            other => bail!("{VARIABLE}={other}: published, prelu_as_max or blocked"),
        };
        what.push(format!("the {name} MiniFASNet graphs"));
    }
    if let Some(name) = var(YUNET_VARIABLE) {
        s.models.yunet_graph = match name.as_str() {
            "published" => YunetGraph::Published,
            "merged_heads" => YunetGraph::MergedHeads,
            other => bail!("{YUNET_VARIABLE}={other}: published or merged_heads"),
        };
        what.push(format!("the {name} YuNet graph"));
    }
    if let Some(side) = var(SIDE_VARIABLE) {
        let side: u32 = side
            .parse()
            .with_context(|| format!("{SIDE_VARIABLE}={side}: a side in pixels"))?;
        let d = &mut s.detector;
        d.fallback_below_px *= side as f32 / d.input_side.max(1) as f32;
        d.input_side = side;
        what.push(format!(
            "the detector at {side} px (fallback below {} px)",
            d.fallback_below_px
        ));
    }
    let parity = if what.is_empty() {
        None
    } else {
        Some(Parity {
            what: what.join(" and "),
            engine: Engine::new(s, workers).context("reference models")?,
            stats: Mutex::default(),
        })
    };
    let _ = PARITY.set(parity);
    Ok(())
}

fn record(largest: &mut (f64, String), a: f64, b: f64, label: &str) {
    let d = (a - b).abs();
    if d > largest.0 {
        *largest = (d, label.to_string());
    }
}

/// Scores `request` with the reference engine too (when there is one) and compares.
pub fn check(
    request: &LivenessDetectionRequest,
    response: &LivenessDetectionResponse,
    label: &str,
) {
    let Some(Some(p)) = PARITY.get() else {
        return;
    };
    let reference = p.engine.score(request);
    let mut s = p.stats.lock().unwrap_or_else(|e| e.into_inner());
    s.compared += 1;
    // The form under test answered; a reference that refuses the same request differs.
    let Ok(reference) = reference else {
        s.errors += 1;
        return;
    };
    s.decisions += usize::from(reference.live != response.live);
    let codes =
        |r: &LivenessDetectionResponse| r.errors.iter().map(|e| e.error_code).collect::<Vec<_>>();
    s.errors += usize::from(codes(&reference) != codes(response));
    record(
        &mut s.liveness,
        response.liveness_score,
        reference.liveness_score,
        label,
    );
    for (a, b) in response
        .image_properties
        .iter()
        .zip(&reference.image_properties)
    {
        for (fa, fb) in a.faces.iter().zip(&b.faces) {
            record(
                &mut s.texture,
                fa.texture_liveness_score,
                fb.texture_liveness_score,
                label,
            );
            record(
                &mut s.motion,
                fa.motion_liveness_score,
                fb.motion_liveness_score,
                label,
            );
        }
    }
}

/// The summary line, when a reference was given.
pub fn report() -> Option<String> {
    let p = PARITY.get()?.as_ref()?;
    let s = p.stats.lock().unwrap_or_else(|e| e.into_inner());
    Some(format!(
        "parity against {}: {} requests, {} decisions and {} error lists differ; \
         largest move: texture {:.6} ({}), motion {:.6} ({}), liveness {:.6} ({})",
        p.what,
        s.compared,
        s.decisions,
        s.errors,
        s.texture.0,
        s.texture.1,
        s.motion.0,
        s.motion.1,
        s.liveness.0,
        s.liveness.1
    ))
}
