//! The node's side of the event channel. A bound on the count of queued events alone would let
//! a slow node hold thousands of 4 MiB batches, so the queued frame bytes are bounded too: the
//! network adds a frame's size when it queues it and this receiver takes it off when the node
//! reads it.

use crate::NetworkEvent;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

/// What [`crate::start`] hands the node: `recv` and `try_recv` as on a tokio receiver.
pub struct NetworkEvents {
    pub(crate) rx: mpsc::Receiver<NetworkEvent>,
    pub(crate) queued_bytes: Arc<AtomicUsize>,
}

pub(crate) fn frame_len(event: &NetworkEvent) -> usize {
    match event {
        NetworkEvent::Batch { bytes, .. } | NetworkEvent::Consensus { bytes, .. } => bytes.len(),
        _ => 0,
    }
}

impl NetworkEvents {
    /// The next event; `None` once the network has stopped and everything was read.
    pub async fn recv(&mut self) -> Option<NetworkEvent> {
        let event = self.rx.recv().await?;
        self.taken(&event);
        Some(event)
    }

    pub fn try_recv(&mut self) -> Result<NetworkEvent, TryRecvError> {
        let event = self.rx.try_recv()?;
        self.taken(&event);
        Ok(event)
    }

    /// Events waiting to be read.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    fn taken(&self, event: &NetworkEvent) {
        self.queued_bytes
            .fetch_sub(frame_len(event), Ordering::Relaxed);
    }
}
