//! The gateway: BWS's REST endpoint `POST /api/v1/livenessdetection` and its BWS 3 gRPC API
//! (`bioid.services.v1.BioIDWebService`) in front of the job queue, so that clients written for
//! BWS work unchanged while the queue's workers do the work.
//!
//! - [`grpc`]: the gRPC service on its own port, with the grpc.health.v1 service.
//! - [`handler`]: the REST endpoint (read the body, answer with the BWS headers).
//! - [`dispatch`]: the checks, enqueue and wait that REST and gRPC share.
//! - [`validate`]: the JSON shape and image count, without image code.
//! - [`reply`]: the broker connection, publisher confirms, and the reply queue's correlation.
//! - [`openapi`]: the OpenAPI description served at `/openapi.json`.
//!
//! Also `GET /healthz`: 200 while connected to the broker, else 503.

mod dispatch;
mod grpc;
mod handler;
mod openapi;
mod reply;
mod validate;

pub use handler::STATUS_CODES;
// The body check of the gateway, public so that the request fuzz target can hold it against the
// worker's parser (`fuzz/common/mod.rs`): both must accept and refuse the same bodies.
pub use validate::{ShapeError, check as check_request_shape};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{AuthSettings, GatewaySettings, Settings};
use reply::Broker;

/// The path of BWS's RESTful `LivenessDetection` call.
pub const LIVENESS_PATH: &str = "/api/v1/livenessdetection";

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("gateway listen address {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("gateway task: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(
        "gateway.deadline_seconds = {0} is more than a day ({MAX_DEADLINE_SECONDS} s); a job's deadline must be a date a worker can read"
    )]
    Deadline(u64),
}

/// The largest `gateway.deadline_seconds`: a day. Far above any client's patience, and far
/// below what would overflow the job's deadline date or the gateway's timer.
pub const MAX_DEADLINE_SECONDS: u64 = 86_400;

/// What the handlers share.
pub struct AppState {
    pub gateway: GatewaySettings,
    /// The workers' `limits.max_request_bytes`: the largest job body they accept.
    pub max_job_bytes: usize,
    pub auth: AuthSettings,
    pub broker: Arc<Broker>,
}

/// The gateway's routes over a broker (connected by [`Broker::run`]).
pub fn router(state: Arc<AppState>) -> Router {
    // The handler reads the body itself, with `gateway.max_body_bytes` as its limit.
    Router::new()
        .route(LIVENESS_PATH, post(handler::livenessdetection))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if state.broker.is_connected() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not connected to the broker\n",
        )
    }
}

/// A running gateway: the HTTP and gRPC servers and the broker connection behind them.
pub struct Gateway {
    addr: SocketAddr,
    grpc_addr: SocketAddr,
    broker: Arc<Broker>,
    servers: JoinHandle<Result<(), GatewayError>>,
    broker_task: JoinHandle<()>,
}

async fn bind(addr: &str) -> Result<(tokio::net::TcpListener, SocketAddr), GatewayError> {
    let bind_error = |source| GatewayError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

impl Gateway {
    /// Binds `gateway.listen` and `gateway.grpc_listen`, connects to the broker in the
    /// background and serves until `shutdown` turns true (or its sender is dropped). Shutdown
    /// stops accepting, lets the requests in flight get their results, and only then closes
    /// the broker connection.
    pub async fn start(
        settings: &Settings,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Gateway, GatewayError> {
        if settings.gateway.deadline_seconds > MAX_DEADLINE_SECONDS {
            return Err(GatewayError::Deadline(settings.gateway.deadline_seconds));
        }
        let (listener, addr) = bind(&settings.gateway.listen).await?;
        let (grpc_listener, grpc_addr) = bind(&settings.gateway.grpc_listen).await?;
        let broker = Broker::new(settings.amqp.clone(), settings.gateway.consumer_check());
        let (broker_stop, broker_rx) = watch::channel(false);
        let broker_task = tokio::spawn(broker.clone().run(broker_rx));
        let state = Arc::new(AppState {
            gateway: settings.gateway.clone(),
            max_job_bytes: settings.scoring.limits.max_request_bytes,
            auth: settings.auth.clone(),
            broker: broker.clone(),
        });
        let grpc = grpc::serve(grpc_listener, state.clone(), shutdown.clone());
        let app = router(state);
        let mut shutdown = shutdown;
        let http = async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await
                .map_err(GatewayError::Serve)
        };
        let servers = tokio::spawn(async move {
            let (http, grpc) = tokio::join!(http, grpc);
            let _ = broker_stop.send(true);
            http?;
            grpc?;
            Ok(())
        });
        Ok(Gateway {
            addr,
            grpc_addr,
            broker,
            servers,
            broker_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the gRPC API listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Waits until both servers have shut down and the broker connection is closed.
    pub async fn wait(self) -> Result<(), GatewayError> {
        let served = self.servers.await?;
        self.broker_task.await?;
        served
    }
}
