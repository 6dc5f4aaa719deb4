//! The mempool: admits transactions, packs them into batches, verifies every batch once, stores
//! batches by digest, hands the proposer digests and drops what commits made stale.
//!
//! (Being built: see issue 5.)
