//! `runnet testnet up --byzantine I:MODE`: node I attacks the chain on purpose, and the summary
//! says what the honest nodes refused, scored and slashed, and the commit rate they kept.
//!
//! `up` writes a `[byzantine]` section into node I's config.toml before its first start (the
//! node refuses one on a chain that is not a testnet's, or without [`ACKNOWLEDGE`]), with
//! `wait_for_signal`: the node behaves until `up` sends it SIGUSR1 halfway through the run, so
//! the first half measures the chain without the attack and the second half with it.

use crate::error::{TestnetError, io};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

/// The node's `[byzantine] acknowledge` sentence (node/src/byzantine.rs checks they match).
pub const ACKNOWLEDGE: &str = "this node attacks its own chain on purpose";

/// The modes the node knows (node/src/byzantine.rs checks they match).
pub const MODES: [&str; 5] = [
    "junk-batches",
    "poison-block",
    "equivocate",
    "fetch-flood",
    "withhold",
];

/// Modes only a validator can make.
pub fn needs_validator(mode: &str) -> bool {
    matches!(mode, "poison-block" | "equivocate" | "withhold")
}

/// One `--byzantine I:MODE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByzantineSpec {
    pub node: usize,
    pub mode: String,
}

impl FromStr for ByzantineSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<ByzantineSpec, String> {
        let (node, mode) = s
            .split_once(':')
            .ok_or_else(|| format!("--byzantine {s}: expected I:MODE, e.g. 3:equivocate"))?;
        let node = node
            .trim()
            .parse()
            .map_err(|_| format!("--byzantine {s}: '{node}' is not a node index"))?;
        let mode = mode.trim();
        if !MODES.contains(&mode) {
            return Err(format!(
                "--byzantine {s}: unknown mode '{mode}' (one of {})",
                MODES.join(", ")
            ));
        }
        Ok(ByzantineSpec {
            node,
            mode: mode.to_string(),
        })
    }
}

/// The modes per node, checked against the network's shape.
pub fn plan(
    specs: &[ByzantineSpec],
    validators: usize,
    full_nodes: usize,
) -> Result<BTreeMap<usize, Vec<String>>, TestnetError> {
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for spec in specs {
        if spec.node >= validators + full_nodes {
            return Err(TestnetError::Usage(format!(
                "--byzantine {}:{}: there are only {validators} validators and {full_nodes} full \
                 nodes (nodes 0..{})",
                spec.node,
                spec.mode,
                validators + full_nodes
            )));
        }
        if spec.node >= validators && needs_validator(&spec.mode) {
            return Err(TestnetError::Usage(format!(
                "--byzantine {}:{}: node {} is a full node; {} needs a validator",
                spec.node, spec.mode, spec.node, spec.mode
            )));
        }
        let modes = out.entry(spec.node).or_default();
        if !modes.contains(&spec.mode) {
            modes.push(spec.mode.clone());
        }
    }
    Ok(out)
}

/// Adds the `[byzantine]` section to a home's config.toml.
pub fn write_config(home: &Path, modes: &[String]) -> Result<(), TestnetError> {
    let path = home.join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(io(format!("read {}", path.display())))?;
    let mut config: toml::Table = toml::from_str(&text)
        .map_err(|e| TestnetError::Binary(format!("{}: {e}", path.display())))?;
    let mut section = toml::Table::new();
    section.insert(
        "modes".into(),
        toml::Value::Array(modes.iter().cloned().map(toml::Value::String).collect()),
    );
    section.insert(
        "acknowledge".into(),
        toml::Value::String(ACKNOWLEDGE.into()),
    );
    section.insert("wait_for_signal".into(), toml::Value::Boolean(true));
    config.insert("byzantine".into(), toml::Value::Table(section));
    let text = toml::to_string(&config)
        .map_err(|e| TestnetError::Binary(format!("{}: {e}", path.display())))?;
    std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))
}

/// Commit rates over one phase of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub seconds: f64,
    pub blocks: u64,
    pub blocks_per_s: f64,
    /// Transactions in the blocks the honest nodes executed, per second.
    pub txs_per_s: f64,
}

/// What one attack did and what the honest nodes made of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttackReport {
    pub node: usize,
    pub validator: bool,
    pub modes: Vec<String>,
    /// What the attacker's node counted sending (`runnet_attacks_total{mode}`).
    pub sent: BTreeMap<String, u64>,
    /// The honest nodes' counters during the attack, summed over them: pushed batches refused by
    /// reason, consensus messages refused by reason, fetches and sync requests answered empty or
    /// dropped, transactions relayed from a stranger's batches, and offences scored against peers.
    pub refused_batches: BTreeMap<String, u64>,
    pub refused_consensus: BTreeMap<String, u64>,
    pub fetches_refused: u64,
    pub syncs_refused: u64,
    pub txs_relayed: u64,
    pub offences: u64,
    /// `double_sign` slashes the chain applied.
    pub double_sign_slashes: u64,
    /// The attacker's validator status at the end (`active`, `jailed`, ...), for a validator.
    pub status: Option<String>,
    pub stake_before: Option<u64>,
    pub stake_after: Option<u64>,
    pub before: Rate,
    pub during: Rate,
    /// `during.txs_per_s / before.txs_per_s` (and blocks): the commit rate the honest nodes kept.
    pub kept_txs: f64,
    pub kept_blocks: f64,
}

impl AttackReport {
    /// The summary's lines for this attack.
    pub fn to_text(&self) -> String {
        let list = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut out = format!(
            "\nattack: node{} ({}) {}: sent {}\n  honest nodes refused batches: {}; consensus \
             messages: {}; fetches answered empty {}, sync requests dropped {}, txs relayed {}, \
             offences scored {}",
            self.node,
            if self.validator {
                "validator"
            } else {
                "full node"
            },
            self.modes.join("+"),
            list(&self.sent),
            list(&self.refused_batches),
            list(&self.refused_consensus),
            self.fetches_refused,
            self.syncs_refused,
            self.txs_relayed,
            self.offences,
        );
        if self.validator {
            out.push_str(&format!(
                "\n  slashed (double_sign) {}, status {}, stake {} -> {}",
                self.double_sign_slashes,
                self.status.as_deref().unwrap_or("?"),
                self.stake_before.map_or("?".into(), |s| s.to_string()),
                self.stake_after.map_or("?".into(), |s| s.to_string()),
            ));
        }
        out.push_str(&format!(
            "\n  commit rate kept: {:.0} % of txs/s ({:.1} -> {:.1}), {:.0} % of blocks/s \
             ({:.2} -> {:.2})",
            self.kept_txs * 100.0,
            self.before.txs_per_s,
            self.during.txs_per_s,
            self.kept_blocks * 100.0,
            self.before.blocks_per_s,
            self.during.blocks_per_s,
        ));
        out
    }
}

/// The largest sizes any honest node reached during the run, and their bounds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    pub stored_batch_bytes: u64,
    pub stored_batch_bytes_bound: u64,
    pub mempool_bytes: u64,
    pub mempool_bytes_bound: u64,
    pub rss_bytes: u64,
    /// Size of the largest honest node's data folder at the end.
    pub data_bytes: u64,
    pub within: bool,
}

/// Sums `PREFIX{label="X"}` over the maps as X → total.
pub fn by_label(metrics: &[&BTreeMap<String, f64>], prefix: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for m in metrics {
        for (name, value) in m.iter() {
            if let Some(rest) = name.strip_prefix(prefix)
                && let Some(rest) = rest.strip_prefix('{')
                && let Some((_, label)) = rest.split_once("=\"")
                && let Some(label) = label.strip_suffix("\"}")
            {
                *out.entry(label.to_string()).or_insert(0) += *value as u64;
            }
        }
    }
    out
}

/// Sums a plain metric over the maps.
pub fn sum(metrics: &[&BTreeMap<String, f64>], name: &str) -> u64 {
    metrics
        .iter()
        .filter_map(|m| m.get(name))
        .map(|v| *v as u64)
        .sum()
}

/// `after - before`, key by key (counters only grow; a restarted node's reset counts as 0).
pub fn delta(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(*before.get(k).unwrap_or(&0))))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Resident memory of a process, from /proc (0 where there is none).
pub fn rss_bytes(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Bytes of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_are_checked_against_the_network() {
        let spec: ByzantineSpec = "3:equivocate".parse().unwrap();
        assert_eq!(spec.node, 3);
        assert!("3".parse::<ByzantineSpec>().is_err());
        assert!("x:withhold".parse::<ByzantineSpec>().is_err());
        assert!(
            "1:nonsense"
                .parse::<ByzantineSpec>()
                .unwrap_err()
                .contains("withhold")
        );
        let specs: Vec<ByzantineSpec> = ["3:equivocate", "3:withhold", "3:withhold"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let plan = plan(&specs, 4, 0).unwrap();
        assert_eq!(plan[&3], vec!["equivocate", "withhold"]);
        let full = ["4:equivocate".parse().unwrap()];
        assert!(
            super::plan(&full, 4, 1)
                .unwrap_err()
                .to_string()
                .contains("full node")
        );
        let junk = ["4:junk-batches".parse().unwrap()];
        assert!(super::plan(&junk, 4, 1).is_ok());
        assert!(
            super::plan(&junk, 4, 0)
                .unwrap_err()
                .to_string()
                .contains("only 4")
        );
    }

    #[test]
    fn labelled_metrics_are_summed_and_differenced() {
        let a = crate::api::parse_metrics(
            "runnet_batch_refusals_total{reason=\"duplicate\"} 5\n\
             runnet_batch_refusals_total{reason=\"junk\"} 1\nrunnet_peers 3\n",
        );
        let b = crate::api::parse_metrics("runnet_batch_refusals_total{reason=\"duplicate\"} 2\n");
        let total = by_label(&[&a, &b], "runnet_batch_refusals");
        assert_eq!(total["duplicate"], 7);
        assert_eq!(total["junk"], 1);
        let before = BTreeMap::from([("duplicate".to_string(), 3u64)]);
        let d = delta(&total, &before);
        assert_eq!(d["duplicate"], 4);
        assert_eq!(sum(&[&a, &b], "runnet_peers"), 3);
    }

    #[test]
    fn the_section_is_written_beside_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "moniker = \"n\"\n").unwrap();
        write_config(dir.path(), &["equivocate".into()]).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(t["byzantine"]["acknowledge"].as_str(), Some(ACKNOWLEDGE));
        assert_eq!(t["byzantine"]["modes"][0].as_str(), Some("equivocate"));
        assert_eq!(t["moniker"].as_str(), Some("n"));
    }
}
