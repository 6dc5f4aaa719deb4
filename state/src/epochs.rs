//! Epochs: the validator set of epoch e+1 is chosen when the last block of epoch e executes
//! (heights are multiples of `epoch_blocks`), and each epoch's set is kept by epoch number for as
//! long as evidence about it may land. Consensus reads them as [`Committee`]s: epoch e orders
//! heights `e * epoch_blocks + 1 ..= (e + 1) * epoch_blocks`, epoch 0 starting at height 1 with
//! the genesis validators.

use crate::execution::corrupt;
use crate::executor::{ApplyError, BlockRun, ExecError, Executor, select_validator_set};
use crate::keys::{self, meta_names};
use crate::objects::{Validator, ValidatorSet};
use crate::store::StoreError;
use runnet_types::Address;
use runnet_types::consensus::{Committee, ValidatorInfo};
use std::collections::BTreeMap;

/// The height of the last block of `epoch`.
pub fn epoch_end(epoch: u64, epoch_blocks: u64) -> u64 {
    epoch.saturating_add(1).saturating_mul(epoch_blocks)
}

impl BlockRun<'_> {
    /// End of block, step 4 (after releases): at the last block of an epoch, the next epoch's
    /// set; sets too old for any evidence are dropped.
    pub(crate) fn change_epoch(&mut self) -> Result<Option<ValidatorSet>, ApplyError> {
        if !self.height.is_multiple_of(self.params.epoch_blocks) {
            return Ok(None);
        }
        let epoch = self.height / self.params.epoch_blocks;
        let current: Option<ValidatorSet> =
            self.overlay.get(&keys::meta(meta_names::VALIDATOR_SET))?;
        let next = match select_validator_set(&self.overlay, self.params, epoch, self.height + 1)? {
            Some(set) => set,
            // Too few candidates: the set stays, under the new epoch number.
            None => match current.clone() {
                Some(mut set) => {
                    set.epoch = epoch;
                    set.start_height = self.height + 1;
                    set
                }
                None => return Err(corrupt("no validator set")),
            },
        };
        // A validator entering the set starts with a fresh downtime record: bits left from an
        // earlier membership speak of heights outside its window.
        for member in &next.members {
            let stays = current
                .as_ref()
                .is_some_and(|c| c.members.iter().any(|m| m.address == member.address));
            if !stays {
                self.overlay
                    .delete(keys::validator_liveness(&member.address));
            }
        }
        self.overlay
            .put(keys::meta(meta_names::VALIDATOR_SET), &next);
        self.overlay.put(keys::validator_set(epoch), &next);
        // Evidence about epoch e is refused once it is older than max_evidence_age, and it is at
        // most as young as the epoch's last block: after that, the set is of no more use.
        for (key, _) in self.overlay.scan(keys::VALIDATOR_SETS)? {
            let old = key
                .get(keys::VALIDATOR_SETS.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| corrupt("validator set key"))?;
            let useful_until = epoch_end(old, self.params.epoch_blocks)
                .saturating_add(self.params.max_evidence_age);
            if old < epoch && useful_until < self.height {
                self.overlay.delete(key);
            }
        }
        Ok(Some(next))
    }
}

impl Executor {
    /// The committee of `epoch` for consensus: the epoch's validator set (consensus keys, VRF
    /// keys, stakes) and the height of its last block. `None` before the block that decides it
    /// has executed (the last block of epoch - 1), and once it is too old for evidence.
    pub fn committee(&self, epoch: u64) -> Result<Option<Committee>, ExecError> {
        let Some(set) = self.read::<ValidatorSet>(&keys::validator_set(epoch))? else {
            return Ok(None);
        };
        Ok(Some(self.committee_of(&set)?))
    }

    fn committee_of(&self, set: &ValidatorSet) -> Result<Committee, ExecError> {
        let validators = set
            .members
            .iter()
            .map(|m| ValidatorInfo {
                address: m.address,
                consensus_key: m.consensus_key,
                vrf_key: m.vrf_key,
                stake: m.stake,
            })
            .collect();
        Committee::new(
            set.epoch,
            self.chain_id(),
            validators,
            epoch_end(set.epoch, self.params().epoch_blocks),
        )
        .map_err(|e| {
            ExecError::Store(StoreError::Corrupt(format!(
                "validator set of epoch {}: {e}",
                set.epoch
            )))
        })
    }

    /// The epochs whose sets the state holds, oldest first.
    pub fn committee_epochs(&self) -> Result<Vec<u64>, ExecError> {
        let mut out = Vec::new();
        let sets = self
            .store()
            .scan_prefix(keys::VALIDATOR_SETS, None, usize::MAX)?;
        for (key, _) in sets {
            if let Some(epoch) = key
                .get(keys::VALIDATOR_SETS.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
            {
                out.push(epoch);
            }
        }
        Ok(out)
    }

    /// Network peer ids of the validators of the latest set and of the one before it (the
    /// epoch consensus may still be finishing), by address, as their records hold them now.
    pub fn validator_peer_ids(&self) -> Result<BTreeMap<Address, String>, ExecError> {
        let latest = self.validator_set()?;
        let mut members: Vec<Address> = latest.members.iter().map(|m| m.address).collect();
        if let Some(previous) = latest.epoch.checked_sub(1)
            && let Some(set) = self.read::<ValidatorSet>(&keys::validator_set(previous))?
        {
            members.extend(set.members.iter().map(|m| m.address));
        }
        let mut out = BTreeMap::new();
        for address in members {
            if let Some(v) = self.read::<Validator>(&keys::validator(&address))? {
                out.insert(address, v.peer_id);
            }
        }
        Ok(out)
    }
}
