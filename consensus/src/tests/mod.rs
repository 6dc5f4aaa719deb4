//! Tests that drive whole cores: hand-written scenarios on a scripted network, hostile input,
//! and the simulator over thousands of seeds.

mod crashes;
mod harness;
mod hostile;
mod liveness;
mod protocol;
mod refusals;
mod scenarios;
mod simulator;
