//! Written by the issue that builds this crate; empty until then.
fn main() {}
