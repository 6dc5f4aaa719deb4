//! Consensus messages and certificates: votes, quorum and timeout certificates, proposals, sync
//! info, committees and equivocation evidence.
//!
//! These live in `types` rather than in the consensus crate because the state machine needs two of
//! them: the [`Committee`] it computes for each epoch, and [`Evidence`], which it must verify on its
//! own when an evidence transaction lands. Everything signed here signs the canonical encoding of a
//! small value under its own [`Domain`] tag, and votes and timeouts include the chain id, so a
//! signature can never be replayed on another chain or as another kind of message.
//!
//! This module only checks structure and, for evidence, ed25519 signatures. The protocol's checks
//! (stake, leaders, rounds) live in the consensus crate, which can also run on a fast test signer.

use crate::address::Address;
use crate::block::{Block, BlockHeader};
use crate::crypto::{Domain, PublicKey, Signature};
use crate::encoding::{self, DecodeError};
use crate::hash::Hash;
use crate::vrf::VrfPublicKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Largest encoded consensus message a node decodes (a sync response of a few hundred blocks).
pub const MAX_CONSENSUS_MESSAGE_BYTES: usize = 16 << 20;

/// What a vote is about: a block and the link to its parent, so that a quorum certificate alone
/// tells whether it commits the parent (2-chain: `parent_round + 1 == round`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VoteData {
    pub epoch: u64,
    pub round: u64,
    pub height: u64,
    pub block: Hash,
    pub parent: Hash,
    pub parent_round: u64,
}

impl VoteData {
    /// The bytes a voter signs under [`Domain::Vote`].
    pub fn signing_bytes(&self, chain_id: &str) -> Vec<u8> {
        encoding::encode(&(chain_id, self))
    }

    /// Whether a certificate on this data commits the parent (the 2-chain rule).
    pub fn commits_parent(&self) -> bool {
        self.parent_round.checked_add(1) == Some(self.round)
    }
}

/// One validator's vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub data: VoteData,
    pub author: Address,
    pub signature: Signature,
}

/// More than two thirds of an epoch's stake voted for `data`. `signers` are indices into the
/// committee, strictly ascending; `signatures[i]` is the signature of `signers[i]`.
///
/// Round 0 is the synthetic root certificate of an epoch (the genesis, or the block that ended the
/// previous epoch): it carries no signatures and is valid only as that epoch's root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumCert {
    pub data: VoteData,
    pub signers: Vec<u32>,
    pub signatures: Vec<Signature>,
}

impl QuorumCert {
    /// The unsigned root certificate of an epoch that starts on `block`.
    pub fn root(epoch: u64, block: Hash, height: u64) -> QuorumCert {
        QuorumCert {
            data: VoteData {
                epoch,
                round: 0,
                height,
                block,
                parent: Hash::ZERO,
                parent_round: 0,
            },
            signers: Vec::new(),
            signatures: Vec::new(),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.data.epoch
    }

    pub fn round(&self) -> u64 {
        self.data.round
    }

    pub fn block(&self) -> Hash {
        self.data.block
    }

    pub fn digest(&self) -> Hash {
        encoding::hash_of(self)
    }
}

/// What a timeout is about: the round given up on and the round of the highest certificate the
/// signer holds (its lock, which the next proposal must not go below).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeoutData {
    pub epoch: u64,
    pub round: u64,
    pub hqc_round: u64,
}

impl TimeoutData {
    /// The bytes a validator signs under [`Domain::Timeout`].
    pub fn signing_bytes(&self, chain_id: &str) -> Vec<u8> {
        encoding::encode(&(chain_id, self))
    }
}

/// One validator's timeout, with the certificate that justifies its `hqc_round`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeout {
    pub data: TimeoutData,
    pub author: Address,
    pub signature: Signature,
    pub highest_qc: QuorumCert,
}

/// More than two thirds of the stake timed out in `round`. Each signer signed its own
/// `hqc_rounds[i]`, so nobody can lower the highest of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutCert {
    pub epoch: u64,
    pub round: u64,
    pub signers: Vec<u32>,
    pub hqc_rounds: Vec<u64>,
    pub signatures: Vec<Signature>,
}

impl TimeoutCert {
    /// The highest lock among the signers: a proposal justified by this certificate must extend a
    /// certificate at least this high.
    pub fn max_hqc_round(&self) -> u64 {
        self.hqc_rounds.iter().copied().max().unwrap_or(0)
    }

    pub fn digest(&self) -> Hash {
        encoding::hash_of(self)
    }
}

/// The block being ordered, with what the protocol needs around it: the certificate of its parent
/// and the proposer's signature over the header hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedBlock {
    pub block: Block,
    pub justify: QuorumCert,
    pub signature: Signature,
}

impl ProposedBlock {
    pub fn hash(&self) -> Hash {
        self.block.hash()
    }

    pub fn header(&self) -> &BlockHeader {
        &self.block.header
    }

    pub fn round(&self) -> u64 {
        self.block.header.round
    }

    pub fn epoch(&self) -> u64 {
        self.block.header.epoch
    }

    pub fn height(&self) -> u64 {
        self.block.header.height
    }
}

/// The bytes a proposer signs under [`Domain::Proposal`]: the header hash (which covers the chain
/// id, epoch, round, parent and the batches root).
pub fn proposal_signing_bytes(block_hash: &Hash) -> Vec<u8> {
    encoding::encode(block_hash)
}

/// A leader's proposal. After a failed round the timeout certificate of the previous round
/// justifies a proposal whose parent is not the previous round's block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub block: ProposedBlock,
    pub tc: Option<TimeoutCert>,
}

/// What every message carries so that a node behind catches up from any peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInfo {
    pub highest_qc: QuorumCert,
    pub highest_tc: Option<TimeoutCert>,
    /// The certificate that committed the sender's latest committed block (its parent).
    pub highest_commit: QuorumCert,
}

/// "Send me what you have past my committed block."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub epoch: u64,
    pub committed_height: u64,
}

/// Blocks in ascending height order, each a child of an earlier one or of the requester's
/// committed block, and certificates on some of them. The receiver verifies everything and lets
/// the ordinary commit rule do the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub blocks: Vec<ProposedBlock>,
    pub certs: Vec<QuorumCert>,
}

/// The blocks after a committed block up to a certified one, and that certificate: with the
/// 2-chain rule they prove the commit. Also what ends an epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitProof {
    pub blocks: Vec<ProposedBlock>,
    pub qc: QuorumCert,
}

// A message is built once and moved a few times; boxing the proposal would only add an
// allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    Proposal(Proposal),
    Vote(Vote),
    Timeout(Timeout),
    SyncRequest(SyncRequest),
    SyncResponse(SyncResponse),
    /// Only the sync info: a node announcing where it is.
    Status,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusMessage {
    pub sync: SyncInfo,
    pub body: MessageBody,
}

impl ConsensusMessage {
    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Bounded, canonical decode of a message from a peer.
    pub fn decode(bytes: &[u8]) -> Result<ConsensusMessage, DecodeError> {
        encoding::decode_with_limit(bytes, MAX_CONSENSUS_MESSAGE_BYTES)
    }

    /// The epoch the body speaks about, when it has one.
    pub fn body_epoch(&self) -> u64 {
        match &self.body {
            MessageBody::Proposal(p) => p.block.epoch(),
            MessageBody::Vote(v) => v.data.epoch,
            MessageBody::Timeout(t) => t.data.epoch,
            MessageBody::SyncRequest(r) => r.epoch,
            MessageBody::SyncResponse(_) | MessageBody::Status => self.sync.highest_qc.epoch(),
        }
    }
}

/// A validator of one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// The validator's account (it owns the stake); blocks name their proposer by it.
    pub address: Address,
    pub consensus_key: PublicKey,
    pub vrf_key: VrfPublicKey,
    pub stake: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum CommitteeError {
    #[error("a committee needs at least one validator")]
    Empty,
    #[error("validator {0} has no stake")]
    ZeroStake(Address),
    #[error("validator {0} is listed twice")]
    DuplicateAddress(Address),
    #[error("consensus key {0} is used by two validators")]
    DuplicateKey(PublicKey),
    #[error("a committee of {0} validators is more than a certificate can index")]
    TooLarge(usize),
}

/// The validators of one epoch, sorted by address (a signer's index is its position), and when
/// the epoch ends: its last block is the first of its blocks stamped at or after `end_ms` of
/// chain time (docs/consensus.md, "Epochs"), after which the next committee takes over. Chain
/// timestamps rise strictly from parent to child, so every block after that one, in any branch,
/// is stamped after `end_ms` too: `ends_at(parent.timestamp_ms)` tells a block past the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CommitteeParts", into = "CommitteeParts")]
pub struct Committee {
    epoch: u64,
    chain_id: String,
    end_ms: u64,
    validators: Vec<ValidatorInfo>,
    total_stake: u128,
}

#[derive(Clone, Serialize, Deserialize)]
struct CommitteeParts {
    epoch: u64,
    chain_id: String,
    end_ms: u64,
    validators: Vec<ValidatorInfo>,
}

impl TryFrom<CommitteeParts> for Committee {
    type Error = CommitteeError;
    fn try_from(parts: CommitteeParts) -> Result<Committee, CommitteeError> {
        Committee::new(parts.epoch, parts.chain_id, parts.validators, parts.end_ms)
    }
}

impl From<Committee> for CommitteeParts {
    fn from(c: Committee) -> CommitteeParts {
        CommitteeParts {
            epoch: c.epoch,
            chain_id: c.chain_id,
            end_ms: c.end_ms,
            validators: c.validators,
        }
    }
}

impl Committee {
    /// Sorts the validators by address and refuses duplicates and zero stakes. `end_ms` is the
    /// chain time at or after which the epoch's last block is stamped (`u64::MAX` for an epoch
    /// that never ends).
    pub fn new(
        epoch: u64,
        chain_id: impl Into<String>,
        mut validators: Vec<ValidatorInfo>,
        end_ms: u64,
    ) -> Result<Committee, CommitteeError> {
        if validators.is_empty() {
            return Err(CommitteeError::Empty);
        }
        if u32::try_from(validators.len()).is_err() {
            return Err(CommitteeError::TooLarge(validators.len()));
        }
        validators.sort_by_key(|v| v.address);
        let mut keys = BTreeSet::new();
        let mut total: u128 = 0;
        for (i, v) in validators.iter().enumerate() {
            if v.stake == 0 {
                return Err(CommitteeError::ZeroStake(v.address));
            }
            if i > 0 && validators[i - 1].address == v.address {
                return Err(CommitteeError::DuplicateAddress(v.address));
            }
            if !keys.insert(v.consensus_key) {
                return Err(CommitteeError::DuplicateKey(v.consensus_key));
            }
            total += u128::from(v.stake);
        }
        Ok(Committee {
            epoch,
            chain_id: chain_id.into(),
            end_ms,
            validators,
            total_stake: total,
        })
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The chain time the epoch ends at (see the type's documentation).
    pub fn end_ms(&self) -> u64 {
        self.end_ms
    }

    /// Whether a block stamped `timestamp_ms` is the epoch's last block or comes after it (given
    /// that its parent did not already end the epoch, for the former).
    pub fn ends_at(&self, timestamp_ms: u64) -> bool {
        timestamp_ms >= self.end_ms
    }

    pub fn validators(&self) -> &[ValidatorInfo] {
        &self.validators
    }

    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    pub fn total_stake(&self) -> u128 {
        self.total_stake
    }

    pub fn get(&self, index: u32) -> Option<&ValidatorInfo> {
        self.validators.get(index as usize)
    }

    pub fn index_of(&self, address: &Address) -> Option<u32> {
        self.validators
            .binary_search_by(|v| v.address.cmp(address))
            .ok()
            .map(|i| i as u32)
    }

    pub fn index_of_key(&self, key: &PublicKey) -> Option<u32> {
        self.validators
            .iter()
            .position(|v| v.consensus_key == *key)
            .map(|i| i as u32)
    }

    pub fn keys(&self) -> Vec<PublicKey> {
        self.validators.iter().map(|v| v.consensus_key).collect()
    }

    /// More than two thirds of the stake.
    pub fn is_quorum(&self, stake: u128) -> bool {
        stake.saturating_mul(3) > self.total_stake.saturating_mul(2)
    }

    /// More than one third of the stake: at least one honest validator among them.
    pub fn is_more_than_third(&self, stake: u128) -> bool {
        stake.saturating_mul(3) > self.total_stake
    }

    /// The stake of a set of signer indices (unknown indices count nothing).
    pub fn stake_of(&self, signers: &[u32]) -> u128 {
        signers
            .iter()
            .filter_map(|i| self.get(*i))
            .map(|v| u128::from(v.stake))
            .sum()
    }
}

/// A signed proposal header, as evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHeader {
    pub header: BlockHeader,
    pub signature: Signature,
}

/// A signed vote, as evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVote {
    pub data: VoteData,
    pub signature: Signature,
}

/// Proof that one validator signed two conflicting messages for one round of one epoch. Honest
/// validators never do (their safety data forbids it, even across a crash), so the state machine
/// slashes on it.
// Rare and short-lived: boxing would not save anything worth the indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evidence {
    /// Two different blocks proposed for one round.
    Proposals {
        signer: PublicKey,
        first: SignedHeader,
        second: SignedHeader,
    },
    /// Two different votes cast in one round.
    Votes {
        signer: PublicKey,
        first: SignedVote,
        second: SignedVote,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum EvidenceError {
    #[error("the signer is not in the committee of the evidence's epoch")]
    NotInCommittee,
    #[error("the two messages are for different epochs or rounds")]
    DifferentRounds,
    #[error("the two messages are identical: no equivocation")]
    SameContent,
    #[error("the two proposals name different proposers")]
    DifferentProposers,
    #[error("a header is for another chain")]
    WrongChain,
    #[error("the {0} signature does not verify")]
    BadSignature(&'static str),
}

impl Evidence {
    pub fn signer(&self) -> &PublicKey {
        match self {
            Evidence::Proposals { signer, .. } | Evidence::Votes { signer, .. } => signer,
        }
    }

    pub fn epoch(&self) -> u64 {
        match self {
            Evidence::Proposals { first, .. } => first.header.epoch,
            Evidence::Votes { first, .. } => first.data.epoch,
        }
    }

    pub fn round(&self) -> u64 {
        match self {
            Evidence::Proposals { first, .. } => first.header.round,
            Evidence::Votes { first, .. } => first.data.round,
        }
    }

    /// The full check with ed25519 (ZIP-215): the signer is one of `committee_keys` (the
    /// committee of [`Evidence::epoch`]), both messages are for the same epoch and round, they
    /// differ, and both signatures are the signer's.
    pub fn verify(
        &self,
        chain_id: &str,
        committee_keys: &[PublicKey],
    ) -> Result<(), EvidenceError> {
        self.verify_with(
            chain_id,
            committee_keys,
            |key, domain, message, signature| key.verify(domain, message, signature).is_ok(),
        )
    }

    /// As [`Evidence::verify`], with the signature check supplied (simulations run a fast test
    /// signer).
    pub fn verify_with(
        &self,
        chain_id: &str,
        committee_keys: &[PublicKey],
        verify: impl Fn(&PublicKey, Domain, &[u8], &Signature) -> bool,
    ) -> Result<(), EvidenceError> {
        if !committee_keys.contains(self.signer()) {
            return Err(EvidenceError::NotInCommittee);
        }
        match self {
            Evidence::Proposals {
                signer,
                first,
                second,
            } => {
                let (a, b) = (&first.header, &second.header);
                if a.epoch != b.epoch || a.round != b.round {
                    return Err(EvidenceError::DifferentRounds);
                }
                if a.chain_id != chain_id || b.chain_id != chain_id {
                    return Err(EvidenceError::WrongChain);
                }
                if a.proposer != b.proposer {
                    return Err(EvidenceError::DifferentProposers);
                }
                let (ha, hb) = (a.hash(), b.hash());
                if ha == hb {
                    return Err(EvidenceError::SameContent);
                }
                if !verify(
                    signer,
                    Domain::Proposal,
                    &proposal_signing_bytes(&ha),
                    &first.signature,
                ) {
                    return Err(EvidenceError::BadSignature("first"));
                }
                if !verify(
                    signer,
                    Domain::Proposal,
                    &proposal_signing_bytes(&hb),
                    &second.signature,
                ) {
                    return Err(EvidenceError::BadSignature("second"));
                }
                Ok(())
            }
            Evidence::Votes {
                signer,
                first,
                second,
            } => {
                let (a, b) = (&first.data, &second.data);
                if a.epoch != b.epoch || a.round != b.round {
                    return Err(EvidenceError::DifferentRounds);
                }
                if a == b {
                    return Err(EvidenceError::SameContent);
                }
                if !verify(
                    signer,
                    Domain::Vote,
                    &a.signing_bytes(chain_id),
                    &first.signature,
                ) {
                    return Err(EvidenceError::BadSignature("first"));
                }
                if !verify(
                    signer,
                    Domain::Vote,
                    &b.signing_bytes(chain_id),
                    &second.signature,
                ) {
                    return Err(EvidenceError::BadSignature("second"));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::batches_root;
    use crate::crypto::SecretKey;
    use crate::vrf::VrfProof;

    fn header(round: u64, timestamp_ms: u64, proposer: Address) -> BlockHeader {
        BlockHeader {
            chain_id: "test".into(),
            height: 3,
            round,
            epoch: 1,
            parent: Hash([1; 32]),
            justify_signers: Vec::new(),
            failed_leaders: Vec::new(),
            leader_exclusions: Vec::new(),
            proposer,
            batches_root: batches_root(&[]),
            executed_height: 0,
            executed_state_root: Hash::ZERO,
            vrf: VrfProof::default(),
            timestamp_ms,
        }
    }

    fn signed_header(key: &SecretKey, h: BlockHeader) -> SignedHeader {
        let signature = key.sign(Domain::Proposal, &proposal_signing_bytes(&h.hash()));
        SignedHeader {
            header: h,
            signature,
        }
    }

    fn vote(key: &SecretKey, block: u8, round: u64) -> SignedVote {
        let data = VoteData {
            epoch: 1,
            round,
            height: 3,
            block: Hash([block; 32]),
            parent: Hash::ZERO,
            parent_round: round - 1,
        };
        let signature = key.sign(Domain::Vote, &data.signing_bytes("test"));
        SignedVote { data, signature }
    }

    #[test]
    fn proposal_evidence_verifies_and_refuses_forgeries() {
        let key = SecretKey::from_seed([1; 32]);
        let other = SecretKey::from_seed([2; 32]);
        let me = key.public().address();
        let keys = vec![key.public(), other.public()];
        let evidence = Evidence::Proposals {
            signer: key.public(),
            first: signed_header(&key, header(5, 1, me)),
            second: signed_header(&key, header(5, 2, me)),
        };
        assert_eq!(evidence.verify("test", &keys), Ok(()));
        assert_eq!(
            evidence.verify("other", &keys),
            Err(EvidenceError::WrongChain)
        );
        assert_eq!(
            evidence.verify("test", &keys[1..]),
            Err(EvidenceError::NotInCommittee)
        );

        let same = Evidence::Proposals {
            signer: key.public(),
            first: signed_header(&key, header(5, 1, me)),
            second: signed_header(&key, header(5, 1, me)),
        };
        assert_eq!(same.verify("test", &keys), Err(EvidenceError::SameContent));

        let rounds = Evidence::Proposals {
            signer: key.public(),
            first: signed_header(&key, header(5, 1, me)),
            second: signed_header(&key, header(6, 1, me)),
        };
        assert_eq!(
            rounds.verify("test", &keys),
            Err(EvidenceError::DifferentRounds)
        );

        // Someone else's signature on the second header does not frame `key`.
        let framed = Evidence::Proposals {
            signer: key.public(),
            first: signed_header(&key, header(5, 1, me)),
            second: signed_header(&other, header(5, 2, me)),
        };
        assert_eq!(
            framed.verify("test", &keys),
            Err(EvidenceError::BadSignature("second"))
        );
    }

    #[test]
    fn vote_evidence_verifies_and_refuses_forgeries() {
        let key = SecretKey::from_seed([3; 32]);
        let other = SecretKey::from_seed([4; 32]);
        let keys = vec![key.public(), other.public()];
        let evidence = Evidence::Votes {
            signer: key.public(),
            first: vote(&key, 1, 7),
            second: vote(&key, 2, 7),
        };
        assert_eq!(evidence.verify("test", &keys), Ok(()));
        assert_eq!(evidence.epoch(), 1);
        assert_eq!(evidence.round(), 7);
        // Votes sign the chain id: another chain's votes are not evidence here.
        assert_eq!(
            evidence.verify("other", &keys),
            Err(EvidenceError::BadSignature("first"))
        );
        let framed = Evidence::Votes {
            signer: key.public(),
            first: vote(&key, 1, 7),
            second: vote(&other, 2, 7),
        };
        assert!(framed.verify("test", &keys).is_err());
        let rounds = Evidence::Votes {
            signer: key.public(),
            first: vote(&key, 1, 7),
            second: vote(&key, 2, 8),
        };
        assert_eq!(
            rounds.verify("test", &keys),
            Err(EvidenceError::DifferentRounds)
        );
        // Evidence survives the wire and JSON.
        let back: Evidence = encoding::decode(&encoding::encode(&evidence)).unwrap();
        assert_eq!(back, evidence);
        let json = serde_json::to_string(&evidence).unwrap();
        assert_eq!(serde_json::from_str::<Evidence>(&json).unwrap(), evidence);
    }

    #[test]
    fn committee_sorts_and_refuses_duplicates() {
        let v = |n: u8, stake: u64| ValidatorInfo {
            address: Address([n; 20]),
            consensus_key: SecretKey::from_seed([n; 32]).public(),
            vrf_key: VrfPublicKey([n; 32]),
            stake,
        };
        let c = Committee::new(0, "test", vec![v(3, 10), v(1, 20), v(2, 30)], 100).unwrap();
        assert_eq!(c.validators()[0].address, Address([1; 20]));
        assert_eq!(c.index_of(&Address([3; 20])), Some(2));
        assert_eq!(c.total_stake(), 60);
        assert!(c.is_quorum(41));
        assert!(!c.is_quorum(40));
        assert!(c.is_more_than_third(21));
        assert!(!c.is_more_than_third(20));
        assert_eq!(
            Committee::new(0, "t", vec![v(1, 1), v(1, 2)], 1),
            Err(CommitteeError::DuplicateAddress(Address([1; 20])))
        );
        assert_eq!(
            Committee::new(0, "t", vec![v(1, 0)], 1),
            Err(CommitteeError::ZeroStake(Address([1; 20])))
        );
        assert_eq!(
            Committee::new(0, "t", vec![], 1),
            Err(CommitteeError::Empty)
        );
        // JSON goes through the same checks.
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Committee>(&json).unwrap(), c);
        let bad = json.replace("\"stake\":10", "\"stake\":0");
        assert!(serde_json::from_str::<Committee>(&bad).is_err());
    }

    #[test]
    fn commits_parent_needs_consecutive_rounds() {
        let mut data = VoteData {
            epoch: 0,
            round: 5,
            height: 2,
            block: Hash::ZERO,
            parent: Hash::ZERO,
            parent_round: 4,
        };
        assert!(data.commits_parent());
        data.parent_round = 3;
        assert!(!data.commits_parent());
        data.parent_round = u64::MAX;
        assert!(!data.commits_parent());
    }

    #[test]
    fn garbage_messages_are_refused_without_panic() {
        for bytes in [&b""[..], &[0xff; 64][..], &[5, 0, 0, 0][..]] {
            assert!(ConsensusMessage::decode(bytes).is_err());
        }
        let mut huge = vec![0u8; MAX_CONSENSUS_MESSAGE_BYTES + 1];
        huge[0] = 1;
        assert!(matches!(
            ConsensusMessage::decode(&huge),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
