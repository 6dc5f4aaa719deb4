//! Command-line flags of the simulator, shared by the `simulate` example and `runnet simulate`.

use super::{ByzantineKind, Load, SimConfig};

/// The simulator's command-line flags (the `simulate` example and `runnet simulate`).
pub const USAGE: &str =
    "usage: simulate [--validators N] [--byzantine F] [--seeds N] [--first-seed S | --seed S]
                [--kind equivocator|double-voter|twins|silent|all] [--real-crypto-every K]
                [--epoch-ms MS] [--min-commits N] [--no-partitions] [--no-crashes]
                [--perfect-network] [--fixed-committee] [--busy] [--verbose] [--trace]";

fn parse_number(flag: &str, value: Option<String>) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse::<u64>()
        .map_err(|_| format!("{flag} expects a non-negative integer, got '{value}'"))
}

/// Parses simulator flags into a validated config; `Err("")` asks for the usage text.
pub fn parse_args(args: impl Iterator<Item = String>) -> Result<SimConfig, String> {
    let mut config = SimConfig {
        seeds: 100,
        ..SimConfig::default()
    };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--validators" => {
                config.validators = usize::try_from(parse_number(&flag, args.next())?)
                    .map_err(|_| "--validators is too large".to_string())?
            }
            "--byzantine" => {
                config.byzantine = usize::try_from(parse_number(&flag, args.next())?)
                    .map_err(|_| "--byzantine is too large".to_string())?
            }
            "--seeds" => config.seeds = parse_number(&flag, args.next())?,
            "--first-seed" => config.first_seed = parse_number(&flag, args.next())?,
            "--seed" => {
                config.first_seed = parse_number(&flag, args.next())?;
                config.seeds = 1;
            }
            "--real-crypto-every" => config.real_crypto_every = parse_number(&flag, args.next())?,
            "--epoch-ms" => config.epoch_ms = parse_number(&flag, args.next())?,
            "--min-commits" => config.min_commits = parse_number(&flag, args.next())?,
            "--kind" => {
                let name = args.next().ok_or("--kind needs a value")?;
                config.kinds = if name == "all" {
                    Vec::new()
                } else {
                    vec![ByzantineKind::parse(&name).ok_or_else(|| {
                        format!("unknown --kind '{name}': equivocator, double-voter, twins, silent or all")
                    })?]
                };
            }
            "--no-partitions" => config.faults.partitions = false,
            "--no-crashes" => config.faults.crashes = false,
            "--perfect-network" => config.faults.network = false,
            "--fixed-committee" => config.faults.committee_changes = false,
            "--busy" => config.load = Load::Busy,
            "--verbose" => config.verbose = true,
            "--trace" => config.trace = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    config.validate()?;
    Ok(config)
}
