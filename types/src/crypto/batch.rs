//! The ZIP-215 batch equation, with public keys decompressed once per process instead of once
//! per signature.
//!
//! This is the equation ed25519-zebra's batch verifier checks, with the same decoding (both call
//! curve25519-dalek's `decompress`, which takes any encoding of `A` and `R` that decodes), the same
//! challenge `k = SHA-512(R || A || tag || message)` over the bytes as received, a canonical `s`
//! and the cofactored check `8·([−Σ zᵢsᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢkᵢ]Aᵢ) = 0` with random 128-bit `zᵢ`.
//! What it adds is a cache of decompressed keys: decompressing a point is a field
//! exponentiation, and with two per signature (A and R) decompression was 17 % of all CPU in the
//! signed benchmark, where the same senders sign again and again. Whoever calls it treats `false`
//! as "some signature may be bad" and asks the single check, which stays ed25519-zebra's: the
//! acceptance rule is one.

use super::SignedMessage;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand::RngExt as _;
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Most keys kept decompressed (about 200 bytes each: 6.5 MB). When full it starts over, which
/// costs one decompression per key again and keeps the bound without bookkeeping.
const CACHED_KEYS: usize = 1 << 15;

/// Decompressed keys by their encoding. Decompression is a pure function of the bytes, so sharing
/// the cache between threads and callers changes no outcome.
fn cache() -> &'static Mutex<HashMap<[u8; 32], EdwardsPoint>> {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], EdwardsPoint>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Each item's key decompressed, or `None` if one does not decode. The lock is held only for
/// lookups and inserts, not while decompressing.
fn keys(items: &[SignedMessage<'_>]) -> Option<Vec<EdwardsPoint>> {
    let mut found: Vec<Option<EdwardsPoint>> = {
        let cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
        items
            .iter()
            .map(|item| cache.get(&item.key.0).copied())
            .collect()
    };
    let mut fresh = Vec::new();
    for (slot, item) in found.iter_mut().zip(items) {
        if slot.is_none() {
            let point = CompressedEdwardsY(item.key.0).decompress()?;
            *slot = Some(point);
            fresh.push((item.key.0, point));
        }
    }
    if !fresh.is_empty() {
        let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() + fresh.len() > CACHED_KEYS {
            cache.clear();
        }
        cache.extend(fresh);
    }
    found.into_iter().collect()
}

/// Whether the batch equation holds for every item (up to a 2^-128 chance when one is bad).
pub(super) fn equation_holds(items: &[SignedMessage<'_>]) -> bool {
    let Some(keys) = keys(items) else {
        return false;
    };
    // The coefficients must be unpredictable to whoever crafted the signatures, hence the
    // operating system's generator.
    let mut rng = rand::rng();
    let mut base = Scalar::ZERO;
    let mut coefficients = Vec::with_capacity(2 * items.len() + 1);
    let mut points = Vec::with_capacity(2 * items.len() + 1);
    coefficients.push(Scalar::ZERO);
    points.push(ED25519_BASEPOINT_POINT);
    for (item, key) in items.iter().zip(keys) {
        let (r_bytes, s_bytes) = item.signature.0.split_at(32);
        let (Ok(r_bytes), Ok(s_bytes)) = (<[u8; 32]>::try_from(r_bytes), s_bytes.try_into()) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(item.key.0)
                .chain_update(item.domain.tag())
                .chain_update(item.message),
        );
        let z = Scalar::from(rng.random::<u128>());
        base -= z * s;
        coefficients.push(z * k);
        points.push(key);
        coefficients.push(z);
        points.push(r);
    }
    coefficients[0] = base;
    EdwardsPoint::vartime_multiscalar_mul(&coefficients, &points)
        .mul_by_cofactor()
        .is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Domain, PublicKey, SecretKey, Signature};

    /// The equation itself, not the single-check fallback behind it: good batches pass on their
    /// own (else every batch would pay the single checks), bad ones do not.
    #[test]
    fn the_equation_holds_exactly_for_good_batches() {
        let keys: Vec<SecretKey> = (0..5).map(|i| SecretKey::from_seed([60 + i; 32])).collect();
        let publics: Vec<PublicKey> = keys.iter().map(SecretKey::public).collect();
        let messages: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 3]).collect();
        // Keys repeat, so the second half reads them from the cache.
        let mut signatures: Vec<Signature> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| keys[i % 5].sign(Domain::Batch, m))
            .collect();
        fn items<'a>(
            publics: &'a [PublicKey],
            messages: &'a [Vec<u8>],
            signatures: &'a [Signature],
        ) -> Vec<SignedMessage<'a>> {
            signatures
                .iter()
                .enumerate()
                .map(|(i, signature)| SignedMessage {
                    domain: Domain::Batch,
                    key: &publics[i % publics.len()],
                    message: &messages[i],
                    signature,
                })
                .collect()
        }
        let holds =
            |signatures: &[Signature]| equation_holds(&items(&publics, &messages, signatures));
        assert!(holds(&signatures));
        assert!(holds(&signatures), "again, from the cache");
        signatures[7].0[40] ^= 1;
        assert!(!holds(&signatures));
        signatures[7] = keys[2].sign(Domain::Vote, &messages[7]);
        assert!(!holds(&signatures), "another domain's signature");
    }
}
