//! A running node: what the API, the consensus driver and the execution thread share, and how
//! they start.
//!
//! Four loops, each owning one job:
//! - the **driver** (a tokio task, driver.rs) owns the consensus core and the network events: it
//!   feeds the core, performs its actions, seals and disseminates batches;
//! - the **execution thread** (execution.rs) executes committed blocks in height order from the
//!   block store (also on restart: that is the replay), fetching batches it lacks;
//! - the **API** (api.rs) admits transactions and answers queries;
//! - the **agent** (agent/, its own thread) hears of each executed block and does the work of
//!   the node's runners, submitting their transactions like a client.

use crate::blockstore::{BlockStore, COLUMN_FAMILIES};
use crate::config::Config;
use crate::home::{Home, HomeError};
use crate::metrics::Metrics;
use crate::peers::PeerBook;
use parking_lot::{Mutex, RwLock};
use runnet_consensus::{Ed25519Crypto, Recovery, SafetyData};
use runnet_mempool::{AccountView, Mempool};
use runnet_state::Executor;
use runnet_state::store::{RocksStore, Store};
use runnet_types::keyfile::ValidatorKeys;
use runnet_types::tx::Amount;
use runnet_types::{Address, Genesis, SecretKey};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// Most transactions the proposer puts in one block (the state machine also stops at
/// `max_block_gas`, skipping the rest with a receipt).
pub const MAX_BLOCK_TXS: usize = 20_000;

/// What the API sees of the node's progress: the API's own answer type, kept up to date by the
/// driver and execution, so `GET /v1/status` serializes it as it is.
pub use runnet_api::Status;

pub struct Shared {
    pub chain_id: String,
    pub genesis: Genesis,
    pub config: Config,
    pub executor: Executor,
    /// The state's store itself, for the agent's reads of the queue by height (follow.rs).
    pub state_store: Arc<dyn Store>,
    pub blocks: BlockStore,
    pub mempool: Mutex<Mempool>,
    pub metrics: Metrics,
    pub status: RwLock<Status>,
    pub peers: Mutex<PeerBook>,
    pub network: runnet_p2p::Network,
    /// Woken when the API admits something (the driver may seal a batch).
    pub admitted: Notify,
    /// Woken when blocks are committed (the execution thread has work).
    pub committed: Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
    /// Set when the node must stop (a fatal error in a loop, or a signal).
    pub shutdown: Notify,
}

/// The committed state as the mempool checks it.
pub struct StateView<'a>(pub &'a Executor);

impl AccountView for StateView<'_> {
    fn account(&self, address: &Address) -> (Amount, u64) {
        self.0
            .account(address)
            .map(|a| (a.balance, a.nonce))
            .unwrap_or((0, 0))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("{file}: {problem}")]
    File { file: String, problem: String },
    #[error("state: {0}")]
    State(String),
    #[error("network: {0}")]
    Network(String),
    #[error("consensus: {0}")]
    Consensus(String),
    #[error("api: cannot listen on {listen}: {problem}")]
    Api { listen: String, problem: String },
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Everything loaded from a home folder before anything starts.
pub struct Loaded {
    pub home: Home,
    pub config: Config,
    pub genesis: Genesis,
    pub node_key: SecretKey,
    pub validator: Option<ValidatorKeys>,
    pub account: Option<SecretKey>,
    pub safety: Option<SafetyData>,
}

pub fn load(home: &Home) -> Result<Loaded, StartError> {
    let config = home.load_config()?;
    let genesis = home.load_genesis()?;
    let node_key = home.load_node_key()?;
    let validator = home.load_validator_keys()?;
    let account = home.load_account_key()?;
    let safety = SafetyData::load(&home.safety_path()).map_err(|e| StartError::File {
        file: home.safety_path().display().to_string(),
        problem: e.to_string(),
    })?;
    Ok(Loaded {
        home: home.clone(),
        config,
        genesis,
        node_key,
        validator,
        account,
        safety,
    })
}

/// Starts every part of the node and runs until a signal or a fatal error.
pub async fn run(loaded: Loaded) -> Result<(), StartError> {
    let Loaded {
        home,
        config,
        genesis,
        node_key,
        validator,
        account,
        safety,
    } = loaded;
    let chain_id = genesis.chain_id.clone();

    let data = home.data_dir();
    let rocks = RocksStore::open_with_column_families(&data, COLUMN_FAMILIES)
        .map_err(|e| StartError::State(format!("{}: {e}", data.display())))?;
    let blocks =
        BlockStore::new(rocks.db().clone()).map_err(|e| StartError::State(e.to_string()))?;
    let store: Arc<dyn Store> = Arc::new(rocks);
    let executor =
        Executor::open(store.clone(), &genesis).map_err(|e| StartError::State(e.to_string()))?;

    let keypair = runnet_p2p::keypair_from_seed(node_key.seed())
        .map_err(|e| StartError::Network(format!("node.key: {e}")))?;
    let network_config = runnet_p2p::NetworkConfig {
        keypair,
        listen: runnet_p2p::parse_address(&config.p2p.listen)
            .map_err(|e| StartError::Network(e.to_string()))?,
        bootstrap: config
            .p2p
            .bootstrap
            .iter()
            .map(|a| runnet_p2p::parse_address(a))
            .collect::<Result<_, _>>()
            .map_err(|e| StartError::Network(e.to_string()))?,
        chain_id: chain_id.clone(),
        limits: runnet_p2p::Limits::default(),
    };
    let (network, net_events) = runnet_p2p::start(network_config)
        .await
        .map_err(|e| StartError::Network(e.to_string()))?;

    let my_address = validator.as_ref().and_then(|keys| {
        let key = keys.consensus.public();
        genesis
            .validators
            .iter()
            .find(|v| v.consensus_key == key)
            .map(|v| v.address)
            .or_else(|| account.as_ref().map(|a| a.public().address()))
    });
    let status = Status {
        chain_id: chain_id.clone(),
        moniker: config.moniker.clone(),
        height: executor.height(),
        state_root: executor.state_root(),
        validator: my_address,
        peer_id: network.local_peer_id().to_string(),
        ..Status::default()
    };
    // The mempool signs what it seals with the validator's consensus key: it answers for the
    // batches it authors (docs/economy.md, "Skipped transactions"). A full node's batches name
    // a throwaway key no committee holds; validators take them apart.
    let batch_signer = match &validator {
        Some(keys) => keys.consensus.clone(),
        None => SecretKey::generate()
            .map_err(|e| StartError::Consensus(format!("cannot make a batch key: {e}")))?,
    };
    let mempool = Mempool::new(config.mempool_config(&genesis), batch_signer);
    let shared = Arc::new(Shared {
        chain_id: chain_id.clone(),
        genesis: genesis.clone(),
        config: config.clone(),
        executor,
        state_store: store,
        blocks,
        mempool: Mutex::new(mempool),
        metrics: Metrics::new(),
        status: RwLock::new(status),
        peers: Mutex::new(PeerBook::default()),
        network,
        admitted: Notify::new(),
        committed: Arc::new((std::sync::Mutex::new(0), std::sync::Condvar::new())),
        shutdown: Notify::new(),
    });
    crate::driver::refresh_peer_book(&shared);
    crate::execution::refresh_batch_authors(&shared);

    // Consensus: a full node runs the core with a throwaway key that is in no committee, so it
    // follows and verifies the chain without ever voting.
    let crypto = match &validator {
        Some(keys) => Ed25519Crypto::new(keys.consensus.clone(), keys.vrf.clone()),
        None => {
            let throwaway = ValidatorKeys::generate()
                .map_err(|e| StartError::Consensus(format!("cannot make a follower key: {e}")))?;
            Ed25519Crypto::new(throwaway.consensus, throwaway.vrf)
        }
    };
    let recovery = Recovery {
        safety,
        tip: shared
            .blocks
            .tip()
            .map_err(|e| StartError::State(e.to_string()))?,
        executed_height: shared.executor.height(),
        executed_state_root: shared.executor.state_root(),
    };

    // The agent before the execution thread: it must see every block executed from now on.
    let agent = crate::agent::start(shared.clone(), &home.dir, account.clone())?;

    let (executed_tx, executed_rx) = mpsc::unbounded_channel();
    let exec_shared = shared.clone();
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("execution".into())
        .spawn(move || crate::execution::run(exec_shared, runtime, executed_tx, agent))
        .map_err(|e| StartError::State(format!("cannot start the execution thread: {e}")))?;

    let listen = config.api.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| StartError::Api {
            listen: listen.clone(),
            problem: e.to_string(),
        })?;
    let api_shared = shared.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::api::serve(api_shared.clone(), listener).await {
            tracing::error!("api stopped: {e}");
            api_shared.shutdown.notify_one();
        }
    });
    tracing::info!(
        chain = %chain_id,
        api = %listen,
        p2p = %config.p2p.listen,
        peer_id = %shared.network.local_peer_id(),
        validator = ?my_address,
        height = shared.executor.height(),
        "node started"
    );

    let driver = crate::driver::Driver::new(
        shared.clone(),
        crypto,
        recovery,
        home.safety_path(),
        account,
        net_events,
        executed_rx,
    )
    .map_err(StartError::Consensus)?;
    let result = tokio::select! {
        r = driver.run() => r,
        _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted; stopping"); Ok(()) }
        _ = terminate() => { tracing::info!("terminated; stopping"); Ok(()) }
        _ = shared.shutdown.notified() => Err("a component stopped".to_string()),
    };
    result.map_err(StartError::Consensus)
}

async fn terminate() {
    #[cfg(unix)]
    {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await
}
