//! Equivocation evidence (docs/economy.md, "Validators and epochs"): two conflicting signed consensus
//! messages of one validator for one round of one epoch. Checked against the committee of that
//! epoch; punished once per (validator, epoch, round) by slashing `double_sign_slash` of its
//! bonded and unbonding stake (burned) and jailing it for `jail_ms` of chain time. Any account may
//! submit it; there is no reward (docs/economy.md names none, and a reward would pay validators to provoke
//! each other's faults).

use crate::execution::{corrupt, share};
use crate::executor::{ApplyError, BlockRun};
use crate::keys::{self, meta_names};
use crate::objects::{EvidenceRecord, Validator, ValidatorSet, ValidatorStatus};
use crate::receipt::{ErrorCode, fail};
use runnet_types::PublicKey;
use runnet_types::consensus::Evidence;

type Applied = Result<(), ApplyError>;

/// The height an evidence's messages speak of, held within its epoch: a validator cannot make
/// its own equivocation look older (or forever young) by signing absurd heights.
pub(crate) fn evidence_height(evidence: &Evidence, epoch_blocks: u64) -> u64 {
    let claimed = match evidence {
        Evidence::Proposals { first, second, .. } => first.header.height.max(second.header.height),
        Evidence::Votes { first, second, .. } => first.data.height.max(second.data.height),
    };
    let epoch = evidence.epoch();
    let start = epoch.saturating_mul(epoch_blocks).saturating_add(1);
    let end = epoch.saturating_add(1).saturating_mul(epoch_blocks);
    claimed.clamp(start, end.max(start))
}

impl BlockRun<'_> {
    pub(crate) fn apply_evidence(&mut self, evidence: &Evidence) -> Applied {
        let epoch = evidence.epoch();
        let Some(set) = self
            .overlay
            .get::<ValidatorSet>(&keys::validator_set(epoch))?
        else {
            let current: ValidatorSet = self
                .overlay
                .get(&keys::meta(meta_names::VALIDATOR_SET))?
                .ok_or_else(|| corrupt("no validator set"))?;
            if epoch > current.epoch {
                return fail(
                    ErrorCode::EvidenceUnknownEpoch,
                    format!("epoch {epoch} has no validator set yet"),
                )?;
            }
            return fail(
                ErrorCode::EvidenceTooOld,
                format!("epoch {epoch} is past max_evidence_age"),
            )?;
        };
        let height = evidence_height(evidence, self.params.epoch_blocks);
        let age = self.height.saturating_sub(height);
        if age > self.params.max_evidence_age {
            return fail(
                ErrorCode::EvidenceTooOld,
                format!(
                    "evidence of height {height} is {age} blocks old, more than max_evidence_age {}",
                    self.params.max_evidence_age
                ),
            )?;
        }
        let keys: Vec<PublicKey> = set.members.iter().map(|m| m.consensus_key).collect();
        if let Err(e) = evidence.verify(self.chain_id, &keys) {
            return fail(ErrorCode::InvalidEvidence, e.to_string())?;
        }
        let Some(member) = set
            .members
            .iter()
            .find(|m| m.consensus_key == *evidence.signer())
        else {
            return Err(corrupt("verified evidence from outside the committee"));
        };
        let round = evidence.round();
        let record_key = keys::evidence(&member.address, epoch, round);
        if self.overlay.get_raw(&record_key)?.is_some() {
            return fail(
                ErrorCode::EvidenceAlreadyApplied,
                format!(
                    "{} was already punished for epoch {epoch} round {round}",
                    member.address
                ),
            )?;
        }
        let validator_key = keys::validator(&member.address);
        let mut validator: Validator = self
            .overlay
            .get(&validator_key)?
            .ok_or_else(|| corrupt(format!("committee member {} has no record", member.address)))?;
        let from_stake = share(validator.stake, self.params.double_sign_slash);
        let from_unbonding = share(validator.unbonding, self.params.double_sign_slash);
        validator.stake -= from_stake;
        validator.unbonding -= from_unbonding;
        let mut jailed_until = self.now_ms.saturating_add(self.params.jail_ms);
        if let ValidatorStatus::Jailed { until } = validator.status {
            jailed_until = jailed_until.max(until);
        }
        validator.status = ValidatorStatus::Jailed {
            until: jailed_until,
        };
        let slashed = from_stake + from_unbonding;
        self.burn(slashed)?;
        self.overlay.put(validator_key, &validator);
        self.overlay.put(
            record_key,
            &EvidenceRecord {
                validator: member.address,
                epoch,
                round,
                applied_at: self.height,
                slashed,
                jailed_until,
            },
        );
        Ok(())
    }
}
