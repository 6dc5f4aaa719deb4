//! Refusals come back in the output: every refusal the core counts in `Stats::refused` is also
//! an `Action::Refused` of the event that caused it, so a driver learns why without diffing
//! counters.

use super::harness::{Envelope, Harness, is_vote};
use crate::core::{Action, Event, Refusal};
use runnet_types::consensus::MessageBody;
use std::cell::{Cell, RefCell};

fn refusals(actions: &[Action]) -> Vec<&Refusal> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Refused(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The first vote sent once the chain is at `height`, held back.
fn capture_vote(h: &mut Harness, height: u64) -> Envelope {
    let held: RefCell<Option<Envelope>> = RefCell::new(None);
    let ok = h.run_until(
        &mut |e| {
            if held.borrow().is_none() && is_vote(e) {
                held.borrow_mut().replace(e.clone());
                return false;
            }
            true
        },
        &mut |h| h.min_height() >= height && held.borrow().is_some(),
        500,
    );
    assert!(ok, "no vote at height {height}");
    held.into_inner().unwrap_or_else(|| unreachable!())
}

#[test]
fn a_refused_message_yields_its_refusal_in_the_output() {
    let mut h = Harness::new(4);
    h.start();
    let mut env = capture_vote(&mut h, 2);
    let MessageBody::Vote(v) = &mut env.msg.body else {
        unreachable!()
    };
    // Signed by no one: a forgery.
    v.signature = Default::default();
    let to = env.to;
    let before = h.nodes[to]
        .core()
        .stats()
        .refused
        .get("bad_signature")
        .copied();
    let actions = h.deliver(env);
    assert_eq!(
        refusals(&actions),
        vec![&Refusal::BadSignature("vote")],
        "{actions:?}"
    );
    // Still counted too.
    let after = h.nodes[to]
        .core()
        .stats()
        .refused
        .get("bad_signature")
        .copied();
    assert_eq!(after, Some(before.unwrap_or(0) + 1));
}

#[test]
fn a_message_of_a_past_round_yields_a_stale_round_refusal() {
    let mut h = Harness::new(4);
    h.start();
    let env = capture_vote(&mut h, 2);
    // Let the chain move well past the vote's round, then deliver it late.
    let height = h.min_height() + 3;
    let ok = h.run_until(&mut |_| true, &mut |h| h.min_height() >= height, 500);
    assert!(ok);
    let actions = h.deliver(env);
    let refused = refusals(&actions);
    assert!(
        matches!(refused.as_slice(), [Refusal::StaleRound { .. }]),
        "{actions:?}"
    );
    // A refusal is all such an event says: nothing is signed or sent for it.
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::PersistSafety(_) | Action::Send { .. })),
        "{actions:?}"
    );
}

/// On a lossy network with a crash and a restart, the refusals returned, kind by kind, are
/// exactly the ones counted: from messages, timers, payload and execution events alike.
#[test]
fn every_refusal_counted_is_in_the_output() {
    let mut h = Harness::new(4);
    h.start();
    let n = Cell::new(0u64);
    let mut lossy = |_: &Envelope| {
        n.set(n.get() + 1);
        !n.get().is_multiple_of(5)
    };
    let ok = h.run_until(&mut lossy, &mut |h| h.min_height() >= 6, 2_000);
    assert!(ok, "stuck at {}", h.min_height());
    h.crash(3);
    let ok = h.run_until(&mut lossy, &mut |h| h.nodes[0].height() >= 10, 2_000);
    assert!(ok, "stuck at {}", h.nodes[0].height());
    h.restart(3);
    let target = h.nodes[0].height() + 6;
    let ok = h.run_until(&mut lossy, &mut |h| h.min_height() >= target, 3_000);
    assert!(ok, "stuck at {}", h.min_height());
    // Some idle timer events as well.
    for _ in 0..5 {
        h.fire_next_timer();
        h.run(&mut lossy);
    }
    let mut total = 0;
    for (i, node) in h.nodes.iter().enumerate() {
        let counted = &node.core().stats().refused;
        assert_eq!(&node.refused, counted, "node {i}");
        total += counted.values().sum::<u64>();
    }
    assert!(total > 0, "the scenario refused nothing");
    // A timer event refuses nothing it does not also return.
    let at = h.now;
    h.feed(0, Event::Timer { now_ms: at });
    assert_eq!(
        &h.nodes[0].refused,
        &h.nodes[0].core().stats().refused,
        "after a timer"
    );
}
