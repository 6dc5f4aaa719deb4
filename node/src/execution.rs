//! The execution thread: executes committed blocks in height order, straight from the block
//! store.
//!
//! It does not care whether a block was committed a moment ago, delivered by block sync, or
//! committed before a crash: it executes whatever is stored above the state's height, so restart
//! replay is the ordinary path. Batches come from the block store (the driver stores those it
//! holds when it commits); a batch it lacks (a block learnt by sync) is fetched from peers and
//! checked against its digest and its signatures before it is stored. Execution itself never
//! checks a signature: only verified batches reach the block store. A block's receipts commit in
//! the same atomic write as its state. The state receives the block's transactions by batch,
//! with each batch's author, who pays the skip fee of what it batched and execution skips
//! (docs/economy.md, "Skipped transactions").

use crate::agent::{AgentHandle, BlockReport};
use crate::runtime::Shared;
use runnet_state::{BlockBatch, BlockContext, Signatures};
use runnet_types::{Address, Batch, Hash, PublicKey};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Blocks pruned per executed block at most, so pruning a long backlog never stalls execution.
const PRUNE_STEP: u64 = 64;
/// When the next block lacks batches, the missing batches of up to this many stored blocks
/// after it are fetched with them, up to `MAX_PREFETCH` digests: a validator back from a crash
/// has hundreds of blocks learnt by sync, and a fetch per block could not keep up with the
/// chain.
const LOOKAHEAD_BLOCKS: u64 = 64;
const MAX_PREFETCH: usize = 2 * crate::driver::FETCH_CHUNK;

/// What one step of the execution thread did.
enum Step {
    Executed(u64, Hash),
    /// Batches arrived: try again at once.
    Fetched,
    /// Nothing to do until a commit (or a retry).
    Idle,
}

/// Tells the mempool who may author the batches it stores: the validators of the latest set
/// and of the one before it, by consensus key, as the executed state holds them. At start and
/// after each block that ends an epoch.
pub fn refresh_batch_authors(shared: &Shared) {
    match batch_authors(shared) {
        Ok(authors) => shared.mempool.lock().set_authors(authors),
        Err(e) => tracing::warn!("cannot read the validator sets for batch authors: {e}"),
    }
}

fn batch_authors(shared: &Shared) -> Result<BTreeMap<PublicKey, Address>, String> {
    let executor = &shared.executor;
    let latest = executor.validator_set().map_err(|e| e.to_string())?;
    let mut authors: BTreeMap<PublicKey, Address> = latest
        .members
        .iter()
        .map(|m| (m.consensus_key, m.address))
        .collect();
    if let Some(previous) = latest.epoch.checked_sub(1)
        && let Some(committee) = executor.committee(previous).map_err(|e| e.to_string())?
    {
        for v in committee.validators() {
            authors.entry(v.consensus_key).or_insert(v.address);
        }
    }
    Ok(authors)
}

pub fn run(
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    executed: mpsc::UnboundedSender<(u64, Hash)>,
    agent: AgentHandle,
) {
    loop {
        match execute_next(&shared, &runtime, &agent) {
            Ok(Step::Executed(height, root)) => {
                if executed.send((height, root)).is_err() {
                    return;
                }
                continue;
            }
            Ok(Step::Fetched) => continue,
            Ok(Step::Idle) => {}
            Err(e) => {
                tracing::error!("execution stopped: {e}");
                shared.shutdown.notify_one();
                return;
            }
        }
        // Nothing to execute: wait for a commit (or re-check now and then, for fetch retries).
        let (lock, wake) = &*shared.committed;
        if let Ok(guard) = lock.lock() {
            let _ = wake.wait_timeout(guard, Duration::from_millis(500));
        }
    }
}

/// Executes the block above the state's height if it is stored and its batches are at hand;
/// otherwise fetches what it lacks.
fn execute_next(
    shared: &Shared,
    runtime: &tokio::runtime::Handle,
    agent: &AgentHandle,
) -> Result<Step, String> {
    let executor = &shared.executor;
    let height = executor.height() + 1;
    let Some(stored) = shared.blocks.block(height).map_err(|e| e.to_string())? else {
        return Ok(Step::Idle);
    };
    let digests = &stored.block.block.batches;
    let mut batches: Vec<(Hash, Batch)> = Vec::with_capacity(digests.len());
    let mut missing = Vec::new();
    for digest in digests {
        match shared.blocks.batch(digest).map_err(|e| e.to_string())? {
            Some(bytes) => batches.push((
                *digest,
                Batch::decode(&bytes).map_err(|e| format!("stored batch {digest}: {e}"))?,
            )),
            None => missing.push(*digest),
        }
    }
    if !missing.is_empty() {
        missing_ahead(shared, height, &mut missing)?;
        let stored = fetch(shared, runtime, &missing);
        return Ok(if stored > 0 {
            Step::Fetched
        } else {
            Step::Idle
        });
    }
    let named: Vec<BlockBatch<'_>> = batches
        .iter()
        .map(|(digest, batch)| BlockBatch::of(*digest, batch))
        .collect();
    let tx_count: usize = batches.iter().map(|(_, b)| b.txs.len()).sum();
    let ctx = BlockContext {
        height,
        proposer: stored.block.header().proposer,
        vrf_output: stored.vrf_output,
        timestamp_ms: stored.block.header().timestamp_ms,
    };
    let started = Instant::now();
    // The receipts commit in the state's own write: a kill cannot keep one without the other
    // (and the block, at the state's height, would never be executed again to redo them).
    // The header's certificate signers feed validator downtime (state/src/liveness.rs).
    let signers = stored.block.header().justify_signers.clone();
    let outcome = executor
        .execute_block_with_signers(
            &ctx,
            Some(&signers),
            &named,
            Signatures::AlreadyVerified,
            |receipts| Ok(shared.blocks.executed_writes(height, receipts)?),
        )
        .map_err(|e| format!("block {height}: {e}"))?;
    shared
        .metrics
        .execution_seconds
        .observe(started.elapsed().as_secs_f64());
    shared.metrics.txs_committed.inc_by(tx_count as u64);
    shared.metrics.height.set(height as i64);
    {
        let mut status = shared.status.write();
        status.height = height;
        status.state_root = outcome.state_root;
    }
    let retain = shared.config.storage.retain_blocks;
    if retain > 0
        && height > retain
        && let Err(e) = shared.blocks.prune(height - retain, PRUNE_STEP)
    {
        tracing::warn!("pruning old blocks: {e}");
    }
    tracing::debug!(height, txs = tx_count, root = %outcome.state_root, "executed");
    // The block that ends an epoch installs the next set, which orders from the next height:
    // whose batches count and whose peers are validators change with it, here and only here.
    if outcome.new_validator_set.is_some() {
        refresh_batch_authors(shared);
        crate::driver::refresh_peer_book(shared);
    }
    // Before the next block: it consumes the queue entries the report reads.
    let txs: Vec<runnet_types::SignedTx> = batches.into_iter().flat_map(|(_, b)| b.txs).collect();
    agent.block_executed(BlockReport::collect(shared, height, &txs, outcome.receipts));
    Ok(Step::Executed(height, outcome.state_root))
}

/// Adds to `missing` the batches lacking in the stored blocks just after `height`.
fn missing_ahead(shared: &Shared, height: u64, missing: &mut Vec<Hash>) -> Result<(), String> {
    for ahead in height + 1..=height + LOOKAHEAD_BLOCKS {
        let Some(stored) = shared.blocks.block(ahead).map_err(|e| e.to_string())? else {
            break;
        };
        for digest in &stored.block.block.batches {
            if missing.len() >= MAX_PREFETCH {
                return Ok(());
            }
            if !missing.contains(digest)
                && !shared.blocks.has_batch(digest).map_err(|e| e.to_string())?
            {
                missing.push(*digest);
            }
        }
    }
    Ok(())
}

/// Fetches missing batches from peers, keeping those whose digest was asked for and whose
/// signatures all check; returns how many it stored.
fn fetch(shared: &Shared, runtime: &tokio::runtime::Handle, missing: &[Hash]) -> usize {
    missing
        .chunks(crate::driver::FETCH_CHUNK)
        .map(|chunk| fetch_chunk(shared, runtime, chunk))
        .sum()
}

fn fetch_chunk(shared: &Shared, runtime: &tokio::runtime::Handle, missing: &[Hash]) -> usize {
    shared.metrics.execution_fetches.inc();
    let network = shared.network.clone();
    let wanted = missing.to_vec();
    let answer = runtime.block_on(async move {
        tokio::time::timeout(Duration::from_secs(10), network.fetch_batches(None, wanted)).await
    });
    let found = match answer {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::warn!(missing = missing.len(), "fetching batches to execute: {e}");
            return 0;
        }
        Err(_) => {
            tracing::warn!(
                missing = missing.len(),
                "fetching batches to execute timed out"
            );
            return 0;
        }
    };
    tracing::debug!(
        asked = missing.len(),
        got = found.len(),
        "fetched batches to execute"
    );
    let mut stored = 0;
    for bytes in found {
        // Named before decoding: an answer nobody asked for is never decoded.
        let digest = Batch::digest_of_encoded(&bytes);
        if !missing.contains(&digest) {
            tracing::warn!(%digest, "a peer answered with a batch not asked for");
            continue;
        }
        let batch = match Batch::decode(&bytes) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("a fetched batch does not decode: {e}");
                continue;
            }
        };
        shared
            .metrics
            .signatures_checked("execution", batch.txs.len());
        if let Err(e) = batch
            .verify_author_of(&digest, &shared.chain_id)
            .and_then(|()| batch.verify_signatures())
        {
            tracing::warn!(%digest, "a fetched batch does not verify: {e}");
            continue;
        }
        match shared.blocks.put_batch(&digest, &bytes) {
            Ok(()) => stored += 1,
            Err(e) => tracing::warn!("storing fetched batch {digest}: {e}"),
        }
    }
    stored
}
