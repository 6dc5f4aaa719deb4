//! The simulator's fakes of what surrounds a core: its disk, its environment (committees as
//! the state machine would decide them), its mempool and its keys.

use super::world::CHAIN_ID;
use crate::core::{
    CommittedBlock, CommittedTip, Core, Environment, PayloadCheck, PayloadSource, Recovery,
};
use crate::crypto::{Crypto, Ed25519Crypto, TestCrypto};
use crate::safety::SafetyData;
use runnet_types::consensus::{CommitProof, Committee, ProposedBlock};
use runnet_types::encoding::hash_of;
use runnet_types::{Hash, SecretKey, VrfSecretKey};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
/// The validators of every epoch, fixed by the seed. When each epoch ends is the chain's to
/// say ([`SimEnv::committee`]); the committees here end never, and serve for their keys.
pub(super) struct Schedule {
    pub(super) committees: Vec<Arc<Committee>>,
    pub(super) epoch_ms: u64,
}

impl Schedule {
    pub(super) fn get(&self, epoch: u64) -> Option<Arc<Committee>> {
        self.committees.get(epoch as usize).cloned()
    }

    /// Epoch `epoch`'s committee ending at `end_ms` (the last epoch never ends).
    pub(super) fn ending(&self, epoch: u64, end_ms: u64) -> Option<Arc<Committee>> {
        let c = self.get(epoch)?;
        if epoch + 1 >= self.committees.len() as u64 {
            return Some(c);
        }
        Committee::new(epoch, CHAIN_ID, c.validators().to_vec(), end_ms)
            .ok()
            .map(Arc::new)
    }
}

/// What a node's disk holds as its driver keeps it: the committed blocks, the proofs that ended
/// epochs, the tip to restart from and the safety data. Shared by the simulator and the
/// scripted test harness.
#[derive(Default)]
pub(crate) struct Disk {
    pub(crate) ledger: Vec<Arc<ProposedBlock>>,
    pub(crate) proofs: BTreeMap<u64, CommitProof>,
    pub(crate) tip: Option<CommittedTip>,
    pub(crate) safety: Option<SafetyData>,
    /// Committed blocks below this height are pruned: the environment no longer serves them.
    pub(crate) pruned_below: u64,
}

impl Disk {
    /// The committed height.
    pub(crate) fn height(&self) -> u64 {
        self.ledger.len() as u64
    }

    /// A committed block by height ([`Environment::committed_block`]).
    pub(crate) fn block(&self, height: u64) -> Option<Arc<ProposedBlock>> {
        if height < self.pruned_below {
            return None;
        }
        let index = usize::try_from(height.checked_sub(1)?).ok()?;
        self.ledger.get(index).cloned()
    }

    /// The proof that ended `epoch` ([`Environment::epoch_end_proof`]).
    pub(crate) fn epoch_end_proof(&self, epoch: u64) -> Option<CommitProof> {
        self.proofs.get(&epoch).cloned()
    }

    /// Stores what an [`Action::Commit`](crate::Action::Commit) delivered (the caller checks
    /// that it continues the ledger).
    pub(crate) fn commit(
        &mut self,
        blocks: &[CommittedBlock],
        proof: CommitProof,
        ends_epoch: Option<u64>,
    ) {
        self.ledger.extend(blocks.iter().map(|b| b.block.clone()));
        if let Some(last) = blocks.last() {
            self.tip = Some(CommittedTip {
                block: last.block.clone(),
                seed: last.seed,
                proof: proof.clone(),
            });
        }
        if let Some(epoch) = ends_epoch {
            self.proofs.insert(epoch, proof);
        }
    }

    /// What a restart finds, with the state machine at `executed_height`.
    pub(crate) fn recovery(&self, executed_height: u64, executed_state_root: Hash) -> Recovery {
        Recovery {
            safety: self.safety.clone(),
            tip: self.tip.clone(),
            executed_height,
            executed_state_root,
        }
    }
}

/// A simulated node's disk, and what its state machine has executed.
#[derive(Default)]
pub(super) struct Store {
    pub(super) disk: Disk,
    /// The hash of the last committed block.
    pub(super) last_hash: Option<Hash>,
    pub(super) executed: u64,
}

pub(super) struct SimEnv {
    pub(super) crypto: Box<dyn Crypto>,
    pub(super) schedule: Rc<Schedule>,
    pub(super) store: Rc<RefCell<Store>>,
    /// Committees this node's chain has decided, by epoch.
    pub(super) decided: RefCell<BTreeMap<u64, Arc<Committee>>>,
}

impl Environment for SimEnv {
    fn committee(&self, epoch: u64) -> Option<Arc<Committee>> {
        if let Some(c) = self.decided.borrow().get(&epoch) {
            return Some(c.clone());
        }
        // Like the state machine (state/src/epochs.rs): epoch 0 ends `epoch_ms` after the
        // genesis time (0 here); the next committee is known once the previous epoch's last
        // block is executed, and ends `epoch_ms` after that block's chain time.
        let end_ms = if epoch == 0 {
            self.schedule.epoch_ms
        } else {
            let previous = self.committee(epoch - 1)?;
            let store = self.store.borrow();
            let executed = usize::try_from(store.executed)
                .unwrap_or(usize::MAX)
                .min(store.disk.ledger.len());
            let last = store.disk.ledger[..executed]
                .iter()
                .rev()
                .find(|b| b.epoch() == epoch - 1)?;
            let stamped = last.header().timestamp_ms;
            if !previous.ends_at(stamped) {
                return None;
            }
            stamped.saturating_add(self.schedule.epoch_ms)
        };
        let c = self.schedule.ending(epoch, end_ms)?;
        self.decided.borrow_mut().insert(epoch, c.clone());
        Some(c)
    }

    fn crypto(&self) -> &dyn Crypto {
        &*self.crypto
    }

    fn committed_block(&self, height: u64) -> Option<Arc<ProposedBlock>> {
        self.store.borrow().disk.block(height)
    }

    fn epoch_end_proof(&self, epoch: u64) -> Option<CommitProof> {
        self.store.borrow().disk.epoch_end_proof(epoch)
    }
}

/// The node's mempool: batches that reached it, minus those committed.
#[derive(Default)]
pub(super) struct Pool {
    pub(super) available: BTreeSet<Hash>,
    pub(super) committed: BTreeSet<Hash>,
}

pub(super) struct SimPayload {
    pub(super) pool: Rc<RefCell<Pool>>,
}

impl PayloadSource for SimPayload {
    fn next_payload(&mut self, in_flight: &BTreeSet<Hash>, max: usize) -> Vec<Hash> {
        let pool = self.pool.borrow();
        pool.available
            .iter()
            .filter(|b| !in_flight.contains(*b))
            .take(max.min(8))
            .copied()
            .collect()
    }

    fn check_payload(&mut self, batches: &[Hash]) -> PayloadCheck {
        let pool = self.pool.borrow();
        if batches
            .iter()
            .all(|b| pool.available.contains(b) || pool.committed.contains(b))
        {
            PayloadCheck::Ready
        } else {
            PayloadCheck::Missing
        }
    }
}

pub(super) type SimCore = Core<SimEnv, SimPayload>;

pub(super) fn key_seed(seed: u64, identity: usize, purpose: &str) -> [u8; 32] {
    hash_of(&("sim-key", purpose, seed, identity as u64)).0
}

pub(super) fn make_crypto(real: bool, seed: u64, identity: usize) -> Box<dyn Crypto> {
    if real {
        Box::new(Ed25519Crypto::new(
            SecretKey::from_seed(key_seed(seed, identity, "ed25519")),
            VrfSecretKey::from_seed(key_seed(seed, identity, "vrf")),
        ))
    } else {
        Box::new(TestCrypto::new(
            seed.wrapping_mul(1_000_003).wrapping_add(identity as u64),
        ))
    }
}
