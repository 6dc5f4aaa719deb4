//! `runnet testnet init`: the home folders of a local network, like CometBFT's `testnet` command.
//!
//! Node i listens for peers on `base_port + 2i` and serves the API on `base_port + 2i + 1`, all
//! on 127.0.0.1. Validators come first (`node0..`), full nodes after them. Every node bootstraps
//! from every validator. `faucet.key` is an account funded in genesis for workloads and demos.

use crate::config::{ApiConfig, Config, LogConfig, MempoolSettings, P2pConfig, StorageConfig};
use crate::home::Home;
use runnet_types::genesis::{ConsensusParams, GenesisAccount, GenesisValidator};
use runnet_types::keyfile::{self, KeyKind, ValidatorKeys};
use runnet_types::tx::{Amount, validator_binding_message};
use runnet_types::{Address, Domain, Genesis, Params, SecretKey};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Each validator's account starts with this, besides its stake.
pub const VALIDATOR_BALANCE: Amount = 1_000_000_000_000;
pub const VALIDATOR_STAKE: Amount = 10_000_000;
pub const FAUCET_BALANCE: Amount = 1_000_000_000_000_000;

/// The genesis parameters of a local network: the defaults (a public chain's), with every
/// duration in seconds, so a run of a minute shows the whole lifecycle (jail and unjail, a
/// leaving runner's release, unbonding) instead of waiting days. Windows stay a few seconds:
/// an agent on a busy machine must still re-run a task and commit within them.
pub fn local_params() -> Params {
    const SECOND: u64 = runnet_types::genesis::SECOND_MS;
    Params {
        // About 100 blocks at the block pace: validator-set changes (a bond, a jail) show
        // within a run.
        epoch_ms: 10 * SECOND,
        max_evidence_age_ms: 20 * SECOND,
        // Longer than max_evidence_age_ms (genesis validation).
        unbonding_ms: 120 * SECOND,
        jail_ms: 30 * SECOND,
        min_task_timeout_ms: SECOND,
        runner_unbonding_ms: 5 * SECOND,
        commit_window_ms: 5 * SECOND,
        reveal_window_ms: 10 * SECOND,
        downtime_jail_ms: 10 * SECOND,
        event_window_ms: 10 * SECOND,
        retention_ms: 600 * SECOND,
        ..Params::default()
    }
}

#[derive(Clone, Debug)]
pub struct InitOptions {
    pub validators: usize,
    pub full_nodes: usize,
    pub dir: PathBuf,
    pub base_port: u16,
    pub chain_id: String,
    /// Benchmark networks: admit raw payloads.
    pub allow_raw: bool,
    pub params: Params,
    pub consensus: ConsensusParams,
}

impl InitOptions {
    pub fn new(validators: usize, dir: impl Into<PathBuf>) -> InitOptions {
        InitOptions {
            validators,
            full_nodes: 0,
            dir: dir.into(),
            base_port: 26600,
            chain_id: "runnet-local".into(),
            allow_raw: false,
            params: local_params(),
            consensus: ConsensusParams::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeSummary {
    pub home: PathBuf,
    pub validator: bool,
    pub address: Option<Address>,
    pub peer_id: String,
    pub p2p: String,
    pub api: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct InitSummary {
    pub chain_id: String,
    pub dir: PathBuf,
    pub faucet: Address,
    pub faucet_key: PathBuf,
    pub nodes: Vec<NodeSummary>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("--validators must be at least 1")]
    NoValidators,
    // u128: no count a caller can pass makes this range wrap, so the message is always true.
    #[error("ports {first}..={last} do not fit below 65536: lower --base-port or the node count")]
    Ports { first: u128, last: u128 },
    #[error("{0} already holds a testnet (node0 exists): choose another --dir or delete it")]
    Exists(String),
    #[error("{path}: {problem}")]
    Io { path: String, problem: String },
    #[error(transparent)]
    Key(#[from] keyfile::KeyFileError),
    #[error("genesis: {0}")]
    Genesis(String),
}

fn io(path: &Path, e: impl ToString) -> InitError {
    InitError::Io {
        path: path.display().to_string(),
        problem: e.to_string(),
    }
}

struct Made {
    node_key: SecretKey,
    validator: Option<(ValidatorKeys, SecretKey)>,
    p2p_port: u16,
    api_port: u16,
}

/// Node i takes `base_port + 2i` (peers) and the port after it (API).
const PORTS_PER_NODE: u16 = 2;

/// The number of nodes, once their ports are known to fit: every port is in 1..=65535.
fn node_count(opts: &InitOptions) -> Result<usize, InitError> {
    // Widened before any arithmetic: the counts are the caller's, any size.
    let nodes = opts.validators as u128 + opts.full_nodes as u128;
    let first = u128::from(opts.base_port);
    let last = first + nodes * u128::from(PORTS_PER_NODE) - 1;
    if opts.base_port == 0 || last > u128::from(u16::MAX) {
        return Err(InitError::Ports { first, last });
    }
    // At most 32,767 nodes now.
    usize::try_from(nodes).map_err(|_| InitError::Ports { first, last })
}

/// Node `i`'s peer and API ports, or `None` past 65535 (which `node_count` rules out).
fn ports_of(base_port: u16, i: usize) -> Option<(u16, u16)> {
    let p2p = u16::try_from(i)
        .ok()?
        .checked_mul(PORTS_PER_NODE)?
        .checked_add(base_port)?;
    Some((p2p, p2p.checked_add(1)?))
}

pub fn testnet_init(opts: &InitOptions) -> Result<InitSummary, InitError> {
    if opts.validators == 0 {
        return Err(InitError::NoValidators);
    }
    let total = node_count(opts)?;
    if opts.dir.join("node0").exists() {
        return Err(InitError::Exists(opts.dir.display().to_string()));
    }

    let mut made = Vec::with_capacity(total);
    for i in 0..total {
        let node_key = SecretKey::generate().map_err(|e| InitError::Genesis(e.to_string()))?;
        let validator = if i < opts.validators {
            let keys = ValidatorKeys::generate()?;
            let account = SecretKey::generate().map_err(|e| InitError::Genesis(e.to_string()))?;
            Some((keys, account))
        } else {
            None
        };
        let (p2p_port, api_port) = ports_of(opts.base_port, i).ok_or(InitError::Ports {
            first: u128::from(opts.base_port),
            last: i as u128,
        })?;
        made.push(Made {
            node_key,
            validator,
            p2p_port,
            api_port,
        });
    }
    let faucet = SecretKey::generate().map_err(|e| InitError::Genesis(e.to_string()))?;

    let mut accounts = vec![GenesisAccount {
        address: faucet.public().address(),
        balance: FAUCET_BALANCE,
    }];
    let mut validators = Vec::new();
    let mut bootstrap = Vec::new();
    let mut peer_ids = Vec::with_capacity(made.len());
    for m in &made {
        let peer_id = runnet_p2p::peer_id_of(m.node_key.seed())
            .map_err(|e| InitError::Genesis(format!("node key: {e}")))?;
        peer_ids.push(peer_id.clone());
        if let Some((keys, account)) = &m.validator {
            accounts.push(GenesisAccount {
                address: account.public().address(),
                balance: VALIDATOR_BALANCE,
            });
            validators.push(GenesisValidator {
                address: account.public().address(),
                consensus_key: keys.consensus.public(),
                vrf_key: keys.vrf_public(),
                peer_id: peer_id.clone(),
                stake: VALIDATOR_STAKE,
            });
            bootstrap.push(format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer_id}", m.p2p_port));
        }
    }
    let genesis = Genesis {
        chain_id: opts.chain_id.clone(),
        // The network starts now: epoch 0 ends `epoch_ms` of chain time from here.
        genesis_time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        accounts,
        validators,
        params: opts.params.clone(),
        consensus: opts.consensus.clone(),
    };
    genesis
        .validate()
        .map_err(|e| InitError::Genesis(e.to_string()))?;

    std::fs::create_dir_all(&opts.dir).map_err(|e| io(&opts.dir, e))?;
    let faucet_key = opts.dir.join("faucet.key");
    keyfile::save_key(&faucet_key, KeyKind::Account, &faucet)?;

    let mut nodes = Vec::new();
    for (i, m) in made.iter().enumerate() {
        let home = Home::new(opts.dir.join(format!("node{i}")));
        std::fs::create_dir_all(&home.dir).map_err(|e| io(&home.dir, e))?;
        keyfile::save_key(&home.node_key_path(), KeyKind::Node, &m.node_key)?;
        if let Some((keys, account)) = &m.validator {
            keyfile::save_validator_keys(&home.validator_key_path(), keys)?;
            keyfile::save_key(&home.account_key_path(), KeyKind::Account, account)?;
        }
        let p2p = format!("/ip4/127.0.0.1/tcp/{}", m.p2p_port);
        let own = format!("{p2p}/p2p/");
        let config = Config {
            moniker: format!("node{i}"),
            api: ApiConfig::new(format!("127.0.0.1:{}", m.api_port)),
            p2p: P2pConfig {
                listen: p2p.clone(),
                bootstrap: bootstrap
                    .iter()
                    .filter(|b| !b.starts_with(&own))
                    .cloned()
                    .collect(),
            },
            mempool: MempoolSettings::default(),
            storage: StorageConfig::default(),
            log: LogConfig::default(),
            allow_raw_payloads: opts.allow_raw,
            agent: Default::default(),
            runners: Vec::new(),
            byzantine: None,
        };
        write(&home.config_path(), &config.to_toml())?;
        write(&home.genesis_path(), &genesis.to_json())?;
        nodes.push(NodeSummary {
            home: home.dir.clone(),
            validator: m.validator.is_some(),
            address: m.validator.as_ref().map(|(_, a)| a.public().address()),
            peer_id: peer_ids[i].clone(),
            p2p,
            api: format!("http://127.0.0.1:{}", m.api_port),
        });
    }
    Ok(InitSummary {
        chain_id: opts.chain_id.clone(),
        dir: opts.dir.clone(),
        faucet: faucet.public().address(),
        faucet_key,
        nodes,
    })
}

fn write(path: &Path, text: &str) -> Result<(), InitError> {
    std::fs::write(path, text).map_err(|e| io(path, e))
}

/// The signature binding a consensus key to its account, VRF key and peer id (BondValidator).
pub fn binding_signature(
    chain_id: &str,
    keys: &ValidatorKeys,
    account: &Address,
    peer_id: &str,
) -> runnet_types::Signature {
    let message = validator_binding_message(chain_id, account, &keys.vrf_public(), peer_id);
    keys.consensus.sign(Domain::ValidatorBinding, &message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_loadable_homes_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = InitOptions::new(3, dir.path().join("net"));
        opts.full_nodes = 1;
        opts.base_port = 30000;
        let summary = testnet_init(&opts).unwrap();
        assert_eq!(summary.nodes.len(), 4);
        for (i, node) in summary.nodes.iter().enumerate() {
            let home = Home::new(&node.home);
            let config = home.load_config().unwrap();
            assert_eq!(config.api.listen, format!("127.0.0.1:{}", 30001 + 2 * i));
            // Every node bootstraps from every validator but itself.
            let expected = if i < 3 { 2 } else { 3 };
            assert_eq!(config.p2p.bootstrap.len(), expected);
            let genesis = home.load_genesis().unwrap();
            assert_eq!(genesis.validators.len(), 3);
            assert_eq!(home.load_validator_keys().unwrap().is_some(), i < 3);
            assert_eq!(
                runnet_p2p::peer_id_of(home.load_node_key().unwrap().seed()).unwrap(),
                node.peer_id
            );
        }
        let genesis = Home::new(&summary.nodes[0].home).load_genesis().unwrap();
        // A local network's durations are seconds, not a public chain's days.
        assert_eq!(genesis.params, local_params());
        assert!(genesis.params.unbonding_ms <= 120_000);
        assert!(genesis.params.downtime_jail_ms < Params::default().downtime_jail_ms);
        assert!(
            genesis
                .accounts
                .iter()
                .any(|a| a.address == summary.faucet && a.balance == FAUCET_BALANCE)
        );
        assert!(matches!(testnet_init(&opts), Err(InitError::Exists(_))));
    }

    #[test]
    fn bad_options_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions::new(0, dir.path());
        assert!(matches!(testnet_init(&opts), Err(InitError::NoValidators)));
        let mut opts = InitOptions::new(4, dir.path());
        opts.base_port = 65530;
        assert!(matches!(testnet_init(&opts), Err(InitError::Ports { .. })));
        opts.base_port = 0;
        assert!(matches!(testnet_init(&opts), Err(InitError::Ports { .. })));
    }

    /// The last node's API port may be 65535 itself, and not one more.
    #[test]
    fn the_port_range_ends_at_65535() {
        let opts = |validators, base_port| InitOptions {
            base_port,
            ..InitOptions::new(validators, "unused")
        };
        assert_eq!(node_count(&opts(2, 65532)).unwrap(), 2);
        assert_eq!(ports_of(65532, 1), Some((65534, 65535)));
        assert!(node_count(&opts(2, 65533)).is_err());
        assert_eq!(ports_of(65533, 1), None);
        assert_eq!(node_count(&opts(32_767, 1)).unwrap(), 32_767);
    }

    /// Counts whose sum, double or narrowing would wrap are refused, not wrapped into ports that
    /// look fine (and a loop over billions of nodes).
    #[test]
    fn counts_that_overflow_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (validators, full_nodes) in [
            (1usize << 31, 0usize),
            (usize::MAX, 1),
            (1, usize::MAX),
            // Narrowed to 32 bits this sum was 1: two ports, "fine".
            ((1 << 32) - 1, 2),
            (32_768, 0),
        ] {
            let mut opts = InitOptions::new(validators, dir.path());
            opts.full_nodes = full_nodes;
            let err = testnet_init(&opts).unwrap_err();
            assert!(
                err.to_string().contains("65536"),
                "{validators}+{full_nodes}: {err}"
            );
        }
        assert!(!dir.path().join("node0").exists());
    }
}
