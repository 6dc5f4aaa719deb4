//! Honest nodes on loopback: broadcast, direct sends, batch fetch, redial, chain separation.

mod common;

use common::*;
use runnet_p2p::{Limits, Network, NetworkError, NetworkEvent, NetworkEvents, PeerId};
use runnet_types::Hash;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

const MARKER: u8 = 0xff;

/// A payload naming its origin and sequence number, padded to `len`.
fn payload(origin: u8, seq: u8, len: usize) -> Arc<Vec<u8>> {
    let mut bytes = vec![origin, seq];
    bytes.resize(len.max(2), 0xab);
    Arc::new(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_every_peer_exactly_once() {
    const PER_NODE: u8 = 20;
    let nodes = mesh(10, 4).await;
    let ids: HashMap<PeerId, u8> = nodes
        .iter()
        .enumerate()
        .map(|(i, (net, _))| (net.local_peer_id(), i as u8))
        .collect();
    for (i, (net, _)) in nodes.iter().enumerate() {
        for seq in 0..PER_NODE {
            // Batches of varied size, up to about 300 KiB.
            net.broadcast_batch(payload(i as u8, seq, 1 + usize::from(seq) * 15_000));
            net.broadcast_consensus(payload(i as u8, seq, 200));
        }
        // Each stream is in order, so a peer's marker comes after all its messages.
        net.broadcast_batch(payload(i as u8, MARKER, 2));
        net.broadcast_consensus(payload(i as u8, MARKER, 2));
    }
    let nets: Vec<Network> = nodes.iter().map(|(n, _)| n.clone()).collect();
    for (me, (_, mut events)) in nodes.into_iter().enumerate() {
        // (kind, origin, seq) -> times seen
        let mut seen: BTreeMap<(bool, u8, u8), u32> = BTreeMap::new();
        let mut markers = 0;
        while markers < 6 {
            let Ok(event) = tokio::time::timeout(PATIENCE, events.recv()).await else {
                let stats: Vec<_> = nets.iter().map(|n| n.stats()).collect();
                panic!("node {me} stuck with {markers} markers, {seen:?}; stats {stats:#?}");
            };
            let event = event.unwrap();
            let (is_batch, from, bytes) = match event {
                NetworkEvent::Batch { from, bytes } => (true, from, bytes),
                NetworkEvent::Consensus { from, bytes } => (false, from, bytes),
                _ => continue,
            };
            assert_eq!(Some(&bytes[0]), ids.get(&from), "origin matches sender");
            assert_ne!(usize::from(bytes[0]), me, "never delivered to its sender");
            if bytes[1] == MARKER {
                markers += 1;
            } else {
                *seen.entry((is_batch, bytes[0], bytes[1])).or_default() += 1;
            }
        }
        assert_eq!(
            seen.len(),
            2 * 3 * usize::from(PER_NODE),
            "node {me} saw all"
        );
        assert!(seen.values().all(|&n| n == 1), "node {me} saw duplicates");
    }
}

/// The sequence numbers of consensus messages received before the next marker.
async fn before_marker(events: &mut NetworkEvents) -> Vec<u8> {
    let mut seqs = Vec::new();
    loop {
        match patiently("consensus", events.recv()).await.unwrap() {
            NetworkEvent::Consensus { bytes, .. } if bytes[1] == MARKER => return seqs,
            NetworkEvent::Consensus { bytes, .. } => seqs.push(bytes[1]),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_consensus_reaches_only_its_peer() {
    let mut nodes = mesh(20, 3).await;
    let (a, b, c) = (nodes[0].0.clone(), nodes[1].0.clone(), nodes[2].0.clone());
    a.send_consensus(b.local_peer_id(), payload(0, 7, 64));
    a.broadcast_consensus(payload(0, MARKER, 2));
    assert_eq!(before_marker(&mut nodes[1].1).await, vec![7]);
    assert_eq!(before_marker(&mut nodes[2].1).await, Vec::<u8>::new());
    // Sending to a peer that is not linked is dropped and counted, never an error.
    let before = a.stats().outbound_dropped;
    a.send_consensus(PeerId::random(), payload(0, 1, 8));
    assert_eq!(a.stats().outbound_dropped, before + 1);
    drop((b, c));
}

/// Answers batch requests from a fixed store, as the node would.
fn serve(mut events: NetworkEvents, store: HashMap<Hash, Vec<u8>>) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetworkEvent::BatchRequest { digests, reply, .. } = event {
                let found = digests
                    .iter()
                    .filter_map(|d| store.get(d).cloned())
                    .collect();
                let _ = reply.send(found);
            }
        }
    });
}

/// Takes batch requests and sits on the replies; ends with the node, giving how many it took.
fn hoard(mut events: NetworkEvents) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut replies = Vec::new();
        while let Some(event) = events.recv().await {
            if let NetworkEvent::BatchRequest { reply, .. } = event {
                replies.push(reply);
            }
        }
        replies.len()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_is_answered_by_the_peer_that_has_the_batches() {
    let mut nodes = mesh(30, 3).await;
    let (c_net, c_events) = nodes.pop().unwrap();
    let (b_net, b_events) = nodes.pop().unwrap();
    let (a, _a_events) = nodes.pop().unwrap();
    let x = vec![1u8; 300_000];
    let y = vec![2u8; 1000];
    let (dx, dy, dz) = (Hash::digest(&x), Hash::digest(&y), Hash([9; 32]));
    serve(b_events, HashMap::from([(dx, x.clone())]));
    serve(c_events, HashMap::from([(dy, y.clone())]));

    let b = Some(b_net.local_peer_id());
    assert_eq!(a.fetch_batches(b, vec![dx]).await.unwrap(), vec![x.clone()]);
    assert_eq!(a.fetch_batches(b, vec![dz, dx, dy]).await.unwrap(), vec![x]);
    assert!(a.fetch_batches(b, vec![dy]).await.unwrap().is_empty());
    // Without a peer named, the peers are asked in turn until one has something.
    for _ in 0..3 {
        assert_eq!(
            a.fetch_batches(None, vec![dy]).await.unwrap(),
            vec![y.clone()]
        );
    }
    assert!(a.fetch_batches(None, vec![dz]).await.unwrap().is_empty());
    assert_eq!(
        a.fetch_batches(b, vec![]).await.unwrap(),
        Vec::<Vec<u8>>::new()
    );
    assert_eq!(
        a.fetch_batches(Some(PeerId::random()), vec![dx]).await,
        Err(NetworkError::NoPeer)
    );
    drop(c_net);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_times_out_when_the_peer_never_answers() {
    let quick = Limits {
        fetch_timeout: Duration::from_millis(500),
        ..test_limits()
    };
    let patient = Limits {
        fetch_timeout: Duration::from_secs(120),
        ..test_limits()
    };
    let (b, b_events) = node_with(41, CHAIN, loopback(), vec![], patient).await;
    let (a, _a_events) = node_with(40, CHAIN, loopback(), vec![addr_of(&b)], quick).await;
    wait_until("link", || a.connected_peers() == vec![b.local_peer_id()]).await;
    // B's node takes the request and sits on the reply.
    let hoard = hoard(b_events);
    let result = a
        .fetch_batches(Some(b.local_peer_id()), vec![Hash([1; 32])])
        .await;
    assert_eq!(result, Err(NetworkError::Timeout));
    // The link survives a slow answer.
    assert_eq!(a.connected_peers(), vec![b.local_peer_id()]);
    b.shutdown().await;
    drop(b);
    assert_eq!(patiently("hoard", hoard).await.unwrap(), 1);
}

/// A peer cut off behind a partition keeps its connection and loses its answers: a fetch that
/// names no peer must not wait the whole timeout for it while another peer has the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_does_not_hold_up_a_fetch_another_can_answer() {
    let patient = Limits {
        fetch_timeout: Duration::from_secs(600),
        fetch_hedge_after: Duration::from_millis(200),
        ..test_limits()
    };
    let (silent, silent_events) = node_with(42, CHAIN, loopback(), vec![], patient.clone()).await;
    let (helpful, helpful_events) = node_with(
        43,
        CHAIN,
        loopback(),
        vec![addr_of(&silent)],
        patient.clone(),
    )
    .await;
    let bootstrap = vec![addr_of(&silent), addr_of(&helpful)];
    let (a, _a_events) = node_with(44, CHAIN, loopback(), bootstrap, patient).await;
    wait_until("links", || a.connected_peers().len() == 2).await;
    let y = vec![7u8; 5_000];
    let dy = Hash::digest(&y);
    serve(helpful_events, HashMap::from([(dy, y.clone())]));
    let hoard = hoard(silent_events);
    // The peers are asked in turn from a rotating start, so the silent one comes first at
    // least once in three; the answer must still come long before the 600 s timeout.
    for _ in 0..3 {
        let got = patiently(
            "a fetch past the silent peer",
            a.fetch_batches(None, vec![dy]),
        )
        .await;
        assert_eq!(got.unwrap(), vec![y.clone()]);
    }
    silent.shutdown().await;
    drop(silent);
    assert!(
        patiently("hoard", hoard).await.unwrap() >= 1,
        "the silent peer was asked"
    );
    drop(helpful);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_too_large_is_refused_locally_and_by_the_peer() {
    let greedy = Limits {
        max_fetch_digests: 1_000,
        ..test_limits()
    };
    let strict = Limits {
        max_fetch_digests: 8,
        ..test_limits()
    };
    let (b, b_events) = node_with(51, CHAIN, loopback(), vec![], strict).await;
    let (a, _a_events) = node_with(50, CHAIN, loopback(), vec![addr_of(&b)], greedy).await;
    serve(b_events, HashMap::new());
    wait_until("link", || a.connected_peers() == vec![b.local_peer_id()]).await;

    let too_many = vec![Hash([3; 32]); 1_001];
    assert_eq!(
        a.fetch_batches(None, too_many).await,
        Err(NetworkError::RequestTooLarge {
            digests: 1_001,
            max: 1_000
        })
    );
    // 20 is within A's limit but over B's: B refuses to read it and marks A down.
    let result = a
        .fetch_batches(Some(b.local_peer_id()), vec![Hash([3; 32]); 20])
        .await;
    assert!(
        matches!(result, Err(NetworkError::Request(_))),
        "{result:?}"
    );
    let a_id = a.local_peer_id();
    wait_until("B penalises A", || b.penalty(&a_id) > 0).await;
    // Within limits it still works.
    assert!(
        a.fetch_batches(Some(b.local_peer_id()), vec![Hash([3; 32]); 8])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_bootstrap_peer_is_redialled() {
    let (a, _a_events) = node(60, vec![]).await;
    let a_addr = addr_of(&a);
    let listen = a.listen_addrs()[0].clone();
    let (b, mut b_events) = node(61, vec![a_addr]).await;
    wait_until("first link", || {
        b.connected_peers() == vec![a.local_peer_id()]
    })
    .await;

    a.shutdown().await;
    drop(a);
    drop(_a_events);
    let a_id = patiently("disconnect", async {
        loop {
            if let Some(NetworkEvent::PeerDisconnected(peer)) = b_events.recv().await {
                return peer;
            }
        }
    })
    .await;
    assert!(b.connected_peers().is_empty());

    // Same key, same port: B finds it again on its own.
    let (a, _a_events) = node_with(60, CHAIN, listen, vec![], test_limits()).await;
    assert_eq!(a.local_peer_id(), a_id);
    patiently("reconnect", async {
        loop {
            if let Some(NetworkEvent::PeerConnected(peer)) = b_events.recv().await {
                assert_eq!(peer, a_id);
                return;
            }
        }
    })
    .await;
    wait_until("a links b", || {
        a.connected_peers() == vec![b.local_peer_id()]
    })
    .await;
    a.broadcast_consensus(payload(1, 1, 10));
    patiently("message after restart", async {
        loop {
            if let Some(NetworkEvent::Consensus { from, bytes }) = b_events.recv().await {
                assert_eq!((from, bytes[1]), (a_id, 1));
                return;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_different_chains_exchange_nothing() {
    let (a, _a_events) = node_with(70, "alpha", loopback(), vec![], test_limits()).await;
    let (b, mut b_events) =
        node_with(71, "beta", loopback(), vec![addr_of(&a)], test_limits()).await;
    // The control: a node of A's chain does link.
    let (c, mut c_events) =
        node_with(72, "alpha", loopback(), vec![addr_of(&a)], test_limits()).await;
    wait_until("c links", || a.connected_peers() == vec![c.local_peer_id()]).await;
    wait_until("mismatch seen", || {
        a.stats().chain_mismatches + b.stats().chain_mismatches > 0
    })
    .await;

    a.broadcast_batch(payload(1, 1, 100));
    a.broadcast_consensus(payload(1, 2, 100));
    b.broadcast_batch(payload(2, 1, 100));
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        match patiently("c receives", c_events.recv()).await.unwrap() {
            NetworkEvent::Batch { from, .. } => kinds.push(("batch", from)),
            NetworkEvent::Consensus { from, .. } => kinds.push(("consensus", from)),
            _ => {}
        }
    }
    assert!(kinds.iter().all(|(_, from)| *from == a.local_peer_id()));
    assert!(b.connected_peers().is_empty());
    assert!(!a.connected_peers().contains(&b.local_peer_id()));
    if let Ok(event) = b_events.try_recv() {
        panic!("the other chain's node got {event:?}");
    }
    assert_eq!(
        a.fetch_batches(Some(b.local_peer_id()), vec![Hash([1; 32])])
            .await,
        Err(NetworkError::NoPeer)
    );
    assert_eq!(b.stats().messages_in, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_event_channel_drops_and_counts_instead_of_blocking() {
    let small = Limits {
        event_queue: 4,
        ..test_limits()
    };
    let (b, mut b_events) = node_with(81, CHAIN, loopback(), vec![], small).await;
    let (a, _a_events) = node(80, vec![addr_of(&b)]).await;
    wait_until("links both ways", || {
        b.connected_peers() == vec![a.local_peer_id()]
            && a.connected_peers() == vec![b.local_peer_id()]
    })
    .await;
    // PeerConnected took one slot; nobody reads while 100 messages arrive.
    for seq in 0..100 {
        a.broadcast_consensus(payload(1, seq, 32));
    }
    wait_until("all read off the wire", || b.stats().messages_in == 100).await;
    let stats = b.stats();
    assert_eq!(stats.events_dropped, 97, "{stats:?}");
    let mut kept = 0;
    while b_events.try_recv().is_ok() {
        kept += 1;
    }
    assert_eq!(kept, 4);
    // The swarm was never stuck: new messages flow once the node reads again.
    a.broadcast_consensus(payload(1, 200, 32));
    let event = patiently("after drain", b_events.recv()).await.unwrap();
    assert!(matches!(event, NetworkEvent::Consensus { ref bytes, .. } if bytes[1] == 200));
    drop(Network::clone(&a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_event_bytes_are_bounded() {
    let tight = Limits {
        max_batch_bytes: 1 << 20,
        max_consensus_bytes: 1 << 20,
        max_fetch_response_bytes: 1 << 20,
        max_queued_event_bytes: 1 << 20,
        ..test_limits()
    };
    let (b, mut b_events) = node_with(91, CHAIN, loopback(), vec![], tight).await;
    let (a, _a_events) = node(90, vec![addr_of(&b)]).await;
    wait_until("links both ways", || {
        b.connected_peers() == vec![a.local_peer_id()]
            && a.connected_peers() == vec![b.local_peer_id()]
    })
    .await;
    for seq in 0..10 {
        a.broadcast_batch(payload(90, seq, 300_000));
    }
    wait_until("all read off the wire", || b.stats().messages_in == 10).await;
    // Three 300 kB batches fit in 1 MiB; the other seven are dropped, not queued.
    assert_eq!(b.stats().events_dropped, 7);
    let mut kept = Vec::new();
    while let Ok(event) = b_events.try_recv() {
        if let NetworkEvent::Batch { bytes, .. } = event {
            kept.push(bytes[1]);
        }
    }
    assert_eq!(kept, vec![0, 1, 2]);
    // Reading them freed the room.
    a.broadcast_batch(payload(90, 10, 300_000));
    let event = patiently("after reading", b_events.recv()).await.unwrap();
    assert!(matches!(event, NetworkEvent::Batch { ref bytes, .. } if bytes[1] == 10));
}
