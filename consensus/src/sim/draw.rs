//! What a seed draws before its first event, from the scenario generator alone: who is
//! faulty and how, the committees of every epoch, the network's faults, a partition and
//! crashes. The order of the draws is part of the seed's meaning: changing it replays other
//! scenarios under the same seed numbers.

use super::fakes::{Pool, Schedule, Store, make_crypto};
use super::network::{Net, Partition};
use super::world::{CHAIN_ID, EPOCHS, Node, Role, UNIT_STAKE};
use super::{ByzantineKind, Rng, ScriptedFault, SimConfig};
use runnet_types::consensus::{Committee, ValidatorInfo};
use runnet_types::{PublicKey, VrfPublicKey};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

pub(super) struct Drawn {
    pub(super) nodes: Vec<Node>,
    pub(super) schedule: Rc<Schedule>,
    pub(super) honest_keys: BTreeSet<PublicKey>,
    pub(super) net: Net,
    pub(super) partition: Option<Partition>,
    /// (node, down at, back at), the scripted crash first.
    pub(super) crashes: Vec<(usize, u64, u64)>,
    pub(super) heal_at: u64,
    pub(super) deadline: u64,
    pub(super) scenario: String,
}

pub(super) fn draw(config: &SimConfig, seed: u64, scen: &mut Rng, real_crypto: bool) -> Drawn {
    let n = config.validators;
    // Who is faulty, and how.
    let mut order: Vec<usize> = (0..n).collect();
    scen.shuffle(&mut order);
    let kinds: Vec<ByzantineKind> = if config.kinds.is_empty() {
        ByzantineKind::ALL.to_vec()
    } else {
        config.kinds.clone()
    };
    let mut roles = vec![Role::Honest; n];
    for identity in order.iter().take(config.byzantine) {
        let kind = scen.pick(&kinds).copied().unwrap_or(ByzantineKind::Silent);
        roles[*identity] = Role::Byzantine(kind);
    }

    // Keys of each identity.
    let identities: Vec<(PublicKey, VrfPublicKey)> = (0..n)
        .map(|i| {
            let c = make_crypto(real_crypto, seed, i);
            (c.public_key(), c.vrf_public_key())
        })
        .collect();
    let honest_keys = (0..n)
        .filter(|i| roles[*i] == Role::Honest)
        .map(|i| identities[i].0)
        .collect();

    // Committees: stakes vary by epoch and, when there is room, an honest validator sits an
    // epoch out and follows the chain instead.
    let mut committees = Vec::new();
    let mut stake_rng = scen.fork(5);
    for epoch in 0..EPOCHS {
        let honest: Vec<usize> = (0..n).filter(|i| roles[*i] == Role::Honest).collect();
        let sit_out = if config.faults.committee_changes
            && epoch > 0
            && 3 * config.byzantine + 1 < n.saturating_sub(1)
            && stake_rng.chance(300)
        {
            stake_rng.pick(&honest).copied()
        } else {
            None
        };
        let validators: Vec<ValidatorInfo> = (0..n)
            .filter(|i| Some(*i) != sit_out)
            .map(|i| ValidatorInfo {
                address: identities[i].0.address(),
                consensus_key: identities[i].0,
                vrf_key: identities[i].1,
                stake: match roles[i] {
                    Role::Honest if config.faults.committee_changes => {
                        UNIT_STAKE * stake_rng.range(1, 4)
                    }
                    _ => UNIT_STAKE,
                },
            })
            .collect();
        // Distinct keys and non-zero stakes by construction.
        match Committee::new(epoch, CHAIN_ID, validators, u64::MAX) {
            Ok(c) => committees.push(Arc::new(c)),
            Err(e) => panic!("simulator built an invalid committee: {e}"),
        }
    }
    let schedule = Rc::new(Schedule {
        committees,
        epoch_ms: config.epoch_ms,
    });

    // Nodes: one per identity, plus a second node for each twin.
    let mut node_identities: Vec<usize> = (0..n).collect();
    node_identities.extend((0..n).filter(|i| roles[*i] == Role::Byzantine(ByzantineKind::Twins)));
    let nodes: Vec<Node> = node_identities
        .iter()
        .map(|&identity| Node {
            identity,
            address: identities[identity].0.address(),
            role: roles[identity],
            core: None,
            store: Rc::new(RefCell::new(Store::default())),
            pool: Rc::new(RefCell::new(Pool::default())),
            incarnation: 0,
            timer_at: None,
            crash_pending: false,
            alive: false,
            evidence: BTreeSet::new(),
            hide: None,
        })
        .collect();

    // The network.
    let net = if config.faults.network {
        Net {
            drop: *scen.pick(&[0, 5, 20, 50, 100]).unwrap_or(&0),
            dup: *scen.pick(&[0, 10, 50]).unwrap_or(&0),
            min_delay: scen.range(1, 5),
            max_delay: scen.range(10, 120),
            slow: *scen.pick(&[0, 20, 50]).unwrap_or(&0),
        }
    } else {
        Net {
            drop: 0,
            dup: 0,
            min_delay: 1,
            max_delay: 10,
            slow: 0,
        }
    };
    let total_nodes = nodes.len();
    let partition = (config.faults.partitions && total_nodes > 1 && scen.chance(600)).then(|| {
        let start = scen.range(2_000, 40_000);
        let end = start + scen.range(1_000, 60_000);
        let mut group = vec![0u8; total_nodes];
        match scen.below(3) {
            0 => group.iter_mut().for_each(|g| *g = scen.below(2) as u8),
            1 => group[scen.below(total_nodes as u64) as usize] = 1,
            _ => {
                let mut idx: Vec<usize> = (0..total_nodes).collect();
                scen.shuffle(&mut idx);
                for i in idx.iter().take(total_nodes / 2) {
                    group[*i] = 1;
                }
            }
        }
        Partition { start, end, group }
    });
    let partition = match config.scripted {
        Some(sc) if sc.fault == ScriptedFault::Isolate => {
            let mut group = vec![0u8; total_nodes];
            group[sc.node] = 1;
            Some(Partition {
                start: sc.from_ms,
                end: sc.until_ms,
                group,
            })
        }
        Some(sc) if sc.fault == ScriptedFault::Crash => match config.then_isolate {
            Some(iso) => {
                let mut group = vec![0u8; total_nodes];
                group[iso.node] = 1;
                Some(Partition {
                    start: iso.from_ms,
                    end: iso.until_ms,
                    group,
                })
            }
            None => partition,
        },
        _ => partition,
    };
    let mut crashes = Vec::new();
    if let Some(sc) = config.scripted
        && sc.fault == ScriptedFault::Crash
    {
        crashes.push((sc.node, sc.from_ms, sc.until_ms));
    }
    if config.faults.crashes && scen.chance(600) {
        let mut candidates: Vec<usize> = (0..total_nodes)
            .filter(|i| nodes[*i].role == Role::Honest)
            .collect();
        scen.shuffle(&mut candidates);
        let count = scen.range(1, 2) as usize;
        for node in candidates.into_iter().take(count) {
            let at = scen.range(1_000, 60_000);
            let down = scen.range(300, 40_000);
            crashes.push((node, at, at + down));
        }
    }
    // A fault that never ends is healed, for the liveness check, when it starts: the
    // others must go on without that node.
    let ends = |end: u64, start: u64| if end == u64::MAX { start } else { end };
    let heal_at = partition
        .as_ref()
        .map_or(0, |p| ends(p.end, p.start))
        .max(
            crashes
                .iter()
                .map(|c| ends(c.2, c.1).saturating_add(2_000))
                .max()
                .unwrap_or(0),
        )
        .max(config.min_sim_ms);
    let deadline = heal_at + 10 * config.params.max_round_timeout_ms.max(1);

    let mut scenario = format!(
        "n={} byz=[{}] crypto={} drop={}‰ dup={}‰ delay={}-{}ms slow={}‰",
        n,
        roles
            .iter()
            .filter_map(|r| match r {
                Role::Byzantine(k) => Some(k.name()),
                Role::Honest => None,
            })
            .collect::<Vec<_>>()
            .join(","),
        if real_crypto { "ed25519" } else { "test" },
        net.drop,
        net.dup,
        net.min_delay,
        net.max_delay,
        net.slow
    );
    if let Some(p) = &partition {
        scenario.push_str(&format!(
            " partition={:.1}s-{:.1}s{:?}",
            p.start as f64 / 1000.0,
            p.end as f64 / 1000.0,
            p.group
        ));
    }
    for (node, at, back) in &crashes {
        scenario.push_str(&format!(
            " crash=n{node}@{:.1}s-{:.1}s",
            *at as f64 / 1000.0,
            (*back).min(u64::MAX / 2) as f64 / 1000.0
        ));
    }
    Drawn {
        nodes,
        schedule,
        honest_keys,
        net,
        partition,
        crashes,
        heal_at,
        deadline,
        scenario,
    }
}
