//! ed25519 keys and signatures with a domain tag per message kind, and the one acceptance rule.
//!
//! Signing uses ed25519-dalek. Verification follows ZIP-215 (the single check is ed25519-zebra's,
//! which shares curve25519-dalek with ed25519-dalek; the batch equation is checked in [`batch`] the
//! same way, with decompressed keys cached): a cofactored equation, canonical `s`, and any encoding
//! of `A` and `R` that decodes. The single and batch checks accept exactly the same signatures, so a
//! signature valid on one path (a transaction from the API, a batch from a peer, a block from sync)
//! is valid on every path and on every node. RFC 8032 strict single checks and dalek's batch check
//! can disagree on crafted small-order inputs; that disagreement would split the network.

mod batch;

use crate::bytes::fixed_bytes;
use crate::hash::Hash;
use ed25519_dalek::Signer as _;

fixed_bytes!(
    /// An ed25519 public key (accounts, validator consensus keys).
    PublicKey,
    32,
    ""
);

fixed_bytes!(
    /// An ed25519 signature, 64 bytes (R then s).
    Signature,
    64,
    ""
);

/// What a signature is about. Each kind signs `tag || message`, so a signature of one kind can
/// never be replayed as another (a vote as a transaction, a batch as a proposal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    Transaction,
    Batch,
    Proposal,
    Vote,
    Timeout,
    /// A validator's consensus key vouching for its account, VRF key and network peer id.
    ValidatorBinding,
}

impl Domain {
    pub fn tag(self) -> &'static [u8] {
        match self {
            Domain::Transaction => b"runnet/v1/transaction\0",
            Domain::Batch => b"runnet/v1/batch\0",
            Domain::Proposal => b"runnet/v1/proposal\0",
            Domain::Vote => b"runnet/v1/vote\0",
            Domain::Timeout => b"runnet/v1/timeout\0",
            Domain::ValidatorBinding => b"runnet/v1/validator-binding\0",
        }
    }

    fn tagged(self, message: &[u8]) -> Vec<u8> {
        let tag = self.tag();
        let mut out = Vec::with_capacity(tag.len() + message.len());
        out.extend_from_slice(tag);
        out.extend_from_slice(message);
        out
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum SignatureError {
    #[error("signature does not verify")]
    Invalid,
    #[error("signatures {0:?} in the batch do not verify")]
    InvalidInBatch(Vec<usize>),
}

/// A secret signing key. Its `Debug` never prints the secret.
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<SecretKey, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(SecretKey::from_seed(seed))
    }

    /// A key from a 32-byte seed (deterministic keys for tests and simulations).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, domain: Domain, message: &[u8]) -> Signature {
        Signature(self.0.sign(&domain.tagged(message)).to_bytes())
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", self.public())
    }
}

impl PublicKey {
    /// Whether this key is a point of small order (or no point at all). ZIP-215 accepts, for
    /// such a key, signatures anyone can make without a secret (the identity key and a zero
    /// signature verify any message), so no such key may vote, author batches or bond.
    pub fn is_weak(&self) -> bool {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_or(true, |k| k.is_weak())
    }

    /// The single check (ZIP-215).
    pub fn verify(
        &self,
        domain: Domain,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let key = ed25519_zebra::VerificationKey::try_from(self.0)
            .map_err(|_| SignatureError::Invalid)?;
        key.verify(
            &ed25519_zebra::Signature::from_bytes(&signature.0),
            &domain.tagged(message),
        )
        .map_err(|_| SignatureError::Invalid)
    }
}

/// One item of a batch check: who signed what, of which kind.
pub struct SignedMessage<'a> {
    pub domain: Domain,
    pub key: &'a PublicKey,
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// The batch check (ZIP-215): accepts exactly what the single check accepts. When the batch fails
/// it finds the failing items one by one, so the caller can drop only those. The equation is
/// checked here ([`batch`]) to reuse decompressed keys; the single check is ed25519-zebra's.
pub fn verify_batch(items: &[SignedMessage<'_>]) -> Result<(), SignatureError> {
    if items.is_empty() {
        return Ok(());
    }
    // It decides nothing on its own: ZIP-215 makes the batch outcome equal to the single checks'
    // (up to a 2^-128 chance), and a failure is resolved by the single checks below.
    if batch::equation_holds(items) {
        return Ok(());
    }
    let failed: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            item.key
                .verify(item.domain, item.message, item.signature)
                .is_err()
        })
        .map(|(i, _)| i)
        .collect();
    if failed.is_empty() {
        // Unreachable under ZIP-215 except with negligible probability; the single checks rule.
        Ok(())
    } else {
        Err(SignatureError::InvalidInBatch(failed))
    }
}

/// A short, stable fingerprint for logs.
pub fn fingerprint(key: &PublicKey) -> String {
    Hash::digest(&key.0).to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::Identity;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    #[test]
    fn sign_and_verify() {
        let k = key(1);
        let sig = k.sign(Domain::Transaction, b"hello");
        assert_eq!(
            k.public().verify(Domain::Transaction, b"hello", &sig),
            Ok(())
        );
        assert!(
            k.public()
                .verify(Domain::Transaction, b"hellO", &sig)
                .is_err()
        );
        assert!(
            key(2)
                .public()
                .verify(Domain::Transaction, b"hello", &sig)
                .is_err()
        );
    }

    #[test]
    fn domain_separation() {
        let k = key(3);
        let sig = k.sign(Domain::Vote, b"round 7");
        assert!(k.public().verify(Domain::Vote, b"round 7", &sig).is_ok());
        for other in [
            Domain::Transaction,
            Domain::Batch,
            Domain::Proposal,
            Domain::Timeout,
        ] {
            assert!(k.public().verify(other, b"round 7", &sig).is_err());
        }
    }

    #[test]
    fn batch_agrees_and_names_the_bad_ones() {
        let keys: Vec<SecretKey> = (0..8).map(key).collect();
        let publics: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
        let messages: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<Signature> = keys
            .iter()
            .zip(&messages)
            .map(|(k, m)| k.sign(Domain::Batch, m))
            .collect();
        let items = |sigs: &[Signature]| -> Vec<(usize, Signature)> {
            sigs.iter().cloned().enumerate().collect()
        };
        let check = |sigs: &[Signature]| {
            let pairs = items(sigs);
            let batch: Vec<SignedMessage> = pairs
                .iter()
                .map(|(i, s)| SignedMessage {
                    domain: Domain::Batch,
                    key: &publics[*i],
                    message: &messages[*i],
                    signature: s,
                })
                .collect();
            verify_batch(&batch)
        };
        assert_eq!(check(&sigs), Ok(()));
        sigs[2].0[0] ^= 1;
        sigs[5] = keys[5].sign(Domain::Vote, &messages[5]);
        assert_eq!(
            check(&sigs),
            Err(SignatureError::InvalidInBatch(vec![2, 5]))
        );
    }

    /// The eight small-order points of edwards25519, as canonical encodings.
    fn small_order_points() -> Vec<[u8; 32]> {
        let points: Vec<[u8; 32]> = [
            "0100000000000000000000000000000000000000000000000000000000000000",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000080",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        ]
        .iter()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect();
        for p in &points {
            let point = CompressedEdwardsY(*p).decompress().expect("a curve point");
            assert!(
                point.is_small_order(),
                "{} is of small order",
                hex::encode(p)
            );
        }
        points
    }

    fn single(key: [u8; 32], sig: [u8; 64], msg: &[u8]) -> bool {
        PublicKey(key)
            .verify(Domain::Transaction, msg, &Signature(sig))
            .is_ok()
    }

    fn batch_of(entries: &[([u8; 32], [u8; 64])], msg: &[u8]) -> Result<(), SignatureError> {
        let keys: Vec<PublicKey> = entries.iter().map(|(k, _)| PublicKey(*k)).collect();
        let sigs: Vec<Signature> = entries.iter().map(|(_, s)| Signature(*s)).collect();
        let items: Vec<SignedMessage> = keys
            .iter()
            .zip(&sigs)
            .map(|(key, signature)| SignedMessage {
                domain: Domain::Transaction,
                key,
                message: msg,
                signature,
            })
            .collect();
        verify_batch(&items)
    }

    /// Crafted edge cases: small-order keys and R values with s = 0. The cofactored ZIP-215 rule
    /// accepts them (8·(R - sB + kA) = 0), and it must do so identically on the single path and the
    /// batch path, alone or mixed with honest signatures.
    #[test]
    fn small_order_edge_cases_agree_between_single_and_batch() {
        let msg = b"crafted";
        let honest_key = key(9);
        let honest = (
            honest_key.public().0,
            honest_key.sign(Domain::Transaction, msg).0,
        );
        let mut cases = 0;
        for a in small_order_points() {
            for r in small_order_points() {
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&r);
                // s = 0
                let single_ok = single(a, sig, msg);
                assert!(single_ok, "ZIP-215 accepts small-order A and R with s = 0");
                let batch_ok = batch_of(&[(a, sig)], msg).is_ok();
                assert_eq!(single_ok, batch_ok);
                let mixed = batch_of(&[honest, (a, sig), honest], msg);
                assert_eq!(mixed.is_ok(), single_ok);
                cases += 1;
            }
        }
        assert_eq!(cases, 64);
    }

    proptest::proptest! {
        /// Mixes of good signatures, tampered ones and signatures by the wrong key, with keys
        /// repeated within and across batches (the decompressed-key cache): the batch check names
        /// exactly the items the single check refuses.
        #[test]
        fn batch_names_exactly_what_single_checks_refuse(
            plan in proptest::collection::vec((0u8..6, 0u8..4, proptest::prelude::any::<u8>()), 1..24)
        ) {
            let keys: Vec<SecretKey> = (0..6).map(|i| key(40 + i)).collect();
            let publics: Vec<PublicKey> = keys.iter().map(SecretKey::public).collect();
            let mut entries = Vec::new();
            for (signer, fault, byte) in &plan {
                let message = vec![*byte; 1 + usize::from(*byte % 7)];
                let signer = usize::from(*signer);
                let mut signature = keys[signer].sign(Domain::Transaction, &message);
                let mut named = publics[signer];
                match fault {
                    1 => signature.0[usize::from(*byte) % 64] ^= 1,
                    2 => named = publics[(signer + 1) % 6],
                    _ => {}
                }
                entries.push((named, message, signature));
            }
            let items: Vec<SignedMessage> = entries
                .iter()
                .map(|(key, message, signature)| SignedMessage {
                    domain: Domain::Transaction,
                    key,
                    message,
                    signature,
                })
                .collect();
            let refused: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, i)| i.key.verify(i.domain, i.message, i.signature).is_err())
                .map(|(n, _)| n)
                .collect();
            let expected = if refused.is_empty() {
                Ok(())
            } else {
                Err(SignatureError::InvalidInBatch(refused))
            };
            proptest::prop_assert_eq!(verify_batch(&items), expected);
        }
    }

    #[test]
    fn non_canonical_s_is_refused_on_both_paths() {
        let k = key(4);
        let msg = b"malleable?";
        let sig = k.sign(Domain::Transaction, msg).0;
        // s + l is the same scalar mod l but not canonical.
        let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
        let l_bytes: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        // add l to s as 256-bit little-endian integers
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = s.to_bytes()[i] as u16 + l_bytes[i] as u16 + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        let mut bad = sig;
        bad[32..].copy_from_slice(&sum);
        assert!(single(k.public().0, sig, msg));
        assert!(!single(k.public().0, bad, msg));
        assert!(batch_of(&[(k.public().0, bad)], msg).is_err());
    }

    #[test]
    fn identity_key_with_mixed_signature_is_consistent() {
        // A = identity, R = identity, s = 0 verifies for every message under the cofactored rule;
        // whatever the rule says, single and batch must say the same.
        let identity = curve25519_dalek::edwards::EdwardsPoint::identity()
            .compress()
            .to_bytes();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        for msg in [&b"a"[..], b"b", b""] {
            assert_eq!(
                single(identity, sig, msg),
                batch_of(&[(identity, sig)], msg).is_ok()
            );
        }
        // A non-decodable point is refused on both paths.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        not_a_point[31] = 0x7f;
        let decodes = CompressedEdwardsY(not_a_point).decompress().is_some();
        assert_eq!(
            single(not_a_point, sig, b"x"),
            batch_of(&[(not_a_point, sig)], b"x").is_ok()
        );
        if !decodes {
            assert!(!single(not_a_point, sig, b"x"));
        }
    }
}
