//! Command-line flags of the simulator, shared by the `simulate` example and `runnet simulate`,
//! parsed by clap.

use super::{ByzantineKind, Load, SimConfig};
use clap::{CommandFactory, FromArgMatches, Parser};

/// The simulator's command-line flags (the `simulate` example and `runnet simulate`).
pub const USAGE: &str =
    "usage: simulate [--validators N] [--byzantine F] [--seeds N] [--first-seed S | --seed S]
                [--kind equivocator|double-voter|twins|silent|all] [--real-crypto-every K]
                [--epoch-ms MS] [--min-commits N] [--no-partitions] [--no-crashes]
                [--perfect-network] [--fixed-committee] [--busy] [--verbose] [--trace]";

/// The behaviours `--kind` names (empty: all of them).
#[derive(Clone, Debug)]
struct Kinds(Vec<ByzantineKind>);

fn parse_kind(name: &str) -> Result<Kinds, String> {
    if name == "all" {
        return Ok(Kinds(Vec::new()));
    }
    ByzantineKind::parse(name)
        .map(|k| Kinds(vec![k]))
        .ok_or_else(|| {
            format!("unknown --kind '{name}': equivocator, double-voter, twins, silent or all")
        })
}

/// A flag given twice counts as given last; `--seed S` is `--first-seed S --seeds 1`, in its
/// place among the others (a later `--seeds` or `--first-seed` overrides it).
#[derive(Parser, Debug)]
#[command(name = "simulate", no_binary_name = true, args_override_self = true)]
struct Flags {
    #[arg(long, value_name = "N")]
    validators: Option<usize>,
    #[arg(long, value_name = "F")]
    byzantine: Option<usize>,
    #[arg(long, value_name = "N")]
    seeds: Option<u64>,
    #[arg(long, value_name = "S")]
    first_seed: Option<u64>,
    /// One seed: `--first-seed S --seeds 1`.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    kind: Option<Kinds>,
    #[arg(long, value_name = "K")]
    real_crypto_every: Option<u64>,
    #[arg(long, value_name = "MS")]
    epoch_ms: Option<u64>,
    #[arg(long, value_name = "N")]
    min_commits: Option<u64>,
    #[arg(long)]
    no_partitions: bool,
    #[arg(long)]
    no_crashes: bool,
    #[arg(long)]
    perfect_network: bool,
    #[arg(long)]
    fixed_committee: bool,
    #[arg(long)]
    busy: bool,
    #[arg(long)]
    verbose: bool,
    #[arg(long)]
    trace: bool,
}

/// Parses simulator flags into a validated config; `Err("")` asks for the usage text.
pub fn parse_args(args: impl Iterator<Item = String>) -> Result<SimConfig, String> {
    let matches = Flags::command()
        .try_get_matches_from(args)
        .map_err(|e| match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                String::new()
            }
            _ => clap_message(&e),
        })?;
    let flags = Flags::from_arg_matches(&matches).map_err(|e| clap_message(&e))?;
    let mut config = SimConfig {
        seeds: 100,
        ..SimConfig::default()
    };
    if let Some(v) = flags.validators {
        config.validators = v;
    }
    if let Some(b) = flags.byzantine {
        config.byzantine = b;
    }
    // `--seed` against `--seeds` and `--first-seed`: whichever comes last wins.
    let at = |id: &str| matches.index_of(id);
    let seed_at = at("seed");
    if let Some(n) = flags.seeds {
        config.seeds = n;
    }
    if let Some(s) = flags.first_seed {
        config.first_seed = s;
    }
    if let Some(s) = flags.seed {
        if seed_at > at("first_seed") {
            config.first_seed = s;
        }
        if seed_at > at("seeds") {
            config.seeds = 1;
        }
    }
    if let Some(Kinds(kinds)) = flags.kind {
        config.kinds = kinds;
    }
    if let Some(k) = flags.real_crypto_every {
        config.real_crypto_every = k;
    }
    if let Some(ms) = flags.epoch_ms {
        config.epoch_ms = ms;
    }
    if let Some(n) = flags.min_commits {
        config.min_commits = n;
    }
    config.faults.partitions &= !flags.no_partitions;
    config.faults.crashes &= !flags.no_crashes;
    config.faults.network &= !flags.perfect_network;
    config.faults.committee_changes &= !flags.fixed_committee;
    if flags.busy {
        config.load = Load::Busy;
    }
    config.verbose |= flags.verbose;
    config.trace |= flags.trace;
    config.validate()?;
    Ok(config)
}

/// Clap's error, as one line without its own `error:` prefix (the callers add the usage).
fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<SimConfig, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn defaults_are_those_of_the_config_with_a_hundred_seeds() {
        let c = parse(&[]).unwrap();
        let d = SimConfig::default();
        assert_eq!(c.seeds, 100);
        assert_eq!(
            (c.validators, c.byzantine, c.first_seed, c.real_crypto_every),
            (d.validators, d.byzantine, d.first_seed, d.real_crypto_every)
        );
        assert_eq!((c.epoch_ms, c.min_commits), (d.epoch_ms, d.min_commits));
        assert_eq!(c.faults, d.faults);
        assert_eq!(c.load, Load::Mixed);
        assert!(c.kinds.is_empty() && !c.verbose && !c.trace);
    }

    #[test]
    fn every_flag_is_understood() {
        let c = parse(&[
            "--validators",
            "7",
            "--byzantine",
            "2",
            "--seeds",
            "5",
            "--first-seed",
            "9",
            "--kind",
            "double-voter",
            "--real-crypto-every",
            "3",
            "--epoch-ms",
            "5000",
            "--min-commits",
            "4",
            "--no-partitions",
            "--no-crashes",
            "--perfect-network",
            "--fixed-committee",
            "--busy",
            "--verbose",
            "--trace",
        ])
        .unwrap();
        assert_eq!(
            (c.validators, c.byzantine, c.seeds, c.first_seed),
            (7, 2, 5, 9)
        );
        assert_eq!(c.kinds, vec![ByzantineKind::DoubleVoter]);
        assert_eq!(
            (c.real_crypto_every, c.epoch_ms, c.min_commits),
            (3, 5000, 4)
        );
        assert_eq!(c.faults, super::super::Faults::NONE);
        assert_eq!(c.load, Load::Busy);
        assert!(c.verbose && c.trace);
        assert!(parse(&["--kind", "all"]).unwrap().kinds.is_empty());
    }

    #[test]
    fn seed_is_one_seed_unless_a_later_flag_says_otherwise() {
        let c = parse(&["--seed", "42"]).unwrap();
        assert_eq!((c.first_seed, c.seeds), (42, 1));
        let c = parse(&["--seeds", "10", "--seed", "42"]).unwrap();
        assert_eq!((c.first_seed, c.seeds), (42, 1));
        let c = parse(&["--seed", "42", "--seeds", "10"]).unwrap();
        assert_eq!((c.first_seed, c.seeds), (42, 10));
        let c = parse(&["--seed", "42", "--first-seed", "7"]).unwrap();
        assert_eq!((c.first_seed, c.seeds), (7, 1));
        let c = parse(&["--seeds", "3", "--seeds", "4"]).unwrap();
        assert_eq!(c.seeds, 4);
    }

    #[test]
    fn bad_flags_are_refused_and_help_asks_for_the_usage() {
        assert_eq!(parse(&["--help"]).unwrap_err(), "");
        assert_eq!(parse(&["-h"]).unwrap_err(), "");
        for bad in [
            &["--bogus"][..],
            &["--validators"],
            &["--validators", "x"],
            &["--seeds", "-1"],
            &["--kind", "liar"],
            &["--validators", "4", "--byzantine", "2"],
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad:?}");
        }
        assert!(
            parse(&["--kind", "liar"])
                .unwrap_err()
                .contains("equivocator, double-voter, twins, silent or all")
        );
    }

    #[test]
    fn the_usage_names_every_flag() {
        for arg in Flags::command().get_arguments() {
            if let Some(long) = arg.get_long().filter(|l| *l != "help") {
                assert!(USAGE.contains(&format!("--{long}")), "--{long}");
            }
        }
    }
}
