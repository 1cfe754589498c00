//! A self-hosted, BWS-compatible face liveness-detection service.
//!
//! - [`api`]: the BWS JSON types as on the wire.
//! - [`pipeline`]: pure scoring of a request (decode, detect, quality, passive and active liveness).
//! - [`models`]: locating, checksumming and loading the ONNX models.
//! - [`config`]: layered configuration.

pub mod api;
pub mod config;
pub mod models;
pub mod pipeline;

pub use pipeline::{Engine, ScoreError};
