//! The layout of the state's key space. One byte string per object, prefixed by its kind, so
//! `scan_prefix` walks one kind in id order (the order draws and epoch changes rely on).

use runnet_types::{Address, Hash, PublicKey};

pub const ACCOUNT: &[u8] = b"a/";
pub const VALIDATOR: &[u8] = b"v/";
pub const CONSENSUS_KEY: &[u8] = b"k/";
pub const SERVICE: &[u8] = b"s/";
pub const BUNDLE: &[u8] = b"b/";
pub const RUNNER: &[u8] = b"r/";
pub const SERVICE_RUNNERS: &[u8] = b"sr/";
pub const RELEASES: &[u8] = b"u/";
pub const META: &[u8] = b"m/";
pub const EXECUTION: &[u8] = b"x/";
pub const EXECUTION_SUMMARY: &[u8] = b"xf/";
pub const QUEUE: &[u8] = b"q/";
pub const DRAWS: &[u8] = b"qd/";
pub const RERUNS: &[u8] = b"xr/";
pub const AUDITS: &[u8] = b"xa/";
pub const PROCESS: &[u8] = b"p/";
pub const PROCESS_SUMMARY: &[u8] = b"pf/";
pub const TRIGGERS: &[u8] = b"pt/";
pub const PROCESS_LINK: &[u8] = b"pl/";
pub const EVENT: &[u8] = b"e/";
pub const EVENT_SUMMARY: &[u8] = b"ef/";
pub const WALKS: &[u8] = b"w/";
pub const EVIDENCE: &[u8] = b"d/";
pub const VALIDATOR_SETS: &[u8] = b"vs/";
pub const VALIDATOR_LIVENESS: &[u8] = b"vl/";
/// The batches blocks of the current and the previous epoch committed, by epoch then digest.
pub const COMMITTED_BATCHES: &[u8] = b"cb/";

fn join(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.extend_from_slice(prefix);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

pub fn account(address: &Address) -> Vec<u8> {
    join(ACCOUNT, &[&address.0])
}

pub fn validator(address: &Address) -> Vec<u8> {
    join(VALIDATOR, &[&address.0])
}

/// Which validator uses a consensus key: a key may serve one validator only.
pub fn consensus_key(key: &PublicKey) -> Vec<u8> {
    join(CONSENSUS_KEY, &[&key.0])
}

pub fn service(id: &Hash) -> Vec<u8> {
    join(SERVICE, &[&id.0])
}

/// Bundles are stored once per digest: services sharing a module share its bytes.
pub fn bundle(digest: &Hash) -> Vec<u8> {
    join(BUNDLE, &[&digest.0])
}

pub fn runner(id: &Hash) -> Vec<u8> {
    join(RUNNER, &[&id.0])
}

/// The runners of a service, in runner id order: the candidates of a draw.
pub fn service_runner(service: &Hash, runner: &Hash) -> Vec<u8> {
    join(SERVICE_RUNNERS, &[&service.0, &runner.0])
}

pub fn service_runners_prefix(service: &Hash) -> Vec<u8> {
    join(SERVICE_RUNNERS, &[&service.0])
}

/// Stake released at a chain time (ms). Big-endian, so the releases due by a time are the head
/// of the prefix, in (time, kind, id) order.
pub fn validator_release(at_ms: u64, address: &Address) -> Vec<u8> {
    join(
        RELEASES,
        &[&at_ms.to_be_bytes(), &[RELEASE_VALIDATOR], &address.0],
    )
}

pub fn runner_release(at_ms: u64, runner: &Hash) -> Vec<u8> {
    join(
        RELEASES,
        &[&at_ms.to_be_bytes(), &[RELEASE_RUNNER], &runner.0],
    )
}

/// The big-endian u64 that follows `prefix` in a key: the due time of a [`queue_entry`] or a
/// release.
pub fn due_of(prefix: &[u8], key: &[u8]) -> Option<u64> {
    let bytes = key.strip_prefix(prefix)?.get(..8)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

pub const RELEASE_VALIDATOR: u8 = 1;
pub const RELEASE_RUNNER: u8 = 2;

pub fn meta(name: &str) -> Vec<u8> {
    join(META, &[name.as_bytes()])
}

/// The chain's bookkeeping entries (all under `m/`).
pub mod meta_names {
    pub const CHAIN: &str = "chain";
    pub const HEIGHT: &str = "height";
    pub const SEED: &str = "seed";
    pub const BURNED: &str = "burned";
    /// The genesis supply: balances + stakes + escrows + process balances + burned, forever.
    pub const SUPPLY: &str = "supply";
    pub const VALIDATOR_SET: &str = "validator_set";
    /// The sequence number the next queued walk takes.
    pub const WALK_SEQ: &str = "walk_seq";
    /// Chain time (ms) of the last executed block: the clock of readers (the runner agent).
    pub const TIME: &str = "time";
}

pub fn execution(id: &Hash) -> Vec<u8> {
    join(EXECUTION, &[&id.0])
}

pub fn execution_summary(id: &Hash) -> Vec<u8> {
    join(EXECUTION_SUMMARY, &[&id.0])
}

/// A deadline, window or retention that ends at chain time `due_ms`, by kind then object id:
/// the index by due time that finds them without scanning executions. The first block whose
/// timestamp is at least `due_ms` takes it (the head of the prefix, in (due, kind, id) order).
pub fn queue_entry(due_ms: u64, kind: QueueKind, id: &Hash) -> Vec<u8> {
    join(QUEUE, &[&due_ms.to_be_bytes(), &[kind as u8], &id.0])
}

/// Draws are due in the block after their cause, whatever its time (they need its seed): by
/// height, then kind and execution id.
pub fn draws_at(height: u64) -> Vec<u8> {
    join(DRAWS, &[&height.to_be_bytes()])
}

pub fn draw_entry(height: u64, kind: QueueKind, id: &Hash) -> Vec<u8> {
    join(DRAWS, &[&height.to_be_bytes(), &[kind as u8], &id.0])
}

/// A disputed WebAssembly execution waiting for the chain's re-run, by the height its settlement
/// came due then execution id: the order settlements run in within a block, so reading the
/// prefix from its head is first come, first served across blocks.
pub fn rerun_entry(due_height: u64, id: &Hash) -> Vec<u8> {
    join(RERUNS, &[&due_height.to_be_bytes(), &id.0])
}

/// An execution drawn for an audit (docs/economy.md, "Audits") while it waits in the re-run
/// queue: tells its re-run apart from a dispute's. Removed when the audit runs.
pub fn audit(id: &Hash) -> Vec<u8> {
    join(AUDITS, &[&id.0])
}

/// The (due height, execution id) of a [`rerun_entry`] key.
pub fn parse_rerun_entry(key: &[u8]) -> Option<(u64, Hash)> {
    let rest = key.strip_prefix(RERUNS)?;
    let (height, id) = rest.split_at_checked(8)?;
    Some((
        u64::from_be_bytes(height.try_into().ok()?),
        Hash::from_slice(id)?,
    ))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum QueueKind {
    /// Assign a runner to a requested execution.
    Assign = 1,
    /// Draw the verifiers of a committed execution.
    DrawVerifiers = 2,
    /// The runner's deadline.
    Expire = 3,
    /// The verifiers' commit window closes.
    CloseCommits = 4,
    /// The reveal window closes (or everyone revealed): settle.
    Settle = 5,
    /// A finished execution's retention ends.
    Prune = 6,
    /// An event record's retention ends.
    PruneEvent = 7,
    /// A closed process's retention ends.
    PruneProcess = 8,
}

impl QueueKind {
    pub fn from_byte(byte: u8) -> Option<QueueKind> {
        Some(match byte {
            1 => QueueKind::Assign,
            2 => QueueKind::DrawVerifiers,
            3 => QueueKind::Expire,
            4 => QueueKind::CloseCommits,
            5 => QueueKind::Settle,
            6 => QueueKind::Prune,
            7 => QueueKind::PruneEvent,
            8 => QueueKind::PruneProcess,
            _ => return None,
        })
    }
}

pub fn process(id: &Hash) -> Vec<u8> {
    join(PROCESS, &[&id.0])
}

/// What stays of a process once pruned: its final status, queryable by id.
pub fn process_summary(id: &Hash) -> Vec<u8> {
    join(PROCESS_SUMMARY, &[&id.0])
}

/// The open processes a trigger fires, in process id order: `trigger` is
/// [`trigger_id`] of the (service, event key) it listens to.
pub fn triggers_prefix(trigger: &Hash) -> Vec<u8> {
    join(TRIGGERS, &[&trigger.0])
}

pub fn trigger_entry(trigger: &Hash, process: &Hash) -> Vec<u8> {
    join(TRIGGERS, &[&trigger.0, &process.0])
}

/// One key per (service, event key), whatever the key's length.
pub fn trigger_id(service: &Hash, event: &str) -> Hash {
    runnet_types::encoding::hash_of(&("trigger", service, event))
}

/// Where an execution a process created resumes its walk when it completes.
pub fn process_link(execution: &Hash) -> Vec<u8> {
    join(PROCESS_LINK, &[&execution.0])
}

pub fn event(id: &Hash) -> Vec<u8> {
    join(EVENT, &[&id.0])
}

pub fn event_summary(id: &Hash) -> Vec<u8> {
    join(EVENT_SUMMARY, &[&id.0])
}

/// The walk queue, in the order walks were queued.
pub fn walk(seq: u64) -> Vec<u8> {
    join(WALKS, &[&seq.to_be_bytes()])
}

/// One punished equivocation: the validator, then the epoch and round it equivocated in.
/// A validator's record of the certificates it was missing from (docs/economy.md, "Downtime").
pub fn validator_liveness(validator: &Address) -> Vec<u8> {
    join(VALIDATOR_LIVENESS, &[&validator.0])
}

/// A batch a block of `epoch` committed (docs/economy.md, "Skipped transactions"): named again,
/// it costs its author nothing.
pub fn committed_batch(epoch: u64, digest: &Hash) -> Vec<u8> {
    join(COMMITTED_BATCHES, &[&epoch.to_be_bytes(), &digest.0])
}

/// The batches blocks of `epoch` committed, to drop them all at once.
pub fn committed_batches_of(epoch: u64) -> Vec<u8> {
    join(COMMITTED_BATCHES, &[&epoch.to_be_bytes()])
}

pub fn evidence(validator: &Address, epoch: u64, round: u64) -> Vec<u8> {
    join(
        EVIDENCE,
        &[&validator.0, &epoch.to_be_bytes(), &round.to_be_bytes()],
    )
}

/// The validator set of an epoch, kept while evidence about it may still land.
pub fn validator_set(epoch: u64) -> Vec<u8> {
    join(VALIDATOR_SETS, &[&epoch.to_be_bytes()])
}
