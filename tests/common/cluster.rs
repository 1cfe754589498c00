//! A RabbitMQ cluster of its own for the failover tests: three nodes of the machine's RabbitMQ
//! installation on 127.0.0.1, each with its own Erlang node name, AMQP and distribution ports,
//! data (Mnesia and quorum logs) and log folders, under `CARGO_TARGET_TMPDIR`. A cluster needs no
//! other machine, and it does not touch the RabbitMQ on 5672 that the other tests use.
//!
//! The first node boots alone; the others name it as their peer (`classic_config` peer
//! discovery), so they join it on their first boot without `rabbitmqctl join_cluster` (each
//! `rabbitmqctl` call starts an Erlang VM: seconds on two busy cores). The nodes run in the
//! foreground as children of the test, in a process group of their own, and are killed when the
//! [`Cluster`] is dropped; nodes that a killed test process left behind are killed at the next
//! start ([`reap_orphans`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use liveness::config::{AmqpSettings, Settings};

use super::free_port;

/// Where Debian's package (and RabbitMQ's generic unix build, linked there) keeps the server's
/// scripts, callable as root; `/usr/sbin/rabbitmq-server` would switch to the `rabbitmq` user,
/// who cannot write the test's folders. `LIVENESS_TEST_RABBITMQ_BIN` overrides it.
const DEFAULT_RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";

/// The prefix of every test node's name; the rest is the test process's pid and the node's
/// index, which [`reap_orphans`] reads back.
const NODE_PREFIX: &str = "lvtest";

fn rabbitmq_bin(script: &str) -> PathBuf {
    let dir =
        std::env::var("LIVENESS_TEST_RABBITMQ_BIN").unwrap_or_else(|_| DEFAULT_RABBITMQ_BIN.into());
    let path = Path::new(&dir).join(script);
    assert!(
        path.exists(),
        "{} not found: the cluster tests need RabbitMQ's server scripts \
         (Debian's rabbitmq-server package; or set LIVENESS_TEST_RABBITMQ_BIN)",
        path.display()
    );
    path
}

/// Whether a node's console log says it stopped because a port it was given was taken.
fn port_was_taken(log: &str) -> bool {
    log.contains("already_used") || log.contains("eaddrinuse")
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

/// One node: its Erlang name, its AMQP port, its folder, and its process (the server script,
/// leader of a process group that also holds the Erlang VM).
pub struct Node {
    pub name: String,
    pub port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The pid of the node's Erlang VM, from the pid file it writes while booting.
    fn vm_pid(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("pid"))
            .ok()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    }

    fn is_running(&mut self) -> bool {
        matches!(self.process.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

/// A running cluster. Dropped, it kills its nodes and removes their folders.
pub struct Cluster {
    root: PathBuf,
    nodes: Vec<Node>,
}

impl Cluster {
    /// Starts `n` clustered nodes and returns once every one accepts AMQP connections and the
    /// first lists them all as running.
    pub fn start(n: usize) -> Cluster {
        reap_orphans();
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "cluster-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&root).unwrap();
        let mut cluster = Cluster {
            root,
            nodes: Vec::new(),
        };
        for i in 0..n {
            let node = Node {
                name: format!("{NODE_PREFIX}{}x{i}@localhost", std::process::id()),
                port: free_port(),
                dir: cluster.root.join(format!("node{i}")),
                process: None,
            };
            cluster.nodes.push(node);
        }
        // The first node forms the cluster; the others join it as they boot.
        cluster.boot(0);
        cluster.wait_for_port(0);
        for i in 1..n {
            cluster.boot(i);
        }
        for i in 1..n {
            cluster.wait_for_port(i);
        }
        cluster.wait_until_running(n);
        cluster
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// `[amqp] url` with the nodes in this order, comma-separated.
    pub fn urls(&self, order: &[usize]) -> String {
        order
            .iter()
            .map(|&i| self.nodes[i].url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The default topology renamed for one test, with the given nodes and fast reconnects.
    pub fn amqp(&self, prefix: &str, order: &[usize]) -> AmqpSettings {
        let id = format!("test.{prefix}.{}", uuid::Uuid::new_v4().simple());
        let mut a = Settings::defaults().unwrap().amqp.renamed(&id);
        a.url = self.urls(order);
        a.reconnect_initial_ms = 100;
        a.reconnect_max_ms = 1000;
        a
    }

    /// Writes node `i`'s configuration and starts it in the foreground, in a process group of
    /// its own.
    fn boot(&mut self, i: usize) {
        use std::os::unix::process::CommandExt;
        let peer = self.nodes[0].name.clone();
        let node = &mut self.nodes[i];
        let dir = node.dir.clone();
        std::fs::create_dir_all(&dir).unwrap();
        let mut conf = format!(
            "listeners.tcp.1 = 127.0.0.1:{}\nloopback_users = none\n",
            node.port
        );
        if i > 0 {
            conf.push_str(&format!(
                "cluster_formation.peer_discovery_backend = classic_config\n\
                 cluster_formation.classic_config.nodes.1 = {peer}\n"
            ));
        }
        std::fs::write(dir.join("rabbitmq.conf"), conf).unwrap();
        // An empty environment file: the machine's /etc/rabbitmq/rabbitmq-env.conf names the
        // system node, which must not be this one.
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        let out = std::fs::File::create(dir.join("console.log")).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(rabbitmq_bin("rabbitmq-server"))
            // The Erlang cookie lives in $HOME: one per cluster, shared by its nodes and by the
            // rabbitmqctl calls of the test.
            .env("HOME", &self.root)
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_NODENAME", &node.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", node.port.to_string())
            .env("RABBITMQ_DIST_PORT", free_port().to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start RabbitMQ node {}: {e}", node.name));
        node.process = Some(child);
    }

    /// Waits until node `i` accepts connections. A node that stopped because one of its ports
    /// was taken meanwhile (by another process, between [`free_port`] and its bind) is booted
    /// again on new ports, twice at most.
    fn wait_for_port(&mut self, i: usize) {
        let end = Instant::now() + Duration::from_secs(120);
        let mut reboots = 0;
        let log =
            |node: &Node| std::fs::read_to_string(node.dir.join("console.log")).unwrap_or_default();
        while Instant::now() < end {
            if answers(self.nodes[i].port) {
                return;
            }
            if !self.nodes[i].is_running() {
                if reboots < 2 && port_was_taken(&log(&self.nodes[i])) {
                    reboots += 1;
                    self.nodes[i].port = free_port();
                    self.boot(i);
                    continue;
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = log(&self.nodes[i]);
        panic!(
            "RabbitMQ node {} did not open port {}:\n{log}",
            self.nodes[i].name, self.nodes[i].port
        );
    }

    fn wait_until_running(&self, n: usize) {
        let end = Instant::now() + Duration::from_secs(60);
        let mut status = String::new();
        while Instant::now() < end {
            status = self.ctl(0, &["cluster_status", "--formatter", "json"]);
            let running = self
                .nodes
                .iter()
                .filter(|node| status.contains(&format!("\"{}\"", node.name)))
                .count();
            if running == n && status.contains("running_nodes") {
                let v: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
                if v["running_nodes"].as_array().map_or(0, Vec::len) == n {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("the cluster did not form: {status}");
    }

    /// Runs `rabbitmqctl` against node `i` and returns its output.
    pub fn ctl(&self, i: usize, args: &[&str]) -> String {
        let out = Command::new(rabbitmq_bin("rabbitmqctl"))
            .env("HOME", &self.root)
            .env(
                "RABBITMQ_CONF_ENV_FILE",
                self.nodes[i].dir.join("rabbitmq-env.conf"),
            )
            .args(["-q", "-n", &self.nodes[i].name])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The index of the node that leads quorum queue `queue`, asked of node `via`.
    pub fn leader(&self, queue: &str, via: usize) -> usize {
        let list = self.ctl(via, &["list_queues", "name", "leader"]);
        let leader = list
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(name, _)| name.trim() == queue)
            .map(|(_, leader)| leader.trim().to_string())
            .unwrap_or_else(|| panic!("queue {queue} listed with its leader:\n{list}"));
        self.nodes
            .iter()
            .position(|n| n.name == leader)
            .unwrap_or_else(|| panic!("leader {leader} is a node of the cluster"))
    }

    /// The client connections of node `i`, one line each, with the name the client gave its
    /// connection (`connection_name` among the client properties).
    pub fn connections(&self, i: usize) -> Vec<String> {
        self.ctl(i, &["list_connections", "client_properties"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Stops node `i` as an operator would (SIGTERM: RabbitMQ shuts down cleanly, closing its
    /// client connections with `CONNECTION_FORCED`, and hands its quorum queue leaderships to
    /// the other nodes), and waits for its exit.
    pub fn stop(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let pid = node.vm_pid().expect("the node's pid file");
        let _ = Command::new("kill").args(["-s", "TERM", &pid]).status();
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end && node.is_running() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if node.is_running() {
            kill_group(node);
        }
    }

    /// Kills node `i` at once (SIGKILL of its whole process group), as a crash or a power cut
    /// would end it: no goodbye to its clients or to the other nodes.
    pub fn kill(&mut self, i: usize) {
        kill_group(&mut self.nodes[i]);
    }
}

fn kill_group(node: &mut Node) {
    if let Some(child) = node.process.as_mut() {
        let group = format!("-{}", child.id());
        // The group may be gone already (a stopped node): no message for that.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            kill_group(node);
        }
        if std::thread::panicking() {
            eprintln!("the cluster's logs are kept in {}", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Kills the Erlang VMs of test nodes whose test process is gone (a test killed by a timeout
/// never runs its `Drop`): found by the node name in their environment,
/// `RABBITMQ_NODENAME=lvtest<pid>x<i>@localhost` (RabbitMQ 3.10 starts the Erlang distribution
/// itself, so the name is not on the command line).
fn reap_orphans() {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let environ = String::from_utf8_lossy(&environ);
        let marker = format!("RABBITMQ_NODENAME={NODE_PREFIX}");
        let Some(at) = environ.find(&marker) else {
            continue;
        };
        let owner: String = environ[at + marker.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if !owner.is_empty() && !Path::new("/proc").join(&owner).exists() {
            let _ = Command::new("kill").args(["-s", "KILL", &pid]).status();
        }
    }
}
