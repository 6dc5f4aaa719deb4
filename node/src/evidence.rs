//! Turning an equivocation the core saw into an Evidence transaction, signed by the home's
//! account key and admitted to the node's own mempool like any client's transaction.

use crate::runtime::{Shared, StateView, now_ms};
use runnet_types::consensus::Evidence;
use runnet_types::{Payload, SecretKey, TxBody};

/// Gas for an evidence transaction: two signature checks and a slash.
const EVIDENCE_GAS_LIMIT: u64 = 1_000_000;

pub fn submit(shared: &Shared, account: Option<&SecretKey>, evidence: Evidence) {
    let Some(key) = account else {
        tracing::warn!("no account.key in this home: the evidence is not submitted");
        return;
    };
    let address = key.public().address();
    let committed = shared
        .executor
        .account(&address)
        .map(|a| a.nonce)
        .unwrap_or(0);
    let mut mempool = shared.mempool.lock();
    let tx = TxBody {
        chain_id: shared.chain_id.clone(),
        sender: key.public(),
        nonce: mempool.next_nonce(&address, committed),
        gas_limit: EVIDENCE_GAS_LIMIT,
        gas_price: shared.genesis.params.min_gas_price,
        payload: Payload::Evidence(Box::new(evidence)),
    }
    .sign(key);
    match mempool.admit(&tx.encode(), &StateView(&shared.executor), now_ms()) {
        Ok(hash) => tracing::info!(%hash, "evidence submitted"),
        Err(e) => tracing::warn!("evidence not admitted: {e}"),
    }
}
