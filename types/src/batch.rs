//! Batches: the unit the mempool disseminates and blocks name by digest.
//!
//! A validator packs admitted transactions into a batch, sends it to the others once, and every
//! node checks its signatures once on arrival and stores it by digest; blocks carry only digests
//! ([`crate::Block::batches`]). `raw` carries opaque payloads for the benchmark's `raw` mode
//! (consensus and network measured without the state machine); it is empty on a real chain, and
//! the state machine never looks at it.

use crate::crypto::{Domain, PublicKey, SecretKey, Signature};
use crate::encoding::{self, DecodeError};
use crate::hash::Hash;
use crate::tx::{MAX_TX_BYTES, SignedTx, verify_txs};
use serde::{Deserialize, Serialize};

/// The most bytes one encoded batch may take. Peers' batches above it are refused undecoded.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// The most bytes one raw payload may take.
pub const MAX_RAW_PAYLOAD_BYTES: usize = MAX_TX_BYTES;
/// The fewest bytes one raw payload may take: its first [`RAW_ID_BYTES`] are its id.
pub const MIN_RAW_PAYLOAD_BYTES: usize = RAW_ID_BYTES;
/// How many leading bytes of a raw payload are its id.
pub const RAW_ID_BYTES: usize = 32;

/// A raw payload's id: its first 32 bytes, as they are, or `None` when it is shorter.
///
/// Not a hash, on purpose. Raw mode measures dissemination and consensus, which hash batches,
/// not payloads; hashing every 512-byte payload at admission, at each peer and for the commit
/// watchers cost about 15 % of all CPU in the raw benchmark. Whoever sends raw payloads makes
/// their first 32 bytes unique (the load generator writes its seed and a counter there); two
/// payloads that share them are one payload to the mempool, and the second is refused as a
/// duplicate. Transactions keep their hash as their id.
pub fn raw_payload_id(payload: &[u8]) -> Option<Hash> {
    let head: [u8; RAW_ID_BYTES] = payload.get(..RAW_ID_BYTES)?.try_into().ok()?;
    Some(Hash(head))
}

/// A batch names its author, the validator that sealed it, by consensus key, and carries the
/// author's signature (its own domain, [`Domain::Batch`]) over the chain id and the digest
/// ([`Batch::author_message`]): whoever chose the bytes is known, and pays the skip fee for the
/// transactions of its batches that execution skips for reasons it could have seen
/// (docs/economy.md, "Skipped transactions").
///
/// The digest blocks name covers the items and the author, not the signature: the author signs
/// the chain id and the digest, so a node hashes a batch once, for its name and its signature
/// alike (two passes, one per purpose, cost the raw benchmark about 5 % of its CPU). Two copies
/// that differ only in a valid signature are one batch by one author.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub txs: Vec<SignedTx>,
    #[serde(with = "raw_payloads")]
    pub raw: Vec<Vec<u8>>,
    /// The consensus key of the validator that sealed the batch.
    pub author: PublicKey,
    /// The author's signature over [`Batch::author_message`].
    pub signature: Signature,
}

/// A batch just sealed, with its encoding and digest ([`Batch::seal`]).
#[derive(Clone, Debug)]
pub struct Sealed {
    pub batch: Batch,
    pub bytes: Vec<u8>,
    pub digest: Hash,
}

/// The encoded signature at the end of every batch's encoding (fixed size, no length prefix).
const SIGNATURE_BYTES: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("cannot decode batch: {0}")]
    Decode(#[from] DecodeError),
    #[error("a raw payload of {0} bytes is over the limit")]
    RawTooLarge(usize),
    #[error("a raw payload of {0} bytes is shorter than its {RAW_ID_BYTES}-byte id")]
    RawTooSmall(usize),
    #[error("transaction {position} takes {len} bytes, over the limit of {MAX_TX_BYTES}")]
    TxTooLarge { position: usize, len: usize },
    #[error("bad signature on transactions at positions {0:?}")]
    BadSignatures(Vec<usize>),
    #[error("the author's signature does not verify")]
    BadAuthorSignature,
}

impl Batch {
    /// A batch `key` seals for `chain_id`: it names `key`'s public half as its author and
    /// carries its signature.
    pub fn signed(txs: Vec<SignedTx>, raw: Vec<Vec<u8>>, chain_id: &str, key: &SecretKey) -> Batch {
        Batch::seal(txs, raw, chain_id, key).batch
    }

    /// [`Batch::signed`] with the batch's encoding and digest, made in one encoding and one
    /// hash: what a mempool seals.
    pub fn seal(txs: Vec<SignedTx>, raw: Vec<Vec<u8>>, chain_id: &str, key: &SecretKey) -> Sealed {
        let mut batch = Batch {
            txs,
            raw,
            author: key.public(),
            signature: Signature::default(),
        };
        let mut bytes = batch.encode();
        let digest = Batch::digest_of_encoded(&bytes);
        batch.signature = key.sign(Domain::Batch, &Self::message_of(chain_id, &digest));
        let at = bytes.len() - SIGNATURE_BYTES;
        bytes[at..].copy_from_slice(&batch.signature.0);
        Sealed {
            batch,
            bytes,
            digest,
        }
    }

    /// A batch with no author and no signature, for tools and tests that never send it: every
    /// node refuses it.
    pub fn unsigned(txs: Vec<SignedTx>, raw: Vec<Vec<u8>>) -> Batch {
        Batch {
            txs,
            raw,
            ..Batch::default()
        }
    }

    /// Names `key` as the author and signs the content as it is now.
    pub fn sign(&mut self, chain_id: &str, key: &SecretKey) {
        self.author = key.public();
        self.signature = key.sign(Domain::Batch, &self.author_message(chain_id));
    }

    /// What the author signs: the chain id and the digest (which covers the items and the
    /// author).
    pub fn author_message(&self, chain_id: &str) -> Vec<u8> {
        Self::message_of(chain_id, &self.digest())
    }

    fn message_of(chain_id: &str, digest: &Hash) -> Vec<u8> {
        encoding::encode(&(chain_id, digest))
    }

    /// Whether the author's signature verifies for `chain_id` (one single check).
    pub fn verify_author(&self, chain_id: &str) -> Result<(), BatchError> {
        self.verify_author_of(&self.digest(), chain_id)
    }

    /// [`Batch::verify_author`] for a batch whose digest the caller has from its bytes
    /// ([`Batch::digest_of_encoded`]): nothing is hashed again.
    pub fn verify_author_of(&self, digest: &Hash, chain_id: &str) -> Result<(), BatchError> {
        self.author
            .verify(
                Domain::Batch,
                &Self::message_of(chain_id, digest),
                &self.signature,
            )
            .map_err(|_| BatchError::BadAuthorSignature)
    }

    /// The digest blocks name: the hash of the encoding's head, items and author
    /// ([`Batch::digest_of_encoded`], the one definition).
    pub fn digest(&self) -> Hash {
        Batch::digest_of_encoded(&self.encode())
    }

    /// [`Batch::digest`] from a batch's bytes, before or without decoding them: the encoding
    /// ends with the fixed-size signature, and decoding accepts only the canonical encoding, so
    /// for bytes that decode the two agree. Bytes too short to hold a signature never decode.
    pub fn digest_of_encoded(bytes: &[u8]) -> Hash {
        let head = bytes.len().saturating_sub(SIGNATURE_BYTES);
        Hash::digest(&bytes[..head])
    }

    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Bounded, canonical decoding. Does not check signatures.
    pub fn decode(bytes: &[u8]) -> Result<Batch, BatchError> {
        let batch: Batch = encoding::decode_with_limit(bytes, MAX_BATCH_BYTES)?;
        // A transaction alone is refused over MAX_TX_BYTES; inside a batch it must be too. Only a
        // batch larger than that limit can hold such a transaction, so honest batches (1 MiB by
        // default) are never measured.
        if bytes.len() > MAX_TX_BYTES {
            for (position, tx) in batch.txs.iter().enumerate() {
                let len = encoding::encoded_len(tx);
                if len > MAX_TX_BYTES {
                    return Err(BatchError::TxTooLarge { position, len });
                }
            }
        }
        for raw in &batch.raw {
            if raw.len() > MAX_RAW_PAYLOAD_BYTES {
                return Err(BatchError::RawTooLarge(raw.len()));
            }
            if raw.len() < MIN_RAW_PAYLOAD_BYTES {
                return Err(BatchError::RawTooSmall(raw.len()));
            }
        }
        Ok(batch)
    }

    /// One batch verification over every transaction; the error names the bad positions.
    pub fn verify_signatures(&self) -> Result<(), BatchError> {
        let bad: Vec<usize> = verify_txs(&self.txs)
            .iter()
            .enumerate()
            .filter(|(_, ok)| !**ok)
            .map(|(i, _)| i)
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(BatchError::BadSignatures(bad))
        }
    }

    pub fn len(&self) -> usize {
        self.txs.len() + self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty() && self.raw.is_empty()
    }
}

/// Raw payloads as byte strings. bincode writes a `Vec<u8>` as a length and its bytes either
/// way, but serde's `Vec<u8>` goes through it a byte at a time: in the raw benchmark that was 18 %
/// of all CPU. `serde_bytes` copies each payload whole, with the same bytes on the wire. In JSON
/// the payloads read as hex.
mod raw_payloads {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(raw: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let hexed: Vec<String> = raw.iter().map(hex::encode).collect();
            hexed.serialize(s)
        } else {
            let whole: Vec<&Bytes> = raw.iter().map(|r| Bytes::new(r)).collect();
            whole.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        if d.is_human_readable() {
            let hexed = Vec::<String>::deserialize(d)?;
            hexed
                .iter()
                .map(|h| hex::decode(h).map_err(serde::de::Error::custom))
                .collect()
        } else {
            let whole = Vec::<ByteBuf>::deserialize(d)?;
            Ok(whole.into_iter().map(ByteBuf::into_vec).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Address;
    use crate::crypto::SecretKey;
    use crate::tx::{Payload, TxBody};

    fn transfer(key: &SecretKey, nonce: u64) -> SignedTx {
        TxBody {
            chain_id: "runnet-test".into(),
            sender: key.public(),
            nonce,
            gas_limit: 50_000,
            gas_price: 1,
            payload: Payload::Transfer {
                to: Address([7; 20]),
                amount: 1,
            },
        }
        .sign(key)
    }

    #[test]
    fn round_trip_and_digest() {
        let key = SecretKey::from_seed([3; 32]);
        let batch = Batch::unsigned(
            (0..5).map(|n| transfer(&key, n)).collect(),
            vec![vec![1; MIN_RAW_PAYLOAD_BYTES]],
        );
        let bytes = batch.encode();
        let back = Batch::decode(&bytes).unwrap();
        assert_eq!(back, batch);
        assert_eq!(back.digest(), batch.digest());
        assert_eq!(batch.verify_signatures(), Ok(()));
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(serde_json::from_str::<Batch>(&json).unwrap(), batch);
    }

    /// Raw payloads are copied whole, with the bytes serde's element-by-element form gives.
    #[test]
    fn raw_payloads_keep_the_plain_encoding() {
        let key = SecretKey::from_seed([3; 32]);
        let batch = Batch::unsigned(
            vec![transfer(&key, 0)],
            vec![vec![0; 32], vec![7; 512], (0..=255).collect()],
        );
        let plain = crate::encoding::encode(&(
            batch.txs.clone(),
            batch.raw.clone(),
            batch.author,
            batch.signature,
        ));
        assert_eq!(batch.encode(), plain);
        assert_eq!(Batch::decode(&plain).unwrap(), batch);
        // A payload length past the input is refused, not trusted for an allocation.
        let mut lying = Batch::unsigned(vec![], vec![vec![1; 40]]).encode();
        let at = lying.len() - 32 - 64 - 40 - 8;
        lying[at..at + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(Batch::decode(&lying).is_err());
    }

    /// The author's signature binds the chain, the author and every item; the transactions'
    /// own signatures say nothing about it.
    #[test]
    fn the_author_signature_binds_chain_author_and_content() {
        let key = SecretKey::from_seed([3; 32]);
        let author = SecretKey::from_seed([4; 32]);
        let batch = Batch::signed(
            (0..3).map(|n| transfer(&key, n)).collect(),
            vec![vec![1; MIN_RAW_PAYLOAD_BYTES]],
            "runnet-test",
            &author,
        );
        assert_eq!(batch.author, author.public());
        assert_eq!(batch.verify_author("runnet-test"), Ok(()));
        let bytes = batch.encode();
        let back = Batch::decode(&bytes).unwrap();
        assert_eq!(back.verify_author("runnet-test"), Ok(()));
        // The digest from the bytes is the digest the author signed, made in one hash.
        let digest = Batch::digest_of_encoded(&bytes);
        assert_eq!(digest, batch.digest());
        assert_eq!(back.verify_author_of(&digest, "runnet-test"), Ok(()));
        let bad_bytes = Err(BatchError::BadAuthorSignature);
        assert_eq!(back.verify_author_of(&digest, "other"), bad_bytes);
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert_eq!(
            back.verify_author_of(&Batch::digest_of_encoded(&flipped), "runnet-test"),
            bad_bytes
        );
        // Sealing gives the bytes and digest that encoding and hashing give.
        let sealed = Batch::seal(batch.txs.clone(), batch.raw.clone(), "runnet-test", &author);
        assert_eq!(sealed.batch, batch);
        assert_eq!(sealed.bytes, bytes);
        assert_eq!(sealed.digest, digest);
        // The signature is outside the digest: the name is the items' and the author's.
        let mut resigned = batch.clone();
        resigned.signature = Signature::default();
        assert_eq!(resigned.digest(), batch.digest());
        assert_ne!(Batch::digest_of_encoded(&resigned.encode()[..40]), digest);
        let bad = Err(BatchError::BadAuthorSignature);
        assert_eq!(batch.verify_author("other-chain"), bad);
        let mut dropped = batch.clone();
        dropped.txs.pop();
        assert_eq!(dropped.verify_author("runnet-test"), bad);
        let mut raw = batch.clone();
        raw.raw[0][5] = 9;
        assert_eq!(raw.verify_author("runnet-test"), bad);
        let mut renamed = batch.clone();
        renamed.author = key.public();
        assert_eq!(renamed.verify_author("runnet-test"), bad);
        // A real author's key with no signature. (The all-zero key and signature of
        // `Batch::unsigned` are a small-order point ZIP-215 accepts for any message: such a
        // batch names no validator, and the store refuses it as an unknown author.)
        let mut unsigned = batch.clone();
        unsigned.signature = Signature::default();
        assert_eq!(unsigned.verify_author("runnet-test"), bad);
        // Another author's batch of the same items is another batch.
        let other = Batch::signed(batch.txs.clone(), batch.raw.clone(), "runnet-test", &key);
        assert_ne!(other.digest(), batch.digest());
    }

    #[test]
    fn bad_signatures_are_named() {
        let key = SecretKey::from_seed([3; 32]);
        let mut batch = Batch::unsigned((0..6).map(|n| transfer(&key, n)).collect(), vec![]);
        batch.txs[4].body.nonce = 99;
        assert_eq!(
            batch.verify_signatures(),
            Err(BatchError::BadSignatures(vec![4]))
        );
    }

    /// Found while fuzzing: `SignedTx::decode` refuses a transaction over `MAX_TX_BYTES`, but
    /// one inside a batch (whose limit is 4 MiB) passed.
    #[test]
    fn a_transaction_over_its_limit_is_refused_inside_a_batch_too() {
        let key = SecretKey::from_seed([5; 32]);
        let big = TxBody {
            chain_id: "runnet-test".into(),
            sender: key.public(),
            nonce: 0,
            gas_limit: 50_000,
            gas_price: 1,
            payload: Payload::PublishService {
                definition: vec![],
                bundle: crate::service::Bundle::Wasm(vec![0; MAX_TX_BYTES + 1]),
            },
        }
        .sign(&key);
        let batch = Batch::unsigned(vec![transfer(&key, 1), big], vec![]);
        assert!(matches!(
            Batch::decode(&batch.encode()),
            Err(BatchError::TxTooLarge { position: 1, .. })
        ));
    }

    #[test]
    fn hostile_bytes_are_refused() {
        assert!(Batch::decode(&[0xff; 64]).is_err());
        let mut bytes = Batch::default().encode();
        bytes.push(0);
        assert!(Batch::decode(&bytes).is_err());
        let big = Batch::unsigned(vec![], vec![vec![0; MAX_RAW_PAYLOAD_BYTES + 1]]);
        assert!(matches!(
            Batch::decode(&big.encode()),
            Err(BatchError::RawTooLarge(_))
        ));
        let small = Batch::unsigned(vec![], vec![vec![0; MIN_RAW_PAYLOAD_BYTES - 1]]);
        assert_eq!(
            Batch::decode(&small.encode()),
            Err(BatchError::RawTooSmall(MIN_RAW_PAYLOAD_BYTES - 1))
        );
    }

    #[test]
    fn a_raw_payload_is_named_by_its_first_32_bytes() {
        let mut payload: Vec<u8> = (0..64).collect();
        let id = raw_payload_id(&payload).unwrap();
        assert_eq!(id.0.as_slice(), &payload[..32]);
        payload[40] = 0xff;
        assert_eq!(
            raw_payload_id(&payload),
            Some(id),
            "the tail is not part of the id"
        );
        payload[31] = 0xff;
        assert_ne!(raw_payload_id(&payload), Some(id));
        assert_eq!(raw_payload_id(&payload[..31]), None);
    }
}
