//! The market under load, for `runnet bench --payload execution` and the end-to-end tests: the
//! example arith service published from the faucet (as `testnet up` publishes it) and an honest
//! runner of it on every validator, through the node's `[[runner]]` agent.

use crate::economy::{self, Mode};
use crate::error::{TestnetError, io};
use crate::network::Network;
use std::time::Duration;

/// The task the benchmark's requests run, and its inputs.
pub const TASK: &str = "add";
pub const INPUTS: (i64, i64) = (20, 22);

/// Publishes arith from the faucet, gives every validator an honest `[[runner]]` of it,
/// restarts them (the agent reads its sections at start) and waits until every one has
/// committed a block again and logged `runner registered`. Returns the service's id.
pub fn start_runners(
    binary: &std::path::Path,
    network: &mut Network,
) -> Result<String, TestnetError> {
    let api = network
        .init
        .nodes
        .first()
        .ok_or_else(|| TestnetError::Binary("testnet init listed no node".into()))?
        .api
        .clone();
    let faucet = network.init.faucet_key.clone();
    let arith = economy::publish_arith(binary, &network.dir, &api, &faucet)?;
    let validators: Vec<usize> = network
        .init
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.validator)
        .map(|(i, _)| i)
        .collect();
    for &i in &validators {
        if let Some(node) = network.init.nodes.get(i) {
            economy::add_runner(&node.home, &arith, Mode::Honest, None)?;
        }
    }
    for &i in &validators {
        if let Some(node) = network.nodes.get_mut(i) {
            node.stop(Duration::from_secs(10));
            node.start().map_err(io(format!("restart node{i}")))?;
        }
    }
    network.wait_ready(Duration::from_secs(120))?;
    for &i in &validators {
        if let Some(node) = network.nodes.get(i) {
            economy::wait_registered(&node.log_path(), 1, Duration::from_secs(120))?;
        }
    }
    Ok(arith)
}
