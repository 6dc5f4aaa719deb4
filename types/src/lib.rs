//! The shared vocabulary of runnet: every crate speaks in these types.
//!
//! Hashes are blake3; keys and signatures are ed25519 with a domain tag per message kind and one
//! acceptance rule (ZIP-215) on every path; addresses are the first 20 bytes of a key's hash.
//! Everything that is hashed, signed or sent has exactly one canonical binary encoding
//! ([`encoding`]), and decoding anything from outside is bounded. Nothing here reads a clock, a
//! random source (except key generation and batch-verification coefficients) or a hash map's
//! order, so these types are safe to use in the deterministic state transition and consensus.

pub(crate) mod bytes;

pub mod address;
pub mod batch;
pub mod block;
pub mod consensus;
pub mod crypto;
pub mod encoding;
pub mod execution;
pub mod genesis;
pub mod hash;
pub mod keyfile;
pub mod process;
pub mod record;
pub mod service;
pub mod tx;
pub mod vrf;

pub use address::Address;
pub use batch::Batch;
pub use block::{Block, BlockHeader};
pub use crypto::{Domain, PublicKey, SecretKey, Signature};
pub use genesis::{Genesis, Params};
pub use hash::Hash;
pub use tx::{Amount, Payload, PayloadKind, SignedTx, TxBody};
pub use vrf::{VrfProof, VrfPublicKey, VrfSecretKey};
