//! What a run measured, per agent and per strategy, and the table of docs/economy.md.

use crate::strategy::Strategy;
use std::fmt::Write;

/// One agent's account of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentReport {
    pub strategy: Strategy,
    /// Executions it was assigned as runner, and drawn to verify.
    pub duties_run: u64,
    pub duties_verify: u64,
    /// Gas paid by all its transactions, applied or failed.
    pub gas: u64,
    pub failed_txs: u64,
    /// Runner stake right after registering, and at the end (all identities).
    pub stake_initial: u64,
    pub stake_final: u64,
    /// Stake added to unjail.
    pub topups: u64,
    /// Stake slashed, or taken to pay others, over the run.
    pub stake_lost: u64,
    /// Balances + runner stakes + owned processes, after registering and at the end.
    pub wealth_initial: u64,
    pub wealth_final: u64,
    pub jailed: u64,
    /// Times an identity was slashed below `min_runner_stake` and had to leave.
    pub ejected: u64,
    pub blocks_down: u64,
    /// How the executions it ran ended.
    pub completed: u64,
    pub unverified: u64,
    pub rejected: u64,
    pub expired: u64,
    /// Verdicts it committed and did not reveal once the runner's result was out.
    pub verdicts_withheld: u64,
    pub(crate) pending_topup: Option<u64>,
}

impl AgentReport {
    pub fn new(strategy: Strategy) -> AgentReport {
        AgentReport {
            strategy,
            duties_run: 0,
            duties_verify: 0,
            gas: 0,
            failed_txs: 0,
            stake_initial: 0,
            stake_final: 0,
            topups: 0,
            stake_lost: 0,
            wealth_initial: 0,
            wealth_final: 0,
            jailed: 0,
            ejected: 0,
            blocks_down: 0,
            completed: 0,
            unverified: 0,
            rejected: 0,
            expired: 0,
            verdicts_withheld: 0,
            pending_topup: None,
        }
    }

    pub fn duties(&self) -> u64 {
        self.duties_run + self.duties_verify
    }

    /// Net change of its tokens: fees earned minus gas, slashes and whatever else it spent.
    pub fn profit(&self) -> i128 {
        i128::from(self.wealth_final) - i128::from(self.wealth_initial)
    }
}

/// The sum over every agent of one strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategyRow {
    pub strategy: Strategy,
    pub agents: usize,
    pub duties: u64,
    pub gas: u64,
    pub stake_lost: u64,
    pub profit: i128,
    pub stake_initial: u64,
    pub stake_final: u64,
    pub topups: u64,
    pub jailed: u64,
    pub ejected: u64,
    pub rejected: u64,
    pub expired: u64,
    pub verdicts_withheld: u64,
}

impl StrategyRow {
    /// Profit per duty assigned, in tokens (rounded toward zero; 0 duties count as 1).
    pub fn profit_per_duty(&self) -> i128 {
        self.profit / i128::from(self.duties.max(1))
    }

    /// Stake kept, in basis points: 10,000 minus what was lost of the stake put in (the
    /// registered stake plus any top-ups).
    pub fn stake_kept_bps(&self) -> u64 {
        let put_in = (self.stake_initial + self.topups).max(1);
        10_000 - (self.stake_lost.min(put_in) as u128 * 10_000 / put_in as u128) as u64
    }

    /// Earned before gas and slashes: profit + gas + stake lost.
    pub fn earned(&self) -> i128 {
        self.profit + i128::from(self.gas) + i128::from(self.stake_lost)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub blocks: u64,
    pub agents: Vec<AgentReport>,
    /// Executions still open at the end (the drain should leave none).
    pub open_executions: usize,
    pub max_walk_queue: usize,
    pub blocks_with_walk_backlog: u64,
    /// Walks of the payer's process in the block of a true tick, and in other blocks (walks the
    /// walk budget delayed, walks of its completions, or walks of fabricated events).
    pub victim_walks_at_ticks: u64,
    pub victim_walks_later: u64,
}

impl Report {
    /// One row per strategy, in population order.
    pub fn rows(&self) -> Vec<StrategyRow> {
        let mut rows: Vec<StrategyRow> = Vec::new();
        for a in &self.agents {
            let row = match rows.iter_mut().find(|r| r.strategy == a.strategy) {
                Some(row) => row,
                None => {
                    rows.push(StrategyRow {
                        strategy: a.strategy,
                        agents: 0,
                        duties: 0,
                        gas: 0,
                        stake_lost: 0,
                        profit: 0,
                        stake_initial: 0,
                        stake_final: 0,
                        topups: 0,
                        jailed: 0,
                        ejected: 0,
                        rejected: 0,
                        expired: 0,
                        verdicts_withheld: 0,
                    });
                    rows.last_mut().expect("just pushed")
                }
            };
            row.agents += 1;
            row.duties += a.duties();
            row.gas += a.gas;
            row.stake_lost += a.stake_lost;
            row.profit += a.profit();
            row.stake_initial += a.stake_initial;
            row.stake_final += a.stake_final;
            row.topups += a.topups;
            row.jailed += a.jailed;
            row.ejected += a.ejected;
            row.rejected += a.rejected;
            row.expired += a.expired;
            row.verdicts_withheld += a.verdicts_withheld;
        }
        rows
    }

    pub fn row(&self, strategy: Strategy) -> Option<StrategyRow> {
        self.rows().into_iter().find(|r| r.strategy == strategy)
    }

    /// The properties of issue 15: every cheating strategy's profit per duty is at most
    /// honest's, and an honest node down 5% of the time keeps at least 99% of its stake.
    pub fn properties(&self) -> Vec<Property> {
        let rows = self.rows();
        let Some(honest) = rows.iter().find(|r| r.strategy == Strategy::Honest) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in rows.iter().filter(|r| r.strategy.is_cheating()) {
            out.push(Property {
                name: format!("{} earns no more per duty than honest", r.strategy),
                holds: r.profit_per_duty() <= honest.profit_per_duty(),
                detail: format!(
                    "{} vs honest {} per duty",
                    r.profit_per_duty(),
                    honest.profit_per_duty()
                ),
            });
        }
        if let Some(flaky) = rows.iter().find(|r| r.strategy == Strategy::Flaky(500)) {
            out.push(Property {
                name: "honest down 5% keeps at least 99% of its stake".into(),
                holds: flaky.stake_kept_bps() >= 9_900,
                detail: format!("kept {} bps", flaky.stake_kept_bps()),
            });
        }
        out
    }

    /// The markdown table of docs/economy.md.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let honest = rows
            .iter()
            .find(|r| r.strategy == Strategy::Honest)
            .map(|r| r.profit_per_duty());
        let mut s = String::new();
        let _ = writeln!(
            s,
            "seed {}, {} blocks; executions left open {}; longest walk queue {} ({} blocks with a backlog); payer's process walks: {} in tick blocks, {} in others (delayed, completions or false events)",
            self.seed,
            self.blocks,
            self.open_executions,
            self.max_walk_queue,
            self.blocks_with_walk_backlog,
            self.victim_walks_at_ticks,
            self.victim_walks_later
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| strategy | duties | earned | gas | stake lost | profit | profit per duty | vs honest | stake kept | jailed | ejected | rejected / expired as runner | verdicts committed, not revealed |"
        );
        let _ = writeln!(
            s,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for r in &rows {
            let ppd = r.profit_per_duty();
            let versus = match honest {
                Some(h) => format!("{:+}", ppd - h),
                None => "-".into(),
            };
            let kept = r.stake_kept_bps();
            let _ = writeln!(
                s,
                "| {}{} | {} | {} | {} | {} | {} | {} | {} | {}.{:02}% | {} | {} | {} / {} | {} |",
                r.strategy,
                if r.agents > 1 {
                    format!(" (×{})", r.agents)
                } else {
                    String::new()
                },
                r.duties,
                r.earned(),
                r.gas,
                r.stake_lost,
                r.profit,
                ppd,
                versus,
                kept / 100,
                kept % 100,
                r.jailed,
                r.ejected,
                r.rejected,
                r.expired,
                r.verdicts_withheld
            );
        }
        let props = self.properties();
        if !props.is_empty() {
            let _ = writeln!(s);
            for p in props {
                let _ = writeln!(
                    s,
                    "- {}: {} ({})",
                    p.name,
                    if p.holds { "holds" } else { "FAILS" },
                    p.detail
                );
            }
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub holds: bool,
    pub detail: String,
}
