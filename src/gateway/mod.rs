//! The HTTP gateway: BWS's REST endpoint `POST /api/v1/livenessdetection` in front of the job
//! queue, so that clients written for BWS work unchanged while the queue's workers do the work.
//!
//! - [`handler`]: the REST endpoint (read the body, answer with the BWS headers).
//! - [`dispatch`]: the checks, enqueue and wait of a job.
//! - [`validate`]: the JSON shape and image count, without image code.
//! - [`reply`]: the broker connection, publisher confirms and direct reply-to correlation.
//! - [`openapi`]: the OpenAPI description served at `/openapi.json`.
//!
//! Also `GET /healthz`: 200 while connected to the broker, else 503.

pub mod dispatch;
pub mod handler;
pub mod openapi;
pub mod reply;
pub mod validate;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
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
    #[error("gateway task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What the handlers share.
pub struct AppState {
    pub gateway: GatewaySettings,
    pub auth: AuthSettings,
    pub broker: Arc<Broker>,
}

/// The gateway's routes over a broker (connected by [`Broker::run`]).
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.gateway.max_body_bytes;
    Router::new()
        .route(
            LIVENESS_PATH,
            post(handler::livenessdetection).layer(DefaultBodyLimit::max(limit)),
        )
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

/// A running gateway: the HTTP server and the broker connection behind it.
pub struct Gateway {
    addr: SocketAddr,
    broker: Arc<Broker>,
    server: JoinHandle<std::io::Result<()>>,
    broker_task: JoinHandle<()>,
}

impl Gateway {
    /// Binds `gateway.listen`, connects to the broker in the background and serves until
    /// `shutdown` turns true (or its sender is dropped). Shutdown stops accepting, lets the
    /// requests in flight get their results, and only then closes the broker connection.
    pub async fn start(
        settings: &Settings,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Gateway, GatewayError> {
        let bind_error = |source| GatewayError::Bind {
            addr: settings.gateway.listen.clone(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(&settings.gateway.listen)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let broker = Broker::new(settings.amqp.clone(), settings.gateway.consumer_check());
        let (broker_stop, broker_rx) = watch::channel(false);
        let broker_task = tokio::spawn(broker.clone().run(broker_rx));
        let app = router(Arc::new(AppState {
            gateway: settings.gateway.clone(),
            auth: settings.auth.clone(),
            broker: broker.clone(),
        }));
        let mut shutdown = shutdown;
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await;
            let _ = broker_stop.send(true);
            served
        });
        Ok(Gateway {
            addr,
            broker,
            server,
            broker_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Waits until the server has shut down and the broker connection is closed.
    pub async fn wait(self) -> Result<(), GatewayError> {
        let served = self.server.await?;
        self.broker_task.await?;
        served.map_err(GatewayError::Serve)
    }
}
