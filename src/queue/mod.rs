//! The AMQP side: the broker contract and connection ([`broker`]), the topology, the consume
//! loop with confirmed results, and the enqueue client. It sees the pipeline only through
//! [`job::Scorer`].

mod acks;
pub mod broker;
mod client;
mod job;
mod scoring;
pub mod topology;
mod worker;

pub use client::{JobOptions, enqueue};
pub use job::{JobContext, Scorer};
pub use scoring::ScoringThreads;
pub use worker::Worker;
