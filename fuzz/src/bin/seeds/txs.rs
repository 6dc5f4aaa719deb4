//! Seeds for transactions: one of every payload kind, batches of them, and `POST /v1/txs`
//! bodies, signed with the fuzz committee's keys for the fuzz chain.

use crate::Seeds;
use crate::consensus::{proposal_evidence, vote_evidence};
use crate::files::{arith_module, tick_record, ticker_process};
use runnet_fuzz::{CHAIN_ID, TICKER, service_texts, validator_key, validator_vrf};
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::service::Bundle;
use runnet_types::tx::validator_binding_message;
use runnet_types::{Address, Batch, Domain, Hash, Payload, SecretKey, SignedTx, TxBody};

fn signed(key: &SecretKey, nonce: u64, payload: Payload) -> SignedTx {
    TxBody {
        chain_id: CHAIN_ID.into(),
        sender: key.public(),
        nonce,
        gas_limit: 1_000_000,
        gas_price: 1,
        payload,
    }
    .sign(key)
}

fn transfer(key: &SecretKey, nonce: u64) -> SignedTx {
    let to = Address([9; 20]);
    signed(key, nonce, Payload::Transfer { to, amount: 500 })
}

/// One payload of every kind (and both forms of the ones with two).
fn payloads() -> Vec<(&'static str, Payload)> {
    let key = validator_key(0);
    let vrf = validator_vrf(0).public();
    let peer_id = "12D3KooWFuzzPeer".to_string();
    let binding_message =
        validator_binding_message(CHAIN_ID, &key.public().address(), &vrf, &peer_id);
    let binding = key.sign(Domain::ValidatorBinding, &binding_message);
    let definition = service_texts().swap_remove(0).1;
    let (execution, salt, owner) = (Hash([6; 32]), Hash([8; 32]), key.public().address());
    let output = TaskResult::Output(42i64.to_le_bytes().to_vec());
    let verdict = Verdict::Check { valid: true };
    let inputs = [2i64.to_le_bytes(), 40i64.to_le_bytes()].concat();
    vec![
        (
            "transfer",
            Payload::Transfer {
                to: Address([9; 20]),
                amount: 500,
            },
        ),
        (
            "bond_validator",
            Payload::BondValidator {
                consensus_key: key.public(),
                vrf_key: vrf,
                peer_id,
                amount: 1_000,
                binding,
            },
        ),
        ("unbond_validator", Payload::UnbondValidator { amount: 10 }),
        ("unjail", Payload::Unjail),
        (
            "publish_wasm",
            Payload::PublishService {
                definition: definition.clone(),
                bundle: Bundle::Wasm(arith_module()),
            },
        ),
        (
            "publish_external",
            Payload::PublishService {
                definition,
                bundle: Bundle::External {
                    digest: Hash([3; 32]),
                },
            },
        ),
        (
            "register_runner",
            Payload::RegisterRunner {
                service: TICKER,
                stake: 1_000_000,
                price_per_call: 10,
                price_per_kib: 1,
                max_open: 4,
            },
        ),
        (
            "unregister_runner",
            Payload::UnregisterRunner {
                runner: Hash([4; 32]),
            },
        ),
        (
            "request_execution",
            Payload::RequestExecution {
                service: TICKER,
                task: "add".into(),
                inputs: inputs.clone(),
                max_fee: 10_000,
                runner: None,
            },
        ),
        (
            "request_execution_of",
            Payload::RequestExecution {
                service: TICKER,
                task: "add".into(),
                inputs,
                max_fee: 10_000,
                runner: Some(Hash([5; 32])),
            },
        ),
        (
            "commit_result",
            Payload::CommitResult {
                execution,
                commitment: result_commitment(&output, &salt, &owner),
            },
        ),
        (
            "reveal_result",
            Payload::RevealResult {
                execution,
                result: output.clone(),
                salt,
            },
        ),
        (
            "submit_result",
            Payload::SubmitResult {
                execution,
                result: TaskResult::Error(b"overflow".to_vec()),
            },
        ),
        (
            "commit_verdict",
            Payload::CommitVerdict {
                execution,
                commitment: verdict_commitment(&verdict, &salt, &owner),
            },
        ),
        (
            "reveal_verdict",
            Payload::RevealVerdict {
                execution,
                verdict,
                salt,
            },
        ),
        (
            "reveal_rerun",
            Payload::RevealVerdict {
                execution,
                verdict: Verdict::Rerun(output),
                salt,
            },
        ),
        (
            "create_process",
            Payload::CreateProcess {
                definition: ticker_process(),
                balance: 100_000,
                spend_cap: 50_000,
            },
        ),
        (
            "fund_process",
            Payload::FundProcess {
                process: Hash([7; 32]),
                amount: 10,
            },
        ),
        (
            "close_process",
            Payload::CloseProcess {
                process: Hash([7; 32]),
            },
        ),
        (
            "emit_event",
            Payload::EmitEvent {
                service: TICKER,
                event: "tick".into(),
                data: tick_record(),
            },
        ),
        (
            "evidence_votes",
            Payload::Evidence(Box::new(vote_evidence())),
        ),
        (
            "evidence_proposals",
            Payload::Evidence(Box::new(proposal_evidence())),
        ),
    ]
}

pub fn txs() -> Seeds {
    let key = validator_key(0);
    payloads()
        .into_iter()
        .map(|(name, payload)| (name, signed(&key, 0, payload).encode()))
        .collect()
}

pub fn batches() -> Seeds {
    let (a, b) = (validator_key(0), validator_key(1));
    // Signed by validator 0 as the author: seeds a verifier accepts.
    let seal = |txs, raw| Batch::signed(txs, raw, CHAIN_ID, &a);
    let transfers = seal((0..3).map(|n| transfer(&a, n)).collect(), vec![]);
    let kinds = seal(
        payloads()
            .into_iter()
            .take(8)
            .enumerate()
            .map(|(n, (_, p))| signed(&b, n as u64, p))
            .collect(),
        vec![],
    );
    let raw = seal(vec![], vec![vec![1; 32], (0..64).collect()]);
    let mixed = seal(vec![transfer(&b, 0)], vec![vec![2; 40]]);
    vec![
        ("transfers", transfers.encode()),
        ("kinds", kinds.encode()),
        ("raw", raw.encode()),
        ("mixed", mixed.encode()),
        ("empty", Batch::default().encode()),
    ]
}

/// `POST /v1/txs` binary bodies: each transaction a 4-byte little-endian length and its bytes.
pub fn admissions() -> Seeds {
    let body = |txs: &[SignedTx]| {
        let mut out = Vec::new();
        for tx in txs {
            let bytes = tx.encode();
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    };
    let (a, b) = (validator_key(0), validator_key(1));
    let nonces: Vec<SignedTx> = (0..3).map(|n| transfer(&a, n)).collect();
    let senders = [
        transfer(&a, 0),
        transfer(&b, 0),
        signed(&b, 1, Payload::Unjail),
    ];
    let raw = [vec![3u8; 32], vec![4u8; 48]].map(|p| {
        let mut out = (p.len() as u32).to_le_bytes().to_vec();
        out.extend(p);
        out
    });
    vec![
        ("nonces", body(&nonces)),
        ("senders", body(&senders)),
        ("one", body(&nonces[..1])),
        ("raw", raw.concat()),
    ]
}
