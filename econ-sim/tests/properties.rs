//! Issue 15's properties on fixed seeds, with the genesis defaults, over a short run (the
//! 100,000-block run is a release run: docs/economy.md, "The economic simulation").

use runnet_econ_sim::{Config, Report, SimArgs, Strategy, simulate};

const SEEDS: [u64; 2] = [1, 2];
const BLOCKS: u64 = 1_000;

fn run(seed: u64) -> Report {
    simulate(Config {
        seed,
        blocks: BLOCKS,
        ..Config::default()
    })
    .expect("the simulation runs")
}

/// Runs both seeds once for every assertion below (the runs take most of the test's time).
fn reports() -> &'static [Report] {
    static REPORTS: std::sync::OnceLock<Vec<Report>> = std::sync::OnceLock::new();
    REPORTS.get_or_init(|| {
        std::thread::scope(|scope| {
            let runs: Vec<_> = SEEDS.iter().map(|s| scope.spawn(|| run(*s))).collect();
            runs.into_iter()
                .map(|r| r.join().expect("the run does not panic"))
                .collect()
        })
    })
}

fn row(report: &Report, strategy: Strategy) -> runnet_econ_sim::StrategyRow {
    report.row(strategy).expect("strategy in the population")
}

/// No cheating strategy earns more per duty than honest play, on every seed; every execution
/// settled by the end; and an honest agent ends up ahead.
#[test]
fn no_cheating_strategy_earns_more_per_duty_than_honest_play() {
    for report in reports() {
        assert_eq!(report.open_executions, 0, "{}", report.table());
        let honest = row(report, Strategy::Honest);
        assert!(honest.duties > 0 && honest.profit > 0, "{}", report.table());
        assert_eq!(honest.stake_kept_bps(), 10_000, "{}", report.table());
        for r in report.rows().iter().filter(|r| r.strategy.is_cheating()) {
            assert!(
                r.profit_per_duty() <= honest.profit_per_duty(),
                "{} earns {} per duty, honest {} (seed {}):\n{}",
                r.strategy,
                r.profit_per_duty(),
                honest.profit_per_duty(),
                report.seed,
                report.table()
            );
        }
    }
}

/// Cheating is caught where the rules say: wrong results are rejected and slashed, backed by
/// Sybil identities or not; a withheld reveal expires; a "valid" vote on a re-run task is
/// refused and its committed verdict slashed.
#[test]
fn cheats_are_caught_and_lose_stake() {
    for report in reports() {
        for s in [Strategy::WrongResult, Strategy::SybilColluding] {
            let r = row(report, s);
            assert!(
                r.rejected > 0 && r.stake_kept_bps() < 5_000,
                "{s}:\n{}",
                report.table()
            );
        }
        let w = row(report, Strategy::Withhold);
        assert!(w.expired > 0 && w.stake_lost > 0, "{}", report.table());
        let v = row(report, Strategy::AlwaysValid);
        assert!(
            v.verdicts_withheld > 0 && v.stake_lost > 0,
            "{}",
            report.table()
        );
        // True ticks reach the quorum and walk the payer's process.
        assert!(report.victim_walks_at_ticks > 0, "{}", report.table());
    }
}

/// Issue 15: an honest node down 5% of the time keeps at least 99% of its stake. With the
/// windows in chain time (tens of seconds) an outage of a few seconds no longer spans a whole
/// reveal window, so a committed verdict is revealed when the node is back; before (5-block
/// windows, half a second) it kept 8% (docs/economy.md, "The economic simulation"). Downtime
/// costs stake only through missed duties, and no flaky node is ever expelled.
#[test]
fn an_honest_node_down_5_percent_keeps_99_percent_of_its_stake() {
    for report in reports() {
        for s in [
            Strategy::Flaky(100),
            Strategy::Flaky(500),
            Strategy::Flaky(2_000),
        ] {
            let r = row(report, s);
            if r.stake_lost > 0 {
                assert!(
                    r.verdicts_withheld + r.expired + r.jailed > 0,
                    "{s} lost stake without a missed duty:\n{}",
                    report.table()
                );
            }
            assert_eq!(r.ejected, 0, "{s} was expelled:\n{}", report.table());
        }
        let flaky = row(report, Strategy::Flaky(500));
        let down: u64 = report
            .agents
            .iter()
            .filter(|a| a.strategy == Strategy::Flaky(500))
            .map(|a| a.blocks_down)
            .sum();
        assert!(
            down > 0,
            "the 5% node was never down: the run tests nothing\n{}",
            report.table()
        );
        assert!(
            flaky.stake_kept_bps() >= 9_900,
            "seed {}: honest down 5% kept {} bps of its stake, issue 15 asks for 9,900:\n{}",
            report.seed,
            flaky.stake_kept_bps(),
            report.table()
        );
        eprintln!(
            "seed {}: honest down 5% kept {} bps of its stake",
            report.seed,
            flaky.stake_kept_bps()
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let short = |seed| {
        simulate(Config {
            seed,
            blocks: 150,
            drain_blocks: 40,
            ..Config::default()
        })
        .expect("runs")
    };
    let (a, b, c) = (short(7), short(7), short(8));
    assert_eq!(a, b);
    assert_eq!(a.table(), b.table());
    assert_ne!(a.agents, c.agents);
}

#[test]
fn arguments_parse_and_bad_ones_are_refused() {
    let args: Vec<String> = ["--seed", "3,4", "--blocks", "100_000", "--demand", "150"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let parsed = SimArgs::parse(&args).expect("parses");
    assert_eq!(parsed.seeds, vec![3, 4]);
    assert_eq!(parsed.config.blocks, 100_000);
    assert_eq!(parsed.config.demand_centi, 150);
    for bad in [vec!["--blocks"], vec!["--blocks", "x"], vec!["--nope", "1"]] {
        let bad: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
        assert!(SimArgs::parse(&bad).is_err(), "{bad:?}");
    }
}
