//! Counters for metrics and the operator.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MempoolStats {
    /// Admitted here and not yet committed (waiting plus in this node's own batches).
    pub pending_txs: usize,
    pub pending_bytes: usize,
    /// Of those, waiting for a batch.
    pub waiting_txs: usize,
    pub stored_batches: usize,
    pub stored_batch_bytes: usize,
    /// Items admitted since start (transactions and raw payloads).
    pub admitted: u64,
    /// Refused admissions by [`crate::AdmitError::kind`].
    pub refused: BTreeMap<&'static str, u64>,
    pub batches_sealed: u64,
    pub batches_received: u64,
    /// Refused peers' batches by [`crate::BatchRejected::kind`].
    pub batches_rejected: BTreeMap<&'static str, u64>,
    pub batches_committed: u64,
    /// Stored batches dropped because no committed block named them in `max_batch_age_ms`.
    pub batches_expired: u64,
    /// Waiting items pushed out by better-paying newcomers.
    pub evicted: u64,
    /// Waiting transactions dropped because their sender's committed nonce passed them.
    pub stale_dropped: u64,
}
