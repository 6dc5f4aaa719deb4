//! Unit tests and the property test, with access to the internals they check.

mod admission;
mod commit;
mod hostile;
mod peers;
mod props;
mod sealing;

use crate::{AccountView, Mempool, MempoolConfig};
use runnet_types::{Address, Amount, Batch, Hash, Payload, SecretKey, SignedTx, TxBody};
use std::collections::BTreeMap;

pub(crate) const CHAIN: &str = "runnet-test";
pub(crate) const GAS_LIMIT: u64 = 10_000;

pub(crate) fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

pub(crate) fn address(key: &SecretKey) -> Address {
    key.public().address()
}

/// A transfer whose `amount` makes otherwise equal transactions distinct.
pub(crate) fn transfer(key: &SecretKey, nonce: u64, gas_price: u64, amount: Amount) -> SignedTx {
    TxBody {
        chain_id: CHAIN.into(),
        sender: key.public(),
        nonce,
        gas_limit: GAS_LIMIT,
        gas_price,
        payload: Payload::Transfer {
            to: Address([7; 20]),
            amount,
        },
    }
    .sign(key)
}

pub(crate) fn config() -> MempoolConfig {
    MempoolConfig {
        chain_id: CHAIN.into(),
        ..MempoolConfig::default()
    }
}

pub(crate) type View = BTreeMap<Address, (Amount, u64)>;

/// The validator that pushes peers' batches in these tests, and whose key signs them; a pool
/// from [`new_pool`] signs its own batches with this key too.
pub(crate) const PEER: crate::Source = crate::Source::Pushed(Address([0xAA; 20]));
/// A second validator ([`other_key`] signs for it).
pub(crate) const OTHER: crate::Source = crate::Source::Pushed(Address([0xBB; 20]));

pub(crate) fn peer_key() -> SecretKey {
    key(0xAA)
}

pub(crate) fn other_key() -> SecretKey {
    key(0xBB)
}

/// A mempool that signs with [`peer_key`] and knows both test validators as authors.
pub(crate) fn new_pool(config: MempoolConfig) -> Mempool {
    pool_signed_by(config, peer_key())
}

pub(crate) fn pool_signed_by(config: MempoolConfig, signer: SecretKey) -> Mempool {
    let mut pool = Mempool::new(config, signer);
    pool.set_authors(BTreeMap::from([
        (peer_key().public(), Address([0xAA; 20])),
        (other_key().public(), Address([0xBB; 20])),
    ]));
    pool
}

/// A batch [`peer_key`] authored.
pub(crate) fn signed_batch(txs: Vec<SignedTx>, raw: Vec<Vec<u8>>) -> Batch {
    Batch::signed(txs, raw, CHAIN, &peer_key())
}

/// Committed state where every account is rich and at nonce 0.
pub(crate) fn funded(_: &Address) -> (Amount, u64) {
    (1_000_000_000_000, 0)
}

/// Every key from `0..n` funded with a large balance, nonces at 0.
pub(crate) fn rich(keys: impl IntoIterator<Item = u8>) -> View {
    keys.into_iter()
        .map(|n| (address(&key(n)), (1_000_000_000_000, 0)))
        .collect()
}

/// A batch of `n` transfers of one key, signed, with its encoding.
pub(crate) fn peer_batch(seed: u8, n: u64) -> (Batch, Vec<u8>) {
    let k = key(seed);
    let batch = signed_batch(
        (0..n).map(|nonce| transfer(&k, nonce, 1, 1)).collect(),
        vec![],
    );
    let bytes = batch.encode();
    (batch, bytes)
}

/// Admits `tx` and insists it worked.
pub(crate) fn admit_ok(pool: &mut Mempool, tx: &SignedTx, view: &View, now_ms: u64) -> Hash {
    let id = pool.admit(&tx.encode(), view, now_ms);
    assert_eq!(id, Ok(tx.hash()));
    tx.hash()
}

/// A block committing `digests` is executed at once, with `view` as its state.
pub(crate) fn commit_executed(pool: &mut Mempool, digests: &[Hash], view: &dyn AccountView) {
    pool.on_commit(digests, 1);
    pool.on_executed(1, view);
}

/// The mempool's observable sizes, to show an error changed nothing.
pub(crate) fn sizes(pool: &Mempool) -> (usize, usize, usize, usize, usize, u64) {
    let stats = pool.stats();
    (
        stats.pending_txs,
        stats.pending_bytes,
        stats.waiting_txs,
        stats.stored_batches,
        stats.stored_batch_bytes,
        stats.admitted,
    )
}

#[test]
fn the_node_can_share_it_behind_a_mutex() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Mempool>();
    send_and_sync::<crate::SealedBatch>();
    send_and_sync::<crate::AdmitError>();
    send_and_sync::<crate::BatchRejected>();
}
