//! The gateway as the gateway tests run it: in-process, on ephemeral ports, over a test's own
//! queues ([`super::broker::Queues`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use liveness::config::{AmqpSettings, Settings};
use liveness::gateway::Gateway;
use tokio::sync::watch;

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
