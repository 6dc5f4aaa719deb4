//! Hostile peers: a raw libp2p swarm that passes identify with the right chain, opens the batch
//! protocol and then writes garbage, an oversized frame, or a flood. Each is scored down,
//! disconnected and refused, and honest peers keep talking.

mod common;

use common::*;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, identify, noise, tcp, yamux};
use runnet_p2p::{Limits, Network, NetworkEvent, NetworkEvents, Offence};
use runnet_types::Batch;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(NetworkBehaviour)]
struct Raw {
    identify: identify::Behaviour,
    streams: libp2p_stream::Behaviour,
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Connected(PeerId),
    Closed(PeerId),
    DialFailed,
}

/// A peer that speaks just enough runnet to be linked, driven by the test.
struct Hostile {
    peer: PeerId,
    control: libp2p_stream::Control,
    dial: mpsc::UnboundedSender<Multiaddr>,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl Hostile {
    fn start(seed: u8) -> Hostile {
        let key = runnet_p2p::keypair_from_seed([seed; 32]).unwrap();
        let peer = key.public().to_peer_id();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| Raw {
                identify: identify::Behaviour::new(identify::Config::new(
                    format!("/runnet/{CHAIN}/1"),
                    key.public(),
                )),
                streams: libp2p_stream::Behaviour::new(),
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let control = swarm.behaviour().streams.new_control();
        let (dial, mut dials) = mpsc::unbounded_channel::<Multiaddr>();
        let (report, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    addr = dials.recv() => match addr {
                        Some(addr) => {
                            let _ = swarm.dial(addr);
                        }
                        None => return,
                    },
                    event = swarm.select_next_some() => {
                        let seen = match event {
                            SwarmEvent::ConnectionEstablished { peer_id, .. } => Seen::Connected(peer_id),
                            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => Seen::Closed(peer_id),
                            SwarmEvent::OutgoingConnectionError { .. } => Seen::DialFailed,
                            _ => continue,
                        };
                        let _ = report.send(seen);
                    }
                }
            }
        });
        Hostile {
            peer,
            control,
            dial,
            seen,
        }
    }

    async fn next_seen(&mut self) -> Seen {
        patiently("hostile swarm event", self.seen.recv())
            .await
            .unwrap()
    }

    /// Dials the target and opens its batch protocol once it has linked us.
    async fn attack(&mut self, target: &Network) -> libp2p::Stream {
        self.dial.send(addr_of(target)).unwrap();
        assert_eq!(
            self.next_seen().await,
            Seen::Connected(target.local_peer_id())
        );
        let me = self.peer;
        wait_until("target links the hostile peer", || {
            target.connected_peers().contains(&me)
        })
        .await;
        let protocol = StreamProtocol::try_from_owned(format!("/runnet/{CHAIN}/batch/1")).unwrap();
        self.control
            .open_stream(target.local_peer_id(), protocol)
            .await
            .unwrap()
    }

    /// After a ban: the connection is closed, and dialling again gets nowhere.
    async fn assert_shut_out(&mut self, target: &Network) {
        assert_eq!(self.next_seen().await, Seen::Closed(target.local_peer_id()));
        assert!(target.banned_peers().contains(&self.peer));
        assert!(!target.connected_peers().contains(&self.peer));
        self.dial.send(addr_of(target)).unwrap();
        // The block list refuses the connection as soon as noise names the peer.
        while let Seen::Connected(_) = self.next_seen().await {}
        assert!(!target.connected_peers().contains(&self.peer));
    }
}

/// A target node whose "node" decodes batches and reports undecodable ones, plus an honest
/// peer linked to it.
async fn target_and_honest(
    seed: u8,
    limits: Limits,
) -> (Network, Network, mpsc::Receiver<NetworkEvent>) {
    let (target, mut target_events) = node_with(seed, CHAIN, loopback(), vec![], limits).await;
    let (honest, honest_events) = node(seed + 1, vec![addr_of(&target)]).await;
    let honest_id = honest.local_peer_id();
    wait_until("honest link", || {
        target.connected_peers() == vec![honest_id]
    })
    .await;
    let (forward, forwarded) = mpsc::channel(1024);
    let reporter = target.clone();
    tokio::spawn(async move {
        while let Some(event) = target_events.recv().await {
            if let NetworkEvent::Batch { from, bytes } = &event
                && Batch::decode(bytes).is_err()
            {
                reporter.report(*from, Offence::Malformed);
                continue;
            }
            let _ = forward.send(event).await;
        }
    });
    drop(honest_events);
    (target, honest, forwarded)
}

/// Honest traffic still flows both ways after the attack.
async fn honest_still_talk(
    target: &Network,
    target_events: &mut mpsc::Receiver<NetworkEvent>,
    honest: &Network,
    honest_events: &mut NetworkEvents,
) {
    let batch = Arc::new(Batch::default().encode());
    honest.broadcast_batch(batch.clone());
    target.broadcast_consensus(Arc::new(vec![42]));
    patiently("target gets the honest batch", async {
        loop {
            // Skips what the hostile peer got through before its ban (a flood's first burst).
            if let Some(NetworkEvent::Batch { from, bytes }) = target_events.recv().await
                && from == honest.local_peer_id()
            {
                assert_eq!(bytes, *batch);
                return;
            }
        }
    })
    .await;
    patiently("honest gets the target's message", async {
        loop {
            if let Some(NetworkEvent::Consensus { from, bytes }) = honest_events.recv().await {
                assert_eq!((from, bytes), (target.local_peer_id(), vec![42]));
                return;
            }
        }
    })
    .await;
}

/// Restarts the honest node's event stream: the test needs to read it after the attack.
async fn honest_with_events(seed: u8, target: &Network) -> (Network, NetworkEvents) {
    let (honest, events) = node(seed, vec![addr_of(target)]).await;
    let id = honest.local_peer_id();
    wait_until("second honest link", || {
        target.connected_peers().contains(&id)
    })
    .await;
    (honest, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_garbage_on_the_batch_protocol_gets_a_ban() {
    let (target, _honest, mut target_events) = target_and_honest(110, test_limits()).await;
    let (honest, mut honest_events) = honest_with_events(112, &target).await;
    let mut hostile = Hostile::start(116);
    let mut stream = hostile.attack(&target).await;
    // Bytes that are no frame at all: the first four read as a length of about 3.7 GB.
    let garbage: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0xd0)
        .collect();
    let _ = stream.write_all(&garbage).await;
    let _ = stream.flush().await;
    hostile.assert_shut_out(&target).await;
    assert!(target.penalty(&hostile.peer) > Offence::Malformed.penalty());
    honest_still_talk(&target, &mut target_events, &honest, &mut honest_events).await;
    assert_eq!(
        target.stats().messages_in,
        1,
        "only the honest batch got through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_frames_reported_by_the_node_get_a_ban() {
    let (target, _honest, mut target_events) = target_and_honest(120, test_limits()).await;
    let (honest, mut honest_events) = honest_with_events(122, &target).await;
    let mut hostile = Hostile::start(126);
    let mut stream = hostile.attack(&target).await;
    // Well-framed, but not a batch: the network delivers it, the node reports it.
    for _ in 0..5 {
        let body = [0xffu8; 100];
        let _ = stream.write_all(&(body.len() as u32).to_be_bytes()).await;
        let _ = stream.write_all(&body).await;
        let _ = stream.flush().await;
    }
    hostile.assert_shut_out(&target).await;
    assert!(target.stats().bans >= 1);
    honest_still_talk(&target, &mut target_events, &honest, &mut honest_events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_gets_a_ban() {
    let (target, _honest, mut target_events) = target_and_honest(130, test_limits()).await;
    let (honest, mut honest_events) = honest_with_events(132, &target).await;
    let mut hostile = Hostile::start(136);
    let mut stream = hostile.attack(&target).await;
    let over = (runnet_types::batch::MAX_BATCH_BYTES + 1) as u32;
    let _ = stream.write_all(&over.to_be_bytes()).await;
    let _ = stream.write_all(&[0u8; 1024]).await;
    let _ = stream.flush().await;
    hostile.assert_shut_out(&target).await;
    assert_eq!(target.stats().messages_in, 0);
    honest_still_talk(&target, &mut target_events, &honest, &mut honest_events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_over_the_rate_gets_a_ban() {
    let limits = Limits {
        messages_per_sec: 100,
        message_burst: 100,
        ..test_limits()
    };
    let (target, _honest, mut target_events) = target_and_honest(140, limits).await;
    let (honest, mut honest_events) = honest_with_events(142, &target).await;
    let mut hostile = Hostile::start(146);
    let mut stream = hostile.attack(&target).await;
    // Valid batches, far too many: the burst passes, the rest are dropped and cost points.
    let batch = Batch::default().encode();
    let mut flood = Vec::new();
    for _ in 0..5_000 {
        flood.extend_from_slice(&(batch.len() as u32).to_be_bytes());
        flood.extend_from_slice(&batch);
    }
    let _ = stream.write_all(&flood).await;
    let _ = stream.flush().await;
    hostile.assert_shut_out(&target).await;
    let stats = target.stats();
    assert!(stats.rate_dropped >= 50, "{stats:?}");
    assert!(stats.messages_in <= 200, "{stats:?}");
    honest_still_talk(&target, &mut target_events, &honest, &mut honest_events).await;
}
