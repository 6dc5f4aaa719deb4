//! Random audits (docs/economy.md, "Audits"): a share of the WebAssembly executions that would
//! settle without a dispute (every revealed verdict agreed with the runner, or none was revealed)
//! is re-run by the chain before anything is paid, under the re-run budget and in the re-run
//! queue with the disputes. Without them a lazy verifier, agreeing with the runner without
//! running the task, was caught only when the runner was wrong *and* another verifier honest.
//!
//! - The draw: `blake3(encode("audit", seed, execution id))` read as a fraction of 2^64, below
//!   `audit_share_bps` / 10,000, with the seed of the block the settlement comes due in (every
//!   verdict was committed blocks before it and revealed by then).
//! - Confirmed: the audit's fuel is paid to the proposer from the audit pool, as far as the pool
//!   goes, and the execution completes exactly as it would have.
//! - Overturned: the runner loses `wrong_result_slash`, every verifier whose revealed verdict
//!   differs from the audit's result `audit_fault_slash`; their slashes pay the fuel (equal
//!   parts, as for a dispute), then every verifier whose verdict matched the audit, then the rest
//!   goes to the payer, who also gets the whole escrow back. Nothing is burned.
//! - The pool is an account nobody holds a key for ([`audit_pool_address`]), so the supply audit
//!   counts it with the balances; it is fed `audit_pool_bps` of every WebAssembly execution's
//!   price, out of the runner's part.
//!
//! A child module of `execution` (it shares that module's private settlement steps); the hooks
//! there are `audit_at_settlement`, `take_audit` and `audit_premium`.

use super::{corrupt, rerun_of, share};
use crate::executor::{ApplyError, BlockRun};
use crate::keys;
use crate::objects::{Execution, ExecutionStatus, Payer, VerificationKind};
use runnet_types::genesis::BPS;
use runnet_types::{Address, Amount, Hash};

type Applied = Result<(), ApplyError>;

/// The audit pool's account: the first 20 bytes of blake3("runnet/audit-pool"). An address is
/// the hash of a public key, so no key spends from it; it only receives (the pool's shares, and
/// anyone's transfers) and pays audits.
pub fn audit_pool_address() -> Address {
    let digest = Hash::digest(b"runnet/audit-pool");
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest.0[..20]);
    Address(out)
}

/// Whether an execution settling in the block whose seed is `seed` is audited, at
/// `audit_share_bps`: the first 8 bytes of blake3(encode("audit", seed, execution)), read as a
/// fraction of 2^64, below the share.
pub fn audit_drawn(seed: &Hash, execution: &Hash, audit_share_bps: u64) -> bool {
    let digest = runnet_types::encoding::hash_of(&("audit", seed, execution));
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest.0[..8]);
    let draw = u128::from(u64::from_le_bytes(head));
    (draw * u128::from(BPS)) >> 64 < u128::from(audit_share_bps)
}

impl BlockRun<'_> {
    /// At a WebAssembly settlement without a dispute: if the draw says so, the execution waits
    /// for its audit in the re-run queue (status `awaiting_rerun`, everything else untouched)
    /// and this returns true; the caller then pays nothing.
    pub(super) fn audit_at_settlement(
        &mut self,
        execution: &mut Execution,
    ) -> Result<bool, ApplyError> {
        if execution.verification != VerificationKind::WasmRerun
            || !audit_drawn(
                &self.current_seed()?,
                &execution.id,
                self.params.audit_share_bps,
            )
        {
            return Ok(false);
        }
        execution.status = ExecutionStatus::AwaitingRerun;
        self.overlay
            .put(keys::rerun_entry(self.height, &execution.id), &());
        self.overlay.put(keys::audit(&execution.id), &());
        Ok(true)
    }

    /// In the re-run queue: whether this entry is an audit (then it is judged by
    /// [`BlockRun::judge_audit`] and its mark removed) rather than a dispute.
    pub(super) fn take_audit(&mut self, id: &Hash) -> Result<bool, ApplyError> {
        let key = keys::audit(id);
        if self.overlay.get_raw(&key)?.is_none() {
            return Ok(false);
        }
        self.overlay.delete(key);
        Ok(true)
    }

    /// The audit pool's part of a completed execution's price: `audit_pool_bps` of it for a
    /// WebAssembly execution (the only kind audited), out of the runner's part; `developer` is
    /// the service owner's part, so the runner's never goes below zero.
    pub(super) fn audit_premium(
        &self,
        execution: &Execution,
        price: Amount,
        developer: Amount,
    ) -> Amount {
        if execution.verification != VerificationKind::WasmRerun {
            return 0;
        }
        share(price, self.params.audit_pool_bps).min(price.saturating_sub(developer))
    }

    /// The chain's re-run of an audited execution decides it (module docs).
    pub(super) fn judge_audit(&mut self, execution: &mut Execution) -> Applied {
        let Some(result) = execution.result.clone() else {
            return Err(corrupt("an audited execution without a result"));
        };
        let revealed: Vec<usize> = (0..execution.verifiers.len())
            .filter(|i| execution.verifiers[*i].verdict.is_some())
            .collect();
        let (truth, fuel) = self.rerun(execution)?;
        execution.rerun_fuel = Some(fuel);
        let fuel_cost = fuel.saturating_mul(self.params.fuel_price).div_ceil(1000);
        let proposer = self.proposer;
        if result == truth {
            // Confirmed: the pool pays the fuel as far as it goes; nothing else is extra.
            let pool = audit_pool_address();
            let paid = fuel_cost.min(self.account(&pool)?.balance);
            if paid > 0 {
                self.debit(&pool, paid, "audit fuel").map_err(|e| match e {
                    ApplyError::Tx(f) => corrupt(f.detail),
                    fatal => fatal,
                })?;
                self.credit_existing(&proposer, paid)?;
            }
            let status = if revealed.is_empty() {
                ExecutionStatus::CompletedUnverified
            } else {
                ExecutionStatus::Completed
            };
            return self.complete(execution, status, &revealed);
        }
        // Overturned. The wrong parties in id order: the runner, and every verifier whose
        // revealed verdict is not the audit's result.
        let right: Vec<usize> = revealed
            .iter()
            .copied()
            .filter(|i| rerun_of(&execution.verifiers[*i]) == Some(&truth))
            .collect();
        let runner = execution
            .runner
            .ok_or_else(|| corrupt("an audited execution without a runner"))?;
        let mut wrong: Vec<(Hash, u64)> = revealed
            .iter()
            .filter(|i| !right.contains(i))
            .map(|i| {
                (
                    execution.verifiers[*i].runner,
                    self.params.audit_fault_slash,
                )
            })
            .collect();
        wrong.push((runner, self.params.wrong_result_slash));
        wrong.sort_by_key(|(id, _)| *id);
        let mut slashed = Vec::with_capacity(wrong.len());
        for (id, bps) in &wrong {
            slashed.push(self.slash(id, *bps)?);
        }
        // The fuel: equal parts of the slashes, the remainder from the lowest id, each part as
        // far as its slash goes.
        let n = slashed.len() as u64;
        let (each, mut extra) = (fuel_cost / n, fuel_cost % n);
        let mut to_proposer: Amount = 0;
        for pool in slashed.iter_mut() {
            let owed = each + u64::from(extra > 0);
            extra = extra.saturating_sub(1);
            let paid = owed.min(*pool);
            *pool -= paid;
            to_proposer += paid;
        }
        self.credit_existing(&proposer, to_proposer)?;
        let pot = slashed.iter().fold(0, |a: Amount, b| a.saturating_add(*b));
        // The verifiers who were right are paid their pay, in id order; the payer gets the rest.
        let rest = self.pay_verifiers(execution, &right, pot)?;
        let escrow = execution.escrow;
        self.refund(execution, escrow)?;
        match execution.payer {
            Payer::Account(address) => self.credit_existing(&address, rest)?,
            Payer::Process(process) => self.credit_process(&process, rest)?,
        }
        self.slash_withholding_verifiers(execution)?;
        self.finish(execution, ExecutionStatus::Rejected)?;
        self.release_duties(execution)
    }
}

impl crate::executor::Executor {
    /// The audit pool's balance.
    pub fn audit_pool(&self) -> Result<Amount, crate::executor::ExecError> {
        Ok(self.account(&audit_pool_address())?.balance)
    }

    /// Whether an execution waits in the re-run queue for an audit (not a dispute).
    pub fn audit_pending(&self, id: &Hash) -> Result<bool, crate::executor::ExecError> {
        Ok(self.store().get(&keys::audit(id))?.is_some())
    }
}
