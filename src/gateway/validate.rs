//! The request checks the gateway can make without image code: the body is JSON of the
//! `LivenessDetection` shape (camelCase or BWS's PascalCase, as [`crate::api`] accepts) with one
//! or two images. Nothing is decoded and no image string is kept: the base64 text is only
//! checked to be a string, and the raw body bytes go on to the worker, which does the real
//! image validation (base64, format, size, tags).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Accepts any JSON string without keeping it.
#[derive(Default)]
struct AnyString;

impl<'de> Deserialize<'de> for AnyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyString, E> {
                Ok(AnyString)
            }
        }
        d.deserialize_str(V)
    }
}

/// [`crate::api::LivenessDetectionRequest`] with the same names and aliases, minus the data.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    #[serde(alias = "LiveImages", default)]
    live_images: Vec<ImageShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // the fields are read only to check their types
struct ImageShape {
    #[serde(alias = "Image", default)]
    image: AnyString,
    #[serde(alias = "Tags", default)]
    tags: Vec<AnyString>,
}

/// Why a body was refused; the text is the `message` of the 400 answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    #[error("the request body is not a valid LivenessDetection request: {0}")]
    Json(String),
    /// The same words as the worker's check, so that the answer does not depend on who refused.
    #[error("liveImages must hold one or two images, got {0}")]
    ImageCount(usize),
}

/// Checks the body's JSON shape and image count.
pub fn check(body: &[u8]) -> Result<(), ShapeError> {
    let shape: Shape = serde_json::from_slice(body).map_err(|e| ShapeError::Json(e.to_string()))?;
    match shape.live_images.len() {
        1 | 2 => Ok(()),
        n => Err(ShapeError::ImageCount(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_casings_with_one_or_two_images_pass() {
        check(br#"{"liveImages":[{"image":"aGk=","tags":[]}]}"#).unwrap();
        check(br#"{"LiveImages":[{"Image":"aGk="},{"Image":"aGk=","Tags":["right"]}]}"#).unwrap();
        // Escaped text (some encoders write `\/`) is still a string.
        check(br#"{"liveImages":[{"image":"a\/b+"}]}"#).unwrap();
        // Unknown fields are ignored, as the worker ignores them.
        check(br#"{"liveImages":[{"image":"x"}],"extra":1}"#).unwrap();
    }

    #[test]
    fn wrong_counts_and_shapes_are_named() {
        assert_eq!(
            check(br#"{"liveImages":[]}"#),
            Err(ShapeError::ImageCount(0))
        );
        assert_eq!(check(b"{}"), Err(ShapeError::ImageCount(0)));
        let three = br#"{"LiveImages":[{"Image":"a"},{"Image":"b"},{"Image":"c"}]}"#;
        assert_eq!(check(three), Err(ShapeError::ImageCount(3)));
        for bad in [
            &b"{not json"[..],
            br#"{"liveImages":[{"image":42}]}"#,
            br#"{"liveImages":{"image":"a"}}"#,
            br#"{"liveImages":[{"image":"a","tags":"right"}]}"#,
            br#"[1,2]"#,
            b"",
        ] {
            assert!(
                matches!(check(bad), Err(ShapeError::Json(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
