//! What arrives: the order in which a peer's message is checked and handed to the rooms.
//!
//! No state of its own. The order is the point:
//! 1. sync traffic crosses epochs and goes to the sync room first;
//! 2. a message of another epoch is refused (one of the next epoch is kept while this one
//!    finishes, and the sender is asked or told where we are);
//! 3. the signature of a proposal or vote is checked and recorded for equivocation;
//! 4. the message's sync info (its certificates) is absorbed;
//! 5. the body goes to its room: a proposal through [`Core::process_proposal`] (certificates,
//!    the tree, then the vote), a vote to the collector, a timeout to the round room.
//!
//! A refusal is returned, never a panic; the caller records it.

use super::{Core, Environment, PayloadSource, Phase, Refusal};
use runnet_types::Address;
use runnet_types::Hash;
use runnet_types::consensus::{ConsensusMessage, MessageBody, Proposal};

impl<E: Environment, P: PayloadSource> Core<E, P> {
    pub(super) fn on_message(
        &mut self,
        from: Address,
        msg: ConsensusMessage,
    ) -> Result<(), Refusal> {
        let epoch = self.epoch();
        let body_epoch = msg.body_epoch();
        let sync_epoch = msg
            .sync
            .highest_qc
            .epoch()
            .max(msg.sync.highest_commit.epoch());
        // Sync traffic crosses epochs: a node ahead answers with its own (later) sync info, and
        // a node behind asks about its own (earlier) epoch.
        match msg.body {
            MessageBody::SyncResponse(resp) => {
                if self.phase == Phase::EpochEnded {
                    return Err(Refusal::EpochEnded);
                }
                if sync_epoch == epoch {
                    self.process_sync_info(from, &msg.sync)?;
                }
                if self.epoch() != epoch || self.phase != Phase::Running {
                    return Ok(());
                }
                return self.on_sync_response(from, resp);
            }
            MessageBody::SyncRequest(req) => {
                if sync_epoch > epoch || req.epoch > epoch {
                    self.request_sync(from);
                }
                self.serve_sync(from, &req);
                return Ok(());
            }
            _ => {}
        }
        if body_epoch > epoch || sync_epoch > epoch {
            if body_epoch == epoch + 1 {
                self.sync.keep_future(from, msg);
            }
            self.request_sync(from);
            return Err(Refusal::FutureEpoch {
                got: body_epoch.max(sync_epoch),
                current: epoch,
            });
        }
        if body_epoch < epoch {
            // The sender is an epoch behind and may have no one else to learn from (say we
            // were the only one to see the epoch end): our sync info sends it after the end.
            self.status_to(from);
            return Err(Refusal::StaleEpoch {
                got: body_epoch,
                current: epoch,
            });
        }
        // Signatures of proposals and votes first, so equivocation is caught whatever happens
        // to the message next.
        let proposal_hash = match &msg.body {
            MessageBody::Proposal(p) => Some(self.precheck_proposal(p)?),
            MessageBody::Vote(v) => {
                self.precheck_vote(v)?;
                None
            }
            _ => None,
        };
        if self.phase == Phase::EpochEnded {
            return Err(Refusal::EpochEnded);
        }
        self.process_sync_info(from, &msg.sync)?;
        if self.epoch() != epoch {
            // The sync info ended the epoch and we moved on: the body is stale now.
            return Ok(());
        }
        match msg.body {
            MessageBody::Proposal(p) => {
                let hash = proposal_hash.unwrap_or_else(|| p.block.hash());
                self.process_proposal(from, p, hash)
            }
            MessageBody::Vote(v) => self.on_vote(v),
            MessageBody::Timeout(t) => self.on_timeout(from, t),
            // Handled above.
            MessageBody::SyncRequest(_) | MessageBody::SyncResponse(_) => Ok(()),
            MessageBody::Status => Ok(()),
        }
    }

    pub(super) fn process_proposal(
        &mut self,
        from: Address,
        p: Proposal,
        hash: Hash,
    ) -> Result<(), Refusal> {
        let epoch = self.epoch();
        let round = p.block.round();
        if p.block.justify.epoch() != epoch {
            return Err(Refusal::StaleEpoch {
                got: p.block.justify.epoch(),
                current: epoch,
            });
        }
        self.verify_qc_cached(&p.block.justify)?;
        if let Some(tc) = &p.tc {
            if tc.epoch != epoch {
                return Err(Refusal::StaleEpoch {
                    got: tc.epoch,
                    current: epoch,
                });
            }
            self.verify_tc_cached(tc)?;
        }
        // The certificates stand on their own: use them even if the block turns out bad.
        self.observe_certificate(Some(from), &p.block.justify);
        if let Some(tc) = &p.tc
            && self.epoch() == epoch
            && self.phase == Phase::Running
        {
            self.process_tc(tc.clone());
        }
        if self.epoch() != epoch || self.phase != Phase::Running {
            return Ok(());
        }
        let certified = self.chain.highest_qc.block() == hash;
        match self.insert_block(&p.block, hash, true, certified) {
            Ok(()) => {}
            Err(Refusal::MissingParent(parent)) => {
                if round >= self.round() {
                    self.sync.keep_orphan(from, p);
                }
                self.request_sync(from);
                return Err(Refusal::MissingParent(parent));
            }
            Err(e) => return Err(e),
        }
        let current = self.round();
        if round < current {
            return Err(Refusal::StaleRound { round, current });
        }
        if round > current {
            if !self.flawed() {
                return Err(Refusal::FutureRound { round, current });
            }
            // The broken rule trusts the proposal's round as it trusts its certificate.
            self.enter_round(round);
        }
        self.try_vote(p, hash);
        Ok(())
    }
}
