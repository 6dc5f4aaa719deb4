//! What leaves the core: the actions of one [`Core::handle`](super::Core::handle) call, and the
//! notes that live exactly as long as that call.
//!
//! Every room says what it has to say here and nowhere else; `handle` returns the buffer's
//! actions as they are, in the order they were pushed, which is the order the driver must
//! perform them in (a `PersistSafety` before what it protects). The buffer is the returned
//! `Vec` itself, so a call allocates nothing of its own for its output beyond what it pushes.
//!
//! The per-call notes live exactly one call: [`Effects::proposed`] and
//! [`Effects::committed_batches`] are reset by [`Effects::begin`] at its start, and
//! [`Effects::wake_now`] is taken at its end, when the timer is scheduled.

use super::{Action, Core, Environment, PayloadSource};
use runnet_types::consensus::{ConsensusMessage, MessageBody};
use runnet_types::{Address, Hash};
use std::collections::BTreeSet;

#[derive(Default)]
pub(super) struct Effects {
    actions: Vec<Action>,
    /// A proposal was made in this call (one per call, so a validator holding a quorum alone
    /// does not run away inside a single event).
    pub(super) proposed: bool,
    /// Batches of blocks committed while handling the current event. The driver tells the
    /// mempool about a commit only after `handle` returns, so a proposal made in the same event
    /// must skip these itself or it would name them a second time.
    pub(super) committed_batches: BTreeSet<Hash>,
    /// Wake up as soon as possible after this call (a proposal held back by `proposed`).
    pub(super) wake_now: bool,
}

impl Effects {
    /// A new call starts: forget the previous call's notes.
    pub(super) fn begin(&mut self) {
        self.proposed = false;
        self.committed_batches.clear();
    }

    pub(super) fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// The call is over: its actions, in order.
    pub(super) fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    // Messages carry the chain room's sync info.

    pub(crate) fn message(&self, body: MessageBody) -> ConsensusMessage {
        ConsensusMessage {
            sync: self.sync_info(),
            body,
        }
    }

    pub(crate) fn send(&mut self, to: Address, body: MessageBody) {
        let message = self.message(body);
        self.fx.push(Action::Send { to, message });
    }

    pub(super) fn broadcast(&mut self, body: MessageBody) {
        let message = self.message(body);
        self.fx.push(Action::Broadcast { message });
    }
}
