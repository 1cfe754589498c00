//! The BWS `LivenessDetection` JSON types, exactly as they travel on the wire.
//!
//! BWS's RESTful API writes camelCase. Requests are accepted in camelCase and in the PascalCase
//! that BioID's own sample clients (C#, `System.Text.Json` defaults) send.

mod error_code;
mod quality_check;

use serde::{Deserialize, Serialize};

pub use error_code::ErrorCode;
pub use quality_check::QualityCheck;

/// A `LivenessDetection` request: one or two live images, the second optionally tagged with a
/// head-movement challenge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LivenessDetectionRequest {
    #[serde(alias = "LiveImages", default)]
    pub live_images: Vec<ImageData>,
}

/// One image sample: the base64-encoded file (optionally as an RFC 2397 data URL) and its tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageData {
    #[serde(alias = "Image", default)]
    pub image: String,
    #[serde(alias = "Tags", default)]
    pub tags: Vec<String>,
}

/// The return status of the processing job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Succeeded,
    Faulted,
    Cancelled,
}

/// The response body of a completed (status 200) `LivenessDetection` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LivenessDetectionResponse {
    pub status: JobStatus,
    pub errors: Vec<JobError>,
    pub image_properties: Vec<ImageProperties>,
    pub live: bool,
    pub liveness_score: f64,
}

/// An error collected while processing, e.g. `FaceNotFound` or `RejectedByPassiveLiveDetection`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobError {
    pub error_code: ErrorCode,
    pub message: String,
}

impl JobError {
    pub fn new(error_code: ErrorCode, message: impl Into<String>) -> Self {
        JobError {
            error_code,
            message: message.into(),
        }
    }
}

/// What was computed for one input image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageProperties {
    /// Clockwise rotation (0, 90, 180, 270) applied to find the face upright; all coordinates
    /// refer to the rotated image. EXIF orientation is applied before this.
    pub rotated: i32,
    pub faces: Vec<Face>,
    pub quality_score: f64,
    pub quality_assessments: Vec<QualityAssessment>,
    pub frame_number: i32,
}

/// One face. As in BWS, `right_eye` is the subject's right eye, which lies on the image's left.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Face {
    pub left_eye: PointD,
    pub right_eye: PointD,
    /// ]0,1]; 0 when not computed.
    pub texture_liveness_score: f64,
    /// ]0,1]; 0 when not computed (one image, or the first of two).
    pub motion_liveness_score: f64,
    /// ]0,360] degrees, 360 toward image +x, 90 up; 0 when not computed.
    pub movement_direction: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PointD {
    pub x: f64,
    pub y: f64,
}

/// One quality check with its score in 0..1 and a human-readable message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityAssessment {
    pub check: QualityCheck,
    pub score: f64,
    pub message: String,
}

/// The body of every non-200 answer: `{"code":"InvalidArgument","message":"..."}`, the code being
/// the gRPC status name as BWS uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// gRPC status names used by BWS and the HTTP status each maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    InvalidArgument,
    Unauthenticated,
    DeadlineExceeded,
    Internal,
    Unavailable,
}

impl StatusCode {
    pub fn name(self) -> &'static str {
        match self {
            StatusCode::InvalidArgument => "InvalidArgument",
            StatusCode::Unauthenticated => "Unauthenticated",
            StatusCode::DeadlineExceeded => "DeadlineExceeded",
            StatusCode::Internal => "Internal",
            StatusCode::Unavailable => "Unavailable",
        }
    }

    pub fn http(self) -> u16 {
        match self {
            StatusCode::InvalidArgument => 400,
            StatusCode::Unauthenticated => 401,
            StatusCode::DeadlineExceeded => 408,
            StatusCode::Internal => 500,
            StatusCode::Unavailable => 503,
        }
    }
}

impl ErrorBody {
    pub fn new(code: StatusCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.name().to_string(),
            message: message.into(),
        }
    }
}

/// Parses a request body, accepting camelCase and PascalCase field names.
pub fn parse_request(body: &[u8]) -> Result<LivenessDetectionRequest, serde_json::Error> {
    serde_json::from_slice(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_accepts_camel_and_pascal_case() {
        let camel =
            parse_request(br#"{"liveImages":[{"image":"AA==","tags":["right"]}]}"#).unwrap();
        let pascal =
            parse_request(br#"{"LiveImages":[{"Image":"AA==","Tags":["right"]}]}"#).unwrap();
        assert_eq!(camel, pascal);
        assert_eq!(camel.live_images[0].tags, vec!["right".to_string()]);
    }

    #[test]
    fn response_json_is_bws_byte_for_byte() {
        let r = LivenessDetectionResponse {
            status: JobStatus::Succeeded,
            errors: vec![JobError::new(
                ErrorCode::RejectedByChallengeResponse,
                "the head did not move up",
            )],
            image_properties: vec![ImageProperties {
                rotated: 90,
                faces: vec![Face {
                    left_eye: PointD { x: 1.5, y: 2.0 },
                    right_eye: PointD { x: 0.5, y: 2.0 },
                    texture_liveness_score: 0.9,
                    motion_liveness_score: 0.8,
                    movement_direction: 360.0,
                }],
                quality_score: 0.75,
                quality_assessments: vec![QualityAssessment {
                    check: QualityCheck::FullyVisibleFace,
                    score: 1.0,
                    message: "m".into(),
                }],
                frame_number: 0,
            }],
            live: false,
            liveness_score: 0.85,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"status":"SUCCEEDED","errors":[{"errorCode":"RejectedByChallengeResponse","#,
                r#""message":"the head did not move up"}],"imageProperties":[{"rotated":90,"#,
                r#""faces":[{"leftEye":{"x":1.5,"y":2.0},"rightEye":{"x":0.5,"y":2.0},"#,
                r#""textureLivenessScore":0.9,"motionLivenessScore":0.8,"movementDirection":360.0}],"#,
                r#""qualityScore":0.75,"qualityAssessments":[{"check":"FullyVisibleFace","#,
                r#""score":1.0,"message":"m"}],"frameNumber":0}],"live":false,"livenessScore":0.85}"#
            )
        );
        let back: LivenessDetectionResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn response_serialises_in_camel_case() {
        let r = LivenessDetectionResponse {
            status: JobStatus::Succeeded,
            errors: vec![JobError::new(ErrorCode::FaceNotFound, "m")],
            image_properties: vec![ImageProperties {
                faces: vec![Face::default()],
                ..Default::default()
            }],
            live: false,
            liveness_score: 0.0,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "SUCCEEDED");
        assert_eq!(v["errors"][0]["errorCode"], "FaceNotFound");
        let face = &v["imageProperties"][0]["faces"][0];
        for key in [
            "leftEye",
            "rightEye",
            "textureLivenessScore",
            "motionLivenessScore",
            "movementDirection",
        ] {
            assert!(face.get(key).is_some(), "missing {key}");
        }
        for key in [
            "rotated",
            "qualityScore",
            "qualityAssessments",
            "frameNumber",
        ] {
            assert!(v["imageProperties"][0].get(key).is_some(), "missing {key}");
        }
        assert!(v.get("livenessScore").is_some());
    }
}
