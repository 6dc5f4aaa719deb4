//! Crashes written by hand: between persisting a vote or a timeout and sending it, everyone at
//! once, and a restart that kept only the last committed blocks.

use super::harness::{Envelope, Harness, is_proposal};
use super::scenarios::{capture_proposal, proposal_of, settle, upcoming_round};
use crate::core::{Action, Event, Refusal};
use crate::safety::SafetyError;
use runnet_types::consensus::{ConsensusMessage, MessageBody};

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
    let other = crate::byzantine::variant_of(h.nodes[l].core(), &proposal_of(&msg)).unwrap();
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
