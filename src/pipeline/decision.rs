//! Combines the per-image analyses, the active-liveness measurement of a pair and the
//! challenge into the BWS response. Every decision must say live for the call to be live.

use super::challenge::{self, Challenge};
use super::motion::{self, Gray, MotionConfig};
use super::{FoundFace, ImageAnalysis, ScoreError, round4};
use crate::api::{ErrorCode, JobError, JobStatus, LivenessDetectionResponse};
use crate::config::{MotionSettings, ScoringSettings};

/// What the active stage measured for a pair.
#[derive(Debug, Clone, Copy)]
pub struct PairMotion {
    pub score: f64,
    pub direction: f64,
    pub magnitude: f64,
}

fn gray<'a>(face: &FoundFace, luma: &'a [u8]) -> Gray<'a> {
    Gray {
        width: face.rgb.width() as usize,
        height: face.rgb.height() as usize,
        data: luma,
    }
}

/// Active 3D-motion liveness between two found faces.
pub fn pair_motion(
    settings: &MotionSettings,
    first: &FoundFace,
    second: &FoundFace,
) -> Result<PairMotion, ScoreError> {
    let cfg = MotionConfig::from(settings);
    // Gray frames are only needed here, for the two-image case.
    let (l1, l2) = (
        super::image::to_gray(&first.rgb),
        super::image::to_gray(&second.rgb),
    );
    let m = motion::estimate(
        &gray(first, &l1),
        &first.detection,
        &gray(second, &l2),
        &second.detection,
        &cfg,
    )
    .map_err(|e| ScoreError::Internal(format!("motion analysis: {e}")))?;
    // Without a measurement there is no direction: 0 means "not computed" on the wire.
    let measured = m.status == motion::MotionStatus::Measured;
    Ok(PairMotion {
        score: f64::from(m.score).clamp(1e-6, 1.0),
        direction: if measured {
            f64::from(m.direction_deg)
        } else {
            0.0
        },
        magnitude: if measured {
            f64::from(m.magnitude)
        } else {
            0.0
        },
    })
}

pub fn decide(
    settings: &ScoringSettings,
    analyses: &mut [ImageAnalysis],
    challenges: &[Challenge],
) -> Result<LivenessDetectionResponse, ScoreError> {
    let mut errors: Vec<JobError> = Vec::new();
    let many = analyses.len() > 1;
    let prefix = |i: usize, m: &str| {
        if many {
            format!("image {}: {m}", i + 1)
        } else {
            m.to_string()
        }
    };
    let mut scores = Vec::new();
    let mut complete = true;
    for (i, a) in analyses.iter().enumerate() {
        errors.extend(
            a.errors
                .iter()
                .map(|e| JobError::new(e.error_code, prefix(i, &e.message))),
        );
        match a.texture_score {
            Some(s) => {
                scores.push(s);
                if let Some(why) = &a.texture_unusable {
                    errors.push(JobError::new(
                        ErrorCode::RejectedByPassiveLiveDetection,
                        prefix(i, why),
                    ));
                } else if let Some(medium) = &a.medium {
                    errors.push(JobError::new(
                        ErrorCode::RejectedByPassiveLiveDetection,
                        prefix(
                            i,
                            &format!(
                                "the face is shown on a medium (score {:.3} < {:.3}): {}",
                                s,
                                settings.texture.threshold,
                                medium.describe()
                            ),
                        ),
                    ));
                } else if s < settings.texture.threshold {
                    errors.push(JobError::new(
                        ErrorCode::RejectedByPassiveLiveDetection,
                        prefix(
                            i,
                            &format!(
                                "the texture of the face does not look live (score {:.3} < {:.3})",
                                s, settings.texture.threshold
                            ),
                        ),
                    ));
                }
            }
            None => complete = false,
        }
    }

    if let [first, second] = analyses {
        match (&first.face, &second.face) {
            (Some(f1), Some(f2)) => {
                let m = pair_motion(&settings.motion, f1, f2)?;
                if let Some(face) = second.properties.faces.first_mut() {
                    face.motion_liveness_score = round4(m.score);
                    face.movement_direction = round4(m.direction);
                }
                scores.push(m.score);
                if m.score < settings.motion.threshold {
                    errors.push(JobError::new(
                        ErrorCode::RejectedByActiveLiveDetection,
                        format!(
                            "the motion between the images does not show a live 3D face (score {:.3} < {:.3})",
                            m.score, settings.motion.threshold
                        ),
                    ));
                }
                for c in challenges {
                    let ok = challenge::satisfied(
                        *c,
                        m.direction,
                        m.magnitude,
                        settings.challenge.tolerance_deg,
                        settings.challenge.min_magnitude,
                    );
                    if !ok {
                        errors.push(JobError::new(
                            ErrorCode::RejectedByChallengeResponse,
                            format!(
                                "the head did not move {} (movement direction {:.0} degrees, size {:.2} eye distances)",
                                c.name(),
                                m.direction,
                                m.magnitude
                            ),
                        ));
                    }
                }
            }
            _ => complete = false,
        }
    }

    let liveness_score = if scores.is_empty() {
        0.0
    } else {
        round4(scores.iter().sum::<f64>() / scores.len() as f64)
    };
    let live = complete && errors.is_empty();
    Ok(LivenessDetectionResponse {
        status: JobStatus::Succeeded,
        errors,
        image_properties: analyses.iter().map(|a| a.properties.clone()).collect(),
        live,
        liveness_score,
    })
}
