//! What `runnet testnet up` concludes: throughput, latency, the economy's counts, and the safety
//! checks it makes itself (every node's committed blocks and state roots, height by height).

use crate::api::Api;
use crate::hist::Percentiles;
use runnet_types::Hash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Executions {
    pub completed: u64,
    pub rejected: u64,
    pub expired: u64,
}

/// The summary; with `--json` it is the last line of stdout.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpSummary {
    pub validators: u64,
    /// Seconds the workload ran.
    pub duration_s: u64,
    /// Blocks committed during the run (highest committed height reached, less the height when
    /// the workload started).
    pub blocks: u64,
    /// Workload transactions seen committed.
    pub txs_committed: u64,
    pub slashes: u64,
    /// The slashes by rule (`wrong_result`, `withheld_reveal`, `verifier_fault`,
    /// `double_sign`); reasons that never happened are absent.
    #[serde(default)]
    pub slashes_by_reason: BTreeMap<String, u64>,
    /// `txs_committed / duration_s`.
    pub tps: f64,
    /// From submit to observed commit.
    pub latency_ms: Percentiles,
    pub executions: Executions,
    /// Every pair of nodes has the same block hash at every height both hold.
    pub safety_ok: bool,
    /// Every pair of nodes has the same state root after every block both executed.
    pub roots_agree: bool,
    /// Each node's committed height at the end (`null` for a node that could not be asked).
    pub heights: Vec<Option<u64>>,
    /// Heights compared across at least two nodes.
    pub heights_compared: u64,
    /// Faults applied, as `TIME ACTION`.
    pub faults: Vec<String>,
    /// Longest time the network went without a new committed block, seconds.
    pub max_commit_gap_s: f64,
    /// Offered load, transactions per second.
    pub load: u64,
    pub sent: u64,
    pub admitted: u64,
    pub refused: BTreeMap<String, u64>,
    /// Where homes and logs were kept (`--keep`), else null.
    pub dir: Option<String>,
    /// The ticker's process when process events were on (`event` in `--mix`), else null.
    #[serde(default)]
    pub process: Option<ProcessRuns>,
    /// `--byzantine`: each attacker's modes, what the honest nodes refused, scored and slashed,
    /// and the commit rate they kept (the run's second half against its first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<crate::byzantine::AttackReport>,
    /// `--byzantine`: the largest the honest nodes' stores grew, against their bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<crate::byzantine::Bounds>,
    /// The arith runners `up` started, with their stake at the end as the chain holds it: the
    /// honest ones should keep theirs (at most a downtime slash for a node the faults kept out),
    /// the liar should not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runners: Vec<RunnerStanding>,
    /// Disagreements and other findings, in words.
    pub problems: Vec<String>,
}

/// One runner `up` started, at the end of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunnerStanding {
    /// The validator whose agent runs it.
    pub node: usize,
    pub id: String,
    /// `honest` or the fault mode it was started in (`wrong_result`).
    pub mode: String,
    pub stake_start: u64,
    /// Its stake at the end (`null` when no node could be asked).
    pub stake: Option<u64>,
    /// Its status at the end (`active`, `jailed`, `leaving`, `left`).
    pub status: Option<String>,
    /// Duties recorded missed (executions expired on it, verdicts never committed).
    pub missed: Option<u64>,
}

/// Reads each runner from the first node that answers.
pub fn read_runners(
    apis: &[Api],
    runners: &[(usize, String, String)],
    stake_start: u64,
) -> Vec<RunnerStanding> {
    runners
        .iter()
        .map(|(node, id, mode)| {
            let found = first_answer(apis, &format!("/v1/runner/{id}"));
            let field = |name: &str| found.as_ref().and_then(|r| r.get(name));
            RunnerStanding {
                node: *node,
                id: id.clone(),
                mode: mode.clone(),
                stake_start,
                stake: field("stake").and_then(serde_json::Value::as_u64),
                status: field("status").and_then(|s| s.as_str()).map(str::to_string),
                missed: field("missed").and_then(serde_json::Value::as_u64),
            }
        })
        .collect()
}

/// What the ticker's process did, as the chain counts it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessRuns {
    pub id: String,
    /// Walks run: each firing on a tick that reached its quorum, each resumption after a task.
    pub walks: u64,
    /// Executions its walks requested (add, then mul).
    pub executions: u64,
}

/// `GET path` from the first node that answers it.
fn first_answer(apis: &[Api], path: &str) -> Option<serde_json::Value> {
    apis.iter()
        .find_map(|api| api.get_optional::<serde_json::Value>(path).ok().flatten())
}

/// Reads the process from the first node that answers; zeros when none does.
pub fn read_process(apis: &[Api], id: &str) -> ProcessRuns {
    let found = first_answer(apis, &format!("/v1/process/{id}"));
    let count = |field: &str| {
        found
            .as_ref()
            .and_then(|p| p.get(field).or_else(|| p.get("summary")?.get(field)))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    ProcessRuns {
        id: id.to_string(),
        walks: count("walks"),
        executions: count("executions"),
    }
}

impl UpSummary {
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn to_text(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        let mut out = format!(
            "validators {}  duration {} s  blocks {}  committed {} txs ({:.1} tx/s)  latency p50 {} ms p99 {} ms\n\
             executions: {} completed, {} rejected, {} expired  slashes {}\n\
             safety (same blocks at every height): {}  state roots agree: {}  ({} heights compared)\n\
             longest stretch without a commit: {:.1} s",
            self.validators,
            self.duration_s,
            self.blocks,
            self.txs_committed,
            self.tps,
            self.latency_ms.p50,
            self.latency_ms.p99,
            self.executions.completed,
            self.executions.rejected,
            self.executions.expired,
            self.slashes,
            yes(self.safety_ok),
            yes(self.roots_agree),
            self.heights_compared,
            self.max_commit_gap_s,
        );
        if !self.slashes_by_reason.is_empty() {
            let reasons: Vec<String> = self
                .slashes_by_reason
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            out.push_str(&format!("\nslashes by rule: {}", reasons.join(", ")));
        }
        if let Some(p) = &self.process {
            out.push_str(&format!(
                "\nprocess {}: {} walks, {} executions requested",
                p.id, p.walks, p.executions
            ));
        }
        for r in &self.runners {
            let stake = r.stake.map_or("?".to_string(), |s| s.to_string());
            out.push_str(&format!(
                "\nrunner of node{} ({}): stake {} of {}, {}, {} duties missed",
                r.node,
                r.mode,
                stake,
                r.stake_start,
                r.status.as_deref().unwrap_or("?"),
                r.missed.map_or("?".to_string(), |m| m.to_string()),
            ));
        }
        if !self.faults.is_empty() {
            out.push_str(&format!("\nfaults: {}", self.faults.join("; ")));
        }
        for a in &self.attacks {
            out.push_str(&a.to_text());
        }
        if let Some(b) = &self.bounds {
            out.push_str(&format!(
                "\nhonest nodes' peaks: stored batches {} of {} bytes, mempool {} of {} bytes, \
                 memory {} MiB, data {} MiB: {}",
                b.stored_batch_bytes,
                b.stored_batch_bytes_bound,
                b.mempool_bytes,
                b.mempool_bytes_bound,
                b.rss_bytes >> 20,
                b.data_bytes >> 20,
                if b.within {
                    "within bounds"
                } else {
                    "OVER A BOUND"
                }
            ));
        }
        if let Some(dir) = &self.dir {
            out.push_str(&format!("\nhomes and logs kept in {dir}"));
        }
        for p in &self.problems {
            out.push_str(&format!("\nproblem: {p}"));
        }
        out
    }
}

/// One node's view of a height: the block hash and, once executed there, the state root.
pub type Chain = BTreeMap<u64, (Hash, Option<Hash>)>;

/// The verdicts of the safety check: (blocks agree, roots agree, heights compared, problems).
pub fn compare(chains: &[Option<Chain>]) -> (bool, bool, u64, Vec<String>) {
    let mut safety_ok = true;
    let mut roots_agree = true;
    let mut compared = 0u64;
    let mut problems = Vec::new();
    let heights: std::collections::BTreeSet<u64> = chains
        .iter()
        .flatten()
        .flat_map(|c| c.keys().copied())
        .collect();
    for h in heights {
        let views: Vec<(usize, &(Hash, Option<Hash>))> = chains
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref()?.get(&h).map(|v| (i, v)))
            .collect();
        if views.len() < 2 {
            continue;
        }
        compared += 1;
        let Some(&(first_node, (first_hash, _))) = views.first() else {
            continue;
        };
        for (node, (hash, _)) in &views {
            if hash != first_hash && problems.len() < 20 {
                safety_ok = false;
                problems.push(format!(
                    "height {h}: node{first_node} committed {first_hash}, node{node} committed {hash}"
                ));
            } else if hash != first_hash {
                safety_ok = false;
            }
        }
        let roots: Vec<(usize, Hash)> = views
            .iter()
            .filter_map(|(i, (_, root))| root.map(|r| (*i, r)))
            .collect();
        if let Some(&(root_node, first_root)) = roots.first() {
            for (node, root) in &roots {
                if *root != first_root {
                    roots_agree = false;
                    if problems.len() < 20 {
                        problems.push(format!(
                            "height {h}: state root {first_root} on node{root_node}, {root} on node{node}"
                        ));
                    }
                }
            }
        }
    }
    (safety_ok, roots_agree, compared, problems)
}

/// Reads every committed block of one node (heights 1..=its committed height).
pub fn read_chain(api: &Api) -> Option<Chain> {
    let top = api.status().ok()?.committed_height;
    let mut chain = Chain::new();
    for h in 1..=top {
        match api.block(h) {
            Ok(Some(b)) if b.height == h => {
                chain.insert(h, (b.hash, b.state_root));
            }
            // Pruned or not stored: nothing to compare at this height.
            Ok(_) => {}
            Err(_) => return (!chain.is_empty()).then_some(chain),
        }
    }
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        Hash([n; 32])
    }

    #[test]
    fn the_summary_json_has_the_promised_fields_and_types() {
        let s = UpSummary {
            validators: 4,
            duration_s: 60,
            blocks: 61,
            txs_committed: 12_000,
            slashes: 1,
            tps: 200.0,
            latency_ms: Percentiles {
                p50: 420.0,
                p99: 950.0,
            },
            executions: Executions {
                completed: 5,
                rejected: 1,
                expired: 2,
            },
            safety_ok: true,
            roots_agree: true,
            ..UpSummary::default()
        };
        let line = s.to_json_line();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for key in [
            "validators",
            "duration_s",
            "blocks",
            "txs_committed",
            "slashes",
        ] {
            assert!(v[key].is_u64(), "{key} must be an integer");
        }
        assert!(v["tps"].is_number());
        assert!(v["latency_ms"]["p50"].is_number() && v["latency_ms"]["p99"].is_number());
        for key in ["completed", "rejected", "expired"] {
            assert!(v["executions"][key].is_u64(), "executions.{key}");
        }
        assert_eq!(v["safety_ok"], serde_json::Value::Bool(true));
        assert_eq!(v["roots_agree"], serde_json::Value::Bool(true));
        let back: UpSummary = serde_json::from_str(&line).unwrap();
        assert_eq!(back, s);
        assert!(
            s.to_text()
                .contains("safety (same blocks at every height): yes")
        );
    }

    #[test]
    fn agreeing_chains_pass_and_a_fork_or_root_mismatch_is_named() {
        let a: Chain = [(1, (h(1), Some(h(11)))), (2, (h(2), Some(h(12))))].into();
        let mut lagging = a.clone();
        lagging.remove(&2);
        lagging.insert(1, (h(1), None));
        let (safe, roots, compared, problems) =
            compare(&[Some(a.clone()), Some(lagging.clone()), None]);
        assert!(safe && roots && problems.is_empty());
        assert_eq!(compared, 1);

        let mut fork = a.clone();
        fork.insert(2, (h(9), Some(h(12))));
        let (safe, roots, _, problems) = compare(&[Some(a.clone()), Some(fork)]);
        assert!(!safe && roots);
        assert!(problems[0].contains("height 2") && problems[0].contains("node1"));

        let mut bad_root = a.clone();
        bad_root.insert(1, (h(1), Some(h(99))));
        let (safe, roots, _, problems) = compare(&[Some(a), Some(bad_root)]);
        assert!(safe && !roots);
        assert!(problems[0].contains("state root"));
        // Nothing to compare is not a failure, but compares nothing.
        assert_eq!(compare(&[None, None]).2, 0);
    }
}
