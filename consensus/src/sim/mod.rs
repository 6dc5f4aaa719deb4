//! The deterministic simulator: many validators running the real [`Core`](crate::Core) on a
//! virtual clock, over a seeded network that drops, duplicates, delays, reorders and partitions
//! messages, with crashes and restarts that keep only what was persisted, and byzantine
//! validators. Every seed is checked for safety (no two honest validators commit different blocks
//! at one height), liveness (commits resume after the network heals) and accountability (every
//! equivocation an honest validator saw becomes evidence).
//!
//! Everything random comes from the seed, so a failing seed replays exactly:
//! `cargo run --release -p runnet-consensus --example simulate -- --seed S ...`.
//!
//! Files, by job:
//! - `world.rs`: the nodes, the virtual clock and the run loop (boot, crash, feed, perform);
//! - `draw.rs`: what a seed draws before its first event (roles, committees, faults), in a fixed
//!   order, since the order is part of what a seed number means;
//! - `fakes.rs`: the disk, environment, mempool and keys around each core (the `Disk`
//!   is shared with the scripted test harness);
//! - `network.rs`: the event queue and the lossy, reordering, partitioned network;
//! - `byzantine.rs`: what faulty validators do on top of the honest core (the forged blocks
//!   come from `crate::byzantine`, outside the honest type);
//! - `checker.rs`: the safety, linkage and accountability checks of every seed;
//! - `trace.rs`: `--trace`'s lines; `args.rs`: the flags (clap); `rng.rs`: the generator.

mod args;
mod byzantine;
mod checker;
mod draw;
pub(crate) mod fakes;
mod network;
mod rng;
mod trace;
mod world;

pub use args::{USAGE, parse_args};
pub use rng::Rng;

use runnet_types::genesis::ConsensusParams;

/// How a faulty validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ByzantineKind {
    /// As leader, sends conflicting proposals to different validators, or a proposal that
    /// extends an old certificate (a fork below the last commit).
    Equivocator,
    /// Signs a second, different vote in every round it votes in.
    DoubleVoter,
    /// Two nodes run honestly with one key, each unaware of the other.
    Twins,
    /// Never sends anything.
    Silent,
}

impl ByzantineKind {
    pub const ALL: [ByzantineKind; 4] = [
        ByzantineKind::Equivocator,
        ByzantineKind::DoubleVoter,
        ByzantineKind::Twins,
        ByzantineKind::Silent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ByzantineKind::Equivocator => "equivocator",
            ByzantineKind::DoubleVoter => "double-voter",
            ByzantineKind::Twins => "twins",
            ByzantineKind::Silent => "silent",
        }
    }

    pub fn parse(name: &str) -> Option<ByzantineKind> {
        ByzantineKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Which faults a seed may draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Drops, duplicates, variable delays and reordering.
    pub network: bool,
    pub partitions: bool,
    pub crashes: bool,
    /// Committees change from epoch to epoch (stakes, and a validator sitting one out).
    pub committee_changes: bool,
}

impl Faults {
    pub const ALL: Faults = Faults {
        network: true,
        partitions: true,
        crashes: true,
        committee_changes: true,
    };
    pub const NONE: Faults = Faults {
        network: false,
        partitions: false,
        crashes: false,
        committee_changes: false,
    };
}

/// One fault placed by hand instead of drawn from the seed: what a liveness measurement needs
/// (the same fault at the same instant, with and without a change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scripted {
    /// The node (an index into the validators) the fault hits.
    pub node: usize,
    pub fault: ScriptedFault,
    /// The fault starts at this simulated instant and ends at `until_ms` (never, if `u64::MAX`).
    pub from_ms: u64,
    pub until_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptedFault {
    /// Killed at once (nothing more is sent), restarted from its disk at `until_ms`.
    Crash,
    /// Alive but cut off from every other node.
    Isolate,
}

/// How transactions arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Busy spells and idle spells (empty blocks, the idle pacemaker).
    Mixed,
    /// A batch every few milliseconds: leaders always have something to propose.
    Busy,
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Validators in each committee.
    pub validators: usize,
    /// Faulty validators (at most f of 3f+1).
    pub byzantine: usize,
    /// Behaviours the faulty validators draw from (all when empty).
    pub kinds: Vec<ByzantineKind>,
    pub first_seed: u64,
    pub seeds: u64,
    /// Every seed divisible by this runs real ed25519 and schnorrkel (0: never; 1: always).
    pub real_crypto_every: u64,
    pub faults: Faults,
    pub load: Load,
    /// How long an epoch lasts in chain time (a new committee after each).
    pub epoch_ms: u64,
    /// A seed must commit at least this many blocks.
    pub min_commits: u64,
    /// A seed runs at least this long in simulated time.
    pub min_sim_ms: u64,
    /// A fault placed by hand, on top of those drawn.
    pub scripted: Option<Scripted>,
    /// A second fault placed by hand, an isolation, after a scripted crash: the README's fault
    /// run (one validator killed and restarted, then another cut off). Ignored without a
    /// scripted crash.
    pub then_isolate: Option<Scripted>,
    pub params: ConsensusParams,
    /// Print each seed's outcome.
    pub verbose: bool,
    /// Print every event each node handles and the actions it returned (to stderr).
    pub trace: bool,
    #[cfg(test)]
    pub(crate) flaw: crate::safety::Flaw,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            validators: 4,
            byzantine: 1,
            kinds: Vec::new(),
            first_seed: 0,
            seeds: 100,
            real_crypto_every: 10,
            faults: Faults::ALL,
            load: Load::Mixed,
            // About 12 blocks at the block pace's 100 ms.
            epoch_ms: 1_200,
            min_commits: 20,
            min_sim_ms: 0,
            scripted: None,
            then_isolate: None,
            params: ConsensusParams::default(),
            verbose: false,
            trace: false,
            #[cfg(test)]
            flaw: crate::safety::Flaw::None,
        }
    }
}

impl SimConfig {
    /// A fault-free, always-busy network with real signatures, stopping at `commits` blocks:
    /// what the benchmark measures.
    pub fn benchmark(validators: usize, commits: u64) -> SimConfig {
        SimConfig {
            validators,
            byzantine: 0,
            seeds: 1,
            real_crypto_every: 1,
            faults: Faults::NONE,
            load: Load::Busy,
            epoch_ms: u64::MAX / 4,
            min_commits: commits,
            ..SimConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.validators == 0 || self.validators > 512 {
            return Err(format!(
                "--validators must be between 1 and 512, got {}",
                self.validators
            ));
        }
        if self.byzantine * 3 >= self.validators && self.byzantine > 0 {
            return Err(format!(
                "--byzantine {} is too many for {} validators: at most f = {} of 3f+1",
                self.byzantine,
                self.validators,
                (self.validators - 1) / 3
            ));
        }
        if self.epoch_ms < 300 {
            return Err("--epoch-ms must be at least 300".into());
        }
        if let Some(s) = self
            .scripted
            .iter()
            .chain(&self.then_isolate)
            .find(|s| s.node >= self.validators)
        {
            return Err(format!(
                "the scripted fault names node {} of {}",
                s.node, self.validators
            ));
        }
        if self.min_commits == 0 {
            return Err("--min-commits must be at least 1".into());
        }
        Ok(())
    }

    /// The command that replays one seed of this configuration.
    pub fn replay_command(&self, seed: u64) -> String {
        let mut cmd = format!(
            "cargo run --release -p runnet-consensus --example simulate -- --validators {} --byzantine {} --seed {seed}",
            self.validators, self.byzantine
        );
        if self.kinds.len() == 1 {
            cmd.push_str(&format!(" --kind {}", self.kinds[0].name()));
        }
        if self.real_crypto_every != 10 {
            cmd.push_str(&format!(" --real-crypto-every {}", self.real_crypto_every));
        }
        if self.epoch_ms != SimConfig::default().epoch_ms {
            cmd.push_str(&format!(" --epoch-ms {}", self.epoch_ms));
        }
        if !self.faults.partitions {
            cmd.push_str(" --no-partitions");
        }
        if !self.faults.crashes {
            cmd.push_str(" --no-crashes");
        }
        if !self.faults.network {
            cmd.push_str(" --perfect-network");
        }
        if !self.faults.committee_changes {
            cmd.push_str(" --fixed-committee");
        }
        if self.load == Load::Busy {
            cmd.push_str(" --busy");
        }
        cmd.push_str(" --verbose");
        #[cfg(test)]
        if self.flaw != crate::safety::Flaw::None {
            cmd = format!(
                "(a test-only flawed core: {:?}; replay through its test) {cmd}",
                self.flaw
            );
        }
        cmd
    }
}

/// The outcome of one seed.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    pub seed: u64,
    pub violations: Vec<String>,
    /// Highest height committed by an honest validator.
    pub committed: u64,
    pub epochs: u64,
    pub sim_time_ms: u64,
    pub events: u64,
    pub messages: u64,
    pub evidence: u64,
    pub real_crypto: bool,
    pub scenario: String,
    /// The longest stretch of simulated time, after the first second, in which no honest node
    /// committed a new height.
    pub max_commit_gap_ms: u64,
    /// Batches offered until 2 s before the end, and how many of them committed by the end.
    pub batches_offered: u64,
    pub batches_committed: u64,
}

/// The outcome of a run of seeds.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub validators: usize,
    pub byzantine: usize,
    pub seeds: u64,
    /// Seeds with at least one violation.
    pub violations: u64,
    pub failures: Vec<SeedReport>,
    pub committed_blocks: u64,
    pub sim_time_ms: u64,
    pub events: u64,
    pub evidence: u64,
    pub real_crypto_seeds: u64,
}

impl Report {
    /// One line, ending in `seeds=N violations=V`.
    pub fn summary_line(&self) -> String {
        format!(
            "simulate validators={} byzantine={} blocks={} evidence={} real_crypto_seeds={} sim_hours={:.1} events={} seeds={} violations={}",
            self.validators,
            self.byzantine,
            self.committed_blocks,
            self.evidence,
            self.real_crypto_seeds,
            self.sim_time_ms as f64 / 3_600_000.0,
            self.events,
            self.seeds,
            self.violations
        )
    }
}

/// Runs `config.seeds` seeds from `config.first_seed`. A failing seed prints itself and the
/// command that replays it.
pub fn simulate(config: &SimConfig) -> Report {
    let mut report = Report {
        validators: config.validators,
        byzantine: config.byzantine,
        ..Report::default()
    };
    if let Err(e) = config.validate() {
        report.violations = 1;
        report.failures.push(SeedReport {
            violations: vec![format!("invalid configuration: {e}")],
            ..SeedReport::default()
        });
        return report;
    }
    for seed in config.first_seed..config.first_seed.saturating_add(config.seeds) {
        let outcome = run_seed(config, seed);
        report.seeds += 1;
        report.committed_blocks += outcome.committed;
        report.sim_time_ms += outcome.sim_time_ms;
        report.events += outcome.events;
        report.evidence += outcome.evidence;
        report.real_crypto_seeds += u64::from(outcome.real_crypto);
        if config.verbose {
            println!(
                "seed {} [{}]: committed={} epochs={} sim_time={}ms events={} evidence={} violations={}",
                outcome.seed,
                outcome.scenario,
                outcome.committed,
                outcome.epochs,
                outcome.sim_time_ms,
                outcome.events,
                outcome.evidence,
                outcome.violations.len()
            );
        }
        if !outcome.violations.is_empty() {
            eprintln!(
                "seed {seed} FAILED [{}]:\n  {}\n  replay: {}",
                outcome.scenario,
                outcome.violations.join("\n  "),
                config.replay_command(seed)
            );
            report.violations += 1;
            report.failures.push(outcome);
        }
    }
    report
}

/// Runs one seed; a panic inside the core is a violation like any other.
pub fn run_seed(config: &SimConfig, seed: u64) -> SeedReport {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        world::World::new(config, seed).run()
    })) {
        Ok(report) => report,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            SeedReport {
                seed,
                violations: vec![format!("panic: {message}")],
                ..SeedReport::default()
            }
        }
    }
}
