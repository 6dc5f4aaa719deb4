//! The verifiable random function of the randomness beacon (docs/economy.md, "Randomness"):
//! schnorrkel's VRF on Ristretto25519 (the w3f crate Polkadot runs). A proposer proves
//! `vrf(previous seed)`; anyone checks the proof with the proposer's VRF public key and derives the
//! same 32 output bytes, so no one can choose a draw's outcome, and the proposer cannot grind it:
//! for one key and one input there is exactly one output.

use crate::bytes::fixed_bytes;
use crate::hash::Hash;

const VRF_CONTEXT: &[u8] = b"runnet/v1/vrf";
const VRF_OUTPUT_CONTEXT: &[u8] = b"runnet/v1/vrf-output";

fixed_bytes!(
    /// A VRF public key (a Ristretto point, 32 bytes).
    VrfPublicKey,
    32,
    ""
);

fixed_bytes!(
    /// The VRF pre-output: what the proof is about; the random bytes are derived from it.
    VrfPreOutput,
    32,
    ""
);

fixed_bytes!(
    /// The VRF proof (a DLEQ proof, 64 bytes).
    VrfProofBytes,
    64,
    ""
);

/// What a block header carries for the beacon: the pre-output and its proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct VrfProof {
    pub pre_output: VrfPreOutput,
    pub proof: VrfProofBytes,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VrfError {
    #[error("malformed VRF public key")]
    BadKey,
    #[error("malformed VRF pre-output or proof")]
    Malformed,
    #[error("VRF proof does not verify")]
    Invalid,
}

/// A VRF secret key. Its `Debug` never prints the secret.
#[derive(Clone)]
pub struct VrfSecretKey(schnorrkel::Keypair);

impl VrfSecretKey {
    pub fn generate() -> Result<VrfSecretKey, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(VrfSecretKey::from_seed(seed))
    }

    /// A key from a 32-byte seed (a schnorrkel mini secret key, Ed25519-style expansion).
    pub fn from_seed(seed: [u8; 32]) -> VrfSecretKey {
        // Any 32 bytes are a valid mini secret key.
        let mini = match schnorrkel::MiniSecretKey::from_bytes(&seed) {
            Ok(mini) => mini,
            Err(_) => unreachable_mini_secret(),
        };
        VrfSecretKey(mini.expand_to_keypair(schnorrkel::ExpansionMode::Ed25519))
    }

    pub fn public(&self) -> VrfPublicKey {
        VrfPublicKey(self.0.public.to_bytes())
    }

    /// Proves the VRF on `input`; returns the random output and the proof a header carries.
    pub fn prove(&self, input: &[u8]) -> (Hash, VrfProof) {
        let transcript = schnorrkel::signing_context(VRF_CONTEXT).bytes(input);
        let (in_out, proof, _) = self.0.vrf_sign(transcript);
        let output = Hash(in_out.make_bytes::<[u8; 32]>(VRF_OUTPUT_CONTEXT));
        (
            output,
            VrfProof {
                pre_output: VrfPreOutput(in_out.to_preout().to_bytes()),
                proof: VrfProofBytes(proof.to_bytes()),
            },
        )
    }
}

#[cold]
fn unreachable_mini_secret() -> ! {
    // MiniSecretKey::from_bytes only fails on a length other than 32, which the type excludes.
    unreachable!("a [u8; 32] is always a valid mini secret key")
}

impl std::fmt::Debug for VrfSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VrfSecretKey(public {})", self.public())
    }
}

impl VrfPublicKey {
    /// Checks a proof on `input` and returns the VRF's random output.
    pub fn verify(&self, input: &[u8], proof: &VrfProof) -> Result<Hash, VrfError> {
        let key = schnorrkel::PublicKey::from_bytes(&self.0).map_err(|_| VrfError::BadKey)?;
        let pre_output = schnorrkel::vrf::VRFPreOut::from_bytes(&proof.pre_output.0)
            .map_err(|_| VrfError::Malformed)?;
        let dleq = schnorrkel::vrf::VRFProof::from_bytes(&proof.proof.0)
            .map_err(|_| VrfError::Malformed)?;
        let transcript = schnorrkel::signing_context(VRF_CONTEXT).bytes(input);
        let (in_out, _) = key
            .vrf_verify(transcript, &pre_output, &dleq)
            .map_err(|_| VrfError::Invalid)?;
        Ok(Hash(in_out.make_bytes::<[u8; 32]>(VRF_OUTPUT_CONTEXT)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prove_and_verify() {
        let key = VrfSecretKey::from_seed([5; 32]);
        let (output, proof) = key.prove(b"seed 1");
        assert_eq!(key.public().verify(b"seed 1", &proof), Ok(output));
        assert_eq!(
            key.public().verify(b"seed 2", &proof),
            Err(VrfError::Invalid)
        );
        let other = VrfSecretKey::from_seed([6; 32]).public();
        assert!(other.verify(b"seed 1", &proof).is_err());
    }

    #[test]
    fn output_is_unique_for_key_and_input() {
        // The proof is randomized, the output is not: a proposer cannot grind the beacon.
        let key = VrfSecretKey::from_seed([5; 32]);
        let (a, proof_a) = key.prove(b"same input");
        let (b, proof_b) = key.prove(b"same input");
        assert_eq!(a, b);
        assert_eq!(proof_a.pre_output, proof_b.pre_output);
        assert_ne!(a, key.prove(b"other input").0);
    }

    #[test]
    fn tampered_proofs_fail() {
        let key = VrfSecretKey::from_seed([5; 32]);
        let (_, proof) = key.prove(b"x");
        let mut bad = proof;
        bad.proof.0[3] ^= 1;
        assert!(key.public().verify(b"x", &bad).is_err());
        let mut bad = proof;
        bad.pre_output.0[0] ^= 1;
        assert!(key.public().verify(b"x", &bad).is_err());
        assert!(VrfPublicKey([0xff; 32]).verify(b"x", &proof).is_err());
    }
}
