//! A walk through the deterministic core on a single in-memory chain, printing each step:
//! transfers, a skipped replay, a validator bond and the epoch change that admits it, a service
//! published, runners registered and one leaving, queries with Merkle proofs, and the supply
//! audit. No network yet: blocks are executed directly, as a node does once they are committed.
//!
//! `cargo run -p runnet-state --example economy`

use runnet_state::objects::{runner_id, service_id};
use runnet_state::store::MemStore;
use runnet_state::{BlockContext, BlockOutcome, Executor, Outcome, Signatures};
use runnet_types::crypto::Domain;
use runnet_types::genesis::{Genesis, GenesisAccount, GenesisValidator, Params};
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::tx::validator_binding_message;
use runnet_types::{Address, Hash, Payload, SecretKey, SignedTx, TxBody, VrfSecretKey};
use std::sync::Arc;

const CHAIN_ID: &str = "runnet-demo";

fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(*blake3::hash(name.as_bytes()).as_bytes())
}

struct Demo {
    executor: Executor,
    proposer: Address,
}

impl Demo {
    fn send(&self, who: &SecretKey, payload: Payload) -> SignedTx {
        let nonce = self
            .executor
            .account(&who.public().address())
            .map(|a| a.nonce)
            .unwrap_or(0);
        TxBody {
            chain_id: CHAIN_ID.into(),
            sender: who.public(),
            nonce,
            gas_limit: 200_000,
            gas_price: 1,
            payload,
        }
        .sign(who)
    }

    fn block(&self, txs: Vec<SignedTx>) -> Result<BlockOutcome, Box<dyn std::error::Error>> {
        let height = self.executor.height() + 1;
        let ctx = BlockContext {
            height,
            proposer: self.proposer,
            vrf_output: Hash::digest(&height.to_le_bytes()),
            timestamp_ms: height * 100,
        };
        let outcome = self
            .executor
            .execute_block(&ctx, &txs, Signatures::Verify)?;
        println!(
            "block {:>2}: {} tx, gas {}, fees {}, state root {}",
            outcome.height,
            txs.len(),
            outcome.gas_used,
            outcome.fees,
            &outcome.state_root.to_string()[..16]
        );
        for (tx, receipt) in txs.iter().zip(&outcome.receipts) {
            let what = format!("{:?}", tx.body.payload.kind());
            match &receipt.outcome {
                Outcome::Success => println!("    {what:<16} ok        (fee {})", receipt.fee),
                Outcome::Skipped { reason } => {
                    println!("    {what:<16} skipped   {reason:?}: no effect, no fee")
                }
                Outcome::Failed { code, detail } => {
                    println!(
                        "    {what:<16} error {:>2}  {code:?}: {detail} (fee {})",
                        code.number(),
                        receipt.fee
                    )
                }
            }
        }
        if let Some(set) = &outcome.new_validator_set {
            println!(
                "    epoch {} starts at height {} with {} validators",
                set.epoch,
                set.start_height,
                set.members.len()
            );
        }
        Ok(outcome)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (alice, bob, carol) = (key("alice"), key("bob"), key("carol"));
    let validator = key("validator-0");
    let params = Params {
        epoch_ms: 400,
        min_runner_stake: 10_000,
        runner_unbonding_ms: 200,
        ..Params::default()
    };
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        accounts: [&alice, &bob, &carol]
            .iter()
            .map(|k| GenesisAccount {
                address: k.public().address(),
                balance: 10_000_000,
            })
            .collect(),
        validators: vec![GenesisValidator {
            address: validator.public().address(),
            consensus_key: validator.public(),
            vrf_key: VrfSecretKey::from_seed([1; 32]).public(),
            peer_id: "validator-0".into(),
            stake: 1_000_000,
        }],
        params,
        consensus: Default::default(),
    };
    let executor = Executor::open(Arc::new(MemStore::new()), &genesis)?;
    println!(
        "genesis {} : chain {CHAIN_ID}, supply {}",
        &genesis.hash().to_string()[..16],
        genesis.total_supply().unwrap_or(0)
    );
    let demo = Demo {
        executor,
        proposer: validator.public().address(),
    };
    let (a, b) = (alice.public().address(), bob.public().address());

    println!("\n-- transfers, and a replay that is skipped");
    let pay = demo.send(
        &alice,
        Payload::Transfer {
            to: b,
            amount: 250_000,
        },
    );
    demo.block(vec![
        pay.clone(),
        demo.send(
            &bob,
            Payload::Transfer {
                to: a,
                amount: 99_000_000,
            },
        ),
    ])?;
    demo.block(vec![pay])?;

    println!("\n-- carol bonds as a validator; she joins at the next epoch");
    let consensus = key("carol-consensus");
    let vrf = VrfSecretKey::from_seed([3; 32]).public();
    let carol_address = carol.public().address();
    let binding = consensus.sign(
        Domain::ValidatorBinding,
        &validator_binding_message(CHAIN_ID, &carol_address, &vrf, "carol-peer"),
    );
    demo.block(vec![demo.send(
        &carol,
        Payload::BondValidator {
            consensus_key: consensus.public(),
            vrf_key: vrf,
            peer_id: "carol-peer".into(),
            amount: 2_000_000,
            binding,
        },
    )])?;
    demo.block(vec![])?;

    println!("\n-- alice publishes a service; bob and carol register as its runners");
    let definition: ServiceDefinition = serde_json::from_value(serde_json::json!({
        "name": "arithmetic",
        "tasks": [{"key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
                   "max_output_bytes": 64, "verification": "deterministic", "timeout_ms": 10000}]
    }))?;
    let definition = definition.to_canonical_bytes();
    let bundle = Bundle::External {
        digest: Hash::digest(b"arithmetic v1 release"),
    };
    let service = service_id(&a, &definition, &bundle.digest());
    demo.block(vec![
        demo.send(&alice, Payload::PublishService { definition, bundle }),
    ])?;
    let register = |who: &SecretKey, stake| {
        demo.send(
            who,
            Payload::RegisterRunner {
                service,
                stake,
                price_per_call: 500,
                price_per_kib: 20,
                max_open: 4,
            },
        )
    };
    demo.block(vec![register(&bob, 50_000), register(&carol, 5)])?;
    let bob_runner = runner_id(&service, &b);
    demo.block(vec![
        demo.send(&bob, Payload::UnregisterRunner { runner: bob_runner }),
    ])?;
    demo.block(vec![])?;
    demo.block(vec![])?;
    let runner = demo.executor.runner(&bob_runner)?.ok_or("runner missing")?;
    println!(
        "    bob's runner is now {:?}, stake {}",
        runner.status, runner.stake
    );

    println!("\n-- queries with proofs against the state root");
    let proved = demo.executor.prove_account(&a)?;
    proved.verify()?;
    println!(
        "    alice: balance {} nonce {} (proof of {} bytes verifies against {})",
        proved.value.as_ref().map_or(0, |x| x.balance),
        proved.value.as_ref().map_or(0, |x| x.nonce),
        runnet_types::encoding::encode(&proved.proof).len(),
        &proved.state_root.to_string()[..16]
    );
    let mut forged = proved.clone();
    if let Some(account) = forged.value.as_mut() {
        account.balance += 1;
    }
    println!(
        "    the same proof for a balance one higher: {}",
        if forged.verify().is_err() {
            "refused"
        } else {
            "ACCEPTED (bug)"
        }
    );

    let audit = demo.executor.supply_audit()?;
    println!(
        "\nsupply audit: balances {} + validator stake {} + runner stake {} + burned {} = {} (genesis {}): {}",
        audit.balances,
        audit.validator_stakes,
        audit.runner_stakes,
        audit.burned,
        audit.total(),
        audit.supply,
        if audit.balanced() {
            "conserved"
        } else {
            "BROKEN"
        }
    );
    if !audit.balanced() {
        return Err("supply not conserved".into());
    }
    Ok(())
}
