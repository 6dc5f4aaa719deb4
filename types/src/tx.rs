//! Transactions: the signed envelope and the payload kinds.
//!
//! A transaction is `(body, signature)`; the signature covers the transaction domain tag and the
//! body's canonical encoding. Its hash is the hash of the body alone: the body names the sender
//! and its nonce, so the hash identifies the action whatever encoding of the signature carried it.

use crate::address::Address;
use crate::consensus::Evidence;
use crate::crypto::{
    Domain, PublicKey, SecretKey, Signature, SignatureError, SignedMessage, verify_batch,
};
use crate::encoding::{self, DecodeError};
use crate::execution::{TaskResult, Verdict};
use crate::hash::Hash;
use crate::process::ProcessDefinition;
use crate::service::Bundle;
use crate::vrf::VrfPublicKey;
use serde::{Deserialize, Serialize};

/// Largest encoded transaction accepted anywhere (a service bundle is the biggest payload).
pub const MAX_TX_BYTES: usize = 2 << 20;
/// Longest network peer id string a validator may register.
pub const MAX_PEER_ID_LEN: usize = 128;

pub type Amount = u64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxBody {
    pub chain_id: String,
    pub sender: PublicKey,
    pub nonce: u64,
    pub gas_limit: u64,
    pub gas_price: u64,
    pub payload: Payload,
}

/// What a transaction does. New kinds are appended, never inserted: the variant index is part of
/// the canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Transfer {
        to: Address,
        amount: Amount,
    },
    /// Bond stake as a block producer, or add stake to the sender's validator.
    BondValidator {
        consensus_key: PublicKey,
        vrf_key: VrfPublicKey,
        peer_id: String,
        amount: Amount,
        /// The consensus key's signature over [`validator_binding_message`]: proves the sender
        /// holds that key, so nobody can register another validator's key as their own.
        binding: Signature,
    },
    UnbondValidator {
        amount: Amount,
    },
    Unjail,
    PublishService {
        /// Canonical JSON of a [`crate::service::ServiceDefinition`].
        definition: Vec<u8>,
        bundle: Bundle,
    },
    RegisterRunner {
        service: Hash,
        stake: Amount,
        price_per_call: Amount,
        price_per_kib: Amount,
        max_open: u32,
    },
    UnregisterRunner {
        runner: Hash,
    },
    /// Asks for a task to run on `inputs` (record bytes of the task's input schema), escrowing
    /// `max_fee` at once; `runner` names a runner, else one is drawn.
    RequestExecution {
        service: Hash,
        task: String,
        inputs: Vec<u8>,
        max_fee: Amount,
        runner: Option<Hash>,
    },
    /// The assigned runner's commitment ([`crate::execution::result_commitment`]).
    CommitResult {
        execution: Hash,
        commitment: Hash,
    },
    RevealResult {
        execution: Hash,
        result: TaskResult,
        salt: Hash,
    },
    /// The plain result of a `trusted` task.
    SubmitResult {
        execution: Hash,
        result: TaskResult,
    },
    /// A drawn verifier's commitment ([`crate::execution::verdict_commitment`]).
    CommitVerdict {
        execution: Hash,
        commitment: Hash,
    },
    RevealVerdict {
        execution: Hash,
        verdict: Verdict,
        salt: Hash,
    },
    /// Creates a process owned by the sender, under the id of this transaction's hash. The
    /// sender pays `process_deposit` (returned at close) and `balance` (the process's funds);
    /// `spend_cap` caps what the process may spend in one block.
    CreateProcess {
        definition: ProcessDefinition,
        balance: Amount,
        spend_cap: Amount,
    },
    /// Adds to a process's balance (anyone may).
    FundProcess {
        process: Hash,
        amount: Amount,
    },
    /// The owner closes its process: balance and deposit return to the owner.
    CloseProcess {
        process: Hash,
    },
    /// A runner of `service` reports its event `event` with `data` (record bytes of the event's
    /// schema).
    EmitEvent {
        service: Hash,
        event: String,
        data: Vec<u8>,
    },
    /// Two conflicting signed consensus messages of one validator for one round. Boxed: it is by
    /// far the largest payload and the rarest.
    Evidence(Box<Evidence>),
    /// The owner returns a jailed runner to work once its jail is over, adding `stake` from its
    /// balance (0 for none) so that it holds at least `min_runner_stake`. Appended: the
    /// encoding numbers variants by position.
    UnjailRunner {
        runner: Hash,
        stake: Amount,
    },
}

/// The kinds of payload, for gas schedules, receipts and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKind {
    Transfer,
    BondValidator,
    UnbondValidator,
    Unjail,
    PublishService,
    RegisterRunner,
    UnregisterRunner,
    RequestExecution,
    CommitResult,
    RevealResult,
    SubmitResult,
    CommitVerdict,
    RevealVerdict,
    CreateProcess,
    FundProcess,
    CloseProcess,
    EmitEvent,
    Evidence,
    UnjailRunner,
}

impl Payload {
    pub fn kind(&self) -> PayloadKind {
        match self {
            Payload::Transfer { .. } => PayloadKind::Transfer,
            Payload::BondValidator { .. } => PayloadKind::BondValidator,
            Payload::UnbondValidator { .. } => PayloadKind::UnbondValidator,
            Payload::Unjail => PayloadKind::Unjail,
            Payload::PublishService { .. } => PayloadKind::PublishService,
            Payload::RegisterRunner { .. } => PayloadKind::RegisterRunner,
            Payload::UnregisterRunner { .. } => PayloadKind::UnregisterRunner,
            Payload::RequestExecution { .. } => PayloadKind::RequestExecution,
            Payload::CommitResult { .. } => PayloadKind::CommitResult,
            Payload::RevealResult { .. } => PayloadKind::RevealResult,
            Payload::SubmitResult { .. } => PayloadKind::SubmitResult,
            Payload::CommitVerdict { .. } => PayloadKind::CommitVerdict,
            Payload::RevealVerdict { .. } => PayloadKind::RevealVerdict,
            Payload::CreateProcess { .. } => PayloadKind::CreateProcess,
            Payload::FundProcess { .. } => PayloadKind::FundProcess,
            Payload::CloseProcess { .. } => PayloadKind::CloseProcess,
            Payload::EmitEvent { .. } => PayloadKind::EmitEvent,
            Payload::Evidence(_) => PayloadKind::Evidence,
            Payload::UnjailRunner { .. } => PayloadKind::UnjailRunner,
        }
    }
}

/// What a validator's consensus key signs when it bonds: the chain, the account, the VRF key and
/// the network identity it vouches for.
pub fn validator_binding_message(
    chain_id: &str,
    account: &Address,
    vrf_key: &VrfPublicKey,
    peer_id: &str,
) -> Vec<u8> {
    encoding::encode(&(chain_id, account, vrf_key, peer_id))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTx {
    pub body: TxBody,
    pub signature: Signature,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxError {
    #[error("cannot decode transaction: {0}")]
    Decode(#[from] DecodeError),
    #[error("bad transaction signature")]
    Signature(#[from] SignatureError),
}

impl TxBody {
    pub fn sign(self, key: &SecretKey) -> SignedTx {
        let signature = key.sign(Domain::Transaction, &encoding::encode(&self));
        SignedTx {
            body: self,
            signature,
        }
    }

    pub fn hash(&self) -> Hash {
        encoding::hash_of(self)
    }
}

impl SignedTx {
    pub fn hash(&self) -> Hash {
        self.body.hash()
    }

    pub fn sender_address(&self) -> Address {
        self.body.sender.address()
    }

    /// The single signature check; batch paths use [`crate::crypto::verify_batch`] over
    /// [`SignedTx::signing_bytes`], which accepts exactly the same signatures.
    pub fn verify(&self) -> Result<(), TxError> {
        self.body
            .sender
            .verify(Domain::Transaction, &self.signing_bytes(), &self.signature)?;
        Ok(())
    }

    pub fn signing_bytes(&self) -> Vec<u8> {
        encoding::encode(&self.body)
    }

    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Bounded, canonical decoding. Does not check the signature.
    pub fn decode(bytes: &[u8]) -> Result<SignedTx, TxError> {
        Ok(encoding::decode_with_limit(bytes, MAX_TX_BYTES)?)
    }
}

/// Checks many transactions' signatures with one batch verification; on failure the single
/// checks name the bad ones. `result[i]` says whether `txs[i]` is correctly signed. Accepts
/// exactly what [`SignedTx::verify`] accepts.
pub fn verify_txs(txs: &[SignedTx]) -> Vec<bool> {
    let bodies: Vec<Vec<u8>> = txs.iter().map(SignedTx::signing_bytes).collect();
    let items: Vec<SignedMessage> = txs
        .iter()
        .zip(&bodies)
        .map(|(tx, body)| SignedMessage {
            domain: Domain::Transaction,
            key: &tx.body.sender,
            message: body,
            signature: &tx.signature,
        })
        .collect();
    let mut ok = vec![true; txs.len()];
    if let Err(SignatureError::InvalidInBatch(bad)) = verify_batch(&items) {
        for i in bad {
            if let Some(slot) = ok.get_mut(i) {
                *slot = false;
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(key: &SecretKey) -> SignedTx {
        TxBody {
            chain_id: "runnet-test".into(),
            sender: key.public(),
            nonce: 3,
            gas_limit: 100_000,
            gas_price: 1,
            payload: Payload::Transfer {
                to: Address([9; 20]),
                amount: 500,
            },
        }
        .sign(key)
    }

    #[test]
    fn sign_encode_decode_verify() {
        let key = SecretKey::from_seed([1; 32]);
        let tx = sample(&key);
        let bytes = tx.encode();
        let back = SignedTx::decode(&bytes).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.verify(), Ok(()));
        assert_eq!(back.hash(), tx.body.hash());
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let key = SecretKey::from_seed([1; 32]);
        let mut tx = sample(&key);
        tx.body.nonce += 1;
        assert!(tx.verify().is_err());
        let mut tx = sample(&key);
        tx.body.chain_id = "other".into();
        assert!(tx.verify().is_err());
        let mut tx = sample(&key);
        tx.body.sender = SecretKey::from_seed([2; 32]).public();
        assert!(tx.verify().is_err());
    }

    #[test]
    fn non_canonical_and_trailing_bytes_refused() {
        let key = SecretKey::from_seed([1; 32]);
        let mut bytes = sample(&key).encode();
        bytes.push(0);
        assert!(matches!(
            SignedTx::decode(&bytes),
            Err(TxError::Decode(DecodeError::TrailingBytes(1)))
        ));
        // An unknown payload variant.
        let tx = sample(&key);
        let mut bytes = tx.encode();
        let body_prefix = encoding::encode(&(
            &tx.body.chain_id,
            &tx.body.sender,
            tx.body.nonce,
            tx.body.gas_limit,
            tx.body.gas_price,
        ))
        .len();
        bytes[body_prefix] = 200;
        assert!(SignedTx::decode(&bytes).is_err());
    }

    #[test]
    fn payload_variants_keep_their_indices() {
        // The variant index is the first 4 bytes (u32, little endian) of a payload's encoding:
        // kinds are appended, so the existing ones keep their bytes.
        let index = |p: &Payload| u32::from_le_bytes(encoding::encode(p)[..4].try_into().unwrap());
        assert_eq!(index(&Payload::Unjail), 3);
        assert_eq!(
            index(&Payload::RevealVerdict {
                execution: Hash::ZERO,
                verdict: Verdict::Check { valid: true },
                salt: Hash::ZERO
            }),
            12
        );
        assert_eq!(
            index(&Payload::CloseProcess {
                process: Hash::ZERO
            }),
            15
        );
        let evidence = crate::consensus::Evidence::Votes {
            signer: SecretKey::from_seed([1; 32]).public(),
            first: crate::consensus::SignedVote {
                data: crate::consensus::VoteData {
                    epoch: 0,
                    round: 1,
                    height: 1,
                    block: Hash::ZERO,
                    parent: Hash::ZERO,
                    parent_round: 0,
                },
                signature: Signature([0; 64]),
            },
            second: crate::consensus::SignedVote {
                data: crate::consensus::VoteData {
                    epoch: 0,
                    round: 1,
                    height: 1,
                    block: Hash([1; 32]),
                    parent: Hash::ZERO,
                    parent_round: 0,
                },
                signature: Signature([0; 64]),
            },
        };
        let payload = Payload::Evidence(Box::new(evidence.clone()));
        assert_eq!(index(&payload), 17);
        // Boxing changes nothing on the wire.
        assert_eq!(
            encoding::encode(&payload)[4..],
            encoding::encode(&evidence)[..]
        );
        let back: Payload = encoding::decode(&encoding::encode(&payload)).unwrap();
        assert_eq!(back, payload);
    }

    #[test]
    fn oversized_transaction_refused() {
        let bytes = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            SignedTx::decode(&bytes),
            Err(TxError::Decode(DecodeError::TooLarge { .. }))
        ));
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = SignedTx::decode(&bytes);
        }

        #[test]
        fn mutated_valid_bytes_never_panic_and_stay_canonical(pos in 0usize..200, byte in any::<u8>()) {
            let key = SecretKey::from_seed([1; 32]);
            let mut bytes = sample(&key).encode();
            let i = pos % bytes.len();
            bytes[i] = byte;
            if let Ok(tx) = SignedTx::decode(&bytes) {
                prop_assert_eq!(tx.encode(), bytes);
            }
        }
    }
}
