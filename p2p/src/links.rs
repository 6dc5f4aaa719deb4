//! Outbound: one long-lived stream per linked peer and protocol, fed by a bounded queue. A
//! writer drains whatever is queued before flushing, so bursts of small messages share packets;
//! a slow peer only fills its own queue. A failed stream is reopened with backoff.

use crate::core::{Core, Kind, Link, bump};
use crate::framing::write_frame;
use futures::io::BufWriter;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, Stream};
use libp2p_stream::Control;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The byte a receiver sends when it takes a stream.
pub(crate) const ACK: u8 = 0x01;

/// Frames written between two flushes at most, so a busy queue still flushes regularly.
const MAX_FRAMES_PER_FLUSH: usize = 256;

/// Starts the writers of a newly linked peer.
pub(crate) fn spawn(core: &Arc<Core>, control: &Control, peer: PeerId) -> Link {
    let (batch, batch_rx) = mpsc::channel(core.limits.batch_queue);
    let (consensus, consensus_rx) = mpsc::channel(core.limits.consensus_queue);
    for (kind, rx) in [(Kind::Batch, batch_rx), (Kind::Consensus, consensus_rx)] {
        tokio::spawn(write_loop(core.clone(), control.clone(), peer, kind, rx));
    }
    Link { batch, consensus }
}

async fn write_loop(
    core: Arc<Core>,
    mut control: Control,
    peer: PeerId,
    kind: Kind,
    mut queue: mpsc::Receiver<Arc<Vec<u8>>>,
) {
    let protocol = kind.protocol(&core.protocols);
    let mut backoff = core.limits.redial_min;
    loop {
        if queue.is_closed() {
            return;
        }
        // Opened at once, not on the first message: the open stream keeps the connection alive
        // and the first message pays no negotiation.
        let opened = match control.open_stream(peer, protocol.clone()).await {
            Ok(stream) => accepted(stream, core.limits.fetch_timeout).await,
            Err(error) => Err(std::io::Error::other(error)),
        };
        let stream = match opened {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%peer, %protocol, %error, "cannot open stream");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(core.limits.redial_max);
                if queue.is_closed() {
                    return;
                }
                continue;
            }
        };
        backoff = core.limits.redial_min;
        let mut writer = BufWriter::with_capacity(64 << 10, stream);
        match pump(&core, kind, &mut writer, &mut queue).await {
            Ok(()) => {
                // The peer left: its queue was dropped.
                let _ = writer.close().await;
                return;
            }
            Err(error) => tracing::debug!(%peer, %protocol, %error, "stream failed, reopening"),
        }
    }
}

/// Waits for the receiver's one-byte go-ahead. libp2p-stream drops an inbound stream when its
/// acceptor is busy with another, and writes to a dropped stream can still succeed locally, so
/// without this a burst of new links could lose their first messages.
async fn accepted(mut stream: Stream, patience: Duration) -> std::io::Result<Stream> {
    let mut ack = [0u8; 1];
    match tokio::time::timeout(patience, stream.read_exact(&mut ack)).await {
        Ok(Ok(())) if ack == [ACK] => Ok(stream),
        Ok(Ok(())) => Err(std::io::Error::other("bad stream acknowledgement")),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Sends until the queue closes (Ok) or the stream fails (Err).
async fn pump(
    core: &Core,
    kind: Kind,
    writer: &mut BufWriter<Stream>,
    queue: &mut mpsc::Receiver<Arc<Vec<u8>>>,
) -> std::io::Result<()> {
    let max = kind.max_bytes(&core.limits);
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(message) = next.take() {
            if message.is_empty() || message.len() > max {
                // The peer would punish us for it; the node should never ask.
                tracing::warn!(
                    len = message.len(),
                    ?kind,
                    "not sending a frame outside the limits"
                );
                bump(&core.stats.outbound_dropped, 1);
            } else if let Err(e) = write_frame(writer, &message).await {
                bump(&core.stats.outbound_dropped, 1);
                return Err(e);
            } else {
                bump(&core.stats.messages_out, 1);
                bump(&core.stats.bytes_out, message.len() as u64);
            }
            written += 1;
            if written < MAX_FRAMES_PER_FLUSH {
                next = queue.try_recv().ok();
            }
        }
        writer.flush().await?;
    }
    Ok(())
}
