//! Admitted items waiting for a batch: in arrival order for sealing, and by price for eviction.

use runnet_types::{Hash, SignedTx};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

// Nearly every item is a transaction: boxing it to shrink the rare raw payload's variant would
// cost an allocation per admission.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum Item {
    Tx(SignedTx),
    Raw(Vec<u8>),
}

#[derive(Clone, Debug)]
pub(crate) struct Waiting {
    pub id: Hash,
    pub item: Item,
    /// Encoded bytes (the transaction's encoding, or the raw payload's length).
    pub size: usize,
    pub gas_price: u64,
    pub arrived_ms: u64,
}

/// The eviction order: cheapest first and, among equals, the newest first, so the longest
/// waiting keep their place.
type EvictKey = (u64, Reverse<u64>);

#[derive(Default)]
pub(crate) struct Queue {
    by_seq: BTreeMap<u64, Waiting>,
    by_price: BTreeSet<EvictKey>,
    bytes: usize,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn push(&mut self, seq: u64, waiting: Waiting) {
        self.bytes += waiting.size;
        self.by_price.insert((waiting.gas_price, Reverse(seq)));
        self.by_seq.insert(seq, waiting);
    }

    pub fn remove(&mut self, seq: u64) -> Option<Waiting> {
        let waiting = self.by_seq.remove(&seq)?;
        self.by_price.remove(&(waiting.gas_price, Reverse(seq)));
        self.bytes -= waiting.size;
        Some(waiting)
    }

    pub fn oldest(&self) -> Option<&Waiting> {
        self.by_seq.values().next()
    }

    pub fn get(&self, seq: u64) -> Option<&Waiting> {
        self.by_seq.get(&seq)
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Waiting)> {
        self.by_seq.iter().map(|(seq, waiting)| (*seq, waiting))
    }

    /// Cheapest first, as (gas price, sequence number), after `after` (a key this iterator
    /// returned earlier) or from the start.
    pub fn eviction_order(&self, after: Option<(u64, u64)>) -> impl Iterator<Item = (u64, u64)> {
        let start = match after {
            Some((price, seq)) => Bound::Excluded((price, Reverse(seq))),
            None => Bound::Unbounded,
        };
        self.by_price
            .range((start, Bound::Unbounded))
            .map(|(price, Reverse(seq))| (*price, *seq))
    }
}
