//! The `liveness score` command: JSON out, BWS error body and exit code 2 on invalid input.

mod common;

use std::process::Command;

fn liveness() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_liveness"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn score_prints_the_bws_response() {
    let img = common::data_dir().join("bioid/challenge_right_1.png");
    let out = liveness().arg("score").arg(&img).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "SUCCEEDED");
    assert_eq!(v["live"], true);
    assert!(
        v["imageProperties"][0]["faces"][0]["textureLivenessScore"]
            .as_f64()
            .unwrap()
            > 0.5
    );
}

#[test]
fn invalid_input_prints_the_error_body_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("liveness-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.png");
    std::fs::write(&bad, b"definitely not an image").unwrap();
    let out = liveness().arg("score").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], "InvalidArgument");
    assert!(v["message"].as_str().unwrap().contains("not supported"));

    let img = common::data_dir().join("bioid/photo.png");
    let out = liveness()
        .args(["score", "--tag", "diagonal"])
        .arg(&img)
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], "InvalidArgument");
}

#[test]
fn enqueue_refuses_a_deadline_too_far_in_the_future_without_a_panic() {
    let img = common::data_dir().join("bioid/photo.png");
    for seconds in [u64::MAX, 1 << 60, 10_000_000_000_000] {
        let out = liveness()
            .args(["enqueue", "--deadline-seconds", &seconds.to_string()])
            .arg(&img)
            // Nothing may be enqueued: a broker that cannot answer.
            .env("LIVENESS__AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{seconds}: {err}");
        assert!(
            err.contains(&format!(
                "--deadline-seconds {seconds} is too far in the future"
            )),
            "{seconds}: {err}"
        );
    }
}
