//! Active-liveness evaluation (to be written).
fn main() {}
