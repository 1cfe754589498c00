//! Two-image scoring end to end on real photos: active 3D-motion liveness, movement direction
//! and challenge-response. Every image goes through `Engine::score` (decode, detection, rotation
//! search, quality, texture, motion, decision). Expectations from `../shared/data/README.md`;
//! the attacks are planar warps of single real images (`common::attacks`), encoded as PNG/JPEG.

mod common;

use common::attacks::{self, Attack, Base, Kind, Op};
use common::*;
use liveness::api::{ErrorCode, Face, LivenessDetectionResponse};
use liveness::pipeline::challenge::angle_between;

const ACTIVE: ErrorCode = ErrorCode::RejectedByActiveLiveDetection;
const CHALLENGE: ErrorCode = ErrorCode::RejectedByChallengeResponse;
const PASSIVE: ErrorCode = ErrorCode::RejectedByPassiveLiveDetection;

const BIOID_1: &str = "bioid/challenge_right_1.png";
const BIOID_2: &str = "bioid/challenge_right_2.png";

fn motion_threshold() -> f64 {
    engine().settings().motion.threshold
}

/// The face of the second image, which carries the pair's motion score and direction.
fn second_face(r: &LivenessDetectionResponse) -> &Face {
    assert_eq!(r.image_properties.len(), 2, "{r:?}");
    let faces = &r.image_properties[1].faces;
    assert_eq!(faces.len(), 1, "one face in the second image: {r:?}");
    &faces[0]
}

/// A live pair: no error at all, and a motion score at or above the threshold.
fn assert_live(r: &LivenessDetectionResponse, what: &str) {
    assert!(
        r.live && r.errors.is_empty(),
        "{what} must be live: {:?}",
        r.errors
    );
    let f = second_face(r);
    assert!(
        f.motion_liveness_score >= motion_threshold() && f.motion_liveness_score <= 1.0,
        "{what}: motion score {}",
        f.motion_liveness_score
    );
}

fn assert_direction(r: &LivenessDetectionResponse, expected: f64, what: &str) {
    let dir = second_face(r).movement_direction;
    assert!(
        dir > 0.0 && dir <= 360.0,
        "{what}: direction {dir} not in ]0,360]"
    );
    assert!(
        angle_between(dir, expected) <= 45.0,
        "{what}: direction {dir}, expected within 45 degrees of {expected}"
    );
}

/// Rejected by the given challenge only: everything else about the pair is live.
fn assert_only_challenge_fails(names: &[&str], tag: &str) {
    let r = score_files(names, &[tag]);
    assert!(!r.live, "tag {tag} on {names:?} must fail");
    assert_eq!(
        error_codes(&r),
        vec![CHALLENGE],
        "tag {tag} on {names:?}: only the challenge fails: {:?}",
        r.errors
    );
    assert!(second_face(&r).motion_liveness_score >= motion_threshold());
}

#[test]
fn bioid_pair_is_live_and_moves_right() {
    let r = score_files(&[BIOID_1, BIOID_2], &[]);
    assert_live(&r, "the BioID challenge pair");
    assert_direction(&r, 360.0, "BioID pair");
    // The first image has no motion score: the pair's values are on the second image.
    let first = &r.image_properties[0].faces[0];
    assert_eq!(first.motion_liveness_score, 0.0);
    assert_eq!(first.movement_direction, 0.0);
    // livenessScore is the mean of the two texture scores and the motion score.
    let f2 = second_face(&r);
    let mean =
        (first.texture_liveness_score + f2.texture_liveness_score + f2.motion_liveness_score) / 3.0;
    assert!((r.liveness_score - mean).abs() < 1e-3, "{r:?}");
}

#[test]
fn bioid_pair_satisfies_right_and_any_in_any_case() {
    for tags in [
        &["right"][..],
        &["RIGHT"],
        &["Right"],
        &["any"],
        &["ANY"],
        &["right", "any"],
    ] {
        let r = score_files(&[BIOID_1, BIOID_2], tags);
        assert_live(&r, &format!("BioID pair with tags {tags:?}"));
    }
}

#[test]
fn bioid_pair_fails_up_down_left_by_challenge_only() {
    for tag in ["up", "down", "left", "Left"] {
        assert_only_challenge_fails(&[BIOID_1, BIOID_2], tag);
    }
}

#[test]
fn bioid_pair_reversed_moves_left() {
    let r = score_files(&[BIOID_2, BIOID_1], &["left"]);
    assert_live(&r, "BioID pair reversed, tag left");
    assert_direction(&r, 180.0, "BioID pair reversed");
    assert_only_challenge_fails(&[BIOID_2, BIOID_1], "right");
}

#[test]
fn nod_down_is_live_and_moves_down() {
    let pair = ["bioid/nod/001.jpg", "bioid/nod/040.jpg"];
    let r = score_files(&pair, &["down"]);
    assert_live(&r, "nod 001->040 with tag down");
    assert_direction(&r, 270.0, "nod 001->040");
    assert_only_challenge_fails(&pair, "up");
}

#[test]
fn nod_up_is_live_and_moves_up() {
    let pair = ["bioid/nod/064.jpg", "bioid/nod/092.jpg"];
    let r = score_files(&pair, &["up"]);
    assert_live(&r, "nod 064->092 with tag up");
    assert_direction(&r, 90.0, "nod 064->092");
    assert_only_challenge_fails(&pair, "down");
}

/// A base for the attacks: the upright working image (EXIF applied) and the face as the
/// pipeline finds it in a single-image request.
fn base(name: &str) -> Base {
    let decoded = liveness::pipeline::image::decode(&read(name), &engine().settings().limits)
        .expect("decodable test image");
    let rgb = decoded.rgb;
    let r = score_bytes(&[(&attacks::png(&rgb), &[])]);
    let props = &r.image_properties[0];
    assert_eq!(props.rotated, 0, "{name}: upright after EXIF");
    assert_eq!(props.faces.len(), 1, "{name}: one face: {r:?}");
    assert!(r.live, "{name}: the base image itself is live: {r:?}");
    let f = &props.faces[0];
    Base::new(
        name,
        rgb,
        [f.right_eye.x, f.right_eye.y],
        [f.left_eye.x, f.left_eye.y],
    )
}

fn score_attack(b: &Base, a: &Attack, tags: &[&str]) -> LivenessDetectionResponse {
    let (first, second) = attacks::render(b, &a.op);
    score_bytes(&[(&first, &[]), (&second, tags)])
}

/// The attack was measured (both faces found and usable, so the active stage ran) and the
/// active check rejected it.
fn assert_rejected_by_active(r: &LivenessDetectionResponse, what: &str) {
    assert!(!r.live, "{what} must not be live: {r:?}");
    let f = second_face(r);
    assert!(
        f.motion_liveness_score > 0.0,
        "{what}: the active stage must have run: {:?}",
        r.errors
    );
    assert!(
        f.motion_liveness_score < motion_threshold(),
        "{what}: motion score {} must be below {}",
        f.motion_liveness_score,
        motion_threshold()
    );
    assert!(
        error_codes(r).contains(&ACTIVE),
        "{what}: {ACTIVE} expected in {:?}",
        r.errors
    );
}

/// Two attacks of every planar type on a base, chosen so that across the bases every
/// magnitude of every type is used (the catalogue holds 4 to 6 of each type).
fn planar_selection(b: &Base, offset: usize) -> Vec<Attack> {
    let all = attacks::catalogue(b);
    let mut out = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.planar()) {
        let of_kind: Vec<&Attack> = all.iter().filter(|a| a.kind == kind).collect();
        let n = of_kind.len();
        for k in [offset % n, (offset + n / 2) % n] {
            out.push(of_kind[k].clone());
        }
    }
    out
}

fn planar_warps_are_rejected(name: &str, offset: usize) {
    let b = base(name);
    let selection = planar_selection(&b, offset);
    assert!(selection.len() >= 12);
    for a in &selection {
        let r = score_attack(&b, a, &[]);
        let what = format!("{name}: {}", a.name);
        assert_rejected_by_active(&r, &what);
        // The warped image alone still looks live to the passive check: the motion is what
        // gives the photo away.
        assert!(
            !error_codes(&r).contains(&PASSIVE),
            "{what}: the warp of a live image should stay passive-live: {:?}",
            r.errors
        );
    }
}

#[test]
fn planar_warps_of_bioid_1_are_rejected() {
    planar_warps_are_rejected(BIOID_1, 0);
}

#[test]
fn planar_warps_of_bioid_2_are_rejected() {
    planar_warps_are_rejected(BIOID_2, 1);
}

#[test]
fn planar_warps_of_nod_001_are_rejected() {
    planar_warps_are_rejected("bioid/nod/001.jpg", 2);
}

#[test]
fn planar_warps_of_nod_040_are_rejected() {
    planar_warps_are_rejected("bioid/nod/040.jpg", 3);
}

#[test]
fn planar_warps_of_minivision_live_are_rejected() {
    planar_warps_are_rejected("minivision/live_T1.jpg", 4);
}

#[test]
fn a_moving_photo_fails_the_challenge_it_seems_to_answer() {
    // A photo moved to the image right answers "right" by direction, but the pair is rejected
    // by the active check all the same.
    let b = base(BIOID_1);
    let d = b.eye_distance;
    let a = Attack {
        kind: Kind::Translate,
        name: "translate right".into(),
        op: Op::Warp(attacks::similarity(&b, 0.0, 1.0, 0.6 * d, 0.0)),
    };
    let r = score_attack(&b, &a, &["right"]);
    assert_rejected_by_active(&r, "photo moved right, tag right");
    assert_direction(&r, 360.0, "photo moved right");
    assert!(!error_codes(&r).contains(&CHALLENGE), "{:?}", r.errors);
}

#[test]
fn identical_images_are_rejected() {
    for name in [BIOID_1, "bioid/nod/040.jpg"] {
        let r = score_files(&[name, name], &[]);
        assert_rejected_by_active(&r, &format!("{name} twice"));
        // No movement: no challenge can be satisfied, not even "any".
        let r = score_files(&[name, name], &["any"]);
        assert!(error_codes(&r).contains(&CHALLENGE), "{:?}", r.errors);
    }
}

#[test]
fn near_identical_images_are_rejected() {
    let b = base(BIOID_2);
    let near: Vec<Attack> = attacks::catalogue(&b)
        .into_iter()
        .filter(|a| a.kind == Kind::NoMotion && !matches!(a.op, Op::Identical))
        .collect();
    assert!(near.len() >= 3, "shift, noise and JPEG re-encode");
    for a in &near {
        let r = score_attack(&b, a, &[]);
        assert_rejected_by_active(&r, &format!("{BIOID_2}: {}", a.name));
    }
}

#[test]
fn a_bent_photo_turned_and_moved_is_rejected() {
    let b = base("bioid/nod/001.jpg");
    let bent = attacks::catalogue(&b)
        .into_iter()
        .rfind(|a| a.kind == Kind::BentPhoto)
        .expect("a bent-photo attack");
    let r = score_attack(&b, &bent, &[]);
    assert_rejected_by_active(&r, &format!("nod/001: {}", bent.name));
}

#[test]
fn passive_spoof_pairs_are_not_live() {
    // The ID photo twice: a spoof to the passive check, and no motion.
    let r = score_files(&["bioid/photo.png", "bioid/photo.png"], &[]);
    assert!(!r.live, "{r:?}");
    let codes = error_codes(&r);
    assert_eq!(
        codes.iter().filter(|c| **c == PASSIVE).count(),
        2,
        "{codes:?}"
    );
    assert!(codes.contains(&ACTIVE), "{codes:?}");

    // The printed photo, then the same print tilted: passive and active both reject it.
    let decoded = liveness::pipeline::image::decode(
        &read("minivision/spoof_print_F1.jpg"),
        &engine().settings().limits,
    )
    .expect("decode");
    let rgb = decoded.rgb;
    let r1 = score_bytes(&[(&attacks::png(&rgb), &[])]);
    let f = &r1.image_properties[0].faces[0];
    let b = Base::new(
        "print",
        rgb,
        [f.right_eye.x, f.right_eye.y],
        [f.left_eye.x, f.left_eye.y],
    );
    let a = Attack {
        kind: Kind::TiltY,
        name: "print tilted".into(),
        op: Op::Warp(attacks::mat_mul(
            &attacks::tilt(&b, 20.0, false),
            &attacks::similarity(&b, 0.0, 1.0, 0.3 * b.eye_distance, 0.0),
        )),
    };
    let r = score_attack(&b, &a, &["any"]);
    assert!(!r.live, "{r:?}");
    let codes = error_codes(&r);
    assert!(codes.contains(&PASSIVE), "{codes:?}");
    assert!(codes.contains(&ACTIVE), "{codes:?}");
}
