//! Skipped transactions and the block's byte budget (docs/economy.md, "Skipped transactions:
//! block space and who pays"): a block carries every transaction it names, so each takes its
//! bytes of `max_block_bytes`, applied or skipped, in block order.

mod common;

use common::*;
use runnet_state::{Outcome, SkipReason};
use runnet_types::{Address, Payload};

fn transfer(to: Address) -> Payload {
    Payload::Transfer { to, amount: 1 }
}

/// A chain whose blocks hold `room` transfers' bytes, and that transfer's length.
fn chain_with_room(room_in_halves: u64) -> (Chain, u64) {
    let probe = Chain::new(4);
    let tx_len = probe
        .body(0, transfer(addr(3)))
        .sign(&key(0))
        .encode()
        .len() as u64;
    let mut params = test_params();
    params.max_block_bytes = tx_len * room_in_halves / 2;
    (Chain::with_params(4, params), tx_len)
}

#[test]
fn skipped_copies_take_their_bytes_of_the_block() {
    // Room for two and a half transfers.
    let (mut chain, _) = chain_with_room(5);
    let first = chain.tx(0, transfer(addr(3)));
    assert_eq!(
        chain.block(vec![first.clone()]).receipts[0].outcome,
        Outcome::Success
    );
    // A replayed copy, then two new transfers: the copy is skipped, and its bytes leave room
    // for one of them only.
    let txs = vec![
        first,
        chain.tx(1, transfer(addr(3))),
        chain.tx(2, transfer(addr(3))),
    ];
    let outcome = chain.block(txs);
    assert_skipped(&outcome.receipts[0], SkipReason::BadNonce);
    assert_eq!(outcome.receipts[1].outcome, Outcome::Success);
    assert_skipped(&outcome.receipts[2], SkipReason::BlockBytesFull);
}

#[test]
fn every_kind_of_skip_takes_its_bytes() {
    // Room for three and a half: a wrong chain id, a price below the minimum and a sender who
    // cannot pay take three, and the fourth transaction no longer fits.
    let (mut chain, _) = chain_with_room(7);
    let mut wrong_chain = chain.body(0, transfer(addr(3)));
    wrong_chain.chain_id = "another-chain".into();
    let mut cheap = chain.body(1, transfer(addr(3)));
    cheap.gas_price = 0;
    let mut too_dear = chain.body(2, transfer(addr(3)));
    too_dear.gas_limit = BALANCE + 1;
    let txs = vec![
        wrong_chain.sign(&key(0)),
        cheap.sign(&key(1)),
        too_dear.sign(&key(2)),
        chain.tx(3, transfer(addr(0))),
    ];
    let outcome = chain.block(txs);
    assert_skipped(&outcome.receipts[0], SkipReason::WrongChainId);
    assert_skipped(&outcome.receipts[1], SkipReason::GasPriceTooLow);
    assert_skipped(&outcome.receipts[2], SkipReason::CannotPayGas);
    assert_skipped(&outcome.receipts[3], SkipReason::BlockBytesFull);
}

#[test]
fn a_block_within_its_bytes_applies_everything_as_before() {
    // Room for exactly three: a skipped copy and two transfers all fit.
    let (mut chain, _) = chain_with_room(6);
    let first = chain.tx(0, transfer(addr(3)));
    chain.block(vec![first.clone()]);
    let txs = vec![
        first,
        chain.tx(1, transfer(addr(3))),
        chain.tx(2, transfer(addr(3))),
    ];
    let outcome = chain.block(txs);
    assert_skipped(&outcome.receipts[0], SkipReason::BadNonce);
    assert_eq!(outcome.receipts[1].outcome, Outcome::Success);
    assert_eq!(outcome.receipts[2].outcome, Outcome::Success);
}
