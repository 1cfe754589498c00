//! Active-liveness stage benchmark (filled in with the evaluation work).
fn main() {}
