//! The skip fee: whoever batched a transaction that execution skips for a reason its author could
//! have seen pays for the block space it took (docs/economy.md, "Skipped transactions: block
//! space and who pays").
//!
//! A transaction skipped `wrong_chain_id`, `bad_signature`, `gas_price_too_low`, `cannot_pay_gas`
//! or `bad_nonce` costs its batch's author `min_gas_price × (gas.transfer + gas.per_byte ×
//! encoded bytes)`, from its balance, then from its bonded stake, never below zero, burned. Free:
//! `block_gas_full` and `block_bytes_full` (the proposer's ordering decides them); a batch a
//! block of this or the previous epoch committed, or that this block named before; and, once per
//! (author, sender, nonce) per block, a `bad_nonce` or `cannot_pay_gas` skip that a race between
//! honest batches explains (the nonce was used at or after the sender's recent floor and before
//! its nonce at the end of the block; or, for `cannot_pay_gas`, the sender could pay at the start
//! of the block). Evaluated after the block's transactions, in block order.

use crate::executor::{ApplyError, BlockRun};
use crate::keys;
use crate::objects::{Account, NonceMarks, Validator};
use crate::overlay::Overlay;
use crate::receipt::SkipReason;
use runnet_types::{Address, Amount, Hash, PublicKey};
use std::collections::BTreeSet;

/// A skipped transaction its batch's author may have to pay for.
pub(crate) struct Candidate {
    pub author: PublicKey,
    pub sender: Address,
    pub nonce: u64,
    /// `gas_limit × gas_price`: what the sender had to cover.
    pub max_fee: u128,
    pub bytes: usize,
    pub reason: SkipReason,
}

/// Whether the skip is one the author could have seen (and so may be charged for).
pub(crate) fn charges_author(reason: SkipReason) -> bool {
    !matches!(
        reason,
        SkipReason::BlockGasFull | SkipReason::BlockBytesFull
    )
}

/// Whether a block of `epoch`, or of the one before, committed the batch `digest`.
pub(crate) fn remembered(
    overlay: &Overlay<'_>,
    epoch: u64,
    digest: &Hash,
) -> Result<bool, ApplyError> {
    if overlay
        .get_raw(&keys::committed_batch(epoch, digest))?
        .is_some()
    {
        return Ok(true);
    }
    Ok(match epoch.checked_sub(1) {
        Some(previous) => overlay
            .get_raw(&keys::committed_batch(previous, digest))?
            .is_some(),
        None => false,
    })
}

impl BlockRun<'_> {
    /// The epoch of this block (read once when the block starts).
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The account's nonce is about to move on in this block: keep the marks its recent floor is
    /// read from, in the account itself (no read or write of their own).
    pub(crate) fn mark_nonce(&self, account: &mut Account) {
        let epoch = self.epoch();
        let before = account.nonce;
        account.nonce_marks = Some(match account.nonce_marks {
            Some(marks) if marks.epoch == epoch => return,
            // It moved last in the previous epoch: that epoch began where the marks say.
            Some(marks) if marks.epoch.saturating_add(1) == epoch => NonceMarks {
                epoch,
                start: before,
                previous: marks.start,
            },
            // It did not move in the previous epoch (or ever): both began at `before`.
            _ => NonceMarks {
                epoch,
                start: before,
                previous: before,
            },
        });
    }

    /// The sender's nonce at the start of the previous epoch, given its nonce now.
    fn recent_floor(&self, account: &Account) -> u64 {
        let epoch = self.epoch();
        match account.nonce_marks {
            Some(marks) if marks.epoch == epoch => marks.previous,
            Some(marks) if marks.epoch.saturating_add(1) == epoch => marks.start,
            // No move in this epoch or the previous one: the nonce then was the nonce now.
            _ => account.nonce,
        }
    }

    /// Whether a block of this epoch or the previous one committed the batch.
    pub(crate) fn batch_remembered(&self, digest: &Hash) -> Result<bool, ApplyError> {
        remembered(&self.overlay, self.epoch(), digest)
    }

    /// Remembers a batch this block commits, one key per batch.
    pub(crate) fn remember_batch(&mut self, digest: &Hash) {
        let epoch = self.epoch();
        self.overlay
            .put(keys::committed_batch(epoch, digest), &self.height);
    }

    /// At the last block of an epoch (`change_epoch`): the batches of the epoch before it are no
    /// longer needed (blocks of the next epoch look back one epoch).
    pub(crate) fn forget_old_batches(&mut self) -> Result<(), ApplyError> {
        let Some(old) = self.epoch().checked_sub(1) else {
            return Ok(());
        };
        for (key, _) in self.overlay.scan(&keys::committed_batches_of(old))? {
            self.overlay.delete(key);
        }
        Ok(())
    }

    /// The skip fee of a transaction of `bytes` encoded bytes: what the cheapest applied
    /// transaction of that size pays.
    pub(crate) fn skip_fee(&self, bytes: usize) -> Amount {
        let gas = &self.params.gas;
        let units = u128::from(gas.transfer) + u128::from(gas.per_byte) * bytes as u128;
        let fee = u128::from(self.params.min_gas_price).saturating_mul(units);
        Amount::try_from(fee).unwrap_or(Amount::MAX)
    }

    /// Charges the authors of the block's skipped transactions, in block order, and burns what
    /// it took; returns the total. `start` reads the state as it was before the block.
    pub(crate) fn charge_skips(
        &mut self,
        start: &Overlay<'_>,
        candidates: &[Candidate],
    ) -> Result<Amount, ApplyError> {
        let mut explained: BTreeSet<(PublicKey, Address, u64)> = BTreeSet::new();
        let mut burned: Amount = 0;
        for candidate in candidates {
            if self.race_explains(start, candidate)?
                && explained.insert((candidate.author, candidate.sender, candidate.nonce))
            {
                continue;
            }
            let fee = self.skip_fee(candidate.bytes);
            burned = burned.saturating_add(self.take_from_author(&candidate.author, fee)?);
        }
        if burned > 0 {
            self.burn(burned)?;
        }
        Ok(burned)
    }

    /// A `bad_nonce` or `cannot_pay_gas` skip that honest batches racing each other produce.
    fn race_explains(&self, start: &Overlay<'_>, c: &Candidate) -> Result<bool, ApplyError> {
        if !matches!(c.reason, SkipReason::BadNonce | SkipReason::CannotPayGas) {
            return Ok(false);
        }
        let now: Account = self
            .overlay
            .get(&keys::account(&c.sender))?
            .unwrap_or_default();
        // Used at or after the recent floor, or by a predecessor later in this block.
        if c.nonce < now.nonce && c.nonce >= self.recent_floor(&now) {
            return Ok(true);
        }
        if c.reason == SkipReason::CannotPayGas {
            let before: Account = start.get(&keys::account(&c.sender))?.unwrap_or_default();
            return Ok(u128::from(before.balance) >= c.max_fee);
        }
        Ok(false)
    }

    /// Takes up to `fee` from the author's balance, then its bonded stake; returns what it took.
    /// An author whose key names no validator pays nothing (voters refuse its batches).
    fn take_from_author(&mut self, author: &PublicKey, fee: Amount) -> Result<Amount, ApplyError> {
        let Some(address) = self.overlay.get::<Address>(&keys::consensus_key(author))? else {
            return Ok(0);
        };
        let mut account = self.account(&address)?;
        let from_balance = account.balance.min(fee);
        if from_balance > 0 {
            account.balance -= from_balance;
            self.put_account(&address, &account);
        }
        let mut taken = from_balance;
        let rest = fee - from_balance;
        if rest > 0 {
            let key = keys::validator(&address);
            if let Some(mut validator) = self.overlay.get::<Validator>(&key)? {
                let from_stake = validator.stake.min(rest);
                if from_stake > 0 {
                    validator.stake -= from_stake;
                    self.overlay.put(key, &validator);
                    taken += from_stake;
                }
            }
        }
        Ok(taken)
    }
}
