//! Every rule of the deterministic core: its success and each of its errors.

mod common;

use common::*;
use runnet_state::objects::{runner_id, service_id};
use runnet_state::{ErrorCode, Outcome, RunnerStatus, SkipReason, ValidatorStatus};
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Address, Hash, Payload};

fn transfer(to: Address, amount: u64) -> Payload {
    Payload::Transfer { to, amount }
}

#[test]
fn transfer_moves_tokens_and_pays_the_proposer() {
    let mut chain = Chain::new(3);
    let receipt = chain.run(0, transfer(addr(1), 5_000));
    assert_eq!(receipt.outcome, Outcome::Success);
    let params = test_params();
    let tx_len = chain
        .body(0, transfer(addr(1), 5_000))
        .sign(&key(0))
        .encode()
        .len() as u64;
    assert_eq!(
        receipt.gas_used,
        params.gas.transfer + params.gas.per_byte * tx_len
    );
    assert_eq!(receipt.fee, receipt.gas_used);
    assert_eq!(chain.balance(&addr(0)), BALANCE - 5_000 - receipt.fee);
    assert_eq!(chain.balance(&addr(1)), BALANCE + 5_000);
    assert_eq!(chain.balance(&chain.proposer.clone()), receipt.fee);
    assert_eq!(chain.exec.account(&addr(0)).unwrap().nonce, 1);
}

#[test]
fn transfer_errors_charge_gas_and_change_nothing_else() {
    let mut chain = Chain::new(2);
    let receipt = chain.run(0, transfer(addr(1), BALANCE));
    assert_failed(&receipt, ErrorCode::InsufficientBalance);
    assert_eq!(chain.balance(&addr(0)), BALANCE - receipt.fee);
    assert_eq!(chain.balance(&addr(1)), BALANCE);
    assert_eq!(chain.exec.account(&addr(0)).unwrap().nonce, 1);

    let receipt = chain.run(0, transfer(addr(1), 0));
    assert_failed(&receipt, ErrorCode::ZeroAmount);
}

#[test]
fn out_of_gas_pays_the_whole_limit() {
    let mut chain = Chain::new(2);
    let mut body = chain.body(0, transfer(addr(1), 10));
    body.gas_limit = 500; // below the transfer's base cost
    let receipt = chain.block(vec![body.sign(&key(0))]).receipts.remove(0);
    assert_failed(&receipt, ErrorCode::OutOfGas);
    assert_eq!(receipt.fee, 500);
    assert_eq!(chain.balance(&addr(1)), BALANCE);
    assert_eq!(chain.exec.account(&addr(0)).unwrap().nonce, 1);
}

#[test]
fn pre_check_failures_are_skipped_without_effect() {
    let mut chain = Chain::new(3);
    let root = chain.exec.state_root();
    let base = |chain: &Chain| chain.body(0, transfer(addr(1), 10));

    let mut wrong_chain = base(&chain);
    wrong_chain.chain_id = "other".into();
    let mut bad_sig = base(&chain).sign(&key(0));
    bad_sig.signature.0[5] ^= 1;
    let mut cheap = base(&chain);
    cheap.gas_price = 0;
    let mut gap = base(&chain);
    gap.nonce = 7;
    let mut too_much_gas = base(&chain);
    too_much_gas.gas_limit = BALANCE;
    too_much_gas.gas_price = 2;
    let outcome = chain.block(vec![
        wrong_chain.sign(&key(0)),
        bad_sig,
        cheap.sign(&key(0)),
        gap.sign(&key(0)),
        too_much_gas.sign(&key(0)),
    ]);
    let reasons = [
        SkipReason::WrongChainId,
        SkipReason::BadSignature,
        SkipReason::GasPriceTooLow,
        SkipReason::BadNonce,
        SkipReason::CannotPayGas,
    ];
    for (receipt, reason) in outcome.receipts.iter().zip(reasons) {
        assert_skipped(receipt, reason);
    }
    assert_eq!(chain.balance(&addr(0)), BALANCE);
    assert_eq!(chain.exec.account(&addr(0)).unwrap().nonce, 0);
    assert_eq!(chain.balance(&chain.proposer.clone()), 0);
    // Only the bookkeeping of the block itself (height, seed) changed.
    assert_ne!(chain.exec.state_root(), root);

    // A replayed transaction is skipped: its nonce is spent.
    let tx = chain.tx(0, transfer(addr(1), 10));
    let first = chain.block(vec![tx.clone()]);
    assert_eq!(first.receipts[0].outcome, Outcome::Success);
    let replay = chain.block(vec![tx]);
    assert_skipped(&replay.receipts[0], SkipReason::BadNonce);
}

#[test]
fn block_gas_and_byte_limits_skip_the_overflow() {
    let mut params = test_params();
    params.max_block_gas = 2 * GAS_LIMIT;
    let mut chain = Chain::with_params(4, params);
    let txs: Vec<_> = (0..3).map(|i| chain.tx(i, transfer(addr(3), 1))).collect();
    let outcome = chain.block(txs);
    assert_eq!(outcome.receipts[0].outcome, Outcome::Success);
    assert_eq!(outcome.receipts[1].outcome, Outcome::Success);
    assert_skipped(&outcome.receipts[2], SkipReason::BlockGasFull);

    let mut params = test_params();
    let chain = Chain::with_params(3, params.clone());
    let tx_len = chain
        .body(0, transfer(addr(2), 1))
        .sign(&key(0))
        .encode()
        .len() as u64;
    params.max_block_bytes = tx_len + tx_len / 2;
    let mut chain = Chain::with_params(3, params);
    let txs: Vec<_> = (0..2).map(|i| chain.tx(i, transfer(addr(2), 1))).collect();
    let outcome = chain.block(txs);
    assert_eq!(outcome.receipts[0].outcome, Outcome::Success);
    assert_skipped(&outcome.receipts[1], SkipReason::BlockBytesFull);
}

#[test]
fn already_verified_batches_skip_the_signature_check() {
    let mut chain = Chain::new(2);
    chain.signatures = runnet_state::Signatures::AlreadyVerified;
    let mut tx = chain.tx(0, transfer(addr(1), 10));
    tx.signature.0[0] ^= 1;
    // The executor trusts its caller here: only verified batches reach it.
    assert_eq!(chain.block(vec![tx]).receipts[0].outcome, Outcome::Success);
}

#[test]
fn bonding_creates_a_validator_that_joins_at_the_next_epoch() {
    let mut chain = Chain::new(2);
    let receipt = chain.run(0, bond_payload(0, 0, "peer-a", 5_000_000));
    assert_eq!(receipt.outcome, Outcome::Success, "{receipt:?}");
    let v = chain.exec.validator(&addr(0)).unwrap().unwrap();
    assert_eq!((v.stake, v.status), (5_000_000, ValidatorStatus::Active));
    assert_eq!(chain.balance(&addr(0)), BALANCE - 5_000_000 - receipt.fee);
    // Not yet in the set: it takes effect at the next epoch (epoch_blocks = 5).
    assert_eq!(chain.exec.validator_set().unwrap().members.len(), 1);
    let mut new_set = None;
    while chain.exec.height() < 5 {
        new_set = chain.block(vec![]).new_validator_set.or(new_set);
    }
    let set = new_set.expect("epoch change at height 5");
    assert_eq!(set.epoch, 1);
    assert_eq!(set.start_height, 6);
    // Larger stake first.
    assert_eq!(set.members[0].address, addr(0));
    assert_eq!(set.members.len(), 2);
    assert_eq!(chain.exec.validator_set().unwrap(), set);

    // Bonding more adds stake; the keys must stay the same.
    assert_eq!(
        chain.run(0, bond_payload(0, 0, "peer-b", 1)).outcome,
        Outcome::Success
    );
    assert_eq!(
        chain.exec.validator(&addr(0)).unwrap().unwrap().stake,
        5_000_001
    );
    assert_eq!(
        chain.exec.validator(&addr(0)).unwrap().unwrap().peer_id,
        "peer-b"
    );
    assert_failed(
        &chain.run(0, bond_payload(0, 1, "peer-b", 1)),
        ErrorCode::ValidatorKeysMismatch,
    );
}

#[test]
fn bonding_errors() {
    let mut chain = Chain::new(3);
    assert_failed(
        &chain.run(0, bond_payload(0, 0, "p", 0)),
        ErrorCode::ZeroAmount,
    );
    assert_failed(
        &chain.run(0, bond_payload(0, 0, "", 10)),
        ErrorCode::InvalidPeerId,
    );
    assert_failed(
        &chain.run(0, bond_payload(0, 0, &"x".repeat(129), 10)),
        ErrorCode::InvalidPeerId,
    );
    assert_failed(
        &chain.run(0, bond_payload(0, 0, "p", BALANCE)),
        ErrorCode::InsufficientBalance,
    );
    // A binding signed for another account does not transfer.
    let Payload::BondValidator {
        consensus_key,
        vrf_key: vrf,
        peer_id,
        amount,
        binding,
    } = bond_payload(1, 1, "p", 10)
    else {
        unreachable!()
    };
    let stolen = Payload::BondValidator {
        consensus_key,
        vrf_key: vrf,
        peer_id,
        amount,
        binding,
    };
    assert_failed(&chain.run(0, stolen), ErrorCode::InvalidBinding);
    // Account 1 bonds its consensus key; account 2 cannot claim the same key with a valid binding.
    assert_eq!(
        chain.run(1, bond_payload(1, 1, "p", 10)).outcome,
        Outcome::Success
    );
    let consensus = key(1 + 500);
    let vrf = vrf_key(2).public();
    let message = runnet_types::tx::validator_binding_message(CHAIN_ID, &addr(2), &vrf, "p");
    let reuse = Payload::BondValidator {
        consensus_key: consensus.public(),
        vrf_key: vrf,
        peer_id: "p".into(),
        amount: 10,
        binding: consensus.sign(runnet_types::Domain::ValidatorBinding, &message),
    };
    assert_failed(&chain.run(2, reuse), ErrorCode::ConsensusKeyInUse);
    assert!(chain.exec.validator(&addr(2)).unwrap().is_none());
}

#[test]
fn unbonding_releases_after_the_period_and_leaves_the_set() {
    let mut chain = Chain::new(2);
    chain.run(0, bond_payload(0, 0, "p", 3_000_000));
    let receipt = chain.run(0, Payload::UnbondValidator { amount: 1_000_000 });
    assert_eq!(receipt.outcome, Outcome::Success);
    let unbond_height = chain.exec.height();
    let v = chain.exec.validator(&addr(0)).unwrap().unwrap();
    assert_eq!((v.stake, v.unbonding), (2_000_000, 1_000_000));
    let before = chain.balance(&addr(0));
    while chain.exec.height() < unbond_height + test_params().unbonding_ms / BLOCK_MS - 1 {
        chain.block(vec![]);
    }
    assert_eq!(
        chain.balance(&addr(0)),
        before,
        "not released before the period ends"
    );
    chain.block(vec![]);
    assert_eq!(chain.balance(&addr(0)), before + 1_000_000);
    assert_eq!(
        chain.exec.validator(&addr(0)).unwrap().unwrap().unbonding,
        0
    );

    // Unbonding everything: status Unbonding, and out of the next set.
    chain.run(0, Payload::UnbondValidator { amount: 2_000_000 });
    let v = chain.exec.validator(&addr(0)).unwrap().unwrap();
    assert_eq!((v.stake, v.status), (0, ValidatorStatus::Unbonding));
    let next_epoch_end = (chain.exec.height() / 5 + 1) * 5;
    while chain.exec.height() < next_epoch_end {
        chain.block(vec![]);
    }
    let set = chain.exec.validator_set().unwrap();
    assert!(set.members.iter().all(|m| m.address != addr(0)));
}

#[test]
fn unbonding_errors() {
    let mut chain = Chain::new(2);
    assert_failed(
        &chain.run(0, Payload::UnbondValidator { amount: 5 }),
        ErrorCode::NotAValidator,
    );
    chain.run(0, bond_payload(0, 0, "p", 100));
    assert_failed(
        &chain.run(0, Payload::UnbondValidator { amount: 0 }),
        ErrorCode::ZeroAmount,
    );
    assert_failed(
        &chain.run(0, Payload::UnbondValidator { amount: 101 }),
        ErrorCode::UnbondExceedsStake,
    );
}

#[test]
fn unjail_errors_for_free_validators() {
    let mut chain = Chain::new(2);
    assert_failed(&chain.run(0, Payload::Unjail), ErrorCode::NotAValidator);
    chain.run(0, bond_payload(0, 0, "p", 100));
    assert_failed(&chain.run(0, Payload::Unjail), ErrorCode::NotJailed);
}

#[test]
fn epoch_set_respects_max_and_min_validators() {
    let mut params = test_params();
    params.max_validators = 2;
    let mut chain = Chain::with_params(4, params);
    // Two equal stakes tie: the lower address wins.
    chain.block(vec![]);
    let txs = vec![
        chain.tx(0, bond_payload(0, 0, "a", 2_000_000)),
        chain.tx(1, bond_payload(1, 1, "b", 2_000_000)),
        chain.tx(2, bond_payload(2, 2, "c", 500)),
    ];
    chain.block(txs);
    while chain.exec.height() < 5 {
        chain.block(vec![]);
    }
    let set = chain.exec.validator_set().unwrap();
    let mut expected = vec![addr(0), addr(1)];
    expected.sort();
    assert_eq!(
        set.members.iter().map(|m| m.address).collect::<Vec<_>>(),
        expected
    );

    // min_validators = 3 with only two candidates left: the set stays.
    let mut params = test_params();
    params.min_validators = 1;
    let mut chain = Chain::with_params(2, params);
    let genesis_set = chain.exec.validator_set().unwrap();
    while chain.exec.height() < 5 {
        chain.block(vec![]);
    }
    assert_eq!(
        chain.exec.validator_set().unwrap().members,
        genesis_set.members
    );
}

fn definition_bytes() -> Vec<u8> {
    let definition: ServiceDefinition = serde_json::from_value(serde_json::json!({
        "name": "arithmetic",
        "tasks": [{"key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
                   "max_output_bytes": 64, "verification": "deterministic", "timeout_ms": 10000}]
    }))
    .unwrap();
    definition.to_canonical_bytes()
}

fn external() -> Bundle {
    Bundle::External {
        digest: Hash([7; 32]),
    }
}

fn publish(definition: Vec<u8>, bundle: Bundle) -> Payload {
    Payload::PublishService { definition, bundle }
}

#[test]
fn publishing_a_service_stores_it_under_its_id_and_charges_stored_bytes() {
    let mut chain = Chain::new(2);
    let definition = definition_bytes();
    let receipt = chain.run(0, publish(definition.clone(), external()));
    assert_eq!(receipt.outcome, Outcome::Success, "{receipt:?}");
    let params = test_params();
    let tx_len = chain
        .body(0, publish(definition.clone(), external()))
        .sign(&key(0))
        .encode()
        .len() as u64;
    let stored = (definition.len() + 32) as u64;
    assert_eq!(
        receipt.gas_used,
        params.gas.publish_service
            + params.gas.per_byte * tx_len
            + params.gas.per_stored_byte * stored
    );
    let id = service_id(&addr(0), &definition, &Hash([7; 32]));
    let service = chain.exec.service(&id).unwrap().expect("stored");
    assert_eq!((service.owner, service.wasm), (addr(0), false));
    assert_eq!(service.definition, definition);
    // Immutable: the same id twice is an error, even from the same owner.
    assert_failed(
        &chain.run(0, publish(definition.clone(), external())),
        ErrorCode::ServiceExists,
    );
    // Another owner publishing the same definition gets another id.
    assert_eq!(
        chain.run(1, publish(definition, external())).outcome,
        Outcome::Success
    );
}

#[test]
fn publishing_errors() {
    let mut chain = Chain::new(2);
    let pretty = serde_json::to_vec_pretty(
        &serde_json::from_slice::<serde_json::Value>(&definition_bytes()).unwrap(),
    )
    .unwrap();
    assert_failed(
        &chain.run(0, publish(pretty, external())),
        ErrorCode::InvalidDefinition,
    );
    assert_failed(
        &chain.run(0, publish(b"{}".to_vec(), external())),
        ErrorCode::InvalidDefinition,
    );
    assert_failed(
        &chain.run(
            0,
            publish(definition_bytes(), Bundle::Wasm(b"not wasm".to_vec())),
        ),
        ErrorCode::InvalidModule,
    );
    let mut params = test_params();
    params.max_bundle_bytes = 16;
    let mut chain = Chain::with_params(1, params);
    let mut big = b"\0asm\x01\0\0\0".to_vec();
    big.resize(17, 0);
    assert_failed(
        &chain.run(0, publish(definition_bytes(), Bundle::Wasm(big))),
        ErrorCode::BundleTooLarge,
    );
}

fn published(chain: &mut Chain) -> Hash {
    let definition = definition_bytes();
    assert_eq!(
        chain
            .run(0, publish(definition.clone(), external()))
            .outcome,
        Outcome::Success
    );
    service_id(&addr(0), &definition, &Hash([7; 32]))
}

fn register(service: Hash, stake: u64, max_open: u32) -> Payload {
    Payload::RegisterRunner {
        service,
        stake,
        price_per_call: 100,
        price_per_kib: 10,
        max_open,
    }
}

#[test]
fn registering_a_runner_locks_its_stake() {
    let mut chain = Chain::new(2);
    let service = published(&mut chain);
    let before = chain.balance(&addr(1));
    let receipt = chain.run(1, register(service, 5_000, 4));
    assert_eq!(receipt.outcome, Outcome::Success);
    let id = runner_id(&service, &addr(1));
    let runner = chain.exec.runner(&id).unwrap().expect("registered");
    assert_eq!(
        (runner.stake, runner.max_open, runner.status),
        (5_000, 4, RunnerStatus::Active)
    );
    assert_eq!((runner.price_per_call, runner.price_per_kib), (100, 10));
    assert_eq!(chain.balance(&addr(1)), before - 5_000 - receipt.fee);
}

#[test]
fn registering_errors() {
    let mut chain = Chain::new(2);
    assert_failed(
        &chain.run(1, register(Hash([1; 32]), 5_000, 1)),
        ErrorCode::ServiceNotFound,
    );
    let service = published(&mut chain);
    assert_failed(
        &chain.run(1, register(service, 999, 1)),
        ErrorCode::StakeBelowMinimum,
    );
    assert_failed(
        &chain.run(1, register(service, 5_000, 0)),
        ErrorCode::InvalidRunnerParams,
    );
    assert_failed(
        &chain.run(1, register(service, BALANCE, 1)),
        ErrorCode::InsufficientBalance,
    );
    let too_pricey = Payload::RegisterRunner {
        service,
        stake: 5_000,
        price_per_call: u64::MAX,
        price_per_kib: 0,
        max_open: 1,
    };
    assert_failed(&chain.run(1, too_pricey), ErrorCode::InvalidRunnerParams);
    assert_eq!(
        chain.run(1, register(service, 5_000, 1)).outcome,
        Outcome::Success
    );
    assert_failed(
        &chain.run(1, register(service, 5_000, 1)),
        ErrorCode::RunnerExists,
    );
}

#[test]
fn unregistering_returns_the_stake_after_the_delay_and_allows_a_new_registration() {
    let mut chain = Chain::new(2);
    let service = published(&mut chain);
    chain.run(1, register(service, 5_000, 1));
    let id = runner_id(&service, &addr(1));
    assert_failed(
        &chain.run(0, Payload::UnregisterRunner { runner: id }),
        ErrorCode::NotRunnerOwner,
    );
    assert_failed(
        &chain.run(
            1,
            Payload::UnregisterRunner {
                runner: Hash([3; 32]),
            },
        ),
        ErrorCode::RunnerNotFound,
    );
    assert_eq!(
        chain
            .run(1, Payload::UnregisterRunner { runner: id })
            .outcome,
        Outcome::Success
    );
    let leaving = chain.exec.runner(&id).unwrap().unwrap();
    assert_eq!(leaving.status, RunnerStatus::Leaving);
    let release_at = leaving
        .release_at
        .expect("no open duties: release scheduled");
    assert_eq!(
        release_at,
        chain.now_ms() + test_params().runner_unbonding_ms
    );
    assert_failed(
        &chain.run(1, Payload::UnregisterRunner { runner: id }),
        ErrorCode::RunnerNotActive,
    );
    let before = chain.balance(&addr(1));
    while chain.now_ms() < release_at {
        chain.block(vec![]);
    }
    assert_eq!(chain.balance(&addr(1)), before + 5_000);
    let left = chain.exec.runner(&id).unwrap().unwrap();
    assert_eq!((left.status, left.stake), (RunnerStatus::Left, 0));
    assert_eq!(
        chain.run(1, register(service, 2_000, 1)).outcome,
        Outcome::Success
    );
    assert_eq!(chain.exec.runner(&id).unwrap().unwrap().stake, 2_000);
}

#[test]
fn queries_come_with_proofs_that_check_against_the_root() {
    let mut chain = Chain::new(2);
    let service = published(&mut chain);
    chain.run(1, register(service, 5_000, 1));
    let account = chain.exec.prove_account(&addr(0)).unwrap();
    account.verify().unwrap();
    assert_eq!(
        account.value.as_ref().unwrap().balance,
        chain.balance(&addr(0))
    );
    chain
        .exec
        .prove_validator(&addr(VALIDATOR_KEY))
        .unwrap()
        .verify()
        .unwrap();
    chain
        .exec
        .prove_service(&service)
        .unwrap()
        .verify()
        .unwrap();
    let runner = chain
        .exec
        .prove_runner(&runner_id(&service, &addr(1)))
        .unwrap();
    runner.verify().unwrap();
    // Absence is provable too.
    let nobody = chain.exec.prove_account(&Address([0x42; 20])).unwrap();
    assert!(nobody.value.is_none());
    nobody.verify().unwrap();
    // A changed value or another root fails.
    let mut lie = account.clone();
    lie.value.as_mut().unwrap().balance += 1;
    assert!(lie.verify().is_err());
    let mut other_root = account.clone();
    other_root.state_root = Hash([9; 32]);
    assert!(other_root.verify().is_err());
    // An old proof does not check against a later root.
    chain.run(0, transfer(addr(1), 1));
    let mut stale = account;
    stale.state_root = chain.exec.state_root();
    assert!(stale.verify().is_err());
}

#[test]
fn the_beacon_seed_chains_through_vrf_outputs() {
    let mut chain = Chain::new(1);
    let s0 = chain.exec.seed().unwrap();
    assert_eq!(
        s0,
        runnet_types::block::genesis_seed(CHAIN_ID, &chain.genesis.hash())
    );
    chain.block(vec![]);
    let expected = runnet_types::block::next_seed(&s0, &Hash::digest(&1u64.to_le_bytes()));
    assert_eq!(chain.exec.seed().unwrap(), expected);
}

#[test]
fn wrong_height_and_wrong_genesis_are_refused() {
    let store: std::sync::Arc<dyn runnet_state::store::Store> =
        std::sync::Arc::new(runnet_state::store::MemStore::new());
    let chain = Chain::with(store.clone(), genesis(1, test_params()));
    let ctx = runnet_state::BlockContext {
        height: 5,
        proposer: Address([1; 20]),
        vrf_output: Hash::ZERO,
        timestamp_ms: 500,
    };
    let root = chain.exec.state_root();
    assert!(matches!(
        chain
            .exec
            .execute_block(&ctx, &[], runnet_state::Signatures::Verify),
        Err(runnet_state::ExecError::WrongHeight {
            executed: 0,
            got: 5
        })
    ));
    assert_eq!(chain.exec.state_root(), root);
    let other = genesis(2, test_params());
    assert!(matches!(
        runnet_state::Executor::open(store, &other),
        Err(runnet_state::ExecError::GenesisMismatch { .. })
    ));
}

/// ZIP-215 accepts, for a key of small order, a signature nobody had to make: the identity
/// point with a zero signature verifies any message. Bonding such a key would give everyone its
/// votes and its batches; the chain refuses it.
#[test]
fn a_consensus_key_of_small_order_cannot_bond() {
    let mut chain = Chain::new(2);
    // The identity point (y = 1), and a signature R = identity, s = 0.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut zero_sig = [0u8; 64];
    zero_sig[0] = 1;
    let weak = runnet_types::PublicKey(identity);
    let message =
        runnet_types::tx::validator_binding_message(CHAIN_ID, &addr(0), &vrf_key(0).public(), "p");
    let forged = runnet_types::Signature(zero_sig);
    // The forgery verifies: without the check the bond would pass.
    assert!(
        weak.verify(runnet_types::Domain::ValidatorBinding, &message, &forged)
            .is_ok()
    );
    let bond = Payload::BondValidator {
        consensus_key: weak,
        vrf_key: vrf_key(0).public(),
        peer_id: "p".into(),
        amount: 10,
        binding: forged,
    };
    assert_failed(&chain.run(0, bond), ErrorCode::InvalidBinding);
    assert!(!key(7).public().is_weak());
}
