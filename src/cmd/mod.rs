//! One module per subcommand.
pub mod enqueue;
pub mod score;
pub mod worker;
