//! Signing, checking and the VRF, behind one trait so the simulator can swap real ed25519 and
//! schnorrkel for a fast hash-based stand-in on most seeds.

use runnet_types::crypto::{self, SignedMessage};
use runnet_types::encoding::hash_of;
use runnet_types::vrf::{VrfPreOutput, VrfProofBytes};
use runnet_types::{
    Domain, Hash, PublicKey, SecretKey, Signature, VrfProof, VrfPublicKey, VrfSecretKey,
};

/// One signature to check.
pub struct SignedItem<'a> {
    pub key: &'a PublicKey,
    pub domain: Domain,
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// The node's own keys (to sign and to prove the VRF) and the checks of everyone else's.
pub trait Crypto {
    fn public_key(&self) -> PublicKey;
    fn vrf_public_key(&self) -> VrfPublicKey;
    fn sign(&self, domain: Domain, message: &[u8]) -> Signature;
    fn verify(
        &self,
        key: &PublicKey,
        domain: Domain,
        message: &[u8],
        signature: &Signature,
    ) -> bool;
    /// Checks many signatures at once; on failure, the indices of the bad ones.
    fn verify_many(&self, items: &[SignedItem<'_>]) -> Result<(), Vec<usize>> {
        let bad: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, i)| !self.verify(i.key, i.domain, i.message, i.signature))
            .map(|(n, _)| n)
            .collect();
        if bad.is_empty() { Ok(()) } else { Err(bad) }
    }
    /// The VRF output and proof over `input` (the parent block's seed).
    fn vrf_prove(&self, input: &[u8]) -> (Hash, VrfProof);
    /// The VRF output when `proof` is valid for `key` and `input`.
    fn vrf_verify(&self, key: &VrfPublicKey, input: &[u8], proof: &VrfProof) -> Option<Hash>;
}

/// The production scheme: ed25519 (ZIP-215 checks, batch verification for certificates) and
/// schnorrkel's VRF.
pub struct Ed25519Crypto {
    key: SecretKey,
    vrf: VrfSecretKey,
}

impl Ed25519Crypto {
    pub fn new(key: SecretKey, vrf: VrfSecretKey) -> Ed25519Crypto {
        Ed25519Crypto { key, vrf }
    }
}

impl Crypto for Ed25519Crypto {
    fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    fn vrf_public_key(&self) -> VrfPublicKey {
        self.vrf.public()
    }

    fn sign(&self, domain: Domain, message: &[u8]) -> Signature {
        self.key.sign(domain, message)
    }

    fn verify(
        &self,
        key: &PublicKey,
        domain: Domain,
        message: &[u8],
        signature: &Signature,
    ) -> bool {
        key.verify(domain, message, signature).is_ok()
    }

    fn verify_many(&self, items: &[SignedItem<'_>]) -> Result<(), Vec<usize>> {
        let batch: Vec<SignedMessage<'_>> = items
            .iter()
            .map(|i| SignedMessage {
                domain: i.domain,
                key: i.key,
                message: i.message,
                signature: i.signature,
            })
            .collect();
        match crypto::verify_batch(&batch) {
            Ok(()) => Ok(()),
            Err(crypto::SignatureError::InvalidInBatch(bad)) => Err(bad),
            Err(crypto::SignatureError::Invalid) => Err((0..items.len()).collect()),
        }
    }

    fn vrf_prove(&self, input: &[u8]) -> (Hash, VrfProof) {
        self.vrf.prove(input)
    }

    fn vrf_verify(&self, key: &VrfPublicKey, input: &[u8], proof: &VrfProof) -> Option<Hash> {
        key.verify(input, proof).ok()
    }
}

/// A fast, insecure stand-in for tests and simulations: a "signature" is a hash of the public
/// key, the domain and the message, so anyone can forge one. It keeps every code path of the real
/// scheme (who signed what, under which domain) at a fraction of the cost, so thousands of
/// simulated seeds fit in a test run. Never use it outside tests and simulations.
pub struct TestCrypto {
    public: PublicKey,
    vrf_public: VrfPublicKey,
}

impl TestCrypto {
    pub fn new(id: u64) -> TestCrypto {
        let public = PublicKey(hash_of(&("runnet-test-key", id)).0);
        TestCrypto {
            public,
            vrf_public: Self::vrf_key_of(&public),
        }
    }

    pub fn vrf_key_of(public: &PublicKey) -> VrfPublicKey {
        VrfPublicKey(hash_of(&("runnet-test-vrf", public)).0)
    }

    fn signature(key: &PublicKey, domain: Domain, message: &[u8]) -> Signature {
        // Raw bytes rather than the canonical encoding: this runs for every message of every
        // simulated seed, in debug builds too.
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"runnet-test-signature");
        hasher.update(&key.0);
        hasher.update(domain.tag());
        hasher.update(message);
        let a = Hash(*hasher.finalize().as_bytes());
        let b = Hash::digest(&a.0);
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&a.0);
        out[32..].copy_from_slice(&b.0);
        Signature(out)
    }

    fn vrf(key: &VrfPublicKey, input: &[u8]) -> (Hash, VrfProof) {
        let pre = hash_of(&("vrf-pre", key, input));
        let output = hash_of(&("vrf-out", &pre));
        let mut proof = [0u8; 64];
        proof[..32].copy_from_slice(&hash_of(&("vrf-proof", key, input)).0);
        (
            output,
            VrfProof {
                pre_output: VrfPreOutput(pre.0),
                proof: VrfProofBytes(proof),
            },
        )
    }
}

impl Crypto for TestCrypto {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn vrf_public_key(&self) -> VrfPublicKey {
        self.vrf_public
    }

    fn sign(&self, domain: Domain, message: &[u8]) -> Signature {
        Self::signature(&self.public, domain, message)
    }

    fn verify(
        &self,
        key: &PublicKey,
        domain: Domain,
        message: &[u8],
        signature: &Signature,
    ) -> bool {
        Self::signature(key, domain, message) == *signature
    }

    fn vrf_prove(&self, input: &[u8]) -> (Hash, VrfProof) {
        Self::vrf(&self.vrf_public, input)
    }

    fn vrf_verify(&self, key: &VrfPublicKey, input: &[u8], proof: &VrfProof) -> Option<Hash> {
        let (output, expected) = Self::vrf(key, input);
        (expected == *proof).then_some(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> Vec<(Box<dyn Crypto>, Box<dyn Crypto>)> {
        vec![
            (
                Box::new(Ed25519Crypto::new(
                    SecretKey::from_seed([1; 32]),
                    VrfSecretKey::from_seed([1; 32]),
                )),
                Box::new(Ed25519Crypto::new(
                    SecretKey::from_seed([2; 32]),
                    VrfSecretKey::from_seed([2; 32]),
                )),
            ),
            (Box::new(TestCrypto::new(1)), Box::new(TestCrypto::new(2))),
        ]
    }

    #[test]
    fn signatures_and_vrf_check_out_on_both_schemes() {
        for (a, b) in both() {
            let sig = a.sign(Domain::Vote, b"m");
            assert!(b.verify(&a.public_key(), Domain::Vote, b"m", &sig));
            assert!(!b.verify(&a.public_key(), Domain::Timeout, b"m", &sig));
            assert!(!b.verify(&b.public_key(), Domain::Vote, b"m", &sig));
            assert!(!b.verify(&a.public_key(), Domain::Vote, b"n", &sig));
            let other = b.sign(Domain::Vote, b"m");
            let items = [
                SignedItem {
                    key: &a.public_key(),
                    domain: Domain::Vote,
                    message: b"m",
                    signature: &sig,
                },
                SignedItem {
                    key: &a.public_key(),
                    domain: Domain::Vote,
                    message: b"m",
                    signature: &other,
                },
            ];
            assert_eq!(b.verify_many(&items), Err(vec![1]));
            assert_eq!(b.verify_many(&items[..1]), Ok(()));

            let (out, proof) = a.vrf_prove(b"seed");
            assert_eq!(
                b.vrf_verify(&a.vrf_public_key(), b"seed", &proof),
                Some(out)
            );
            assert_eq!(b.vrf_verify(&a.vrf_public_key(), b"seeD", &proof), None);
            assert_eq!(b.vrf_verify(&b.vrf_public_key(), b"seed", &proof), None);
        }
    }
}
