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

// The skip fee: whoever batched a transaction that is skipped for a reason it could have seen
// pays for the block space it took, burned (docs/economy.md, "Skipped transactions").

use runnet_state::BlockBatch;
use runnet_types::{Batch, SignedTx};

/// The validator of the test chain, who authors the batches here.
fn author() -> runnet_types::SecretKey {
    key(VALIDATOR_KEY)
}

fn authored(txs: Vec<SignedTx>) -> Batch {
    Batch::signed(txs, vec![], CHAIN_ID, &author())
}

fn named(batch: &Batch) -> BlockBatch<'_> {
    BlockBatch::of(batch.digest(), batch)
}

/// What a skipped transaction costs its author: the cheapest applied transaction of its size.
fn skip_fee(chain: &Chain, tx: &SignedTx) -> u64 {
    let params = &chain.genesis.params;
    params.min_gas_price * (params.gas.transfer + params.gas.per_byte * tx.encode().len() as u64)
}

/// The author's balance plus bonded stake.
fn author_holds(chain: &Chain) -> u64 {
    let address = author().public().address();
    let stake = chain.exec.validator(&address).unwrap().unwrap().stake;
    chain.balance(&address) + stake
}

fn fund_author(chain: &mut Chain, amount: u64) {
    let to = author().public().address();
    let tx = chain.tx(9, Payload::Transfer { to, amount });
    assert!(chain.block(vec![tx]).receipts[0].is_success());
}

#[test]
fn the_default_skip_fee_of_a_transfer_is_what_the_cheapest_transfer_pays() {
    let mut chain = Chain::new(12);
    let tx = chain.tx(0, transfer(addr(3)));
    // 1 x (1,000 + 10 x 171) for the 171-byte transfer docs/economy.md names.
    assert_eq!(tx.encode().len(), 171);
    assert_eq!(skip_fee(&chain, &tx), 2_710);
}

#[test]
fn a_junk_batch_costs_its_author_the_skip_fee_of_each_junk_transaction() {
    let mut chain = Chain::new(12);
    fund_author(&mut chain, 100_000);
    let mut wrong_chain = chain.body(0, transfer(addr(3)));
    wrong_chain.chain_id = "another-chain".into();
    let mut forged = chain.tx(1, transfer(addr(3)));
    forged.body.payload = transfer(addr(4));
    let mut cheap = chain.body(2, transfer(addr(3)));
    cheap.gas_price = 0;
    let mut ahead = chain.body(3, transfer(addr(3)));
    ahead.nonce = 50;
    let mut too_dear = chain.body(4, transfer(addr(3)));
    too_dear.gas_limit = BALANCE + 1;
    let junk = vec![
        wrong_chain.sign(&key(0)),
        forged,
        cheap.sign(&key(2)),
        ahead.sign(&key(3)),
        too_dear.sign(&key(4)),
    ];
    let honest = chain.tx(5, transfer(addr(3)));
    let mut txs = junk.clone();
    txs.push(honest);
    let batch = authored(txs);
    let (held, burned) = (author_holds(&chain), chain.exec.burned().unwrap());
    let outcome = chain.block_of(&[named(&batch)]);
    for (receipt, reason) in outcome.receipts.iter().zip([
        SkipReason::WrongChainId,
        SkipReason::BadSignature,
        SkipReason::GasPriceTooLow,
        SkipReason::BadNonce,
        SkipReason::CannotPayGas,
    ]) {
        assert_skipped(receipt, reason);
        assert_eq!(receipt.fee, 0, "the sender pays nothing");
    }
    assert!(outcome.receipts[5].is_success());
    let want: u64 = junk.iter().map(|tx| skip_fee(&chain, tx)).sum();
    assert!(want > 10_000);
    assert_eq!(outcome.skip_fees, want);
    assert_eq!(author_holds(&chain), held - want, "the author paid");
    assert_eq!(
        chain.exec.burned().unwrap(),
        burned + want,
        "burned, not paid"
    );
    assert_eq!(
        chain.balance(&author().public().address()),
        100_000 - want,
        "from the balance first"
    );
    // The same junk as bare transactions (no batch, no author): nobody pays.
    let again: Vec<SignedTx> = junk.clone();
    let outcome = chain.block(again);
    assert_eq!(outcome.skip_fees, 0);
}

#[test]
fn the_fee_falls_on_bonded_stake_once_the_balance_is_gone_and_never_below_zero() {
    let mut chain = Chain::new(12);
    let address = author().public().address();
    assert_eq!(chain.balance(&address), 0);
    let stake = chain.exec.validator(&address).unwrap().unwrap().stake;
    let mut wrong = chain.body(0, transfer(addr(3)));
    wrong.chain_id = "another-chain".into();
    let one = wrong.clone().sign(&key(0));
    let fee = skip_fee(&chain, &one);
    // Enough junk for more than the whole stake.
    let copies = stake / fee + 2;
    let junk: Vec<SignedTx> = (0..copies)
        .map(|n| {
            let mut body = wrong.clone();
            body.nonce = n;
            body.sign(&key(0))
        })
        .collect();
    let burned = chain.exec.burned().unwrap();
    let batch = authored(junk);
    let outcome = chain.block_of(&[named(&batch)]);
    assert_eq!(outcome.skip_fees, stake, "everything it had, no more");
    assert_eq!(chain.exec.validator(&address).unwrap().unwrap().stake, 0);
    assert_eq!(chain.balance(&address), 0);
    assert_eq!(chain.exec.burned().unwrap(), burned + stake);
}

#[test]
fn honest_race_copies_cost_their_authors_nothing() {
    let mut chain = Chain::new(12);
    fund_author(&mut chain, 100_000);
    let held = author_holds(&chain);
    // One transaction batched twice (a client sent it to two validators): the second copy in
    // the same block is skipped bad_nonce, and free.
    let shared = chain.tx(0, transfer(addr(3)));
    let a = authored(vec![shared.clone()]);
    let b = authored(vec![shared.clone(), chain.tx(1, transfer(addr(3)))]);
    assert_ne!(a.digest(), b.digest());
    let outcome = chain.block_of(&[named(&a), named(&b)]);
    assert!(outcome.receipts[0].is_success());
    assert_skipped(&outcome.receipts[1], SkipReason::BadNonce);
    assert_eq!(outcome.skip_fees, 0);
    // A third copy a block later (its batch raced a commit it had not seen): still free.
    let c = authored(vec![shared.clone(), chain.tx(2, transfer(addr(3)))]);
    let outcome = chain.block_of(&[named(&c)]);
    assert_skipped(&outcome.receipts[0], SkipReason::BadNonce);
    assert_eq!(outcome.skip_fees, 0);
    // Its predecessor later in the block: nonce 1 comes first and is skipped, nonce 0 then
    // applies, and another batch's copy of nonce 1 after it.
    let first = chain.tx(6, transfer(addr(3)));
    let second = chain.tx(6, transfer(addr(3)));
    let early = authored(vec![second.clone()]);
    let late = authored(vec![first, second]);
    let outcome = chain.block_of(&[named(&early), named(&late)]);
    assert_skipped(&outcome.receipts[0], SkipReason::BadNonce);
    assert!(outcome.receipts[1].is_success() && outcome.receipts[2].is_success());
    assert_eq!(outcome.skip_fees, 0);
    // Drained in the block by another batch's transaction: it could pay at the block's start.
    let drain = chain.tx(
        7,
        Payload::Transfer {
            to: addr(3),
            // What is left after its own fee no longer covers another gas limit.
            amount: BALANCE - GAS_LIMIT - 1_000,
        },
    );
    let starved = chain.tx(7, transfer(addr(3)));
    let d = authored(vec![drain]);
    let s = authored(vec![starved]);
    let outcome = chain.block_of(&[named(&d), named(&s)]);
    assert!(outcome.receipts[0].is_success());
    assert_skipped(&outcome.receipts[1], SkipReason::CannotPayGas);
    assert_eq!(outcome.skip_fees, 0);
    assert_eq!(author_holds(&chain), held, "nothing charged");

    // A race explains one copy per (author, sender, nonce) in a block: a second copy of a used
    // nonce by the same author is its own doing.
    let used = chain.tx(8, transfer(addr(3)));
    chain.block(vec![used.clone()]);
    let x = authored(vec![used.clone()]);
    let y = authored(vec![used.clone(), chain.tx(10, transfer(addr(3)))]);
    let outcome = chain.block_of(&[named(&x), named(&y)]);
    assert_eq!(outcome.skip_fees, skip_fee(&chain, &used));
}

#[test]
fn copies_of_transactions_older_than_the_recent_floor_are_charged() {
    let mut chain = Chain::new(12);
    fund_author(&mut chain, 1_000_000);
    let old = chain.tx(0, transfer(addr(3)));
    chain.block(vec![old.clone()]);
    // Two epochs on (5 blocks each), with the sender moving on meanwhile.
    for _ in 0..12 {
        let tx = chain.tx(0, transfer(addr(3)));
        chain.block(vec![tx]);
    }
    let stale = authored(vec![old.clone(), chain.tx(1, transfer(addr(3)))]);
    let outcome = chain.block_of(&[named(&stale)]);
    assert_skipped(&outcome.receipts[0], SkipReason::BadNonce);
    assert_eq!(outcome.skip_fees, skip_fee(&chain, &old));
}

#[test]
fn a_batch_named_again_after_a_block_committed_it_costs_nothing_more() {
    let mut chain = Chain::new(12);
    fund_author(&mut chain, 1_000_000);
    let mut wrong = chain.body(0, transfer(addr(3)));
    wrong.chain_id = "another-chain".into();
    let junk = wrong.sign(&key(0));
    let applied = chain.tx(1, transfer(addr(3)));
    let batch = authored(vec![applied.clone(), junk.clone()]);
    let fee = skip_fee(&chain, &junk);
    // Named twice in one block: charged once.
    let outcome = chain.block_of(&[named(&batch), named(&batch)]);
    assert!(outcome.receipts[0].is_success());
    assert_skipped(&outcome.receipts[2], SkipReason::BadNonce);
    assert_skipped(&outcome.receipts[3], SkipReason::WrongChainId);
    assert_eq!(outcome.skip_fees, fee);
    // Named again by later blocks of this epoch and the next: free.
    let held = author_holds(&chain);
    for _ in 0..6 {
        let outcome = chain.block_of(&[named(&batch)]);
        assert_skipped(&outcome.receipts[1], SkipReason::WrongChainId);
        assert_eq!(outcome.skip_fees, 0);
    }
    assert_eq!(author_holds(&chain), held);
    // The state remembers a batch for the epoch that committed it and the next one (voters
    // refuse a proposal naming a committed batch it no longer remembers).
    assert!(chain.exec.batch_remembered(&batch.digest()).unwrap());
    chain.empty_blocks(10);
    assert!(!chain.exec.batch_remembered(&batch.digest()).unwrap());
    // Then its author pays again, for the junk and for the copy whose nonce is now below the
    // sender's recent floor.
    let outcome = chain.block_of(&[named(&batch)]);
    assert_eq!(outcome.skip_fees, fee + skip_fee(&chain, &applied));
}
