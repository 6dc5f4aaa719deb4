//! The fault relay: a loopback TCP proxy per directed link between nodes.
//!
//! Node i reaches node j only through the relay of link (i, j): `up` points i's bootstrap
//! address for j at that link's port. Each link can be cut, delayed or made lossy while the
//! network runs, and every connection on it obeys at once.
//!
//! TCP carries bytes, not packets, so faults are modelled as a TCP stream would feel them:
//! - **partition**: the link stops moving bytes in both directions (no reads, no writes, new
//!   connections are held unconnected). Nothing is reset: like a real partition, the nodes find
//!   out only through their own timeouts, and a connection that survives the partition resumes
//!   with its bytes intact when it heals.
//! - **delay**: every chunk is held for the delay before it is written, in order.
//! - **loss**: a lost TCP segment is retransmitted after a timeout and blocks every byte behind
//!   it. So each chunk read is, with the probability that any of its segments (1448 bytes) is
//!   lost, held back by one retransmission timeout (200 ms, Linux's minimum RTO, plus the
//!   link's delay) with everything behind it. Bytes are never dropped: a TCP stream never
//!   loses bytes, it stalls.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What a link does to the bytes it carries.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkState {
    pub blocked: bool,
    pub delay_ms: u64,
    /// Probability (0..=1) that a TCP segment is lost.
    pub loss: f64,
}

/// Linux's minimum retransmission timeout: what one lost segment costs at least.
const RETRANSMIT: Duration = Duration::from_millis(200);
const SEGMENT: usize = 1448;
const CHUNK: usize = 64 * 1024;
/// Chunks in flight per direction: bounds the relay's memory like a TCP window.
const IN_FLIGHT: usize = 1024;

struct Link {
    listen: SocketAddr,
    state: watch::Sender<LinkState>,
    forwarded: AtomicU64,
    accepted: AtomicU64,
}

/// The relays of a network. Dropping it closes every listener and connection.
pub struct Relay {
    runtime: Option<tokio::runtime::Runtime>,
    links: BTreeMap<(usize, usize), Arc<Link>>,
}

impl Relay {
    /// Listens on a fresh 127.0.0.1 port for each `(from, to, target)` and forwards what
    /// arrives to `target`. `seed` makes the loss draws repeatable.
    pub fn start(specs: &[(usize, usize, SocketAddr)], seed: u64) -> std::io::Result<Relay> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("relay")
            .enable_all()
            .build()?;
        let mut links = BTreeMap::new();
        for (i, &(from, to, target)) in specs.iter().enumerate() {
            let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
            let (state, _) = watch::channel(LinkState::default());
            let link = Arc::new(Link {
                listen: listener.local_addr()?,
                state,
                forwarded: AtomicU64::new(0),
                accepted: AtomicU64::new(0),
            });
            let link_seed = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            runtime.spawn(accept_loop(listener, target, link.clone(), link_seed));
            links.insert((from, to), link);
        }
        Ok(Relay {
            runtime: Some(runtime),
            links,
        })
    }

    /// The port node `from` must dial to reach node `to`.
    pub fn listen_addr(&self, from: usize, to: usize) -> Option<SocketAddr> {
        self.links.get(&(from, to)).map(|l| l.listen)
    }

    /// Changes the links from any of `a` to any of `b` and back.
    pub fn update(&self, a: &[usize], b: &[usize], change: impl Fn(&mut LinkState)) {
        for (&(from, to), link) in &self.links {
            let crosses =
                (a.contains(&from) && b.contains(&to)) || (b.contains(&from) && a.contains(&to));
            if crosses {
                link.state.send_modify(&change);
            }
        }
    }

    /// Every link carries bytes again (delays and loss stay).
    pub fn heal_all(&self) {
        for link in self.links.values() {
            link.state.send_modify(|s| s.blocked = false);
        }
    }

    pub fn state(&self, from: usize, to: usize) -> Option<LinkState> {
        self.links.get(&(from, to)).map(|l| *l.state.borrow())
    }

    /// Bytes written out on the link, both directions.
    pub fn forwarded(&self, from: usize, to: usize) -> u64 {
        self.links
            .get(&(from, to))
            .map_or(0, |l| l.forwarded.load(Ordering::Relaxed))
    }

    /// Connections accepted on the link.
    pub fn accepted(&self, from: usize, to: usize) -> u64 {
        self.links
            .get(&(from, to))
            .map_or(0, |l| l.accepted.load(Ordering::Relaxed))
    }

    pub fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.runtime.as_ref().map(|r| r.handle().clone())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, link: Arc<Link>, seed: u64) {
    let mut n = 0u64;
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of descriptors or similar: try again shortly rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        link.accepted.fetch_add(1, Ordering::Relaxed);
        n += 1;
        tokio::spawn(connection(
            inbound,
            target,
            link.clone(),
            seed.wrapping_add(n),
        ));
    }
}

/// Waits until the link is not blocked; false when the relay is gone.
async fn unblocked(state: &mut watch::Receiver<LinkState>) -> bool {
    state.wait_for(|s| !s.blocked).await.is_ok()
}

async fn connection(inbound: TcpStream, target: SocketAddr, link: Arc<Link>, seed: u64) {
    let mut state = link.state.subscribe();
    if !unblocked(&mut state).await {
        return;
    }
    let Ok(outbound) = TcpStream::connect(target).await else {
        // The target is down (killed): closing tells the dialer at once, as a refused
        // connection would.
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let forward = pump(in_read, out_write, link.clone(), seed);
    let backward = pump(out_read, in_write, link, seed ^ 1);
    // Either direction ending (a close or a reset) ends the connection: dropping both halves
    // closes both sockets.
    tokio::select! {
        _ = forward => {}
        _ = backward => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    link: Arc<Link>,
    seed: u64,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let mut read_state = link.state.subscribe();
    let mut write_state = link.state.subscribe();
    let reader = async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut last = Instant::now();
        let mut buf = vec![0u8; CHUNK];
        loop {
            if !unblocked(&mut read_state).await {
                return;
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let LinkState { delay_ms, loss, .. } = *read_state.borrow();
            let delay = Duration::from_millis(delay_ms);
            let mut at = Instant::now() + delay;
            if loss > 0.0 {
                let segments = n.div_ceil(SEGMENT) as i32;
                let p = 1.0 - (1.0 - loss.clamp(0.0, 1.0)).powi(segments);
                if rng.random_bool(p.clamp(0.0, 1.0)) {
                    at += RETRANSMIT + delay;
                }
            }
            // Order is kept: a chunk never overtakes the one before it.
            last = last.max(at);
            let Some(chunk) = buf.get(..n) else { return };
            if tx.send((last, chunk.to_vec())).await.is_err() {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if !unblocked(&mut write_state).await {
                return;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            link.forwarded
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    };
    // The writer ends when the reader has ended and everything queued is written, or on an
    // error; the reader ends on close. A close on the reading side must still flush what was
    // read, so the pump waits for the writer.
    let _reader = AbortOnDrop(tokio::spawn(reader));
    writer.await;
}

/// Ends a spawned task when its owner is dropped (a connection torn down mid-way).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener as StdListener, TcpStream as StdStream};

    /// A server that accepts one connection and hands it over.
    fn server() -> (SocketAddr, std::thread::JoinHandle<StdStream>) {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || listener.accept().unwrap().0);
        (addr, handle)
    }

    fn read_exact(stream: &mut StdStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        stream.read_exact(&mut buf).unwrap();
        buf
    }

    #[test]
    fn bytes_pass_both_ways_and_are_counted() {
        let (target, accepted) = server();
        let relay = Relay::start(&[(0, 1, target)], 7).unwrap();
        let mut client = StdStream::connect(relay.listen_addr(0, 1).unwrap()).unwrap();
        let mut far = accepted.join().unwrap();
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&payload).unwrap();
        assert_eq!(read_exact(&mut far, payload.len()), payload);
        far.write_all(b"pong").unwrap();
        assert_eq!(read_exact(&mut client, 4), b"pong");
        assert_eq!(relay.accepted(0, 1), 1);
        // The counter is bumped after the write; it is at least what has been read.
        let mut counted = relay.forwarded(0, 1);
        while counted < 200_004 {
            std::thread::yield_now();
            counted = relay.forwarded(0, 1);
        }
        assert_eq!(counted, 200_004);
        assert!(relay.listen_addr(1, 0).is_none());
    }

    #[test]
    fn a_partition_holds_bytes_and_healing_delivers_them() {
        let (target, accepted) = server();
        let relay = Relay::start(&[(0, 1, target), (1, 0, target)], 1).unwrap();
        let mut client = StdStream::connect(relay.listen_addr(0, 1).unwrap()).unwrap();
        let mut far = accepted.join().unwrap();
        client.write_all(b"before").unwrap();
        assert_eq!(read_exact(&mut far, 6), b"before");

        relay.update(&[0], &[1], |s| s.blocked = true);
        assert!(relay.state(0, 1).unwrap().blocked && relay.state(1, 0).unwrap().blocked);
        client.write_all(b"during").unwrap();
        far.write_all(b"back").unwrap();
        // Nothing may arrive while the link is cut, however long we look.
        far.set_nonblocking(true).unwrap();
        client.set_nonblocking(true).unwrap();
        for _ in 0..50 {
            let mut buf = [0u8; 16];
            assert_eq!(
                far.read(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            assert_eq!(
                client.read(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(relay.forwarded(0, 1), 6);
        far.set_nonblocking(false).unwrap();
        client.set_nonblocking(false).unwrap();

        relay.heal_all();
        assert_eq!(read_exact(&mut far, 6), b"during");
        assert_eq!(read_exact(&mut client, 4), b"back");
    }

    #[test]
    fn a_new_connection_during_a_partition_waits_for_the_heal() {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let relay = Relay::start(&[(0, 1, target)], 1).unwrap();
        relay.update(&[0], &[1], |s| s.blocked = true);
        let mut client = StdStream::connect(relay.listen_addr(0, 1).unwrap()).unwrap();
        client.write_all(b"hello").unwrap();
        for _ in 0..30 {
            assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
            std::thread::sleep(Duration::from_millis(10));
        }
        relay.update(&[0], &[1], |s| s.blocked = false);
        listener.set_nonblocking(false).unwrap();
        let (mut far, _) = listener.accept().unwrap();
        assert_eq!(read_exact(&mut far, 5), b"hello");
    }

    #[test]
    fn a_delayed_link_is_overtaken_by_a_prompt_one() {
        // Two links into one receiver: a message sent first on the delayed link arrives after
        // one sent second on the prompt link. Order, not wall time, is what is checked.
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let relay = Relay::start(&[(0, 2, target), (1, 2, target)], 3).unwrap();
        relay.update(&[0], &[2], |s| s.delay_ms = 1500);
        let (arrivals_tx, arrivals) = std::sync::mpsc::channel();
        let receiver = std::thread::spawn(move || {
            let mut readers = Vec::new();
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let tx = arrivals_tx.clone();
                readers.push(std::thread::spawn(move || {
                    let mut buf = [0u8; 1];
                    s.read_exact(&mut buf).unwrap();
                    tx.send(buf[0]).unwrap();
                }));
            }
            for r in readers {
                r.join().unwrap();
            }
        });
        let mut slow = StdStream::connect(relay.listen_addr(0, 2).unwrap()).unwrap();
        let mut fast = StdStream::connect(relay.listen_addr(1, 2).unwrap()).unwrap();
        slow.write_all(b"s").unwrap();
        fast.write_all(b"f").unwrap();
        let order: Vec<u8> = arrivals.iter().take(2).collect();
        receiver.join().unwrap();
        assert_eq!(order, b"fs");
    }

    #[test]
    fn total_loss_stalls_but_never_drops_or_reorders() {
        let (target, accepted) = server();
        let relay = Relay::start(&[(0, 1, target)], 9).unwrap();
        relay.update(&[0], &[1], |s| s.loss = 1.0);
        let mut client = StdStream::connect(relay.listen_addr(0, 1).unwrap()).unwrap();
        let mut far = accepted.join().unwrap();
        let mut expected = Vec::new();
        for i in 0..5u8 {
            client.write_all(&[i; 3]).unwrap();
            expected.extend_from_slice(&[i; 3]);
        }
        assert_eq!(read_exact(&mut far, expected.len()), expected);
    }

    #[test]
    fn abrupt_closes_and_dead_targets_do_not_hurt_the_relay() {
        // A target that is not listening: the relay closes the dialer's connection.
        let dead = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (target, accepted) = server();
        let relay = Relay::start(&[(0, 1, dead), (0, 2, target)], 5).unwrap();
        let mut to_dead = StdStream::connect(relay.listen_addr(0, 1).unwrap()).unwrap();
        let mut buf = [0u8; 1];
        assert!(matches!(to_dead.read(&mut buf), Ok(0) | Err(_)));

        // Clients that vanish mid-stream, with and without unread data (a reset).
        for _ in 0..20 {
            let mut c = StdStream::connect(relay.listen_addr(0, 1).unwrap()).unwrap();
            let _ = c.write_all(&[1; 10_000]);
            drop(c);
        }
        let mut client = StdStream::connect(relay.listen_addr(0, 2).unwrap()).unwrap();
        let far = accepted.join().unwrap();
        client.write_all(&[7; 100_000]).unwrap();
        // The far side closes with bytes unread: the relay sees a reset.
        drop(far);
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest);
        assert!(rest.is_empty());

        // The relay still works for new connections.
        let (target2, accepted2) = server();
        let relay2 = Relay::start(&[(3, 4, target2)], 5).unwrap();
        let mut c = StdStream::connect(relay2.listen_addr(3, 4).unwrap()).unwrap();
        let mut f = accepted2.join().unwrap();
        c.write_all(b"ok").unwrap();
        assert_eq!(read_exact(&mut f, 2), b"ok");
        let mut again = StdStream::connect(relay.listen_addr(0, 1).unwrap()).unwrap();
        assert!(matches!(again.read(&mut buf), Ok(0) | Err(_)));
        drop(relay);
        drop(relay2);
    }
}
