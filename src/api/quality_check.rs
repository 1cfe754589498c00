//! The BWS quality checks: the `check` of each entry of an image's `qualityAssessments`,
//! exactly as BWS writes it. What each one measures here is in `pipeline::quality`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of BWS's quality checks. Serialised as the variant's name, e.g. `"ImageSize"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QualityCheck {
    /// The image was scaled down before the analysis.
    ImageSize,
    /// The face is too small for reliable texture analysis.
    FaceSize,
    /// The eye-aligned thumbnail fits in the image.
    FullyVisibleFace,
    /// The landmarks are plausible (else a reason such as `EyesInverted` or `Profile`).
    SuitableFace,
    Sharpness,
    Exposure,
}

impl QualityCheck {
    /// The check's name as it is on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            QualityCheck::ImageSize => "ImageSize",
            QualityCheck::FaceSize => "FaceSize",
            QualityCheck::FullyVisibleFace => "FullyVisibleFace",
            QualityCheck::SuitableFace => "SuitableFace",
            QualityCheck::Sharpness => "Sharpness",
            QualityCheck::Exposure => "Exposure",
        }
    }
}

impl fmt::Display for QualityCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BWS's strings, written out rather than derived from the enum.
    const WIRE: [(QualityCheck, &str); 6] = [
        (QualityCheck::ImageSize, "ImageSize"),
        (QualityCheck::FaceSize, "FaceSize"),
        (QualityCheck::FullyVisibleFace, "FullyVisibleFace"),
        (QualityCheck::SuitableFace, "SuitableFace"),
        (QualityCheck::Sharpness, "Sharpness"),
        (QualityCheck::Exposure, "Exposure"),
    ];

    #[test]
    fn every_check_serialises_to_its_bws_string() {
        for (check, wire) in WIRE {
            assert_eq!(
                serde_json::to_string(&check).unwrap(),
                format!("\"{wire}\"")
            );
            assert_eq!(check.as_str(), wire);
            assert_eq!(check.to_string(), wire);
            let back: QualityCheck = serde_json::from_str(&format!("\"{wire}\"")).unwrap();
            assert_eq!(back, check);
        }
    }
}
