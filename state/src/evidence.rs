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
                format!("epoch {epoch} is past max_evidence_age_ms"),
            )?;
        };
        // Age counts from the end of the evidence's epoch, in chain time: the messages' own
        // heights and rounds are the signer's to choose, and an epoch still running is young.
        if let Some(end) = set.ended {
            let age_ms = self.now_ms.saturating_sub(end.timestamp_ms);
            if age_ms > self.params.max_evidence_age_ms {
                return fail(
                    ErrorCode::EvidenceTooOld,
                    format!(
                        "epoch {epoch} ended {age_ms} ms ago, more than max_evidence_age_ms {}",
                        self.params.max_evidence_age_ms
                    ),
                )?;
            }
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
