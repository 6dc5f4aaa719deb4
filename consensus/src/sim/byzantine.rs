//! Byzantine behaviours: what a faulty validator of the simulator does on top of running the
//! honest core (its messages, rewritten or doubled, always carry valid signatures).
//!
//! The forged blocks themselves come from [`crate::byzantine`], outside the honest type.

use super::world::{CHAIN_ID, World};
use crate::core::Environment;
use runnet_types::consensus::{ConsensusMessage, MessageBody, Proposal, SyncInfo, Vote, VoteData};
use runnet_types::encoding::hash_of;
use runnet_types::{Address, Domain};
use std::rc::Rc;
impl World {
    /// The double voter sends its vote and a second one, for another block, in random order.
    pub(super) fn double_vote(&mut self, node: usize, to: Address, message: ConsensusMessage) {
        let MessageBody::Vote(v) = &message.body else {
            return;
        };
        let mut data = v.data.clone();
        data.block = hash_of(&("another block", data.block));
        let second = ConsensusMessage {
            sync: message.sync.clone(),
            body: MessageBody::Vote(self.sign_vote(node, data)),
        };
        let mut both = vec![Rc::new(message), Rc::new(second)];
        self.byz_rng.shuffle(&mut both);
        for target in self.targets(node, to) {
            for m in &both {
                self.transmit(node, target, m.clone());
            }
        }
    }

    /// The sync info a forking equivocator still hides behind, if any.
    pub(super) fn hiding(&mut self, node: usize) -> Option<SyncInfo> {
        let n = &mut self.nodes[node];
        let round = n.core.as_ref().map_or(0, |c| c.round());
        match &n.hide {
            Some((until, sync)) if round <= *until => Some(sync.clone()),
            _ => {
                n.hide = None;
                None
            }
        }
    }

    pub(super) fn sign_vote(&self, node: usize, data: VoteData) -> Vote {
        let author = self.nodes[node].address;
        let signature = match &self.nodes[node].core {
            Some(core) => core
                .env()
                .crypto()
                .sign(Domain::Vote, &data.signing_bytes(CHAIN_ID)),
            None => Default::default(),
        };
        Vote {
            data,
            author,
            signature,
        }
    }

    /// The equivocator votes for whatever it sees, whatever its rules say.
    pub(super) fn vote_for_anything(&mut self, node: usize, p: &Proposal) {
        let Some(core) = &self.nodes[node].core else {
            return;
        };
        let committee = core.committee().clone();
        if p.block.epoch() != committee.epoch() {
            return;
        }
        let next = core.vote_recipient(p.block.round(), &p.block.hash());
        let data = VoteData {
            epoch: p.block.epoch(),
            round: p.block.round(),
            height: p.block.height(),
            block: p.block.hash(),
            parent: p.block.header().parent,
            parent_round: p.block.justify.data.round,
        };
        let sync = core.sync_info();
        let sync = self.hiding(node).unwrap_or(sync);
        let Some(to) = committee.get(next).map(|v| v.address) else {
            return;
        };
        let vote = self.sign_vote(node, data);
        let msg = Rc::new(ConsensusMessage {
            sync,
            body: MessageBody::Vote(vote),
        });
        for target in self.targets(node, to) {
            self.transmit(node, target, msg.clone());
        }
    }

    pub(super) fn equivocate(&mut self, node: usize, message: ConsensusMessage, p: Proposal) {
        let mode = self.byz_rng.below(3);
        let Some(core) = &self.nodes[node].core else {
            return;
        };
        let round = p.block.round();
        let committee = core.committee().clone();
        let (alternative, sync) = match mode {
            1 => (crate::byzantine::variant_of(core, &p), message.sync.clone()),
            2 => match crate::byzantine::fork_below_commit(core, round, self.now) {
                // Hide the higher certificates, or the receivers would commit past the fork.
                Some(fork) => {
                    let sync = SyncInfo {
                        highest_qc: fork.block.justify.clone(),
                        highest_tc: None,
                        highest_commit: fork.block.justify.clone(),
                    };
                    (Some(fork), sync)
                }
                None => (crate::byzantine::variant_of(core, &p), message.sync.clone()),
            },
            _ => (None, message.sync.clone()),
        };
        let mut others = self.others(node);
        let original = Rc::new(message);
        let Some(alternative) = alternative else {
            for target in others {
                self.transmit(node, target, original.clone());
            }
            return;
        };
        let forking = mode == 2 && alternative.block.justify != p.block.justify;
        if forking {
            if self.config.trace {
                eprintln!(
                    "{:>8}ms n{node} forks round {round}: real block on round {}, fork on round {}",
                    self.now,
                    p.block.justify.round(),
                    alternative.block.justify.round()
                );
            }
            self.nodes[node].hide = Some((round + 3, sync.clone()));
        }
        self.vote_for_anything(node, &alternative);
        let alt = Rc::new(ConsensusMessage {
            sync,
            body: MessageBody::Proposal(alternative),
        });
        self.byz_rng.shuffle(&mut others);
        if forking {
            // The real block, whose certificate commits its grandparent, goes to the lightest
            // validator only; everyone else gets the fork below that commit. A rule that ignores
            // the lock lets them certify it.
            let stake = |i: &usize| {
                committee
                    .index_of(&self.nodes[*i].address)
                    .and_then(|x| committee.get(x))
                    .map_or(0, |v| v.stake)
            };
            others.sort_by_key(stake);
            for (i, target) in others.iter().enumerate() {
                let m = if i == 0 { &original } else { &alt };
                self.transmit(node, *target, m.clone());
            }
            return;
        }
        let split = others.len() / 2;
        for (i, target) in others.iter().enumerate() {
            if i < split {
                self.transmit(node, *target, original.clone());
            } else {
                self.transmit(node, *target, alt.clone());
            }
        }
        // Someone sees both (and must produce evidence).
        if let Some(both) = others.first().copied() {
            self.transmit(node, both, alt);
        }
    }
}
