//! The AMQP side: the broker contract and connection ([`broker`]), the topology, the consume
//! loop with confirmed results, and the enqueue client. It sees the pipeline only through
//! [`job::Scorer`].

pub mod broker;
pub mod client;
pub mod job;
pub mod topology;
pub mod worker;
