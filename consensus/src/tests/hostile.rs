//! Every message from a peer may be garbage or malicious: each is refused with a reason, never
//! a panic, and leaves the node working.

use super::harness::{Envelope, Harness, is_proposal, round_of};
use crate::certificates::CertError;
use crate::core::{Event, Refusal};
use crate::crypto::{Crypto, TestCrypto};
use crate::sim::Rng;
use runnet_types::consensus::{
    ConsensusMessage, MessageBody, Proposal, ProposedBlock, SyncResponse, Timeout, TimeoutData,
    Vote, VoteData, proposal_signing_bytes,
};
use runnet_types::{Domain, Hash};
use std::cell::RefCell;

struct Setup {
    h: Harness,
    leader: usize,
    victim: usize,
    real: ConsensusMessage,
}

/// A network at height 2 and the next proposal, held back from `victim`.
fn setup() -> Setup {
    let mut h = Harness::new(4);
    h.start();
    let ok = h.run_until(&mut |_| true, &mut |h| h.min_height() >= 2, 200);
    assert!(ok);
    let round = h.nodes.iter().map(|n| n.core().round()).max().unwrap_or(0) + 1;
    let leader = h.leader(0, round);
    let victim = (0..4).find(|i| *i != leader).unwrap();
    let held: RefCell<Option<ConsensusMessage>> = RefCell::new(None);
    let ok = h.run_until(
        &mut |e: &Envelope| {
            if e.from == leader && e.to == victim && is_proposal(e) && round_of(e) == Some(round) {
                held.borrow_mut().get_or_insert_with(|| e.msg.clone());
                return false;
            }
            true
        },
        &mut |_| held.borrow().is_some(),
        200,
    );
    assert!(ok);
    Setup {
        h,
        leader,
        victim,
        real: held.into_inner().unwrap_or_else(|| unreachable!()),
    }
}

impl Setup {
    fn proposal(&self) -> Proposal {
        match &self.real.body {
            MessageBody::Proposal(p) => p.clone(),
            _ => unreachable!(),
        }
    }

    fn sign_as(&self, node: usize, block: &mut ProposedBlock) {
        let crypto = TestCrypto::new(self.h.nodes[node].id);
        block.signature = crypto.sign(Domain::Proposal, &proposal_signing_bytes(&block.hash()));
    }

    fn with_body(&self, body: MessageBody) -> ConsensusMessage {
        ConsensusMessage {
            sync: self.real.sync.clone(),
            body,
        }
    }

    /// Delivers `msg` to the victim from `from` and returns why it was refused.
    fn refusal(&mut self, from: usize, msg: ConsensusMessage) -> Option<Refusal> {
        let v = self.victim;
        self.h.nodes[v].core_mut().stats_mut().last_refusal = None;
        self.h.deliver(Envelope { from, to: v, msg });
        self.h.nodes[v].core().stats().last_refusal.clone()
    }

    fn refuses(&mut self, what: &str, msg: ConsensusMessage, expected: fn(&Refusal) -> bool) {
        let leader = self.leader;
        let got = self.refusal(leader, msg);
        assert!(
            got.as_ref().is_some_and(expected),
            "{what}: refused with {got:?}"
        );
    }

    /// After all the garbage, the real proposal still gets a vote and the chain goes on.
    fn still_works(self) {
        self.still_works_voting(true);
    }

    fn still_works_voting(mut self, first_vote: bool) {
        let v = self.victim;
        let votes = self.h.nodes[v].core().stats().votes;
        let leader = self.leader;
        let msg = self.real.clone();
        self.h.deliver(Envelope {
            from: leader,
            to: v,
            msg,
        });
        if first_vote {
            assert_eq!(self.h.nodes[v].core().stats().votes, votes + 1);
        }
        let height = self.h.min_height();
        let ok = self
            .h
            .run_until(&mut |_| true, &mut |h| h.min_height() >= height + 3, 300);
        assert!(ok);
        self.h.assert_agreement();
    }
}

#[test]
fn malformed_proposals_are_refused_with_a_reason() {
    let mut s = setup();
    let p = s.proposal();

    let mut bad = p.clone();
    bad.block.signature.0[5] ^= 1;
    s.refuses(
        "bad signature",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::BadSignature(_)),
    );

    let mut bad = p.clone();
    bad.block.block.header.chain_id = "other".into();
    s.sign_as(s.leader, &mut bad.block);
    s.refuses(
        "other chain",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::WrongChain),
    );

    let mut bad = p.clone();
    bad.block.block.header.epoch = 7;
    s.sign_as(s.leader, &mut bad.block);
    s.refuses(
        "future epoch",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::FutureEpoch { .. }),
    );

    let mut bad = p.clone();
    bad.block.block.batches.push(Hash([1; 32]));
    s.sign_as(s.leader, &mut bad.block);
    s.refuses(
        "batches off the root",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::BadBlock(_)),
    );

    let mut bad = p.clone();
    bad.block.block.header.vrf.pre_output.0[0] ^= 1;
    s.sign_as(s.leader, &mut bad.block);
    s.refuses("bad VRF", s.with_body(MessageBody::Proposal(bad)), |r| {
        matches!(r, Refusal::BadVrf)
    });

    let mut bad = p.clone();
    bad.block.block.header.height += 5;
    s.sign_as(s.leader, &mut bad.block);
    s.refuses(
        "wrong height",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::BadBlock(_)),
    );

    let mut bad = p.clone();
    bad.block.block.header.executed_height = u64::MAX;
    s.sign_as(s.leader, &mut bad.block);
    s.refuses(
        "executed beyond",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::BadBlock(_)),
    );

    // A header naming other signers than the certificate travelling with it: copies of one
    // block must agree on who was at work, since the next leader depends on it.
    let mut bad = p.clone();
    bad.block.block.header.justify_signers.push(3);
    s.sign_as(s.leader, &mut bad.block);
    s.refuses(
        "signers not named",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::BadBlock(_)),
    );

    // Signed by a validator that does not lead the round.
    let other = (0..4).find(|i| *i != s.leader && *i != s.victim).unwrap();
    let mut bad = p.clone();
    bad.block.block.header.proposer = s.h.nodes[other].address;
    s.sign_as(other, &mut bad.block);
    s.refuses(
        "not the leader",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::NotLeader { .. }),
    );

    // Signed by someone outside the committee.
    let mut bad = p.clone();
    bad.block.block.header.proposer = TestCrypto::new(99).public_key().address();
    s.refuses("outsider", s.with_body(MessageBody::Proposal(bad)), |r| {
        matches!(r, Refusal::NotInCommittee(_))
    });

    // A certificate with too little stake, or a signer counted twice.
    let mut bad = p.clone();
    bad.block.justify.signers.truncate(2);
    bad.block.justify.signatures.truncate(2);
    s.refuses(
        "thin certificate",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::Cert(CertError::NotQuorum { .. })),
    );
    let mut bad = p.clone();
    bad.block.justify.signers[1] = bad.block.justify.signers[0];
    bad.block.justify.signatures[1] = bad.block.justify.signatures[0];
    s.refuses(
        "duplicate signer",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::Cert(CertError::BadSigners)),
    );
    let mut bad = p.clone();
    bad.block.justify.data.round += 1;
    s.refuses(
        "forged certificate",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::Cert(CertError::BadSignatures(_))),
    );

    // A bad certificate in the sync info spoils the whole message.
    let mut msg = s.real.clone();
    msg.sync.highest_qc.data.round += 100;
    s.refuses("forged sync info", msg, |r| matches!(r, Refusal::Cert(_)));

    // The leader signed several blocks for this round along the way: evidence, not confusion.
    assert!(!s.h.nodes[s.victim].evidence.is_empty());
    s.still_works();
}

#[test]
fn malicious_votes_and_timeouts_are_refused_with_a_reason() {
    let mut s = setup();
    let v = s.victim;
    let signer = (0..4).find(|i| *i != v).unwrap();
    let key = TestCrypto::new(s.h.nodes[signer].id);
    let address = s.h.nodes[signer].address;
    let vote = |data: VoteData| Vote {
        signature: key.sign(Domain::Vote, &data.signing_bytes("test")),
        data,
        author: address,
    };
    let data = VoteData {
        epoch: 0,
        round: u64::MAX,
        height: 1,
        block: Hash([3; 32]),
        parent: Hash([4; 32]),
        parent_round: u64::MAX - 1,
    };
    s.refuses(
        "huge round vote",
        s.with_body(MessageBody::Vote(vote(data.clone()))),
        |r| matches!(r, Refusal::FutureRound { .. }),
    );
    let mut forged = vote(data.clone());
    forged.author = TestCrypto::new(77).public_key().address();
    s.refuses(
        "outsider vote",
        s.with_body(MessageBody::Vote(forged)),
        |r| matches!(r, Refusal::NotInCommittee(_)),
    );
    let mut unsigned = vote(data.clone());
    unsigned.signature.0[0] ^= 1;
    s.refuses(
        "bad vote signature",
        s.with_body(MessageBody::Vote(unsigned)),
        |r| matches!(r, Refusal::BadSignature(_)),
    );
    let mut epoch = data.clone();
    epoch.epoch = 3;
    s.refuses(
        "future epoch vote",
        s.with_body(MessageBody::Vote(vote(epoch))),
        |r| matches!(r, Refusal::FutureEpoch { .. }),
    );

    let timeout = |round: u64, hqc_round: u64, qc| {
        let data = TimeoutData {
            epoch: 0,
            round,
            hqc_round,
        };
        Timeout {
            signature: key.sign(Domain::Timeout, &data.signing_bytes("test")),
            data,
            author: address,
            highest_qc: qc,
        }
    };
    let qc = s.real.sync.highest_qc.clone();
    s.refuses(
        "huge round timeout",
        s.with_body(MessageBody::Timeout(timeout(
            u64::MAX,
            qc.round(),
            qc.clone(),
        ))),
        |r| matches!(r, Refusal::FutureRound { .. }),
    );
    s.refuses(
        "lock without its certificate",
        s.with_body(MessageBody::Timeout(timeout(
            qc.round() + 1,
            qc.round() + 5,
            qc.clone(),
        ))),
        |r| matches!(r, Refusal::TimeoutCertMismatch),
    );
    let mut thin = qc.clone();
    thin.signers.truncate(1);
    thin.signatures.truncate(1);
    s.refuses(
        "lock backed by a thin certificate",
        s.with_body(MessageBody::Timeout(timeout(
            qc.round() + 1,
            qc.round(),
            thin,
        ))),
        |r| matches!(r, Refusal::Cert(_)),
    );

    let huge = SyncResponse {
        blocks: vec![s.proposal().block; 5_000],
        certs: vec![],
    };
    s.refuses(
        "flood of blocks",
        s.with_body(MessageBody::SyncResponse(huge)),
        |r| matches!(r, Refusal::TooLarge),
    );
    s.still_works();
}

/// Thousands of random mutations of real messages: whatever decodes is fed to a node, which
/// must never panic and must keep working.
#[test]
fn mutated_messages_never_panic() {
    let mut s = setup();
    let mut samples: Vec<ConsensusMessage> = vec![s.real.clone()];
    // A few more kinds of real messages: the ones in flight right now.
    samples.extend(s.h.queue.iter().map(|e| e.msg.clone()));
    let mut rng = Rng::new(2026);
    let mut decoded = 0;
    for i in 0..3_000 {
        let base = samples[i % samples.len()].encode();
        let mut bytes = base.clone();
        for _ in 0..rng.range(1, 4) {
            match rng.below(3) {
                0 => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
                1 => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes.truncate(at.max(1));
                }
                _ => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] = rng.next_u64() as u8;
                }
            }
        }
        if let Ok(msg) = ConsensusMessage::decode(&bytes) {
            decoded += 1;
            let from = rng.below(4) as usize;
            let now = s.h.now;
            s.h.feed(
                s.victim,
                Event::Message {
                    from: s.h.nodes[from].address,
                    message: msg,
                    now_ms: now,
                },
            );
            s.h.queue.clear();
        }
    }
    assert!(
        decoded > 100,
        "mutations mostly broke the encoding: {decoded}"
    );
    // (A mutation that only touched bytes nobody checks may already have carried the vote.)
    s.still_works_voting(false);
}

/// A node whose state machine computes other roots than everyone else (a bug, a corrupt disk,
/// a race) must not go on as if nothing happened (issue 14, finding 5): it votes for no header
/// whose claim contradicts it, and once a committed header does, it halts with the reason. The
/// others keep committing. (Voters refusing a wrong claim: roots.rs.)
#[test]
fn a_node_whose_state_diverges_halts_and_the_others_go_on() {
    let mut h = Harness::new(4);
    h.diverged = Some((0, 3));
    h.start();
    let ok = h.run_until(
        &mut |_| true,
        &mut |h| {
            h.nodes[0].halted.is_some()
                && (1..4).all(|i| h.nodes[i].core().committed_height() >= 12)
        },
        2_000,
    );
    assert!(ok, "node 0 halted: {:?}", h.nodes[0].halted);
    let reason = h.nodes[0].halted.clone().unwrap_or_default();
    assert!(reason.contains("state root mismatch"), "{reason}");
    assert!(h.nodes[0].core().is_halted());
    // Once halted it signs nothing more, whatever it is fed.
    let before = h.nodes[0].core().stats().votes;
    h.run_until(&mut |_| true, &mut |_| false, 20);
    assert_eq!(h.nodes[0].core().stats().votes, before);
    for i in 1..4 {
        assert!(h.nodes[i].halted.is_none(), "honest node {i} halted");
    }
}

/// Chain time (issue 15): a block's timestamp is after its parent's, and a fresh proposal may not
/// run ahead of the voter's clock by more than `max_clock_drift_ms`.
#[test]
fn a_proposal_whose_time_goes_back_or_runs_ahead_is_refused() {
    let mut s = setup();
    let p = s.proposal();
    assert!(
        p.block.block.header.timestamp_ms > 0,
        "the genesis is at 0, and every block after its parent"
    );

    let mut bad = p.clone();
    bad.block.block.header.timestamp_ms = 0;
    s.sign_as(s.leader, &mut bad.block);
    s.refuses(
        "time going back",
        s.with_body(MessageBody::Proposal(bad)),
        |r| matches!(r, Refusal::BadBlock(why) if why.contains("timestamp")),
    );

    let drift = s.h.params.max_clock_drift_ms;
    let mut bad = p.clone();
    bad.block.block.header.timestamp_ms = s.h.now + drift + 1;
    s.sign_as(s.leader, &mut bad.block);
    let got = s.refusal(s.leader, s.with_body(MessageBody::Proposal(bad)));
    assert!(
        matches!(got, Some(Refusal::TimestampAhead { ahead_ms }) if ahead_ms == drift + 1),
        "a clock too far ahead: refused with {got:?}"
    );

    // Within the drift is fine: the real proposal, re-stamped just inside it, gets a vote.
    let mut ahead = p.clone();
    ahead.block.block.header.timestamp_ms = s.h.now + drift;
    s.sign_as(s.leader, &mut ahead.block);
    let refused = s.refusal(s.leader, s.with_body(MessageBody::Proposal(ahead)));
    assert!(refused.is_none(), "{refused:?}");
}
