//! The mempool's limits and the node's view of committed accounts.

use runnet_types::{Address, Amount};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Transactions for any other chain are refused (the node sets it from genesis).
    pub chain_id: String,
    /// Transactions admitted here and not yet committed: waiting for a batch or in one of this
    /// node's own uncommitted batches.
    pub max_pending_txs: usize,
    /// Encoded bytes of those transactions.
    pub max_pending_bytes: usize,
    pub max_batch_txs: usize,
    /// Kept well under [`runnet_types::batch::MAX_BATCH_BYTES`]; one transaction larger than this
    /// still gets a batch of its own.
    pub max_batch_bytes: usize,
    /// A batch that is not full is sealed this long after its oldest transaction arrived.
    pub max_batch_delay_ms: u64,
    /// Nonces accepted: `[committed, committed + nonce_window)`.
    pub nonce_window: u64,
    /// Uncommitted batches held, this node's and its peers'. Batches fetched because a proposal
    /// named them are held beyond this bound: refusing them would stall the vote.
    pub max_stored_batches: usize,
    pub max_stored_batch_bytes: usize,
    /// Bytes of stored batches one validator may have pushed here. Batches from peers that are
    /// not validators never reach the store (the node admits their transactions one by one).
    pub max_author_batch_bytes: usize,
    /// Bytes of the store kept for this node's own batches: all pushed batches together stay
    /// within `max_stored_batch_bytes` minus this, so a flood never stops this node sealing.
    pub reserved_own_batch_bytes: usize,
    /// How far fetched batches (a proposal named them, a vote waits) may take the store past
    /// `max_stored_batch_bytes`: at least one block's worth (genesis `max_block_bytes`).
    pub max_fetched_overflow_bytes: usize,
    /// A stored batch that no committed block named this long after it was stored is dropped
    /// (a peer's batch that is never proposed, or this node's own that lost every race).
    pub max_batch_age_ms: u64,
    /// Items a block may carry (the proposer's limit): a peer's batch with more could never
    /// be proposed, so it is refused.
    pub max_block_items: usize,
    /// How many committed batch digests are remembered, so a late copy is neither stored nor
    /// proposed again.
    pub max_recent_committed: usize,
    /// How many committed transactions are remembered until their block is executed, so a
    /// late copy is refused as a duplicate in between (about 13 MB at the bound).
    pub max_unexecuted_txs: usize,
    /// Genesis `min_gas_price` (at least 1: a zero price is always refused).
    pub min_gas_price: u64,
    /// Genesis `max_block_gas`: a transaction that asks for more could never be included.
    pub max_gas_limit: u64,
    /// Raw benchmark payloads are admitted, and accepted in peers' batches, only when a testnet
    /// enables them.
    pub allow_raw: bool,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            chain_id: String::new(),
            max_pending_txs: 5_000,
            max_pending_bytes: 64 << 20,
            max_batch_txs: 4_000,
            max_batch_bytes: 1 << 20,
            max_batch_delay_ms: 50,
            nonce_window: 1_000,
            max_stored_batches: 10_000,
            max_stored_batch_bytes: 1 << 30,
            max_author_batch_bytes: 256 << 20,
            reserved_own_batch_bytes: 256 << 20,
            max_fetched_overflow_bytes: 64 << 20,
            max_batch_age_ms: 60_000,
            max_block_items: 20_000,
            max_recent_committed: 100_000,
            max_unexecuted_txs: 200_000,
            min_gas_price: 1,
            max_gas_limit: 20_000_000_000,
            allow_raw: false,
        }
    }
}

/// What the node knows of committed state.
pub trait AccountView {
    /// (balance, next expected nonce) of an account in the last committed state; (0, 0) if absent.
    fn account(&self, address: &Address) -> (Amount, u64);
}

impl<F: Fn(&Address) -> (Amount, u64)> AccountView for F {
    fn account(&self, address: &Address) -> (Amount, u64) {
        self(address)
    }
}

impl AccountView for BTreeMap<Address, (Amount, u64)> {
    fn account(&self, address: &Address) -> (Amount, u64) {
        self.get(address).copied().unwrap_or((0, 0))
    }
}
