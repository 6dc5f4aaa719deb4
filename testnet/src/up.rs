//! `runnet testnet up`: a network of validator processes behind the fault relay, a workload, a
//! live table on stderr, faults on a schedule, and a summary that checks safety itself.

use crate::api::{Api, Status};
use crate::byzantine::{self as byz, AttackReport, Bounds, ByzantineSpec, Rate};
use crate::economy;
use crate::error::{TestnetError, io};
use crate::hist::Percentiles;
use crate::load::{LoadArgs, LoadLine, LoadReport, PayloadMode, Progress};
use crate::network::{NetOptions, Network};
use crate::process::Guarded;
use crate::schedule::{self, Fault, FaultSchedule};
use crate::summary::{self, Executions, UpSummary};
use crate::workload::Mix;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Transfers, and arith executions for the runners `up` starts.
pub const DEFAULT_MIX: &str = "transfer=90,execution=9,event=1";

/// `runnet testnet up`.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct UpArgs {
    /// Validators, each a separate `runnet start` process.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Seconds to run the workload; without it, until Ctrl-C.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Offered workload, transactions per second (0: none).
    #[arg(long, default_value_t = 200)]
    pub load: u64,
    /// Shares of transaction kinds, e.g. transfer=70,execution=20,event=10.
    #[arg(long, default_value = DEFAULT_MIX)]
    pub mix: String,
    /// `default` (kill and restart one validator, partition another) or a schedule file.
    #[arg(long)]
    pub faults: Option<String>,
    /// Keep homes and logs in this folder (it must not hold a network yet).
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// The summary as one JSON line, the last of stdout.
    #[arg(long)]
    pub json: bool,
    /// Node i listens on BASE+2i (p2p) and BASE+2i+1 (API).
    #[arg(long, default_value_t = 26600)]
    pub base_port: u16,
    /// Program run as `PROGRAM testnet load ...` for the workload (default: the runnet binary).
    #[arg(long, hide = true)]
    pub load_binary: Option<PathBuf>,
    /// Full nodes besides the validators (nodes VALIDATORS.., linked directly, no relay).
    #[arg(long, default_value_t = 0)]
    pub full_nodes: usize,
    /// Node I attacks the chain on purpose in MODE from halfway through the run (repeatable):
    /// junk-batches, poison-block, equivocate, fetch-flood, withhold (docs/testnet.md).
    #[arg(long = "byzantine", value_name = "I:MODE")]
    pub byzantine: Vec<ByzantineSpec>,
    /// The workload sends one request per 20 ms tick to each validator with what is due, as a
    /// gateway batching its clients does (default: a request as soon as one transaction is due).
    #[arg(long)]
    pub steady: bool,
}

impl Default for UpArgs {
    fn default() -> Self {
        UpArgs {
            validators: 4,
            duration: None,
            load: 200,
            mix: DEFAULT_MIX.into(),
            faults: None,
            keep: None,
            json: false,
            base_port: 26600,
            load_binary: None,
            full_nodes: 0,
            byzantine: Vec::new(),
            steady: false,
        }
    }
}

/// Registers SIGINT and SIGTERM to set the returned flag (a second Ctrl-C exits at once; the
/// children then die with their parent).
pub fn stop_flag() -> Result<Arc<AtomicBool>, TestnetError> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, flag.clone())
            .map_err(io("install the Ctrl-C handler"))?;
        signal_hook::flag::register(signal, flag.clone())
            .map_err(io("install the Ctrl-C handler"))?;
    }
    Ok(flag)
}

/// A load generator process and the lines it prints.
pub struct LoadProcess {
    process: Guarded,
    lines: mpsc::Receiver<LoadLine>,
    stdin: Option<std::process::ChildStdin>,
    pub last_progress: Option<Progress>,
    pub report: Option<LoadReport>,
}

impl LoadProcess {
    pub fn spawn(program: &Path, args: &LoadArgs, log: &Path) -> Result<LoadProcess, TestnetError> {
        let log_file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io(format!("open {}", log.display())))?;
        let mut command = Command::new(program);
        command
            .args(["testnet", "load"])
            .args(args.to_args())
            .stdout(Stdio::piped())
            .stderr(log_file);
        crate::process::prepare(&mut command);
        command.stdin(Stdio::piped());
        let mut process = Guarded::from_command(command)
            .map_err(io(format!("start {} testnet load", program.display())))?;
        let child = process
            .child_mut()
            .ok_or_else(|| TestnetError::Load("the load process is gone".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| TestnetError::Load("no stdout from the load process".into()))?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(parsed) = crate::load::parse_line(&line)
                    && tx.send(parsed).is_err()
                {
                    break;
                }
            }
        });
        Ok(LoadProcess {
            process,
            lines,
            stdin,
            last_progress: None,
            report: None,
        })
    }

    /// Reads what has arrived; true once `ready` was seen.
    fn pump(&mut self) -> bool {
        let mut ready = false;
        while let Ok(line) = self.lines.try_recv() {
            match line {
                LoadLine::Ready => ready = true,
                LoadLine::Progress(p) => self.last_progress = Some(p),
                LoadLine::Report(r) => self.report = Some(r),
            }
        }
        ready
    }

    /// Waits for the `ready` line (funding and signing done); false if the process ended.
    pub fn wait_ready(&mut self, timeout: Duration, stop: &AtomicBool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(LoadLine::Ready) => return true,
                Ok(LoadLine::Progress(p)) => self.last_progress = Some(p),
                Ok(LoadLine::Report(r)) => self.report = Some(r),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
        false
    }

    pub fn go(&mut self) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(b"go\n");
            let _ = stdin.flush();
        }
    }

    /// Asks it to stop sending (SIGTERM) and waits for its report.
    pub fn finish(&mut self, timeout: Duration) -> Option<LoadReport> {
        let _ = self.process.terminate();
        self.wait_report(timeout)
    }

    /// Waits for the report of a run that ends by itself.
    pub fn wait_report(&mut self, timeout: Duration) -> Option<LoadReport> {
        let deadline = Instant::now() + timeout;
        while self.report.is_none() && Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(LoadLine::Report(r)) => self.report = Some(r),
                Ok(LoadLine::Progress(p)) => self.last_progress = Some(p),
                Ok(LoadLine::Ready) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.process.stop(Duration::from_secs(2));
        self.report.clone()
    }
}

/// What the table shows for one poll of the network.
#[derive(Default)]
struct Sample {
    statuses: Vec<Option<Status>>,
    metrics: Vec<BTreeMap<String, f64>>,
}

fn sample(network: &mut Network) -> Sample {
    let mut s = Sample::default();
    for (i, api) in network.apis.iter().enumerate() {
        let reachable = network
            .nodes
            .get(i)
            .is_some_and(|n| n.is_running() && !n.is_paused());
        // A paused node would hold the request until its timeout: skip it.
        let quick = Api::new(&api.base, Duration::from_millis(800));
        s.statuses
            .push(reachable.then(|| quick.status().ok()).flatten());
        s.metrics.push(if reachable {
            quick.metrics().unwrap_or_default()
        } else {
            BTreeMap::new()
        });
    }
    s
}

/// The largest value of a metric over the nodes (0 when no node exposes it).
fn metric_max(metrics: &[BTreeMap<String, f64>], name: &str) -> u64 {
    metrics
        .iter()
        .filter_map(|m| m.get(name))
        .fold(0.0f64, |a, &b| a.max(b)) as u64
}

/// `runnet_slashes_by_reason{reason="R"}` as R → the highest count any node reports.
fn slashes_by_reason(metrics: &[BTreeMap<String, f64>]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for m in metrics {
        for (name, value) in m {
            if let Some(reason) = name
                .strip_prefix("runnet_slashes_by_reason{reason=\"")
                .and_then(|rest| rest.strip_suffix("\"}"))
            {
                let seen = out.entry(reason.to_string()).or_insert(0u64);
                *seen = (*seen).max(*value as u64);
            }
        }
    }
    out
}

fn executions_of(metrics: &[BTreeMap<String, f64>]) -> Executions {
    Executions {
        completed: metric_max(metrics, "runnet_executions_completed"),
        rejected: metric_max(metrics, "runnet_executions_rejected"),
        expired: metric_max(metrics, "runnet_executions_expired"),
    }
}

fn apply(network: &mut Network, fault: &Fault) -> Result<(), TestnetError> {
    let node_io = |n: usize| io(format!("node{n}"));
    match fault {
        Fault::Kill(n) => {
            if let Some(node) = network.nodes.get_mut(*n) {
                node.kill();
            }
        }
        Fault::Restart(n) => {
            if let Some(node) = network.nodes.get_mut(*n) {
                node.start().map_err(node_io(*n))?;
            }
        }
        Fault::Pause(n) => {
            if let Some(node) = network.nodes.get_mut(*n) {
                node.pause().map_err(node_io(*n))?;
            }
        }
        Fault::Resume(n) => {
            if let Some(node) = network.nodes.get_mut(*n) {
                node.resume().map_err(node_io(*n))?;
            }
        }
        Fault::Partition(a, b) => {
            if let Some(r) = &network.relay {
                r.update(a, b, |s| s.blocked = true);
            }
        }
        Fault::Heal(None) => {
            if let Some(r) = &network.relay {
                r.heal_all();
            }
        }
        Fault::Heal(Some((a, b))) => {
            if let Some(r) = &network.relay {
                r.update(a, b, |s| s.blocked = false);
            }
        }
        Fault::Delay(a, b, ms) => {
            if let Some(r) = &network.relay {
                r.update(a, b, |s| s.delay_ms = *ms);
            }
        }
        Fault::Loss(a, b, percent) => {
            if let Some(r) = &network.relay {
                r.update(a, b, |s| s.loss = percent / 100.0);
            }
        }
    }
    Ok(())
}

/// What `up` published for the economy workload.
struct Economy {
    arith: String,
    /// The ticker's process, when process events are on.
    process: Option<String>,
}

/// Publishes arith (and with `tick_period` the ticker and its process), writes the validators'
/// `[[runner]]` sections, restarts them and waits until every runner is registered.
fn start_runners(
    binary: &Path,
    network: &mut Network,
    tick_period: Option<u64>,
) -> Result<Economy, TestnetError> {
    let first = network
        .init
        .nodes
        .first()
        .ok_or_else(|| TestnetError::Binary("testnet init listed no node".into()))?;
    let api = first.api.clone();
    let faucet = network.init.faucet_key.clone();
    eprintln!("testnet: publishing the arith service and starting its runners...");
    let arith = economy::publish_arith(binary, &network.dir, &api, &faucet)?;
    let ticker = match tick_period {
        Some(period) => {
            eprintln!(
                "testnet: publishing the ticker (a tick every {period} s on every validator)..."
            );
            let (id, program) = economy::publish_ticker(binary, &network.dir, &api, &faucet)?;
            Some((id, format!("bash '{}' {period}", program.display())))
        }
        None => None,
    };
    let validators = network.init.nodes.iter().filter(|n| n.validator).count();
    let plan = economy::plan(validators);
    for &(i, mode) in &plan {
        if let Some(node) = network.init.nodes.get(i) {
            economy::add_runner(&node.home, &arith, mode, None)?;
            if let Some((ticker, program)) = &ticker {
                economy::add_runner(&node.home, ticker, economy::Mode::Honest, Some(program))?;
            }
        }
    }
    // The agent reads `[[runner]]` at start; a restart resumes from the home (operator.md).
    for &(i, _) in &plan {
        if let Some(node) = network.nodes.get_mut(i) {
            node.stop(Duration::from_secs(10));
            node.start().map_err(io(format!("restart node{i}")))?;
        }
    }
    network.wait_ready(Duration::from_secs(120))?;
    let runners = if ticker.is_some() { 2 } else { 1 };
    for &(i, _) in &plan {
        if let Some(node) = network.nodes.get(i) {
            economy::wait_registered(&node.log_path(), runners, Duration::from_secs(120))?;
        }
    }
    let process = match &ticker {
        Some((ticker, _)) => {
            let id = economy::create_process(binary, &network.dir, &api, &faucet, ticker, &arith)?;
            eprintln!("testnet: process {id} runs add then mul on every tick");
            Some(id)
        }
        None => None,
    };
    Ok(Economy { arith, process })
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// Starts the network, runs the workload and the faults, prints the live table on stderr and
/// the summary on stdout (one JSON line with `--json`), and stops everything it started.
/// Blocking; call it outside any async runtime.
pub fn up(binary: &Path, args: &UpArgs) -> Result<UpSummary, TestnetError> {
    let stop = stop_flag()?;
    let summary = run_up(binary, args, &stop)?;
    if args.json {
        println!("{}", summary.to_json_line());
    } else {
        println!("{}", summary.to_text());
    }
    Ok(summary)
}

/// [`up`] with the caller's stop flag, printing only the live table.
pub fn run_up(binary: &Path, args: &UpArgs, stop: &AtomicBool) -> Result<UpSummary, TestnetError> {
    if args.validators == 0 || args.validators > 100 {
        return Err(TestnetError::Usage("--validators must be 1..=100".into()));
    }
    let mix = Mix::from_str(&args.mix).map_err(TestnetError::Usage)?;
    let economy = (mix.execution > 0 || mix.event > 0) && args.load > 0;
    // Process events come from the ticker's runners, not from the load generator: its period
    // makes their reports about the event share of the load.
    let tick_period = (economy && mix.event > 0).then(|| {
        let share = f64::from(mix.event) / mix.total() as f64;
        economy::tick_period(args.load, share, args.validators)
    });
    let generator_mix = Mix { event: 0, ..mix };
    let attackers = byz::plan(&args.byzantine, args.validators, args.full_nodes)?;
    if !attackers.is_empty() && args.duration.is_none_or(|d| d < 4) {
        return Err(TestnetError::Usage(
            "--byzantine needs --duration of at least 4 s: the attack starts halfway through"
                .into(),
        ));
    }
    let faults = match args.faults.as_deref() {
        None => FaultSchedule::default(),
        Some("default") => {
            schedule::default_schedule(args.validators, args.duration.map(Duration::from_secs))?
        }
        Some(file) => schedule::load(Path::new(file), args.validators)?,
    };
    let mut network = Network::launch(
        binary,
        &NetOptions {
            validators: args.validators,
            base_port: args.base_port,
            keep: args.keep.clone(),
            relay: true,
            allow_raw: false,
            chain_id: "runnet-testnet".into(),
            mempool: Vec::new(),
            genesis_params: if economy {
                economy::genesis_params(
                    faults.longest_outage(args.duration.map(Duration::from_secs)),
                )
            } else {
                Vec::new()
            },
            full_nodes: args.full_nodes,
            byzantine: attackers.clone(),
        },
    )?;
    eprintln!(
        "testnet: {} validators from {} (homes in {}), links through the fault relay",
        args.validators,
        binary.display(),
        network.dir.display()
    );
    network.wait_ready(Duration::from_secs(120))?;
    let economy = if economy {
        Some(start_runners(binary, &mut network, tick_period)?)
    } else {
        None
    };
    let service = economy.as_ref().map(|e| e.arith.clone());

    let mut load = None;
    if args.load > 0 && generator_mix.total() > 0 {
        let load_args = LoadArgs {
            // Clients of an attacker are at its mercy: the workload goes to the honest validators,
            // whose commit rate is what an attack is measured by.
            nodes: network
                .init
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| n.validator && !attackers.contains_key(i))
                .map(|(_, n)| n.api.clone())
                .collect(),
            payload: PayloadMode::Signed,
            rate: args.load,
            duration: args.duration.unwrap_or(0),
            drain: 5,
            fund_from: Some(network.init.faucet_key.clone()),
            mix: generator_mix.to_string(),
            service: service.clone(),
            task: "add".into(),
            inputs: economy::add_inputs_hex(20, 22)?,
            max_fee: economy::MAX_FEE,
            progress: true,
            wait_go: true,
            steady: args.steady,
            ..LoadArgs::default()
        };
        let program = args
            .load_binary
            .clone()
            .unwrap_or_else(|| binary.to_path_buf());
        let mut process = LoadProcess::spawn(&program, &load_args, &network.dir.join("load.log"))?;
        eprintln!("testnet: funding senders and signing the workload...");
        if !process.wait_ready(Duration::from_secs(300), stop) {
            if stop.load(Ordering::SeqCst) {
                return Err(TestnetError::Load("interrupted while preparing".into()));
            }
            return Err(TestnetError::Load(format!(
                "did not get ready; the end of {}:\n{}",
                network.dir.join("load.log").display(),
                crate::network::log_tail(&network.dir.join("load.log"), 15)
            )));
        }
        process.go();
        load = Some(process);
    }

    let start = Instant::now();
    let mut problems_early: Vec<String> = Vec::new();
    let first = sample(&mut network);
    let height_at_start = first
        .statuses
        .iter()
        .flatten()
        .map(|s| s.committed_height)
        .max()
        .unwrap_or(0);
    let mut applied = Vec::new();
    let mut next_fault = 0usize;
    let mut top_height = height_at_start;
    let mut last_advance = Instant::now();
    let mut max_gap = 0.0f64;
    let mut last = first;
    let honest: Vec<usize> = (0..network.nodes.len())
        .filter(|i| !attackers.contains_key(i))
        .collect();
    let attack_at = args
        .duration
        .filter(|_| !attackers.is_empty())
        .map(|d| Duration::from_secs(d) / 2);
    let mut phases = Phases::new(&honest, &last);
    let mut bounds = Bounds {
        stored_batch_bytes_bound: stored_bound(&network),
        mempool_bytes_bound: 64 << 20,
        ..Bounds::default()
    };
    eprintln!(
        "{:>6} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6} {:>5} {:>7}  nodes (committed height)",
        "t(s)", "height", "tx/s", "p50ms", "p99ms", "mempool", "peers", "exec", "slashes"
    );
    let mut next_row = start;
    loop {
        let elapsed = start.elapsed();
        if stop.load(Ordering::SeqCst)
            || args
                .duration
                .is_some_and(|d| elapsed >= Duration::from_secs(d))
        {
            break;
        }
        if let Some(at) = attack_at
            && elapsed >= at
            && phases.attack_started.is_none()
        {
            let s = sample(&mut network);
            phases.start_attack(&honest, &s, elapsed);
            for i in attackers.keys() {
                let stake = validator_standing(&network, &honest, *i).1;
                phases.stake_before.insert(*i, stake);
                if let Some(node) = network.nodes.get(*i)
                    && let Err(e) = node.signal_usr1()
                {
                    problems_early.push(format!("node{i}: cannot start the attack: {e}"));
                }
            }
            eprintln!(
                "{:>6.1} attack: {}",
                elapsed.as_secs_f64(),
                attackers
                    .iter()
                    .map(|(i, m)| format!("node{i} {}", m.join("+")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        while let Some(event) = faults.events.get(next_fault) {
            if event.at > elapsed {
                break;
            }
            apply(&mut network, &event.fault)?;
            let text = format!("{:.1}s {}", event.at.as_secs_f64(), event.fault);
            eprintln!("{:>6.1} fault: {}", elapsed.as_secs_f64(), event.fault);
            applied.push(text);
            next_fault += 1;
        }
        if Instant::now() >= next_row {
            next_row += Duration::from_secs(1);
            let s = sample(&mut network);
            if let Some(l) = load.as_mut() {
                l.pump();
            }
            let height = s
                .statuses
                .iter()
                .flatten()
                .map(|st| st.committed_height)
                .max();
            if let Some(h) = height
                && h > top_height
            {
                top_height = h;
                last_advance = Instant::now();
            }
            max_gap = max_gap.max(last_advance.elapsed().as_secs_f64());
            track_bounds(&mut bounds, &network, &honest, &s);
            let progress = load
                .as_ref()
                .and_then(|l| l.last_progress.clone())
                .unwrap_or_default();
            let mempool = s
                .metrics
                .iter()
                .filter_map(|m| m.get("runnet_mempool_txs"))
                .fold(0.0f64, |a, &b| a + b) as u64;
            let peers = s.statuses.iter().flatten().map(|st| st.peers).min();
            let ex = executions_of(&s.metrics);
            let nodes: Vec<String> = s
                .statuses
                .iter()
                .enumerate()
                .map(|(i, st)| match (st, network.nodes.get(i)) {
                    (_, Some(n)) if !n.is_running() => "killed".into(),
                    (_, Some(n)) if n.is_paused() => "paused".into(),
                    (Some(st), _) => st.committed_height.to_string(),
                    (None, _) => "?".into(),
                })
                .collect();
            eprintln!(
                "{:>6.0} {:>8} {:>8.0} {:>7.0} {:>7.0} {:>8} {:>6} {:>5} {:>7}  {}",
                elapsed.as_secs_f64(),
                fmt_opt(height),
                progress.tps,
                progress.latency_ms.p50,
                progress.latency_ms.p99,
                mempool,
                fmt_opt(peers),
                ex.completed + ex.rejected + ex.expired,
                metric_max(&s.metrics, "runnet_slashes"),
                nodes.join(" ")
            );
            last = s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let duration_s = start.elapsed().as_secs();
    let end_sample = sample(&mut network);
    phases.finish(&honest, &end_sample, start.elapsed());
    eprintln!("testnet: stopping the workload and checking the chains...");
    let report = load
        .as_mut()
        .and_then(|l| l.finish(Duration::from_secs(30)));
    let attacks = if attackers.is_empty() {
        Vec::new()
    } else {
        // The attack's transactions are counted once the workload has drained (5 s), so those
        // still in flight when the run ends count for it, as those in flight when it began do.
        let drained = sample(&mut network);
        phases.drained(&honest, &drained);
        attackers
            .iter()
            .map(|(i, modes)| phases.report(&network, &honest, &drained, *i, modes))
            .collect()
    };
    for i in &honest {
        if let Some(home) = network.init.nodes.get(*i).map(|n| n.home.join("data")) {
            bounds.data_bytes = bounds.data_bytes.max(byz::dir_bytes(&home));
        }
    }
    bounds.within = bounds.stored_batch_bytes <= bounds.stored_batch_bytes_bound
        && bounds.mempool_bytes <= bounds.mempool_bytes_bound;
    let mut problems = std::mem::take(&mut problems_early);
    if args.load > 0 && report.is_none() {
        problems.push(format!(
            "the load generator sent no report (see {})",
            network.dir.join("load.log").display()
        ));
    }

    // Let every reachable node be read: links healed, paused nodes resumed.
    if let Some(r) = &network.relay {
        r.heal_all();
        r.update(
            &(0..args.validators).collect::<Vec<_>>(),
            &(0..args.validators).collect::<Vec<_>>(),
            |s| {
                s.delay_ms = 0;
                s.loss = 0.0;
            },
        );
    }
    for node in &mut network.nodes {
        if node.is_paused() {
            let _ = node.resume();
        }
    }
    let final_sample = sample(&mut network);
    let chains: Vec<Option<summary::Chain>> = std::thread::scope(|scope| {
        let handles: Vec<_> = network
            .apis
            .iter()
            .zip(&network.nodes)
            .map(|(api, node)| {
                let running = node.is_running();
                let api = Api::new(&api.base, Duration::from_secs(10));
                scope.spawn(move || {
                    if running {
                        summary::read_chain(&api)
                    } else {
                        None
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    let (same_blocks, roots_agree, compared, mut found) = summary::compare(&chains);
    problems.append(&mut found);
    if compared == 0 {
        problems.push("fewer than two nodes could be read: nothing was compared".into());
    }
    let heights: Vec<Option<u64>> = chains
        .iter()
        .map(|c| c.as_ref().and_then(|c| c.keys().next_back().copied()))
        .collect();
    let metrics: Vec<_> = final_sample
        .metrics
        .iter()
        .chain(&last.metrics)
        .cloned()
        .collect();
    let process = economy
        .as_ref()
        .and_then(|e| e.process.as_ref())
        .map(|id| summary::read_process(&network.apis, id));
    let runners = match &economy {
        Some(e) => {
            let started: Vec<(usize, String, String)> = network
                .nodes
                .iter()
                .enumerate()
                .flat_map(|(i, node)| {
                    economy::registered_runners(&node.log_path(), &e.arith)
                        .into_iter()
                        .map(move |(id, mode)| (i, id, mode))
                })
                .collect();
            summary::read_runners(&network.apis, &started, economy::RUNNER_STAKE)
        }
        None => Vec::new(),
    };
    network.stop(Duration::from_secs(10));

    let report = report.unwrap_or_default();
    let top = heights
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(top_height)
        .max(top_height);
    Ok(UpSummary {
        validators: args.validators as u64,
        duration_s,
        blocks: top.saturating_sub(height_at_start),
        txs_committed: report.committed_total,
        slashes: metric_max(&metrics, "runnet_slashes"),
        slashes_by_reason: slashes_by_reason(&metrics),
        tps: if duration_s > 0 {
            report.committed_total as f64 / duration_s as f64
        } else {
            0.0
        },
        latency_ms: Percentiles {
            p50: report.histogram.quantile(0.5),
            p99: report.histogram.quantile(0.99),
        },
        executions: executions_of(&metrics),
        safety_ok: same_blocks && compared > 0,
        roots_agree: roots_agree && compared > 0,
        heights,
        heights_compared: compared,
        faults: applied,
        max_commit_gap_s: (max_gap * 10.0).round() / 10.0,
        load: args.load,
        sent: report.sent,
        admitted: report.admitted,
        refused: report.refused,
        dir: args.keep.as_ref().map(|d| d.display().to_string()),
        process,
        attacks,
        bounds: (!attackers.is_empty()).then_some(bounds),
        runners,
        problems,
    })
}

/// The honest nodes' counters at the start, when the attack began and at the end.
struct Phases {
    started: Snapshot,
    attack_started: Option<(Duration, Snapshot)>,
    ended: Option<(Duration, Snapshot)>,
    stake_before: BTreeMap<usize, Option<u64>>,
}

#[derive(Clone, Default)]
struct Snapshot {
    /// Highest committed height of an honest node.
    height: u64,
    /// Most transactions executed by an honest node.
    txs: u64,
    batch_refusals: BTreeMap<String, u64>,
    consensus_refused: BTreeMap<String, u64>,
    fetches_refused: u64,
    syncs_refused: u64,
    txs_relayed: u64,
    offences: u64,
}

impl Snapshot {
    fn of(honest: &[usize], s: &Sample) -> Snapshot {
        let metrics: Vec<&BTreeMap<String, f64>> =
            honest.iter().filter_map(|i| s.metrics.get(*i)).collect();
        let height = honest
            .iter()
            .filter_map(|i| s.statuses.get(*i).cloned().flatten())
            .map(|st| st.committed_height)
            .max()
            .unwrap_or(0);
        Snapshot {
            height,
            txs: metrics
                .iter()
                .filter_map(|m| m.get("runnet_txs_committed"))
                .fold(0.0f64, |a, &b| a.max(b)) as u64,
            batch_refusals: byz::by_label(&metrics, "runnet_batch_refusals"),
            consensus_refused: byz::by_label(&metrics, "runnet_consensus_refused"),
            fetches_refused: byz::sum(&metrics, "runnet_fetches_refused"),
            syncs_refused: byz::sum(&metrics, "runnet_syncs_refused"),
            txs_relayed: byz::sum(&metrics, "runnet_txs_relayed"),
            offences: byz::sum(&metrics, "runnet_peer_offences"),
        }
    }
}

fn rate(from: &(Duration, Snapshot), to: &(Duration, Snapshot)) -> Rate {
    let seconds = to.0.saturating_sub(from.0).as_secs_f64();
    let blocks = to.1.height.saturating_sub(from.1.height);
    let per_s = |n: u64| {
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    };
    Rate {
        seconds: (seconds * 10.0).round() / 10.0,
        blocks,
        blocks_per_s: per_s(blocks),
        txs_per_s: per_s(to.1.txs.saturating_sub(from.1.txs)),
    }
}

impl Phases {
    fn new(honest: &[usize], s: &Sample) -> Phases {
        Phases {
            started: Snapshot::of(honest, s),
            attack_started: None,
            ended: None,
            stake_before: BTreeMap::new(),
        }
    }

    fn start_attack(&mut self, honest: &[usize], s: &Sample, at: Duration) {
        self.attack_started = Some((at, Snapshot::of(honest, s)));
    }

    fn finish(&mut self, honest: &[usize], s: &Sample, at: Duration) {
        self.ended = Some((at, Snapshot::of(honest, s)));
    }

    /// The counters once the workload drained: everything but the height (the blocks count up
    /// to the end of the run).
    fn drained(&mut self, honest: &[usize], s: &Sample) {
        if let Some((_, ended)) = &mut self.ended {
            let height = ended.height;
            *ended = Snapshot {
                height,
                ..Snapshot::of(honest, s)
            };
        }
    }

    fn report(
        &mut self,
        network: &Network,
        honest: &[usize],
        end: &Sample,
        node: usize,
        modes: &[String],
    ) -> AttackReport {
        let begin = (Duration::ZERO, self.started.clone());
        let attack = self.attack_started.clone().unwrap_or_else(|| begin.clone());
        let ended = self.ended.clone().unwrap_or_else(|| attack.clone());
        let (before, during) = (rate(&begin, &attack), rate(&attack, &ended));
        let ratio = |d: f64, b: f64| {
            if b > 0.0 {
                (d / b * 100.0).round() / 100.0
            } else {
                0.0
            }
        };
        let validator = network.init.nodes.get(node).is_some_and(|n| n.validator);
        let (a, e) = (&attack.1, &ended.1);
        let sent = end
            .metrics
            .get(node)
            .map(|m| byz::by_label(&[m], "runnet_attacks"))
            .unwrap_or_default();
        let (status, stake_after) = validator_standing(network, honest, node);
        let stake_before = self.stake_before.get(&node).copied().flatten();
        AttackReport {
            node,
            validator,
            modes: modes.to_vec(),
            sent,
            refused_batches: byz::delta(&e.batch_refusals, &a.batch_refusals),
            refused_consensus: byz::delta(&e.consensus_refused, &a.consensus_refused),
            fetches_refused: e.fetches_refused.saturating_sub(a.fetches_refused),
            syncs_refused: e.syncs_refused.saturating_sub(a.syncs_refused),
            txs_relayed: e.txs_relayed.saturating_sub(a.txs_relayed),
            offences: e.offences.saturating_sub(a.offences),
            double_sign_slashes: slashes_by_reason(&end.metrics)
                .get("double_sign")
                .copied()
                .unwrap_or(0),
            status,
            stake_before,
            stake_after,
            before,
            during,
            kept_txs: ratio(during.txs_per_s, before.txs_per_s),
            kept_blocks: ratio(during.blocks_per_s, before.blocks_per_s),
        }
    }
}

/// Node `node`'s validator status and stake, as an honest node's state says.
fn validator_standing(
    network: &Network,
    honest: &[usize],
    node: usize,
) -> (Option<String>, Option<u64>) {
    let Some(init) = network.init.nodes.get(node) else {
        return (None, None);
    };
    let Some(address) = validator_address(&init.home, &init.peer_id) else {
        return (None, None);
    };
    for i in honest {
        let Some(api) = network.apis.get(*i) else {
            continue;
        };
        let path = format!("/v1/account/{address}");
        let Ok(Some(account)) = api.get_optional::<serde_json::Value>(&path) else {
            continue;
        };
        let Some(v) = account.get("validator") else {
            return (Some("none".into()), None);
        };
        let status = v.get("status").map(|s| match s {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
            other => other.to_string(),
        });
        let stake = v.get("stake").and_then(|s| {
            s.as_u64()
                .or_else(|| s.as_str().and_then(|s| s.parse().ok()))
        });
        return (status.map(|s| s.to_lowercase()), stake);
    }
    (None, None)
}

/// The address of the genesis validator with this peer id.
fn validator_address(home: &Path, peer_id: &str) -> Option<String> {
    let text = std::fs::read_to_string(home.join("genesis.json")).ok()?;
    let genesis: serde_json::Value = serde_json::from_str(&text).ok()?;
    genesis
        .get("validators")?
        .as_array()?
        .iter()
        .find(|v| v.get("peer_id").and_then(|p| p.as_str()) == Some(peer_id))?
        .get("address")?
        .as_str()
        .map(str::to_string)
}

/// The honest nodes' stored-batch bound: the store plus the overflow one block may need.
fn stored_bound(network: &Network) -> u64 {
    let overflow = network
        .init
        .nodes
        .first()
        .and_then(|n| std::fs::read_to_string(n.home.join("genesis.json")).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|g| g.get("params")?.get("max_block_bytes")?.as_u64())
        .unwrap_or(64 << 20);
    (1u64 << 30) + overflow
}

fn track_bounds(bounds: &mut Bounds, network: &Network, honest: &[usize], s: &Sample) {
    for i in honest {
        if let Some(m) = s.metrics.get(*i) {
            let get = |name: &str| m.get(name).copied().unwrap_or(0.0) as u64;
            bounds.stored_batch_bytes = bounds
                .stored_batch_bytes
                .max(get("runnet_stored_batch_bytes"));
            bounds.mempool_bytes = bounds.mempool_bytes.max(get("runnet_mempool_bytes"));
        }
        if let Some(pid) = network.nodes.get(*i).and_then(|n| n.pid()) {
            bounds.rss_bytes = bounds.rss_bytes.max(byz::rss_bytes(pid));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashes_by_reason_take_the_highest_count_of_any_node() {
        let node = |absent: f64, wrong: f64| {
            crate::api::parse_metrics(&format!(
                "# TYPE runnet_slashes_by_reason counter\n\
                 runnet_slashes_by_reason_total{{reason=\"verifier_absent\"}} {absent}\n\
                 runnet_slashes_by_reason_total{{reason=\"wrong_result\"}} {wrong}\n\
                 runnet_slashes_total 9\n"
            ))
        };
        let found = slashes_by_reason(&[node(5.0, 1.0), node(7.0, 0.0)]);
        assert_eq!(
            found,
            BTreeMap::from([("verifier_absent".into(), 7), ("wrong_result".into(), 1)])
        );
    }
    use clap::{Parser, Subcommand};

    /// The shape the node's CLI will have: a global --json and `testnet up` flattening UpArgs.
    #[derive(Parser)]
    struct Cli {
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Subcommand)]
    enum Cmd {
        Up(UpArgs),
        Load(LoadArgs),
    }

    #[test]
    fn flags_parse_beside_a_global_json_flag() {
        let cli = Cli::try_parse_from([
            "runnet",
            "up",
            "--validators",
            "5",
            "--duration",
            "60",
            "--load",
            "300",
            "--faults",
            "default",
            "--json",
        ])
        .unwrap();
        let Cmd::Up(up) = cli.command else {
            panic!("not up")
        };
        assert_eq!(up.validators, 5);
        assert_eq!(up.duration, Some(60));
        assert_eq!(up.faults.as_deref(), Some("default"));
        assert!(up.json);
        let cli = Cli::try_parse_from(["runnet", "up"]).unwrap();
        let Cmd::Up(up) = cli.command else {
            panic!("not up")
        };
        assert_eq!(up, UpArgs::default());
        assert!(Cli::try_parse_from(["runnet", "load", "--node", "http://x"]).is_ok());
    }

    #[test]
    fn bad_flags_fail_before_anything_starts() {
        let stop = AtomicBool::new(false);
        let binary = Path::new("/nonexistent/runnet");
        let cases = [
            (
                UpArgs {
                    validators: 0,
                    ..UpArgs::default()
                },
                "--validators",
            ),
            (
                UpArgs {
                    mix: "swap=1".into(),
                    ..UpArgs::default()
                },
                "unknown kind",
            ),
            (
                UpArgs {
                    faults: Some("default".into()),
                    validators: 2,
                    ..UpArgs::default()
                },
                "at least 3",
            ),
            (
                UpArgs {
                    faults: Some("/nonexistent/f".into()),
                    ..UpArgs::default()
                },
                "cannot read",
            ),
        ];
        for (args, words) in cases {
            let e = run_up(binary, &args, &stop).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
    }

    #[test]
    fn metrics_are_read_as_maxima_over_nodes() {
        let a = BTreeMap::from([("runnet_slashes".to_string(), 2.0)]);
        let b = BTreeMap::from([
            ("runnet_slashes".to_string(), 3.0),
            ("runnet_executions_completed".to_string(), 7.0),
        ]);
        let m = [a, b];
        assert_eq!(metric_max(&m, "runnet_slashes"), 3);
        assert_eq!(executions_of(&m).completed, 7);
        assert_eq!(metric_max(&m, "absent"), 0);
    }
}
