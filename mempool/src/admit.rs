//! Admission from the API: every cheap check first, room planned (evicting only cheaper waiting
//! items), and the signature last, so a full or hostile load costs as little as possible.

use crate::error::{AdmitError, quoted};
use crate::index::{Known, Place};
use crate::queue::{Item, Waiting};
use crate::{AccountView, Mempool};
use runnet_types::batch::{MAX_RAW_PAYLOAD_BYTES, MIN_RAW_PAYLOAD_BYTES, raw_payload_id};
use runnet_types::tx::{TxError, verify_txs};
use runnet_types::{Address, Hash, SignedTx};
use std::collections::{BTreeMap, HashSet};

/// How a raw payload's length prefix adds to its encoded size in a batch.
pub(crate) const RAW_PREFIX_BYTES: usize = 8;

/// What one call has already planned: items it admits must not collide with each other, and the
/// room and evictions they need add up.
#[derive(Default)]
struct Submission {
    ids: HashSet<Hash>,
    slots: BTreeMap<(Address, u64), Hash>,
    reserved: BTreeMap<Address, u128>,
    added_txs: usize,
    added_bytes: usize,
    evicted_txs: usize,
    evicted_bytes: usize,
    /// The eviction-order key of the last planned victim: victims are always the cheapest, so
    /// each call's victims are the next ones in that order.
    last_victim: Option<(u64, u64)>,
}

/// Transactions of one request that passed every check but their signatures, with the
/// refusals so far (counted only when admitted: [`Mempool::admit_verified`]).
pub struct Prechecked {
    refused: Vec<(usize, AdmitError)>,
    /// What the precheck learnt of each of `signed`, in the same order.
    checked: Vec<Checked>,
    signed: Vec<SignedTx>,
    len: usize,
}

/// A prechecked transaction's position in the request, encoded size and id (hashed once).
struct Checked {
    position: usize,
    size: usize,
    id: Hash,
}

impl Prechecked {
    /// One batch verification of the signatures; needs no mempool, so it runs outside its lock.
    pub fn verify(self) -> Verified {
        let verdicts = verify_txs(&self.signed);
        Verified {
            prechecked: self,
            verdicts,
        }
    }

    /// How many passed the precheck (what verification will cost).
    pub fn to_verify(&self) -> usize {
        self.signed.len()
    }
}

/// [`Prechecked`] with a verdict per signature: the only way into [`Mempool::admit_verified`].
pub struct Verified {
    prechecked: Prechecked,
    verdicts: Vec<bool>,
}

/// What admitting a transaction that passed every check but its signature takes.
struct Candidate {
    id: Hash,
    sender: Address,
    cost: u128,
    size: usize,
    /// Queue sequence numbers to evict to make room.
    victims: Vec<u64>,
}

impl Mempool {
    /// One transaction as the API received it.
    pub fn admit(
        &mut self,
        bytes: &[u8],
        view: &dyn AccountView,
        now_ms: u64,
    ) -> Result<Hash, AdmitError> {
        let checked = self
            .precheck(bytes, view, &mut Submission::default())
            .and_then(|(tx, candidate)| match tx.verify() {
                Ok(()) => Ok((tx, candidate)),
                Err(_) => Err(AdmitError::BadSignature),
            });
        match checked {
            Ok((tx, candidate)) => Ok(self.accept(tx, candidate, now_ms)),
            Err(error) => Err(self.refused(error)),
        }
    }

    /// Many at once (POST /v1/txs): one batch signature verification, a result per transaction,
    /// in order. Later transactions see the earlier ones of the same call as pending. A node
    /// that must not hold the mempool while verifying calls the three steps itself:
    /// [`Mempool::precheck_many`], [`Prechecked::verify`], [`Mempool::admit_verified`].
    pub fn admit_many(
        &mut self,
        txs: &[&[u8]],
        view: &dyn AccountView,
        now_ms: u64,
    ) -> Vec<Result<Hash, AdmitError>> {
        let prechecked = self.precheck_many(txs, view);
        self.admit_verified(prechecked.verify(), view, now_ms)
    }

    /// Every check of [`Mempool::admit_many`] but the signatures, counting nothing yet: the
    /// refusals are counted when [`Mempool::admit_verified`] reports them.
    pub fn precheck_many(&self, txs: &[&[u8]], view: &dyn AccountView) -> Prechecked {
        let mut submission = Submission::default();
        let mut prechecked = Prechecked {
            refused: Vec::new(),
            checked: Vec::new(),
            signed: Vec::new(),
            len: txs.len(),
        };
        for (position, bytes) in txs.iter().enumerate() {
            match self.precheck(bytes, view, &mut submission) {
                Ok((tx, candidate)) => {
                    prechecked.checked.push(Checked {
                        position,
                        size: candidate.size,
                        id: candidate.id,
                    });
                    prechecked.signed.push(tx);
                }
                Err(error) => prechecked.refused.push((position, error)),
            }
        }
        prechecked
    }

    /// Admits what passed [`Mempool::precheck_many`] and its signature check. The mempool may
    /// have changed since the precheck (another request, a commit), so every check but the
    /// signature runs again on the real state; a result per transaction, in order.
    pub fn admit_verified(
        &mut self,
        verified: Verified,
        view: &dyn AccountView,
        now_ms: u64,
    ) -> Vec<Result<Hash, AdmitError>> {
        let Verified {
            prechecked,
            verdicts,
        } = verified;
        let mut results: Vec<Option<Result<Hash, AdmitError>>> =
            (0..prechecked.len).map(|_| None).collect();
        for (position, error) in prechecked.refused {
            let refused = Err(self.refused(error));
            if let Some(slot) = results.get_mut(position) {
                *slot = Some(refused);
            }
        }
        let candidates = prechecked
            .signed
            .into_iter()
            .zip(prechecked.checked)
            .zip(verdicts);
        for ((tx, Checked { position, size, id }), ok) in candidates {
            let result = if ok {
                // Each accepted one is in the mempool itself: nothing to plan across them.
                match self.check_tx(&tx, Some(id), size, view, &mut Submission::default()) {
                    Ok(candidate) => Ok(self.accept(tx, candidate, now_ms)),
                    Err(error) => Err(self.refused(error)),
                }
            } else {
                Err(self.refused(AdmitError::BadSignature))
            };
            if let Some(slot) = results.get_mut(position) {
                *slot = Some(result);
            }
        }
        results
            .into_iter()
            .map(|result| result.unwrap_or(Err(AdmitError::BadSignature)))
            .collect()
    }

    /// An unsigned benchmark payload (refused unless `allow_raw`). Its id is its first 32 bytes
    /// ([`raw_payload_id`]).
    /// It pays nothing, so it never evicts anything and is the first to go.
    pub fn admit_raw(&mut self, payload: Vec<u8>, now_ms: u64) -> Result<Hash, AdmitError> {
        match self.check_raw(&payload) {
            Ok((id, size, victims)) => {
                self.evict_all(&victims);
                let seq = self.next_seq();
                self.index.insert(
                    id,
                    Known {
                        sender: None,
                        nonce: 0,
                        cost: 0,
                        place: Place::Waiting(seq),
                    },
                );
                self.queue.push(
                    seq,
                    Waiting {
                        id,
                        item: Item::Raw(payload),
                        size,
                        gas_price: 0,
                        arrived_ms: now_ms,
                    },
                );
                self.stats.admitted += 1;
                Ok(id)
            }
            Err(error) => Err(self.refused(error)),
        }
    }

    fn check_raw(&self, payload: &[u8]) -> Result<(Hash, usize, Vec<u64>), AdmitError> {
        if !self.config.allow_raw {
            return Err(AdmitError::RawDisabled);
        }
        if payload.len() > MAX_RAW_PAYLOAD_BYTES {
            return Err(AdmitError::Oversized {
                len: payload.len(),
                limit: MAX_RAW_PAYLOAD_BYTES,
            });
        }
        let id = raw_payload_id(payload).ok_or(AdmitError::RawTooSmall {
            len: payload.len(),
            min: MIN_RAW_PAYLOAD_BYTES,
        })?;
        if self.index.get(&id).is_some() {
            return Err(AdmitError::Duplicate(id));
        }
        let size = payload.len() + RAW_PREFIX_BYTES;
        let victims = self.plan_room(&mut Submission::default(), size, 0)?;
        Ok((id, size, victims))
    }

    /// Every check but the signature, cheapest first. Records the candidate in `submission`
    /// only when it passes.
    fn precheck(
        &self,
        bytes: &[u8],
        view: &dyn AccountView,
        submission: &mut Submission,
    ) -> Result<(SignedTx, Candidate), AdmitError> {
        let tx = SignedTx::decode(bytes).map_err(|error| match error {
            TxError::Decode(error) => AdmitError::from_decode(error),
            TxError::Signature(_) => AdmitError::BadSignature,
        })?;
        let candidate = self.check_tx(&tx, None, bytes.len(), view, submission)?;
        Ok((tx, candidate))
    }

    /// The checks of a decoded transaction of `size` encoded bytes, cheapest first; `id` is its
    /// hash when already known (it is computed only past the cheap refusals otherwise).
    fn check_tx(
        &self,
        tx: &SignedTx,
        id: Option<Hash>,
        size: usize,
        view: &dyn AccountView,
        submission: &mut Submission,
    ) -> Result<Candidate, AdmitError> {
        let body = &tx.body;
        if body.chain_id != self.config.chain_id {
            return Err(AdmitError::WrongChainId {
                expected: quoted(&self.config.chain_id),
                got: quoted(&body.chain_id),
            });
        }
        let min_gas_price = self.config.min_gas_price.max(1);
        if body.gas_price < min_gas_price {
            return Err(AdmitError::GasPriceTooLow {
                min: min_gas_price,
                got: body.gas_price,
            });
        }
        if body.gas_limit > self.config.max_gas_limit {
            return Err(AdmitError::GasLimitTooHigh {
                max: self.config.max_gas_limit,
                got: body.gas_limit,
            });
        }
        // A full mempool refuses before any lookup, unless the newcomer outbids a waiting item:
        // under overload, refusing must be the cheapest thing the node does.
        if self.is_full(size)
            && self
                .queue
                .eviction_order(None)
                .next()
                .is_none_or(|(cheapest, _)| cheapest >= body.gas_price)
        {
            return Err(AdmitError::Busy {
                pending_txs: self.pending_txs(),
                pending_bytes: self.pending_bytes(),
            });
        }
        let id = id.unwrap_or_else(|| tx.hash());
        if self.index.get(&id).is_some() || submission.ids.contains(&id) {
            return Err(AdmitError::Duplicate(id));
        }
        let sender = tx.sender_address();
        let nonce = body.nonce;
        let (balance, committed) = view.account(&sender);
        if nonce < committed {
            return Err(AdmitError::NonceTooLow {
                committed,
                got: nonce,
            });
        }
        if nonce - committed >= self.config.nonce_window {
            return Err(AdmitError::NonceTooHigh {
                committed,
                window: self.config.nonce_window,
                got: nonce,
            });
        }
        if let Some(pending) = self
            .index
            .slot(&sender, nonce)
            .or_else(|| submission.slots.get(&(sender, nonce)).copied())
        {
            return Err(AdmitError::NonceTaken { nonce, pending });
        }
        let cost = u128::from(body.gas_limit) * u128::from(body.gas_price);
        let needed = self
            .index
            .reserved(&sender, committed)
            .saturating_add(submission.reserved.get(&sender).copied().unwrap_or(0))
            .saturating_add(cost);
        if needed > u128::from(balance) {
            return Err(AdmitError::InsufficientBalance { needed, balance });
        }
        let victims = self.plan_room(submission, size, body.gas_price)?;
        submission.ids.insert(id);
        submission.slots.insert((sender, nonce), id);
        *submission.reserved.entry(sender).or_default() += cost;
        Ok(Candidate {
            id,
            sender,
            cost,
            size,
            victims,
        })
    }

    /// Whether one more item of `size` bytes is over a bound.
    fn is_full(&self, size: usize) -> bool {
        self.pending_txs() >= self.config.max_pending_txs
            || self.pending_bytes() + size > self.config.max_pending_bytes
    }

    /// Which waiting items must go for a newcomer of `size` bytes paying `gas_price`: only
    /// strictly cheaper ones. Busy when they do not free enough.
    fn plan_room(
        &self,
        submission: &mut Submission,
        size: usize,
        gas_price: u64,
    ) -> Result<Vec<u64>, AdmitError> {
        let mut txs =
            (self.pending_txs() + submission.added_txs + 1).saturating_sub(submission.evicted_txs);
        let mut bytes = (self.pending_bytes() + submission.added_bytes + size)
            .saturating_sub(submission.evicted_bytes);
        let mut victims = Vec::new();
        let mut freed = 0usize;
        let mut last = submission.last_victim;
        let mut order = self.queue.eviction_order(submission.last_victim);
        while txs > self.config.max_pending_txs || bytes > self.config.max_pending_bytes {
            match order.next() {
                Some((price, seq)) if price < gas_price => {
                    let victim_size = self.queue.get(seq).map_or(0, |waiting| waiting.size);
                    txs = txs.saturating_sub(1);
                    bytes = bytes.saturating_sub(victim_size);
                    freed += victim_size;
                    victims.push(seq);
                    last = Some((price, seq));
                }
                _ => {
                    return Err(AdmitError::Busy {
                        pending_txs: self.pending_txs(),
                        pending_bytes: self.pending_bytes(),
                    });
                }
            }
        }
        submission.last_victim = last;
        submission.added_txs += 1;
        submission.added_bytes += size;
        submission.evicted_txs += victims.len();
        submission.evicted_bytes += freed;
        Ok(victims)
    }

    fn accept(&mut self, tx: SignedTx, candidate: Candidate, now_ms: u64) -> Hash {
        self.evict_all(&candidate.victims);
        let seq = self.next_seq();
        let id = candidate.id;
        self.index.insert(
            id,
            Known {
                sender: Some(candidate.sender),
                nonce: tx.body.nonce,
                cost: candidate.cost,
                place: Place::Waiting(seq),
            },
        );
        self.queue.push(
            seq,
            Waiting {
                id,
                gas_price: tx.body.gas_price,
                item: Item::Tx(tx),
                size: candidate.size,
                arrived_ms: now_ms,
            },
        );
        self.stats.admitted += 1;
        id
    }

    fn evict_all(&mut self, victims: &[u64]) {
        for seq in victims {
            if let Some(waiting) = self.queue.remove(*seq) {
                self.index.remove(&waiting.id);
                self.stats.evicted += 1;
            }
        }
    }

    fn refused(&mut self, error: AdmitError) -> AdmitError {
        *self.stats.refused.entry(error.kind()).or_default() += 1;
        error
    }
}
