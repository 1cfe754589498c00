//! The gateway and worker processes as the gateway tests run them: the real RabbitMQ on
//! 127.0.0.1:5672, private queue names per test (so tests run in parallel), the real binary.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lapin::{Channel, Connection, ConnectionProperties};
use liveness::config::{AmqpSettings, Settings};
use liveness::gateway::Gateway;
use tokio::sync::watch;

pub const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn amqp(prefix: &str) -> AmqpSettings {
    let id = format!("test.gw.{prefix}.{}", uuid::Uuid::new_v4().simple());
    let mut a = Settings::defaults().unwrap().amqp.renamed(&id);
    a.url = URL.into();
    a.reconnect_initial_ms = 100;
    a.reconnect_max_ms = 1000;
    a
}

pub fn settings(a: &AmqpSettings, deadline_seconds: u64) -> Settings {
    let mut s = Settings::defaults().unwrap();
    s.amqp = a.clone();
    s.gateway.listen = "127.0.0.1:0".into();
    s.gateway.grpc_listen = "127.0.0.1:0".into();
    s.gateway.deadline_seconds = deadline_seconds;
    s.gateway.deadline_grace_ms = 500;
    s
}

pub struct Running {
    pub gw: Gateway,
    pub stop: watch::Sender<bool>,
}

impl Running {
    pub async fn start(s: &Settings) -> Running {
        let (stop, rx) = watch::channel(false);
        let gw = Gateway::start(s, rx).await.unwrap();
        Running { gw, stop }
    }

    pub async fn connected(s: &Settings) -> Running {
        let r = Running::start(s).await;
        assert!(
            r.gw.broker().wait_connected(Duration::from_secs(20)).await,
            "the gateway connects to the broker"
        );
        r
    }

    pub fn addr(&self) -> SocketAddr {
        self.gw.local_addr()
    }

    /// Waits until the job queue has a consumer (a worker process started and consumes).
    pub async fn wait_for_worker(&self) {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if self.gw.broker().consumer_count(true).await.unwrap_or(0) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no worker consumes the job queue");
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(60), self.gw.wait())
            .await
            .expect("the gateway stops")
            .unwrap();
    }
}

/// A worker process of the real binary, configured for the test's queues.
pub fn spawn_worker(a: &AmqpSettings, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liveness"));
    cmd.arg("worker")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(a.env_vars())
        .env("LIVENESS__AMQP__RECONNECT_INITIAL_MS", "100")
        .env("LIVENESS__WORKER__THREADS", "2")
        .env("LIVENESS__TELEMETRY__METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

pub fn stop_process(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

pub async fn channel() -> (Connection, Channel) {
    let conn = Connection::connect(URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    (conn, ch)
}

pub async fn cleanup(a: &AmqpSettings) {
    let (conn, ch) = channel().await;
    liveness::queue::topology::remove(&ch, a).await;
    let _ = conn.close(200, "bye".into()).await;
}
