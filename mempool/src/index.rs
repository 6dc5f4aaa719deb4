//! Every transaction and raw payload the mempool holds, by id and by (sender, nonce).
//!
//! An item is either waiting for a batch here or sits in one or more stored batches (a peer may
//! batch a transaction this node also holds); it leaves the index when its last batch commits or
//! when it is evicted or made stale while waiting. The (sender, nonce) slot belongs to the first
//! transaction that claimed it, so a conflicting copy in a peer's batch never displaces it.

use crate::FastMap;
use runnet_types::{Address, Hash};
use std::collections::BTreeMap;
use std::collections::btree_map::Entry as SlotEntry;
use std::collections::hash_map::Entry;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// In the waiting queue, under this sequence number.
    Waiting(u64),
    /// In this many stored batches.
    Stored(u32),
    /// Its last batch was committed and its block is not yet executed: it stays indexed, so a
    /// late copy is a duplicate and its nonce slot stays taken, until the executed state has
    /// passed it ([`crate::Mempool::on_executed`]).
    Committed,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Known {
    /// `None` for a raw payload.
    pub sender: Option<Address>,
    pub nonce: u64,
    /// gas_limit x gas_price: what the sender must be able to pay.
    pub cost: u128,
    pub place: Place,
}

#[derive(Default)]
pub(crate) struct TxIndex {
    // Looked up, never iterated: its order decides nothing.
    known: FastMap<Hash, Known>,
    by_sender: BTreeMap<(Address, u64), Hash>,
    /// Per sender, the total cost of the items holding its slots in `by_sender`, so
    /// [`TxIndex::reserved`] does not walk every pending transaction of the sender (that walk
    /// was 7 % of a loaded node's time).
    cost_by_sender: FastMap<Address, u128>,
}

impl TxIndex {
    pub fn get(&self, id: &Hash) -> Option<&Known> {
        self.known.get(id)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.known.len()
    }

    #[cfg(test)]
    pub fn entries(&self) -> impl Iterator<Item = (&Hash, &Known)> {
        self.known.iter()
    }

    /// The transaction holding the (sender, nonce) slot.
    pub fn slot(&self, sender: &Address, nonce: u64) -> Option<Hash> {
        self.by_sender.get(&(*sender, nonce)).copied()
    }

    /// Adds an item that is not yet indexed. Claims its (sender, nonce) slot if free.
    pub fn insert(&mut self, id: Hash, known: Known) {
        if let Some(sender) = known.sender
            && let SlotEntry::Vacant(slot) = self.by_sender.entry((sender, known.nonce))
        {
            slot.insert(id);
            let total = self.cost_by_sender.entry(sender).or_default();
            *total = total.saturating_add(known.cost);
        }
        self.known.insert(id, known);
    }

    /// One more stored batch holds `id`. Returns the queue sequence number if it was waiting,
    /// so the caller takes it out of the queue: the peer's batch carries it now.
    pub fn add_batch_ref(&mut self, id: Hash, fresh: Known) -> Option<u64> {
        match self.known.entry(id) {
            Entry::Occupied(mut entry) => match entry.get().place {
                Place::Waiting(seq) => {
                    entry.get_mut().place = Place::Stored(1);
                    Some(seq)
                }
                Place::Stored(refs) => {
                    entry.get_mut().place = Place::Stored(refs.saturating_add(1));
                    None
                }
                // Committed already: a copy in another batch changes nothing.
                Place::Committed => None,
            },
            Entry::Vacant(_) => {
                self.insert(id, fresh);
                None
            }
        }
    }

    /// An uncommitted stored batch holding `id` left the store (it expired); the item is
    /// forgotten with its last batch.
    pub fn drop_batch_ref(&mut self, id: &Hash) {
        let Entry::Occupied(mut entry) = self.known.entry(*id) else {
            return;
        };
        let last = match &mut entry.get_mut().place {
            Place::Stored(refs) if *refs > 1 => {
                *refs -= 1;
                false
            }
            Place::Stored(_) => true,
            // Leaves when its block is executed, not with a stray copy's batch.
            Place::Waiting(_) | Place::Committed => false,
        };
        if last {
            let known = entry.remove();
            self.unslot(id, &known);
        }
    }

    /// A committed block named a stored batch holding `id`. When that was the item's last
    /// batch it becomes [`Place::Committed`]; returns whether it did (the caller releases it
    /// when the block is executed).
    pub fn commit_batch_ref(&mut self, id: &Hash) -> bool {
        let Some(known) = self.known.get_mut(id) else {
            return false;
        };
        match &mut known.place {
            Place::Stored(refs) if *refs > 1 => {
                *refs -= 1;
                false
            }
            Place::Stored(_) => {
                known.place = Place::Committed;
                true
            }
            Place::Waiting(_) | Place::Committed => false,
        }
    }

    /// Forgets a committed item once its block was executed; returns its sender.
    pub fn release_committed(&mut self, id: &Hash) -> Option<Address> {
        let known = *self.known.get(id)?;
        if known.place != Place::Committed {
            return None;
        }
        self.known.remove(id);
        self.unslot(id, &known);
        known.sender
    }

    pub fn set_place(&mut self, id: &Hash, place: Place) {
        if let Some(known) = self.known.get_mut(id) {
            known.place = place;
        }
    }

    pub fn remove(&mut self, id: &Hash) -> Option<Known> {
        let known = self.known.remove(id)?;
        self.unslot(id, &known);
        Some(known)
    }

    /// Frees the (sender, nonce) slot `id` held, if it held it, and its cost.
    fn unslot(&mut self, id: &Hash, known: &Known) {
        if let Some(sender) = known.sender
            && let SlotEntry::Occupied(slot) = self.by_sender.entry((sender, known.nonce))
            && slot.get() == id
        {
            slot.remove();
            if let Entry::Occupied(mut total) = self.cost_by_sender.entry(sender) {
                *total.get_mut() = total.get().saturating_sub(known.cost);
                if self
                    .by_sender
                    .range((sender, 0)..=(sender, u64::MAX))
                    .next()
                    .is_none()
                {
                    total.remove();
                }
            }
        }
    }

    /// Total cost of the sender's indexed transactions with a nonce of at least `from`: what
    /// its balance must still cover besides a newcomer. Older ones are already executed or
    /// will be skipped.
    pub fn reserved(&self, sender: &Address, from: u64) -> u128 {
        let total = self.cost_by_sender.get(sender).copied().unwrap_or(0);
        // Those below `from` are few: they leave when the commit that passed them is seen.
        let below = self
            .by_sender
            .range((*sender, 0)..(*sender, from))
            .filter_map(|(_, id)| self.known.get(id))
            .map(|known| known.cost)
            .fold(0u128, u128::saturating_add);
        total.saturating_sub(below)
    }

    /// What [`TxIndex::reserved`] must equal, by walking every slot.
    #[cfg(test)]
    pub fn reserved_by_walk(&self, sender: &Address, from: u64) -> u128 {
        self.by_sender
            .range((*sender, from)..=(*sender, u64::MAX))
            .filter_map(|(_, id)| self.known.get(id))
            .map(|known| known.cost)
            .fold(0u128, u128::saturating_add)
    }

    /// The sender's indexed items with a nonce below `below`.
    pub fn below(&self, sender: &Address, below: u64) -> Vec<(Hash, Known)> {
        self.by_sender
            .range((*sender, 0)..(*sender, below))
            .filter_map(|(_, id)| self.known.get(id).map(|known| (*id, *known)))
            .collect()
    }

    /// The first nonce from `committed` on that no indexed transaction of `sender` holds.
    pub fn next_nonce(&self, sender: &Address, committed: u64) -> u64 {
        let mut next = committed;
        for ((_, nonce), _) in self
            .by_sender
            .range((*sender, committed)..=(*sender, u64::MAX))
        {
            if *nonce != next {
                break;
            }
            next = next.saturating_add(1);
        }
        next
    }
}
