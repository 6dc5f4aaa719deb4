//! `runnet bench`: fixed-length runs at rising offered rates until committed throughput stops
//! rising, then one run at twice the saturating rate, written as results.json, results.md and
//! curve.png.
//!
//! Each rate gets a fresh network (no backlog carried from the run before) with direct links
//! (no relay: nothing between the nodes but loopback). The load comes from separate processes,
//! one per validator by default, each sending to its own validator and signing in advance; all
//! start sending together and each measures from its submit to the commit it observes.
//!
//! Execution payloads measure the market instead: every validator runs an honest runner of the
//! example arith service ([`market`]), the generators send execution requests from funded
//! accounts and follow each to its final status, and throughput is executions completed per
//! second, latency from the request to its completion.

pub mod market;

use crate::error::{TestnetError, io};
use crate::hist::{Histogram, Percentiles};
use crate::load::{ExecutionStats, LoadArgs, PayloadMode};
use crate::network::{NetOptions, Network};
use crate::up::{LoadProcess, stop_flag};
use crate::workload::{account_key, fund};
use runnet_types::keyfile::{KeyKind, load_key, save_key};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `runnet bench`.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct BenchArgs {
    /// signed: signed transfers; raw: unsigned 512-byte payloads; execution: requests of the
    /// arith service's `add`, run and verified by a runner on every validator, each followed to
    /// its final status.
    #[arg(long, value_enum, default_value_t = PayloadMode::Signed)]
    pub payload: PayloadMode,
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Folder for results.json, results.md and curve.png.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,
    /// Seconds each rate is offered.
    #[arg(long, default_value_t = 15)]
    pub run_secs: u64,
    /// Seconds after sending stops to keep watching for commits (and, for executions, for
    /// final statuses; default 10, executions 30).
    #[arg(long)]
    pub drain_secs: Option<u64>,
    /// Seconds at the start of each run left out of the measurement.
    #[arg(long, default_value_t = 3)]
    pub warmup_secs: u64,
    /// The first offered rate (default 5,000/s signed, 20,000/s raw, 5/s execution).
    #[arg(long)]
    pub start_rate: Option<u64>,
    /// Each rate is this many times the one before.
    #[arg(long, default_value_t = 2.0)]
    pub growth: f64,
    /// Throughput counts as rising when it grows by at least this fraction.
    #[arg(long, default_value_t = 0.05)]
    pub min_gain: f64,
    /// Most rising runs (the overload run comes on top).
    #[arg(long, default_value_t = 6)]
    pub max_points: usize,
    /// Load generator processes, each sending to every validator at once from a thread per
    /// validator (default 1: each extra process reads every committed block's ids again to
    /// time its commits, and the nodes serve that stream once per process).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Stop rising early when another run would end past this many seconds.
    #[arg(long, default_value_t = 480)]
    pub budget_secs: u64,
    /// Networks use ports from here.
    #[arg(long, default_value_t = 27600)]
    pub base_port: u16,
    /// A `[mempool]` setting for every node, e.g. `--mempool max_pending_txs=20000` (repeat for
    /// more; names as in config.toml, docs/operator.md). Without `max_batch_delay_ms`, nodes of
    /// a signed run seal batches after at most 200 ms (the node's default is 50).
    #[arg(long = "mempool", value_name = "NAME=VALUE", value_parser = parse_setting)]
    pub mempool: Vec<(String, i64)>,
    /// Keep each run's network (homes, node logs, RocksDB's own LOG files) in DIR/run-N,
    /// N counting runs from 1, to look into a run after the fact. DIR must not hold runs yet.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Program run as `PROGRAM testnet load ...` (default: the runnet binary).
    #[arg(long, hide = true)]
    pub load_binary: Option<PathBuf>,
}

impl Default for BenchArgs {
    fn default() -> Self {
        BenchArgs {
            payload: PayloadMode::Signed,
            validators: 4,
            out: "bench-results".into(),
            run_secs: 15,
            drain_secs: None,
            warmup_secs: 3,
            start_rate: None,
            growth: 2.0,
            min_gain: 0.05,
            max_points: 6,
            clients: None,
            budget_secs: 480,
            base_port: 27600,
            mempool: Vec::new(),
            keep: None,
            load_binary: None,
        }
    }
}

/// The first offered rate of execution runs: each execution is a request, a runner's commit,
/// three verifiers' commits and four reveals over several blocks, so the market settles a few
/// to tens a second where transfers commit in thousands.
pub const EXECUTION_START_RATE: u64 = 5;
/// Seconds of drain after sending stops: an execution requested at the end of the window
/// still needs its commit and reveal windows to settle.
pub const EXECUTION_DRAIN_SECS: u64 = 30;

/// `completed 12, expired 1`.
fn statuses_text(statuses: &BTreeMap<String, u64>) -> String {
    if statuses.is_empty() {
        return "none".into();
    }
    statuses
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The batch delay the benchmark's nodes use for signed payloads unless `--mempool` sets one:
/// larger batches verify and travel more cheaply (measured: peak 18,432/s at the node's default
/// of 50 ms, 20,920/s at 200 ms, p50 under 1 s both), at the cost of up to 150 ms more latency at
/// low load. Raw batches fill by bytes within milliseconds at these rates, so raw runs keep 50.
pub const BENCH_BATCH_DELAY_MS: i64 = 200;

/// `--mempool` settings, with the benchmark's batch delay (signed payloads) unless they set it.
fn bench_mempool(settings: &[(String, i64)], payload: PayloadMode) -> Vec<(String, i64)> {
    let mut out = settings.to_vec();
    if payload == PayloadMode::Signed && !out.iter().any(|(name, _)| name == "max_batch_delay_ms") {
        out.push(("max_batch_delay_ms".into(), BENCH_BATCH_DELAY_MS));
    }
    out
}

/// `NAME=VALUE` with a whole-number value.
fn parse_setting(text: &str) -> Result<(String, i64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(format!("'{name}' is not a setting name"));
    }
    let value = value
        .trim()
        .parse::<i64>()
        .map_err(|e| format!("{name}: '{}' is not a whole number: {e}", value.trim()))?;
    Ok((name.to_string(), value))
}

/// One run at one offered rate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchPoint {
    /// Offered, per second.
    pub input_rate: u64,
    /// What the generators managed to send, per second.
    pub sent_rate: f64,
    /// Committed (own transactions seen committed in the window), per second.
    pub tps: f64,
    pub latency_ms: Percentiles,
    pub admitted: u64,
    pub refused: u64,
    /// Admitted, never seen committed before the drain ended.
    pub pending_at_end: u64,
    /// Signed: transactions the senders' nonces say were executed.
    pub executed: Option<u64>,
    /// Seconds the whole run took (setup, signing, sending, drain).
    pub wall_s: f64,
    /// Execution payloads: `tps` is then executions completed per second and `latency_ms` from
    /// the request to its completion; this holds the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionPoint>,
}

/// What became of one run's execution requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionPoint {
    /// Executions seen final inside the window, any final status, per second.
    pub settled_rate: f64,
    /// Executions seen `completed` (verified: not `completed_unverified`) inside the window,
    /// per second.
    #[serde(default)]
    pub verified_rate: f64,
    /// The requests' own commits (the transaction in a block), from submit.
    pub request_latency_ms: Percentiles,
    /// Every own execution seen final (during the window or the drain), by final status:
    /// `completed`, `completed_unverified`, `rejected`, `expired`, `cancelled`.
    pub statuses: BTreeMap<String, u64>,
    /// The same, of those seen final inside the window.
    pub statuses_in_window: BTreeMap<String, u64>,
    /// Requests committed but not final when the drain ended.
    pub unsettled_at_end: u64,
    /// `GET /v1/execution/{id}` polls the generators made.
    pub polls: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchResults {
    pub payload: String,
    pub validators: u64,
    pub points: Vec<BenchPoint>,
    /// Where throughput stopped rising: the lowest offered rate whose throughput is within
    /// `min_gain` of the peak.
    pub saturating_rate: u64,
    pub peak_tps: f64,
    /// Throughput at twice the saturating rate over the peak.
    pub overload_ratio: f64,
    /// False when the budget or `--max-points` ended the search while throughput still rose.
    pub saturated: bool,
    pub run_secs: u64,
    pub warmup_secs: u64,
    pub clients: u64,
    /// /proc/loadavg (1 minute) at the start and the end.
    pub load_average: (f64, f64),
    pub binary: String,
}

/// The rate search: rising rates until throughput stops rising (or `out_of_time`), then one
/// run at twice the saturating rate. Returns the points and the saturating rate.
pub fn search(
    start: u64,
    growth: f64,
    min_gain: f64,
    max_points: usize,
    mut measure: impl FnMut(u64) -> Result<BenchPoint, TestnetError>,
    mut out_of_time: impl FnMut() -> bool,
) -> Result<(Vec<BenchPoint>, u64, bool), TestnetError> {
    let mut points = Vec::new();
    let mut best: Option<(u64, f64)> = None;
    let mut rate = start.max(1);
    let mut saturated = false;
    for _ in 0..max_points.max(1) {
        let p = measure(rate)?;
        let rising = best.is_none_or(|(_, tps)| p.tps >= tps * (1.0 + min_gain));
        if best.is_none_or(|(_, tps)| p.tps > tps) {
            best = Some((rate, p.tps));
        }
        points.push(p);
        if !rising {
            saturated = true;
            break;
        }
        if out_of_time() {
            break;
        }
        let next = ((rate as f64) * growth.max(1.01)).ceil() as u64;
        rate = next.max(rate + 1);
    }
    // Where throughput stopped rising: the lowest offered rate within `min_gain` of the peak.
    // (A run past it that happens to commit a little more is the same plateau; doubling its
    // rate would test four times the capacity, not twice.)
    let peak = best.map_or(0.0, |(_, tps)| tps);
    let saturating = points
        .iter()
        .filter(|p| p.tps >= peak * (1.0 - min_gain))
        .map(|p| p.input_rate)
        .min()
        .unwrap_or(rate);
    points.push(measure(saturating.saturating_mul(2))?);
    Ok((points, saturating, saturated))
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Runs the benchmark and writes its files. Blocking; call it outside any async runtime.
pub fn bench(binary: &Path, args: &BenchArgs) -> Result<BenchResults, TestnetError> {
    if args.validators == 0 || args.validators > 50 {
        return Err(TestnetError::Usage("--validators must be 1..=50".into()));
    }
    if args.warmup_secs >= args.run_secs {
        return Err(TestnetError::Usage(
            "--warmup-secs must be shorter than --run-secs".into(),
        ));
    }
    if !(1.01..=100.0).contains(&args.growth) {
        return Err(TestnetError::Usage("--growth must be 1.01..=100".into()));
    }
    let clients = args.clients.unwrap_or(1).clamp(1, 64);
    std::fs::create_dir_all(&args.out).map_err(io(format!("create {}", args.out.display())))?;
    let stop = stop_flag()?;
    let started = Instant::now();
    let load_start = load_average();
    if args.drain_secs.is_some_and(|d| d > 600) {
        return Err(TestnetError::Usage(
            "--drain-secs must be at most 600".into(),
        ));
    }
    let start_rate = args.start_rate.unwrap_or(match args.payload {
        PayloadMode::Signed => 5_000,
        PayloadMode::Raw => 20_000,
        PayloadMode::Execution => EXECUTION_START_RATE,
    });
    if start_rate == 0 {
        return Err(TestnetError::Usage(
            "--start-rate must be at least 1".into(),
        ));
    }
    let mut index = 0usize;
    let last_wall = std::cell::Cell::new(0.0f64);
    let budget = args.budget_secs as f64;
    let (points, saturating, saturated) = search(
        start_rate,
        args.growth,
        args.min_gain,
        args.max_points,
        |rate| {
            if stop.load(Ordering::SeqCst) {
                return Err(TestnetError::Usage("interrupted".into()));
            }
            let p = measure(binary, args, clients, rate, index, &stop)?;
            index += 1;
            last_wall.set(p.wall_s);
            match &p.execution {
                Some(e) => eprintln!(
                    "bench: offered {rate}/s: sent {:.1}/s, settled {:.1}/s, completed {:.1}/s ({:.1}/s verified), request to completion p50 {:.0} ms p99 {:.0} ms, final statuses {}, {} unsettled, {} refused (run took {:.0} s)",
                    p.sent_rate,
                    e.settled_rate,
                    p.tps,
                    e.verified_rate,
                    p.latency_ms.p50,
                    p.latency_ms.p99,
                    statuses_text(&e.statuses),
                    e.unsettled_at_end,
                    p.refused,
                    p.wall_s
                ),
                None => eprintln!(
                    "bench: offered {rate}/s: sent {:.0}/s, committed {:.0}/s, latency p50 {:.0} ms p99 {:.0} ms ({} refused, {} left pending; run took {:.0} s)",
                    p.sent_rate,
                    p.tps,
                    p.latency_ms.p50,
                    p.latency_ms.p99,
                    p.refused,
                    p.pending_at_end,
                    p.wall_s
                ),
            }
            Ok(p)
        },
        // Another rising run and the overload run (which sends twice as much) must fit.
        || started.elapsed().as_secs_f64() + last_wall.get() * 2.5 > budget,
    )?;
    let peak_tps = points
        .iter()
        .take(points.len().saturating_sub(1))
        .map(|p| p.tps)
        .fold(0.0, f64::max);
    let overload_ratio = points.last().map_or(0.0, |p| {
        if peak_tps > 0.0 {
            p.tps / peak_tps
        } else {
            0.0
        }
    });
    let results = BenchResults {
        payload: args.payload.to_string(),
        validators: args.validators as u64,
        points,
        saturating_rate: saturating,
        peak_tps,
        overload_ratio,
        saturated,
        run_secs: args.run_secs,
        warmup_secs: args.warmup_secs,
        clients: clients as u64,
        load_average: (load_start, load_average()),
        binary: binary.display().to_string(),
    };
    write_results(&args.out, &results)?;
    let (peak, done) = if args.payload == PayloadMode::Execution {
        (format!("{:.1}", results.peak_tps), "completed")
    } else {
        (format!("{:.0}", results.peak_tps), "committed")
    };
    eprintln!(
        "bench: peak {peak}/s {done}; throughput stopped rising at {}/s offered; at twice that, {:.0}% of the peak; {:.0} s in all; results in {}",
        results.saturating_rate,
        results.overload_ratio * 100.0,
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    println!("{}", args.out.join("results.json").display());
    Ok(results)
}

/// One run: a fresh network, funded senders, the generators started together.
fn measure(
    binary: &Path,
    args: &BenchArgs,
    clients: usize,
    rate: u64,
    index: usize,
    stop: &AtomicBool,
) -> Result<BenchPoint, TestnetError> {
    let began = Instant::now();
    let execution = args.payload == PayloadMode::Execution;
    let drain = args
        .drain_secs
        .unwrap_or(if execution { EXECUTION_DRAIN_SECS } else { 10 });
    let span = 2 * args.validators as u32 + 2;
    let base = u32::from(args.base_port) + (index as u32 % 16) * span;
    let base_port = u16::try_from(base)
        .map_err(|_| TestnetError::Usage("--base-port is too high for the runs' ports".into()))?;
    let mut network = Network::launch(
        binary,
        &NetOptions {
            validators: args.validators,
            base_port,
            keep: args
                .keep
                .as_ref()
                .map(|dir| dir.join(format!("run-{}", index + 1))),
            relay: false,
            allow_raw: args.payload == PayloadMode::Raw,
            chain_id: "runnet-bench".into(),
            mempool: bench_mempool(&args.mempool, args.payload),
            // The windows `testnet up` gives a network with runners.
            genesis_params: if execution {
                crate::economy::genesis_params(Duration::ZERO)
            } else {
                Vec::new()
            },
            full_nodes: 0,
            byzantine: Default::default(),
        },
    )?;
    network.wait_ready(Duration::from_secs(120))?;
    let service = if execution {
        Some(market::start_runners(binary, &mut network)?)
    } else {
        None
    };
    let validators: Vec<String> = network
        .init
        .nodes
        .iter()
        .filter(|n| n.validator)
        .map(|n| n.api.clone())
        .collect();
    let rates: Vec<u64> = (0..clients as u64)
        .map(|k| rate / clients as u64 + u64::from(k < rate % clients as u64))
        .collect();

    // One funder per generator, funded from the faucet, so the generators fund their senders
    // in parallel without sharing a nonce sequence.
    let mut funders = Vec::new();
    if args.payload != PayloadMode::Raw {
        let faucet = load_key(&network.init.faucet_key, KeyKind::Account)
            .map_err(|e| TestnetError::Binary(e.to_string()))?;
        let chain_id = network.init.chain_id.clone();
        let api = network
            .apis
            .first()
            .ok_or_else(|| TestnetError::Node("no node".into()))?;
        let mut addresses = Vec::new();
        for (k, client_rate) in rates.iter().enumerate() {
            let key = account_key(u64::MAX - k as u64, index as u64);
            let path = network.dir.join(format!("funder{k}.key"));
            save_key(&path, KeyKind::Account, &key)
                .map_err(|e| TestnetError::Binary(e.to_string()))?;
            let senders = (client_rate / 10).max(16);
            addresses.push((key.public().address(), senders));
            funders.push(path);
        }
        let amount = addresses.iter().map(|(_, n)| *n).max().unwrap_or(16) * 1_100_000_000;
        let to: Vec<_> = addresses.iter().map(|(a, _)| *a).collect();
        fund(
            api,
            &chain_id,
            &faucet,
            &to,
            amount,
            Duration::from_secs(120),
        )
        .map_err(TestnetError::Load)?;
    }
    let program = args
        .load_binary
        .clone()
        .unwrap_or_else(|| binary.to_path_buf());
    let mut generators = Vec::new();
    for (k, client_rate) in rates.iter().enumerate() {
        if validators.is_empty() {
            return Err(TestnetError::Node("no validator".into()));
        }
        // Every generator sends to all validators, generator k watching commits at validator k.
        let mut nodes = validators.clone();
        nodes.rotate_left(k % validators.len());
        let load_args = LoadArgs {
            nodes,
            payload: args.payload,
            rate: (*client_rate).max(1),
            duration: args.run_secs,
            warmup: args.warmup_secs,
            drain,
            seed: k as u64,
            fund_from: funders.get(k).cloned(),
            wait_go: true,
            service: service.clone(),
            task: if execution {
                market::TASK.into()
            } else {
                String::new()
            },
            inputs: if execution {
                crate::economy::add_inputs_hex(market::INPUTS.0, market::INPUTS.1)?
            } else {
                String::new()
            },
            max_fee: crate::economy::MAX_FEE,
            ..LoadArgs::default()
        };
        let log = network.dir.join(format!("load{k}.log"));
        generators.push((LoadProcess::spawn(&program, &load_args, &log)?, log));
    }
    for (g, log) in &mut generators {
        if !g.wait_ready(Duration::from_secs(600), stop) {
            return Err(TestnetError::Load(format!(
                "a generator did not get ready; the end of {}:\n{}",
                log.display(),
                crate::network::log_tail(log, 15)
            )));
        }
    }
    for (g, _) in &mut generators {
        g.go();
    }
    let wait = Duration::from_secs(args.run_secs + drain + 60);
    let mut reports = Vec::new();
    for (g, log) in &mut generators {
        match g.wait_report(wait) {
            Some(r) => reports.push(r),
            None => {
                return Err(TestnetError::Load(format!(
                    "a generator sent no report; the end of {}:\n{}",
                    log.display(),
                    crate::network::log_tail(log, 15)
                )));
            }
        }
    }
    network.stop(Duration::from_secs(5));
    let histogram = Histogram::merged(reports.iter().map(|r| &r.histogram));
    let stats: Vec<&ExecutionStats> = reports
        .iter()
        .filter_map(|r| r.execution.as_deref())
        .collect();
    let execution_point = execution.then(|| ExecutionPoint {
        settled_rate: stats.iter().map(|e| e.settled_rate).sum(),
        verified_rate: stats.iter().map(|e| e.verified_rate).sum(),
        request_latency_ms: histogram.percentiles(),
        statuses: sum_maps(stats.iter().map(|e| &e.statuses)),
        statuses_in_window: sum_maps(stats.iter().map(|e| &e.statuses_in_window)),
        unsettled_at_end: stats.iter().map(|e| e.unsettled_at_end).sum(),
        polls: stats.iter().map(|e| e.polls).sum(),
    });
    let (tps, latency_ms) = if execution {
        let settle = Histogram::merged(stats.iter().map(|e| &e.histogram));
        (
            stats.iter().map(|e| e.completed_rate).sum(),
            settle.percentiles(),
        )
    } else {
        (reports.iter().map(|r| r.tps).sum(), histogram.percentiles())
    };
    let refused: BTreeMap<String, u64> =
        reports
            .iter()
            .flat_map(|r| r.refused.clone())
            .fold(BTreeMap::new(), |mut m, (k, v)| {
                *m.entry(k).or_default() += v;
                m
            });
    Ok(BenchPoint {
        input_rate: rate,
        sent_rate: reports.iter().map(|r| r.sent_rate).sum(),
        tps,
        latency_ms,
        admitted: reports.iter().map(|r| r.admitted).sum(),
        refused: refused.values().sum(),
        pending_at_end: reports.iter().map(|r| r.pending_at_end).sum(),
        executed: reports.iter().map(|r| r.executed).sum(),
        wall_s: began.elapsed().as_secs_f64(),
        execution: execution_point,
    })
}

fn sum_maps<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    maps.fold(BTreeMap::new(), |mut m, each| {
        for (k, v) in each {
            *m.entry(k.clone()).or_default() += v;
        }
        m
    })
}

/// results.json, results.md and curve.png in `dir`.
pub fn write_results(dir: &Path, results: &BenchResults) -> Result<(), TestnetError> {
    std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    let json = serde_json::to_string_pretty(results)
        .map_err(|e| TestnetError::Usage(format!("results: {e}")))?;
    let path = dir.join("results.json");
    std::fs::write(&path, json + "\n").map_err(io(format!("write {}", path.display())))?;
    let path = dir.join("results.md");
    std::fs::write(&path, markdown(results)).map_err(io(format!("write {}", path.display())))?;
    let path = dir.join("curve.png");
    crate::plot::draw(results, &path)
        .map_err(|e| TestnetError::Usage(format!("{}: {e}", path.display())))
}

pub fn markdown(r: &BenchResults) -> String {
    if r.points.iter().any(|p| p.execution.is_some()) {
        return execution_markdown(r);
    }
    let mut out = format!(
        "# runnet bench: {} payloads, {} validators\n\n\
         Each run: a fresh network, load generator processes: {}, {} s offered ({} s warm-up not measured). \
         Load average {:.1} at the start, {:.1} at the end. Binary: `{}`.\n\n\
         | offered /s | sent /s | committed /s | p50 ms | p99 ms | refused | pending at end |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        r.payload,
        r.validators,
        r.clients,
        r.run_secs,
        r.warmup_secs,
        r.load_average.0,
        r.load_average.1,
        r.binary
    );
    for p in &r.points {
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} |\n",
            p.input_rate,
            p.sent_rate,
            p.tps,
            p.latency_ms.p50,
            p.latency_ms.p99,
            p.refused,
            p.pending_at_end
        ));
    }
    out.push_str(&format!(
        "\nPeak: **{:.0}/s** committed. Throughput stopped rising at {}/s offered{}; at twice that \
         rate: {:.0}% of the peak.\n",
        r.peak_tps,
        r.saturating_rate,
        if r.saturated {
            ""
        } else {
            " (still rising when the search ended)"
        },
        r.overload_ratio * 100.0
    ));
    out
}

/// The table of an execution run: settled and completed per second, request to completion,
/// and what became of every request.
fn execution_markdown(r: &BenchResults) -> String {
    let mut out = format!(
        "# runnet bench: execution payloads, {} validators\n\n\
         Each run: a fresh network, an honest arith runner on every validator, load generator \
         processes: {}, {} s offered ({} s warm-up not measured), every request followed to its \
         final status. Load average {:.1} at the start, {:.1} at the end. Binary: `{}`.\n\n\
         | offered /s | sent /s | settled /s | completed /s | verified /s | p50 ms | p99 ms | request committed p50 ms | final statuses | unsettled at end | refused |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n",
        r.validators,
        r.clients,
        r.run_secs,
        r.warmup_secs,
        r.load_average.0,
        r.load_average.1,
        r.binary
    );
    for p in &r.points {
        let e = p.execution.clone().unwrap_or_default();
        out.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {} | {} | {} |\n",
            p.input_rate,
            p.sent_rate,
            e.settled_rate,
            p.tps,
            e.verified_rate,
            p.latency_ms.p50,
            p.latency_ms.p99,
            e.request_latency_ms.p50,
            statuses_text(&e.statuses),
            e.unsettled_at_end,
            p.refused
        ));
    }
    out.push_str(&format!(
        "\nSettled: seen final (any status) inside the window; completed: `completed` or \
         `completed_unverified`; verified: `completed` only; p50 and p99 from the request leaving the client to the first \
         poll showing it completed. Final statuses count every request of the run, the drain \
         included.\n\nPeak: **{:.1}/s** completed. Throughput stopped rising at {}/s offered{}; \
         at twice that rate: {:.0}% of the peak.\n",
        r.peak_tps,
        r.saturating_rate,
        if r.saturated {
            ""
        } else {
            " (still rising when the search ended)"
        },
        r.overload_ratio * 100.0
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(rate: u64, tps: f64) -> BenchPoint {
        BenchPoint {
            input_rate: rate,
            sent_rate: rate as f64,
            tps,
            latency_ms: Percentiles {
                p50: 100.0 + tps / 100.0,
                p99: 300.0 + tps / 50.0,
            },
            ..BenchPoint::default()
        }
    }

    /// A system that commits what it is offered up to 30,000/s, then sheds.
    fn fake(rate: u64) -> Result<BenchPoint, TestnetError> {
        Ok(point(rate, (rate as f64).min(30_000.0)))
    }

    #[test]
    fn the_search_rises_until_throughput_stops_then_doubles() {
        let (points, saturating, saturated) = search(5_000, 2.0, 0.05, 10, fake, || false).unwrap();
        let rates: Vec<u64> = points.iter().map(|p| p.input_rate).collect();
        assert_eq!(rates, [5_000, 10_000, 20_000, 40_000, 80_000, 80_000]);
        assert_eq!(saturating, 40_000);
        assert!(saturated);
        // A dip after the peak also ends the search; the peak's rate is the saturating one.
        let dipping = |rate: u64| {
            Ok(point(
                rate,
                if rate > 20_000 { 15_000.0 } else { rate as f64 },
            ))
        };
        let (points, saturating, _) = search(10_000, 2.0, 0.05, 10, dipping, || false).unwrap();
        assert_eq!(saturating, 20_000);
        assert_eq!(points.last().unwrap().input_rate, 40_000);
        // A plateau: the run past the knee commits 1.6 % more; the knee is the saturating rate.
        let plateau = |rate: u64| {
            Ok(point(
                rate,
                match rate {
                    ..=10_000 => rate as f64,
                    20_000 => 17_547.0,
                    _ => 17_821.0,
                },
            ))
        };
        let (points, saturating, _) = search(5_000, 2.0, 0.05, 10, plateau, || false).unwrap();
        let rates: Vec<u64> = points.iter().map(|p| p.input_rate).collect();
        assert_eq!(rates, [5_000, 10_000, 20_000, 40_000, 40_000]);
        assert_eq!(saturating, 20_000);
    }

    #[test]
    fn the_search_respects_the_point_limit_and_the_clock() {
        let (points, saturating, saturated) = search(1_000, 2.0, 0.05, 3, fake, || false).unwrap();
        assert_eq!(points.len(), 4);
        assert_eq!(saturating, 4_000);
        assert!(!saturated);
        let mut calls = 0;
        let (points, _, saturated) = search(1_000, 2.0, 0.05, 10, fake, || {
            calls += 1;
            calls >= 2
        })
        .unwrap();
        assert_eq!(points.len(), 3);
        assert!(!saturated);
        let failing = |_| Err(TestnetError::Node("down".into()));
        assert!(search(1_000, 2.0, 0.05, 3, failing, || false).is_err());
    }

    #[test]
    fn results_files_are_written_and_the_plot_renders() {
        let dir = tempfile::tempdir().unwrap();
        let (points, saturating, saturated) = search(5_000, 2.0, 0.05, 10, fake, || false).unwrap();
        let results = BenchResults {
            payload: "signed".into(),
            validators: 4,
            points,
            saturating_rate: saturating,
            peak_tps: 30_000.0,
            overload_ratio: 1.0,
            saturated,
            run_secs: 15,
            warmup_secs: 3,
            clients: 4,
            load_average: (1.0, 2.0),
            binary: "runnet".into(),
        };
        write_results(dir.path(), &results).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap())
                .unwrap();
        assert_eq!(json["payload"], "signed");
        assert_eq!(json["validators"], 4);
        let first = &json["points"][0];
        for key in ["input_rate", "sent_rate", "tps"] {
            assert!(first[key].is_number(), "{key}");
        }
        assert!(first["latency_ms"]["p50"].is_number() && first["latency_ms"]["p99"].is_number());
        let back: BenchResults =
            serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap())
                .unwrap();
        assert_eq!(back, results);
        let md = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
        assert!(md.contains("| 40000 |") && md.contains("Peak: **30000/s**"));
        let png = std::fs::read(dir.path().join("curve.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(
            png.len() > 10_000,
            "a plot with text and curves, not a blank image"
        );
    }

    #[test]
    fn execution_results_have_their_own_table() {
        let dir = tempfile::tempdir().unwrap();
        let statuses = BTreeMap::from([("completed".to_string(), 70), ("expired".to_string(), 3)]);
        let exec_point = BenchPoint {
            execution: Some(ExecutionPoint {
                settled_rate: 4.9,
                verified_rate: 4.5,
                statuses: statuses.clone(),
                statuses_in_window: statuses,
                unsettled_at_end: 1,
                ..ExecutionPoint::default()
            }),
            ..point(5, 4.7)
        };
        let results = BenchResults {
            payload: "execution".into(),
            validators: 4,
            points: vec![
                exec_point.clone(),
                BenchPoint {
                    input_rate: 10,
                    ..exec_point
                },
            ],
            saturating_rate: 5,
            peak_tps: 4.7,
            overload_ratio: 1.0,
            saturated: true,
            run_secs: 15,
            warmup_secs: 3,
            clients: 1,
            load_average: (1.0, 2.0),
            binary: "runnet".into(),
        };
        write_results(dir.path(), &results).unwrap();
        let md = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
        assert!(md.contains("execution payloads"), "{md}");
        assert!(md.contains("| 5 | 5.0 | 4.9 | 4.7 | 4.5 |"), "{md}");
        assert!(md.contains("completed 70, expired 3"), "{md}");
        assert!(md.contains("Peak: **4.7/s** completed"), "{md}");
        let back: BenchResults =
            serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap())
                .unwrap();
        assert_eq!(back, results);
        assert_eq!(statuses_text(&BTreeMap::new()), "none");
        // Transfer results carry no execution field at all.
        let json = serde_json::to_value(point(1, 1.0)).unwrap();
        assert!(json.get("execution").is_none());
    }

    #[test]
    fn the_bench_batch_delay_applies_unless_set() {
        let delay = |settings: &[(String, i64)]| {
            bench_mempool(settings, PayloadMode::Signed)
                .into_iter()
                .filter(|(n, _)| n == "max_batch_delay_ms")
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        };
        assert_eq!(delay(&[]), [BENCH_BATCH_DELAY_MS]);
        assert_eq!(delay(&[("max_batch_delay_ms".into(), 50)]), [50]);
        let other = [("max_pending_txs".to_string(), 9)];
        assert_eq!(bench_mempool(&other, PayloadMode::Signed).len(), 2);
        assert_eq!(bench_mempool(&other, PayloadMode::Raw), other);
    }

    #[test]
    fn mempool_settings_parse_or_say_why() {
        assert_eq!(
            parse_setting("max_pending_txs=20000"),
            Ok(("max_pending_txs".into(), 20_000))
        );
        assert!(
            parse_setting("max_pending_txs")
                .unwrap_err()
                .contains("NAME=VALUE")
        );
        assert!(parse_setting("Max=1").unwrap_err().contains("setting name"));
        assert!(
            parse_setting("x=lots")
                .unwrap_err()
                .contains("whole number")
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        let binary = Path::new("/nonexistent");
        for (args, words) in [
            (
                BenchArgs {
                    validators: 0,
                    ..BenchArgs::default()
                },
                "--validators",
            ),
            (
                BenchArgs {
                    warmup_secs: 20,
                    ..BenchArgs::default()
                },
                "--warmup-secs",
            ),
            (
                BenchArgs {
                    growth: 1.0,
                    ..BenchArgs::default()
                },
                "--growth",
            ),
            (
                BenchArgs {
                    start_rate: Some(0),
                    ..BenchArgs::default()
                },
                "--start-rate",
            ),
            (
                BenchArgs {
                    payload: PayloadMode::Execution,
                    drain_secs: Some(601),
                    ..BenchArgs::default()
                },
                "--drain-secs",
            ),
        ] {
            let e = bench(binary, &args).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
    }
}
