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
mod tests;
