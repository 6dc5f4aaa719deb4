//! A small chain for tests: funded accounts with deterministic keys, one validator, blocks
//! built from transactions, and the supply invariant checked after every block.
#![allow(dead_code)]

use runnet_state::store::{MemStore, Store};
use runnet_state::{
    BlockBatch, BlockContext, BlockOutcome, Executor, Outcome, Receipt, Signatures,
};
use runnet_types::crypto::Domain;
use runnet_types::genesis::{Genesis, GenesisAccount, GenesisValidator, Params};
use runnet_types::tx::validator_binding_message;
use runnet_types::{Address, Hash, Payload, SecretKey, SignedTx, TxBody, VrfSecretKey};
use std::sync::Arc;

pub const CHAIN_ID: &str = "runnet-test";
pub const BALANCE: u64 = 1_000_000_000;
pub const GAS_LIMIT: u64 = 200_000;

pub fn key(i: usize) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    SecretKey::from_seed(seed)
}

pub fn vrf_key(i: usize) -> VrfSecretKey {
    let mut seed = [0xAAu8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    VrfSecretKey::from_seed(seed)
}

pub fn addr(i: usize) -> Address {
    key(i).public().address()
}

/// Chain time a test block takes by default: the block pace's default interval
/// (docs/consensus.md), 10 blocks a second.
pub const BLOCK_MS: u64 = 100;

/// Parameters small enough that epochs and unbonding periods pass within a test. Unbonding
/// stays longer than `max_evidence_age_ms` (genesis validation).
pub fn test_params() -> Params {
    Params {
        // Epochs of 5 blocks at the test pace.
        epoch_ms: 5 * BLOCK_MS,
        unbonding_ms: 60 * BLOCK_MS,
        max_evidence_age_ms: 5 * BLOCK_MS,
        runner_unbonding_ms: 3 * BLOCK_MS,
        // The old default of 10 blocks: tests keep retention short, and it must outlast this.
        event_window_ms: 10 * BLOCK_MS,
        // The example services' timeouts at the test pace (`at_test_pace`).
        min_task_timeout_ms: BLOCK_MS,
        min_runner_stake: 1_000,
        ..Params::default()
    }
}

/// Validator 0 is key index 100 (not one of the funded accounts).
pub const VALIDATOR_KEY: usize = 100;

pub fn genesis(accounts: usize, params: Params) -> Genesis {
    let v = key(VALIDATOR_KEY);
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        accounts: (0..accounts)
            .map(|i| GenesisAccount {
                address: addr(i),
                balance: BALANCE,
            })
            .collect(),
        validators: vec![GenesisValidator {
            address: v.public().address(),
            consensus_key: v.public(),
            vrf_key: vrf_key(VALIDATOR_KEY).public(),
            peer_id: "peer-0".into(),
            stake: 1_000_000,
        }],
        params,
        consensus: Default::default(),
    }
}

pub struct Chain {
    pub exec: Executor,
    pub genesis: Genesis,
    pub nonces: Vec<u64>,
    pub proposer: Address,
    pub signatures: Signatures,
    /// The `justify_signers` each block's header names (`None`: not passed, nobody missed).
    pub signers: Option<Vec<u32>>,
    /// Chain time each next block adds to the last one's (the test's block rate).
    pub block_ms: u64,
    /// Chain time of the last block built.
    pub time_ms: u64,
}

impl Chain {
    pub fn new(accounts: usize) -> Chain {
        Chain::with(Arc::new(MemStore::new()), genesis(accounts, test_params()))
    }

    pub fn with_params(accounts: usize, params: Params) -> Chain {
        Chain::with(Arc::new(MemStore::new()), genesis(accounts, params))
    }

    pub fn with(store: Arc<dyn Store>, genesis: Genesis) -> Chain {
        let exec = Executor::open(store, &genesis).expect("open");
        let nonces = vec![0; genesis.accounts.len() + 200];
        Chain {
            proposer: Address([0xEE; 20]),
            genesis,
            nonces,
            signatures: Signatures::Verify,
            signers: None,
            block_ms: BLOCK_MS,
            // A store opened again goes on from the chain time it recorded.
            time_ms: exec.chain_time_ms().expect("chain time"),
            exec,
        }
    }

    pub fn body(&self, who: usize, payload: Payload) -> TxBody {
        TxBody {
            chain_id: CHAIN_ID.into(),
            sender: key(who).public(),
            nonce: self.nonces[who],
            gas_limit: GAS_LIMIT,
            gas_price: 1,
            payload,
        }
    }

    /// A signed transaction with the sender's next nonce (assumed to be accepted).
    pub fn tx(&mut self, who: usize, payload: Payload) -> SignedTx {
        let tx = self.body(who, payload).sign(&key(who));
        self.nonces[who] += 1;
        tx
    }

    pub fn block(&mut self, txs: Vec<SignedTx>) -> BlockOutcome {
        self.block_of(&[BlockBatch::bare(&txs)])
    }

    /// A block of batches, in order, with their digests and authors (skip fees).
    pub fn block_of(&mut self, batches: &[BlockBatch<'_>]) -> BlockOutcome {
        let height = self.exec.height() + 1;
        self.time_ms += self.block_ms;
        let ctx = BlockContext {
            height,
            proposer: self.proposer,
            vrf_output: Hash::digest(&height.to_le_bytes()),
            timestamp_ms: self.time_ms,
        };
        let outcome = self
            .exec
            .execute_block_with_signers(
                &ctx,
                self.signers.as_deref(),
                batches,
                self.signatures,
                |_| Ok(Vec::new()),
            )
            .expect("block executes");
        let audit = self.exec.supply_audit().expect("audit");
        assert!(
            audit.balanced(),
            "supply not conserved after block {height}: {audit:?}"
        );
        outcome
    }

    /// One transaction in its own block; returns its receipt.
    pub fn run(&mut self, who: usize, payload: Payload) -> Receipt {
        let tx = self.tx(who, payload);
        self.block(vec![tx]).receipts.remove(0)
    }

    pub fn empty_blocks(&mut self, n: u64) {
        for _ in 0..n {
            self.block(vec![]);
        }
    }

    /// Chain time of the last executed block, as the state records it.
    pub fn now_ms(&self) -> u64 {
        self.exec.chain_time_ms().unwrap()
    }

    /// Empty blocks until one is stamped at or after `at_ms`, the block that handles what is due
    /// then.
    pub fn run_until_ms(&mut self, at_ms: u64) {
        while self.now_ms() < at_ms {
            self.block(vec![]);
        }
    }

    pub fn balance(&self, address: &Address) -> u64 {
        self.exec.account(address).unwrap().balance
    }
}

pub fn bond_payload(who: usize, vrf: usize, peer: &str, amount: u64) -> Payload {
    let consensus = key(who + 500);
    let vrf_key = vrf_key(vrf).public();
    let message = validator_binding_message(CHAIN_ID, &addr(who), &vrf_key, peer);
    Payload::BondValidator {
        consensus_key: consensus.public(),
        vrf_key,
        peer_id: peer.into(),
        amount,
        binding: consensus.sign(Domain::ValidatorBinding, &message),
    }
}

pub fn assert_failed(receipt: &Receipt, code: runnet_state::ErrorCode) {
    match &receipt.outcome {
        Outcome::Failed { code: c, .. } if *c == code => {}
        other => panic!("expected failure {code:?}, got {other:?}"),
    }
    assert!(receipt.fee > 0, "a failed transaction still pays its gas");
}

pub fn assert_skipped(receipt: &Receipt, reason: runnet_state::SkipReason) {
    assert_eq!(receipt.outcome, Outcome::Skipped { reason });
    assert_eq!((receipt.fee, receipt.gas_used), (0, 0));
}

/// How each runner registers in [`Chain::publish_with_runners`].
pub struct RunnerTerms {
    pub stake: u64,
    pub price_per_call: u64,
    pub price_per_kib: u64,
    pub max_open: u32,
}

impl Chain {
    /// Account 0 publishes a service, then each of `runners` registers for it in one block;
    /// every step must succeed. Returns the service id.
    pub fn publish_with_runners(
        &mut self,
        definition: &[u8],
        bundle: runnet_types::service::Bundle,
        runners: impl IntoIterator<Item = usize>,
        terms: &RunnerTerms,
    ) -> Hash {
        let digest = bundle.digest();
        let receipt = self.run(
            0,
            Payload::PublishService {
                definition: definition.to_vec(),
                bundle,
            },
        );
        assert_eq!(receipt.outcome, Outcome::Success, "{receipt:?}");
        let service = runnet_state::objects::service_id(&addr(0), definition, &digest);
        let txs = runners
            .into_iter()
            .map(|i| {
                self.tx(
                    i,
                    Payload::RegisterRunner {
                        service,
                        stake: terms.stake,
                        price_per_call: terms.price_per_call,
                        price_per_kib: terms.price_per_kib,
                        max_open: terms.max_open,
                    },
                )
            })
            .collect();
        let outcome = self.block(txs);
        assert!(
            outcome
                .receipts
                .iter()
                .all(|r| r.outcome == Outcome::Success),
            "{:?}",
            outcome.receipts
        );
        service
    }
}

/// The example services' task timeouts are a public chain's (10 or 20 s); the tests were written
/// for 10 or 20 blocks, so they take a tenth of them: 1 or 2 s, 10 or 20 blocks at `BLOCK_MS`.
pub fn at_test_pace(definition: &mut runnet_types::service::ServiceDefinition) {
    for task in &mut definition.tasks {
        task.timeout_ms /= 10;
    }
}

/// An example service of the repository (examples/services/NAME.json and NAME.wat): its
/// canonical definition bytes and its WebAssembly module.
#[allow(dead_code)]
pub fn example(name: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services");
    let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    let mut definition: runnet_types::service::ServiceDefinition =
        serde_json::from_str(&json).unwrap();
    at_test_pace(&mut definition);
    let wat = std::fs::read_to_string(dir.join(format!("{name}.wat"))).unwrap();
    (
        definition.to_canonical_bytes(),
        runnet_vm_exec::wat_to_wasm(&wat).unwrap(),
    )
}

/// Two task inputs of the example `arith` service.
#[allow(dead_code)]
pub fn ints(a: i64, b: i64) -> Vec<u8> {
    [a.to_le_bytes(), b.to_le_bytes()].concat()
}

/// A task result of one 8-byte integer.
#[allow(dead_code)]
pub fn out(v: i64) -> runnet_types::execution::TaskResult {
    runnet_types::execution::TaskResult::Output(v.to_le_bytes().to_vec())
}

/// Insists the transaction applied.
#[allow(dead_code)]
pub fn ok(r: &runnet_state::Receipt) {
    assert_eq!(r.outcome, runnet_state::Outcome::Success, "{r:?}");
}
