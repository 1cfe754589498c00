//! The AMQP side: topology, job envelope, the consume loop with confirmed results, and the
//! enqueue client. It sees the pipeline only through [`job::Scorer`].

pub mod client;
pub mod envelope;
pub mod job;
pub mod topology;
pub mod worker;
