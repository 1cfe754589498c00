//! Passive liveness on dim captures and on attacks that show their medium (issue: real live
//! users in dim rooms were rejected for their brightness; held-up phones, prints and cards were
//! accepted). Real models, real images of `../shared/data`, realistic dim captures made by
//! `tests/common/captures.rs` and medium composites by `tests/common/composites.rs`.

mod common;

use common::*;
use liveness::api::{ErrorCode, LivenessDetectionResponse, QualityCheck};

const PASSIVE: ErrorCode = ErrorCode::RejectedByPassiveLiveDetection;

/// Webcam and phone captures and official portraits of a darker-skinned person: the kind of
/// capture real users send.
const LIVE_CAPTURES: &[&str] = &[
    "bioid/challenge_right_1.png",
    "bioid/nod/001.jpg",
    "bioid/nod/041.jpg",
    "minivision/live_T1.jpg",
    "bonafide/face_recognition/examples/obama.jpg",
    "bonafide/face_recognition/examples/obama2.jpg",
    "bonafide/face_recognition/tests/test_images/obama3.jpg",
];

const SPOOFS: &[&str] = &[
    "bioid/photo.png",
    "minivision/spoof_print_F1.jpg",
    "minivision/spoof_screen_F2.jpg",
    "attacks/HyperFAS/fake_screen.png",
];

fn dim_capture(rgb: &image::RgbImage, v: &captures::DimCapture, seed: u64) -> Vec<u8> {
    let (center, d) = face_of(rgb);
    attacks::jpeg(&captures::render(rgb, center, d, v, seed), v.jpeg_quality)
}

fn exposure_luma(r: &LivenessDetectionResponse) -> f64 {
    let a = r.image_properties[0]
        .quality_assessments
        .iter()
        .find(|a| a.check == QualityCheck::Exposure)
        .expect("an Exposure assessment");
    a.message
        .rsplit("mean luminance ")
        .next()
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("luminance in {:?}", a.message))
}

#[test]
fn dim_captures_of_live_faces_stay_live() {
    // Every standard dim capture down to a face luminance of about 50, warm and cool (the real
    // captures that prompted this had a median of 65). The darker ones (40 and 28) are reported
    // per face-luminance band in docs/evaluation.md, not asserted: there, noise puts some live
    // faces on either side of the texture threshold (two noise draws of one capture at 40
    // scored 0.42 and 0.60).
    let variants: Vec<_> = captures::standard()
        .into_iter()
        .filter(|v| v.target_luma >= 50.0)
        .collect();
    for name in LIVE_CAPTURES {
        let rgb = decoded_rgb(name);
        for (i, v) in variants.iter().enumerate() {
            let r = score_bytes(&[(&dim_capture(&rgb, v, 11 + i as u64), &[])]);
            assert!(
                r.live,
                "{name}, {} (face luminance {}): {:?}",
                v.name,
                exposure_luma(&r),
                r.errors
            );
        }
    }
}

#[test]
fn a_dim_face_is_reported_underexposed_but_not_rejected_for_it() {
    let rgb = decoded_rgb("bonafide/face_recognition/examples/obama.jpg");
    let v = &captures::standard()[3];
    let r = score_bytes(&[(&dim_capture(&rgb, v, 5), &[])]);
    let luma = exposure_luma(&r);
    assert!(luma < 65.0, "a dim capture: {luma}");
    let exposure = r.image_properties[0]
        .quality_assessments
        .iter()
        .find(|a| a.check == QualityCheck::Exposure)
        .expect("Exposure");
    assert!(exposure.score < 1.0, "{exposure:?}");
    assert!(r.live, "{:?}", r.errors);
}

#[test]
fn darkened_spoofs_stay_rejected() {
    // The old finding: bioid/photo.png darkened to a face luminance of about 53 scored 0.65
    // "live" on texture. With the crop's gain normalised it is judged as the photo it is; the
    // same holds for realistic dim captures of every shared spoof.
    for name in SPOOFS {
        let rgb = decoded_rgb(name);
        for f in [0.2, 0.36, 0.5, 0.6] {
            let r = score_bytes(&[(&png(&scaled(&rgb, f)), &[])]);
            assert!(!r.live, "{name} x{f}: {r:?}");
            if !r.image_properties[0].faces.is_empty() {
                assert!(error_codes(&r).contains(&PASSIVE), "{name} x{f}: {r:?}");
            }
        }
        for (i, v) in captures::standard().iter().enumerate() {
            let r = score_bytes(&[(&dim_capture(&rgb, v, 21 + i as u64), &[])]);
            assert!(!r.live, "{name}, {}: {r:?}", v.name);
        }
    }
}

#[test]
fn the_shared_attack_images_are_rejected() {
    for name in SPOOFS {
        let r = score_files(&[name], &[]);
        assert!(!r.live, "{name}: {r:?}");
        assert!(error_codes(&r).contains(&PASSIVE), "{name}: {r:?}");
    }
    // The phone held up beside a live face: two faces; its left part is the phone alone.
    let demo = decoded_rgb("attacks/light-weight-face-anti-spoofing/demo.png");
    let r = score_bytes(&[(&png(&demo), &[])]);
    assert_eq!(error_codes(&r), [ErrorCode::MultipleFacesFound], "{r:?}");
    let phone = image::imageops::crop_imm(&demo, 0, 0, 350, demo.height()).to_image();
    let r = score_bytes(&[(&png(&phone), &[])]);
    assert!(!r.live, "{r:?}");
}

#[test]
fn a_tablet_held_up_is_rejected_and_the_message_names_the_cue() {
    // A passport-style photo replayed on a tablet held in two hands, over a real room: the
    // medium cue finds the tablet's border, whatever the texture models say.
    let face = decoded_rgb("bioid/challenge_right_1.png");
    let (center, d) = face_of(&face);
    let scene = decoded_rgb("bonafide/deepface/img22.jpg");
    let room = composites::room(&scene);
    let tablets: Vec<_> = composites::catalogue(&face, center, d, &room, 3)
        .into_iter()
        .filter(|c| c.kind == "tablet-replay")
        .collect();
    assert!(!tablets.is_empty());
    let mut by_medium = 0;
    for c in &tablets {
        let r = score_bytes(&[(&attacks::jpeg(&c.rgb, 85), &[])]);
        assert!(!r.live, "{}: {r:?}", c.name);
        let medium = r
            .errors
            .iter()
            .any(|e| e.error_code == PASSIVE && e.message.contains("shown on a medium"));
        if medium {
            by_medium += 1;
            let f = &r.image_properties[0].faces[0];
            assert!(f.texture_liveness_score < 0.5, "{f:?}");
        }
    }
    assert!(by_medium > 0, "the medium cue found no tablet border");
}

#[test]
fn the_generators_are_deterministic() {
    let rgb = decoded_rgb("bioid/nod/001.jpg");
    let v = &captures::standard()[1];
    let (c, d) = face_of(&rgb);
    assert_eq!(
        captures::render(&rgb, c, d, v, 9),
        captures::render(&rgb, c, d, v, 9)
    );
    let room = decoded_rgb("bonafide/deepface/img22.jpg");
    let a = composites::catalogue(&rgb, c, d, &room, 4);
    let b = composites::catalogue(&rgb, c, d, &room, 4);
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| x.rgb == y.rgb && x.name == y.name)
    );
}
