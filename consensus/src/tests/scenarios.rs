//! Twins-style scenarios written by hand: an equivocating leader under a partition, a node with
//! a stale lock, and a crash between persisting a vote and sending it.

use super::harness::{Envelope, Harness, is_proposal, round_of};
use crate::core::{Action, Event, Refusal};
use crate::leader::LeaderSchedule;
use crate::safety::SafetyError;
use runnet_types::consensus::{ConsensusMessage, Evidence, MessageBody, Proposal};
use std::cell::RefCell;

fn settle(h: &mut Harness, height: u64) {
    let ok = h.run_until(&mut |_| true, &mut |h| h.min_height() >= height, 1_000);
    assert!(ok, "stuck below height {height}: {}", h.min_height());
}

fn proposal_of(msg: &ConsensusMessage) -> Proposal {
    match &msg.body {
        MessageBody::Proposal(p) => p.clone(),
        other => panic!("not a proposal: {other:?}"),
    }
}

/// Runs until `leader` broadcasts its proposal for `round`, which is taken off the network.
fn capture_proposal(h: &mut Harness, leader: usize, round: u64) -> ConsensusMessage {
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

fn upcoming_round(h: &Harness) -> u64 {
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
    let p2 = h.nodes[l].core().forge_variant(&p1).unwrap();
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
    let below = core_c.tree.parent_info(&p.block.justify.data.parent);
    let justify_block = core_c
        .tree
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

#[test]
fn a_crash_between_persisting_a_vote_and_sending_it() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 2);
    let round = upcoming_round(&h) + 1;
    let l = h.leader(0, round);
    let v = (0..4)
        .find(|i| *i != l && *i != h.leader(0, round + 1))
        .unwrap();
    let msg = capture_proposal(&mut h, l, round);
    let from = h.nodes[l].address;

    // v handles the proposal; only the safety write happens before it crashes.
    let actions = h.nodes[v].core_mut().handle(Event::Message {
        from,
        message: msg.clone(),
        now_ms: h.now,
    });
    // Everything up to the safety write happens (a commit may come first); nothing after it.
    let write = actions
        .iter()
        .position(|a| matches!(a, Action::PersistSafety(_)))
        .expect("the vote is persisted");
    let persisted: Vec<Action> = actions[..=write].to_vec();
    assert!(
        !persisted.iter().any(|a| matches!(a, Action::Send { .. })),
        "nothing is sent before the safety data: {actions:?}"
    );
    let sent_vote = actions.iter().find_map(|a| match a {
        Action::Send { message, .. } => match &message.body {
            MessageBody::Vote(vote) => Some(vote.clone()),
            _ => None,
        },
        _ => None,
    });
    let sent_vote = sent_vote.expect("a vote after the safety data");
    h.perform(v, &persisted);
    h.crash(v);

    // Restarted from what was persisted, asked again: the very same vote, nothing new to write.
    h.restart(v);
    let again = h.feed(
        v,
        Event::Message {
            from,
            message: msg.clone(),
            now_ms: h.now,
        },
    );
    let resent: Vec<_> = again
        .iter()
        .filter_map(|a| match a {
            Action::Send { message, .. } => match &message.body {
                MessageBody::Vote(vote) => Some(vote.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(resent, vec![sent_vote]);

    // A different block for the same round, from the same leader: no second vote.
    let other = h.nodes[l].core().forge_variant(&proposal_of(&msg)).unwrap();
    let actions = h.feed(
        v,
        Event::Message {
            from,
            message: ConsensusMessage {
                sync: msg.sync.clone(),
                body: MessageBody::Proposal(other),
            },
            now_ms: h.now,
        },
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::PersistSafety(_)) || matches!(a, Action::Send { message, .. } if matches!(message.body, MessageBody::Vote(_))))
    );
    assert!(matches!(
        h.nodes[v].core().stats().last_refusal,
        Some(Refusal::Safety(SafetyError::AlreadyVoted { .. }))
    ));

    // Deliver the real proposal everywhere; the chain goes on and agrees.
    for to in 0..4 {
        if to != l && to != v {
            h.queue.push_back(Envelope {
                from: l,
                to,
                msg: msg.clone(),
            });
        }
    }
    let height = h.min_height();
    settle(&mut h, height + 3);
    h.assert_agreement();
}

#[test]
fn a_crash_between_persisting_a_timeout_and_sending_it() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 2);
    // Lose every proposal so the round times out.
    let v = 1;
    let round_before = h.nodes[v].core().round();
    let timeout_actions = loop {
        h.run(&mut |e| !is_proposal(e));
        let Some(at) = h.nodes[v].timer else {
            panic!("no timer")
        };
        h.now = h.now.max(at);
        h.nodes[v].timer = None;
        let actions = h.nodes[v].core_mut().handle(Event::Timer { now_ms: h.now });
        if actions.iter().any(|a| matches!(a, Action::Broadcast { message } if matches!(message.body, MessageBody::Timeout(_)))) {
            break actions;
        }
        h.perform(v, &actions);
    };
    let timeout = timeout_actions
        .iter()
        .find_map(|a| match a {
            Action::Broadcast { message } => match &message.body {
                MessageBody::Timeout(t) => Some(t.clone()),
                _ => None,
            },
            _ => None,
        })
        .unwrap();
    assert!(timeout.data.round >= round_before);
    assert!(matches!(timeout_actions[0], Action::PersistSafety(_)));
    h.perform(v, &timeout_actions[..1]);
    h.crash(v);
    h.restart(v);
    // The restarted node is back in the same round and, when its timer fires, re-sends the
    // same timeout rather than signing another.
    assert_eq!(h.nodes[v].core().round(), timeout.data.round);
    let mut resent = None;
    for _ in 0..40 {
        let Some(at) = h.nodes[v].timer else { break };
        h.now = h.now.max(at);
        h.nodes[v].timer = None;
        let actions = h.feed(v, Event::Timer { now_ms: h.now });
        resent = actions.iter().find_map(|a| match a {
            Action::Broadcast { message } => match &message.body {
                MessageBody::Timeout(t) => Some(t.clone()),
                _ => None,
            },
            _ => None,
        });
        if resent.is_some() {
            break;
        }
    }
    assert_eq!(resent, Some(timeout));
    h.queue.clear();
    let height = h.min_height();
    settle(&mut h, height + 2);
    h.assert_agreement();
}

/// Everyone crashes at once, mid-round, and restarts from disk only: the safety data brings back
/// the rounds reached, the certificates and the uncommitted certified blocks, so the chain goes
/// on without anyone signing anything twice.
#[test]
fn everyone_crashes_and_restarts_from_disk() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 4);
    for round in 0..3 {
        // Rounds fail for a while (every proposal lost): the rounds reached and the timeout
        // certificates live only in memory and in the safety data.
        let target = h.nodes[0].core().round() + 3;
        let ok = h.run_until(
            &mut |e| !is_proposal(e),
            &mut |h| h.nodes.iter().all(|n| n.core().round() >= target),
            400,
        );
        assert!(ok);
        // Then stop in the middle of a round: some messages delivered, others not.
        let mut budget: usize = 3 + round * 2;
        h.run(&mut |_| {
            budget = budget.saturating_sub(1);
            budget > 0
        });
        let signed: Vec<_> = h
            .nodes
            .iter()
            .map(|n| n.disk.borrow().safety.clone())
            .collect();
        for i in 0..4 {
            h.crash(i);
        }
        for (i, before) in signed.iter().enumerate() {
            h.restart(i);
            // Nothing signed before the crash is forgotten.
            let now = h.nodes[i].core().safety_data().clone();
            if let Some(before) = before {
                assert!(now.last_voted_round >= before.last_voted_round);
                assert_eq!(now.epoch, before.epoch);
            }
        }
        let height = h.min_height();
        settle(&mut h, height + 2);
        h.assert_agreement();
    }
}

/// A validator restarted with only its last few committed blocks (the rest pruned) computes the
/// same leaders as the others: who may not lead travels in headers (`leader_exclusions`), not in
/// the history a node happens to keep. (The first version read the blames back from the last
/// 1,000 committed blocks; with `retain_blocks` 10 a restarted node took an excluded validator
/// for eligible, refused the others' proposals, and a network that needed its vote stalled: the
/// receipts kill test, 2 validators, about one run in eight.)
#[test]
fn a_restarted_validator_that_pruned_its_history_agrees_on_leaders() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 3);
    // One validator votes but never gets a proposal through (it withholds): the rounds it
    // leads fail, and the blocks after them exclude it, alive and seen at work as it is.
    // (Node 0: the scripted network delivers in node order, so its votes are in every
    // certificate and it is seen at work; the last node's never are, and it never leads.)
    let withholder = 0;
    let restarted = 2;
    let mut keep = |e: &Envelope| !(e.from == withholder && is_proposal(e));
    let withholder_address = h.nodes[withholder].address;
    let excluded = |h: &Harness| {
        h.nodes[1].disk.borrow().ledger.last().is_some_and(|b| {
            b.header()
                .leader_exclusions
                .iter()
                .any(|(who, _)| *who == withholder_address)
        })
    };
    let ok = h.run_until(&mut keep, &mut |h| excluded(h), 3_000);
    assert!(
        ok,
        "the withholder was never excluded: heights {:?}, last header {:?}, refused {:?}",
        (0..4).map(|i| h.nodes[i].height()).collect::<Vec<_>>(),
        h.nodes[1]
            .disk
            .borrow()
            .ledger
            .last()
            .map(|b| b.header().clone()),
        h.nodes[1].core().stats().refused
    );
    // Another restarts having kept only its last two committed blocks.
    let tip = h.nodes[restarted].height();
    h.nodes[restarted].disk.borrow_mut().pruned_below = tip.saturating_sub(1);
    h.crash(restarted);
    h.restart(restarted);
    let target = h.nodes[1].height() + 20;
    let ok = h.run_until(
        &mut keep,
        &mut |h| (0..4).all(|i| h.nodes[i].height() >= target),
        3_000,
    );
    assert!(
        ok,
        "stalled at {:?}",
        (0..4).map(|i| h.nodes[i].height()).collect::<Vec<_>>()
    );
    // It took the same leaders as everyone: it refused no proposal for its leader or its
    // blames, and voted throughout.
    let refused = &h.nodes[restarted].core().stats().refused;
    assert_eq!(refused.get("not_leader"), None, "{refused:?}");
    assert_eq!(refused.get("bad_block"), None, "{refused:?}");
    assert!(h.nodes[restarted].core().stats().votes >= 20);
    // And the withholder stays out of the lead: no committed block after the restart is its.
    let ledger = h.nodes[restarted].disk.borrow();
    assert!(
        ledger.ledger[tip as usize..]
            .iter()
            .all(|b| b.header().proposer != withholder_address)
    );
    drop(ledger);
    h.assert_agreement();
}
