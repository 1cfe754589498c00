//! The BWS error codes of a completed job: the `errorCode` of each entry of a response's
//! `errors`, exactly as BWS writes it. A job with such an error is still answered 200; a request
//! that cannot be scored at all gets a gRPC status instead ([`super::StatusCode`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a scored job is not live (or could not be judged), as BWS names it. Serialised as the
/// variant's name, e.g. `"FaceNotFound"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// No suitable face in an image (none at all, implausible landmarks, or too small).
    FaceNotFound,
    /// More than one face in an image.
    MultipleFacesFound,
    /// The eye-aligned thumbnail does not fit in the image: the face is not fully visible.
    ThumbnailExtractionFailed,
    /// The passive (texture or medium) decision says spoof, or the face holds no usable picture.
    RejectedByPassiveLiveDetection,
    /// The motion between the two images does not show a live 3D face.
    RejectedByActiveLiveDetection,
    /// The head did not move as the second image's tag asked.
    RejectedByChallengeResponse,
}

impl ErrorCode {
    /// The code as it is on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FaceNotFound => "FaceNotFound",
            ErrorCode::MultipleFacesFound => "MultipleFacesFound",
            ErrorCode::ThumbnailExtractionFailed => "ThumbnailExtractionFailed",
            ErrorCode::RejectedByPassiveLiveDetection => "RejectedByPassiveLiveDetection",
            ErrorCode::RejectedByActiveLiveDetection => "RejectedByActiveLiveDetection",
            ErrorCode::RejectedByChallengeResponse => "RejectedByChallengeResponse",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BWS's strings, written out rather than derived from the enum.
    const WIRE: [(ErrorCode, &str); 6] = [
        (ErrorCode::FaceNotFound, "FaceNotFound"),
        (ErrorCode::MultipleFacesFound, "MultipleFacesFound"),
        (
            ErrorCode::ThumbnailExtractionFailed,
            "ThumbnailExtractionFailed",
        ),
        (
            ErrorCode::RejectedByPassiveLiveDetection,
            "RejectedByPassiveLiveDetection",
        ),
        (
            ErrorCode::RejectedByActiveLiveDetection,
            "RejectedByActiveLiveDetection",
        ),
        (
            ErrorCode::RejectedByChallengeResponse,
            "RejectedByChallengeResponse",
        ),
    ];

    #[test]
    fn every_code_serialises_to_its_bws_string() {
        for (code, wire) in WIRE {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{wire}\""));
            assert_eq!(code.as_str(), wire);
            assert_eq!(code.to_string(), wire);
            let back: ErrorCode = serde_json::from_str(&format!("\"{wire}\"")).unwrap();
            assert_eq!(back, code);
        }
    }
}
