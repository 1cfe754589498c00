//! The HTTP gateway against the real RabbitMQ on 127.0.0.1:5672, with real worker processes and
//! the real models. The gateway runs in-process on an ephemeral port (one test runs the
//! `liveness gateway` binary); every test uses its own queue names, so tests run in parallel.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::broker::{
    LivenessProcess, Queues, channel, close_connection, consumer, message_count, spawn_worker,
};
use common::gateway::{Answer, Running, http, read_answer, request_head, settings};
use lapin::{Channel, Connection};
use liveness::config::AmqpSettings;
use liveness::gateway::LIVENESS_PATH;
use liveness::gateway::STATUS_CODES;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A consumer of the job queue that takes jobs and never answers them (a stuck worker).
async fn stuck_consumer(a: &AmqpSettings) -> (Connection, Channel) {
    let (conn, ch) = channel().await;
    liveness::queue::topology::declare(&conn, a).await.unwrap();
    let consumer = consumer(&ch, &a.job_queue).await;
    // Keep the consumer alive (deliveries pile up unacked) until the channel closes.
    tokio::spawn(async move {
        use futures_lite::StreamExt;
        let mut consumer = consumer;
        while let Some(Ok(_)) = consumer.next().await {}
    });
    (conn, ch)
}

/// A connection whose send buffer is small (32 kB): the body cannot wait in the kernel's
/// buffers, so writing it to its end needs the gateway to read it, as with a body larger than
/// those buffers over a real network.
async fn connect_small_buffer(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(32 * 1024).unwrap();
    socket.connect(addr).await.unwrap()
}

async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    http(addr, "POST", LIVENESS_PATH, headers, body).await
}

/// A request as BioID's sample clients send it: PascalCase, tags on the last image.
fn pascal_body(names: &[&str], tags: &[&str]) -> Vec<u8> {
    let n = names.len();
    let images: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let t: Vec<&str> = if i + 1 == n { tags.to_vec() } else { vec![] };
            json!({"Image": common::b64(&common::read(name)), "Tags": t})
        })
        .collect();
    serde_json::to_vec(&json!({ "LiveImages": images })).unwrap()
}

/// What `liveness score` prints for these files.
fn liveness_score(names: &[&str], tags: &[&str]) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liveness"));
    cmd.arg("score").current_dir(env!("CARGO_MANIFEST_DIR"));
    for name in names {
        cmd.arg(common::data_dir().join(name));
    }
    for t in tags {
        cmd.args(["--tag", t]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "liveness score: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_bws_headers(a: &Answer, reference: Option<&str>) {
    let job_id = a.header("jobid").expect("jobid header");
    assert!(uuid::Uuid::parse_str(job_id).is_ok(), "jobid {job_id}");
    assert_eq!(a.header("bws-version"), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(a.header("reference-number"), reference);
    let date = a.header("date").expect("date header");
    assert!(
        chrono::DateTime::parse_from_rfc2822(date).is_ok(),
        "RFC 1123 date: {date}"
    );
    assert_eq!(a.header("content-type"), Some("application/json"));
}

fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["code"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bioid_sample_requests_get_the_body_of_liveness_score() {
    let a = Queues::new("gw.bioid");
    let gw = Running::connected(&settings(&a, 60)).await;
    let worker = spawn_worker(&a, &[]);
    gw.wait_for_worker().await;
    let pair = ["bioid/challenge_right_1.png", "bioid/challenge_right_2.png"];
    for (names, tags) in [(&pair[..], &["right"][..]), (&pair[..1], &[][..])] {
        let reference = format!("BWS-SAMPLE-{}", names.len());
        let answer = post(
            gw.addr(),
            &[("Reference-Number", reference.as_str())],
            &pascal_body(names, tags),
        )
        .await;
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_bws_headers(&answer, Some(&reference));
        assert_eq!(answer.json(), liveness_score(names, tags), "{names:?}");
    }
    // The camelCase form gives the same answer; without a Reference-Number none comes back.
    let camel = serde_json::to_vec(&common::score_files_request(&pair, &["right"])).unwrap();
    let answer = post(gw.addr(), &[], &camel).await;
    assert_eq!(answer.status, 200);
    assert_bws_headers(&answer, None);
    assert_eq!(answer.json(), liveness_score(&pair, &["right"]));
    // What only a worker can refuse (the image itself) comes back with the worker's status.
    let bad = post(gw.addr(), &[], br#"{"LiveImages":[{"Image":"%%%"}]}"#).await;
    assert_error(&bad, 400, "InvalidArgument");
    assert!(String::from_utf8_lossy(&bad.body).contains("base64"));
    assert_bws_headers(&bad, None);
    assert_eq!(gw.gw.broker().pending_count(), 0);
    worker.stop();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_get_400_or_413_from_the_gateway_itself() {
    // No worker and no queue: these answers cannot come from a worker.
    let a = Queues::new("gw.invalid");
    let mut s = settings(&a, 5);
    s.gateway.max_body_bytes = 4096;
    s.gateway.drain_max_bytes = 64 * 1024;
    let gw = Running::connected(&s).await;
    let img = json!({"Image": "aGk="});
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "three images",
            serde_json::to_vec(&json!({"LiveImages": [img, img, img]})).unwrap(),
            "got 3",
        ),
        ("no image", br#"{"liveImages":[]}"#.to_vec(), "got 0"),
        ("empty object", b"{}".to_vec(), "got 0"),
        ("not JSON", b"{not json".to_vec(), "not a valid"),
        (
            "image is not a string",
            br#"{"liveImages":[{"image":42}]}"#.to_vec(),
            "not a valid",
        ),
        (
            "liveImages is not an array",
            br#"{"liveImages":{"image":"aGk="}}"#.to_vec(),
            "not a valid",
        ),
    ];
    for (name, body, text) in cases {
        let answer = post(gw.addr(), &[("Reference-Number", "R-400")], &body).await;
        assert_error(&answer, 400, "InvalidArgument");
        assert!(
            String::from_utf8_lossy(&answer.body).contains(text),
            "{name}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_bws_headers(&answer, Some("R-400"));
    }
    // Too large, and declared larger than the drain limit: refused at once, before the body
    // is sent (it could not be drained to its end), and the connection is closed.
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    stream
        .write_all(request_head("POST", LIVENESS_PATH, &[], 100 * 1024 * 1024).as_bytes())
        .await
        .unwrap();
    let answer = read_answer(stream).await;
    assert_error(&answer, 413, "InvalidArgument");
    assert_eq!(answer.header("connection"), Some("close"));
    // Too large without a declared length (chunked) is refused too.
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    let head = format!(
        "POST {LIVENESS_PATH} HTTP/1.1\r\nHost: g\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 8192];
    stream
        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(&chunk).await.unwrap();
    stream.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let answer = read_answer(stream).await;
    assert_error(&answer, 413, "InvalidArgument");
    // Routes and methods as axum answers them.
    assert_eq!(
        http(gw.addr(), "GET", LIVENESS_PATH, &[], b"").await.status,
        405
    );
    assert_eq!(
        http(gw.addr(), "POST", "/api/v1/other", &[], b"{}")
            .await
            .status,
        404
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_writes_a_too_large_body_before_reading_still_reads_the_413() {
    // No worker: the answer cannot come from one.
    let a = Queues::new("gw.drain");
    let mut s = settings(&a, 5);
    s.gateway.max_body_bytes = 1024 * 1024;
    s.gateway.drain_max_bytes = 2 * 1024 * 1024;
    let gw = Running::connected(&s).await;
    let body = vec![b' '; 1536 * 1024];
    // Declared and chunked (no declared length), each written to its end before the answer
    // is read, as Python's http.client and .NET's HttpClient do: without the drain the write
    // fails (broken pipe, reset) or the reset loses the answer.
    for round in 0..3 {
        // Without `Connection: close`, so that the answer says whether the gateway keeps it.
        let mut stream = connect_small_buffer(gw.addr()).await;
        let head = request_head(
            "POST",
            LIVENESS_PATH,
            &[("Reference-Number", "R-413")],
            body.len(),
        )
        .replace("Connection: close\r\n", "");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let answer = read_answer(stream).await;
        assert_error(&answer, 413, "InvalidArgument");
        assert_bws_headers(&answer, Some("R-413"));
        assert!(
            String::from_utf8_lossy(&answer.body).contains("larger than 1048576 bytes"),
            "{round}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        // Read to its end: the connection is kept.
        assert_eq!(answer.header("connection"), None, "{round}");

        let mut stream = connect_small_buffer(gw.addr()).await;
        let head = format!(
            "POST {LIVENESS_PATH} HTTP/1.1\r\nHost: g\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        for chunk in body.chunks(64 * 1024) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await
                .unwrap();
            stream.write_all(chunk).await.unwrap();
            stream.write_all(b"\r\n").await.unwrap();
        }
        stream.write_all(b"0\r\n\r\n").await.unwrap();
        let answer = read_answer(stream).await;
        assert_error(&answer, 413, "InvalidArgument");
    }
    gw.stop().await;
    // A client that stops sending midway is not waited for beyond the drain timeout: the 413
    // comes, with `Connection: close` since the body was not read to its end.
    s.gateway.drain_timeout_ms = 300;
    let gw = Running::connected(&s).await;
    let mut stream = connect_small_buffer(gw.addr()).await;
    let head =
        request_head("POST", LIVENESS_PATH, &[], body.len()).replace("Connection: close\r\n", "");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    let answer = read_answer(stream).await;
    assert_error(&answer, 413, "InvalidArgument");
    assert_eq!(answer.header("connection"), Some("close"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_a_missing_or_bad_token_gets_401_and_is_not_enqueued() {
    let a = Queues::new("gw.auth");
    let mut s = settings(&a, 60);
    s.auth.enabled = true;
    s.auth.keys = common::TEST_KEY.into();
    s.auth.leeway_seconds = 0;
    let gw = Running::connected(&s).await;
    let worker = spawn_worker(
        &a,
        &[
            ("LIVENESS__AUTH__ENABLED", "true"),
            ("LIVENESS__AUTH__KEYS", common::TEST_KEY),
        ],
    );
    gw.wait_for_worker().await;
    let body = pascal_body(&["bioid/photo.png"], &[]);
    let bearer = |t: String| format!("Bearer {t}");
    let cases = [
        ("no token", None),
        ("not Bearer", Some("Basic Z3Vlc3Q6Z3Vlc3Q=".to_string())),
        ("not a JWT", Some("Bearer not.a.jwt".to_string())),
        (
            "wrong key",
            Some(bearer(common::jwt(common::OTHER_KEY, "BWS", 300))),
        ),
        (
            "expired",
            Some(bearer(common::jwt(common::TEST_KEY, "BWS", -300))),
        ),
        (
            "wrong audience",
            Some(bearer(common::jwt(common::TEST_KEY, "NOT-BWS", 300))),
        ),
    ];
    for (name, token) in cases {
        let mut headers = vec![("Reference-Number", "R-401")];
        if let Some(t) = &token {
            headers.push(("Authorization", t.as_str()));
        }
        let answer = post(gw.addr(), &headers, &body).await;
        assert_eq!(answer.status, 401, "{name}");
        assert_error(&answer, 401, "Unauthenticated");
        assert_bws_headers(&answer, Some("R-401"));
    }
    // A forged token with a 500 kB body: the client writes the whole body before it reads
    // (as `post` does) and still reads the 401, instead of a broken pipe.
    let large = pascal_body(&["bioid/photo.png"], &[]);
    let mut large = serde_json::from_slice::<Value>(&large).unwrap();
    large["LiveImages"][0]["Image"] = json!(common::b64(&vec![7u8; 500 * 1024]));
    let large = serde_json::to_vec(&large).unwrap();
    assert!(large.len() > 500 * 1024);
    let forged = bearer(common::jwt(common::OTHER_KEY, "BWS", 300));
    for _ in 0..3 {
        let answer = post(gw.addr(), &[("Authorization", forged.as_str())], &large).await;
        assert_error(&answer, 401, "Unauthenticated");
    }
    let valid = bearer(common::jwt(common::TEST_KEY, "BWS", 300));
    let answer = post(gw.addr(), &[("Authorization", valid.as_str())], &body).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // The token reached the worker (which checks it too): a 200 from a worker with auth on.
    // Only that job was enqueued: the worker answered exactly one.
    assert_eq!(message_count(&a.results_queue).await, 1);
    worker.stop();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_worker_the_answer_is_503_before_the_deadline_and_408_with_a_stuck_one() {
    let a = Queues::new("gw.noworker");
    let deadline = Duration::from_secs(2);
    let gw = Running::connected(&settings(&a, deadline.as_secs())).await;
    let body = pascal_body(&["bioid/photo.png"], &[]);
    // No job queue at all, then a queue nobody consumes: 503 at once, nothing enqueued.
    for case in ["no queue", "no consumer"] {
        if case == "no consumer" {
            let (conn, _ch) = channel().await;
            liveness::queue::topology::declare(&conn, &a).await.unwrap();
            let _ = conn.close(200, "bye".into()).await;
        }
        let started = Instant::now();
        let answer = post(gw.addr(), &[("Reference-Number", "R-503")], &body).await;
        assert!(
            started.elapsed() < deadline,
            "{case}: {:?}",
            started.elapsed()
        );
        assert_error(&answer, 503, "Unavailable");
        assert_bws_headers(&answer, Some("R-503"));
    }
    assert_eq!(message_count(&a.job_queue).await, 0, "nothing enqueued");
    // A consumer that never answers: the deadline passes with a worker there, 408.
    let (conn, ch) = stuck_consumer(&a).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // the cached count expires
    let started = Instant::now();
    let answer = post(gw.addr(), &[], &body).await;
    assert!(started.elapsed() >= deadline, "{:?}", started.elapsed());
    assert_error(&answer, 408, "DeadlineExceeded");
    // The consumer goes away while a job waits: at the deadline there is nobody, 503.
    let waiting = tokio::spawn({
        let addr = gw.addr();
        let body = body.clone();
        async move { post(addr, &[], &body).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = ch.close(200, "stuck worker leaves".into()).await;
    let answer = waiting.await.unwrap();
    assert_error(&answer, 503, "Unavailable");
    let _ = conn.close(200, "bye".into()).await;
    assert_eq!(gw.gw.broker().pending_count(), 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_broker_health_and_requests_get_503_at_once() {
    let mut a = Queues::new("gw.nobroker");
    a.url = "amqp://guest:guest@127.0.0.1:1/%2f".into();
    let gw = Running::start(&settings(&a, 30)).await;
    let health = http(gw.addr(), "GET", "/healthz", &[], b"").await;
    assert_eq!(health.status, 503);
    let started = Instant::now();
    let answer = post(gw.addr(), &[], &pascal_body(&["bioid/photo.png"], &[])).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_error(&answer, 503, "Unavailable");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_each_get_their_own_result() {
    let a = Queues::new("gw.concurrent");
    let gw = Running::connected(&settings(&a, 240)).await;
    let worker = spawn_worker(&a, &[]);
    gw.wait_for_worker().await;
    let names = ["bioid/photo.png", "bioid/challenge_right_1.png"];
    let bodies: Vec<Vec<u8>> = names.iter().map(|n| pascal_body(&[n], &[])).collect();
    let expected: Vec<Value> = bodies
        .iter()
        .map(|b| serde_json::to_value(common::engine().score_json(b).unwrap()).unwrap())
        .collect();
    assert_ne!(
        expected[0], expected[1],
        "the two images answer differently"
    );
    let n = 200;
    let mut tasks = Vec::new();
    for i in 0..n {
        let body = bodies[i % 2].clone();
        let addr = gw.addr();
        tasks.push(tokio::spawn(async move {
            let reference = format!("REF-{i}");
            (
                i,
                post(addr, &[("Reference-Number", reference.as_str())], &body).await,
            )
        }));
    }
    let mut job_ids = HashSet::new();
    for t in tasks {
        let (i, answer) = t.await.unwrap();
        assert_eq!(
            answer.status,
            200,
            "{i}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let reference = format!("REF-{i}");
        assert_bws_headers(&answer, Some(&reference));
        assert_eq!(
            answer.json(),
            expected[i % 2],
            "request {i} got its own result"
        );
        job_ids.insert(answer.header("jobid").unwrap().to_string());
    }
    assert_eq!(job_ids.len(), n, "a distinct jobid per request");
    assert_eq!(gw.gw.broker().pending_count(), 0);
    worker.stop();
    gw.stop().await;
}

async fn wait_pending(gw: &Running, want: usize) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if gw.gw.broker().pending_count() == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_is_forgotten_and_the_gateway_goes_on() {
    let a = Queues::new("gw.cancel");
    let gw = Running::connected(&settings(&a, 60)).await;
    let (conn, ch) = stuck_consumer(&a).await;
    let body = pascal_body(&["bioid/photo.png"], &[]);
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    stream
        .write_all(request_head("POST", LIVENESS_PATH, &[], body.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(&body).await.unwrap();
    assert!(
        wait_pending(&gw, 1).await,
        "the job is enqueued and waited for"
    );
    // The client gives up: its entry goes, though no result ever came.
    drop(stream);
    assert!(
        wait_pending(&gw, 0).await,
        "the cancelled request is forgotten"
    );
    // The stuck consumer leaves; a real worker answers the orphaned job (a result nobody
    // waits for) and then a new request.
    let _ = ch.close(200, "bye".into()).await;
    let _ = conn.close(200, "bye".into()).await;
    let worker = spawn_worker(&a, &[]);
    gw.wait_for_worker().await;
    let answer = post(gw.addr(), &[("Reference-Number", "after-cancel")], &body).await;
    assert_eq!(answer.status, 200);
    assert_bws_headers(&answer, Some("after-cancel"));
    assert_eq!(gw.gw.broker().pending_count(), 0);
    worker.stop();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_served_and_describes_every_status() {
    let a = Queues::new("gw.openapi");
    let gw = Running::connected(&settings(&a, 30)).await;
    let answer = http(gw.addr(), "GET", "/openapi.json", &[], b"").await;
    assert_eq!(answer.status, 200);
    let file =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
            .unwrap();
    assert_eq!(
        answer.body, file,
        "the served document is docs/openapi.json"
    );
    let doc = answer.json();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.0"))
    );
    let responses = doc["paths"][LIVENESS_PATH]["post"]["responses"]
        .as_object()
        .expect("responses of the endpoint");
    let documented: HashSet<u16> = responses.keys().map(|k| k.parse().unwrap()).collect();
    let returned: HashSet<u16> = STATUS_CODES.iter().copied().collect();
    assert_eq!(
        documented, returned,
        "every status the handler returns, and only those"
    );
    for (code, r) in responses {
        for h in ["jobid", "bws-version", "reference-number", "date"] {
            assert!(r["headers"].get(h).is_some(), "{code} documents header {h}");
        }
    }
    let health = http(gw.addr(), "GET", "/healthz", &[], b"").await;
    assert_eq!(health.status, 200, "connected to the broker");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_subcommand_listens_where_configured_and_stops_on_sigterm() {
    let a = Queues::new("gw.process");
    let port = common::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = LivenessProcess::spawn(
        Command::new(env!("CARGO_BIN_EXE_liveness"))
            .arg("gateway")
            .env("LIVENESS__AMQP__URL", &a.url)
            .env("LIVENESS__AMQP__JOB_QUEUE", &a.job_queue)
            .env("LIVENESS__GATEWAY__LISTEN", addr.to_string())
            .env("LIVENESS__GATEWAY__GRPC_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    let end = Instant::now() + Duration::from_secs(30);
    let mut healthy = false;
    while Instant::now() < end && !healthy {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            healthy = read_answer(s).await.status == 200;
        }
        if !healthy {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(healthy, "the gateway answers /healthz 200 on {addr}");
    let answer = post(addr, &[], b"{}").await;
    assert_error(&answer, 400, "InvalidArgument");
    let status = child.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_broker_fails_waiting_requests_with_503_and_the_gateway_reconnects() {
    let a = Queues::new("gw.reconnect");
    let gw = Running::connected(&settings(&a, 60)).await;
    let (conn, _ch) = stuck_consumer(&a).await;
    let waiting = tokio::spawn({
        let addr = gw.addr();
        let body = pascal_body(&["bioid/photo.png"], &[]);
        async move { post(addr, &[], &body).await }
    });
    assert!(
        wait_pending(&gw, 1).await,
        "the job is enqueued and waited for"
    );
    // Close the gateway's connection from the broker side (its name holds the queue name).
    let started = Instant::now();
    close_connection(&["liveness gateway pid", &a.job_queue]);
    let answer = waiting.await.unwrap();
    assert_error(&answer, 503, "Unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed at once, not at the deadline"
    );
    assert_eq!(gw.gw.broker().pending_count(), 0);
    assert!(
        gw.gw.broker().wait_connected(Duration::from_secs(20)).await,
        "reconnected"
    );
    let health = http(gw.addr(), "GET", "/healthz", &[], b"").await;
    assert_eq!(health.status, 200);
    let _ = conn.close(200, "bye".into()).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_past_a_day_is_refused_at_start_instead_of_overflowing_per_request() {
    let a = Queues::new("gw.hugedeadline");
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    for huge in [liveness::gateway::MAX_DEADLINE_SECONDS + 1, u64::MAX] {
        let refused = liveness::gateway::Gateway::start(&settings(&a, huge), shutdown.clone())
            .await
            .err()
            .unwrap_or_else(|| panic!("deadline_seconds = {huge} accepted"));
        assert!(
            refused.to_string().contains("deadline_seconds"),
            "{refused}"
        );
    }
}
