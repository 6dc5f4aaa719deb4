//! The safety rules of 2-chain HotStuff and the data that makes them survive a crash.
//!
//! Three rules, each checked against [`SafetyData`] and recorded in it before anything signed
//! leaves the node (the core emits `PersistSafety` ahead of the send, and the driver syncs it):
//!
//! - **Vote**: only in a round above the last one voted or timed out in, and only for a block that
//!   extends the previous round's certificate (`round == qc_round + 1`) or, after a timeout
//!   certificate of the previous round, a certificate at least as high as every lock in that
//!   certificate (`round == tc_round + 1 && qc_round >= tc.max_hqc_round`).
//! - **Timeout**: only for a round not below the last voted one, carrying our highest certificate,
//!   which must not be below the highest certified round we have seen (our lock).
//! - **Proposal**: one block per round.
//!
//! Asked again for a round already signed, the rules hand back the very same message, so a
//! restarted validator re-sends rather than re-signs.

use crate::crypto::Crypto;
use runnet_types::consensus::{
    Proposal, ProposedBlock, QuorumCert, Timeout, TimeoutCert, TimeoutData, Vote, VoteData,
};
use runnet_types::{Address, Domain, Hash};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What a validator must remember across restarts so it never signs two different messages for
/// one round. Stored as `validator_state.json` in the node's home, outside `data/`, so wiping the
/// block store can never make a validator double-sign.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyData {
    pub epoch: u64,
    /// The highest round voted or timed out in.
    pub last_voted_round: u64,
    /// The highest certified round seen (the lock, also called the preferred round).
    pub one_chain_round: u64,
    pub highest_timeout_round: u64,
    pub last_vote: Option<Vote>,
    pub last_timeout: Option<Timeout>,
    pub last_proposal: Option<Proposal>,
    /// The highest certificates held when this was written. Not needed for safety, but for
    /// liveness: a validator restarts in the round it had reached, so the rounds it can no
    /// longer vote or time out in are never left without anyone holding their certificates.
    #[serde(default)]
    pub highest_qc: Option<QuorumCert>,
    #[serde(default)]
    pub highest_tc: Option<TimeoutCert>,
    /// The uncommitted blocks up to the highest certified one and up to the last voted one
    /// (usually one to three). Also for liveness: a certified block must outlive the crash of
    /// every validator that holds it, or no one could extend it and the certificates that lock
    /// on it would stall the chain.
    #[serde(default)]
    pub blocks: Vec<ProposedBlock>,
}

#[derive(Debug, thiserror::Error)]
pub enum SafetyFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not valid safety data ({source}); refusing to start rather than risk signing twice"
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SafetyData {
    /// Reads the file; `Ok(None)` when it does not exist yet (a new validator). A file that exists
    /// but does not parse is an error: starting from scratch could sign twice.
    pub fn load(path: &Path) -> Result<Option<SafetyData>, SafetyFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SafetyFileError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| SafetyFileError::Parse {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Writes the file durably (see [`write_atomic`]).
    pub fn store(&self, path: &Path) -> Result<(), SafetyFileError> {
        // Serializing plain data with string keys cannot fail.
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        write_atomic(path, &text).map_err(|source| SafetyFileError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Replaces `path` with `bytes` so that a crash at any instant leaves either the old or the new
/// content, never a torn file: write a temporary file in the same directory, fsync it, rename it
/// over the target, then fsync the directory so the rename itself is durable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(&dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Other platforms cannot open a directory for syncing; the rename is as durable as they allow.
    Ok(())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum SafetyError {
    #[error("message of epoch {got} but the safety data is at epoch {current}")]
    WrongEpoch { current: u64, got: u64 },
    #[error("already voted for another block in round {round}")]
    AlreadyVoted { round: u64 },
    #[error("round {round} is not above the last voted round {last}")]
    RoundNotNewer { round: u64, last: u64 },
    #[error(
        "not safe to vote in round {round}: certificate of round {qc_round}, timeout certificate {tc_round:?} with highest lock {tc_hqc:?}"
    )]
    NotSafeToVote {
        round: u64,
        qc_round: u64,
        tc_round: Option<u64>,
        tc_hqc: Option<u64>,
    },
    #[error(
        "not safe to time out round {round} with certificate of round {qc_round} (lock {lock})"
    )]
    NotSafeToTimeout {
        round: u64,
        qc_round: u64,
        lock: u64,
    },
    #[error("already proposed in round {last}, which is not below {round}")]
    AlreadyProposed { round: u64, last: u64 },
}

/// A signed message: `New` must be persisted before it is sent, `Repeat` was signed before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed<T> {
    New(T),
    Repeat(T),
}

/// A deliberately broken rule, for the test that proves the simulator can find violations. Only
/// exists in test builds.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Flaw {
    #[default]
    None,
    /// Vote for any block of a newer round, whatever certificate it extends.
    IgnoreLock,
}

pub struct SafetyRules {
    data: SafetyData,
    #[cfg(test)]
    pub(crate) flaw: Flaw,
}

impl SafetyRules {
    pub fn new(data: SafetyData) -> SafetyRules {
        SafetyRules {
            data,
            #[cfg(test)]
            flaw: Flaw::None,
        }
    }

    pub fn data(&self) -> &SafetyData {
        &self.data
    }

    /// Moves to a later epoch, where rounds start again; returns whether anything changed (and so
    /// must be persisted). Never moves back.
    pub fn enter_epoch(&mut self, epoch: u64) -> bool {
        if epoch <= self.data.epoch {
            return false;
        }
        self.data = SafetyData {
            epoch,
            ..SafetyData::default()
        };
        true
    }

    /// Raises the lock. Kept in memory until the next signature persists it: the lock only
    /// constrains our own timeouts, and the certificate a vote depends on is observed by the vote
    /// itself before it is persisted.
    pub fn observe_qc(&mut self, qc: &QuorumCert) {
        if qc.data.epoch == self.data.epoch {
            self.data.one_chain_round = self.data.one_chain_round.max(qc.data.round);
        }
    }

    fn check_epoch(&self, epoch: u64) -> Result<(), SafetyError> {
        if epoch != self.data.epoch {
            return Err(SafetyError::WrongEpoch {
                current: self.data.epoch,
                got: epoch,
            });
        }
        Ok(())
    }

    /// The vote rule. `block` was validated by the core (its justify certifies its parent).
    pub fn vote(
        &mut self,
        block: &ProposedBlock,
        hash: Hash,
        tc: Option<&TimeoutCert>,
        author: Address,
        chain_id: &str,
        crypto: &dyn Crypto,
    ) -> Result<Signed<Vote>, SafetyError> {
        let header = block.header();
        let (epoch, round) = (header.epoch, header.round);
        self.check_epoch(epoch)?;
        self.observe_qc(&block.justify);
        if let Some(last) = &self.data.last_vote
            && last.data.epoch == epoch
            && last.data.round == round
        {
            return if last.data.block == hash {
                Ok(Signed::Repeat(last.clone()))
            } else {
                Err(SafetyError::AlreadyVoted { round })
            };
        }
        if round <= self.data.last_voted_round {
            return Err(SafetyError::RoundNotNewer {
                round,
                last: self.data.last_voted_round,
            });
        }
        let qc_round = block.justify.data.round;
        let tc = tc.filter(|tc| tc.epoch == epoch);
        let consecutive = qc_round.checked_add(1) == Some(round);
        let after_timeout = tc.is_some_and(|tc| {
            tc.round.checked_add(1) == Some(round) && qc_round >= tc.max_hqc_round()
        });
        #[cfg(test)]
        let after_timeout = after_timeout || self.flaw == Flaw::IgnoreLock;
        if !consecutive && !after_timeout {
            return Err(SafetyError::NotSafeToVote {
                round,
                qc_round,
                tc_round: tc.map(|t| t.round),
                tc_hqc: tc.map(|t| t.max_hqc_round()),
            });
        }
        let data = VoteData {
            epoch,
            round,
            height: header.height,
            block: hash,
            parent: header.parent,
            parent_round: qc_round,
        };
        let vote = Vote {
            signature: crypto.sign(Domain::Vote, &data.signing_bytes(chain_id)),
            data,
            author,
        };
        self.data.last_voted_round = round;
        self.data.last_vote = Some(vote.clone());
        Ok(Signed::New(vote))
    }

    /// The timeout rule for `round`, carrying `highest_qc`.
    #[allow(clippy::too_many_arguments)]
    pub fn timeout(
        &mut self,
        epoch: u64,
        round: u64,
        highest_qc: &QuorumCert,
        highest_tc: Option<&TimeoutCert>,
        author: Address,
        chain_id: &str,
        crypto: &dyn Crypto,
    ) -> Result<Signed<Timeout>, SafetyError> {
        self.check_epoch(epoch)?;
        self.observe_qc(highest_qc);
        if let Some(last) = &self.data.last_timeout
            && last.data.epoch == epoch
            && last.data.round == round
        {
            return Ok(Signed::Repeat(last.clone()));
        }
        if round < self.data.last_voted_round {
            return Err(SafetyError::RoundNotNewer {
                round,
                last: self.data.last_voted_round,
            });
        }
        let qc_round = highest_qc.data.round;
        let tc_round = highest_tc
            .filter(|tc| tc.epoch == epoch)
            .map_or(0, |tc| tc.round);
        let follows =
            qc_round.checked_add(1) == Some(round) || tc_round.checked_add(1) == Some(round);
        if !follows || qc_round < self.data.one_chain_round {
            return Err(SafetyError::NotSafeToTimeout {
                round,
                qc_round,
                lock: self.data.one_chain_round,
            });
        }
        let data = TimeoutData {
            epoch,
            round,
            hqc_round: qc_round,
        };
        let timeout = Timeout {
            signature: crypto.sign(Domain::Timeout, &data.signing_bytes(chain_id)),
            data,
            author,
            highest_qc: highest_qc.clone(),
        };
        self.data.last_voted_round = self.data.last_voted_round.max(round);
        self.data.highest_timeout_round = self.data.highest_timeout_round.max(round);
        self.data.last_timeout = Some(timeout.clone());
        Ok(Signed::New(timeout))
    }

    /// Whether we may propose in `round`: `Ok(Some(p))` when we already did (re-send `p`),
    /// `Ok(None)` when the round is free.
    pub fn proposal_for(&self, epoch: u64, round: u64) -> Result<Option<Proposal>, SafetyError> {
        self.check_epoch(epoch)?;
        match &self.data.last_proposal {
            Some(p) if p.block.epoch() == epoch && p.block.round() == round => Ok(Some(p.clone())),
            Some(p) if p.block.epoch() == epoch && p.block.round() > round => {
                Err(SafetyError::AlreadyProposed {
                    round,
                    last: p.block.round(),
                })
            }
            _ => Ok(None),
        }
    }

    /// Records a proposal about to be sent (persist before broadcasting).
    pub fn record_proposal(&mut self, proposal: &Proposal) {
        self.data.last_proposal = Some(proposal.clone());
    }

    /// Notes the uncommitted blocks worth keeping, written with the next persist.
    pub fn note_blocks(&mut self, blocks: Vec<ProposedBlock>) {
        self.data.blocks = blocks;
    }

    /// Notes the highest certificates, written with the next persist.
    pub fn note_certificates(&mut self, qc: &QuorumCert, tc: Option<&TimeoutCert>) {
        if qc.data.epoch == self.data.epoch {
            self.data.highest_qc = Some(qc.clone());
        }
        self.data.highest_tc = tc.filter(|t| t.epoch == self.data.epoch).cloned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::TestCrypto;
    use runnet_types::block::batches_root;
    use runnet_types::{Block, BlockHeader, VrfProof};

    fn qc(round: u64, block: u8) -> QuorumCert {
        QuorumCert {
            data: VoteData {
                epoch: 1,
                round,
                height: round,
                block: Hash([block; 32]),
                parent: Hash::ZERO,
                parent_round: round.saturating_sub(1),
            },
            signers: vec![],
            signatures: vec![],
        }
    }

    fn block(round: u64, justify: QuorumCert, tag: u64) -> ProposedBlock {
        ProposedBlock {
            block: Block {
                header: BlockHeader {
                    chain_id: "test".into(),
                    height: justify.data.height + 1,
                    round,
                    epoch: 1,
                    parent: justify.data.block,
                    justify_signers: justify.signers.clone(),
                    failed_leaders: Vec::new(),
                    leader_exclusions: Vec::new(),
                    proposer: Address([1; 20]),
                    batches_root: batches_root(&[]),
                    executed_height: 0,
                    executed_state_root: Hash::ZERO,
                    vrf: VrfProof::default(),
                    timestamp_ms: tag,
                },
                batches: vec![],
            },
            justify,
            signature: Default::default(),
        }
    }

    fn tc(round: u64, hqc_rounds: Vec<u64>) -> TimeoutCert {
        TimeoutCert {
            epoch: 1,
            round,
            signers: (0..hqc_rounds.len() as u32).collect(),
            signatures: vec![Default::default(); hqc_rounds.len()],
            hqc_rounds,
        }
    }

    fn rules() -> SafetyRules {
        let mut r = SafetyRules::new(SafetyData::default());
        assert!(r.enter_epoch(1));
        r
    }

    fn vote(
        r: &mut SafetyRules,
        b: &ProposedBlock,
        tc: Option<&TimeoutCert>,
    ) -> Result<Signed<Vote>, SafetyError> {
        r.vote(
            b,
            b.hash(),
            tc,
            Address([2; 20]),
            "test",
            &TestCrypto::new(2),
        )
    }

    #[test]
    fn votes_once_per_round_and_repeats_the_same_vote() {
        let mut r = rules();
        let b = block(3, qc(2, 2), 0);
        let first = match vote(&mut r, &b, None).unwrap() {
            Signed::New(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(r.data().last_voted_round, 3);
        assert_eq!(r.data().one_chain_round, 2);
        // Same block again: the same vote, nothing new to persist.
        assert_eq!(vote(&mut r, &b, None), Ok(Signed::Repeat(first)));
        // Another block of the same round: refused.
        let other = block(3, qc(2, 2), 1);
        assert_eq!(
            vote(&mut r, &other, None),
            Err(SafetyError::AlreadyVoted { round: 3 })
        );
        // An older round: refused.
        assert!(matches!(
            vote(&mut r, &block(2, qc(1, 1), 0), None),
            Err(SafetyError::RoundNotNewer { round: 2, last: 3 })
        ));
    }

    #[test]
    fn vote_needs_the_previous_round_or_a_timeout_certificate_above_every_lock() {
        let mut r = rules();
        // Round 5 extending round 3 without a TC: refused.
        assert!(matches!(
            vote(&mut r, &block(5, qc(3, 3), 0), None),
            Err(SafetyError::NotSafeToVote { .. })
        ));
        // With a TC of round 4 whose highest lock is 3: fine.
        let t = tc(4, vec![1, 3, 2]);
        assert!(matches!(
            vote(&mut r, &block(5, qc(3, 3), 0), Some(&t)),
            Ok(Signed::New(_))
        ));
        // Round 7 after TC of round 6 with a lock at 5, extending round 4: below the lock.
        let t = tc(6, vec![5, 2, 2]);
        assert!(matches!(
            vote(&mut r, &block(7, qc(4, 4), 0), Some(&t)),
            Err(SafetyError::NotSafeToVote {
                tc_hqc: Some(5),
                ..
            })
        ));
        // A TC of the wrong round does not help.
        let t = tc(5, vec![1, 1, 1]);
        assert!(matches!(
            vote(&mut r, &block(7, qc(4, 4), 0), Some(&t)),
            Err(SafetyError::NotSafeToVote { .. })
        ));
        // A TC of another epoch does not help either.
        let mut t = tc(6, vec![1, 1, 1]);
        t.epoch = 0;
        assert!(matches!(
            vote(&mut r, &block(7, qc(4, 4), 0), Some(&t)),
            Err(SafetyError::NotSafeToVote { .. })
        ));
    }

    #[test]
    fn the_flawed_rule_votes_below_the_lock() {
        let mut r = rules();
        r.flaw = Flaw::IgnoreLock;
        assert!(matches!(
            vote(&mut r, &block(9, qc(1, 1), 0), None),
            Ok(Signed::New(_))
        ));
    }

    #[test]
    fn timeout_rule() {
        let mut r = rules();
        let crypto = TestCrypto::new(2);
        let me = Address([2; 20]);
        // Round 4 with a QC of round 3.
        let t = match r.timeout(1, 4, &qc(3, 3), None, me, "test", &crypto) {
            Ok(Signed::New(t)) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(t.data.hqc_round, 3);
        assert_eq!(r.data().last_voted_round, 4);
        assert_eq!(r.data().highest_timeout_round, 4);
        // Asked again for round 4, even with a higher certificate: the same timeout.
        assert_eq!(
            r.timeout(1, 4, &qc(3, 9), None, me, "test", &crypto),
            Ok(Signed::Repeat(t))
        );
        // No vote in round 4 after timing out in it.
        assert!(matches!(
            vote(&mut r, &block(4, qc(3, 3), 0), None),
            Err(SafetyError::RoundNotNewer { .. })
        ));
        // Round 5 after a TC of round 4, carrying the round-3 certificate.
        let t4 = tc(4, vec![3, 3, 3]);
        assert!(matches!(
            r.timeout(1, 5, &qc(3, 3), Some(&t4), me, "test", &crypto),
            Ok(Signed::New(_))
        ));
        // Having seen a certificate of round 6, a timeout carrying round 3 would hide the lock.
        r.observe_qc(&qc(6, 6));
        let t6 = tc(6, vec![3, 3, 3]);
        assert!(matches!(
            r.timeout(1, 7, &qc(3, 3), Some(&t6), me, "test", &crypto),
            Err(SafetyError::NotSafeToTimeout { lock: 6, .. })
        ));
        // A round that follows neither certificate: refused.
        assert!(matches!(
            r.timeout(1, 9, &qc(6, 6), Some(&t6), me, "test", &crypto),
            Err(SafetyError::NotSafeToTimeout { .. })
        ));
        // Wrong epoch.
        assert!(matches!(
            r.timeout(2, 7, &qc(6, 6), None, me, "test", &crypto),
            Err(SafetyError::WrongEpoch { .. })
        ));
    }

    #[test]
    fn voting_then_timing_out_the_same_round_is_allowed() {
        let mut r = rules();
        let crypto = TestCrypto::new(2);
        assert!(matches!(
            vote(&mut r, &block(4, qc(3, 3), 0), None),
            Ok(Signed::New(_))
        ));
        assert!(matches!(
            r.timeout(1, 4, &qc(3, 3), None, Address([2; 20]), "test", &crypto),
            Ok(Signed::New(_))
        ));
    }

    #[test]
    fn epochs_only_move_forward_and_reset_rounds() {
        let mut r = rules();
        vote(&mut r, &block(3, qc(2, 2), 0), None).unwrap();
        assert!(!r.enter_epoch(1));
        assert!(!r.enter_epoch(0));
        assert!(r.enter_epoch(2));
        assert_eq!(r.data().last_voted_round, 0);
        assert!(r.data().last_vote.is_none());
        // Votes of the old epoch are refused.
        assert!(matches!(
            vote(&mut r, &block(5, qc(4, 4), 0), None),
            Err(SafetyError::WrongEpoch { .. })
        ));
    }

    #[test]
    fn one_proposal_per_round() {
        let mut r = rules();
        assert_eq!(r.proposal_for(1, 3), Ok(None));
        let p = Proposal {
            block: block(3, qc(2, 2), 0),
            tc: None,
        };
        r.record_proposal(&p);
        assert_eq!(r.proposal_for(1, 3), Ok(Some(p)));
        assert!(r.proposal_for(1, 2).is_err());
        assert_eq!(r.proposal_for(1, 4), Ok(None));
    }

    #[test]
    fn safety_file_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator_state.json");
        assert!(SafetyData::load(&path).unwrap().is_none());
        let mut r = rules();
        vote(&mut r, &block(3, qc(2, 2), 0), None).unwrap();
        r.timeout(
            1,
            4,
            &qc(3, 3),
            None,
            Address([2; 20]),
            "test",
            &TestCrypto::new(2),
        )
        .unwrap();
        r.record_proposal(&Proposal {
            block: block(4, qc(3, 3), 0),
            tc: Some(tc(3, vec![1, 2, 2])),
        });
        r.data().store(&path).unwrap();
        assert_eq!(SafetyData::load(&path).unwrap().as_ref(), Some(r.data()));
        // Overwrite: the new content replaces the old, and no temporary file is left behind.
        let later = SafetyData {
            epoch: 9,
            ..SafetyData::default()
        };
        later.store(&path).unwrap();
        assert_eq!(SafetyData::load(&path).unwrap(), Some(later));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("validator_state.json")]
        );
        // The file is readable JSON an operator can inspect.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"last_voted_round\""));
    }

    #[test]
    fn a_corrupt_safety_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator_state.json");
        std::fs::write(&path, b"{\"epoch\": 1, \"last_voted_round\": ").unwrap();
        let err = SafetyData::load(&path).unwrap_err();
        assert!(err.to_string().contains("refusing to start"), "{err}");
        std::fs::write(&path, b"{\"epoch\": 1, \"surprise\": 2}").unwrap();
        assert!(SafetyData::load(&path).is_err());
        // A directory that does not exist is a write error, not a panic.
        let missing = dir.path().join("no/such/dir/state.json");
        assert!(SafetyData::default().store(&missing).is_err());
    }
}
