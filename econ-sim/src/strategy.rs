//! The agents' strategies: what each one sends, block by block, for the duties the chain gives
//! it. Every decision here reads only the committed state, the agent's own memory and the
//! simulation's seeded random stream.

use runnet_types::execution::{TaskResult, Verdict};
use std::fmt;

/// How an agent plays. Every strategy owns one or more runner identities of the simulated service
/// with the same total stake, so they are drawn for as many duties as an honest agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strategy {
    /// Runs every task in the VM, commits and reveals the true result; verifies the same way.
    Honest,
    /// As a runner, commits and reveals a wrong result; verifies honestly.
    WrongResult,
    /// As a runner, commits the true result and never reveals it; verifies honestly.
    Withhold,
    /// As a verifier, does not run the task: it commits a copy of the runner's result when one is
    /// public, and nothing otherwise. Honest as a runner.
    LazyCopier,
    /// As a verifier, commits and reveals "valid" without running anything. Honest as a runner.
    AlwaysValid,
    /// Honest runner that also sends requests naming its rivals, to fill their `max_open` and
    /// win the draws they cannot take.
    CapacityFiller,
    /// Its stake split over several identities (`sybil_identities`), all honest.
    Sybil,
    /// As [`Strategy::Sybil`], but its runner identities commit wrong results and its verifier
    /// identities vote for them.
    SybilColluding,
    /// Two identities that report fabricated `tick` events every block, to fire other people's
    /// processes for the reporters' reimbursement and incentive. Honest in their duties.
    FalseEvents,
    /// Honest runner that creates processes of 32 nodes on the `tick` event, to fill the walk
    /// queue and delay everyone else's walks.
    WalkSpammer,
    /// Honest, but down (sending nothing at all) this many basis points of the time, in outages
    /// of `outage_mean_blocks` on average.
    Flaky(u32),
}

impl Strategy {
    /// The default population: every strategy of issue 15, honest twice for a baseline.
    pub fn population() -> Vec<Strategy> {
        vec![
            Strategy::Honest,
            Strategy::Honest,
            Strategy::WrongResult,
            Strategy::Withhold,
            Strategy::LazyCopier,
            Strategy::AlwaysValid,
            Strategy::CapacityFiller,
            Strategy::Sybil,
            Strategy::SybilColluding,
            Strategy::FalseEvents,
            Strategy::WalkSpammer,
            Strategy::Flaky(100),
            Strategy::Flaky(500),
            Strategy::Flaky(2_000),
        ]
    }

    /// Whether it is a cheating strategy (the honest ones are `Honest`, `Sybil` and `Flaky`).
    pub fn is_cheating(self) -> bool {
        !matches!(
            self,
            Strategy::Honest | Strategy::Sybil | Strategy::Flaky(_)
        )
    }

    /// How many runner identities it registers.
    pub fn identities(self, sybil_identities: usize) -> usize {
        match self {
            Strategy::Sybil | Strategy::SybilColluding => sybil_identities.max(1),
            Strategy::FalseEvents => 2,
            _ => 1,
        }
    }

    /// The result it commits as a runner, given the true one.
    pub fn runner_result(self, truth: &TaskResult) -> TaskResult {
        match self {
            Strategy::WrongResult | Strategy::SybilColluding => wrong(truth),
            _ => truth.clone(),
        }
    }

    /// Whether it reveals the result it committed.
    pub fn reveals(self) -> bool {
        self != Strategy::Withhold
    }

    /// The verdict it commits as a verifier: `runner_is_ours` says whether the execution's runner
    /// is one of its own identities, `public_result` is the runner's result if already revealed.
    pub fn verdict(
        self,
        truth: &TaskResult,
        runner_is_ours: bool,
        public_result: Option<&TaskResult>,
    ) -> Option<Verdict> {
        match self {
            Strategy::LazyCopier => public_result.map(|r| Verdict::Rerun(r.clone())),
            Strategy::AlwaysValid => Some(Verdict::Check { valid: true }),
            Strategy::SybilColluding if runner_is_ours => Some(Verdict::Rerun(wrong(truth))),
            _ => Some(Verdict::Rerun(truth.clone())),
        }
    }

    /// Whether it reports the true `tick` events.
    pub fn reports_ticks(self) -> bool {
        self != Strategy::FalseEvents
    }

    /// The fraction of blocks it is down, in basis points.
    pub fn down_bps(self) -> u32 {
        match self {
            Strategy::Flaky(bps) => bps,
            _ => 0,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Honest => f.write_str("honest"),
            Strategy::WrongResult => f.write_str("wrong result"),
            Strategy::Withhold => f.write_str("withholds its reveal"),
            Strategy::LazyCopier => f.write_str("lazy verifier (copies the runner)"),
            Strategy::AlwaysValid => f.write_str("verifier always votes valid"),
            Strategy::CapacityFiller => f.write_str("capacity filler"),
            Strategy::Sybil => f.write_str("Sybil verifier (honest)"),
            Strategy::SybilColluding => f.write_str("Sybil verifier (backs its own wrong results)"),
            Strategy::FalseEvents => f.write_str("false-event coalition"),
            Strategy::WalkSpammer => f.write_str("walk-queue spammer"),
            Strategy::Flaky(bps) => write!(f, "honest, down {}%", bps / 100),
        }
    }
}

/// A wrong result close to the true one: an 8-byte integer output plus one, anything else zero.
pub fn wrong(truth: &TaskResult) -> TaskResult {
    match truth {
        TaskResult::Output(bytes) if bytes.len() == 8 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(bytes);
            TaskResult::Output(
                i64::from_le_bytes(raw)
                    .wrapping_add(1)
                    .to_le_bytes()
                    .to_vec(),
            )
        }
        _ => TaskResult::Output(0i64.to_le_bytes().to_vec()),
    }
}
