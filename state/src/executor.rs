//! Executing committed blocks: the transaction pipeline (pre-checks, gas, payload), the end of the
//! block, and the commit of the block's changes in one atomic write.

use crate::definitions::DefinitionCache;
use crate::keys::{self, meta_names};
use crate::objects::{
    Account, EventRecord, EventSummary, EvidenceRecord, Process, ProcessSummary, Validator,
    ValidatorSet, ValidatorSetMember, ValidatorStatus, WalkJob, WalkReport,
};
use crate::overlay::{Overlay, ValueCache, decode_value};
use crate::receipt::{ErrorCode, Outcome, Receipt, SkipReason, TxFailure};
use crate::skip_fee::{self, Candidate};
use crate::store::{ChangeSet, Proof, SideWrite, Store, StoreError};
use runnet_types::genesis::{Genesis, Params, VmParams};
use runnet_types::{Address, Amount, Hash, Payload, PublicKey, SignedTx, block, encoding};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How many committed values the executor keeps in memory by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 1 << 20;
/// How many parsed service definitions the executor keeps.
pub const DEFAULT_DEFINITION_ENTRIES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("block height {got} does not follow the executed height {executed}")]
    WrongHeight { executed: u64, got: u64 },
    #[error("this state was created from another genesis (state {state}, file {file})")]
    GenesisMismatch { state: Hash, file: Hash },
    #[error("genesis is invalid: {0}")]
    Genesis(String),
}

/// What a failed payload or a store error becomes inside the pipeline.
pub(crate) enum ApplyError {
    Tx(TxFailure),
    Fatal(ExecError),
}

impl From<TxFailure> for ApplyError {
    fn from(f: TxFailure) -> Self {
        ApplyError::Tx(f)
    }
}

impl From<ApplyError> for ExecError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Fatal(e) => e,
            // Payload failures become receipts inside the pipeline; one escaping it means a rule
            // that should be infallible failed, which only corrupt state can cause.
            ApplyError::Tx(f) => ExecError::Store(StoreError::Corrupt(f.detail)),
        }
    }
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        ApplyError::Fatal(ExecError::Store(e))
    }
}

/// What the state transition needs to know about a committed block besides its transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub height: u64,
    /// Receives the block's fees.
    pub proposer: Address,
    /// The proposer's verified VRF output; it advances the randomness beacon.
    pub vrf_output: Hash,
    /// Chain time: the committed header's `timestamp_ms` (milliseconds since the Unix epoch, set
    /// by the proposer and bounded by the voters, docs/consensus.md). The state transition's only
    /// clock; it never reads the wall clock.
    pub timestamp_ms: u64,
}

/// Whether the executor checks transaction signatures itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// Every transaction arrived in a batch whose signatures were verified once on arrival
    /// (ARCHITECTURE.md, principle 4): checking again would only cost time.
    AlreadyVerified,
    /// Check them here, in one batch, with the same acceptance rule.
    Verify,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockOutcome {
    pub height: u64,
    pub state_root: Hash,
    pub receipts: Vec<Receipt>,
    pub gas_used: u64,
    pub fees: Amount,
    /// Set when this block ended an epoch: the set of the next one.
    pub new_validator_set: Option<ValidatorSet>,
    /// The process walks of the end of the block, in the order they ran: the executions they
    /// created and the task nodes they skipped.
    pub walks: Vec<WalkReport>,
    /// Skip fees the authors of the block's batches paid, burned (docs/economy.md, "Skipped
    /// transactions").
    #[serde(default)]
    pub skip_fees: Amount,
}

/// One batch a block names, in the block's order: its digest, its author and its transactions.
#[derive(Clone, Copy, Debug)]
pub struct BlockBatch<'a> {
    pub digest: Hash,
    /// The consensus key that signed the batch (`Batch::author`), which pays the skip fee of
    /// the transactions of it that are skipped for a reason it could have seen. `None` for bare
    /// transactions (tools, tests): nobody is charged for them.
    pub author: Option<PublicKey>,
    pub txs: &'a [SignedTx],
}

impl<'a> BlockBatch<'a> {
    /// Transactions that no batch carries: nobody pays for their skips.
    pub fn bare(txs: &'a [SignedTx]) -> BlockBatch<'a> {
        BlockBatch {
            digest: Hash::ZERO,
            author: None,
            txs,
        }
    }

    /// A batch as a block names it: its digest and author.
    pub fn of(digest: Hash, batch: &'a runnet_types::Batch) -> BlockBatch<'a> {
        BlockBatch {
            digest,
            author: Some(batch.author),
            txs: &batch.txs,
        }
    }
}

/// A value from the committed state with its proof against the state root.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Proved<T> {
    pub height: u64,
    pub state_root: Hash,
    pub key: Vec<u8>,
    pub value: Option<T>,
    pub proof: Proof,
}

/// The deterministic state machine over an authenticated store.
pub struct Executor {
    store: Arc<dyn Store>,
    cache: ValueCache,
    definitions: DefinitionCache,
    /// The deterministic VM for publish checks and the chain's own re-runs; its limits are the
    /// chain's (genesis `params.vm`, the same on every node).
    vm: runnet_vm_exec::Vm,
    params: Params,
    chain_id: String,
}

impl Executor {
    /// Opens the state in `store`, writing the genesis state first if the store is empty, or
    /// checking that the store was made from this genesis.
    pub fn open(store: Arc<dyn Store>, genesis: &Genesis) -> Result<Executor, ExecError> {
        genesis
            .validate()
            .map_err(|e| ExecError::Genesis(e.to_string()))?;
        let executor = Executor {
            store,
            cache: ValueCache::new(DEFAULT_CACHE_ENTRIES),
            definitions: DefinitionCache::new(DEFAULT_DEFINITION_ENTRIES),
            vm: runnet_vm_exec::Vm::new(vm_limits(&genesis.params.vm)?),
            params: genesis.params.clone(),
            chain_id: genesis.chain_id.clone(),
        };
        if executor.store.version() == 0 {
            executor.write_genesis(genesis)?;
        } else {
            let overlay = Overlay::new(executor.store.as_ref(), &executor.cache);
            let stored: Option<Hash> = overlay.get(&keys::meta(meta_names::CHAIN))?;
            if stored != Some(genesis.hash()) {
                return Err(ExecError::GenesisMismatch {
                    state: stored.unwrap_or(Hash::ZERO),
                    file: genesis.hash(),
                });
            }
        }
        Ok(executor)
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The height of the last executed block (0: only genesis).
    pub fn height(&self) -> u64 {
        // The store's versions count committed states: genesis is version 1, height h is h + 1.
        self.store.version().saturating_sub(1)
    }

    pub fn state_root(&self) -> Hash {
        self.store.root()
    }

    /// Chain time (ms) of the last executed block, 0 before the first: the clock every deadline,
    /// window, jail and release of the state is measured against (readers such as the runner
    /// agent schedule by it; the next block's time is later).
    pub fn chain_time_ms(&self) -> Result<u64, ExecError> {
        Ok(self.read(&keys::meta(meta_names::TIME))?.unwrap_or(0))
    }

    fn write_genesis(&self, genesis: &Genesis) -> Result<(), ExecError> {
        let mut overlay = Overlay::new(self.store.as_ref(), &self.cache);
        for account in &genesis.accounts {
            overlay.put(
                keys::account(&account.address),
                &Account {
                    balance: account.balance,
                    nonce: 0,
                    nonce_marks: None,
                },
            );
        }
        for v in &genesis.validators {
            overlay.put(
                keys::validator(&v.address),
                &Validator {
                    address: v.address,
                    consensus_key: v.consensus_key,
                    vrf_key: v.vrf_key,
                    peer_id: v.peer_id.clone(),
                    stake: v.stake,
                    unbonding: 0,
                    status: ValidatorStatus::Active,
                },
            );
            overlay.put(keys::consensus_key(&v.consensus_key), &v.address);
        }
        let ends_at_ms = genesis.genesis_time_ms.saturating_add(self.params.epoch_ms);
        let set = select_validator_set(&overlay, &self.params, 0, 1, ends_at_ms)?.unwrap_or(
            ValidatorSet {
                epoch: 0,
                start_height: 1,
                ends_at_ms,
                ended: None,
                members: Vec::new(),
            },
        );
        overlay.put(keys::meta(meta_names::VALIDATOR_SET), &set);
        overlay.put(keys::validator_set(0), &set);
        overlay.put(keys::meta(meta_names::CHAIN), &genesis.hash());
        overlay.put(keys::meta(meta_names::HEIGHT), &0u64);
        overlay.put(
            keys::meta(meta_names::SEED),
            &block::genesis_seed(&genesis.chain_id, &genesis.hash()),
        );
        overlay.put(keys::meta(meta_names::BURNED), &0u64);
        let supply = genesis
            .total_supply()
            .ok_or_else(|| ExecError::Genesis("supply overflows".into()))?;
        overlay.put(keys::meta(meta_names::SUPPLY), &supply);
        let changes = overlay.into_changes();
        self.store.commit(1, &changes)?;
        self.cache.absorb(&changes);
        Ok(())
    }

    /// Executes one committed block and commits its changes atomically. On error nothing is
    /// committed.
    pub fn execute_block(
        &self,
        ctx: &BlockContext,
        txs: &[SignedTx],
        signatures: Signatures,
    ) -> Result<BlockOutcome, ExecError> {
        self.execute_block_with(ctx, txs, signatures, |_| Ok(Vec::new()))
    }

    /// As [`Executor::execute_block`], and commits the writes `side` makes from the block's
    /// receipts in the same atomic write as its state (the node's receipts and their index): a
    /// crash keeps both or neither. `side` runs before anything is written; if it fails, nothing
    /// is committed. Side writes are outside the state: they never change its root.
    pub fn execute_block_with(
        &self,
        ctx: &BlockContext,
        txs: &[SignedTx],
        signatures: Signatures,
        side: impl FnOnce(&[Receipt]) -> Result<Vec<SideWrite>, StoreError>,
    ) -> Result<BlockOutcome, ExecError> {
        let bare = [BlockBatch::bare(txs)];
        self.execute_block_with_signers(ctx, None, &bare, signatures, side)
    }

    /// As [`Executor::execute_block`], with the block's transactions by batch.
    pub fn execute_batches(
        &self,
        ctx: &BlockContext,
        batches: &[BlockBatch<'_>],
        signatures: Signatures,
    ) -> Result<BlockOutcome, ExecError> {
        self.execute_block_with_signers(ctx, None, batches, signatures, |_| Ok(Vec::new()))
    }

    /// Whether a block of the epoch of the next height, or of the one before, committed the
    /// batch `digest`: named again, it costs its author nothing. Voters accept a proposal that
    /// names a committed batch only while the state remembers it.
    pub fn batch_remembered(&self, digest: &Hash) -> Result<bool, ExecError> {
        let overlay = Overlay::new(self.store.as_ref(), &self.cache);
        // The latest set is the next height's: a block that ends an epoch installs the next one.
        let epoch = self.validator_set()?.epoch;
        Ok(skip_fee::remembered(&overlay, epoch, digest)?)
    }

    /// As [`Executor::execute_block_with`], with the block header's `justify_signers` (the
    /// committee indexes of the signers of its parent's certificate), which validator downtime
    /// is counted from (docs/economy.md, "Downtime"). `None` counts the height as signed by
    /// every validator: every node must pass the same. The block's transactions come by batch,
    /// in the block's order, with their authors, who pay for what they batched and execution
    /// skips (docs/economy.md, "Skipped transactions").
    pub fn execute_block_with_signers(
        &self,
        ctx: &BlockContext,
        justify_signers: Option<&[u32]>,
        batches: &[BlockBatch<'_>],
        signatures: Signatures,
        side: impl FnOnce(&[Receipt]) -> Result<Vec<SideWrite>, StoreError>,
    ) -> Result<BlockOutcome, ExecError> {
        let (changes, mut outcome) = self.run_block(ctx, justify_signers, batches, signatures)?;
        let side = side(&outcome.receipts)?;
        outcome.state_root = match self.store.commit_with(ctx.height + 1, &changes, &side) {
            Ok(root) => root,
            Err(e) => {
                self.cache.clear();
                return Err(e.into());
            }
        };
        self.cache.absorb(&changes);
        Ok(outcome)
    }

    /// Executes a block without committing it: its changes, and its outcome but for the state
    /// root, which only the commit computes.
    fn run_block(
        &self,
        ctx: &BlockContext,
        justify_signers: Option<&[u32]>,
        batches: &[BlockBatch<'_>],
        signatures: Signatures,
    ) -> Result<(ChangeSet, BlockOutcome), ExecError> {
        let executed = self.height();
        if ctx.height != executed + 1 {
            return Err(ExecError::WrongHeight {
                executed,
                got: ctx.height,
            });
        }
        let overlay = Overlay::new(self.store.as_ref(), &self.cache);
        // Voters keep stamps increasing; the state holds its clock monotone anyway, so that no
        // block's input can move a deadline or a jail back in time.
        let previous_ms: u64 = overlay
            .get(&keys::meta(meta_names::TIME))
            .map_err(ExecError::from)?
            .unwrap_or(0);
        let epoch = overlay
            .get::<ValidatorSet>(&keys::meta(meta_names::VALIDATOR_SET))
            .map_err(ExecError::from)?
            .map_or(0, |set| set.epoch);
        let mut run = BlockRun {
            overlay,
            params: &self.params,
            chain_id: &self.chain_id,
            height: ctx.height,
            epoch,
            now_ms: ctx.timestamp_ms.max(previous_ms),
            proposer: ctx.proposer,
            vm: &self.vm,
            definitions: &self.definitions,
        };
        // The state before the block: whether a sender could pay at its start.
        let start = Overlay::new(self.store.as_ref(), &self.cache);
        let count = batches.iter().map(|b| b.txs.len()).sum();
        let mut receipts = Vec::with_capacity(count);
        let mut candidates = Vec::new();
        let mut named = std::collections::BTreeSet::new();
        let (mut block_gas, mut block_bytes, mut gas_used, mut fees) = (0u64, 0u64, 0u64, 0u64);
        for batch in batches {
            // Who answers for this batch's skips: its author, unless a block of this epoch or
            // the previous one committed it, or this block named it already.
            let payer = match batch.author {
                Some(author) if named.insert(batch.digest) => {
                    if run.batch_remembered(&batch.digest)? {
                        None
                    } else {
                        run.remember_batch(&batch.digest);
                        Some(author)
                    }
                }
                _ => None,
            };
            let valid_signatures = match signatures {
                Signatures::AlreadyVerified => None,
                Signatures::Verify => Some(runnet_types::tx::verify_txs(batch.txs)),
            };
            for (i, tx) in batch.txs.iter().enumerate() {
                let signature_ok = valid_signatures.as_ref().is_none_or(|ok| ok[i]);
                let receipt = run.apply_tx(tx, signature_ok, &mut block_gas, &mut block_bytes)?;
                gas_used = gas_used.saturating_add(receipt.gas_used);
                fees = fees.saturating_add(receipt.fee);
                if let (Some(author), Outcome::Skipped { reason }) = (payer, &receipt.outcome)
                    && skip_fee::charges_author(*reason)
                {
                    candidates.push(Candidate {
                        author,
                        sender: tx.body.sender.address(),
                        nonce: tx.body.nonce,
                        max_fee: u128::from(tx.body.gas_limit) * u128::from(tx.body.gas_price),
                        bytes: encoding::encoded_len(tx),
                        reason: *reason,
                    });
                }
                receipts.push(receipt);
            }
        }
        // Skip fees after the block's transactions, in block order, burned.
        let skip_fees = run.charge_skips(&start, &candidates)?;
        // Fees reach the proposer after the block's transactions, in one credit.
        if fees > 0 {
            let key = keys::account(&ctx.proposer);
            let mut proposer: Account = run.overlay.get(&key)?.unwrap_or_default();
            proposer.balance = proposer.balance.checked_add(fees).ok_or_else(|| {
                StoreError::Corrupt("proposer balance overflows: supply exceeded".into())
            })?;
            run.overlay.put(key, &proposer);
        }
        let (new_validator_set, walks) = run.end_block(ctx, justify_signers)?;
        let outcome = BlockOutcome {
            height: ctx.height,
            state_root: Hash::ZERO,
            receipts,
            gas_used,
            fees,
            new_validator_set,
            walks,
            skip_fees,
        };
        Ok((run.overlay.into_changes(), outcome))
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn read<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, ExecError> {
        Ok(Overlay::new(self.store.as_ref(), &self.cache).get(key)?)
    }

    pub fn account(&self, address: &Address) -> Result<Account, ExecError> {
        Ok(self.read(&keys::account(address))?.unwrap_or_default())
    }

    pub fn validator(&self, address: &Address) -> Result<Option<Validator>, ExecError> {
        self.read(&keys::validator(address))
    }

    pub fn validator_set(&self) -> Result<ValidatorSet, ExecError> {
        self.read(&keys::meta(meta_names::VALIDATOR_SET))?
            .ok_or_else(|| StoreError::Corrupt("no validator set".into()).into())
    }

    pub fn service(&self, id: &Hash) -> Result<Option<crate::objects::Service>, ExecError> {
        self.read(&keys::service(id))
    }

    pub fn runner(&self, id: &Hash) -> Result<Option<crate::objects::Runner>, ExecError> {
        self.read(&keys::runner(id))
    }

    /// An execution by id: the full record while it lives, its summary once pruned.
    pub fn execution(&self, id: &Hash) -> Result<Option<crate::objects::Execution>, ExecError> {
        self.read(&keys::execution(id))
    }

    pub fn execution_summary(
        &self,
        id: &Hash,
    ) -> Result<Option<crate::objects::ExecutionSummary>, ExecError> {
        match self.execution(id)? {
            Some(e) => Ok(e
                .settled_at
                .map(|settled_at| crate::objects::ExecutionSummary {
                    id: e.id,
                    service: e.service,
                    status: e.status,
                    settled_at,
                })),
            None => self.read(&keys::execution_summary(id)),
        }
    }

    pub fn prove_execution(
        &self,
        id: &Hash,
    ) -> Result<Proved<crate::objects::Execution>, ExecError> {
        self.prove(keys::execution(id))
    }

    /// A process by id while it lives (open, or closed within `retention_ms` of chain time).
    pub fn process(&self, id: &Hash) -> Result<Option<Process>, ExecError> {
        self.read(&keys::process(id))
    }

    pub fn prove_process(&self, id: &Hash) -> Result<Proved<Process>, ExecError> {
        self.prove(keys::process(id))
    }

    /// What stays of a closed process once pruned (`None` while it lives).
    pub fn process_summary(&self, id: &Hash) -> Result<Option<ProcessSummary>, ExecError> {
        self.read(&keys::process_summary(id))
    }

    /// An event's reports while they are kept (`retention_ms` after the first).
    pub fn event(&self, id: &Hash) -> Result<Option<EventRecord>, ExecError> {
        self.read(&keys::event(id))
    }

    /// What stays of an event once pruned: such an id can never fire again.
    pub fn event_summary(&self, id: &Hash) -> Result<Option<EventSummary>, ExecError> {
        self.read(&keys::event_summary(id))
    }

    /// The punishment of a validator's equivocation in one round of one epoch, if applied.
    pub fn evidence_record(
        &self,
        validator: &Address,
        epoch: u64,
        round: u64,
    ) -> Result<Option<EvidenceRecord>, ExecError> {
        self.read(&keys::evidence(validator, epoch, round))
    }

    /// The walks waiting for the end of a block, in queue order (those the last block's budget
    /// left over, and those queued since).
    pub fn walk_queue(&self) -> Result<Vec<WalkJob>, ExecError> {
        let mut out = Vec::new();
        for (key, bytes) in self.store.scan_prefix(keys::WALKS, None, usize::MAX)? {
            out.push(decode_value(&key, &bytes)?);
        }
        Ok(out)
    }

    /// The VM the executor judges disputes with (agents share it for identical results).
    pub fn vm(&self) -> &runnet_vm_exec::Vm {
        &self.vm
    }

    /// The beacon's current seed.
    pub fn seed(&self) -> Result<Hash, ExecError> {
        Ok(self
            .read(&keys::meta(meta_names::SEED))?
            .unwrap_or(Hash::ZERO))
    }

    pub fn burned(&self) -> Result<Amount, ExecError> {
        Ok(self.read(&keys::meta(meta_names::BURNED))?.unwrap_or(0))
    }

    /// Any state value by key, with its proof against the current root.
    pub fn prove<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        key: Vec<u8>,
    ) -> Result<Proved<T>, ExecError> {
        // One read of value, proof, root and version: a commit in between cannot mix versions.
        let proved = self.store.prove_versioned(&key)?;
        let value = proved
            .value
            .map(|bytes| decode_value(&key, &bytes))
            .transpose()?;
        Ok(Proved {
            // Store versions count committed states: genesis is version 1, height h is h + 1.
            height: proved.version.saturating_sub(1),
            state_root: proved.root,
            key,
            value,
            proof: proved.proof,
        })
    }

    pub fn prove_account(&self, address: &Address) -> Result<Proved<Account>, ExecError> {
        self.prove(keys::account(address))
    }

    pub fn prove_validator(&self, address: &Address) -> Result<Proved<Validator>, ExecError> {
        self.prove(keys::validator(address))
    }

    pub fn prove_service(&self, id: &Hash) -> Result<Proved<crate::objects::Service>, ExecError> {
        self.prove(keys::service(id))
    }

    pub fn prove_runner(&self, id: &Hash) -> Result<Proved<crate::objects::Runner>, ExecError> {
        self.prove(keys::runner(id))
    }

    /// Counts every token in the state by where it sits. Scans the whole state: for tests,
    /// audits and tooling, never for block execution.
    pub fn supply_audit(&self) -> Result<SupplyAudit, ExecError> {
        let mut audit = SupplyAudit {
            supply: self
                .read(&keys::meta(meta_names::SUPPLY))?
                .unwrap_or_default(),
            burned: self.burned()?,
            ..SupplyAudit::default()
        };
        fn each<T: Serialize + serde::de::DeserializeOwned>(
            store: &dyn Store,
            prefix: &[u8],
            mut f: impl FnMut(T),
        ) -> Result<(), ExecError> {
            for (key, bytes) in store.scan_prefix(prefix, None, usize::MAX)? {
                f(decode_value(&key, &bytes)?);
            }
            Ok(())
        }
        let store = self.store.as_ref();
        each(store, keys::ACCOUNT, |a: Account| {
            audit.balances += u128::from(a.balance)
        })?;
        each(store, keys::VALIDATOR, |v: Validator| {
            audit.validator_stakes += u128::from(v.stake) + u128::from(v.unbonding)
        })?;
        each(store, keys::RUNNER, |r: crate::objects::Runner| {
            audit.runner_stakes += u128::from(r.stake)
        })?;
        each(store, keys::EXECUTION, |e: crate::objects::Execution| {
            audit.escrows += u128::from(e.escrow)
        })?;
        each(store, keys::PROCESS, |p: Process| {
            audit.process_balances += u128::from(p.balance) + u128::from(p.deposit)
        })?;
        Ok(audit)
    }
}

/// Where the supply sits. docs/economy.md's invariant: the parts add up to the genesis supply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyAudit {
    pub supply: Amount,
    pub balances: u128,
    pub validator_stakes: u128,
    pub runner_stakes: u128,
    pub escrows: u128,
    /// Process balances and deposits.
    pub process_balances: u128,
    pub burned: Amount,
}

impl SupplyAudit {
    pub fn total(&self) -> u128 {
        self.balances
            + self.validator_stakes
            + self.runner_stakes
            + self.escrows
            + self.process_balances
            + u128::from(self.burned)
    }

    pub fn balanced(&self) -> bool {
        self.total() == u128::from(self.supply)
    }
}

impl<T: Serialize> Proved<T> {
    /// Checks the proof: the value (or its absence) is what the state root commits to.
    pub fn verify(&self) -> Result<(), crate::store::ProofError> {
        let bytes = self.value.as_ref().map(encoding::encode);
        self.proof
            .verify(&self.state_root, &self.key, bytes.as_deref())
    }
}

/// The next epoch's set: the `max_validators` largest active stakes, ties by address. `None` when
/// fewer than `min_validators` qualify (the set then stays as it is).
pub(crate) fn select_validator_set(
    overlay: &Overlay<'_>,
    params: &Params,
    epoch: u64,
    start_height: u64,
    ends_at_ms: u64,
) -> Result<Option<ValidatorSet>, StoreError> {
    let mut candidates = Vec::new();
    for (key, bytes) in overlay.scan(keys::VALIDATOR)? {
        let v: Validator = decode_value(&key, &bytes)?;
        if v.status == ValidatorStatus::Active && v.stake > 0 {
            candidates.push(v);
        }
    }
    candidates.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.address.cmp(&b.address)));
    candidates.truncate(params.max_validators as usize);
    if candidates.len() < params.min_validators as usize {
        return Ok(None);
    }
    Ok(Some(ValidatorSet {
        epoch,
        start_height,
        ends_at_ms,
        ended: None,
        members: candidates
            .into_iter()
            .map(|v| ValidatorSetMember {
                address: v.address,
                consensus_key: v.consensus_key,
                vrf_key: v.vrf_key,
                peer_id: v.peer_id,
                stake: v.stake,
            })
            .collect(),
    }))
}

/// The state of one block being executed.
pub(crate) struct BlockRun<'a> {
    pub overlay: Overlay<'a>,
    pub params: &'a Params,
    pub chain_id: &'a str,
    pub height: u64,
    /// The epoch this block belongs to (the latest validator set's when it starts).
    pub epoch: u64,
    /// Chain time of this block ([`BlockContext::timestamp_ms`], never below the previous
    /// block's).
    pub now_ms: u64,
    pub proposer: Address,
    pub vm: &'a runnet_vm_exec::Vm,
    pub definitions: &'a DefinitionCache,
}

impl BlockRun<'_> {
    /// Pre-checks, gas, payload. Payload failures become receipts; only store errors escape.
    fn apply_tx(
        &mut self,
        tx: &SignedTx,
        signature_ok: bool,
        block_gas: &mut u64,
        block_bytes: &mut u64,
    ) -> Result<Receipt, ApplyError> {
        let encoded = tx.encode();
        // The body's encoding is the signed encoding without the trailing 64-byte signature.
        let tx_hash = Hash::digest(&encoded[..encoded.len().saturating_sub(64)]);
        // Every transaction the block carries takes its bytes of the block's budget, whatever
        // becomes of it: a skipped one was carried, stored and sent all the same
        // (docs/economy.md, "Skipped transactions").
        let bytes_through = block_bytes.saturating_add(encoded.len() as u64);
        *block_bytes = bytes_through;
        let skip = |reason| {
            Ok(Receipt {
                tx: tx_hash,
                outcome: Outcome::Skipped { reason },
                gas_used: 0,
                fee: 0,
            })
        };
        let body = &tx.body;
        if body.chain_id != self.chain_id {
            return skip(SkipReason::WrongChainId);
        }
        if !signature_ok {
            return skip(SkipReason::BadSignature);
        }
        if body.gas_price < self.params.min_gas_price {
            return skip(SkipReason::GasPriceTooLow);
        }
        let sender = body.sender.address();
        let sender_key = keys::account(&sender);
        let mut account: Account = self.overlay.get(&sender_key)?.unwrap_or_default();
        if body.nonce != account.nonce {
            return skip(SkipReason::BadNonce);
        }
        let max_fee = u128::from(body.gas_limit) * u128::from(body.gas_price);
        if max_fee > u128::from(account.balance) {
            return skip(SkipReason::CannotPayGas);
        }
        let Some(next_gas) = block_gas
            .checked_add(body.gas_limit)
            .filter(|g| *g <= self.params.max_block_gas)
        else {
            return skip(SkipReason::BlockGasFull);
        };
        if bytes_through > self.params.max_block_bytes {
            return skip(SkipReason::BlockBytesFull);
        }
        *block_gas = next_gas;

        // From here on the transaction counts: it pays for the gas it used, and its nonce moves.
        let needed = intrinsic_gas(self.params, &body.payload, encoded.len());
        let (gas_used, failure) = if needed > u128::from(body.gas_limit) {
            (
                body.gas_limit,
                Some(TxFailure::new(
                    ErrorCode::OutOfGas,
                    format!("needs {needed} gas, limit is {}", body.gas_limit),
                )),
            )
        } else {
            // needed <= gas_limit, a u64.
            (needed as u64, None)
        };
        // gas_used <= gas_limit, and gas_limit * gas_price <= balance: no overflow, no underflow.
        let fee = (u128::from(gas_used) * u128::from(body.gas_price)) as u64;
        account.balance -= fee;
        // The marks the recent nonce floor is read from (skip fees, docs/economy.md).
        self.mark_nonce(&mut account);
        account.nonce += 1;
        self.overlay.put(sender_key, &account);

        let failure = match failure {
            Some(f) => Some(f),
            None => {
                self.overlay.begin_tx();
                match self.apply_payload(&sender, tx_hash, tx, gas_used) {
                    Ok(()) => {
                        self.overlay.keep_tx();
                        None
                    }
                    Err(ApplyError::Tx(f)) => {
                        self.overlay.undo_tx();
                        Some(f)
                    }
                    Err(fatal @ ApplyError::Fatal(_)) => return Err(fatal),
                }
            }
        };
        Ok(Receipt {
            tx: tx_hash,
            outcome: match failure {
                None => Outcome::Success,
                Some(f) => Outcome::Failed {
                    code: f.code,
                    detail: f.detail,
                },
            },
            gas_used,
            fee,
        })
    }

    fn apply_payload(
        &mut self,
        sender: &Address,
        tx_hash: Hash,
        tx: &SignedTx,
        gas_used: u64,
    ) -> Result<(), ApplyError> {
        match &tx.body.payload {
            Payload::Transfer { to, amount } => self.transfer(sender, to, *amount),
            Payload::BondValidator {
                consensus_key,
                vrf_key,
                peer_id,
                amount,
                binding,
            } => self.bond_validator(sender, consensus_key, vrf_key, peer_id, *amount, binding),
            Payload::UnbondValidator { amount } => self.unbond_validator(sender, *amount),
            Payload::Unjail => self.unjail(sender),
            Payload::UnjailRunner { runner, stake } => self.unjail_runner(sender, runner, *stake),
            Payload::PublishService { definition, bundle } => {
                self.publish_service(sender, definition, bundle)
            }
            Payload::RegisterRunner {
                service,
                stake,
                price_per_call,
                price_per_kib,
                max_open,
            } => self.register_runner(
                sender,
                service,
                *stake,
                *price_per_call,
                *price_per_kib,
                *max_open,
            ),
            Payload::UnregisterRunner { runner } => self.unregister_runner(sender, runner),
            Payload::RequestExecution {
                service,
                task,
                inputs,
                max_fee,
                runner,
            } => self.request_execution(sender, tx_hash, service, task, inputs, *max_fee, *runner),
            Payload::CommitResult {
                execution,
                commitment,
            } => self.commit_result(sender, execution, *commitment),
            Payload::RevealResult {
                execution,
                result,
                salt,
            } => self.reveal_result(sender, execution, result.clone(), salt),
            Payload::SubmitResult { execution, result } => {
                self.submit_result(sender, execution, result.clone())
            }
            Payload::CommitVerdict {
                execution,
                commitment,
            } => self.commit_verdict(sender, execution, *commitment),
            Payload::RevealVerdict {
                execution,
                verdict,
                salt,
            } => self.reveal_verdict(sender, execution, verdict.clone(), salt),
            Payload::CreateProcess {
                definition,
                balance,
                spend_cap,
            } => self.create_process(sender, tx_hash, definition, *balance, *spend_cap),
            Payload::FundProcess { process, amount } => self.fund_process(sender, process, *amount),
            Payload::CloseProcess { process } => self.close_process(sender, process),
            Payload::EmitEvent {
                service,
                event,
                data,
            } => self.emit_event(sender, service, event, data, gas_used),
            Payload::Evidence(evidence) => self.apply_evidence(evidence),
        }
    }

    /// docs/economy.md's end of block, in its order. The beacon moves first: draws caused by block
    /// h - 1 happen now with `seed_h`, which nobody knew when block h - 1 was built.
    #[allow(clippy::type_complexity)]
    fn end_block(
        &mut self,
        ctx: &BlockContext,
        justify_signers: Option<&[u32]>,
    ) -> Result<(Option<ValidatorSet>, Vec<WalkReport>), ApplyError> {
        let seed_key = keys::meta(meta_names::SEED);
        let previous: Hash = self.overlay.get(&seed_key)?.unwrap_or(Hash::ZERO);
        self.overlay
            .put(seed_key, &block::next_seed(&previous, &ctx.vrf_output));
        let mut due = self.take_queue()?;
        // 1. assignments and verifier draws due from the previous block;
        self.run_draws(&mut due)?;
        // 2. expiries and settlements whose window closes now;
        self.run_deadlines(&mut due)?;
        // 3. process walks, within the block's walk gas;
        let walks = self.run_walks()?;
        // 4. validator downtime from the certificate's signers, releases of unbonded stake,
        // then the epoch change;
        self.record_signers(justify_signers)?;
        self.release_due()?;
        let new_set = self.change_epoch()?;
        // 5. pruning of what is older than retention_ms of chain time.
        self.run_pruning(&mut due)?;
        self.overlay
            .put(keys::meta(meta_names::HEIGHT), &self.height);
        self.overlay.put(keys::meta(meta_names::TIME), &self.now_ms);
        Ok((new_set, walks))
    }
}

/// The VM's limits from genesis (the cache size is the node's own business).
pub fn vm_limits(vm: &VmParams) -> Result<runnet_vm_exec::VmLimits, ExecError> {
    let size = |name: &str, value: u64| {
        usize::try_from(value)
            .map_err(|_| ExecError::Genesis(format!("params.vm.{name} does not fit this machine")))
    };
    Ok(runnet_vm_exec::VmLimits {
        max_module_bytes: size("max_module_bytes", vm.max_module_bytes)?,
        max_memory_pages: vm.max_memory_pages,
        max_table_elements: vm.max_table_elements,
        max_functions: vm.max_functions,
        max_globals: vm.max_globals,
        max_segments: vm.max_segments,
        max_locals: vm.max_locals,
        max_recursion_depth: size("max_recursion_depth", vm.max_recursion_depth)?,
        max_stack_height: size("max_stack_height", vm.max_stack_height)?,
        max_input_bytes: size("max_input_bytes", vm.max_input_bytes)?,
        ..runnet_vm_exec::VmLimits::default()
    })
}

/// Gas a transaction needs before its payload's own work: the base cost of its kind, its bytes,
/// and the bytes it stores for good.
pub fn intrinsic_gas(params: &Params, payload: &Payload, encoded_len: usize) -> u128 {
    let gas = &params.gas;
    let stored = match payload {
        Payload::PublishService { definition, bundle } => {
            (definition.len() + bundle.stored_len()) as u128
        }
        Payload::CreateProcess { definition, .. } => encoding::encode(definition).len() as u128,
        // The event's data, kept in its record (docs/economy.md, "Emitters").
        Payload::EmitEvent { data, .. } => data.len() as u128,
        _ => 0,
    };
    u128::from(gas.base(payload.kind()))
        + u128::from(gas.per_byte) * encoded_len as u128
        + u128::from(gas.per_stored_byte) * stored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use runnet_types::genesis::{ConsensusParams, GenesisAccount, GenesisValidator};
    use runnet_types::{SecretKey, TxBody, VrfSecretKey};

    fn genesis(sender: &SecretKey) -> Genesis {
        let validator = SecretKey::from_seed([1; 32]);
        Genesis {
            chain_id: "runnet-test".into(),
            genesis_time_ms: 0,
            accounts: vec![GenesisAccount {
                address: sender.public().address(),
                balance: 1_000_000_000,
            }],
            validators: vec![GenesisValidator {
                address: validator.public().address(),
                consensus_key: validator.public(),
                vrf_key: VrfSecretKey::from_seed([2; 32]).public(),
                peer_id: "peer".into(),
                stake: 100,
            }],
            params: Params::default(),
            consensus: ConsensusParams::default(),
        }
    }

    fn transfer(sender: &SecretKey, nonce: u64) -> SignedTx {
        TxBody {
            chain_id: "runnet-test".into(),
            sender: sender.public(),
            nonce,
            gas_limit: 100_000,
            gas_price: 1,
            payload: Payload::Transfer {
                to: Address([9; 20]),
                amount: 5,
            },
        }
        .sign(sender)
    }

    const CTX: BlockContext = BlockContext {
        height: 1,
        proposer: Address([3; 20]),
        vrf_output: Hash::ZERO,
        timestamp_ms: 100,
    };

    #[test]
    fn side_writes_see_the_receipts_commit_with_the_block_and_leave_the_root_alone() {
        let sender = SecretKey::from_seed([5; 32]);
        let txs = [transfer(&sender, 0), transfer(&sender, 0)];
        let plain = Executor::open(Arc::new(MemStore::new()), &genesis(&sender)).unwrap();
        let want = plain.execute_block(&CTX, &txs, Signatures::Verify).unwrap();

        let store = Arc::new(MemStore::new());
        let exec = Executor::open(store.clone(), &genesis(&sender)).unwrap();
        let mut seen = Vec::new();
        let outcome = exec
            .execute_block_with(&CTX, &txs, Signatures::Verify, |receipts| {
                seen = receipts.to_vec();
                Ok(vec![
                    SideWrite::put("receipts", b"count".to_vec(), vec![receipts.len() as u8]),
                    SideWrite::new_root("meta", b"root".to_vec()),
                ])
            })
            .unwrap();
        assert_eq!(outcome, want);
        assert_eq!(seen, want.receipts);
        // The second copy is skipped: the receipts the side writes see are the block's.
        assert!(matches!(seen[1].outcome, Outcome::Skipped { .. }));
        assert_eq!(store.side_value("receipts", b"count"), Some(vec![2]));
        assert_eq!(
            store.side_value("meta", b"root"),
            Some(want.state_root.0.to_vec())
        );
    }

    #[test]
    fn a_failing_side_write_commits_nothing() {
        let sender = SecretKey::from_seed([5; 32]);
        let store = Arc::new(MemStore::new());
        let exec = Executor::open(store.clone(), &genesis(&sender)).unwrap();
        let root = exec.state_root();
        let failed =
            exec.execute_block_with(&CTX, &[transfer(&sender, 0)], Signatures::Verify, |_| {
                Err(StoreError::Io("disk full".into()))
            });
        assert!(matches!(failed, Err(ExecError::Store(StoreError::Io(_)))));
        assert_eq!((exec.height(), exec.state_root()), (0, root));
        assert_eq!(exec.account(&sender.public().address()).unwrap().nonce, 0);
        // The block executes afterwards as if nothing had happened.
        let outcome = exec
            .execute_block(&CTX, &[transfer(&sender, 0)], Signatures::Verify)
            .unwrap();
        assert!(outcome.receipts[0].is_success());
    }
}
