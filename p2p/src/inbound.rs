//! Inbound: every stream a peer opens on a one-way protocol gets a reader task that enforces the
//! frame limit, the peer's rate and its ban, and hands frames to the node without waiting.

use crate::core::{Core, Kind, PeerInbound, bump};
use crate::framing::{FrameError, read_body, read_len};
use crate::links::ACK;
use crate::scoring::Offence;
use futures::io::BufReader;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream};
use libp2p_stream::IncomingStreams;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub(crate) async fn accept_loop(core: Arc<Core>, mut incoming: IncomingStreams, kind: Kind) {
    while let Some((peer, stream)) = incoming.next().await {
        if core.is_banned(&peer) {
            continue;
        }
        let inbound = core.inbound_for(peer);
        let open = inbound.streams(kind).fetch_add(1, Ordering::SeqCst);
        let guard = StreamSlot { inbound, kind };
        if open >= core.limits.max_streams_per_peer {
            core.penalise(peer, Offence::Spam);
            continue;
        }
        tokio::spawn(read_loop(core.clone(), peer, stream, guard));
    }
}

/// Frees the peer's stream slot however the reader ends.
struct StreamSlot {
    inbound: Arc<PeerInbound>,
    kind: Kind,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.inbound
            .streams(self.kind)
            .fetch_sub(1, Ordering::SeqCst);
    }
}

async fn read_loop(core: Arc<Core>, peer: PeerId, mut stream: Stream, slot: StreamSlot) {
    let kind = slot.kind;
    // Tells the writer its stream was taken (see `links::accepted`).
    if stream.write_all(&[ACK]).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    let max = kind.max_bytes(&core.limits);
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    loop {
        if core.is_banned(&peer) {
            return;
        }
        let len = match read_len(&mut reader, max).await {
            Ok(Some(len)) => len,
            Ok(None) | Err(FrameError::Io(_)) => return,
            Err(error @ FrameError::Empty) => {
                tracing::debug!(%peer, ?kind, %error, "bad frame");
                core.penalise(peer, Offence::Malformed);
                return;
            }
            Err(error @ FrameError::TooLarge { .. }) => {
                tracing::debug!(%peer, ?kind, %error, "bad frame");
                core.penalise(peer, Offence::Oversized);
                return;
            }
        };
        let admitted = slot.inbound.rate.lock().admit(len as u64, Instant::now());
        if !admitted {
            // Read past it without keeping it, so the stream stays in step.
            let skipped = futures::io::copy(
                &mut (&mut reader).take(len as u64),
                &mut futures::io::sink(),
            )
            .await;
            if skipped.ok() != Some(len as u64) {
                return;
            }
            bump(&core.stats.rate_dropped, 1);
            core.penalise(peer, Offence::OverRate);
            continue;
        }
        let Ok(body) = read_body(&mut reader, len).await else {
            return;
        };
        bump(&core.stats.messages_in, 1);
        bump(&core.stats.bytes_in, len as u64);
        core.deliver(kind.event(peer, body));
    }
}
