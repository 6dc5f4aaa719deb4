//! Attacks a node makes on its own chain on purpose, so a test or a demo can watch the honest
//! nodes refuse, score and slash them (docs/testnet.md, "Attacks you can run").
//!
//! Only a `[byzantine]` section in config.toml turns them on, and the node refuses to start with
//! one unless it carries [`ACKNOWLEDGE`] word for word and the chain id starts with
//! [`TESTNET_CHAIN_PREFIX`] (the chains `runnet testnet` makes); a node that starts with one logs
//! a warning at start and every minute. `runnet testnet up --byzantine I:MODE` writes the section.
//!
//! Everything happens in the node layer, around an unmodified consensus core: the driver asks
//! [`Attacks`] for the payload of its proposals (poison, withhold), hands it each action the core
//! wants performed (equivocate adds a second signed proposal and vote), and gives it a tick for
//! the floods (junk batches, fetches and sync requests).

use crate::runtime::{Shared, StateView, now_ms};
use runnet_consensus::Crypto;
use runnet_mempool::{Source, VerifiedBatch};
use runnet_types::consensus::{
    ConsensusMessage, MessageBody, Proposal, SyncInfo, SyncRequest, Vote, proposal_signing_bytes,
};
use runnet_types::{Address, Batch, Domain, Hash, Payload, SecretKey, SignedTx, TxBody};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The sentence a `[byzantine]` section must carry as `acknowledge`.
pub const ACKNOWLEDGE: &str = "this node attacks its own chain on purpose";
/// Chains whose id starts with this (those `runnet testnet` makes) may have byzantine nodes.
pub const TESTNET_CHAIN_PREFIX: &str = "runnet-testnet";

/// Junk batches pushed per flood tick (every [`FLOOD_TICK`]).
pub const JUNK_BATCHES_PER_TICK: u64 = 2;
/// Copies of the one paid transaction in the smallest junk batch.
pub const JUNK_COPIES: usize = 2_000;
/// Batches named by a poisoned proposal, each with up to [`POISON_COPIES`] copies of one
/// transaction: together several times a block's item limit.
pub const POISON_BATCHES: usize = 4;
pub const POISON_COPIES: usize = 10_000;
/// Made-up digests named by a withholding proposal.
pub const WITHHELD_BATCHES: usize = 4;
/// Digests per flood fetch request (the network's per-request limit is 256).
pub const FLOOD_DIGESTS: usize = 256;
/// Fetch requests and sync requests in flight or sent per peer per flood tick.
pub const FLOOD_FETCHES_IN_FLIGHT: usize = 16;
pub const FLOOD_SYNCS_PER_TICK: usize = 5;
pub const FLOOD_TICK: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A flood of junk batches: one signed paid transaction repeated thousands of times, in
    /// many batches of distinct digests. A full node can run it too.
    JunkBatches,
    /// As leader, proposes a block naming stored junk far over the block's item and byte limits.
    PoisonBlock,
    /// Signs two proposals (as leader) and two votes per round.
    Equivocate,
    /// Loops batch fetches of many and repeated digests, and sync requests from height 0.
    FetchFlood,
    /// As leader, proposes blocks naming batches it never serves.
    Withhold,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::JunkBatches,
        Mode::PoisonBlock,
        Mode::Equivocate,
        Mode::FetchFlood,
        Mode::Withhold,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::JunkBatches => "junk-batches",
            Mode::PoisonBlock => "poison-block",
            Mode::Equivocate => "equivocate",
            Mode::FetchFlood => "fetch-flood",
            Mode::Withhold => "withhold",
        }
    }

    /// Whether only a validator can make this attack (the others work from any node).
    pub fn needs_validator(self) -> bool {
        matches!(self, Mode::PoisonBlock | Mode::Equivocate | Mode::Withhold)
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
                format!("unknown byzantine mode '{s}' (one of {})", names.join(", "))
            })
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The `[byzantine]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByzantineConfig {
    pub modes: Vec<Mode>,
    /// Must be [`ACKNOWLEDGE`].
    pub acknowledge: String,
    /// Behave until the process gets SIGUSR1, then attack (so one run measures the chain with
    /// and without the attack). Otherwise attack from the start.
    #[serde(default)]
    pub wait_for_signal: bool,
}

impl ByzantineConfig {
    /// Refuses the section on a chain that is not a testnet's, or without the acknowledgement.
    pub fn check(&self, chain_id: &str) -> Result<(), String> {
        if self.acknowledge != ACKNOWLEDGE {
            return Err(format!(
                "config.toml has a [byzantine] section (deliberate attacks, for test networks) \
                 without acknowledge = \"{ACKNOWLEDGE}\": refusing to start"
            ));
        }
        if !chain_id.starts_with(TESTNET_CHAIN_PREFIX) {
            return Err(format!(
                "config.toml has a [byzantine] section (deliberate attacks) but chain '{chain_id}' \
                 is not a test network's (its id must start with '{TESTNET_CHAIN_PREFIX}'): \
                 refusing to start"
            ));
        }
        if self.modes.is_empty() {
            return Err("config.toml: [byzantine] names no mode".into());
        }
        Ok(())
    }
}

/// What the attacks need between calls.
pub struct Attacks {
    modes: BTreeSet<Mode>,
    shared: Arc<Shared>,
    account: Option<SecretKey>,
    /// Makes every junk batch and made-up digest distinct.
    counter: u64,
    /// The paid transaction the junk repeats, made once.
    junk_tx: Option<SignedTx>,
    /// The poisoned proposals' batches: digest, bytes, decoded.
    poison: Vec<(Hash, Vec<u8>, Batch)>,
    /// The sync info of the core's latest message, for the flood's sync requests.
    sync: Option<SyncInfo>,
    in_flight: Arc<AtomicUsize>,
    warned_at: Instant,
    /// Attacking now (false until SIGUSR1 with `wait_for_signal`).
    armed: bool,
}

impl Attacks {
    /// `None` without a `[byzantine]` section; an error when the section may not be used here.
    pub fn from_config(
        shared: &Arc<Shared>,
        account: Option<SecretKey>,
        is_validator: bool,
    ) -> Result<Option<Attacks>, String> {
        let Some(config) = &shared.config.byzantine else {
            return Ok(None);
        };
        config.check(&shared.chain_id)?;
        let modes: BTreeSet<Mode> = config.modes.iter().copied().collect();
        if let Some(m) = modes.iter().find(|m| m.needs_validator() && !is_validator) {
            return Err(format!(
                "[byzantine] mode {m} needs a validator; this node is not one"
            ));
        }
        if account.is_none() && modes.iter().any(|m| junk_needs_account(*m)) {
            return Err("[byzantine] junk modes need the home's account.key".into());
        }
        let attacks = Attacks {
            modes,
            shared: shared.clone(),
            account,
            counter: 0,
            junk_tx: None,
            poison: Vec::new(),
            sync: None,
            in_flight: Arc::new(AtomicUsize::new(0)),
            warned_at: Instant::now(),
            armed: !config.wait_for_signal,
        };
        attacks.warn();
        Ok(Some(attacks))
    }

    fn warn(&self) {
        let modes: Vec<&str> = self.modes.iter().map(|m| m.name()).collect();
        tracing::warn!(
            modes = %modes.join(","),
            "BYZANTINE NODE: this node attacks its own chain on purpose ([byzantine] in config.toml); \
             never run it on a real network"
        );
    }

    pub fn has(&self, mode: Mode) -> bool {
        self.armed && self.modes.contains(&mode)
    }

    /// Whether the attacks wait for SIGUSR1.
    pub fn waiting(&self) -> bool {
        !self.armed
    }

    /// SIGUSR1 arrived: the attacks start.
    pub fn arm(&mut self) {
        if !self.armed {
            self.armed = true;
            tracing::warn!("BYZANTINE NODE: the attacks start now");
            if self.has(Mode::PoisonBlock) {
                self.poison(POISON_BATCHES);
            }
        }
    }

    fn next(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        self.counter
    }

    /// The payload of this node's next proposal, or `None` to let the mempool choose.
    pub fn payload(&mut self, max: usize) -> Option<Vec<Hash>> {
        if self.has(Mode::PoisonBlock) {
            let digests = self.poison(max);
            if !digests.is_empty() {
                self.shared.metrics.attacked(Mode::PoisonBlock.name(), 1);
                return Some(digests);
            }
        }
        if self.has(Mode::Withhold) {
            let n = self.next();
            let digests: Vec<Hash> = (0..WITHHELD_BATCHES.min(max.max(1)))
                .map(|i| {
                    let mut h = blake3::Hasher::new();
                    h.update(b"runnet/byzantine/withheld");
                    h.update(&n.to_le_bytes());
                    h.update(&(i as u64).to_le_bytes());
                    Hash(*h.finalize().as_bytes())
                })
                .collect();
            self.shared.metrics.attacked(Mode::Withhold.name(), 1);
            return Some(digests);
        }
        None
    }

    /// Stores fresh junk batches in this node's mempool (as if fetched, so no screen refuses
    /// them) and names them: each under the batch limits, together far over the block's.
    /// Built once, when the attack starts, so a proposal never waits for them (a slow leader
    /// would only miss its round), and stored again when they aged out of the mempool.
    fn poison(&mut self, max: usize) -> Vec<Hash> {
        if self.poison.is_empty() {
            let Some(tx) = self.junk_tx() else {
                return Vec::new();
            };
            let tx_len = tx.encode().len().max(1);
            let fit = (runnet_types::batch::MAX_BATCH_BYTES / tx_len).saturating_sub(16);
            self.poison = (0..POISON_BATCHES)
                .map(|i| {
                    // Distinct digests: a different number of copies each.
                    let copies = POISON_COPIES.min(fit).saturating_sub(i).max(2);
                    let mut batch = Batch::unsigned(vec![tx.clone(); copies], vec![]);
                    // Signed as this validator: the junk must pass for its batch.
                    self.shared.mempool.lock().sign_batch(&mut batch);
                    let bytes = batch.encode();
                    (Batch::digest_of_encoded(&bytes), bytes, batch)
                })
                .collect();
        }
        let mut digests = Vec::new();
        for (digest, bytes, batch) in self.poison.iter().take(max) {
            let mut mempool = self.shared.mempool.lock();
            if mempool.batch_bytes(digest).is_none() {
                // Its own junk: stored without checking its signatures once per copy.
                let stored = mempool.store_verified(
                    bytes.clone(),
                    VerifiedBatch::new(*digest, batch.clone()),
                    Source::Fetched(*digest),
                    &StateView(&self.shared.executor),
                    now_ms(),
                );
                if let Err(e) = stored {
                    tracing::debug!("poison batch not stored here: {e}");
                    continue;
                }
            }
            digests.push(*digest);
        }
        digests
    }

    /// A transfer of 1 to itself from the home's account, signed once at its next nonce.
    fn junk_tx(&mut self) -> Option<SignedTx> {
        if self.junk_tx.is_none() {
            let key = self.account.as_ref()?;
            let address = key.public().address();
            let nonce = self
                .shared
                .executor
                .account(&address)
                .map(|a| a.nonce)
                .unwrap_or(0);
            let tx = TxBody {
                chain_id: self.shared.chain_id.clone(),
                sender: key.public(),
                nonce,
                gas_limit: 100_000,
                gas_price: self.shared.genesis.params.min_gas_price,
                payload: Payload::Transfer {
                    to: address,
                    amount: 1,
                },
            }
            .sign(key);
            self.junk_tx = Some(tx);
        }
        self.junk_tx.clone()
    }

    /// Performs `message` as the core asked and, for equivocate, adds a second signed one.
    /// Returns the extra messages to send the same way (to the same peer, or to all).
    pub fn twins(
        &mut self,
        crypto: &dyn Crypto,
        me: Option<Address>,
        message: &ConsensusMessage,
    ) -> Vec<ConsensusMessage> {
        self.sync = Some(message.sync.clone());
        if !self.has(Mode::Equivocate) {
            return Vec::new();
        }
        let body = match &message.body {
            MessageBody::Proposal(p) if Some(p.block.block.header.proposer) == me => {
                MessageBody::Proposal(twin_proposal(crypto, p))
            }
            MessageBody::Vote(v) if Some(v.author) == me => {
                MessageBody::Vote(twin_vote(crypto, &self.shared.chain_id, v))
            }
            _ => return Vec::new(),
        };
        self.shared.metrics.attacked(Mode::Equivocate.name(), 1);
        vec![ConsensusMessage {
            sync: message.sync.clone(),
            body,
        }]
    }

    /// The floods, every [`FLOOD_TICK`], and the periodic warning.
    pub fn tick(&mut self) {
        if self.warned_at.elapsed() >= Duration::from_secs(60) {
            self.warned_at = Instant::now();
            self.warn();
        }
        if self.has(Mode::JunkBatches) {
            self.flood_junk();
        }
        if self.has(Mode::FetchFlood) {
            self.flood_fetches();
        }
    }

    fn flood_junk(&mut self) {
        let Some(tx) = self.junk_tx() else { return };
        for _ in 0..JUNK_BATCHES_PER_TICK {
            let n = self.next();
            let copies = JUNK_COPIES + (n % 1_000) as usize;
            let mut batch = Batch::unsigned(vec![tx.clone(); copies], vec![]);
            self.shared.mempool.lock().sign_batch(&mut batch);
            self.shared
                .network
                .broadcast_batch(Arc::new(batch.encode()));
            self.shared.metrics.attacked(Mode::JunkBatches.name(), 1);
        }
    }

    fn flood_fetches(&mut self) {
        let peers = self.shared.network.connected_peers();
        // Digests of committed batches (the costliest to answer: read from RocksDB), repeated,
        // and made-up ones.
        let mut real: Vec<Hash> = Vec::new();
        let height = self.shared.executor.height();
        for h in (height.saturating_sub(8)..=height).rev() {
            if let Ok(Some(b)) = self.shared.blocks.block(h) {
                real.extend(b.block.block.batches.iter().copied());
            }
        }
        let n = self.next();
        let cap = FLOOD_FETCHES_IN_FLIGHT * peers.len();
        for peer in &peers {
            for _ in 0..FLOOD_FETCHES_IN_FLIGHT {
                if self.in_flight.load(Ordering::SeqCst) >= cap {
                    break;
                }
                let digests: Vec<Hash> = (0..FLOOD_DIGESTS)
                    .map(|i| match (i % 3, real.get(i % real.len().max(1))) {
                        (0 | 1, Some(d)) => *d,
                        _ => {
                            let mut h = blake3::Hasher::new();
                            h.update(&n.to_le_bytes());
                            h.update(&(i as u64).to_le_bytes());
                            Hash(*h.finalize().as_bytes())
                        }
                    })
                    .collect();
                let (network, in_flight) = (self.shared.network.clone(), self.in_flight.clone());
                in_flight.fetch_add(1, Ordering::SeqCst);
                let peer = *peer;
                tokio::spawn(async move {
                    let _ = network.fetch_batches(Some(peer), digests).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                });
                self.shared.metrics.attacked("fetch-flood-fetch", 1);
            }
            if let Some(sync) = &self.sync {
                for i in 0..FLOOD_SYNCS_PER_TICK {
                    let message = ConsensusMessage {
                        sync: sync.clone(),
                        body: MessageBody::SyncRequest(SyncRequest {
                            epoch: 0,
                            committed_height: i as u64,
                        }),
                    };
                    self.shared
                        .network
                        .send_consensus(*peer, Arc::new(message.encode()));
                    self.shared.metrics.attacked("fetch-flood-sync", 1);
                }
            }
        }
    }
}

fn junk_needs_account(mode: Mode) -> bool {
    matches!(mode, Mode::JunkBatches | Mode::PoisonBlock)
}

/// The same block with a later timestamp: another header hash, signed again.
pub fn twin_proposal(crypto: &dyn Crypto, p: &Proposal) -> Proposal {
    let mut twin = p.clone();
    twin.block.block.header.timestamp_ms = twin.block.block.header.timestamp_ms.wrapping_add(1);
    let hash = twin.block.hash();
    twin.block.signature = crypto.sign(Domain::Proposal, &proposal_signing_bytes(&hash));
    twin
}

/// A vote of the same round for a made-up block.
pub fn twin_vote(crypto: &dyn Crypto, chain_id: &str, v: &Vote) -> Vote {
    let mut twin = v.clone();
    let mut h = blake3::Hasher::new();
    h.update(b"runnet/byzantine/twin");
    h.update(v.data.block.as_bytes());
    twin.data.block = Hash(*h.finalize().as_bytes());
    twin.signature = crypto.sign(Domain::Vote, &twin.data.signing_bytes(chain_id));
    twin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_testnet_writes_is_what_the_node_reads() {
        assert_eq!(runnet_testnet::byzantine::ACKNOWLEDGE, ACKNOWLEDGE);
        let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(runnet_testnet::byzantine::MODES.to_vec(), names);
        for m in Mode::ALL {
            assert_eq!(
                runnet_testnet::byzantine::needs_validator(m.name()),
                m.needs_validator()
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let config = "[api]\nlisten = \"127.0.0.1:1\"\n[p2p]\nlisten = \"/ip4/127.0.0.1/tcp/2\"\n";
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let modes: Vec<String> = Mode::ALL.iter().map(|m| m.name().to_string()).collect();
        runnet_testnet::byzantine::write_config(dir.path(), &modes).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        let parsed = crate::config::Config::parse(&text, "config.toml").unwrap();
        let section = parsed.byzantine.expect("the section");
        assert_eq!(section.modes, Mode::ALL.to_vec());
        assert!(section.wait_for_signal);
        assert!(section.check("runnet-testnet").is_ok());
    }

    #[test]
    fn modes_parse_by_name() {
        for m in Mode::ALL {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        let e = "flood".parse::<Mode>().unwrap_err();
        assert!(e.contains("junk-batches"), "{e}");
    }

    #[test]
    fn the_section_is_refused_off_testnets_and_without_the_acknowledgement() {
        let ok = ByzantineConfig {
            modes: vec![Mode::Equivocate],
            acknowledge: ACKNOWLEDGE.into(),
            wait_for_signal: false,
        };
        assert!(ok.check("runnet-testnet").is_ok());
        let e = ok.check("runnet-main").unwrap_err();
        assert!(e.contains("not a test network"), "{e}");
        let unsure = ByzantineConfig {
            acknowledge: "yes".into(),
            ..ok.clone()
        };
        assert!(unsure.check("runnet-testnet").is_err());
        let empty = ByzantineConfig {
            modes: vec![],
            ..ok
        };
        assert!(empty.check("runnet-testnet").is_err());
    }
}
