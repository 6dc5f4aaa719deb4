//! The genesis file: chain id, initial accounts and validators, and every parameter of the
//! economy with its default. JSON, validated with errors that name the field.
//!
//! Every parameter is a consensus rule: all nodes must load the same file, and its hash seeds the
//! randomness beacon.

use crate::address::Address;
use crate::crypto::PublicKey;
use crate::encoding;
use crate::hash::Hash;
use crate::service::DefinitionLimits;
use crate::tx::{Amount, MAX_PEER_ID_LEN, PayloadKind};
use crate::vrf::VrfPublicKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// Basis points: 10,000 = 100%.
pub const BPS: u64 = 10_000;

/// Chain time units (milliseconds) for the durations of [`Params`].
pub const SECOND_MS: u64 = 1_000;
pub const MINUTE_MS: u64 = 60 * SECOND_MS;
pub const HOUR_MS: u64 = 60 * MINUTE_MS;
pub const DAY_MS: u64 = 24 * HOUR_MS;

/// Gas per transaction kind, per byte of the encoded transaction, per byte it stores, per fuel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GasSchedule {
    pub transfer: u64,
    pub bond_validator: u64,
    pub unbond_validator: u64,
    pub unjail: u64,
    pub publish_service: u64,
    pub register_runner: u64,
    pub unregister_runner: u64,
    pub request_execution: u64,
    pub commit_result: u64,
    pub reveal_result: u64,
    pub submit_result: u64,
    pub commit_verdict: u64,
    pub reveal_verdict: u64,
    pub create_process: u64,
    pub fund_process: u64,
    pub close_process: u64,
    pub emit_event: u64,
    /// Two signature checks and a slash.
    pub evidence: u64,
    /// What a process walk spends of `walk_gas_per_block` per node visited and per reporter paid.
    pub walk_step: u64,
    /// Per byte of the transaction's canonical encoding.
    pub per_byte: u64,
    /// Per byte the transaction adds to the state for good (a service's definition and bundle).
    pub per_stored_byte: u64,
}

impl Default for GasSchedule {
    fn default() -> Self {
        GasSchedule {
            transfer: 1_000,
            bond_validator: 20_000,
            unbond_validator: 10_000,
            unjail: 10_000,
            publish_service: 50_000,
            register_runner: 20_000,
            unregister_runner: 10_000,
            request_execution: 20_000,
            commit_result: 5_000,
            reveal_result: 5_000,
            submit_result: 5_000,
            commit_verdict: 5_000,
            reveal_verdict: 5_000,
            create_process: 50_000,
            fund_process: 5_000,
            close_process: 10_000,
            emit_event: 10_000,
            evidence: 100_000,
            walk_step: 1_000,
            per_byte: 10,
            per_stored_byte: 20,
        }
    }
}

impl GasSchedule {
    pub fn base(&self, kind: PayloadKind) -> u64 {
        match kind {
            PayloadKind::Transfer => self.transfer,
            PayloadKind::BondValidator => self.bond_validator,
            PayloadKind::UnbondValidator => self.unbond_validator,
            PayloadKind::Unjail | PayloadKind::UnjailRunner => self.unjail,
            PayloadKind::PublishService => self.publish_service,
            PayloadKind::RegisterRunner => self.register_runner,
            PayloadKind::UnregisterRunner => self.unregister_runner,
            PayloadKind::RequestExecution => self.request_execution,
            PayloadKind::CommitResult => self.commit_result,
            PayloadKind::RevealResult => self.reveal_result,
            PayloadKind::SubmitResult => self.submit_result,
            PayloadKind::CommitVerdict => self.commit_verdict,
            PayloadKind::RevealVerdict => self.reveal_verdict,
            PayloadKind::CreateProcess => self.create_process,
            PayloadKind::FundProcess => self.fund_process,
            PayloadKind::CloseProcess => self.close_process,
            PayloadKind::EmitEvent => self.emit_event,
            PayloadKind::Evidence => self.evidence,
        }
    }
}

/// The economy's rules (docs/economy.md, "Parameters"). Shares and slashes are basis points.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    // Gas and blocks.
    pub min_gas_price: u64,
    pub gas: GasSchedule,
    pub max_block_gas: u64,
    pub max_block_bytes: u64,

    // Validators and epochs.
    /// How long an epoch lasts, in milliseconds of chain time: its last block is the first one
    /// stamped at or after the previous epoch's last block's time plus this (epoch 0: the
    /// genesis time plus this). docs/consensus.md, "Epochs".
    pub epoch_ms: u64,
    pub min_validators: u32,
    pub max_validators: u32,
    /// Chain time (ms) before unbonded validator stake is released.
    pub unbonding_ms: u64,
    /// Chain time (ms) a validator is jailed for after equivocation.
    pub jail_ms: u64,
    pub double_sign_slash: u64,
    /// Evidence about an epoch is refused once that epoch ended longer ago than this, in
    /// milliseconds of chain time.
    pub max_evidence_age_ms: u64,

    // Services.
    pub max_bundle_bytes: u64,
    pub max_definition_bytes: u64,
    pub max_tasks_per_service: u32,
    pub max_events_per_service: u32,
    /// Bounds of a task's `timeout_ms` (chain time from assignment to the runner's deadline).
    pub min_task_timeout_ms: u64,
    pub max_task_timeout_ms: u64,
    pub max_output_bytes: u32,

    // Runners and executions.
    pub min_runner_stake: Amount,
    /// Chain time (ms) after a leaving runner's last duty settles before its stake returns.
    pub runner_unbonding_ms: u64,
    pub verifier_fee: Amount,
    /// Verifiers drawn per verified execution: 1 to [`MAX_VERIFIERS_PER_EXECUTION`].
    pub verifiers_per_execution: u32,
    /// The runner draw is among fitting runners priced at most this share (basis points, at
    /// least 10,000) of the cheapest fitting price, stake-weighted within that band.
    pub price_band_bps: u64,
    /// Verifying duties a runner may hold at once (executions it was drawn to verify that have
    /// not settled), apart from `max_open`, which caps only the executions it runs.
    pub max_open_verifications: u32,
    /// The share of its price (basis points) a runner is paid for an execution no verdict
    /// carried (`completed_unverified`); the rest goes back to the payer.
    pub unverified_share: u64,
    /// Chain time (ms) drawn verifiers have to commit (closes early once all committed).
    pub commit_window_ms: u64,
    /// Chain time (ms) of each reveal window, the runner's then the verifiers'.
    pub reveal_window_ms: u64,
    /// Tokens per 1,000 units of VM fuel spent by the chain's own re-run of a disputed task.
    pub fuel_price: Amount,
    pub max_task_fuel: u64,
    /// Fuel the chain may spend per block re-running disputed WebAssembly tasks, each re-run
    /// counted at its worst case (`max_task_fuel`) before it runs; disputes beyond it wait, in
    /// order, for the next blocks. At least `max_task_fuel`, so every re-run fits in some block.
    pub max_rerun_fuel_per_block: u64,
    pub runner_share: u64,
    pub developer_share: u64,
    pub wrong_result_slash: u64,
    pub verifier_fault_slash: u64,
    /// Audits (docs/economy.md, "Audits"): the share (basis points) of WebAssembly executions
    /// settling without a dispute that the chain re-runs, drawn from the block's seed and the
    /// execution id, under `max_rerun_fuel_per_block`, before anything is paid.
    pub audit_share_bps: u64,
    /// The share (basis points) of every WebAssembly execution's price set aside, out of the
    /// runner's part, into the audit pool that pays the fuel of audits that confirm the result.
    /// At most `runner_share`.
    pub audit_pool_bps: u64,
    /// Verifier slash when an audit overturns a result it voted for.
    pub audit_fault_slash: u64,
    /// Downtime (docs/economy.md, "Downtime"): a runner's last `duty_window` duties (executions
    /// it ran or was drawn to verify, 1 to 64) are recorded; more than `max_missed_duties` of
    /// them missed jails it for `downtime_jail_ms` of chain time with one slash of `downtime_slash`.
    pub duty_window: u32,
    pub max_missed_duties: u32,
    pub downtime_slash: u64,
    pub downtime_jail_ms: u64,
    /// Validator downtime: of the last `signed_blocks_window` heights (1 to 65,536), a
    /// validator of their committee missing from more than `max_missed_blocks` certificates
    /// (not a signer and not the proposer) is jailed for `downtime_jail_ms` with one
    /// `downtime_slash`.
    pub signed_blocks_window: u64,
    pub max_missed_blocks: u64,

    // Processes and emitters.
    pub process_deposit: Amount,
    pub max_process_nodes: u32,
    pub walk_gas_per_block: u64,
    pub min_emitters: u32,
    /// The reporters' share of the service's eligible runner stake for an event to fire: at
    /// least [`MIN_EMITTER_STAKE_BPS`] (two thirds).
    pub min_emitter_stake_bps: u64,
    /// Reports count within this much chain time (ms) of an event's first report.
    pub event_window_ms: u64,
    pub emitter_incentive: Amount,
    /// Burned from the reporter's account with each EmitEvent; the processes an event fires
    /// reimburse it to the reporters of its quorum, with their gas. A report that never makes a
    /// quorum loses it.
    pub event_report_bond: Amount,
    /// Largest event data (record bytes) an EmitEvent may carry.
    pub max_event_bytes: u32,

    // Housekeeping.
    /// Chain time (ms) finished executions, event records and closed processes are kept.
    pub retention_ms: u64,

    /// The deterministic VM's limits: they decide where a module traps, so they are rules.
    pub vm: VmParams,
}

/// The limits of the deterministic VM (`runnet_vm_exec::VmLimits`, whose defaults these are),
/// without its cache size, which is a node's local tuning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VmParams {
    /// Largest module binary accepted, in bytes.
    pub max_module_bytes: u64,
    /// Largest linear memory in 64 KiB pages (declared, and reachable by `memory.grow`).
    pub max_memory_pages: u32,
    pub max_table_elements: u32,
    pub max_functions: u32,
    pub max_globals: u32,
    /// Data segments plus element segments.
    pub max_segments: u32,
    /// Locals (parameters included) in one function.
    pub max_locals: u32,
    /// Deepest call nesting; one deeper traps with `stack_overflow`.
    pub max_recursion_depth: u64,
    /// Largest value stack, in the engine's units.
    pub max_stack_height: u64,
    /// Largest task input, in bytes.
    pub max_input_bytes: u64,
}

impl Default for VmParams {
    fn default() -> Self {
        VmParams {
            max_module_bytes: 1024 * 1024,
            max_memory_pages: 256,
            max_table_elements: 4096,
            max_functions: 10_000,
            max_globals: 1_000,
            max_segments: 1_000,
            max_locals: 4_096,
            max_recursion_depth: 1_000,
            max_stack_height: 1_000_000,
            max_input_bytes: 1024 * 1024,
        }
    }
}

/// The smallest `min_emitter_stake_bps`: the first basis point at or above two thirds.
pub const MIN_EMITTER_STAKE_BPS: u64 = 6_667;

/// The most verifiers one execution may draw: every settlement walks them, and the escrow holds
/// a fee for each.
pub const MAX_VERIFIERS_PER_EXECUTION: u32 = 16;
/// The most duties a runner's record keeps (a 64-bit log).
pub const MAX_DUTY_WINDOW: u32 = 64;
/// The widest validator window: an 8 KiB record per validator.
pub const MAX_SIGNED_BLOCKS_WINDOW: u64 = 65_536;
/// The widest price band: 100 times the cheapest price (beyond it price hardly counts).
pub const MAX_PRICE_BAND_BPS: u64 = 100 * BPS;
/// Encoded bytes of a verifier's two transactions, a CommitVerdict and a RevealVerdict whose
/// verdict carries no result bytes (a check verdict, or a re-run of an empty result), signed,
/// with a 64-byte chain id and the widest nonce and gas fields. Measured by the test
/// `the_verifier_gas_floor_covers_a_commit_and_a_reveal`; a re-run's result bytes come on top
/// and are paid per byte (docs/economy.md, "Payouts").
pub const VERDICT_TXS_BYTES: u64 = 536;

/// WebAssembly's own ceiling on a 32-bit memory: 4 GiB in 64 KiB pages.
pub const MAX_WASM_PAGES: u32 = 65_536;
/// Ceilings that keep a VM a node can run: a value stack or call depth past these is a typo.
pub const MAX_VM_STACK_HEIGHT: u64 = 1 << 28;
pub const MAX_VM_RECURSION_DEPTH: u64 = 1 << 20;

impl VmParams {
    fn validate(&self) -> Result<(), GenesisError> {
        let field = |name: &str, problem: &str| -> Result<(), GenesisError> {
            Err(GenesisError::field(format!("params.vm.{name}"), problem))
        };
        for (name, value) in [
            ("max_module_bytes", self.max_module_bytes),
            ("max_memory_pages", u64::from(self.max_memory_pages)),
            ("max_table_elements", u64::from(self.max_table_elements)),
            ("max_functions", u64::from(self.max_functions)),
            ("max_globals", u64::from(self.max_globals)),
            ("max_segments", u64::from(self.max_segments)),
            ("max_locals", u64::from(self.max_locals)),
            ("max_recursion_depth", self.max_recursion_depth),
            ("max_stack_height", self.max_stack_height),
            ("max_input_bytes", self.max_input_bytes),
        ] {
            if value == 0 {
                return field(name, "must be at least 1");
            }
        }
        if self.max_memory_pages > MAX_WASM_PAGES {
            return field("max_memory_pages", "must be at most 65536 (4 GiB)");
        }
        if self.max_stack_height > MAX_VM_STACK_HEIGHT {
            return field("max_stack_height", "must be at most 268435456");
        }
        if self.max_recursion_depth > MAX_VM_RECURSION_DEPTH {
            return field("max_recursion_depth", "must be at most 1048576");
        }
        if self.max_module_bytes > crate::tx::MAX_TX_BYTES as u64
            || self.max_input_bytes > crate::tx::MAX_TX_BYTES as u64
        {
            return field(
                if self.max_module_bytes > crate::tx::MAX_TX_BYTES as u64 {
                    "max_module_bytes"
                } else {
                    "max_input_bytes"
                },
                "must be at most the transaction size limit (2 MiB)",
            );
        }
        Ok(())
    }
}

impl Params {
    /// The gas of a verifier's commit and reveal, a re-run's result bytes apart: base costs plus
    /// [`VERDICT_TXS_BYTES`] at `per_byte`. `verifier_fee` must pay it at `min_gas_price`.
    pub fn verifier_gas(&self) -> u128 {
        u128::from(self.gas.commit_verdict)
            + u128::from(self.gas.reveal_verdict)
            + u128::from(self.gas.per_byte) * u128::from(VERDICT_TXS_BYTES)
    }

    /// What a verifier is paid for a revealed verdict carrying `result_bytes` of a re-run's
    /// result: `verifier_fee`, plus those bytes' gas at `min_gas_price` (its reveal pays
    /// `per_byte` for each).
    pub fn verifier_pay(&self, result_bytes: usize) -> Amount {
        let extra =
            u128::from(self.min_gas_price) * u128::from(self.gas.per_byte) * result_bytes as u128;
        (u128::from(self.verifier_fee) + extra).min(u128::from(Amount::MAX)) as Amount
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_gas_price: 1,
            gas: GasSchedule::default(),
            max_block_gas: 20_000_000_000,
            max_block_bytes: 32 << 20,
            // An hour: a validator set changes at most hourly, as bonds, unbonds and jails
            // take effect at epoch ends.
            epoch_ms: HOUR_MS,
            min_validators: 1,
            max_validators: 100,
            // Durations are chain time (docs/economy.md, "Parameters and defaults" says why each).
            // 21 days: long enough for evidence, and for a node that was offline, to catch up.
            unbonding_ms: 21 * DAY_MS,
            // The slash is the punishment; the jail keeps the offender out of the next committee.
            jail_ms: 10 * MINUTE_MS,
            double_sign_slash: 500,
            // Two days: evidence of a double sign lands within hours at worst; the stake it
            // slashes stays bonded (unbonding) for longer than this.
            max_evidence_age_ms: 2 * DAY_MS,
            max_bundle_bytes: 1 << 20,
            max_definition_bytes: 64 << 10,
            max_tasks_per_service: 32,
            max_events_per_service: 32,
            // Above the 2 s a proposer's clock may run ahead (max_clock_drift_ms), which
            // eats into any deadline; an hour for the longest jobs.
            min_task_timeout_ms: 5 * SECOND_MS,
            max_task_timeout_ms: HOUR_MS,
            max_output_bytes: 64 << 10,
            min_runner_stake: 1_000_000,
            runner_unbonding_ms: HOUR_MS,
            // A verifier's commit and reveal cost at most 15,360 gas with the default schedule
            // (verifier_gas): 30% more, so that verifying pays at min_gas_price.
            verifier_fee: 20_000,
            verifiers_per_execution: 3,
            price_band_bps: 15_000,
            max_open_verifications: 32,
            unverified_share: 5_000,
            // Tens of seconds: a node's short outage or restart must not miss a whole window
            // (a committed verifier down for all of the verifiers' window is slashed).
            commit_window_ms: 30 * SECOND_MS,
            reveal_window_ms: 30 * SECOND_MS,
            fuel_price: 1,
            max_task_fuel: 100_000_000,
            // Four worst-case re-runs: about 4 x 20 ms of one core (docs/vm.md, "Measured"), under
            // a tenth of the 1 s empty-block interval, so a burst of disputes cannot stretch every
            // validator's block; and more than one, so an ordinary block's few disputes do not wait.
            max_rerun_fuel_per_block: 400_000_000,
            runner_share: 8_000,
            developer_share: 2_000,
            wrong_result_slash: 5_000,
            verifier_fault_slash: 2_000,
            // A fifth of undisputed WebAssembly executions re-run, a lazy verifier caught losing
            // half its stake and its pay: 20% x (500,000 of the minimum stake + 20,080) = 104,016
            // per wrong result it agrees with, more than the chain's price of the costliest
            // task's fuel (100,000) it saves (docs/economy.md, "Audits").
            audit_share_bps: 2_000,
            audit_pool_bps: 500,
            audit_fault_slash: 5_000,
            // A missed duty costs its fee, not stake; a runner missing more than half of its
            // last 32 duties is jailed for 10 minutes with a 1% slash (the Cosmos SDK's
            // downtime rule counts half of a window too, with a 0.01-1% slash).
            duty_window: 32,
            max_missed_duties: 16,
            downtime_slash: 100,
            downtime_jail_ms: 10 * MINUTE_MS,
            // A validator in under 10% of the last 200 certificates (20 to 100 s of blocks): a
            // live one is in far more, even when it is often the slowest voter and a third of
            // the stake leaves it out of the certificates it forms.
            signed_blocks_window: 200,
            max_missed_blocks: 180,
            process_deposit: 10_000,
            max_process_nodes: 32,
            walk_gas_per_block: 10_000_000,
            min_emitters: 2,
            min_emitter_stake_bps: MIN_EMITTER_STAKE_BPS,
            event_window_ms: 30 * SECOND_MS,
            emitter_incentive: 100,
            event_report_bond: 10_000,
            max_event_bytes: 4_096,
            retention_ms: HOUR_MS,
            vm: VmParams::default(),
        }
    }
}

impl Params {
    pub fn definition_limits(&self) -> DefinitionLimits {
        DefinitionLimits {
            min_task_timeout_ms: self.min_task_timeout_ms,
            max_task_timeout_ms: self.max_task_timeout_ms,
            max_output_bytes: self.max_output_bytes,
            max_tasks: self.max_tasks_per_service as usize,
            max_events: self.max_events_per_service as usize,
            max_definition_bytes: self.max_definition_bytes as usize,
        }
    }

    pub fn validate(&self) -> Result<(), GenesisError> {
        let field = |name: &str, problem: &str| -> Result<(), GenesisError> {
            Err(GenesisError::field(format!("params.{name}"), problem))
        };
        for (name, bps) in [
            ("double_sign_slash", self.double_sign_slash),
            ("runner_share", self.runner_share),
            ("developer_share", self.developer_share),
            ("wrong_result_slash", self.wrong_result_slash),
            ("verifier_fault_slash", self.verifier_fault_slash),
            ("audit_share_bps", self.audit_share_bps),
            ("audit_pool_bps", self.audit_pool_bps),
            ("audit_fault_slash", self.audit_fault_slash),
            ("downtime_slash", self.downtime_slash),
            ("unverified_share", self.unverified_share),
            ("min_emitter_stake_bps", self.min_emitter_stake_bps),
        ] {
            if bps > BPS {
                return field(name, "is basis points: at most 10000");
            }
        }
        if self.runner_share + self.developer_share != BPS {
            return field(
                "developer_share",
                "runner_share + developer_share must be 10000",
            );
        }
        if self.audit_pool_bps > self.runner_share {
            return field(
                "audit_pool_bps",
                "must be at most runner_share: the audit pool's share comes out of the runner's part of the price",
            );
        }
        for (name, value) in [
            ("epoch_ms", self.epoch_ms),
            ("max_evidence_age_ms", self.max_evidence_age_ms),
            ("max_block_gas", self.max_block_gas),
            ("max_block_bytes", self.max_block_bytes),
            ("min_task_timeout_ms", self.min_task_timeout_ms),
            ("commit_window_ms", self.commit_window_ms),
            ("reveal_window_ms", self.reveal_window_ms),
            ("retention_ms", self.retention_ms),
            ("event_window_ms", self.event_window_ms),
            ("runner_unbonding_ms", self.runner_unbonding_ms),
            ("jail_ms", self.jail_ms),
            ("min_emitters", u64::from(self.min_emitters)),
            (
                "max_open_verifications",
                u64::from(self.max_open_verifications),
            ),
            ("max_process_nodes", u64::from(self.max_process_nodes)),
            ("max_output_bytes", u64::from(self.max_output_bytes)),
            ("max_task_fuel", self.max_task_fuel),
            ("max_rerun_fuel_per_block", self.max_rerun_fuel_per_block),
            ("min_runner_stake", self.min_runner_stake),
            ("max_event_bytes", u64::from(self.max_event_bytes)),
            ("walk_gas_per_block", self.walk_gas_per_block),
            ("gas.walk_step", self.gas.walk_step),
            ("downtime_jail_ms", self.downtime_jail_ms),
        ] {
            if value == 0 {
                return field(name, "must be at least 1");
            }
        }
        if self.min_validators == 0 {
            return field("min_validators", "must be at least 1");
        }
        if self.max_validators < self.min_validators {
            return field("max_validators", "must be at least min_validators");
        }
        if self.max_rerun_fuel_per_block < self.max_task_fuel {
            return field(
                "max_rerun_fuel_per_block",
                "must be at least max_task_fuel, or a re-run at the task fuel limit would never fit in a block",
            );
        }
        if self.verifiers_per_execution == 0
            || self.verifiers_per_execution > MAX_VERIFIERS_PER_EXECUTION
        {
            return field(
                "verifiers_per_execution",
                "must be 1 to 16: a task verified by nobody is not verified",
            );
        }
        if u128::from(self.verifier_fee) < u128::from(self.min_gas_price) * self.verifier_gas() {
            return Err(GenesisError::field(
                "params.verifier_fee",
                format!(
                    "must cover a verifier's gas for a commit and a reveal at min_gas_price \
                     ((gas.commit_verdict + gas.reveal_verdict + gas.per_byte x \
                     {VERDICT_TXS_BYTES}) x min_gas_price = {}), or verifying loses money",
                    u128::from(self.min_gas_price) * self.verifier_gas()
                ),
            ));
        }
        if self.duty_window == 0 || self.duty_window > MAX_DUTY_WINDOW {
            return field(
                "duty_window",
                "must be 1 to 64 (the duties a runner's record keeps)",
            );
        }
        if self.signed_blocks_window == 0 || self.signed_blocks_window > MAX_SIGNED_BLOCKS_WINDOW {
            return field("signed_blocks_window", "must be 1 to 65536");
        }
        if self.max_missed_blocks >= self.signed_blocks_window {
            return field(
                "max_missed_blocks",
                "must be less than signed_blocks_window, or no validator could ever be jailed",
            );
        }
        if self.max_missed_duties >= self.duty_window {
            return field(
                "max_missed_duties",
                "must be less than duty_window, or no runner could ever be jailed",
            );
        }
        if self.price_band_bps < BPS || self.price_band_bps > MAX_PRICE_BAND_BPS {
            return field(
                "price_band_bps",
                "must be 10000 (only the cheapest price) to 1000000 (100 times it)",
            );
        }
        if self.max_task_timeout_ms < self.min_task_timeout_ms {
            return field(
                "max_task_timeout_ms",
                "must be at least min_task_timeout_ms",
            );
        }
        if self.max_evidence_age_ms >= self.unbonding_ms {
            return field(
                "max_evidence_age_ms",
                "must be shorter than unbonding_ms, or a validator could unbond before its evidence lands",
            );
        }
        if self.min_emitter_stake_bps < MIN_EMITTER_STAKE_BPS {
            return field(
                "min_emitter_stake_bps",
                "must be at least 6667 (two thirds): a coalition of less than two thirds of a service's stake must not fire its events",
            );
        }
        if self.retention_ms <= self.event_window_ms {
            return field(
                "retention_ms",
                "must be longer than event_window_ms, or an event's reports could be pruned while it still collects them",
            );
        }
        if self.max_event_bytes as usize > crate::tx::MAX_TX_BYTES / 2 {
            return field("max_event_bytes", "must be at most 1 MiB");
        }
        self.vm.validate()?;
        if self.max_bundle_bytes > (crate::tx::MAX_TX_BYTES as u64) / 2 {
            return field(
                "max_bundle_bytes",
                "must be at most 1 MiB (half the transaction size limit)",
            );
        }
        Ok(())
    }
}

/// Timing of consensus. Not part of the state transition, but every validator must agree on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusParams {
    /// With nothing to order, the leader waits this long before proposing an empty block.
    pub empty_block_interval_ms: u64,
    /// The first round's timeout; it doubles with each round since the last commit.
    pub base_round_timeout_ms: u64,
    /// The cap on the round timeout.
    pub max_round_timeout_ms: u64,
    /// A block follows its parent (by chain time) after at least this long, unless its
    /// payload fills it: fewer, fuller blocks when load is light (per-block work dominates a
    /// validator's CPU), none delayed when it is heavy.
    pub min_block_interval_ms: u64,
    /// Voters refuse a proposal whose timestamp is further ahead of their own clock.
    pub max_clock_drift_ms: u64,
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            // At most half the base timeout (the pacemaker caps it there).
            empty_block_interval_ms: 500,
            // A crashed or cut-off validator costs one base timeout before the others go on
            // without it (consensus/src/reputation.rs): short enough that no stretch without
            // a commit lasts 2 s.
            base_round_timeout_ms: 1_000,
            max_round_timeout_ms: 30_000,
            min_block_interval_ms: 100,
            max_clock_drift_ms: 2_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    pub address: Address,
    pub balance: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// The validator's account (it owns the stake).
    pub address: Address,
    pub consensus_key: PublicKey,
    pub vrf_key: VrfPublicKey,
    pub peer_id: String,
    pub stake: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: String,
    /// Chain time at genesis, in milliseconds since the Unix epoch: epoch 0 ends `epoch_ms`
    /// after it. A genesis written without one (0) has a first epoch that ends with its first
    /// block.
    #[serde(default)]
    pub genesis_time_ms: u64,
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    pub validators: Vec<GenesisValidator>,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub consensus: ConsensusParams,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum GenesisError {
    #[error("{file}genesis field '{field}': {problem}")]
    Field {
        file: String,
        field: String,
        problem: String,
    },
    #[error("{file}: {problem}")]
    File { file: String, problem: String },
}

impl GenesisError {
    fn field(field: impl Into<String>, problem: impl Into<String>) -> GenesisError {
        GenesisError::Field {
            file: String::new(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn in_file(self, path: &Path) -> GenesisError {
        match self {
            GenesisError::Field { field, problem, .. } => GenesisError::Field {
                file: format!("{}: ", path.display()),
                field,
                problem,
            },
            other => other,
        }
    }
}

pub fn check_chain_id(chain_id: &str) -> bool {
    !chain_id.is_empty()
        && chain_id.len() <= 64
        && chain_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Genesis {
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        let genesis: Genesis = serde_json::from_str(text).map_err(|e| GenesisError::File {
            file: "genesis".into(),
            problem: e.to_string(),
        })?;
        genesis.validate()?;
        Ok(genesis)
    }

    pub fn load(path: &Path) -> Result<Genesis, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|e| GenesisError::File {
            file: path.display().to_string(),
            problem: format!("cannot read: {e}"),
        })?;
        let genesis: Genesis = serde_json::from_str(&text).map_err(|e| GenesisError::File {
            file: path.display().to_string(),
            problem: e.to_string(),
        })?;
        genesis.validate().map_err(|e| e.in_file(path))?;
        Ok(genesis)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The hash every node agrees on; it seeds the randomness beacon.
    pub fn hash(&self) -> Hash {
        encoding::hash_of(self)
    }

    /// Balances plus stakes: the supply the invariants conserve.
    pub fn total_supply(&self) -> Option<Amount> {
        self.accounts
            .iter()
            .map(|a| a.balance)
            .chain(self.validators.iter().map(|v| v.stake))
            .try_fold(0u64, |sum, x| sum.checked_add(x))
    }

    pub fn validate(&self) -> Result<(), GenesisError> {
        if !check_chain_id(&self.chain_id) {
            return Err(GenesisError::field(
                "chain_id",
                "must be 1 to 64 characters of a-z, 0-9, '-' and '_'",
            ));
        }
        self.params.validate()?;
        let mut seen = BTreeSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            if !seen.insert(account.address) {
                return Err(GenesisError::field(
                    format!("accounts[{i}].address"),
                    format!("{} is listed twice", account.address),
                ));
            }
        }
        if self.validators.is_empty() {
            return Err(GenesisError::field(
                "validators",
                "at least one validator is needed",
            ));
        }
        if self.validators.len() < self.params.min_validators as usize {
            return Err(GenesisError::field(
                "validators",
                format!(
                    "fewer than params.min_validators ({})",
                    self.params.min_validators
                ),
            ));
        }
        if self.validators.len() > self.params.max_validators as usize {
            return Err(GenesisError::field(
                "validators",
                format!(
                    "more than params.max_validators ({})",
                    self.params.max_validators
                ),
            ));
        }
        let mut addresses = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for (i, validator) in self.validators.iter().enumerate() {
            let at = |f: &str| format!("validators[{i}].{f}");
            if !addresses.insert(validator.address) {
                return Err(GenesisError::field(at("address"), "validator listed twice"));
            }
            if !keys.insert(validator.consensus_key) {
                return Err(GenesisError::field(
                    at("consensus_key"),
                    "used by two validators",
                ));
            }
            if validator.consensus_key.is_weak() {
                return Err(GenesisError::field(
                    at("consensus_key"),
                    "a point of small order: anyone could sign with it",
                ));
            }
            if validator.stake == 0 {
                return Err(GenesisError::field(at("stake"), "must be at least 1"));
            }
            if validator.peer_id.len() > MAX_PEER_ID_LEN {
                return Err(GenesisError::field(at("peer_id"), "too long"));
            }
        }
        if self.total_supply().is_none() {
            return Err(GenesisError::field(
                "accounts",
                "balances and stakes add up to more than 2^64 - 1",
            ));
        }
        let consensus = &self.consensus;
        if consensus.base_round_timeout_ms == 0 {
            return Err(GenesisError::field(
                "consensus.base_round_timeout_ms",
                "must be at least 1",
            ));
        }
        if consensus.max_round_timeout_ms < consensus.base_round_timeout_ms {
            return Err(GenesisError::field(
                "consensus.max_round_timeout_ms",
                "must be at least base_round_timeout_ms",
            ));
        }
        if consensus.min_block_interval_ms.saturating_mul(2) > consensus.base_round_timeout_ms {
            return Err(GenesisError::field(
                "consensus.min_block_interval_ms",
                "must be at most half of base_round_timeout_ms (a leader waiting it out would be timed out)",
            ));
        }
        if consensus.max_clock_drift_ms == 0 {
            return Err(GenesisError::field(
                "consensus.max_clock_drift_ms",
                "must be at least 1 (0 would refuse every block made by a clock a millisecond ahead)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::vrf::VrfSecretKey;

    pub fn sample() -> Genesis {
        let key = SecretKey::from_seed([1; 32]);
        Genesis {
            chain_id: "runnet-test".into(),
            genesis_time_ms: 0,
            accounts: vec![GenesisAccount {
                address: Address([7; 20]),
                balance: 1_000,
            }],
            validators: vec![GenesisValidator {
                address: key.public().address(),
                consensus_key: key.public(),
                vrf_key: VrfSecretKey::from_seed([2; 32]).public(),
                peer_id: "peer".into(),
                stake: 100,
            }],
            params: Params::default(),
            consensus: ConsensusParams::default(),
        }
    }

    #[test]
    fn defaults_are_valid_and_json_round_trips() {
        let genesis = sample();
        genesis.validate().unwrap();
        let text = genesis.to_json();
        assert_eq!(Genesis::from_json(&text).unwrap(), genesis);
        assert_eq!(genesis.total_supply(), Some(1_100));
    }

    #[test]
    fn missing_params_take_defaults() {
        let mut value: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        value.as_object_mut().unwrap().remove("params");
        value["consensus"] = serde_json::json!({"empty_block_interval_ms": 500});
        let genesis = Genesis::from_json(&value.to_string()).unwrap();
        assert_eq!(genesis.params, Params::default());
        assert_eq!(genesis.consensus.empty_block_interval_ms, 500);
        // A partial vm section keeps the other defaults.
        let mut value: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        value["params"] = serde_json::json!({"vm": {"max_memory_pages": 16}});
        let genesis = Genesis::from_json(&value.to_string()).unwrap();
        assert_eq!(genesis.params.vm.max_memory_pages, 16);
        assert_eq!(genesis.params.vm.max_locals, VmParams::default().max_locals);
        assert_eq!(genesis.consensus.base_round_timeout_ms, 1_000);
    }

    fn error_of(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        edit(&mut value);
        Genesis::from_json(&value.to_string())
            .unwrap_err()
            .to_string()
    }

    /// The downtime parameters: a duty window a runner's 64-bit record can hold, a threshold
    /// below it, a jail of at least a block, a slash in basis points; the removed per-miss
    /// slashes are unknown fields now.
    #[test]
    fn downtime_params_are_validated() {
        for (name, value, expect) in [
            ("duty_window", 0u64, "params.duty_window"),
            ("duty_window", 65, "params.duty_window"),
            ("max_missed_duties", 32, "params.max_missed_duties"),
            ("downtime_jail_ms", 0, "params.downtime_jail_ms"),
            ("signed_blocks_window", 0, "params.signed_blocks_window"),
            (
                "signed_blocks_window",
                65_537,
                "params.signed_blocks_window",
            ),
            ("max_missed_blocks", 200, "params.max_missed_blocks"),
            ("downtime_slash", 10_001, "params.downtime_slash"),
            ("missed_deadline_slash", 1_000, "missed_deadline_slash"),
            ("verifier_absent_slash", 500, "verifier_absent_slash"),
        ] {
            let error = error_of(|v| v["params"][name] = value.into());
            assert!(error.contains(expect), "{name} = {value}: {error}");
        }
        let edge = Params {
            duty_window: 64,
            max_missed_duties: 63,
            ..Params::default()
        };
        assert!(edge.validate().is_ok());
    }

    /// Durations are chain time in milliseconds: the old block-counted names are refused as
    /// unknown fields (a genesis file written for blocks would otherwise be read as
    /// milliseconds), zero durations and inconsistent ones name their field.
    #[test]
    fn durations_are_chain_time_and_validated() {
        for old in [
            "unbonding_blocks",
            "jail_blocks",
            "min_task_timeout",
            "max_task_timeout",
            "runner_unbonding_blocks",
            "commit_window",
            "reveal_window",
            "downtime_jail_blocks",
            "event_window_blocks",
            "retention_blocks",
        ] {
            let error = error_of(|v| v["params"][old] = 5.into());
            assert!(error.contains(old), "{old}: {error}");
        }
        for name in [
            "jail_ms",
            "min_task_timeout_ms",
            "runner_unbonding_ms",
            "commit_window_ms",
            "reveal_window_ms",
            "event_window_ms",
            "retention_ms",
        ] {
            let error = error_of(|v| v["params"][name] = 0.into());
            assert!(error.contains(&format!("params.{name}")), "{name}: {error}");
        }
        assert!(
            error_of(|v| v["params"]["max_task_timeout_ms"] = 4_999.into())
                .contains("params.max_task_timeout_ms")
        );
        assert!(
            error_of(|v| v["params"]["retention_ms"] = 30_000.into())
                .contains("params.retention_ms")
        );
        let defaults = Params::default();
        assert_eq!(defaults.unbonding_ms, 21 * DAY_MS);
        assert_eq!(defaults.reveal_window_ms, 30 * SECOND_MS);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(error_of(|v| v["chain_id"] = "Bad Id".into()).contains("'chain_id'"));
        assert!(
            error_of(|v| v["params"]["runner_share"] = 9_000.into())
                .contains("params.developer_share")
        );
        assert!(
            error_of(|v| v["params"]["wrong_result_slash"] = 10_001.into())
                .contains("params.wrong_result_slash")
        );
        assert!(
            error_of(|v| v["params"]["min_emitter_stake_bps"] = 6_666.into())
                .contains("params.min_emitter_stake_bps")
        );
        assert!(
            error_of(|v| v["params"]["unbonding_ms"] = 100_000.into())
                .contains("params.max_evidence_age_ms")
        );
        assert!(
            error_of(|v| v["params"]["max_evidence_age_ms"] = 0.into())
                .contains("params.max_evidence_age_ms")
        );
        assert!(
            error_of(|v| v["validators"][0]["stake"] = 0.into()).contains("validators[0].stake")
        );
        assert!(error_of(|v| v["validators"] = serde_json::json!([])).contains("'validators'"));
        assert!(error_of(|v| v["accounts"][0]["balance"] = u64::MAX.into()).contains("2^64"));
        let dup = error_of(|v| {
            let a = v["accounts"][0].clone();
            v["accounts"].as_array_mut().unwrap().push(a);
        });
        assert!(dup.contains("accounts[1].address"), "{dup}");
        assert!(error_of(|v| v["params"]["typo_field"] = 1.into()).contains("typo_field"));
        assert!(
            error_of(|v| v["params"]["vm"]["max_memory_pages"] = 70_000.into())
                .contains("params.vm.max_memory_pages")
        );
        assert!(
            error_of(|v| v["params"]["vm"]["max_locals"] = 0.into())
                .contains("params.vm.max_locals")
        );
        assert!(
            error_of(|v| v["params"]["retention_ms"] = 10.into()).contains("params.retention_ms")
        );
        assert!(
            error_of(|v| v["params"]["max_rerun_fuel_per_block"] = 0.into())
                .contains("params.max_rerun_fuel_per_block")
        );
        let short = error_of(|v| v["params"]["max_rerun_fuel_per_block"] = 99_999_999.into());
        assert!(
            short.contains("params.max_rerun_fuel_per_block") && short.contains("max_task_fuel"),
            "{short}"
        );
        for bad in [0, 17] {
            assert!(
                error_of(|v| v["params"]["verifiers_per_execution"] = bad.into())
                    .contains("params.verifiers_per_execution")
            );
        }
        assert!(
            error_of(|v| v["params"]["max_open_verifications"] = 0.into())
                .contains("params.max_open_verifications")
        );
        assert!(
            error_of(|v| v["params"]["unverified_share"] = 10_001.into())
                .contains("params.unverified_share")
        );
        for bad in [9_999, 1_000_001] {
            assert!(
                error_of(|v| v["params"]["price_band_bps"] = bad.into())
                    .contains("params.price_band_bps")
            );
        }
        assert!(
            error_of(|v| v["params"]["gas"]["walk_step"] = 0.into())
                .contains("params.gas.walk_step")
        );
        assert!(
            error_of(|v| v["accounts"][0]["address"] = "0x12".into()).contains("40 hex digits")
        );
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.json");
        let err = Genesis::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("genesis.json") && err.contains("cannot read"),
            "{err}"
        );
        std::fs::write(&path, "{").unwrap();
        assert!(
            Genesis::load(&path)
                .unwrap_err()
                .to_string()
                .contains("genesis.json")
        );
        let mut bad = sample();
        bad.params.epoch_ms = 0;
        std::fs::write(&path, bad.to_json()).unwrap();
        let err = Genesis::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("genesis.json") && err.contains("params.epoch_ms"),
            "{err}"
        );
    }

    /// A verifier's two transactions, signed, with the longest chain id and the widest numbers:
    /// what [`VERDICT_TXS_BYTES`] must cover.
    fn verdict_txs_bytes() -> (usize, usize) {
        use crate::execution::{TaskResult, Verdict};
        use crate::tx::{Payload, TxBody};
        let key = SecretKey::from_seed([3; 32]);
        let size = |payload: Payload| {
            TxBody {
                chain_id: "x".repeat(64),
                sender: key.public(),
                nonce: u64::MAX,
                gas_limit: u64::MAX,
                gas_price: u64::MAX,
                payload,
            }
            .sign(&key)
            .encode()
            .len()
        };
        let commit = size(Payload::CommitVerdict {
            execution: Hash([1; 32]),
            commitment: Hash([2; 32]),
        });
        let reveals = [
            Verdict::Check { valid: true },
            Verdict::Rerun(TaskResult::Output(Vec::new())),
            Verdict::Rerun(TaskResult::Error(Vec::new())),
        ]
        .map(|verdict| {
            size(Payload::RevealVerdict {
                execution: Hash([1; 32]),
                verdict,
                salt: Hash([3; 32]),
            })
        });
        (commit, reveals.into_iter().max().unwrap_or(0))
    }

    #[test]
    fn the_verifier_gas_floor_covers_a_commit_and_a_reveal() {
        let (commit, reveal) = verdict_txs_bytes();
        eprintln!("verdict transactions: commit {commit} bytes, reveal {reveal} bytes");
        assert_eq!((commit + reveal) as u64, VERDICT_TXS_BYTES);
        let params = Params::default();
        assert_eq!(
            params.verifier_gas(),
            u128::from(params.gas.commit_verdict + params.gas.reveal_verdict)
                + u128::from(params.gas.per_byte) * u128::from(VERDICT_TXS_BYTES)
        );
        // The default fee covers it with a margin.
        assert!(u128::from(params.verifier_fee) * 10 >= params.verifier_gas() * 12);
        let short = error_of(|v| {
            v["params"]["verifier_fee"] = (Params::default().verifier_gas() as u64 - 1).into()
        });
        assert!(short.contains("params.verifier_fee"), "{short}");
        // Free gas makes a free duty: any fee covers it.
        let mut value: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        value["params"]["verifier_fee"] = 0.into();
        value["params"]["min_gas_price"] = 0.into();
        Genesis::from_json(&value.to_string()).unwrap();
    }

    /// The audit parameters: basis points, and a pool share the runner's part can pay.
    #[test]
    fn audit_params_are_validated() {
        for (name, value, expect) in [
            ("audit_share_bps", 10_001u64, "params.audit_share_bps"),
            ("audit_pool_bps", 10_001, "params.audit_pool_bps"),
            ("audit_pool_bps", 8_001, "params.audit_pool_bps"),
            ("audit_fault_slash", 10_001, "params.audit_fault_slash"),
        ] {
            let error = error_of(|v| v["params"][name] = value.into());
            assert!(error.contains(expect), "{name} = {value}: {error}");
        }
        assert!(
            error_of(|v| v["params"]["audit_pool_bps"] = 8_001.into()).contains("runner_share")
        );
        let edge = Params {
            audit_share_bps: 10_000,
            audit_pool_bps: 8_000,
            audit_fault_slash: 10_000,
            ..Params::default()
        };
        assert!(edge.validate().is_ok());
        let off = Params {
            audit_share_bps: 0,
            audit_pool_bps: 0,
            ..Params::default()
        };
        assert!(off.validate().is_ok());
    }

    #[test]
    fn hash_changes_with_any_parameter() {
        let a = sample();
        let mut b = sample();
        b.params.verifier_fee += 1;
        assert_ne!(a.hash(), b.hash());
    }
}
