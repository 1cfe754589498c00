//! One module per subcommand, and what they share.
pub mod enqueue;
pub mod score;
pub mod worker;

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use liveness::api::{ImageData, LivenessDetectionRequest};

/// A request from image files; the tags go on the last image (the second of a pair).
pub fn request_from_files(
    images: &[PathBuf],
    tags: &[String],
) -> anyhow::Result<LivenessDetectionRequest> {
    let mut live_images = Vec::with_capacity(images.len());
    for path in images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        live_images.push(ImageData {
            image: base64::engine::general_purpose::STANDARD.encode(bytes),
            tags: Vec::new(),
        });
    }
    if let Some(last) = live_images.last_mut() {
        last.tags = tags.to_vec();
    }
    Ok(LivenessDetectionRequest { live_images })
}
