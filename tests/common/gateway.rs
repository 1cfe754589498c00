//! The gateway as the gateway tests run it: in-process, on ephemeral ports, over a test's own
//! queues ([`super::broker::Queues`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use liveness::config::{AmqpSettings, Settings};
use liveness::gateway::Gateway;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
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

/// An HTTP/1.1 answer as the tests look at it; header names in lower case.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("JSON body ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

pub fn request_head(method: &str, path: &str, headers: &[(&str, &str)], length: usize) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A minimal HTTP/1.1 client: one request per connection, `Connection: close`.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request_head(method, path, headers, body.len()).as_bytes())
        .await
        .unwrap();
    s.write_all(body).await.unwrap();
    read_answer(s).await
}

/// Reads one answer: the head, then `Content-Length` bytes (or up to EOF without it). It does
/// not wait for EOF when the length is known: a server that refused a body it did not read
/// may keep the connection open for that body.
pub async fn read_answer(mut s: TcpStream) -> Answer {
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let read = async {
        loop {
            if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|n| n.trim().parse::<usize>().ok());
                if length.is_some_and(|n| raw.len() >= split + 4 + n) {
                    break;
                }
            }
            // A reset after the answer ends the answer, like EOF.
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("an answer within 120 s");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP answer: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(n) = headers.get("content-length").and_then(|n| n.parse().ok()) {
        body.truncate(n);
    }
    Answer {
        status,
        headers,
        body,
    }
}
