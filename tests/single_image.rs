//! Single-image scoring on real photos: faces, eyes, passive liveness, groups, EXIF, rotations,
//! faces cut by the border. Expectations from `../shared/data/README.md`.

mod common;

use common::*;
use liveness::api::{ErrorCode, LivenessDetectionResponse, QualityCheck};

fn the_face(r: &LivenessDetectionResponse) -> &liveness::api::Face {
    assert_eq!(r.image_properties.len(), 1);
    let faces = &r.image_properties[0].faces;
    assert_eq!(faces.len(), 1, "exactly one face: {r:?}");
    &faces[0]
}

/// The subject's right eye lies on the image's left, and the eyes are roughly level.
fn assert_eyes_upright(f: &liveness::api::Face) {
    assert!(
        f.right_eye.x < f.left_eye.x,
        "right eye left of left eye: {f:?}"
    );
    let dx = f.left_eye.x - f.right_eye.x;
    assert!(
        (f.left_eye.y - f.right_eye.y).abs() < dx * 0.5,
        "eyes level: {f:?}"
    );
}

const LIVE: &[&str] = &[
    "bioid/challenge_right_1.png",
    "bioid/challenge_right_2.png",
    "bioid/nod/001.jpg",
    "bioid/nod/020.jpg",
    "bioid/nod/040.jpg",
    "bioid/nod/064.jpg",
    "bioid/nod/092.jpg",
    "minivision/live_T1.jpg",
];

const SPOOF: &[&str] = &[
    "bioid/photo.png",
    "minivision/spoof_print_F1.jpg",
    "minivision/spoof_screen_F2.jpg",
];

#[test]
fn real_photos_are_passive_live_with_one_upright_face() {
    for name in LIVE {
        let r = score_files(&[name], &[]);
        let f = the_face(&r);
        assert_eyes_upright(f);
        assert!(r.live, "{name} should be live: {r:?}");
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        assert!(
            f.texture_liveness_score >= 0.5,
            "{name}: {}",
            f.texture_liveness_score
        );
        assert_eq!(
            r.liveness_score, f.texture_liveness_score,
            "one image: the mean is the texture score"
        );
        assert_eq!(f.motion_liveness_score, 0.0, "one image: no motion score");
        assert_eq!(f.movement_direction, 0.0);
    }
}

#[test]
fn every_nod_frame_has_one_face() {
    for i in (1..=92).step_by(7) {
        let name = format!("bioid/nod/{i:03}.jpg");
        let r = score_files(&[&name], &[]);
        assert_eyes_upright(the_face(&r));
        assert!(r.live, "{name}: {:?}", r.errors);
    }
}

#[test]
fn photos_of_photos_and_screens_are_passive_spoofs() {
    for name in SPOOF {
        let r = score_files(&[name], &[]);
        let f = the_face(&r);
        assert_eyes_upright(f);
        assert!(!r.live, "{name} must not be live");
        assert_eq!(
            error_codes(&r),
            vec![ErrorCode::RejectedByPassiveLiveDetection],
            "{name}"
        );
        assert!(
            f.texture_liveness_score > 0.0 && f.texture_liveness_score < 0.5,
            "{name}"
        );
    }
}

#[test]
fn group_photos_have_multiple_faces() {
    for name in [
        "groups/two_people.jpg",
        "groups/duo.jpg",
        "groups/group_small.jpg",
        "groups/group_large.jpg",
    ] {
        let r = score_files(&[name], &[]);
        assert!(!r.live);
        assert_eq!(
            error_codes(&r),
            vec![ErrorCode::MultipleFacesFound],
            "{name}"
        );
        assert!(r.image_properties[0].faces.len() >= 2, "{name}");
    }
}

#[test]
fn exif_orientation_is_applied_before_detection() {
    // These JPEGs are stored sideways with an EXIF orientation tag: once it is applied the
    // face is upright, so no further rotation is needed.
    for name in [
        "minivision/live_T1.jpg",
        "minivision/spoof_print_F1.jpg",
        "minivision/spoof_screen_F2.jpg",
    ] {
        let raw = image::load_from_memory(&read(name)).unwrap();
        assert!(raw.width() > raw.height(), "{name} is stored landscape");
        let r = score_files(&[name], &[]);
        assert_eq!(r.image_properties[0].rotated, 0, "{name}");
        assert_eyes_upright(the_face(&r));
        let size = &r.image_properties[0].quality_assessments[0];
        assert_eq!(size.check, QualityCheck::ImageSize);
        assert!(
            size.message.contains("480x640"),
            "portrait after EXIF: {}",
            size.message
        );
    }
}

#[test]
fn rotated_images_are_turned_upright() {
    let upright = load_rgb("bioid/challenge_right_1.png");
    let reference = score_bytes(&[(&png(&upright), &[])]);
    let ref_face = the_face(&reference).clone();
    // Turning the picture counter-clockwise by `ccw` needs a clockwise turn of `ccw` to undo.
    for ccw in [90, 180, 270] {
        let turned = match ccw {
            90 => image::imageops::rotate270(&upright),
            180 => image::imageops::rotate180(&upright),
            _ => image::imageops::rotate90(&upright),
        };
        let r = score_bytes(&[(&png(&turned), &[])]);
        assert_eq!(r.image_properties[0].rotated, ccw, "image turned {ccw} ccw");
        let f = the_face(&r);
        assert_eyes_upright(f);
        // Coordinates refer to the re-rotated image, which is the original again.
        for (a, b) in [
            (f.left_eye, ref_face.left_eye),
            (f.right_eye, ref_face.right_eye),
        ] {
            assert!(
                (a.x - b.x).abs() < 4.0 && (a.y - b.y).abs() < 4.0,
                "{ccw}: {a:?} vs {b:?}"
            );
        }
        assert!(r.live, "{ccw}: {:?}", r.errors);
    }
}

/// The orientation as the quarter-turn search answered it before it stopped early at a turn
/// and skipped larger passes on turned images: every turn read with the full two-pass
/// detector, the best-scoring one wins.
fn best_turn_of_all_four(img: &image::RgbImage) -> i32 {
    let engine = engine();
    let mut models = engine.models();
    let cfg = &engine.settings().detector;
    let mut best = (0, -1.0f32);
    for turn in [0, 90, 180, 270] {
        let turned = liveness::pipeline::image::rotate_cw(img, turn);
        let dets =
            liveness::pipeline::face::detect(&mut models.yunet, &turned, cfg).expect("yunet");
        let top = dets.first().map_or(0.0, |d| d.score);
        if top > best.1 {
            best = (turn, top);
        }
    }
    best.0
}

#[test]
fn live_faces_that_miss_the_early_accept_are_found_at_the_right_turn() {
    // Real photos whose upright face scores just under `upright_accept_score` (measured by
    // `examples/orientation_search.rs`, as shot), so the search runs; each stored upright and
    // turned by a quarter, a half and three quarters must be answered as the exhaustive search
    // answers it, which is the right turn.
    let engine = engine();
    let cfg = &engine.settings().detector;
    for name in [
        "bonafide/deepface/img43.jpg",
        "bonafide/deepface/img67.jpg",
        "bonafide/mtcnn/ivan.jpg",
    ] {
        let upright = decoded_rgb(name);
        let mut models = engine.models();
        let first = liveness::pipeline::face::detect(&mut models.yunet, &upright, cfg)
            .expect("yunet")
            .first()
            .map_or(0.0, |d| d.score);
        assert!(
            first < cfg.upright_accept_score,
            "{name}: {first} no longer misses the early accept; pick another image"
        );
        for ccw in [0, 90, 180, 270] {
            let stored = liveness::pipeline::image::rotate_cw(&upright, (360 - ccw) % 360);
            let located = engine.locate(&mut models, &stored).expect("locate");
            assert_eq!(located.rotated, ccw, "{name} stored {ccw} ccw");
            assert_eq!(
                best_turn_of_all_four(&stored),
                ccw,
                "{name} stored {ccw} ccw"
            );
            assert!(!located.detections.is_empty(), "{name} stored {ccw} ccw");
        }
    }
}

#[test]
fn a_face_cut_by_the_border_is_not_fully_visible() {
    let img = load_rgb("bioid/challenge_right_1.png");
    let reference = score_bytes(&[(&png(&img), &[])]);
    let right_eye_x = the_face(&reference).right_eye.x as u32;
    // Cut the image a little left of the subject's right eye: the face is still detected,
    // but less than one eye distance remains beside that eye.
    let x0 = right_eye_x - 40;
    let cut = image::imageops::crop_imm(&img, x0, 0, img.width() - x0, img.height()).to_image();
    let r = score_bytes(&[(&png(&cut), &[])]);
    assert!(!r.live);
    assert!(
        error_codes(&r).contains(&ErrorCode::ThumbnailExtractionFailed),
        "{:?}",
        r.errors
    );
    let visible = r.image_properties[0]
        .quality_assessments
        .iter()
        .find(|a| a.check == QualityCheck::FullyVisibleFace)
        .expect("FullyVisibleFace assessment");
    assert_eq!(visible.score, 0.0);
}

#[test]
fn quality_assessments_are_all_reported() {
    let r = score_files(&["bioid/challenge_right_1.png"], &[]);
    let checks: Vec<QualityCheck> = r.image_properties[0]
        .quality_assessments
        .iter()
        .map(|a| a.check)
        .collect();
    assert_eq!(
        checks,
        vec![
            QualityCheck::ImageSize,
            QualityCheck::FaceSize,
            QualityCheck::FullyVisibleFace,
            QualityCheck::SuitableFace,
            QualityCheck::Sharpness,
            QualityCheck::Exposure
        ]
    );
    assert!(r.image_properties[0].quality_score > 0.9);
}

#[test]
fn a_blurred_face_scores_lower_sharpness() {
    let img = load_rgb("bioid/challenge_right_1.png");
    let sharp = score_bytes(&[(&png(&img), &[])]);
    let blurred = score_bytes(&[(&png(&image::imageops::blur(&img, 6.0)), &[])]);
    let get = |r: &LivenessDetectionResponse| {
        r.image_properties[0]
            .quality_assessments
            .iter()
            .find(|a| a.check == QualityCheck::Sharpness)
            .unwrap()
            .score
    };
    assert!(
        get(&blurred) < get(&sharp) && get(&blurred) < 0.5,
        "{} vs {}",
        get(&blurred),
        get(&sharp)
    );
}

#[test]
fn a_tiny_face_is_refused_for_texture_analysis() {
    let img = load_rgb("bioid/challenge_right_1.png");
    let small = image::imageops::resize(&img, 140, 128, image::imageops::FilterType::Triangle);
    let r = score_bytes(&[(&png(&small), &[])]);
    assert!(!r.live);
    assert_eq!(r.liveness_score, 0.0);
    let size = r.image_properties[0]
        .quality_assessments
        .iter()
        .find(|a| a.check == QualityCheck::FaceSize);
    assert!(size.is_none_or(|a| a.score < 1.0), "{r:?}");
}

#[test]
fn an_image_without_a_face_is_face_not_found() {
    let blank = image::RgbImage::from_pixel(400, 300, image::Rgb([120, 130, 140]));
    let r = score_bytes(&[(&png(&blank), &[])]);
    assert!(!r.live);
    assert_eq!(error_codes(&r), vec![ErrorCode::FaceNotFound]);
    assert!(r.image_properties[0].faces.is_empty());
}

#[test]
fn huge_images_are_scaled_down_and_still_scored() {
    let img = load_rgb("bioid/challenge_right_1.png");
    let big = image::imageops::resize(&img, 2790, 2550, image::imageops::FilterType::Triangle);
    let r = score_bytes(&[(&png(&big), &[])]);
    let size = &r.image_properties[0].quality_assessments[0];
    assert_eq!(size.check, QualityCheck::ImageSize);
    assert!(
        size.score < 1.0 && size.message.contains("scaled down"),
        "{size:?}"
    );
    assert!(r.live, "{:?}", r.errors);
}

#[test]
fn a_live_face_in_normal_light_keeps_full_exposure() {
    let live = load_rgb("bioid/challenge_right_1.png");
    let r = score_bytes(&[(&png(&scaled(&live, 1.2)), &[])]);
    assert!(r.live, "{:?}", r.errors);
}

/// A phone-sized photo (long side 4032 px, as a 12 MP camera's; quality-90 JPEG) made from a
/// shared image scaled up, with a little noise so the file has the fine texture of a camera's.
/// Returns the file and its size.
fn phone_photo(name: &str) -> (Vec<u8>, (u32, u32)) {
    let small = decoded_rgb(name);
    let f = 4032.0 / small.width().max(small.height()) as f32;
    let (w, h) = (
        (small.width() as f32 * f).round() as u32,
        (small.height() as f32 * f).round() as u32,
    );
    let big = liveness::pipeline::image::resize_rgb(&small, w, h).expect("resize");
    let mut rng = fastrand::Rng::with_seed(3);
    let noisy = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb(
            big.get_pixel(x, y)
                .0
                .map(|v| v.saturating_add(rng.u8(0..5)).saturating_sub(2)),
        )
    });
    (common::attacks::jpeg(&noisy, 90), (w, h))
}

#[test]
fn a_phone_photo_read_at_half_scale_is_judged_as_when_read_whole() {
    // `[limits] jpeg_dct_scaling` reads a JPEG of 4032 px at half scale (2016 px) instead of
    // decoding all its pixels and scaling them down to 2048 px. The client must see the same decision and
    // errors, and the size it sent.
    let mut settings = liveness::config::Settings::load(None)
        .expect("configuration")
        .scoring;
    assert!(settings.limits.jpeg_dct_scaling, "on by default");
    settings.limits.jpeg_dct_scaling = false;
    let whole = liveness::Engine::new(settings, 1).expect("models");
    for (name, live) in [
        ("bioid/challenge_right_1.png", true),
        ("minivision/live_T1.jpg", true),
        ("bioid/photo.png", false),
    ] {
        let (file, (w, h)) = phone_photo(name);
        let scaled_response = score_bytes(&[(&file, &[])]);
        let whole_response = whole.score(&request(&[(&file, &[])])).expect("scored");
        assert_eq!(scaled_response.live, live, "{name}: {scaled_response:?}");
        assert_eq!(whole_response.live, live, "{name}: {whole_response:?}");
        assert_eq!(
            error_codes(&scaled_response),
            error_codes(&whole_response),
            "{name}"
        );
        let size = &scaled_response.image_properties[0].quality_assessments[0];
        assert_eq!(size.check, QualityCheck::ImageSize);
        // Read at half scale: 2016 px on the long side, within 1/32 of the working side.
        assert_eq!(
            size.message,
            format!(
                "the image was scaled down from {w}x{h} to {}x{} pixels",
                w.div_ceil(2),
                h.div_ceil(2)
            )
        );
        // Measured by `examples/jpeg_scaling.rs` on 330 such files: the texture score moves by
        // up to 0.085, as much as storing the photo at JPEG quality 89 instead of 90 moves it
        // (0.077); on these three by far less.
        let (a, b) = (
            scaled_response.liveness_score,
            whole_response.liveness_score,
        );
        assert!((a - b).abs() < 0.1, "{name}: {a} against {b}");
    }
}
