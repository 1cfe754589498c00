//! The real RabbitMQ on 127.0.0.1:5672 as the tests use it: private queue names per test (so
//! tests run in parallel), removed when the test ends, passed or failed ([`Queues`]); and worker
//! processes of the real binary, stopped when the test ends ([`LivenessProcess`]).

use std::ops::{Deref, DerefMut};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use liveness::config::{AmqpSettings, Settings};
use liveness::queue::topology;

pub const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A connection and a channel in confirm mode.
pub async fn channel() -> (Connection, Channel) {
    try_channel().await.expect("RabbitMQ on 127.0.0.1:5672")
}

async fn try_channel() -> Result<(Connection, Channel), lapin::Error> {
    let conn = Connection::connect(URL, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok((conn, ch))
}

/// A consumer of `queue` with manual acks: what it takes and does not ack goes back to the
/// queue when its channel closes.
pub async fn consumer(ch: &Channel, queue: &str) -> Consumer {
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap()
}

/// Messages waiting in `queue`.
pub async fn message_count(queue: &str) -> u32 {
    let (conn, ch) = channel().await;
    let q = topology::inspect(&ch, queue).await.unwrap();
    let _ = conn.close(200, "bye".into()).await;
    q.message_count()
}

/// A test's own topology: the default `[amqp]` settings with every queue and exchange named
/// `test.<prefix>.<fresh id>`, and fast reconnects. Dropping it deletes those queues and
/// exchanges, also when the test panicked. Declare it before the workers and gateways of the
/// test, so that they are dropped (stopped) first.
pub struct Queues(AmqpSettings);

impl Queues {
    pub fn new(prefix: &str) -> Queues {
        let id = format!("test.{prefix}.{}", uuid::Uuid::new_v4().simple());
        let mut a = Settings::defaults().unwrap().amqp.renamed(&id);
        a.url = URL.into();
        a.reconnect_initial_ms = 100;
        a.reconnect_max_ms = 1000;
        Queues(a)
    }
}

impl Deref for Queues {
    type Target = AmqpSettings;
    fn deref(&self) -> &AmqpSettings {
        &self.0
    }
}

impl DerefMut for Queues {
    fn deref_mut(&mut self) -> &mut AmqpSettings {
        &mut self.0
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        let mut a = self.0.clone();
        // The test may have pointed its settings elsewhere (an unreachable broker).
        a.url = URL.into();
        // Drop cannot wait for the broker, and runs on a runtime thread, where no runtime can
        // be entered: the removal gets a thread and a runtime of its own.
        let removal = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (conn, ch) = try_channel().await.ok()?;
                topology::remove(&ch, &a).await;
                let _ = conn.close(200, "test over".into()).await;
                Some(())
            })
        });
        if !matches!(removal.join(), Ok(Some(()))) {
            eprintln!("could not remove the test queues {}", self.0.job_queue);
        }
    }
}

/// The command line of a `liveness worker` process for the test's queues: 2 scoring threads,
/// reconnects after 100 ms, metrics on an ephemeral port, warnings on stderr. Adjust it, then
/// [`LivenessProcess::spawn`].
pub fn worker_command(a: &AmqpSettings) -> Command {
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
    cmd
}

/// A worker process for the test's queues ([`worker_command`]) with these extra settings.
pub fn spawn_worker(a: &AmqpSettings, env: &[(&str, &str)]) -> LivenessProcess {
    LivenessProcess::spawn(worker_command(a).envs(env.iter().copied()))
}

/// A `liveness` process (a worker, or a gateway). Dropped while it runs, it gets SIGTERM and up
/// to 40 s to drain (SIGKILL at once when the test is failing), then SIGKILL: no process
/// outlives its test.
pub struct LivenessProcess(Child);

impl LivenessProcess {
    pub fn spawn(cmd: &mut Command) -> LivenessProcess {
        LivenessProcess(cmd.spawn().expect("the liveness binary starts"))
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Sends a signal by name (`TERM`, `KILL`).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -s {sig}");
    }

    /// Its stderr, when the command piped it.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.0.stderr.take()
    }

    /// Sends `sig` and waits for the exit.
    pub fn end(mut self, sig: &str) -> ExitStatus {
        self.signal(sig);
        self.0.wait().unwrap()
    }

    /// SIGTERM, and the exit status once it has drained.
    pub fn stop(self) -> ExitStatus {
        self.end("TERM")
    }
}

impl Drop for LivenessProcess {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        if !std::thread::panicking() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", &self.id().to_string()])
                .status();
            let end = Instant::now() + Duration::from_secs(40);
            while Instant::now() < end {
                if !matches!(self.0.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Closes a client's connection from the broker's side (`rabbitmqctl close_connection`), as a
/// broker restart or a network cut would end it: the one connection whose name
/// (`liveness <role> pid <pid> (<job queue>)`) holds every part of `name_parts`.
pub fn close_connection(name_parts: &[&str]) {
    let list = Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "pid", "client_properties"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    let pid = text
        .lines()
        .find(|l| name_parts.iter().all(|p| l.contains(p)))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("a connection named with {name_parts:?} is listed:\n{text}"))
        .to_string();
    let closed = Command::new("rabbitmqctl")
        .args(["close_connection", &pid, "test: broker-side close"])
        .status()
        .unwrap();
    assert!(closed.success());
}
