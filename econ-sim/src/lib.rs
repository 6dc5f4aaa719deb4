//! `runnet econ-sim`: an economic simulation of runnet's market of work (issue 15).
//!
//! A chain on the in-memory store is driven block by block by the real state transition
//! (`runnet_state::Executor`) with the genesis defaults. Payers request executions of a
//! WebAssembly service (the example `arith`, with a `tick` event added for processes); the chain
//! draws runners and verifiers; agents of every strategy ([`Strategy`]) read the committed state
//! each block and send the transactions their strategy decides. Each agent's profit per duty
//! and stake kept are measured against honest play ([`Report::table`]). Deterministic from the
//! seed: no clock, no unseeded randomness, ordered maps only.

pub mod report;
pub mod rng;
pub mod sim;
pub mod strategy;

pub use report::{AgentReport, Property, Report, StrategyRow};
pub use sim::{Config, Sim};
pub use strategy::Strategy;

/// The command line of `runnet econ-sim`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimArgs {
    pub seeds: Vec<u64>,
    pub config: Config,
}

pub const USAGE: &str = "usage: runnet econ-sim [--seed N[,N...]] [--blocks N] [--drain N] \
[--demand REQUESTS_PER_BLOCK_x100] [--stake N] [--max-open N] [--sybils N] [--outage-mean BLOCKS] \
[--tick-every BLOCKS] [--filler-per-block N] [--spam-every BLOCKS] [--block-ms MS]";

impl SimArgs {
    pub fn parse(args: &[String]) -> Result<SimArgs, String> {
        let mut out = SimArgs {
            seeds: vec![1],
            config: Config::default(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.into());
            }
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let num = || {
                value
                    .replace('_', "")
                    .parse::<u64>()
                    .map_err(|e| format!("{flag} {value}: {e}"))
            };
            let c = &mut out.config;
            match flag.as_str() {
                "--seed" => {
                    out.seeds = value
                        .split(',')
                        .map(|s| s.parse::<u64>().map_err(|e| format!("--seed {s}: {e}")))
                        .collect::<Result<_, _>>()?
                }
                "--blocks" => c.blocks = num()?,
                "--drain" => c.drain_blocks = num()?,
                "--demand" => c.demand_centi = num()?,
                "--stake" => c.stake = num()?,
                "--max-open" => c.max_open = num()? as u32,
                "--sybils" => c.sybil_identities = num()? as usize,
                "--outage-mean" => c.outage_mean_blocks = num()?,
                "--tick-every" => c.tick_every = num()?,
                "--filler-per-block" => c.filler_per_block = num()? as usize,
                "--spam-every" => c.spam_every = num()?,
                "--block-ms" => c.block_ms = num()?,
                _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
            }
        }
        if out.seeds.is_empty() {
            return Err("--seed needs at least one seed".into());
        }
        Ok(out)
    }
}

/// Runs one simulation per seed and returns their tables.
pub fn run(args: &[String]) -> Result<String, String> {
    let parsed = SimArgs::parse(args)?;
    let mut out = String::new();
    for seed in &parsed.seeds {
        let config = Config {
            seed: *seed,
            ..parsed.config.clone()
        };
        let report = simulate(config)?;
        out.push_str(&report.table());
        out.push('\n');
    }
    Ok(out)
}

/// One run of the simulation.
pub fn simulate(config: Config) -> Result<Report, String> {
    Sim::new(config)?.run()
}
