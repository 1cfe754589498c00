//! A self-hosted, BWS-compatible face liveness-detection service.
//!
//! - [`api`]: the BWS JSON types as on the wire.
//! - [`pipeline`]: pure scoring of a request (decode, detect, quality, passive and active liveness).
//! - [`models`]: locating, checksumming and loading the ONNX models.
//! - [`queue`]: the RabbitMQ worker, the enqueue client, and the broker contract and connection
//!   they and the gateway share ([`queue::broker`]).
//! - [`gateway`]: BWS's REST endpoint and BWS 3 gRPC API, in front of the queue (no image code).
//! - [`auth`], [`config`], [`telemetry`], [`shutdown`]: the service around them.
//!
//! Dependencies point one way: `gateway` → `queue` → `pipeline` → `models`.

pub mod api;
pub mod auth;
pub mod config;
pub mod gateway;
pub mod models;
pub mod pipeline;
pub mod queue;
pub mod shutdown;
pub mod telemetry;

pub use pipeline::{Engine, ScoreError};
