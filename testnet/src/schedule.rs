//! Fault schedules: what `--faults FILE` says, parsed and checked before anything starts.
//!
//! One fault per line, `TIME ACTION ARGS`, `#` starts a comment (the format is documented in
//! docs/testnet.md). Every error names the line and the field, and a schedule that could not be
//! carried out (restarting a node that is running, resuming one that is not paused) is refused
//! up front rather than discovered half-way through a run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Largest schedule file read.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Most faults in one schedule.
const MAX_EVENTS: usize = 10_000;
/// Latest time a fault may be scheduled at (about 11 days).
const MAX_AT_SECS: f64 = 1_000_000.0;
/// Largest added delay.
const MAX_DELAY_MS: u64 = 60_000;

/// A set of nodes named in a schedule: explicit indices, or every node not in the other group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Group {
    Nodes(Vec<usize>),
    Rest,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// SIGKILL: a crash at an arbitrary instant.
    Kill(usize),
    /// Start a killed node again from its home.
    Restart(usize),
    /// SIGSTOP: the process freezes, its sockets stay open.
    Pause(usize),
    /// SIGCONT.
    Resume(usize),
    /// Every link between the two groups stops carrying bytes.
    Partition(Vec<usize>, Vec<usize>),
    /// The links between the two groups carry bytes again; `None` heals every link.
    Heal(Option<(Vec<usize>, Vec<usize>)>),
    /// Added one-way delay on the links between the two groups.
    Delay(Vec<usize>, Vec<usize>, u64),
    /// Loss in percent on the links between the two groups (see the relay for how TCP sees it).
    Loss(Vec<usize>, Vec<usize>, f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultEvent {
    /// Time from the start of the workload.
    pub at: Duration,
    /// Line in the file it came from (0 for built-in schedules).
    pub line: usize,
    pub fault: Fault,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSchedule {
    /// In time order (ties keep file order).
    pub events: Vec<FaultEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    pub source: String,
    pub line: usize,
    pub field: String,
    pub problem: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "fault schedule {}: {}", self.source, self.problem)
        } else {
            write!(
                f,
                "fault schedule {} line {}, field '{}': {}",
                self.source, self.line, self.field, self.problem
            )
        }
    }
}

impl std::error::Error for ScheduleError {}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = |v: &[usize]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Fault::Kill(n) => write!(f, "kill {n}"),
            Fault::Restart(n) => write!(f, "restart {n}"),
            Fault::Pause(n) => write!(f, "pause {n}"),
            Fault::Resume(n) => write!(f, "resume {n}"),
            Fault::Partition(a, b) => write!(f, "partition {} {}", g(a), g(b)),
            Fault::Heal(None) => write!(f, "heal"),
            Fault::Heal(Some((a, b))) => write!(f, "heal {} {}", g(a), g(b)),
            Fault::Delay(a, b, ms) => write!(f, "delay {} {} {ms}ms", g(a), g(b)),
            Fault::Loss(a, b, p) => write!(f, "loss {} {} {p}%", g(a), g(b)),
        }
    }
}

struct LineCtx<'a> {
    source: &'a str,
    line: usize,
    validators: usize,
}

impl LineCtx<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> ScheduleError {
        ScheduleError {
            source: self.source.to_string(),
            line: self.line,
            field: field.to_string(),
            problem: problem.into(),
        }
    }

    fn node(&self, field: &str, text: Option<&str>) -> Result<usize, ScheduleError> {
        let text = text.ok_or_else(|| self.err(field, "missing: a node index"))?;
        let n: usize = text
            .parse()
            .map_err(|_| self.err(field, format!("'{text}' is not a node index")))?;
        if n >= self.validators {
            return Err(self.err(
                field,
                format!(
                    "node {n} does not exist (validators are 0..={})",
                    self.validators.saturating_sub(1)
                ),
            ));
        }
        Ok(n)
    }

    fn group(&self, field: &str, text: Option<&str>) -> Result<Group, ScheduleError> {
        let text = text.ok_or_else(|| self.err(field, "missing: nodes like 0,1 or *"))?;
        if text == "*" {
            return Ok(Group::Rest);
        }
        let mut nodes = Vec::new();
        for part in text.split(',') {
            let n = self.node(field, Some(part))?;
            if nodes.contains(&n) {
                return Err(self.err(field, format!("node {n} is listed twice")));
            }
            nodes.push(n);
        }
        nodes.sort_unstable();
        Ok(Group::Nodes(nodes))
    }

    /// Two groups, the second defaulting to every other node.
    fn pair(
        &self,
        first: Option<&str>,
        second: Option<&str>,
    ) -> Result<(Vec<usize>, Vec<usize>), ScheduleError> {
        let a = self.group("from", first)?;
        let b = match second {
            Some(text) => self.group("to", Some(text))?,
            None => Group::Rest,
        };
        let all = |except: &[usize]| -> Vec<usize> {
            (0..self.validators)
                .filter(|n| !except.contains(n))
                .collect()
        };
        let (a, b) = match (a, b) {
            (Group::Rest, Group::Rest) => {
                return Err(self.err("to", "'*' on both sides names no link"));
            }
            (Group::Nodes(a), Group::Rest) => {
                let b = all(&a);
                (a, b)
            }
            (Group::Rest, Group::Nodes(b)) => (all(&b), b),
            (Group::Nodes(a), Group::Nodes(b)) => {
                if let Some(n) = a.iter().find(|n| b.contains(n)) {
                    return Err(self.err("to", format!("node {n} is on both sides")));
                }
                (a, b)
            }
        };
        if a.is_empty() || b.is_empty() {
            return Err(self.err("to", "the groups name no link between two nodes"));
        }
        Ok((a, b))
    }
}

/// `10`, `2.5s`, `1500ms`, `1m`: a time from the start.
fn parse_at(ctx: &LineCtx<'_>, text: &str) -> Result<Duration, ScheduleError> {
    let (number, scale) = if let Some(v) = text.strip_suffix("ms") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('m') {
        (v, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.parse().map_err(|_| {
        ctx.err(
            "time",
            format!("'{text}' is not a time like 10, 2.5s or 500ms"),
        )
    })?;
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=MAX_AT_SECS).contains(&secs) {
        return Err(ctx.err("time", format!("'{text}' is outside 0..={MAX_AT_SECS} s")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A delay with its unit: `200ms` or `0.2s`.
fn parse_delay(ctx: &LineCtx<'_>, text: Option<&str>) -> Result<u64, ScheduleError> {
    let text = text.ok_or_else(|| ctx.err("delay", "missing: a delay like 200ms"))?;
    let (number, scale) = if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else if text == "0" {
        ("0", 1.0)
    } else {
        return Err(ctx.err("delay", format!("'{text}' needs a unit: 200ms or 0.2s")));
    };
    let value: f64 = number
        .parse()
        .map_err(|_| ctx.err("delay", format!("'{text}' is not a delay like 200ms")))?;
    let ms = value * scale;
    if !ms.is_finite() || !(0.0..=MAX_DELAY_MS as f64).contains(&ms) {
        return Err(ctx.err("delay", format!("'{text}' is outside 0..={MAX_DELAY_MS}ms")));
    }
    Ok(ms.round() as u64)
}

fn parse_loss(ctx: &LineCtx<'_>, text: Option<&str>) -> Result<f64, ScheduleError> {
    let text = text.ok_or_else(|| ctx.err("loss", "missing: a percentage like 5%"))?;
    let number = text.strip_suffix('%').unwrap_or(text);
    let value: f64 = number
        .parse()
        .map_err(|_| ctx.err("loss", format!("'{text}' is not a percentage like 5%")))?;
    if !value.is_finite() || !(0.0..=100.0).contains(&value) {
        return Err(ctx.err("loss", format!("'{text}' is outside 0..=100%")));
    }
    Ok(value)
}

fn parse_line(ctx: &LineCtx<'_>, words: &[&str]) -> Result<FaultEvent, ScheduleError> {
    let mut it = words.iter().copied();
    let at = parse_at(ctx, it.next().unwrap_or_default())?;
    let action = it.next().ok_or_else(|| {
        ctx.err(
            "action",
            "missing: kill, restart, pause, resume, partition, heal, delay or loss",
        )
    })?;
    let fault = match action {
        "kill" => Fault::Kill(ctx.node("node", it.next())?),
        "restart" => Fault::Restart(ctx.node("node", it.next())?),
        "pause" => Fault::Pause(ctx.node("node", it.next())?),
        "resume" => Fault::Resume(ctx.node("node", it.next())?),
        "partition" => {
            let (a, b) = ctx.pair(it.next(), it.next())?;
            Fault::Partition(a, b)
        }
        "heal" => match it.next() {
            None => Fault::Heal(None),
            first => Fault::Heal(Some(ctx.pair(first, it.next())?)),
        },
        "delay" | "loss" => {
            let first = it.next();
            let rest: Vec<&str> = it.by_ref().collect();
            // `delay A VALUE` means A and every other node.
            let (second, value) = match rest.as_slice() {
                [value] => (None, Some(*value)),
                [second, value] => (Some(*second), Some(*value)),
                [] => (None, None),
                [_, _, extra, ..] => {
                    return Err(ctx.err("end", format!("unexpected '{extra}'")));
                }
            };
            let (a, b) = ctx.pair(first, second)?;
            if action == "delay" {
                Fault::Delay(a, b, parse_delay(ctx, value)?)
            } else {
                Fault::Loss(a, b, parse_loss(ctx, value)?)
            }
        }
        other => {
            return Err(ctx.err(
                "action",
                format!("unknown action '{other}' (kill, restart, pause, resume, partition, heal, delay, loss)"),
            ));
        }
    };
    if let Some(extra) = it.next() {
        return Err(ctx.err("end", format!("unexpected '{extra}'")));
    }
    Ok(FaultEvent {
        at,
        line: ctx.line,
        fault,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Running,
    Paused,
    Killed,
}

/// Replays the process faults in time order and refuses the impossible ones.
fn check_sequence(
    source: &str,
    events: &[FaultEvent],
    validators: usize,
) -> Result<(), ScheduleError> {
    let mut state = vec![NodeState::Running; validators];
    for e in events {
        let ctx = LineCtx {
            source,
            line: e.line,
            validators,
        };
        let (n, from, to, verb) = match e.fault {
            Fault::Kill(n) => (n, None, NodeState::Killed, "kill"),
            Fault::Restart(n) => (n, Some(NodeState::Killed), NodeState::Running, "restart"),
            Fault::Pause(n) => (n, Some(NodeState::Running), NodeState::Paused, "pause"),
            Fault::Resume(n) => (n, Some(NodeState::Paused), NodeState::Running, "resume"),
            _ => continue,
        };
        let Some(slot) = state.get_mut(n) else {
            return Err(ctx.err("node", format!("node {n} does not exist")));
        };
        let ok = match from {
            None => *slot != NodeState::Killed,
            Some(required) => *slot == required,
        };
        if !ok {
            let now = match *slot {
                NodeState::Running => "running",
                NodeState::Paused => "paused",
                NodeState::Killed => "killed",
            };
            return Err(ctx.err(
                "node",
                format!("cannot {verb} node {n} at {:?}: it is {now} then", e.at),
            ));
        }
        *slot = to;
    }
    Ok(())
}

/// Parses a schedule for a network of `validators` nodes; `source` names it in errors.
pub fn parse(text: &str, source: &str, validators: usize) -> Result<FaultSchedule, ScheduleError> {
    let mut events = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or_default();
        let words: Vec<&str> = content.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let ctx = LineCtx {
            source,
            line: i + 1,
            validators,
        };
        if events.len() >= MAX_EVENTS {
            return Err(ctx.err("action", format!("more than {MAX_EVENTS} faults")));
        }
        events.push(parse_line(&ctx, &words)?);
    }
    events.sort_by_key(|e| e.at);
    check_sequence(source, &events, validators)?;
    Ok(FaultSchedule { events })
}

/// Reads and parses a schedule file.
pub fn load(path: &Path, validators: usize) -> Result<FaultSchedule, ScheduleError> {
    let source = path.display().to_string();
    let fail = |problem: String| ScheduleError {
        source: source.clone(),
        line: 0,
        field: String::new(),
        problem,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| fail(format!("cannot read: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(format!(
            "{size} bytes is over the {MAX_FILE_BYTES}-byte limit"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    parse(&text, &source, validators)
}

/// `--faults default`: kill and restart node 1, then isolate node 2 and heal, spread over the
/// run (or over 60 s when it has no end), so each fault is followed by time to recover.
pub fn default_schedule(
    validators: usize,
    duration: Option<Duration>,
) -> Result<FaultSchedule, ScheduleError> {
    if validators < 3 {
        return Err(ScheduleError {
            source: "default".into(),
            line: 0,
            field: String::new(),
            problem: format!(
                "needs at least 3 validators (one killed and one partitioned), not {validators}"
            ),
        });
    }
    let span = duration.unwrap_or(Duration::from_secs(60)).as_secs_f64();
    let at = |fraction: f64| Duration::from_secs_f64(span * fraction);
    let rest: Vec<usize> = (0..validators).filter(|&n| n != 2).collect();
    let events = vec![
        FaultEvent {
            at: at(0.15),
            line: 0,
            fault: Fault::Kill(1),
        },
        FaultEvent {
            at: at(0.30),
            line: 0,
            fault: Fault::Restart(1),
        },
        FaultEvent {
            at: at(0.45),
            line: 0,
            fault: Fault::Partition(vec![2], rest),
        },
        FaultEvent {
            at: at(0.65),
            line: 0,
            fault: Fault::Heal(None),
        },
    ];
    Ok(FaultSchedule { events })
}

impl FaultSchedule {
    /// The longest time any node is kept out by this schedule: killed or paused until restarted
    /// or resumed, or on either side of a partition until healed (an outage still open at the end
    /// runs to `end`, or counts from its start to the last event when there is no end). The
    /// testnet's reveal windows are set longer than this, so that an honest runner the schedule
    /// cuts off between its commitment and its reveal still reveals in time.
    pub fn longest_outage(&self, end: Option<Duration>) -> Duration {
        let mut nodes: BTreeMap<usize, OutageState> = BTreeMap::new();
        let mut longest = Duration::ZERO;
        for event in &self.events {
            let at = event.at;
            let mut set = |n: &usize, stopped: Option<bool>, cut: Option<bool>| {
                let node = nodes.entry(*n).or_default();
                if let Some(ended) = node.update(stopped, cut, at) {
                    longest = longest.max(ended);
                }
            };
            match &event.fault {
                Fault::Kill(n) | Fault::Pause(n) => set(n, Some(true), None),
                Fault::Restart(n) | Fault::Resume(n) => set(n, Some(false), None),
                Fault::Partition(a, b) => a.iter().chain(b).for_each(|n| set(n, None, Some(true))),
                Fault::Heal(Some((a, b))) => {
                    a.iter().chain(b).for_each(|n| set(n, None, Some(false)))
                }
                Fault::Heal(None) => {
                    for node in nodes.values_mut() {
                        if let Some(ended) = node.update(None, Some(false), at) {
                            longest = longest.max(ended);
                        }
                    }
                }
                Fault::Delay(..) | Fault::Loss(..) => {}
            }
        }
        let close = end.unwrap_or(self.events.last().map_or(Duration::ZERO, |e| e.at));
        nodes
            .values()
            .filter_map(|node| node.since)
            .map(|start| close.saturating_sub(start))
            .fold(longest, Duration::max)
    }
}

/// One node in [`FaultSchedule::longest_outage`]: stopped (killed or paused), cut off (in a
/// partition), and since when it is out.
#[derive(Default)]
struct OutageState {
    stopped: bool,
    cut: bool,
    since: Option<Duration>,
}

impl OutageState {
    /// Applies a change at `at`; the outage's length when it ends.
    fn update(
        &mut self,
        stopped: Option<bool>,
        cut: Option<bool>,
        at: Duration,
    ) -> Option<Duration> {
        self.stopped = stopped.unwrap_or(self.stopped);
        self.cut = cut.unwrap_or(self.cut);
        match (self.stopped || self.cut, self.since) {
            (true, None) => {
                self.since = Some(at);
                None
            }
            (false, Some(start)) => {
                self.since = None;
                Some(at.saturating_sub(start))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_outage_is_what_the_schedule_keeps_a_node_out() {
        // The default schedule over 60 s: node 1 down 9 s, node 2 cut off 12 s.
        let s = default_schedule(4, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(
            s.longest_outage(Some(Duration::from_secs(60))),
            Duration::from_secs(12)
        );
        // A kill that overlaps a partition keeps the node out until both are over.
        let s = parse("5 kill 1\n8 partition 1 0\n10 restart 1\n20 heal\n", "f", 4).unwrap();
        assert_eq!(s.longest_outage(None), Duration::from_secs(15));
        // An outage never ended runs to the end of the run.
        let s = parse("5 pause 3\n", "f", 4).unwrap();
        assert_eq!(
            s.longest_outage(Some(Duration::from_secs(50))),
            Duration::from_secs(45)
        );
        // Delay and loss keep nobody out.
        let s = parse("5 delay 0 * 150ms\n6 loss 1 2 5%\n", "f", 4).unwrap();
        assert_eq!(s.longest_outage(None), Duration::ZERO);
    }

    const GOOD: &str = "\
# a comment line
5     kill 1            # crash node 1
12.5s restart 1
15s   pause 3
20000ms resume 3
25 partition 2          # node 2 alone
30 heal
31 partition 0,1 2,3
40 heal 0,1 2,3
41 delay 0 * 150ms
42 delay 0 1 0.5s
43 loss 1 2 5%
44 loss * 3 0.5
50 delay 0 0
";

    #[test]
    fn a_good_file_parses_in_time_order() {
        let s = parse(GOOD, "faults.txt", 4).unwrap();
        assert_eq!(s.events.len(), 13);
        assert_eq!(s.events[0].fault, Fault::Kill(1));
        assert_eq!(s.events[0].line, 2);
        assert_eq!(s.events[1].at, Duration::from_millis(12_500));
        assert_eq!(s.events[3].at, Duration::from_secs(20));
        assert_eq!(s.events[4].fault, Fault::Partition(vec![2], vec![0, 1, 3]));
        assert_eq!(s.events[5].fault, Fault::Heal(None));
        assert_eq!(
            s.events[7].fault,
            Fault::Heal(Some((vec![0, 1], vec![2, 3])))
        );
        assert_eq!(s.events[8].fault, Fault::Delay(vec![0], vec![1, 2, 3], 150));
        assert_eq!(s.events[9].fault, Fault::Delay(vec![0], vec![1], 500));
        assert_eq!(s.events[10].fault, Fault::Loss(vec![1], vec![2], 5.0));
        assert_eq!(s.events[11].fault, Fault::Loss(vec![0, 1, 2], vec![3], 0.5));
        assert_eq!(s.events[12].fault, Fault::Delay(vec![0], vec![1, 2, 3], 0));
        // Out of order lines are sorted by time, keeping their line numbers.
        let s = parse("10 restart 0\n5 kill 0\n", "f", 4).unwrap();
        assert_eq!(s.events[0].fault, Fault::Kill(0));
        assert_eq!(s.events[0].line, 2);
        assert!(parse("", "f", 4).unwrap().events.is_empty());
    }

    fn error(text: &str) -> ScheduleError {
        parse(text, "f.txt", 4).unwrap_err()
    }

    #[test]
    fn every_kind_of_bad_line_names_line_and_field() {
        let cases: &[(&str, usize, &str, &str)] = &[
            ("x kill 1", 1, "time", "not a time"),
            ("-1 kill 1", 1, "time", "outside"),
            ("1e9 kill 1", 1, "time", "outside"),
            ("NaN kill 1", 1, "time", "outside"),
            ("\n5", 2, "action", "missing"),
            ("5 explode 1", 1, "action", "unknown action 'explode'"),
            ("5 kill", 1, "node", "missing"),
            ("5 kill one", 1, "node", "not a node index"),
            ("5 kill 4", 1, "node", "does not exist"),
            ("5 kill 1 2", 1, "end", "unexpected '2'"),
            ("5 partition", 1, "from", "missing"),
            ("5 partition 0,0 1", 1, "from", "listed twice"),
            ("5 partition 0,1 1,2", 1, "to", "on both sides"),
            ("5 partition * *", 1, "to", "names no link"),
            ("5 partition 0,1,2,3", 1, "to", "no link"),
            ("5 delay 0 1", 1, "delay", "needs a unit"),
            ("5 delay 0 1 fast", 1, "delay", "needs a unit"),
            ("5 delay 0 1 xms", 1, "delay", "not a delay"),
            ("5 delay 0 1 61s", 1, "delay", "outside"),
            ("5 delay 0", 1, "delay", "missing"),
            ("5 delay 0 1 5ms 7", 1, "end", "unexpected '7'"),
            ("5 loss 0 1 101%", 1, "loss", "outside"),
            ("5 loss 0 1 lots", 1, "loss", "not a percentage"),
            ("5 restart 1", 1, "node", "cannot restart node 1"),
            ("5 resume 1", 1, "node", "cannot resume node 1"),
            ("5 kill 1\n6 kill 1", 2, "node", "cannot kill node 1"),
            ("5 kill 1\n6 pause 1", 2, "node", "it is killed"),
            ("5 pause 1\n6 pause 1", 2, "node", "it is paused"),
        ];
        for (text, line, field, words) in cases {
            let e = error(text);
            assert_eq!((e.line, e.field.as_str()), (*line, *field), "{text}: {e}");
            assert!(e.problem.contains(words), "{text}: {e}");
            let shown = e.to_string();
            assert!(
                shown.contains(&format!("line {line}")) && shown.contains("f.txt"),
                "{shown}"
            );
        }
    }

    #[test]
    fn files_too_big_missing_or_binary_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load(&dir.path().join("nope"), 4).unwrap_err();
        assert!(missing.problem.contains("cannot read"), "{missing}");
        let binary = dir.path().join("bin");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert!(load(&binary, 4).unwrap_err().problem.contains("UTF-8"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        assert!(load(&big, 4).unwrap_err().problem.contains("limit"));
        let good = dir.path().join("good");
        std::fs::write(&good, GOOD).unwrap();
        assert_eq!(load(&good, 4).unwrap().events.len(), 13);
    }

    #[test]
    fn the_default_schedule_kills_restarts_partitions_and_heals() {
        let s = default_schedule(4, Some(Duration::from_secs(100))).unwrap();
        let faults: Vec<String> = s.events.iter().map(|e| e.fault.to_string()).collect();
        assert_eq!(faults, ["kill 1", "restart 1", "partition 2 0,1,3", "heal"]);
        assert_eq!(s.events[0].at, Duration::from_secs(15));
        assert_eq!(s.events[3].at, Duration::from_secs(65));
        assert!(default_schedule(2, None).is_err());
        // What it prints parses back to the same faults.
        let text: String = s
            .events
            .iter()
            .map(|e| format!("{}ms {}\n", e.at.as_millis(), e.fault))
            .collect();
        let back = parse(&text, "round trip", 4).unwrap();
        assert_eq!(
            back.events.iter().map(|e| &e.fault).collect::<Vec<_>>(),
            s.events.iter().map(|e| &e.fault).collect::<Vec<_>>()
        );
    }
}
