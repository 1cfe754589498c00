//! A self-hosted, BWS-compatible face liveness-detection service.
//!
//! - [`api`]: the BWS JSON types as on the wire, with the BWS error codes ([`api::ErrorCode`])
//!   and quality checks ([`api::QualityCheck`]).
//! - [`pipeline`]: pure scoring of a request ([`Engine`]); its stages are public for the
//!   benchmarks and the measurement examples.
//! - `models`: locating, checksumming and loading the ONNX models ([`ModelSet`]).
//! - [`queue`]: the RabbitMQ worker, the enqueue client, and the broker contract and connection
//!   they, the gateway and the load test share ([`queue::broker`]).
//! - [`gateway`]: BWS's REST endpoint and BWS 3 gRPC API, in front of the queue (no image code).
//! - [`config`], `auth` ([`check_auth_settings`], [`verify_token`], [`parse_auth_keys`]),
//!   [`telemetry`], [`shutdown`], [`cpu`] (whether this CPU can run this build): the service
//!   around them.
//!
//! Dependencies point one way: `gateway` → `queue` → `pipeline` → `models`. `api`, `config`,
//! `auth` and `telemetry` are leaves that any of them may use (they use nothing but `config`).
//! No module below `gateway` knows it, and `pipeline` knows no AMQP.

pub mod api;
pub mod config;
pub mod cpu;
pub mod gateway;
pub mod pipeline;
pub mod queue;
pub mod shutdown;
pub mod telemetry;

mod auth;
mod models;

// The token check is public so that it can be called as the gateway and the worker call it
// (the fuzz target of `fuzz/` does); the module itself stays private.
pub use auth::{
    AuthError, Claims, ClientKey, check_settings as check_auth_settings,
    parse_keys as parse_auth_keys, verify as verify_token,
};
pub use models::{ModelError, ModelSet};
pub use pipeline::{Engine, ScoreError};
