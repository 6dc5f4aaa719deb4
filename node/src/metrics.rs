//! Prometheus metrics (`GET /metrics`), through the `prometheus-client` crate.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    pub height: Gauge,
    pub committed_height: Gauge,
    pub round: Gauge,
    pub epoch: Gauge,
    pub blocks_committed: Counter,
    pub timeouts: Counter,
    pub txs_committed: Counter,
    pub batches_sealed: Counter,
    pub batches_received: Counter,
    pub batches_refused: Counter,
    pub batches_shed: Counter,
    /// Peer batches refused, by [`runnet_mempool::BatchRejected::kind`].
    pub batch_refusals: Family<Labels, Counter>,
    /// Stored batches dropped because no block named them in time.
    pub batches_expired: Counter,
    /// Transactions admitted from batches of peers that are not validators.
    pub txs_relayed: Counter,
    /// Peers' batch fetches answered empty because the peer or the node was at its bound.
    pub fetches_refused: Counter,
    /// Peers' sync requests dropped unserved: the peer was over its sync budget.
    pub syncs_refused: Counter,
    /// Sync answers built off the driver (sync_serve.rs) and sent.
    pub syncs_served: Counter,
    /// Peers' sync requests within their budget dropped unserved: the sync server's queue was
    /// at its bound for the peer or for all, or the same request of the peer was still waiting.
    pub syncs_busy: Counter,
    /// Test networks only: what this node's `[byzantine]` modes did, by mode.
    pub attacks: Family<Labels, Counter>,
    pub mempool_txs: Gauge,
    /// Uncommitted batches held (own and peers'), and their bytes: bounded by the mempool's
    /// store limits, whatever peers send.
    pub stored_batches: Gauge,
    pub stored_batch_bytes: Gauge,
    pub mempool_bytes: Gauge,
    pub peers: Gauge,
    pub txs_admitted: Counter,
    pub txs_refused: Family<Labels, Counter>,
    pub consensus_refused: Family<Labels, Counter>,
    pub execution_seconds: Histogram,
    /// Batch fetches by the execution thread, for blocks learnt without their batches.
    pub execution_fetches: Counter,
    pub peer_offences: Counter,
    /// Chain-wide, counted from each executed block (every node counts the same blocks).
    pub executions_completed: Counter,
    pub executions_rejected: Counter,
    pub executions_expired: Counter,
    pub executions_cancelled: Counter,
    pub slashes: Counter,
    pub slashes_by_reason: Family<Labels, Counter>,
    /// This node's agent: answers it sent, by kind (result, verdict, event, register).
    pub agent_sent: Family<Labels, Counter>,
    /// This node's agent: runs that gave no answer, by reason (crash, timeout, vm, ...).
    pub agent_failures: Family<Labels, Counter>,
    /// Tasks waiting for a worker.
    pub agent_queue: Gauge,
    /// Transaction signatures checked, by where: `admission` (the API), `batch` (a peer's
    /// batch, pushed or fetched), `execution` (a batch fetched to execute a block).
    pub signatures_checked: Family<Labels, Counter>,
    /// The p2p layer's own counters ([`runnet_p2p::NetworkStats`]), brought up to date at each
    /// scrape ([`Metrics::observe_network`]).
    p2p: P2pCounters,
}

/// [`runnet_p2p::NetworkStats`] as Prometheus counters.
#[derive(Default)]
struct P2pCounters {
    messages_in: Counter,
    messages_out: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    events_dropped: Counter,
    outbound_dropped: Counter,
    rate_dropped: Counter,
    /// Two scrapes at once must not both add the same increase.
    lock: std::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("runnet");
        let m = Metrics {
            height: Gauge::default(),
            committed_height: Gauge::default(),
            round: Gauge::default(),
            epoch: Gauge::default(),
            blocks_committed: Counter::default(),
            timeouts: Counter::default(),
            txs_committed: Counter::default(),
            batches_sealed: Counter::default(),
            batches_received: Counter::default(),
            batches_refused: Counter::default(),
            batches_shed: Counter::default(),
            batch_refusals: Family::default(),
            batches_expired: Counter::default(),
            txs_relayed: Counter::default(),
            fetches_refused: Counter::default(),
            syncs_refused: Counter::default(),
            syncs_served: Counter::default(),
            syncs_busy: Counter::default(),
            attacks: Family::default(),
            mempool_txs: Gauge::default(),
            stored_batches: Gauge::default(),
            stored_batch_bytes: Gauge::default(),
            mempool_bytes: Gauge::default(),
            peers: Gauge::default(),
            txs_admitted: Counter::default(),
            txs_refused: Family::default(),
            consensus_refused: Family::default(),
            execution_fetches: Counter::default(),
            execution_seconds: Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            peer_offences: Counter::default(),
            executions_completed: Counter::default(),
            executions_rejected: Counter::default(),
            executions_expired: Counter::default(),
            executions_cancelled: Counter::default(),
            slashes: Counter::default(),
            slashes_by_reason: Family::default(),
            agent_sent: Family::default(),
            agent_failures: Family::default(),
            agent_queue: Gauge::default(),
            signatures_checked: Family::default(),
            p2p: P2pCounters::default(),
            registry: Registry::default(),
        };
        registry.register(
            "signatures_checked",
            "Transaction signatures checked, by where (admission, batch, execution)",
            m.signatures_checked.clone(),
        );
        for (name, help, counter) in [
            (
                "p2p_messages_in",
                "Frames received from peers",
                &m.p2p.messages_in,
            ),
            (
                "p2p_messages_out",
                "Frames written to peers",
                &m.p2p.messages_out,
            ),
            ("p2p_bytes_in", "Bytes received from peers", &m.p2p.bytes_in),
            ("p2p_bytes_out", "Bytes written to peers", &m.p2p.bytes_out),
            (
                "p2p_events_dropped",
                "Network events dropped because the node's channel was full",
                &m.p2p.events_dropped,
            ),
            (
                "p2p_outbound_dropped",
                "Messages not sent: a peer's queue was full, its stream failed, or the frame was outside the limits",
                &m.p2p.outbound_dropped,
            ),
            (
                "p2p_rate_dropped",
                "Inbound messages and requests dropped for exceeding a peer's rate",
                &m.p2p.rate_dropped,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        registry.register("height", "Last executed block height", m.height.clone());
        registry.register(
            "committed_height",
            "Last committed block height",
            m.committed_height.clone(),
        );
        registry.register("round", "Current consensus round", m.round.clone());
        registry.register("epoch", "Current epoch", m.epoch.clone());
        registry.register(
            "blocks_committed",
            "Blocks committed",
            m.blocks_committed.clone(),
        );
        registry.register("timeouts", "Rounds that timed out here", m.timeouts.clone());
        registry.register(
            "txs_committed",
            "Transactions in executed blocks",
            m.txs_committed.clone(),
        );
        registry.register(
            "batches_sealed",
            "Own batches sealed",
            m.batches_sealed.clone(),
        );
        registry.register(
            "batches_received",
            "Peer batches stored",
            m.batches_received.clone(),
        );
        registry.register(
            "batches_refused",
            "Peer batches refused",
            m.batches_refused.clone(),
        );
        registry.register(
            "batches_shed",
            "Peer batches dropped unverified because the verifier's queue was full",
            m.batches_shed.clone(),
        );
        registry.register(
            "batch_refusals",
            "Peer batches refused, by reason",
            m.batch_refusals.clone(),
        );
        registry.register(
            "batches_expired",
            "Stored batches dropped because no committed block named them in time",
            m.batches_expired.clone(),
        );
        registry.register(
            "txs_relayed",
            "Transactions admitted from batches of peers that are not validators",
            m.txs_relayed.clone(),
        );
        registry.register(
            "fetches_refused",
            "Peers' batch fetches answered empty: the peer or the node was at its bound",
            m.fetches_refused.clone(),
        );
        registry.register(
            "syncs_refused",
            "Peers' sync requests dropped unserved: the peer was over its sync budget",
            m.syncs_refused.clone(),
        );
        registry.register(
            "syncs_served",
            "Sync answers built off the consensus driver and sent",
            m.syncs_served.clone(),
        );
        registry.register(
            "syncs_busy",
            "Peers' sync requests within budget dropped: the sync server was at its bound, or the request repeated one still waiting",
            m.syncs_busy.clone(),
        );
        registry.register(
            "attacks",
            "Test networks only: messages this node's [byzantine] modes sent, by mode",
            m.attacks.clone(),
        );
        registry.register("mempool_txs", "Pending transactions", m.mempool_txs.clone());
        registry.register(
            "stored_batches",
            "Uncommitted batches held, this node's and its peers'",
            m.stored_batches.clone(),
        );
        registry.register(
            "stored_batch_bytes",
            "Bytes of the uncommitted batches held",
            m.stored_batch_bytes.clone(),
        );
        registry.register("mempool_bytes", "Pending bytes", m.mempool_bytes.clone());
        registry.register("peers", "Connected peers", m.peers.clone());
        registry.register(
            "txs_admitted",
            "Transactions admitted to the mempool",
            m.txs_admitted.clone(),
        );
        registry.register(
            "txs_refused",
            "Transactions refused, by reason",
            m.txs_refused.clone(),
        );
        registry.register(
            "consensus_refused",
            "Consensus messages refused, by reason",
            m.consensus_refused.clone(),
        );
        registry.register(
            "execution_seconds",
            "Time to execute one committed block",
            m.execution_seconds.clone(),
        );
        registry.register(
            "execution_fetches",
            "Batch fetches by the execution thread (blocks learnt by sync lack their batches)",
            m.execution_fetches.clone(),
        );
        registry.register(
            "peer_offences",
            "Bad messages reported against peers",
            m.peer_offences.clone(),
        );
        registry.register(
            "executions_completed",
            "Executions settled completed or completed-unverified, chain-wide",
            m.executions_completed.clone(),
        );
        registry.register(
            "executions_rejected",
            "Executions settled rejected, chain-wide",
            m.executions_rejected.clone(),
        );
        registry.register(
            "executions_expired",
            "Executions expired, chain-wide",
            m.executions_expired.clone(),
        );
        registry.register(
            "executions_cancelled",
            "Executions cancelled for want of a runner, chain-wide",
            m.executions_cancelled.clone(),
        );
        registry.register(
            "slashes",
            "Slashes of runners, verifiers and validators, chain-wide",
            m.slashes.clone(),
        );
        registry.register(
            "slashes_by_reason",
            "Slashes by rule: wrong_result, withheld_reveal, verifier_fault, double_sign",
            m.slashes_by_reason.clone(),
        );
        registry.register(
            "agent_sent",
            "Transactions this node's agent sent, by kind",
            m.agent_sent.clone(),
        );
        registry.register(
            "agent_failures",
            "Task runs of this node's agent that gave no answer, by reason",
            m.agent_failures.clone(),
        );
        registry.register(
            "agent_queue",
            "Agent tasks waiting for a worker",
            m.agent_queue.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn agent_sent(&self, kind: &str) {
        self.agent_sent
            .get_or_create(&vec![("kind".to_string(), kind.to_string())])
            .inc();
    }

    pub fn agent_failed(&self, reason: &str) {
        self.agent_failures
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc();
    }

    /// Counts slashes of one reason; nothing when `count` is 0, so an unseen reason stays out
    /// of the output until it happens.
    pub fn slashed(&self, reason: &str, count: u64) {
        if count > 0 {
            self.slashes_by_reason
                .get_or_create(&vec![("reason".to_string(), reason.to_string())])
                .inc_by(count);
        }
    }

    pub fn refused_tx(&self, reason: &str) {
        self.refused_tx_n(reason, 1);
    }

    pub fn refused_tx_n(&self, reason: &str, count: u64) {
        self.txs_refused
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc_by(count);
    }

    pub fn batch_refused_by(&self, reason: &str) {
        self.batch_refusals
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc();
    }

    pub fn attacked(&self, mode: &str, count: u64) {
        self.attacks
            .get_or_create(&vec![("mode".to_string(), mode.to_string())])
            .inc_by(count);
    }

    pub fn consensus_refused_by(&self, reason: &str, count: u64) {
        self.consensus_refused
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc_by(count);
    }

    /// Counts `count` transaction signatures checked at `path`.
    pub fn signatures_checked(&self, path: &str, count: usize) {
        if count > 0 {
            self.signatures_checked
                .get_or_create(&vec![("path".to_string(), path.to_string())])
                .inc_by(count as u64);
        }
    }

    /// Brings the p2p counters up to `stats` (the network's totals since start).
    pub fn observe_network(&self, stats: &runnet_p2p::NetworkStats) {
        let p = &self.p2p;
        let _one_at_a_time = p
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (counter, total) in [
            (&p.messages_in, stats.messages_in),
            (&p.messages_out, stats.messages_out),
            (&p.bytes_in, stats.bytes_in),
            (&p.bytes_out, stats.bytes_out),
            (&p.events_dropped, stats.events_dropped),
            (&p.outbound_dropped, stats.outbound_dropped),
            (&p.rate_dropped, stats.rate_dropped),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_totals_become_counters_that_never_go_back() {
        let m = Metrics::new();
        let mut stats = runnet_p2p::NetworkStats {
            outbound_dropped: 7,
            bytes_out: 1_000,
            ..Default::default()
        };
        m.observe_network(&stats);
        m.observe_network(&stats);
        let text = m.render();
        assert!(
            text.contains("runnet_p2p_outbound_dropped_total 7"),
            "{text}"
        );
        assert!(text.contains("runnet_p2p_bytes_out_total 1000"), "{text}");
        stats.outbound_dropped = 9;
        m.observe_network(&stats);
        assert!(m.render().contains("runnet_p2p_outbound_dropped_total 9"));
        // A smaller total (never expected) does not make the counter go back.
        stats.outbound_dropped = 3;
        m.observe_network(&stats);
        assert!(m.render().contains("runnet_p2p_outbound_dropped_total 9"));
    }

    #[test]
    fn signatures_are_counted_by_where_they_were_checked() {
        let m = Metrics::new();
        m.signatures_checked("batch", 12);
        m.signatures_checked("batch", 3);
        m.signatures_checked("admission", 0);
        let text = m.render();
        assert!(
            text.contains("runnet_signatures_checked_total{path=\"batch\"} 15"),
            "{text}"
        );
        // Nothing checked: the label stays out until it happens.
        assert!(!text.contains("path=\"admission\""), "{text}");
    }
}
