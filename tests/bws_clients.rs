//! BWS clients unchanged: a client that is not this project's code (Python: grpcio stubs that
//! grpcio-tools generates from `Protos/` at test time, REST through the standard library,
//! tokens made with PyJWT from a base64 client key, in the styles of BioID's C#, Java and web
//! app clients; `tests/clients/bws_client.py`) against the gateway, over REST and gRPC, with the
//! real RabbitMQ, a real worker process and the real models. `make setup` installs the Python
//! packages into `.venv-test/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::broker::{LivenessProcess, Queues, spawn_worker};
use common::gateway::{Running, settings};
use liveness::config::Settings;
use serde_json::Value;

/// Two clients, each with its own key, as the BWS portal gives them (base64).
const CLIENT_A: &str = "bws-client-a";
const KEY_A: &str = common::TEST_KEY;
const CLIENT_B: &str = "bws-client-b";
const KEY_B: &str =
    "cAJgMY7mLr7ovvQCRpAda+Hme6B9ZYqiOL5d/D0+G703VRY6/nD//qfZO0rrEoZva7IMrfWVtQtxjybliNK5uA==";

fn keys() -> String {
    format!("{CLIENT_A}:{KEY_A},{CLIENT_B}:{KEY_B}")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let p = root().join(".venv-test/bin/python");
    assert!(p.exists(), "{} is missing: run `make setup`", p.display());
    p
}

/// The Python stubs, generated once per run from the repository's proto files, exactly as a
/// client developer would from BioID's (`-I .`, the files' import path).
fn stubs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("bws-stubs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(python())
            .current_dir(root())
            .args(["-m", "grpc_tools.protoc", "-I", "."])
            .arg(format!("--python_out={}", dir.display()))
            .arg(format!("--grpc_python_out={}", dir.display()))
            .args(["Protos/bws.proto", "Protos/bwsmessages.proto"])
            .output()
            .unwrap();
        assert!(out.status.success(), "grpc_tools.protoc: {out:?}");
        dir
    })
}

/// Where the client calls.
#[derive(Clone, Copy, Debug)]
enum Via {
    Rest,
    Grpc,
}

const BOTH: [Via; 2] = [Via::Rest, Via::Grpc];

/// One call of the Python client; its JSON report.
fn client(gw: &Running, via: Via, args: &[&str]) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tests/clients/bws_client.py"));
    match via {
        Via::Rest => cmd.args([
            "--rest",
            &format!("http://{}{}", gw.addr(), liveness::gateway::LIVENESS_PATH),
        ]),
        Via::Grpc => cmd
            .args(["--grpc", &gw.gw.grpc_addr().to_string(), "--stubs"])
            .arg(stubs()),
    };
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "bws_client.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn image(name: &str) -> String {
    common::data_dir().join(name).display().to_string()
}

fn pair() -> [String; 2] {
    [
        image("bioid/challenge_right_1.png"),
        image("bioid/challenge_right_2.png"),
    ]
}

/// Auth on with both clients' keys, a worker with the same settings. The queues come first:
/// bound in that order, they are removed after the worker and the gateway stopped.
async fn start(prefix: &str) -> (Queues, Running, LivenessProcess) {
    let a = Queues::new(&format!("bws.{prefix}"));
    let mut s: Settings = settings(&a, 60);
    s.auth.enabled = true;
    s.auth.keys = keys();
    let gw = Running::connected(&s).await;
    let keys = keys();
    let worker = spawn_worker(
        &a,
        &[
            ("LIVENESS__AUTH__ENABLED", "true"),
            ("LIVENESS__AUTH__KEYS", keys.as_str()),
        ],
    );
    gw.wait_for_worker().await;
    (a, gw, worker)
}

/// The BWS metadata came back: a GUID `jobid` (over gRPC also as a trailer), the version and
/// the reference number that was sent.
fn assert_metadata(r: &Value, via: Via, reference: &str) {
    let jobid = r["jobid"].as_str().unwrap_or_else(|| panic!("jobid: {r}"));
    assert!(uuid::Uuid::parse_str(jobid).is_ok(), "{r}");
    assert_eq!(r["reference_number"], reference, "{r}");
    assert_eq!(r["bws_version"], env!("CARGO_PKG_VERSION"), "{r}");
    if let Via::Grpc = via {
        assert_eq!(r["jobid_trailer"], jobid, "jobid as a trailer: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_bioids_three_clients_get_a_live_result_over_rest_and_grpc() {
    let (_queues, gw, worker) = start("clients").await;
    let [first, second] = pair();
    // C# sample: HS256, client A. Java sample: HS512, client B. Web app: HS512, iss
    // `demoWeApp`, aud `bws`, client A.
    let styles = [
        ("csharp", CLIENT_A, KEY_A),
        ("java", CLIENT_B, KEY_B),
        ("webapp", CLIENT_A, KEY_A),
    ];
    for (style, client_id, key) in styles {
        for via in BOTH {
            let reference = format!("REF-{style}-{via:?}");
            let r = client(
                &gw,
                via,
                &[
                    "--style",
                    style,
                    "--client-id",
                    client_id,
                    "--key",
                    key,
                    "--reference-number",
                    &reference,
                    "--tag",
                    "right",
                    &first,
                    &second,
                ],
            );
            let ok = match via {
                Via::Rest => Value::from(200),
                Via::Grpc => Value::from("OK"),
            };
            assert_eq!(r["code"], ok, "{style} {via:?}: {r}");
            assert_eq!(r["status"], "SUCCEEDED", "{r}");
            assert_eq!(r["live"], true, "{style} {via:?}: {r}");
            assert_eq!(r["images"], 2, "{r}");
            assert!(r["liveness_score"].as_f64().is_some_and(|s| s > 0.5), "{r}");
            assert_metadata(&r, via, &reference);
        }
    }
    worker.stop();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_undecodable_images_are_refused_with_the_bws_status() {
    let (_queues, gw, worker) = start("refused").await;
    let [first, _] = pair();
    for via in BOTH {
        let unauthenticated = match via {
            Via::Rest => Value::from(401),
            Via::Grpc => Value::from("UNAUTHENTICATED"),
        };
        for style in ["forged", "expired", "none"] {
            let reference = format!("REF-{style}");
            let r = client(
                &gw,
                via,
                &[
                    "--style",
                    style,
                    "--client-id",
                    CLIENT_A,
                    "--key",
                    KEY_A,
                    "--reference-number",
                    &reference,
                    &first,
                ],
            );
            assert_eq!(r["code"], unauthenticated, "{style} {via:?}: {r}");
            assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
            assert_metadata(&r, via, &reference);
        }
        // A valid token with an image no decoder reads: the worker's 400, INVALID_ARGUMENT.
        let r = client(
            &gw,
            via,
            &[
                "--style",
                "csharp",
                "--client-id",
                CLIENT_B,
                "--key",
                KEY_B,
                "--reference-number",
                "REF-garbage",
                "--garbage-image",
            ],
        );
        let invalid = match via {
            Via::Rest => Value::from(400),
            Via::Grpc => Value::from("INVALID_ARGUMENT"),
        };
        assert_eq!(r["code"], invalid, "{via:?}: {r}");
        assert_metadata(&r, via, "REF-garbage");
    }
    // A forged token with a 500 kB body: Python's http.client writes the whole body before it
    // reads, and still reads the 401.
    let r = client(
        &gw,
        Via::Rest,
        &[
            "--style",
            "forged",
            "--random-image-bytes",
            "500000",
            "--reference-number",
            "REF-large",
        ],
    );
    assert_eq!(r["code"], 401, "{r}");
    assert!(r["sent_bytes"].as_u64().is_some_and(|n| n > 500_000), "{r}");
    worker.stop();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_and_the_calls_not_offered() {
    let (_queues, gw, worker) = start("health").await;
    let r = client(&gw, Via::Grpc, &["--method", "health"]);
    assert_eq!(r["code"], "OK", "{r}");
    assert_eq!(r["serving_status"], 1, "SERVING while connected: {r}");
    for method in ["video", "photoverify"] {
        let r = client(&gw, Via::Grpc, &["--method", method]);
        assert_eq!(r["code"], "UNIMPLEMENTED", "{method}: {r}");
        assert!(
            r["message"]
                .as_str()
                .is_some_and(|m| m.contains("not offered")),
            "{r}"
        );
    }
    worker.stop();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_size_limits_are_refused_readably_before_any_worker() {
    // No worker and no auth: the answers below come from the gateway. Limits of 1 MB stand in
    // for the 50 MB ones: the REST body and gRPC message limit, and the workers' job limit.
    let a = Queues::new("bws.limits");
    let mut s: Settings = settings(&a, 5);
    s.gateway.max_body_bytes = 1_000_000;
    s.gateway.drain_max_bytes = 2_000_000;
    s.limits.max_request_bytes = 1_000_000;
    let gw = Running::connected(&s).await;
    let call = |via, n: &str| {
        client(
            &gw,
            via,
            &["--random-image-bytes", n, "--reference-number", "REF-size"],
        )
    };
    // REST, 1.33 MB of base64: Python's http.client writes it all, then reads the 413. (On
    // loopback the kernel's buffers may hold such a body even when the gateway does not read
    // it; tests/gateway.rs shrinks the client's send buffer to show the drain itself.)
    let r = call(Via::Rest, "1000000");
    assert_eq!(r["code"], 413, "{r}");
    assert_eq!(r["error_code"], "InvalidArgument", "{r}");
    assert!(
        r["sent_bytes"].as_u64().is_some_and(|n| n > 1_300_000),
        "{r}"
    );
    assert_eq!(r["reference_number"], "REF-size", "{r}");
    // gRPC, a 900 kB image: the message is within its limit, the job (base64) is not.
    let r = call(Via::Grpc, "900000");
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    let message = r["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("once encoded as a job, more than the limit of 1000000 bytes"),
        "{r}"
    );
    assert_metadata(&r, Via::Grpc, "REF-size");
    // A 600 kB image makes a job of about 800 kB: it passes the size check and meets the next
    // one (no worker consumes the queue).
    let r = call(Via::Grpc, "600000");
    assert_eq!(r["code"], "UNAVAILABLE", "{r}");
    gw.stop().await;
}
