//! The agent's transactions: signed by the home's `account.key`, admitted to the node's own
//! mempool like a client's, and followed until a receipt says what became of them.
//!
//! Nonces come from the mempool's `next_nonce` over the executed nonce, raised past this agent's
//! own transactions still in flight (a block may have committed one the executor has not run
//! yet). A transaction that leaves the mempool without a receipt, or is skipped by a block
//! (a nonce gap, the block full), is reported as lost; the agent's next look at the state then
//! sends what is still needed again, with a fresh nonce.

use crate::runtime::{Shared, StateView, now_ms};
use runnet_state::{ErrorCode, Outcome, Receipt};
use runnet_types::{Address, Hash, Payload, SecretKey, TxBody};
use std::collections::BTreeMap;

/// Blocks a transaction may be neither pending nor executed before it counts as lost (a
/// committed block can take a moment to execute here).
const LOST_AFTER_BLOCKS: u64 = 3;
/// Gas above the exact need: the schedule charges only base, bytes and stored bytes.
const GAS_MARGIN: u128 = 1_000;

/// What a transaction was for: at most one of each in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    Register(Hash),
    /// UnjailRunner for one of our runners, by runner id.
    Unjail(Hash),
    Commit(Hash),
    Reveal(Hash),
    Submit(Hash),
    Emit(Hash),
}

impl Purpose {
    pub fn kind(&self) -> &'static str {
        match self {
            Purpose::Register(_) => "register",
            Purpose::Unjail(_) => "unjail",
            Purpose::Commit(_) => "commit",
            Purpose::Reveal(_) => "reveal",
            Purpose::Submit(_) => "submit",
            Purpose::Emit(_) => "event",
        }
    }
}

/// What became of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    Done,
    /// It ran and broke a rule: sending it again would fail the same way.
    Failed(ErrorCode, String),
    /// Skipped or gone: worth sending again if still needed.
    Lost(String),
}

struct Inflight {
    purpose: Purpose,
    nonce: u64,
    missing_since: Option<u64>,
}

pub struct Submitter {
    key: SecretKey,
    address: Address,
    inflight: BTreeMap<Hash, Inflight>,
}

impl Submitter {
    pub fn new(key: SecretKey) -> Submitter {
        Submitter {
            address: key.public().address(),
            key,
            inflight: BTreeMap::new(),
        }
    }

    pub fn address(&self) -> Address {
        self.address
    }

    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    pub fn in_flight(&self, purpose: &Purpose) -> bool {
        self.inflight.values().any(|i| i.purpose == *purpose)
    }

    /// Signs `payload` with the next nonce and admits it to the node's mempool.
    pub fn send(
        &mut self,
        shared: &Shared,
        payload: Payload,
        purpose: Purpose,
    ) -> Result<Hash, String> {
        let params = shared.executor.params();
        let executed = shared
            .executor
            .account(&self.address)
            .map_err(|e| e.to_string())?
            .nonce;
        let floor = self
            .inflight
            .values()
            .map(|i| i.nonce.saturating_add(1))
            .filter(|n| *n > executed)
            .max()
            .unwrap_or(executed);
        let mut body = TxBody {
            chain_id: shared.chain_id.clone(),
            sender: self.key.public(),
            nonce: 0,
            gas_limit: u64::MAX,
            gas_price: params.min_gas_price,
            payload,
        };
        // The size with the widest gas limit bounds the real size from above.
        let size = body.clone().sign(&self.key).encode().len();
        let gas = runnet_state::executor::intrinsic_gas(params, &body.payload, size) + GAS_MARGIN;
        body.gas_limit = u64::try_from(gas)
            .unwrap_or(u64::MAX)
            .min(params.max_block_gas);
        let (hash, nonce) = {
            let mut mempool = shared.mempool.lock();
            body.nonce = mempool.next_nonce(&self.address, executed).max(floor);
            let nonce = body.nonce;
            let tx = body.sign(&self.key);
            let hash = mempool
                .admit(&tx.encode(), &StateView(&shared.executor), now_ms())
                .map_err(|e| format!("the mempool refused it: {e}"))?;
            (hash, nonce)
        };
        shared.metrics.txs_admitted.inc();
        shared.admitted.notify_one();
        shared.metrics.agent_sent(purpose.kind());
        self.inflight.insert(
            hash,
            Inflight {
                purpose,
                nonce,
                missing_since: None,
            },
        );
        Ok(hash)
    }

    /// What became of the transactions in flight, after block `height` with `receipts`.
    pub fn settle(
        &mut self,
        shared: &Shared,
        height: u64,
        receipts: &[Receipt],
    ) -> Vec<(Purpose, Fate)> {
        let mut out = Vec::new();
        if self.inflight.is_empty() {
            return out;
        }
        for receipt in receipts {
            if let Some(sent) = self.inflight.remove(&receipt.tx) {
                out.push((sent.purpose, fate_of(&receipt.outcome)));
            }
        }
        let mut gone = Vec::new();
        {
            let mempool = shared.mempool.lock();
            for (hash, sent) in self.inflight.iter_mut() {
                if mempool.is_pending(hash) {
                    sent.missing_since = None;
                    continue;
                }
                // Executed while this agent was not looking (a restart, say).
                if let Ok(Some(record)) = shared.blocks.tx(hash) {
                    gone.push((*hash, fate_of(&record.receipt.outcome)));
                    continue;
                }
                let since = *sent.missing_since.get_or_insert(height);
                if height >= since + LOST_AFTER_BLOCKS {
                    gone.push((
                        *hash,
                        Fate::Lost("left the mempool without a receipt".into()),
                    ));
                }
            }
        }
        for (hash, fate) in gone {
            if let Some(sent) = self.inflight.remove(&hash) {
                out.push((sent.purpose, fate));
            }
        }
        out
    }
}

pub fn fate_of(outcome: &Outcome) -> Fate {
    match outcome {
        Outcome::Success => Fate::Done,
        Outcome::Failed { code, detail } => Fate::Failed(*code, detail.clone()),
        Outcome::Skipped { reason } => Fate::Lost(format!("skipped by its block: {reason:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_state::SkipReason;

    #[test]
    fn receipts_become_fates() {
        assert_eq!(fate_of(&Outcome::Success), Fate::Done);
        assert_eq!(
            fate_of(&Outcome::Failed {
                code: ErrorCode::WrongPhase,
                detail: "late".into()
            }),
            Fate::Failed(ErrorCode::WrongPhase, "late".into())
        );
        assert!(matches!(
            fate_of(&Outcome::Skipped {
                reason: SkipReason::BadNonce
            }),
            Fate::Lost(reason) if reason.contains("BadNonce")
        ));
        assert_eq!(Purpose::Commit(Hash::ZERO).kind(), "commit");
    }
}
