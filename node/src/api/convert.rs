//! The state's objects as the API's types (`runnet-api`). Each conversion destructures its
//! object without `..`, so a field added to the state fails this build until the API shows it.

use runnet_api as api;
use runnet_api::objects as o;
use runnet_state as st;

/// A unit-only enum of the state to the API's enum of the same variants.
macro_rules! same_variants {
    ($name:ident: $m:ident::$from:ident => $to:ident { $($v:ident),* $(,)? }) => {
        pub fn $name(value: $m::$from) -> o::$to {
            match value {
                $($m::$from::$v => o::$to::$v,)*
            }
        }
    };
}

same_variants!(skip_reason: st::SkipReason => SkipReason {
    WrongChainId, BadSignature, GasPriceTooLow, BadNonce, CannotPayGas, BlockGasFull,
    BlockBytesFull,
});

same_variants!(error_code: st::ErrorCode => ErrorCode {
    OutOfGas, InsufficientBalance, ZeroAmount, Overflow, InvalidBinding, ConsensusKeyInUse,
    ValidatorKeysMismatch, NotAValidator, UnbondExceedsStake, NotJailed, JailNotOver,
    InvalidPeerId, InvalidDefinition, BundleTooLarge, ServiceExists, InvalidModule,
    ServiceNotFound, StakeBelowMinimum, RunnerExists, RunnerNotFound, NotRunnerOwner,
    RunnerNotActive, InvalidRunnerParams, TaskNotFound, InvalidInputs, ExecutionNotFound,
    NotTheRunner, WrongPhase, DeadlinePassed, CommitmentMismatch, InvalidResult,
    NotADrawnVerifier, AlreadyCommitted, WrongVerdictKind, RunnerIneligible, WrongVerification,
    InvalidProcess, ProcessTooLarge, ProcessNotFound, NotProcessOwner, ProcessClosed,
    EventNotFound, InvalidEventData, NotAnEmitter, AlreadyReported, EventWindowClosed,
    EventAlreadyFired, InvalidEvidence, EvidenceTooOld, EvidenceAlreadyApplied,
    EvidenceUnknownEpoch,
});

same_variants!(verification: objects::VerificationKind => VerificationKind {
    WasmRerun, ExternalRerun, PublicEffect, Trusted,
});

same_variants!(execution_status: objects::ExecutionStatus => ExecutionStatus {
    Requested, Assigned, Committed, Verifying, Revealing, Completed, CompletedUnverified,
    Rejected, Expired, Cancelled, AwaitingRerun, RunnerRevealing,
});

same_variants!(process_status: objects::ProcessStatus => ProcessStatus { Open, Closed, Paused });

same_variants!(skip_cause: objects::SkipCause => SkipCause {
    Balance, SpendCap, InvalidInputs, IdInUse,
});

use runnet_state::objects;

pub fn receipt(r: st::Receipt) -> o::Receipt {
    let st::Receipt {
        tx,
        outcome,
        gas_used,
        fee,
    } = r;
    let outcome = match outcome {
        st::Outcome::Success => o::Outcome::Success,
        st::Outcome::Skipped { reason } => o::Outcome::Skipped {
            reason: skip_reason(reason),
        },
        st::Outcome::Failed { code, detail } => o::Outcome::Failed {
            code: error_code(code),
            detail,
        },
    };
    o::Receipt {
        tx,
        outcome,
        gas_used,
        fee,
    }
}

pub fn stored_account(a: st::Account) -> o::StoredAccount {
    let st::Account {
        balance,
        nonce,
        nonce_marks,
    } = a;
    o::StoredAccount {
        balance,
        nonce,
        nonce_marks: nonce_marks.map(|m| {
            let objects::NonceMarks {
                epoch,
                start,
                previous,
            } = m;
            o::NonceMarks {
                epoch,
                start,
                previous,
            }
        }),
    }
}

pub fn validator(v: st::Validator) -> o::Validator {
    let st::Validator {
        address,
        consensus_key,
        vrf_key,
        peer_id,
        stake,
        unbonding,
        status,
    } = v;
    o::Validator {
        address,
        consensus_key,
        vrf_key,
        peer_id,
        stake,
        unbonding,
        status: match status {
            st::ValidatorStatus::Active => o::ValidatorStatus::Active,
            st::ValidatorStatus::Unbonding => o::ValidatorStatus::Unbonding,
            st::ValidatorStatus::Jailed { until } => o::ValidatorStatus::Jailed { until },
        },
    }
}

pub fn set_member(m: objects::ValidatorSetMember) -> o::ValidatorSetMember {
    let objects::ValidatorSetMember {
        address,
        consensus_key,
        vrf_key,
        peer_id,
        stake,
    } = m;
    o::ValidatorSetMember {
        address,
        consensus_key,
        vrf_key,
        peer_id,
        stake,
    }
}

pub fn stored_service(s: st::Service) -> o::StoredService {
    let st::Service {
        id,
        owner,
        definition,
        bundle_digest,
        wasm,
        published_at,
    } = s;
    o::StoredService {
        id,
        owner,
        definition,
        bundle_digest,
        wasm,
        published_at,
    }
}

/// The service with its definition (canonical JSON bytes) shown as JSON.
pub fn service(s: st::Service) -> api::Service {
    let o::StoredService {
        id,
        owner,
        definition,
        bundle_digest,
        wasm,
        published_at,
    } = stored_service(s);
    api::Service {
        id,
        owner,
        definition: serde_json::from_slice(&definition).unwrap_or(serde_json::Value::Null),
        bundle_digest,
        wasm,
        published_at,
    }
}

pub fn runner(r: st::Runner) -> o::Runner {
    let st::Runner {
        id,
        service,
        owner,
        stake,
        price_per_call,
        price_per_kib,
        max_open,
        status,
        open_executions,
        open_duties,
        release_at,
        missed_log,
        duties,
        missed,
    } = r;
    o::Runner {
        id,
        service,
        owner,
        stake,
        price_per_call,
        price_per_kib,
        max_open,
        status: match status {
            st::RunnerStatus::Active => o::RunnerStatus::Active,
            st::RunnerStatus::Leaving => o::RunnerStatus::Leaving,
            st::RunnerStatus::Left => o::RunnerStatus::Left,
            st::RunnerStatus::Jailed { until } => o::RunnerStatus::Jailed { until },
        },
        open_executions,
        open_duties,
        release_at,
        missed_log,
        duties,
        missed,
    }
}

pub fn execution(e: st::Execution) -> o::Execution {
    let st::Execution {
        id,
        service,
        task,
        inputs,
        payer,
        max_fee,
        escrow,
        verification: kind,
        requested_at,
        named_runner,
        runner,
        runner_owner,
        assigned_at,
        deadline,
        commitment,
        result,
        verifiers,
        drawn_at,
        commit_deadline,
        reveal_deadline,
        status,
        settled_at,
        rerun_fuel,
    } = e;
    o::Execution {
        id,
        service,
        task,
        inputs,
        payer: match payer {
            objects::Payer::Account(a) => o::Payer::Account(a),
            objects::Payer::Process(p) => o::Payer::Process(p),
        },
        max_fee,
        escrow,
        verification: verification(kind),
        requested_at,
        named_runner,
        runner,
        runner_owner,
        assigned_at,
        deadline,
        commitment,
        result,
        verifiers: verifiers
            .into_iter()
            .map(|v| {
                let objects::VerifierSlot {
                    runner,
                    owner,
                    stake,
                    commitment,
                    verdict,
                } = v;
                o::VerifierSlot {
                    runner,
                    owner,
                    stake,
                    commitment,
                    verdict,
                }
            })
            .collect(),
        drawn_at,
        commit_deadline,
        reveal_deadline,
        status: execution_status(status),
        settled_at,
        rerun_fuel,
    }
}

pub fn execution_summary(s: objects::ExecutionSummary) -> o::ExecutionSummary {
    let objects::ExecutionSummary {
        id,
        service,
        status,
        settled_at,
    } = s;
    o::ExecutionSummary {
        id,
        service,
        status: execution_status(status),
        settled_at,
    }
}

fn walk_skip(s: st::WalkSkip) -> o::WalkSkip {
    let st::WalkSkip {
        height,
        node,
        reason,
    } = s;
    o::WalkSkip {
        height,
        node,
        reason: skip_cause(reason),
    }
}

pub fn process(p: st::Process) -> o::Process {
    let st::Process {
        id,
        owner,
        definition,
        balance,
        deposit,
        spend_cap,
        spent,
        spent_at,
        status,
        created_at,
        closed_at,
        walks,
        executions,
        skipped,
        last_skip,
    } = p;
    o::Process {
        id,
        owner,
        definition,
        balance,
        deposit,
        spend_cap,
        spent,
        spent_at,
        status: process_status(status),
        created_at,
        closed_at,
        walks,
        executions,
        skipped,
        last_skip: last_skip.map(walk_skip),
    }
}

pub fn process_summary(s: objects::ProcessSummary) -> o::ProcessSummary {
    let objects::ProcessSummary {
        id,
        owner,
        status,
        created_at,
        closed_at,
        walks,
        executions,
        skipped,
    } = s;
    o::ProcessSummary {
        id,
        owner,
        status: process_status(status),
        created_at,
        closed_at,
        walks,
        executions,
        skipped,
    }
}

pub fn event(e: st::EventRecord) -> o::EventRecord {
    let st::EventRecord {
        id,
        service,
        key,
        data,
        first_height,
        first_ms,
        reports,
        fired_at,
    } = e;
    o::EventRecord {
        id,
        service,
        key,
        data,
        first_height,
        first_ms,
        reports: reports
            .into_iter()
            .map(|r| {
                let objects::EventReport {
                    runner,
                    owner,
                    gas,
                    at_ms,
                } = r;
                o::EventReport {
                    runner,
                    owner,
                    gas,
                    at_ms,
                }
            })
            .collect(),
        fired_at,
    }
}

pub fn event_summary(s: objects::EventSummary) -> o::EventSummary {
    let objects::EventSummary {
        id,
        service,
        key,
        first_height,
        reports,
        fired_at,
    } = s;
    o::EventSummary {
        id,
        service,
        key,
        first_height,
        reports,
        fired_at,
    }
}

/// A proof, its value converted by `f`.
pub fn proved<T, U>(p: st::Proved<T>, f: impl FnOnce(T) -> U) -> o::Proved<U> {
    let st::Proved {
        height,
        state_root,
        key,
        value,
        proof,
    } = p;
    let runnet_state::store::Proof {
        siblings,
        other_leaf,
    } = proof;
    o::Proved {
        height,
        state_root,
        key,
        value: value.map(f),
        proof: o::Proof {
            siblings,
            other_leaf,
        },
    }
}

/// A mempool refusal's reason. Exhaustive: a new refusal needs a name in `runnet-api`.
pub fn admit_reason(e: &runnet_mempool::AdmitError) -> api::Reason {
    use api::Reason as R;
    use runnet_mempool::AdmitError as E;
    match e {
        E::Oversized { .. } => R::Oversized,
        E::Decode(_) => R::Decode,
        E::WrongChainId { .. } => R::WrongChainId,
        E::BadSignature => R::BadSignature,
        E::NonceTooLow { .. } => R::NonceTooLow,
        E::NonceTooHigh { .. } => R::NonceTooHigh,
        E::Duplicate(_) => R::Duplicate,
        E::NonceTaken { .. } => R::NonceTaken,
        E::InsufficientBalance { .. } => R::InsufficientBalance,
        E::GasPriceTooLow { .. } => R::GasPriceTooLow,
        E::GasLimitTooHigh { .. } => R::GasLimitTooHigh,
        E::Busy { .. } => R::Busy,
        E::RawDisabled => R::RawDisabled,
        E::RawTooSmall { .. } => R::RawTooSmall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_mempool::AdmitError as E;
    use runnet_types::Hash;

    /// The API's reason of each refusal is the name the mempool gives it (and its metrics use).
    #[test]
    fn admission_reasons_are_the_mempools_names() {
        let all = [
            E::Oversized { len: 2, limit: 1 },
            E::Decode(runnet_types::encoding::DecodeError::NotCanonical),
            E::WrongChainId {
                expected: "a".into(),
                got: "b".into(),
            },
            E::BadSignature,
            E::NonceTooLow {
                committed: 2,
                got: 1,
            },
            E::NonceTooHigh {
                committed: 0,
                window: 1,
                got: 9,
            },
            E::Duplicate(Hash::ZERO),
            E::NonceTaken {
                nonce: 0,
                pending: Hash::ZERO,
            },
            E::InsufficientBalance {
                needed: 2,
                balance: 1,
            },
            E::GasPriceTooLow { min: 2, got: 1 },
            E::GasLimitTooHigh { max: 1, got: 2 },
            E::Busy {
                pending_txs: 1,
                pending_bytes: 1,
            },
            E::RawDisabled,
            E::RawTooSmall { len: 1, min: 32 },
        ];
        for e in &all {
            assert_eq!(admit_reason(e).as_str(), e.kind(), "{e}");
        }
    }
}
