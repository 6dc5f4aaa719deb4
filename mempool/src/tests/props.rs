//! Random sequences of admissions, seals, peers' batches and commits keep the bounds and never
//! lose or duplicate an admitted transaction.

use super::*;
use crate::index::Place;
use crate::{AdmitError, BatchRejected};
use proptest::prelude::*;
use runnet_types::batch::{MIN_RAW_PAYLOAD_BYTES, raw_payload_id};
use std::collections::{BTreeMap, BTreeSet};

const SENDERS: u8 = 5;

/// A generated transaction: sender, nonce ahead of the committed one, gas price, size (a
/// transfer below 160, else a request whose inputs grow with it), and a forged signature.
#[derive(Clone, Copy, Debug)]
struct Spec {
    sender: u8,
    ahead: u8,
    price: u8,
    size: u8,
    forged: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Admit(Spec),
    AdmitMany(Vec<Spec>),
    AdmitRaw,
    Seal(u8),
    Commit(u8),
    /// A peer's batch: `count` fresh transactions of a sender, plus maybe a copy of one this
    /// node holds.
    Peer {
        sender: u8,
        count: u8,
        copy: Option<u8>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let tx = || {
        (
            0..SENDERS,
            0..4u8,
            1..5u8,
            any::<u8>(),
            proptest::bool::weighted(0.15),
        )
            .prop_map(|(sender, ahead, price, size, forged)| Spec {
                sender,
                ahead,
                price,
                size,
                forged,
            })
    };
    prop_oneof![
        4 => tx().prop_map(Op::Admit),
        1 => proptest::collection::vec(tx(), 1..5).prop_map(Op::AdmitMany),
        1 => Just(Op::AdmitRaw),
        2 => (0..30u8).prop_map(Op::Seal),
        2 => any::<u8>().prop_map(Op::Commit),
        1 => (0..SENDERS, 1..4u8, proptest::option::of(any::<u8>()))
            .prop_map(|(sender, count, copy)| Op::Peer { sender, count, copy }),
    ]
}

fn prop_config() -> MempoolConfig {
    MempoolConfig {
        max_pending_txs: 8,
        max_pending_bytes: 1_200,
        max_batch_txs: 3,
        max_batch_delay_ms: 10,
        nonce_window: 4,
        max_stored_batches: 4,
        max_stored_batch_bytes: 1_500,
        allow_raw: true,
        ..config()
    }
}

struct Model {
    keys: Vec<SecretKey>,
    view: View,
    now: u64,
    /// Makes every generated transaction and raw payload distinct.
    counter: u64,
    /// Transactions admitted here, by id.
    admitted: BTreeMap<Hash, Option<SignedTx>>,
    /// Ids in batches that committed.
    committed: BTreeSet<Hash>,
}

impl Model {
    fn new() -> Model {
        let keys: Vec<SecretKey> = (0..SENDERS).map(|n| key(n + 1)).collect();
        // Balances from two to ten maximum-gas transactions at price 2.
        let view = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (address(k), (2 * GAS_LIMIT * 2 * (i as u64 + 1), 0)))
            .collect();
        Model {
            keys,
            view,
            now: 0,
            counter: 0,
            admitted: BTreeMap::new(),
            committed: BTreeSet::new(),
        }
    }

    fn tx(&mut self, spec: Spec) -> SignedTx {
        let k = &self.keys[usize::from(spec.sender)];
        let committed = self.view.get(&address(k)).map_or(0, |(_, nonce)| *nonce);
        self.counter += 1;
        let nonce = committed + u64::from(spec.ahead);
        let price = u64::from(spec.price);
        let mut tx = if spec.size < 160 {
            transfer(k, nonce, price, self.counter)
        } else {
            let mut body = transfer(k, nonce, price, 0).body;
            body.payload = Payload::RequestExecution {
                service: Hash([1; 32]),
                task: self.counter.to_string(),
                inputs: vec![0; 3 * usize::from(spec.size - 160)],
                max_fee: 1,
                runner: None,
            };
            body.sign(k)
        };
        if spec.forged {
            tx.signature.0[7] ^= 1;
        }
        tx
    }

    /// What execution would do to the view: the next nonce pays its maximum gas.
    fn execute(&mut self, batch: &Batch) {
        for tx in &batch.txs {
            let cost = tx.body.gas_limit * tx.body.gas_price;
            if let Some((balance, nonce)) = self.view.get_mut(&tx.sender_address())
                && *nonce == tx.body.nonce
                && *balance >= cost
            {
                *nonce += 1;
                *balance -= cost;
            }
        }
    }
}

fn expected_refusal(error: &AdmitError, spec: Spec) -> bool {
    matches!(
        error,
        AdmitError::NonceTaken { .. }
            | AdmitError::InsufficientBalance { .. }
            | AdmitError::Busy { .. }
            | AdmitError::Duplicate(_)
    ) || (spec.forged && *error == AdmitError::BadSignature)
}

fn apply(pool: &mut Mempool, model: &mut Model, op: Op) -> Result<(), TestCaseError> {
    match op {
        Op::Admit(spec) => {
            let tx = model.tx(spec);
            match pool.admit(&tx.encode(), &model.view, model.now) {
                Ok(id) => {
                    prop_assert!(!spec.forged);
                    prop_assert_eq!(id, tx.hash());
                    model.admitted.insert(id, Some(tx));
                }
                Err(error) => prop_assert!(expected_refusal(&error, spec), "{:?}", error),
            }
        }
        Op::AdmitMany(specs) => {
            let txs: Vec<SignedTx> = specs.iter().map(|spec| model.tx(*spec)).collect();
            let inputs: Vec<Vec<u8>> = txs.iter().map(SignedTx::encode).collect();
            let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
            let results = pool.admit_many(&refs, &model.view, model.now);
            prop_assert_eq!(results.len(), txs.len());
            for ((tx, result), spec) in txs.into_iter().zip(results).zip(specs) {
                match result {
                    Ok(id) => {
                        prop_assert!(!spec.forged);
                        prop_assert_eq!(id, tx.hash());
                        model.admitted.insert(id, Some(tx));
                    }
                    Err(error) => prop_assert!(expected_refusal(&error, spec), "{:?}", error),
                }
            }
        }
        Op::AdmitRaw => {
            model.counter += 1;
            let mut payload = model.counter.to_le_bytes().to_vec();
            payload.resize(MIN_RAW_PAYLOAD_BYTES, 0);
            match pool.admit_raw(payload, model.now) {
                Ok(id) => {
                    model.admitted.insert(id, None);
                }
                Err(error) => prop_assert!(error.is_busy(), "{:?}", error),
            }
        }
        Op::Seal(advance) => {
            model.now += u64::from(advance);
            for sealed in pool.seal_due(model.now) {
                prop_assert_eq!(sealed.digest, sealed.batch.digest());
            }
        }
        Op::Commit(pick) => {
            let stored = pool.next_payload(&BTreeSet::new(), usize::MAX, usize::MAX, usize::MAX);
            if stored.is_empty() {
                return Ok(());
            }
            let digest = stored[usize::from(pick) % stored.len()];
            let batch = pool.batch(&digest).expect("a proposed batch is stored");
            model.execute(&batch);
            model.committed.extend(batch.txs.iter().map(SignedTx::hash));
            model
                .committed
                .extend(batch.raw.iter().filter_map(|raw| raw_payload_id(raw)));
            commit_executed(pool, &[digest], &model.view);
        }
        Op::Peer {
            sender,
            count,
            copy,
        } => {
            let mut txs: Vec<SignedTx> = (0..count)
                .map(|ahead| {
                    model.tx(Spec {
                        sender,
                        ahead,
                        price: 1,
                        size: 0,
                        forged: false,
                    })
                })
                .collect();
            // Only a transaction still held: an evicted or dropped one never comes back.
            let held: Vec<SignedTx> = model
                .admitted
                .iter()
                .filter(|(id, tx)| tx.is_some() && pool.is_pending(id))
                .filter_map(|(_, tx)| tx.clone())
                .collect();
            if let Some(pick) = copy
                && !held.is_empty()
            {
                txs.push(held[usize::from(pick) % held.len()].clone());
            }
            let batch = signed_batch(txs, vec![]);
            match pool.receive_batch(&batch.encode(), PEER, &funded, 0) {
                Ok(_) | Err(BatchRejected::StoreFull { .. }) => {}
                Err(error) => prop_assert!(false, "{:?}", error),
            }
        }
    }
    Ok(())
}

fn check(pool: &Mempool, model: &Model) -> Result<(), TestCaseError> {
    let config = pool.config();
    let stats = pool.stats();
    prop_assert!(stats.pending_txs <= config.max_pending_txs);
    prop_assert!(stats.pending_bytes <= config.max_pending_bytes);
    prop_assert!(stats.stored_batches <= config.max_stored_batches);
    prop_assert!(stats.stored_batch_bytes <= config.max_stored_batch_bytes);

    let waiting: Vec<Hash> = pool.queue.iter().map(|(_, w)| w.id).collect();
    let waiting_set: BTreeSet<Hash> = waiting.iter().copied().collect();
    prop_assert_eq!(waiting.len(), waiting_set.len(), "waiting twice");
    prop_assert_eq!(
        pool.queue.bytes(),
        pool.queue.iter().map(|(_, w)| w.size).sum::<usize>()
    );

    let mut in_batches: BTreeMap<Hash, u32> = BTreeMap::new();
    let mut in_own: BTreeSet<Hash> = BTreeSet::new();
    let (mut own_txs, mut own_bytes) = (0, 0);
    for (digest, stored) in pool.store.in_order() {
        prop_assert_eq!(*digest, stored.batch.digest());
        prop_assert_eq!(stored.ids.len(), stored.batch.len());
        for id in &stored.ids {
            *in_batches.entry(*id).or_default() += 1;
        }
        if let Some((txs, bytes)) = stored.own {
            own_txs += txs;
            own_bytes += bytes;
            for id in &stored.ids {
                prop_assert!(in_own.insert(*id), "in two of this node's batches");
            }
        }
    }
    prop_assert_eq!(stats.pending_txs, waiting.len() + own_txs);
    prop_assert_eq!(stats.pending_bytes, pool.queue.bytes() + own_bytes);

    // The index agrees with the queue and the store, entry by entry.
    for (id, known) in pool.index.entries() {
        match known.place {
            Place::Waiting(_) => {
                prop_assert!(waiting_set.contains(id));
                prop_assert!(!in_batches.contains_key(id), "waiting and batched");
            }
            Place::Stored(refs) => {
                prop_assert!(!waiting_set.contains(id));
                prop_assert_eq!(in_batches.get(id).copied(), Some(refs));
            }
            // Every commit of the model is executed at once: nothing stays committed.
            Place::Committed => prop_assert!(false, "committed and never released"),
        }
    }
    let held: BTreeSet<&Hash> = waiting_set.iter().chain(in_batches.keys()).collect();
    prop_assert_eq!(pool.index.len(), held.len());
    // The per-sender cost totals agree with a walk over the slots.
    for key in model.keys.iter() {
        let sender = address(key);
        for from in [0, 1, 3] {
            prop_assert_eq!(
                pool.index.reserved(&sender, from),
                pool.index.reserved_by_walk(&sender, from)
            );
        }
    }

    // Every admitted item is waiting, batched, committed, or counted as evicted or dropped.
    let mut gone = 0u64;
    for id in model.admitted.keys() {
        let batched = in_batches.contains_key(id);
        prop_assert_eq!(pool.is_pending(id), waiting_set.contains(id) || batched);
        if !waiting_set.contains(id) && !batched && !model.committed.contains(id) {
            gone += 1;
        }
    }
    prop_assert_eq!(gone, stats.evicted + stats.stale_dropped);
    prop_assert_eq!(stats.admitted, model.admitted.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn bounds_hold_and_nothing_is_lost_or_duplicated(ops in proptest::collection::vec(op(), 1..60)) {
        let mut pool = new_pool(prop_config());
        let mut model = Model::new();
        for op in ops {
            apply(&mut pool, &mut model, op)?;
            check(&pool, &model)?;
        }
    }
}
