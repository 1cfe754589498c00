//! The scoring pipeline: pure computation on a BWS request, no I/O besides the models.
//!
//! Per image: decode ([`image`]) → find the one upright face ([`face`], with the quarter-turn
//! search) → quality checks ([`quality`]) → passive texture liveness ([`texture`]). For two
//! images, active 3D-motion liveness on the pair ([`motion`]) and the challenge of the second
//! image's tags ([`challenge`]). [`decision`] combines them into the BWS response.

pub mod challenge;
pub mod decision;
pub mod face;
pub mod image;
pub mod medium;
pub mod motion;
mod png_rgb;
pub mod quality;
mod rows;
pub mod texture;

use std::borrow::Cow;

use ::image::RgbImage;

use crate::api::{
    ErrorCode, Face, ImageProperties, JobError, LivenessDetectionRequest,
    LivenessDetectionResponse, PointD, QualityAssessment,
};
use crate::config::{DetectorSettings, Limits, ScoringSettings};
use crate::models::{ModelError, ModelPool, ModelSet};
use challenge::Challenge;
use face::{Detection, LEFT_EYE, RIGHT_EYE};
use quality::Unsuitable;

/// Why a request could not be scored at all. Everything else (no face, spoof, ...) is a
/// completed job with `errors` in its response.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The request is malformed: the client must change it (400 `InvalidArgument`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The models failed on valid input (500 `Internal`).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ort::Error> for ScoreError {
    fn from(e: ort::Error) -> Self {
        ScoreError::Internal(format!("ONNX Runtime: {e}"))
    }
}

/// The scorer: configuration plus a pool of model sessions, created once per process and
/// shared by all jobs (it is `Sync`).
pub struct Engine {
    settings: ScoringSettings,
    pool: ModelPool,
}

/// A face found upright in one image, with what the later stages need.
pub struct FoundFace {
    pub detection: Detection,
    /// The upright working image (EXIF applied, scaled down if huge, then `rotated`).
    pub rgb: RgbImage,
}

/// The analysis of one image, before the pair-wise stages.
pub struct ImageAnalysis {
    pub properties: ImageProperties,
    pub errors: Vec<JobError>,
    pub face: Option<FoundFace>,
    /// The passive score the decision uses: the MiniFASNet pair's, or lower when the medium
    /// cue found a frame (the wire's `textureLivenessScore`).
    pub texture_score: Option<f64>,
    /// The medium frame found around the face, when it is strong enough to reject.
    pub medium: Option<medium::Evidence>,
    /// Why the face cannot be judged on its texture although its score was computed: most of
    /// it is clipped, or its noise swamps the texture ([`quality::unusable_exposure`]).
    pub texture_unusable: Option<String>,
}

/// Result of the quarter-turn search.
pub struct Located<'a> {
    pub rotated: i32,
    pub image: Cow<'a, RgbImage>,
    pub detections: Vec<Detection>,
}

impl Engine {
    /// Loads the models; `threads` is how many jobs may run the models at once.
    pub fn new(settings: ScoringSettings, threads: usize) -> Result<Engine, ModelError> {
        let pool = ModelPool::load(&settings.models, threads)?;
        Ok(Engine { settings, pool })
    }

    /// How many MiniFASNet graphs run in the faster form of `[models] minifasnet_graph`.
    pub fn rewritten_graphs(&self) -> usize {
        self.pool.rewritten_graphs()
    }

    /// Whether YuNet runs with its heads merged (`[models] yunet_graph`).
    pub fn yunet_heads_merged(&self) -> bool {
        self.pool.yunet_heads_merged()
    }

    pub fn settings(&self) -> &ScoringSettings {
        &self.settings
    }

    pub fn threads(&self) -> usize {
        self.pool.size()
    }

    /// Borrows one model set (blocks while all are in use); for benchmarks of single stages.
    pub fn models(&self) -> crate::models::PooledSet<'_> {
        self.pool.get()
    }

    /// Parses and scores a JSON request body.
    pub fn score_json(&self, body: &[u8]) -> Result<LivenessDetectionResponse, ScoreError> {
        let request = parse_request(body, self.settings.limits.max_request_bytes)?;
        self.score(&request)
    }

    /// Scores a request: passive liveness on each image, and for two images active liveness
    /// and the challenge. Refuses malformed requests before any model runs.
    pub fn score(
        &self,
        request: &LivenessDetectionRequest,
    ) -> Result<LivenessDetectionResponse, ScoreError> {
        let challenges = validate(request)?;
        // Decode every image first: a bad second image refuses the request before scoring.
        let decoded = decode_images(request, &self.settings.limits)?;
        // A pair is read at pair_input_side: the motion stage starts from the landmarks, and
        // those of a 320 px pass jitter enough between frames to lower genuine motion scores
        // (docs/performance.md).
        let detector = if decoded.len() == 2 {
            self.settings.detector.for_pairs()
        } else {
            self.settings.detector.clone()
        };
        let mut models = self.pool.get();
        let mut analyses = decoded
            .into_iter()
            .map(|d| self.analyse_with(&mut models, d, &detector))
            .collect::<Result<Vec<_>, _>>()?;
        drop(models);
        decision::decide(&self.settings, &mut analyses, &challenges)
    }

    /// Quarter-turn search: the orientation is the turn whose best detection scores highest
    /// (YuNet also fires on faces lying sideways or upside down, with wrong landmarks and lower
    /// scores). An upright detection that is confident and plausible ends the search early.
    pub fn locate<'a>(
        &self,
        models: &mut ModelSet,
        rgb: &'a RgbImage,
    ) -> Result<Located<'a>, ScoreError> {
        self.locate_with(models, rgb, &self.settings.detector)
    }

    fn locate_with<'a>(
        &self,
        models: &mut ModelSet,
        rgb: &'a RgbImage,
        cfg: &DetectorSettings,
    ) -> Result<Located<'a>, ScoreError> {
        // A confident detection with plausible landmarks: no wrong quarter turn has given one
        // (`docs/thresholds.md`, `upright_accept_score`), so it ends the search at whichever turn
        // it is found, as the best-scoring turn would have been this one.
        let acceptable = |dets: &[Detection], img: &RgbImage| {
            dets.first().is_some_and(|best| {
                best.score >= cfg.upright_accept_score
                    && matches!(
                        quality::suitability(best, img.width(), img.height()),
                        None | Some(Unsuitable::Profile) | Some(Unsuitable::BeyondBorder)
                    )
            })
        };
        let upright = face::detect(&mut models.yunet, rgb, cfg)?;
        if acceptable(&upright, rgb) {
            return Ok(Located {
                rotated: 0,
                image: Cow::Borrowed(rgb),
                detections: upright,
            });
        }
        // A turn does not change a face's size. When the upright pass found a face that is wide
        // and tall enough at `input_side` not to need the second, larger pass, a turned image
        // whose pass at `input_side` finds no face at all has none that the larger pass would
        // find either (YuNet reads faces of 10 to 300 px), so that pass is skipped for it. It
        // was most of the search's cost for live faces that just miss the early accept (dim
        // captures; `docs/thresholds.md`, `upright_accept_score`).
        let face_is_large = upright
            .first()
            .is_some_and(|f| face::large_for_first_pass(rgb, f, cfg));
        let mut best = Located {
            rotated: 0,
            image: Cow::Borrowed(rgb),
            detections: upright,
        };
        for turn in [90, 180, 270] {
            let turned = image::rotate_cw(rgb, turn);
            let dets = if face_is_large {
                face::detect_known_large(&mut models.yunet, &turned, cfg)?
            } else {
                face::detect(&mut models.yunet, &turned, cfg)?
            };
            let top = |d: &[Detection]| d.first().map_or(0.0, |f| f.score);
            if top(&dets) > top(&best.detections) {
                let done = acceptable(&dets, &turned);
                best = Located {
                    rotated: turn,
                    image: Cow::Owned(turned),
                    detections: dets,
                };
                if done {
                    break;
                }
            }
        }
        Ok(best)
    }

    /// Face finding, quality and passive liveness of one decoded image, as for a one-image
    /// request.
    pub fn analyse(
        &self,
        models: &mut ModelSet,
        decoded: image::Decoded,
    ) -> Result<ImageAnalysis, ScoreError> {
        self.analyse_with(models, decoded, &self.settings.detector)
    }

    fn analyse_with(
        &self,
        models: &mut ModelSet,
        decoded: image::Decoded,
        detector: &DetectorSettings,
    ) -> Result<ImageAnalysis, ScoreError> {
        let q = &self.settings.quality;
        let mut properties = ImageProperties::default();
        let mut errors = Vec::new();
        let mut assessments = vec![quality::image_size(
            decoded.original_size,
            decoded.rgb.dimensions(),
        )];
        let Located {
            rotated,
            image: turned,
            detections,
        } = self.locate_with(models, &decoded.rgb, detector)?;
        // Keep the decoded buffer itself when no turn was needed: the found face owns its
        // upright image for the motion stage, and copying a whole frame here would be waste.
        let upright = match turned {
            Cow::Owned(turned) => turned,
            Cow::Borrowed(_) => decoded.rgb,
        };
        properties.rotated = rotated;
        let (w, h) = upright.dimensions();
        let (faces, main) = one_face(&detections, self.settings.detector.other_face_min_ratio);
        properties.faces = faces;
        let main = match main {
            Ok(main) => main,
            Err(error) => return Ok(ImageAnalysis::without_face(properties, assessments, error)),
        };
        let reason = quality::suitability(&main, w, h);
        let fits =
            reason != Some(Unsuitable::BeyondBorder) && quality::thumbnail_fits(&main, q, w, h);
        let stats = quality::patch_stats(&upright, &main);
        assessments.push(quality::face_size(&main, q));
        assessments.push(quality::fully_visible(fits));
        assessments.push(quality::suitable(reason));
        assessments.push(quality::sharpness(&stats, q));
        assessments.push(quality::exposure(&stats, q));
        properties.quality_score = quality::quality_score(&assessments);
        properties.quality_assessments = assessments;

        let mut usable = true;
        match reason {
            Some(
                r @ (Unsuitable::EyesInverted
                | Unsuitable::NoseAboveEyes
                | Unsuitable::EyesTooCloseTogether),
            ) => {
                errors.push(JobError::new(
                    ErrorCode::FaceNotFound,
                    format!("no suitable face was found: {}", r.name()),
                ));
                properties.faces.clear();
                usable = false;
            }
            _ if !fits => {
                errors.push(JobError::new(
                    ErrorCode::ThumbnailExtractionFailed,
                    "the face is not fully visible: it is cut by the image border",
                ));
                usable = false;
            }
            _ if main.bbox[2] < q.min_face_width => {
                errors.push(JobError::new(
                    ErrorCode::FaceNotFound,
                    format!(
                        "the face is too small for liveness detection ({:.0} px wide, at least {:.0} px needed)",
                        main.bbox[2], q.min_face_width
                    ),
                ));
                usable = false;
            }
            _ => {}
        }
        // Exposure is normalised, not gated: the crop's gain brings the face to the reference
        // luminance, and only a face without picture (clipped, or noise that swamps it) is
        // refused.
        let t = &self.settings.texture;
        let gain =
            texture::exposure_gain(stats.mean_luma, t.reference_luma, t.min_gain, t.max_gain);
        let texture_unusable = quality::unusable_exposure(&stats, q, gain);
        let (texture_score, medium) = if usable {
            let model = texture::score(models, &upright, main.bbox, [gain; 3], t.area_downscale)?;
            let cfg = &self.settings.medium;
            let medium = cfg
                .enabled
                .then(|| {
                    medium::inspect_above(&upright, &main, stats.mean_luma, cfg, cfg.min_strength)
                })
                .filter(|e| e.strength > cfg.min_strength);
            // The passive score is the lower of the two cues, so that `textureLivenessScore` is
            // the score the passive decision used.
            let passive = medium.as_ref().map_or(model, |e| {
                model.min(e.score_cap(t.threshold, cfg.min_strength))
            });
            if let Some(f) = properties.faces.first_mut() {
                f.texture_liveness_score = round4(passive);
            }
            (Some(passive), medium)
        } else {
            (None, None)
        };
        Ok(ImageAnalysis {
            properties,
            errors,
            face: usable.then_some(FoundFace {
                detection: main,
                rgb: upright,
            }),
            texture_score,
            medium,
            texture_unusable,
        })
    }
}

impl ImageAnalysis {
    /// The analysis of an image without the one face it needs: the quality of the image
    /// alone, and `error` (no face, or several).
    fn without_face(
        mut properties: ImageProperties,
        assessments: Vec<QualityAssessment>,
        error: JobError,
    ) -> ImageAnalysis {
        properties.quality_score = quality::quality_score(&assessments);
        properties.quality_assessments = assessments;
        ImageAnalysis {
            properties,
            errors: vec![error],
            face: None,
            texture_score: None,
            medium: None,
            texture_unusable: None,
        }
    }
}

/// The one face of an image: the best detection, unless other faces at least
/// `other_face_min_ratio` as wide are there too (smaller ones are faces in the background, on a
/// poster or a badge). Also returns the faces reported on the wire.
fn one_face(
    detections: &[Detection],
    other_face_min_ratio: f32,
) -> (Vec<Face>, Result<Detection, JobError>) {
    let Some(main) = detections.first() else {
        return (
            Vec::new(),
            Err(JobError::new(
                ErrorCode::FaceNotFound,
                "no face was found in the image",
            )),
        );
    };
    let min_other = main.bbox[2] * other_face_min_ratio;
    let faces: Vec<Face> = detections
        .iter()
        .filter(|d| d.bbox[2] >= min_other)
        .map(wire_face)
        .collect();
    if faces.len() > 1 {
        let error = JobError::new(
            ErrorCode::MultipleFacesFound,
            format!(
                "{} faces were found in the image, exactly one is needed",
                faces.len()
            ),
        );
        return (faces, Err(error));
    }
    (faces, Ok(main.clone()))
}

pub(crate) fn round4(v: f64) -> f64 {
    (v * 10000.0).round() / 10000.0
}

fn wire_face(d: &Detection) -> Face {
    let p = |[x, y]: [f32; 2]| PointD {
        x: round4(f64::from(x)),
        y: round4(f64::from(y)),
    };
    Face {
        left_eye: p(d.landmarks[LEFT_EYE]),
        right_eye: p(d.landmarks[RIGHT_EYE]),
        ..Default::default()
    }
}

/// Parses a request body after checking its size.
pub fn parse_request(
    body: &[u8],
    max_bytes: usize,
) -> Result<LivenessDetectionRequest, ScoreError> {
    if body.len() > max_bytes {
        return Err(ScoreError::InvalidArgument(format!(
            "the request is {} bytes, more than the limit of {max_bytes} bytes",
            body.len()
        )));
    }
    crate::api::parse_request(body).map_err(|e| {
        ScoreError::InvalidArgument(format!(
            "the request is not valid JSON for LivenessDetection: {e}"
        ))
    })
}

/// Decodes the images of a request (base64, then the file), in order; the first that fails
/// refuses the request, naming it. Everything a request goes through before any model runs is
/// [`parse_request`], [`validate`] and this, which is why the fuzz target of the request calls
/// exactly these three.
pub fn decode_images(
    request: &LivenessDetectionRequest,
    limits: &Limits,
) -> Result<Vec<image::Decoded>, ScoreError> {
    request
        .live_images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let bytes = image::decode_base64(&img.image, limits.max_request_bytes)
                .map_err(|e| ScoreError::InvalidArgument(format!("image {}: {e}", i + 1)))?;
            image::decode(&bytes, limits)
                .map_err(|e| ScoreError::InvalidArgument(format!("image {}: {e}", i + 1)))
        })
        .collect()
}

/// Checks the image count and the tags; returns the challenges of the second image.
pub fn validate(request: &LivenessDetectionRequest) -> Result<Vec<Challenge>, ScoreError> {
    let n = request.live_images.len();
    if !(1..=2).contains(&n) {
        return Err(ScoreError::InvalidArgument(format!(
            "liveImages must hold one or two images, got {n}"
        )));
    }
    let mut second = Vec::new();
    for (i, img) in request.live_images.iter().enumerate() {
        for tag in &img.tags {
            let c = Challenge::parse(tag).ok_or_else(|| {
                ScoreError::InvalidArgument(format!(
                    "image {}: unknown tag {tag:?}; the tags are up, down, left, right and any",
                    i + 1
                ))
            })?;
            if i == 1 {
                second.push(c);
            }
        }
    }
    Ok(second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(x: f32, width: f32) -> Detection {
        Detection {
            score: 0.9,
            bbox: [x, 100.0, width, 1.2 * width],
            landmarks: [
                [x + 0.3 * width, 140.0],
                [x + 0.7 * width, 140.0],
                [x + 0.5 * width, 165.0],
                [x + 0.35 * width, 185.0],
                [x + 0.65 * width, 185.0],
            ],
        }
    }

    #[test]
    fn one_face_is_the_best_detection_alone() {
        let (faces, main) = one_face(&[], 0.25);
        assert!(faces.is_empty());
        assert_eq!(main.unwrap_err().error_code, ErrorCode::FaceNotFound);

        // A face on a badge, less than a quarter as wide, does not count.
        let dets = [detection(100.0, 100.0), detection(300.0, 20.0)];
        let (faces, main) = one_face(&dets, 0.25);
        assert_eq!(main.unwrap(), dets[0]);
        assert_eq!(faces.len(), 1);
        assert_eq!(faces[0].right_eye, PointD { x: 130.0, y: 140.0 });
        assert_eq!(faces[0].left_eye, PointD { x: 170.0, y: 140.0 });

        // Two people: both are reported, and the image is refused.
        let dets = [detection(100.0, 100.0), detection(300.0, 80.0)];
        let (faces, main) = one_face(&dets, 0.25);
        assert_eq!(faces.len(), 2);
        let error = main.unwrap_err();
        assert_eq!(error.error_code, ErrorCode::MultipleFacesFound);
        assert!(error.message.starts_with("2 faces"), "{}", error.message);
    }
}
