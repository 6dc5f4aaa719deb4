//! Twins-style scenarios written by hand: an equivocating leader under a partition, a node with
//! a stale lock. The crash scenarios are in crashes.rs.

use super::harness::{Envelope, Harness, is_proposal, round_of};
use crate::core::{Action, Refusal};
use crate::leader::LeaderSchedule;
use crate::safety::SafetyError;
use runnet_types::consensus::{ConsensusMessage, Evidence, MessageBody, Proposal};
use std::cell::RefCell;

pub(super) fn settle(h: &mut Harness, height: u64) {
    let ok = h.run_until(&mut |_| true, &mut |h| h.min_height() >= height, 1_000);
    assert!(ok, "stuck below height {height}: {}", h.min_height());
}

pub(super) fn proposal_of(msg: &ConsensusMessage) -> Proposal {
    match &msg.body {
        MessageBody::Proposal(p) => p.clone(),
        other => panic!("not a proposal: {other:?}"),
    }
}

/// Runs until `leader` broadcasts its proposal for `round`, which is taken off the network.
pub(super) fn capture_proposal(h: &mut Harness, leader: usize, round: u64) -> ConsensusMessage {
    let captured: RefCell<Option<ConsensusMessage>> = RefCell::new(None);
    let ok = h.run_until(
        &mut |e: &Envelope| {
            if e.from == leader && is_proposal(e) && round_of(e) == Some(round) {
                captured.borrow_mut().get_or_insert_with(|| e.msg.clone());
                return false;
            }
            true
        },
        &mut |_| captured.borrow().is_some(),
        200,
    );
    assert!(ok, "leader {leader} never proposed round {round}");
    captured.into_inner().unwrap_or_else(|| unreachable!())
}

pub(super) fn upcoming_round(h: &Harness) -> u64 {
    h.nodes.iter().map(|n| n.core().round()).max().unwrap_or(0) + 1
}

#[test]
fn leader_equivocation_under_a_partition() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 2);
    let round = upcoming_round(&h) + 1;
    let l = h.leader(0, round);
    let others: Vec<usize> = (0..4).filter(|i| *i != l).collect();
    let (a, b, c) = (others[0], others[1], others[2]);

    // The leader signs two blocks for one round: the real one for a and b, another for c, and a
    // sees both. A partition keeps c apart from a, b and the leader.
    let first = capture_proposal(&mut h, l, round);
    let p1 = proposal_of(&first);
    let p2 = crate::byzantine::variant_of(h.nodes[l].core(), &p1).unwrap();
    assert_ne!(p1.block.hash(), p2.block.hash());
    let second = ConsensusMessage {
        sync: first.sync.clone(),
        body: MessageBody::Proposal(p2.clone()),
    };
    for (to, msg) in [(a, &first), (b, &first), (c, &second), (a, &second)] {
        h.queue.push_back(Envelope {
            from: l,
            to,
            msg: msg.clone(),
        });
    }
    let side = |i: usize| i == c;
    let height = h.min_height();
    let ok = h.run_until(
        &mut |e| side(e.from) == side(e.to),
        &mut |h| h.nodes[a].height() >= height + 3,
        500,
    );
    assert!(ok, "the majority side goes on");

    // a saw both blocks: evidence, valid for the state machine, against the leader.
    let evidence = h.nodes[a]
        .evidence
        .iter()
        .find(|e| matches!(e, Evidence::Proposals { .. }))
        .expect("a reported the equivocation");
    assert_eq!(evidence.round(), round);
    assert_eq!(
        *evidence.signer(),
        h.committees[0].validators()
            [h.committees[0].index_of(&h.nodes[l].address).unwrap() as usize]
            .consensus_key
    );
    let checker = crate::crypto::TestCrypto::new(0);
    assert!(
        evidence
            .verify_with("test", &h.committees[0].keys(), |k, d, m, s| {
                use crate::crypto::Crypto;
                checker.verify(k, d, m, s)
            })
            .is_ok()
    );

    // Heal: c catches up on the majority's chain, where the second block never appears.
    settle(&mut h, height + 5);
    h.assert_agreement();
    for n in &h.nodes {
        assert!(
            n.disk
                .borrow()
                .ledger
                .iter()
                .all(|blk| blk.hash() != p2.block.hash())
        );
    }
}

#[test]
fn a_lagging_node_rejoins_and_votes_again() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 3);
    let d = 3;
    let lock_before = h.nodes[d].core().highest_qc().round();
    // d misses everything while the others commit ten blocks.
    let target = h.nodes[0].height() + 10;
    let ok = h.run_until(
        &mut |e| e.to != d && e.from != d,
        &mut |h| h.nodes[0].height() >= target,
        1_000,
    );
    assert!(ok);
    assert_eq!(h.nodes[d].core().highest_qc().round(), lock_before);
    // Back on the network: d catches up and votes in later rounds.
    let votes_before = h.nodes[d].core().stats().votes;
    settle(&mut h, target + 4);
    h.assert_agreement();
    assert!(h.nodes[d].core().stats().votes > votes_before);
    assert!(h.nodes[d].core().highest_qc().round() > lock_before + 10);
}

/// d is the next leader of round k and forms the certificate of block k, but its proposal and
/// timeout are lost: d holds a lock no one else knows. The others time out rounds k and k+1 (its
/// proposal lost too) with a lower lock, and the leader of k+2 extends block k-1. d must vote for that block (its own lock is not
/// in the timeout certificate, so block k cannot have been committed) — and must refuse a block
/// that goes below the certificate's locks.
#[test]
fn a_node_with_a_lock_nobody_else_has() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 2);
    // Find k with distinct leaders for k+1 extending block k (d) and for k+2 extending block
    // k-1 (e), neither leading k. The first proposal that fits fixes k.
    let committee = h.committees[0].clone();
    let schedule = LeaderSchedule::new(&committee);
    let node_of: Vec<usize> = (0..4).map(|i| h.node_of(0, i)).collect();
    let start = upcoming_round(&h) + 1;
    #[derive(Clone, Copy)]
    struct Plan {
        k: u64,
        d: usize,
        e: usize,
        /// The fourth node: neither d, e nor the leader of k.
        c: usize,
    }
    let plan: RefCell<Option<Plan>> = RefCell::new(None);
    let seen_headers: RefCell<
        std::collections::BTreeMap<runnet_types::Hash, runnet_types::BlockHeader>,
    > = RefCell::new(
        h.nodes[0]
            .disk
            .borrow()
            .ledger
            .iter()
            .map(|b| (b.hash(), b.header().clone()))
            .collect(),
    );

    // Run until d proposes round k+1 (it then holds the certificate of block k): drop that
    // proposal, and cut d off until round k+2 is proposed.
    let cut = RefCell::new(false);
    let offer: RefCell<Option<Envelope>> = RefCell::new(None);
    let held: RefCell<Option<Envelope>> = RefCell::new(None);
    let ok = h.run_until(
        &mut |env: &Envelope| {
            if is_proposal(env) {
                let p = proposal_of(&env.msg);
                seen_headers
                    .borrow_mut()
                    .insert(p.block.hash(), p.block.header().clone());
            }
            if plan.borrow().is_none()
                && is_proposal(env)
                && round_of(env).is_some_and(|r| r >= start)
            {
                let p = proposal_of(&env.msg);
                let k = p.block.round();
                let lk = env.from;
                // The leaders by the rule (consensus/src/reputation.rs), from the headers of
                // block k and k-1; nothing was blamed in this run, so who is eligible is who a
                // header shows at work.
                let header = p.block.header().clone();
                let Some(parent) = seen_headers.borrow().get(&header.parent).cloned() else {
                    return true;
                };
                let at_work = |h: &runnet_types::BlockHeader| -> Vec<bool> {
                    // Seen at work in this block or one of the three before it.
                    let headers = seen_headers.borrow();
                    let mut mask = vec![false; committee.len()];
                    let mut cursor = Some(h.clone());
                    for _ in 0..crate::reputation::SEEN_BLOCKS {
                        let Some(h) = cursor else { break };
                        assert!(h.failed_leaders.is_empty());
                        for i in h
                            .justify_signers
                            .iter()
                            .copied()
                            .chain(committee.index_of(&h.proposer))
                        {
                            mask[i as usize] = true;
                        }
                        cursor = headers.get(&h.parent).cloned();
                    }
                    mask
                };
                let next = |from: u64, round: u64, mask: &[bool]| {
                    schedule
                        .leaders_from(from, round, mask)
                        .last()
                        .map(|l| l.leader)
                };
                let (Some(d), Some(e)) = (
                    next(k + 1, k + 1, &at_work(&header)),
                    next(k, k + 2, &at_work(&parent)),
                ) else {
                    return true;
                };
                let (d, e) = (node_of[d as usize], node_of[e as usize]);
                if lk != d && d != e && e != lk {
                    let c = (0..4).find(|i| *i != d && *i != e && *i != lk).unwrap();
                    *plan.borrow_mut() = Some(Plan { k, d, e, c });
                }
            }
            let Some(Plan { k, d, e, c }) = *plan.borrow() else {
                return true;
            };
            if is_proposal(env) && round_of(env) == Some(k + 1) {
                // d's proposal on its certificate of block k, and the one another leader makes
                // for round k+1 once the others time out round k (d leads no round reached
                // through a timeout right after its own: leader.rs), are both lost.
                if env.from == d {
                    *cut.borrow_mut() = true;
                }
                return false;
            }
            if env.from == e && is_proposal(env) && round_of(env) == Some(k + 2) {
                if env.to == d {
                    offer.borrow_mut().get_or_insert_with(|| env.clone());
                }
                if env.to == c {
                    held.borrow_mut().get_or_insert_with(|| env.clone());
                    return false;
                }
            }
            !*cut.borrow() || (env.from != d && env.to != d)
        },
        &mut |_| offer.borrow().is_some() && held.borrow().is_some(),
        400,
    );
    assert!(ok);
    assert!(*cut.borrow());
    let Plan { k, d, e, c } = plan.into_inner().unwrap_or_else(|| unreachable!());
    let lock = h.nodes[d].core().highest_qc().clone();
    assert_eq!(lock.round(), k, "d certified block k");
    let offer = offer.into_inner().unwrap_or_else(|| unreachable!());
    let p = proposal_of(&offer.msg);
    let tc = p.tc.clone().expect("round k+2 follows a timeout");
    assert!(
        tc.max_hqc_round() < k,
        "the certificate does not carry d's lock"
    );
    assert!(p.block.justify.round() < k);

    // d votes for it.
    h.queue.retain(|env| env.to != d);
    let actions = h.deliver(offer.clone());
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::PersistSafety(s) if s.last_vote.as_ref().is_some_and(|v| v.data.block == p.block.hash())))
    );

    // A block for round k+2 extending a certificate below the timeout certificate's locks is
    // refused, though it is signed by the right leader.
    let core_c = h.nodes[c].core();
    let below = core_c.tree().parent_info(&p.block.justify.data.parent);
    let justify_block = core_c
        .tree()
        .get(&p.block.justify.block())
        .map(|b| b.block.clone());
    let grand_qc = justify_block.map(|b| b.justify.clone());
    let (Some(parent), Some(grand_qc)) = (below, grand_qc) else {
        panic!("block k-2 and its certificate are known to c");
    };
    {
        let fork = h.nodes[e]
            .core()
            .build_proposal(parent, grand_qc, k + 2, Some(tc.clone()), vec![], h.now)
            .unwrap();
        let msg = ConsensusMessage {
            sync: offer.msg.sync.clone(),
            body: MessageBody::Proposal(fork),
        };
        h.deliver(Envelope {
            from: e,
            to: c,
            msg,
        });
        assert!(
            matches!(
                h.nodes[c].core().stats().last_refusal,
                Some(Refusal::Safety(SafetyError::NotSafeToVote { .. }))
            ),
            "{:?}",
            h.nodes[c].core().stats().last_refusal
        );
    }
    // The real block still gets c's vote.
    let held = held.into_inner().unwrap_or_else(|| unreachable!());
    let actions = h.deliver(held);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::PersistSafety(_)))
    );

    // Everyone goes on; block k is never committed anywhere.
    let height = h.min_height();
    settle(&mut h, height + 4);
    h.assert_agreement();
    for n in &h.nodes {
        assert!(
            n.disk
                .borrow()
                .ledger
                .iter()
                .all(|b| b.hash() != lock.block())
        );
    }
}
