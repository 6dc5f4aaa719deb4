//! Epochs: an epoch lasts `epoch_ms` of chain time. Its last block is the first of its blocks
//! stamped at or after its `ends_at_ms` (the previous epoch's last block's timestamp plus
//! `epoch_ms`; epoch 0: the genesis time plus `epoch_ms`). That block's execution chooses the
//! next epoch's set, which orders heights from the next one on. Each epoch's set is kept by epoch
//! number for as long as evidence about it may land. Consensus reads them as [`Committee`]s and
//! applies the same rule to the same header timestamps (docs/consensus.md, "Epochs").

use crate::execution::corrupt;
use crate::executor::{ApplyError, BlockRun, ExecError, Executor, select_validator_set};
use crate::keys::{self, meta_names};
use crate::objects::{EpochEnd, Validator, ValidatorSet};
use crate::store::StoreError;
use runnet_types::Address;
use runnet_types::consensus::{Committee, ValidatorInfo};
use std::collections::BTreeMap;

impl BlockRun<'_> {
    /// End of block, step 4 (after releases): at the last block of an epoch, the next epoch's
    /// set; sets too old for any evidence are dropped.
    pub(crate) fn change_epoch(&mut self) -> Result<Option<ValidatorSet>, ApplyError> {
        let mut current: ValidatorSet = self
            .overlay
            .get(&keys::meta(meta_names::VALIDATOR_SET))?
            .ok_or_else(|| corrupt("no validator set"))?;
        if self.now_ms < current.ends_at_ms {
            return Ok(None);
        }
        let epoch = current.epoch.saturating_add(1);
        let ends_at_ms = self.now_ms.saturating_add(self.params.epoch_ms);
        let next = match select_validator_set(
            &self.overlay,
            self.params,
            epoch,
            self.height + 1,
            ends_at_ms,
        )? {
            Some(set) => set,
            // Too few candidates: the set stays, under the new epoch number.
            None => ValidatorSet {
                epoch,
                start_height: self.height + 1,
                ends_at_ms,
                ended: None,
                ..current.clone()
            },
        };
        // A validator entering the set starts with a fresh downtime record: bits left from an
        // earlier membership speak of heights outside its window.
        for member in &next.members {
            let stays = current.members.iter().any(|m| m.address == member.address);
            if !stays {
                self.overlay
                    .delete(keys::validator_liveness(&member.address));
            }
        }
        self.forget_old_batches()?;
        current.ended = Some(EpochEnd {
            height: self.height,
            timestamp_ms: self.now_ms,
        });
        self.overlay
            .put(keys::validator_set(current.epoch), &current);
        self.overlay
            .put(keys::meta(meta_names::VALIDATOR_SET), &next);
        self.overlay.put(keys::validator_set(epoch), &next);
        // Evidence about epoch e is refused once e ended more than max_evidence_age_ms ago:
        // after that, its set is of no more use.
        for (key, bytes) in self.overlay.scan(keys::VALIDATOR_SETS)? {
            let set: ValidatorSet = crate::overlay::decode_value(&key, &bytes)?;
            let stale = set.ended.is_some_and(|end| {
                end.timestamp_ms
                    .saturating_add(self.params.max_evidence_age_ms)
                    < self.now_ms
            });
            if set.epoch < epoch && stale {
                self.overlay.delete(key);
            }
        }
        Ok(Some(next))
    }
}

impl Executor {
    /// The committee of `epoch` for consensus: the epoch's validator set (consensus keys, VRF
    /// keys, stakes), the chain time it ends at and, once it has, the height of its last block. `None` before the block that decides it
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
        Committee::new(set.epoch, self.chain_id(), validators, set.ends_at_ms).map_err(|e| {
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
