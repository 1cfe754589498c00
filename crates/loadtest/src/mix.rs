//! The job mix of the load test: realistic BWS request bodies built from real images.
//!
//! Real clients send selfies as PNG or as JPEG of a few hundred kB, one image (passive only) or
//! two (active and challenge), with or without tags. The bodies here are built once, before the
//! clock starts, from the project's test images: the BioID PNGs as they are (0.26 to 0.45 MB of
//! base64), the BioID nod frames re-encoded as JPEG at quality 98 (a little over 0.2 MB of
//! base64 each, against 0.08 MB for the heavily compressed originals) and one frame upscaled to
//! 1920x1080, so that every image is 0.2 to 1 MB of base64 (`tests/loadtest.rs` checks it).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use liveness::api::{ImageData, LivenessDetectionRequest};

use crate::LoadtestError;

/// Which jobs the mix holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MixKind {
    /// One- and two-image jobs, PNG and JPEG, with and without tags.
    All,
    /// Two-image jobs only (active liveness on every job).
    Pairs,
    /// One-image jobs only (passive liveness).
    Single,
    /// The images of the comparison with the Python peer (`scripts/python_reference.py
    /// --processes`): the BioID PNG and a nod frame as stored, one-image jobs in turn.
    Peer,
}

/// One kind of job of the mix, with its request body.
#[derive(Debug, Clone)]
pub struct JobTemplate {
    pub name: String,
    pub images: usize,
    pub body: Vec<u8>,
}

/// The nod frames are heavily compressed (about 60 kB for 1280x720); re-encoded at this quality
/// they are 0.2 to 0.25 MB of base64, like a phone camera's frame of that size.
const JPEG_QUALITY: u8 = 98;

enum Source {
    /// A file as it is.
    File(&'static str),
    /// A file re-encoded as JPEG ([`JPEG_QUALITY`]), optionally resized to this width first.
    Jpeg(&'static str, Option<u32>),
}

struct Recipe {
    name: &'static str,
    images: &'static [Source],
    tag: Option<&'static str>,
}

use Source::{File, Jpeg};

const RECIPES: &[Recipe] = &[
    Recipe {
        name: "png-1",
        images: &[File("bioid/challenge_right_1.png")],
        tag: None,
    },
    Recipe {
        name: "png-1-spoof",
        images: &[File("bioid/photo.png")],
        tag: None,
    },
    Recipe {
        name: "jpeg-1",
        images: &[Jpeg("bioid/nod/020.jpg", None)],
        tag: None,
    },
    Recipe {
        name: "jpeg-1-1080p",
        images: &[Jpeg("bioid/nod/050.jpg", Some(1920))],
        tag: None,
    },
    Recipe {
        name: "png-2-right",
        images: &[
            File("bioid/challenge_right_1.png"),
            File("bioid/challenge_right_2.png"),
        ],
        tag: Some("right"),
    },
    Recipe {
        name: "jpeg-2-down",
        images: &[
            Jpeg("bioid/nod/001.jpg", None),
            Jpeg("bioid/nod/040.jpg", None),
        ],
        tag: Some("down"),
    },
    Recipe {
        name: "jpeg-2-up",
        images: &[
            Jpeg("bioid/nod/064.jpg", None),
            Jpeg("bioid/nod/092.jpg", None),
        ],
        tag: Some("up"),
    },
    Recipe {
        name: "jpeg-2",
        images: &[
            Jpeg("bioid/nod/010.jpg", None),
            Jpeg("bioid/nod/030.jpg", None),
        ],
        tag: None,
    },
];

/// [`MixKind::Peer`]: the files the Python peer reads, as they are.
const PEER_RECIPES: &[Recipe] = &[
    Recipe {
        name: "png-1",
        images: &[File("bioid/challenge_right_1.png")],
        tag: None,
    },
    Recipe {
        name: "jpeg-1-as-stored",
        images: &[File("bioid/nod/001.jpg")],
        tag: None,
    },
];

/// Builds the templates of the mix from the images under `data` (the project's test data).
pub fn build(data: &Path, kind: MixKind) -> Result<Vec<JobTemplate>, LoadtestError> {
    let recipes = if kind == MixKind::Peer {
        PEER_RECIPES
    } else {
        RECIPES
    };
    recipes
        .iter()
        .filter(|r| match kind {
            MixKind::All | MixKind::Peer => true,
            MixKind::Pairs => r.images.len() == 2,
            MixKind::Single => r.images.len() == 1,
        })
        .map(|r| {
            let mut live_images = r
                .images
                .iter()
                .map(|s| {
                    Ok(ImageData {
                        image: base64::engine::general_purpose::STANDARD.encode(load(data, s)?),
                        tags: Vec::new(),
                    })
                })
                .collect::<Result<Vec<_>, LoadtestError>>()?;
            if let (Some(last), Some(tag)) = (live_images.last_mut(), r.tag) {
                last.tags = vec![tag.to_string()];
            }
            let body = serde_json::to_vec(&LivenessDetectionRequest { live_images })
                .map_err(|e| LoadtestError::Mix(format!("{}: {e}", r.name)))?;
            Ok(JobTemplate {
                name: r.name.to_string(),
                images: r.images.len(),
                body,
            })
        })
        .collect()
}

fn load(data: &Path, source: &Source) -> Result<Vec<u8>, LoadtestError> {
    let path = |rel: &str| -> PathBuf { data.join(rel) };
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| LoadtestError::Mix(format!("{}: {e}", p.display())))
    };
    match source {
        File(rel) => read(&path(rel)),
        Jpeg(rel, width) => {
            let p = path(rel);
            let bytes = read(&p)?;
            let mut img = image::load_from_memory(&bytes)
                .map_err(|e| LoadtestError::Mix(format!("{}: {e}", p.display())))?
                .to_rgb8();
            if let Some(w) = width {
                let h = (u64::from(img.height()) * u64::from(*w) / u64::from(img.width().max(1)))
                    as u32;
                img = image::imageops::resize(&img, *w, h, FilterType::Triangle);
            }
            let mut out = Cursor::new(Vec::new());
            JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
                .encode_image(&img)
                .map_err(|e| LoadtestError::Mix(format!("{}: {e}", p.display())))?;
            Ok(out.into_inner())
        }
    }
}
