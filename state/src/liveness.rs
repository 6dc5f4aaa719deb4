//! Validator downtime (docs/economy.md, "Downtime"): each committed block's header names the
//! committee indexes of the signers of its parent's certificate (`justify_signers`). A validator
//! of the parent's committee that is neither among them nor the block's proposer missed that
//! height. Its record keeps the last `signed_blocks_window` heights as bits (`h % window`),
//! written only when a bit changes; more than `max_missed_blocks` set jails it for
//! `downtime_jail_ms` of chain time with one `downtime_slash` of its bonded and unbonding stake (burned).
//! A jailed validator leaves the next epoch's set (the current committee cannot change under
//! consensus) and returns with Unjail after the jail, with a fresh record.

use crate::execution::{corrupt, share};
use crate::executor::{ApplyError, BlockRun, ExecError, Executor};
use crate::keys;
use crate::objects::{Validator, ValidatorLiveness, ValidatorSet, ValidatorStatus};
use runnet_types::Address;

type Applied = Result<(), ApplyError>;

impl BlockRun<'_> {
    /// End of block, before the epoch change: who the block's certificate shows at work.
    /// `signers` is `None` when the node executing the block did not pass its header's signers
    /// (and for the first block of the chain): the height then counts as signed by everyone.
    pub(crate) fn record_signers(&mut self, signers: Option<&[u32]>) -> Applied {
        let Some(parent) = self.height.checked_sub(1).filter(|h| *h > 0) else {
            return Ok(());
        };
        // The parent's committee: this block's, unless this block is the first of its epoch.
        let current: ValidatorSet = self
            .overlay
            .get(&keys::meta(keys::meta_names::VALIDATOR_SET))?
            .ok_or_else(|| corrupt("no validator set"))?;
        let set = if parent >= current.start_height {
            current
        } else {
            let epoch = current.epoch.saturating_sub(1);
            self.overlay
                .get(&keys::validator_set(epoch))?
                .ok_or_else(|| corrupt(format!("no validator set of epoch {epoch}")))?
        };
        let window = self.params.signed_blocks_window;
        let bit = self.height % window;
        let (byte, mask) = ((bit / 8) as usize, 1u8 << (bit % 8));
        for (index, member) in set.members.iter().enumerate() {
            // A block with no signers named (the first of an epoch extends the epoch's root
            // certificate) shows nobody missing.
            let missed = signers.is_some_and(|s| {
                !s.is_empty() && !s.contains(&(index as u32)) && member.address != self.proposer
            });
            let key = keys::validator_liveness(&member.address);
            let mut record: ValidatorLiveness = self.overlay.get(&key)?.unwrap_or_default();
            let was = record.bits.get(byte).is_some_and(|b| b & mask != 0);
            if was == missed {
                continue;
            }
            if record.bits.is_empty() {
                record.bits = vec![0; window.div_ceil(8) as usize];
            }
            let slot = record
                .bits
                .get_mut(byte)
                .ok_or_else(|| corrupt("validator liveness record of another window"))?;
            *slot ^= mask;
            record.missed = if missed {
                record.missed + 1
            } else {
                record.missed.saturating_sub(1)
            };
            if record.missed > self.params.max_missed_blocks
                && self.jail_for_downtime(&member.address)?
            {
                self.overlay.delete(key);
            } else {
                self.overlay.put(key, &record);
            }
        }
        Ok(())
    }

    /// Jails an active validator for downtime with one `downtime_slash` of its bonded and
    /// unbonding stake; returns whether it did (a validator already jailed or leaving is not
    /// punished again).
    fn jail_for_downtime(&mut self, address: &Address) -> Result<bool, ApplyError> {
        let key = keys::validator(address);
        let mut validator: Validator = self
            .overlay
            .get(&key)?
            .ok_or_else(|| corrupt(format!("committee member {address} has no record")))?;
        if validator.status != ValidatorStatus::Active {
            return Ok(false);
        }
        let from_stake = share(validator.stake, self.params.downtime_slash);
        let from_unbonding = share(validator.unbonding, self.params.downtime_slash);
        validator.stake -= from_stake;
        validator.unbonding -= from_unbonding;
        validator.status = ValidatorStatus::Jailed {
            until: self.now_ms.saturating_add(self.params.downtime_jail_ms),
        };
        self.burn(from_stake + from_unbonding)?;
        self.overlay.put(key, &validator);
        Ok(true)
    }
}

impl Executor {
    /// A validator's record of the certificates it was missing from lately (`None`: none).
    pub fn validator_liveness(
        &self,
        address: &Address,
    ) -> Result<Option<ValidatorLiveness>, ExecError> {
        self.read(&keys::validator_liveness(address))
    }
}
