//! The simulated network: a queue of timed events, and messages that are dropped, duplicated,
//! delayed, reordered and cut by partitions, all drawn from the seed's network generator.

use super::ByzantineKind;
use super::world::{Role, World};
use crate::core::Event;
use runnet_types::consensus::{ConsensusMessage, MessageBody};
use runnet_types::{Address, Hash};
use std::cmp::Reverse;
use std::rc::Rc;
pub(super) enum Ev {
    Deliver {
        to: usize,
        from: Address,
        msg: Rc<ConsensusMessage>,
    },
    Timer {
        node: usize,
        incarnation: u32,
        at: u64,
    },
    Batch {
        node: usize,
        digest: Hash,
    },
    Executed {
        node: usize,
        incarnation: u32,
        height: u64,
    },
    Crash {
        node: usize,
    },
    HardCrash {
        node: usize,
        incarnation: u32,
    },
    Restart {
        node: usize,
    },
    NewBatch,
}

pub(super) struct Queued {
    pub(super) at: u64,
    pub(super) seq: u64,
    pub(super) ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub(super) struct Net {
    pub(super) drop: u64,
    pub(super) dup: u64,
    pub(super) min_delay: u64,
    pub(super) max_delay: u64,
    pub(super) slow: u64,
}

pub(super) struct Partition {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) group: Vec<u8>,
}

impl World {
    pub(super) fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            ev,
        }));
    }

    pub(super) fn transmit(&mut self, from: usize, to: usize, msg: Rc<ConsensusMessage>) {
        self.messages += 1;
        if let Some(p) = &self.partition
            && self.now >= p.start
            && self.now < p.end
            && p.group[from] != p.group[to]
        {
            return;
        }
        if self.net_rng.chance(self.net.drop) {
            return;
        }
        let copies = if self.net_rng.chance(self.net.dup) {
            2
        } else {
            1
        };
        let sender = self.nodes[from].address;
        for _ in 0..copies {
            let mut delay = self.net_rng.range(self.net.min_delay, self.net.max_delay);
            if self.net_rng.chance(self.net.slow) {
                delay += self.net_rng.range(100, 1_500);
            }
            self.push(
                self.now + delay,
                Ev::Deliver {
                    to,
                    from: sender,
                    msg: msg.clone(),
                },
            );
        }
    }

    pub(super) fn targets(&self, from: usize, to: Address) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| *i != from && self.nodes[*i].address == to)
            .collect()
    }

    pub(super) fn others(&self, from: usize) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| *i != from).collect()
    }

    pub(super) fn send_action(&mut self, node: usize, to: Address, message: ConsensusMessage) {
        if self.hiding(node).is_some() {
            return;
        }
        if self.nodes[node].role == Role::Byzantine(ByzantineKind::DoubleVoter)
            && matches!(message.body, MessageBody::Vote(_))
        {
            self.double_vote(node, to, message);
            return;
        }
        let msg = Rc::new(message);
        for target in self.targets(node, to) {
            self.transmit(node, target, msg.clone());
        }
    }

    pub(super) fn broadcast_action(&mut self, node: usize, message: ConsensusMessage) {
        if self.hiding(node).is_some() {
            return;
        }
        if self.nodes[node].role == Role::Byzantine(ByzantineKind::Equivocator)
            && let MessageBody::Proposal(p) = &message.body
            && p.block.header().proposer == self.nodes[node].address
        {
            let p = p.clone();
            self.equivocate(node, message, p);
            return;
        }
        let msg = Rc::new(message);
        for target in self.others(node) {
            self.transmit(node, target, msg.clone());
        }
    }

    pub(super) fn deliver(&mut self, to: usize, from: Address, msg: Rc<ConsensusMessage>) {
        if !self.nodes[to].alive {
            return;
        }
        if self.nodes[to].role == Role::Honest {
            self.record_seen(to, &msg);
        }
        if self.nodes[to].role == Role::Byzantine(ByzantineKind::Equivocator)
            && let MessageBody::Proposal(p) = &msg.body
        {
            let p = p.clone();
            self.vote_for_anything(to, &p);
        }
        self.feed(
            to,
            Event::Message {
                from,
                message: (*msg).clone(),
                now_ms: self.now,
            },
        );
    }
}
