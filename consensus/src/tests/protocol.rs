//! The core's rules end to end on a scripted network: commits, the pacemaker's timing, payload,
//! epochs, catching up and evidence.

use super::harness::{Harness, committee_of, is_proposal, is_vote, round_of};
use crate::core::{Action, Event};
use runnet_types::Hash;
use runnet_types::consensus::{MessageBody, ProposedBlock};
use std::sync::Arc;

fn proposals(actions: &[Action]) -> Vec<(u64, usize)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Broadcast { message } => match &message.body {
                MessageBody::Proposal(p) => Some((p.block.round(), p.block.block.batches.len())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Runs a healthy network until every node committed `height`.
fn settle(h: &mut Harness, height: u64) {
    let ok = h.run_until(&mut |_| true, &mut |h| h.min_height() >= height, 500);
    assert!(ok, "stuck below height {height}: {}", h.min_height());
}

#[test]
fn a_healthy_network_commits_the_same_chain_by_two_chains() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 10);
    h.assert_agreement();
    for node in &h.nodes {
        let disk = node.disk.borrow();
        let tip = disk.tip.as_ref().unwrap();
        // The proof of every commit is a certificate on a child of the previous round.
        assert!(tip.proof.qc.data.commits_parent());
        assert_eq!(tip.proof.qc.data.parent, tip.block.hash());
        // Heights follow each other and each block names its parent.
        for pair in disk.ledger.windows(2) {
            assert_eq!(pair[1].header().parent, pair[0].hash());
            assert_eq!(pair[1].height(), pair[0].height() + 1);
        }
        // Seeds chain from the genesis seed through each VRF output.
        let mut seed = runnet_types::block::genesis_seed("test", &h.genesis);
        for c in &node.commits {
            seed = runnet_types::block::next_seed(&seed, &c.vrf_output);
            assert_eq!(c.seed, seed);
        }
    }
}

#[test]
fn a_certificate_after_a_timeout_does_not_commit_its_grandparent() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 3);
    // Lose every vote of the next round: it ends with a timeout certificate.
    let round = h.nodes[0].core().round().max(h.nodes[1].core().round());
    let committed_before: Vec<u64> = h.nodes.iter().map(|n| n.height()).collect();
    let lost = round + 1;
    let mut keep = move |e: &super::harness::Envelope| !(is_vote(e) && round_of(e) == Some(lost));
    let ok = h.run_until(
        &mut keep,
        &mut |h| h.nodes.iter().all(|n| n.core().round() > lost + 1),
        50,
    );
    assert!(ok);
    // Rounds `lost` and `lost + 1` are not consecutive certified rounds: whatever certificate
    // round `lost + 1` produced, the block it extends (from before `lost`) is not committed by it.
    for (n, before) in h.nodes.iter().zip(committed_before) {
        for c in n.commits.iter().filter(|c| c.block.height() > before) {
            assert_ne!(
                c.block.round(),
                lost,
                "a block of the failed round cannot commit"
            );
        }
    }
    // The chain recovers and agrees.
    let target = h.min_height() + 3;
    settle(&mut h, target);
    h.assert_agreement();
}

#[test]
fn an_idle_leader_waits_for_the_empty_block_interval() {
    let mut h = Harness::new(4);
    let leader = h.leader(0, 1);
    let actions = h.feed(leader, Event::Start { now_ms: 0 });
    assert!(
        proposals(&actions).is_empty(),
        "nothing to order: no block yet"
    );
    // The timer is set for the end of the wait (1 s), before the round timeout (2 s).
    assert!(actions.contains(&Action::SetTimer { at_ms: 1_000 }));
    let early = h.feed(leader, Event::Timer { now_ms: 999 });
    assert!(proposals(&early).is_empty());
    let due = h.feed(leader, Event::Timer { now_ms: 1_000 });
    assert_eq!(proposals(&due), vec![(1, 0)], "an empty block after 1 s");
}

#[test]
fn a_new_transaction_is_proposed_at_once() {
    let mut h = Harness::new(4);
    let leader = h.leader(0, 1);
    let actions = h.feed(leader, Event::Start { now_ms: 0 });
    assert!(proposals(&actions).is_empty());
    let batch = Hash([42; 32]);
    {
        let mut m = h.nodes[leader].mempool.borrow_mut();
        m.available.insert(batch);
        m.own.push(batch);
    }
    let ready = h.feed(leader, Event::PayloadReady { now_ms: 15 });
    assert_eq!(
        proposals(&ready),
        vec![(1, 1)],
        "proposed 15 ms in, not 1 s"
    );
}

#[test]
fn blocks_carrying_payload_are_followed_at_once_until_they_commit() {
    let mut h = Harness::new(4);
    let batch = Hash([42; 32]);
    for n in &h.nodes {
        n.mempool.borrow_mut().available.insert(batch);
    }
    h.nodes[h.leader(0, 1)].mempool.borrow_mut().own.push(batch);
    h.start();
    h.run_all();
    // No timer fired, yet the block with the batch committed: the blocks after it did not wait.
    assert_eq!(h.now, 0);
    assert!(h.nodes.iter().all(|n| n.height() >= 1));
    assert_eq!(h.nodes[0].commits[0].block.block.batches, vec![batch]);
}

#[test]
fn a_validator_votes_only_once_it_holds_every_batch() {
    let mut h = Harness::new(4);
    let leader = h.leader(0, 1);
    let batch = Hash([9; 32]);
    {
        let mut m = h.nodes[leader].mempool.borrow_mut();
        m.available.insert(batch);
        m.own.push(batch);
    }
    h.start();
    let voter = (0..4).find(|i| *i != leader).unwrap();
    // Deliver the proposal to the voter, who lacks the batch.
    let proposal = h
        .queue
        .iter()
        .position(|e| is_proposal(e) && e.to == voter)
        .unwrap();
    let env = h.queue.remove(proposal).unwrap();
    let actions = h.deliver(env);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::PersistSafety(_))),
        "no vote yet"
    );
    // The batch arrives: the parked proposal gets its vote.
    h.nodes[voter].mempool.borrow_mut().available.insert(batch);
    let actions = h.feed(voter, Event::PayloadReady { now_ms: 5 });
    assert!(matches!(actions[0], Action::PersistSafety(_)));
    assert!(actions.iter().any(|a| matches!(a, Action::Send { message, .. } if matches!(message.body, MessageBody::Vote(_)))));
}

#[test]
fn round_timeouts_double_until_the_cap_and_reset_on_commit() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 2);
    // Lose every proposal: rounds end by timeout certificates only. (The first failed round
    // started before the losses did, so its length is not measured.)
    let mut gaps = Vec::new();
    for _ in 0..7 {
        let round = h.nodes[0].core().round();
        let entered = h.now;
        let ok = h.run_until(
            &mut |e| !is_proposal(e),
            &mut |h| h.nodes[0].core().round() > round,
            200,
        );
        assert!(ok);
        gaps.push((h.now - entered) / 1_000);
    }
    // Failed rounds time out after 2 (unmeasured), 4, 8, 16 s, then at the 30 s cap.
    assert_eq!(&gaps[1..], &[4, 8, 16, 30, 30, 30], "{gaps:?}");
    // Let proposals through: a commit brings the timeout back to the base.
    let height = h.min_height();
    settle(&mut h, height + 1);
    let round = h.nodes[0].core().round();
    let entered = h.now;
    let ok = h.run_until(
        &mut |e| !is_proposal(e),
        &mut |h| h.nodes[0].core().round() > round,
        200,
    );
    assert!(ok);
    assert!(h.now - entered <= 2_000, "{}", h.now - entered);
}

/// A crashed validator stops being scheduled while the chain moves. On the plain schedule each of
/// its turns cost two timeouts: the votes for the block before its round go to it and are lost,
/// then its own round times out.
#[test]
fn a_crashed_validator_is_skipped_while_the_chain_moves() {
    let mut h = Harness::new(4);
    h.start();
    settle(&mut h, 3);
    h.crash(2);
    let before = h.nodes[0].core().stats().timeouts;
    let start = h.nodes[0].height();
    let ok = h.run_until(
        &mut |_| true,
        &mut |h| h.nodes[0].height() >= start + 40,
        2_000,
    );
    assert!(ok);
    let timeouts = h.nodes[0].core().stats().timeouts - before;
    // Forty blocks span about twenty turns of the crashed validator; only the rounds entered by
    // a timeout follow the schedule, so it is met again only by bad luck right after one.
    assert!(timeouts <= 4, "{timeouts} timeouts for 40 blocks");
    for i in [0, 1, 3] {
        assert!(h.nodes[i].height() >= start + 38, "node {i} keeps up");
    }
}

#[test]
fn a_lagging_node_catches_up_through_sync() {
    let mut h = Harness::new(4);
    h.start();
    // Node 3 hears nothing for a while.
    let ok = h.run_until(
        &mut |e| e.to != 3 && e.from != 3,
        &mut |h| h.nodes[0].height() >= 15,
        2_000,
    );
    assert!(ok);
    assert_eq!(h.nodes[3].height(), 0);
    settle(&mut h, 16);
    h.assert_agreement();
    assert!(h.nodes[3].core().stats().sync_requests > 0);
}

/// Each epoch's last block is its first stamped at or after the committee's end time.
fn assert_epoch_ends(ledger: &[Arc<ProposedBlock>], ends_ms: &[u64]) {
    for (epoch, end_ms) in ends_ms.iter().enumerate() {
        let blocks: Vec<&Arc<ProposedBlock>> = ledger
            .iter()
            .filter(|b| b.epoch() == epoch as u64)
            .collect();
        let (last, before) = blocks.split_last().expect("the epoch has blocks");
        assert!(
            last.header().timestamp_ms >= *end_ms,
            "epoch {epoch} ended at {} ms, before its end {end_ms}",
            last.header().timestamp_ms
        );
        assert!(
            before.iter().all(|b| b.header().timestamp_ms < *end_ms),
            "epoch {epoch} went on past a block stamped after its end"
        );
    }
}

#[test]
fn epochs_change_committees_and_the_chain_goes_on() {
    // Epoch 0: nodes 0-3, ends at 4.5 s of chain time. Epoch 1: nodes 1-4 (node 0 leaves, node
    // 4 joins), other stakes, ends at 10.5 s. Epoch 2: all five.
    let ends = [4_500, 10_500];
    let c0 = committee_of(&[0, 1, 2, 3], &[1, 1, 1, 1], 0, ends[0]);
    let c1 = committee_of(&[1, 2, 3, 4], &[5, 1, 2, 3], 1, ends[1]);
    let c2 = committee_of(&[0, 1, 2, 3, 4], &[1, 1, 1, 1, 1], 2, u64::MAX);
    let mut h = Harness::with_committees(5, vec![c0, c1, c2]);
    h.start();
    let ok = h.run_until(
        &mut |_| true,
        &mut |h| h.nodes.iter().all(|n| n.core().epoch() == 2) && h.min_height() >= 14,
        2_000,
    );
    assert!(ok, "stuck at height {}", h.min_height());
    h.assert_agreement();
    let ledger = h.nodes[4].disk.borrow().ledger.clone();
    let epochs: Vec<u64> = ledger.iter().map(|b| b.epoch()).collect();
    assert!(epochs.windows(2).all(|w| w[0] <= w[1]), "{epochs:?}");
    assert_epoch_ends(&ledger, &ends);
    let first_of_1 = epochs.iter().position(|e| *e == 1).unwrap();
    let first_of_2 = epochs.iter().position(|e| *e == 2).unwrap();
    assert!(
        first_of_1 >= 2 && first_of_2 >= first_of_1 + 2,
        "{epochs:?}"
    );
    // Blocks after each epoch's last one start at round 1 on top of it.
    for first in [first_of_1, first_of_2] {
        assert_eq!(ledger[first].header().parent, ledger[first - 1].hash());
        assert_eq!(ledger[first].justify.round(), 0);
    }
    // Node 0 sat out epoch 1: it followed without voting, and proposed nothing there.
    assert!(
        ledger[first_of_1..first_of_2]
            .iter()
            .all(|b| b.header().proposer != h.nodes[0].address)
    );
    // Each epoch's end was proven and stored for peers that catch up later.
    let disk = h.nodes[1].disk.borrow();
    assert!(disk.proofs.contains_key(&0) && disk.proofs.contains_key(&1));
}

#[test]
fn a_node_far_behind_walks_through_epochs() {
    let ends = [3_500, 7_500];
    let c0 = committee_of(&[0, 1, 2, 3], &[1, 1, 1, 1], 0, ends[0]);
    let c1 = committee_of(&[0, 1, 2, 3], &[2, 1, 1, 1], 1, ends[1]);
    let c2 = committee_of(&[0, 1, 2, 3], &[1, 1, 1, 1], 2, u64::MAX);
    let mut h = Harness::with_committees(4, vec![c0, c1, c2]);
    h.start();
    let ok = h.run_until(
        &mut |e| e.to != 3 && e.from != 3,
        &mut |h| h.nodes[0].core().epoch() == 2 && h.nodes[0].height() >= 12,
        4_000,
    );
    assert!(ok, "stuck at height {}", h.nodes[0].height());
    assert_eq!(h.nodes[3].core().epoch(), 0);
    let target = h.nodes[0].height() + 1;
    settle(&mut h, target);
    h.assert_agreement();
    assert_eq!(h.nodes[3].core().epoch(), 2);
    assert_epoch_ends(&h.nodes[3].disk.borrow().ledger, &ends);
}

#[test]
fn an_idle_network_makes_a_block_a_second_and_little_work() {
    let mut h = Harness::new(4);
    h.start();
    let mut delivered = 0u64;
    let mut timers = 0u64;
    let mut timeouts = 0u64;
    while h.now < 60_000 {
        h.run(&mut |e| {
            delivered += 1;
            timeouts += u64::from(matches!(e.msg.body, MessageBody::Timeout(_)));
            true
        });
        timers += 1;
        h.fire_next_timer();
    }
    let height = h.min_height();
    // About one empty block per second (each round waits the 1 s interval, plus a little).
    assert!((50..=61).contains(&height), "{height} blocks in 60 s");
    // A handful of messages and timer wake-ups per block for the whole network: no spinning.
    let per_block = (delivered + timers) as f64 / height as f64;
    assert!(per_block < 12.0, "{per_block} events per block");
    assert_eq!(timeouts, 0, "an idle round never times out");
    h.assert_agreement();
}

/// A block whose batches, once held, are over the block's limits gets no vote (issue 14,
/// finding 2): a byzantine leader cannot make every node decode and execute a giant block.
#[test]
fn a_block_over_the_limits_gets_no_vote() {
    let mut h = Harness::new(4);
    let leader = h.leader(0, 1);
    let batch = Hash([9; 32]);
    for n in &h.nodes {
        let mut m = n.mempool.borrow_mut();
        m.available.insert(batch);
        m.oversized.insert(batch);
    }
    h.nodes[leader].mempool.borrow_mut().own.push(batch);
    h.start();
    h.run_all();
    for (i, n) in h.nodes.iter().enumerate() {
        assert_eq!(n.core().stats().votes, 0, "node {i} voted");
        assert_eq!(n.height(), 0);
        assert_eq!(n.core().stats().refused.get("over_limit"), Some(&1));
    }
}

/// The block pace (issue 15): with a minimum interval, a block follows its parent by at least
/// that much chain time, unless its payload fills it; a full block goes at once.
#[test]
fn blocks_keep_the_pace_unless_they_fill_themselves() {
    for full in [false, true] {
        let mut h = Harness::new(4);
        let interval = 100;
        let params = runnet_types::genesis::ConsensusParams {
            min_block_interval_ms: interval,
            ..h.params.clone()
        };
        h.set_params(params);
        // Every node always has something to order, and holds everyone's batches.
        let all: Vec<Hash> = (0..4u8)
            .flat_map(|i| (0..50u8).map(move |k| Hash([i * 64 + k; 32])))
            .collect();
        for (i, n) in h.nodes.iter().enumerate() {
            let mut m = n.mempool.borrow_mut();
            m.full = full;
            m.available.extend(all.iter().copied());
            m.own = all[i * 50..(i + 1) * 50].to_vec();
        }
        h.start();
        let ok = h.run_until(&mut |_| true, &mut |h| h.min_height() >= 30, 2_000);
        assert!(ok, "full={full}: stuck at {}", h.min_height());
        h.assert_agreement();
        let disk = h.nodes[0].disk.borrow();
        let stamps: Vec<u64> = disk
            .ledger
            .iter()
            .map(|b| b.header().timestamp_ms)
            .collect();
        for pair in stamps.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= 1, "chain time moves forward: {stamps:?}");
            if full {
                assert!(gap < interval, "a full block waits for nothing: {stamps:?}");
            } else {
                assert!(gap >= interval, "a block keeps the pace: {stamps:?}");
            }
        }
        // And no round timed out for it: the wait is well inside the round timeout.
        for n in &h.nodes {
            assert_eq!(n.core().stats().timeouts, 0, "full={full}");
        }
    }
}

/// Votes that arrive after the quorum but before the proposal on it are counted into its
/// certificate, so blocks name every validator that voted in time. On this network votes
/// arrive in node order, and with only the first quorum the last node was in no certificate,
/// never seen at work and never a leader (and downtime would jail it).
#[test]
fn certificates_name_every_timely_voter() {
    let mut h = Harness::new(4);
    let params = runnet_types::genesis::ConsensusParams {
        min_block_interval_ms: 100,
        ..h.params.clone()
    };
    h.set_params(params);
    h.start();
    settle(&mut h, 24);
    h.assert_agreement();
    let disk = h.nodes[0].disk.borrow();
    let blocks: Vec<_> = disk.ledger.iter().skip(4).collect();
    for b in &blocks {
        assert_eq!(
            b.header().justify_signers,
            vec![0, 1, 2, 3],
            "height {}",
            b.height()
        );
    }
    // Everyone leads in turn.
    let proposers: std::collections::BTreeSet<_> =
        blocks.iter().map(|b| b.header().proposer).collect();
    assert_eq!(proposers.len(), 4);
    drop(disk);
    assert!(
        h.nodes
            .iter()
            .map(|n| n.core().stats().late_votes)
            .sum::<u64>()
            > 0
    );
}
