//! One module per subcommand, and what they share.
pub mod enqueue;
pub mod gateway;
pub mod score;
pub mod worker;

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use liveness::api::{ImageData, LivenessDetectionRequest};

/// The images and tags of `score` and `enqueue`.
#[derive(clap::Args)]
pub struct Images {
    /// One image file (passive liveness) or two (passive, active and challenge).
    #[arg(required = true, num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// Challenge tag of the last image: up, down, left, right or any. Repeatable.
    #[arg(long = "tag", short = 't')]
    pub tags: Vec<String>,
}

impl Images {
    /// The BWS request; the tags go on the last image (the second of a pair).
    pub fn request(&self) -> anyhow::Result<LivenessDetectionRequest> {
        request_from_files(&self.images, &self.tags)
    }
}

fn request_from_files(
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
