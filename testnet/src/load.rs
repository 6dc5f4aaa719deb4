//! The load generator (`runnet testnet load`): a separate process that sends at a fixed rate
//! and reports what committed and how long it took.
//!
//! Signed transactions are signed before sending starts (when the run has an end), so the
//! measured window pays only for HTTP and the network. Requests go through `POST /v1/txs` (or
//! `/v1/raw`) in small ticks; commits are watched through `GET /v1/block/{h}/ids`, so latency
//! runs from the moment a request left to the first status poll that shows its block committed
//! (polls every `--poll-ms`). stdout carries JSON lines only: progress lines when asked and,
//! last, the report.

use crate::api::{Api, ApiError, frames};
use crate::hist::{Histogram, Percentiles, Recorder};
use crate::workload::{Kind, Mix, Prepared, ServiceTarget, account_key, build, fund};
use runnet_types::batch::{MIN_RAW_PAYLOAD_BYTES, raw_payload_id};
use runnet_types::keyfile::{KeyKind, load_key};
use runnet_types::{Address, Hash, SecretKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most frames in one request (the API's limit).
pub const MAX_PER_REQUEST: usize = 20_000;
/// Most transactions signed in advance by one process.
const MAX_PRESIGNED: u64 = 20_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadMode {
    /// Signed transactions through `POST /v1/txs`.
    Signed,
    /// Unsigned payloads through `POST /v1/raw` (benchmark networks only).
    Raw,
    /// Signed execution requests of `--service` through `POST /v1/txs`, each followed to its
    /// final status (`GET /v1/execution/{id}`): the market's throughput.
    Execution,
}

impl std::fmt::Display for PayloadMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PayloadMode::Signed => "signed",
            PayloadMode::Raw => "raw",
            PayloadMode::Execution => "execution",
        })
    }
}

/// `runnet testnet load`.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct LoadArgs {
    /// A node's API URL; repeat it to spread requests over several nodes (those that do not
    /// answer are skipped for a second).
    #[arg(long = "node", required = true)]
    pub nodes: Vec<String>,
    /// signed: signed transactions; raw: unsigned payloads (the node must allow them).
    #[arg(long, value_enum, default_value_t = PayloadMode::Signed)]
    pub payload: PayloadMode,
    /// Offered rate: transactions (or payloads) per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Seconds of sending; 0 sends until SIGTERM or SIGINT (then signing happens as it goes).
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Seconds at the start left out of the measurement.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Seconds to keep watching for commits after sending stops.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
    /// Sender accounts are derived from this seed: use a new one for each run on one chain.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sender accounts (signed payloads); default a tenth of the rate, at least 16.
    #[arg(long)]
    pub accounts: Option<u64>,
    /// A funded account key file: fund the senders from it before sending. Without it the
    /// senders must already hold coins.
    #[arg(long)]
    pub fund_from: Option<PathBuf>,
    /// Coins each sender gets when funded.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub fund_amount: u64,
    /// Shares of transaction kinds: transfer, execution, event.
    #[arg(long, default_value = "transfer=100")]
    pub mix: String,
    /// The service (hex id) that execution requests and events name.
    #[arg(long)]
    pub service: Option<String>,
    /// Task of execution requests.
    #[arg(long, default_value = "")]
    pub task: String,
    /// Inputs of execution requests: record bytes in hex.
    #[arg(long, default_value = "")]
    pub inputs: String,
    /// Fee escrowed by each execution request.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_fee: u64,
    /// Event name of event transactions.
    #[arg(long, default_value = "")]
    pub event: String,
    /// Event data: record bytes in hex.
    #[arg(long, default_value = "")]
    pub event_data: String,
    /// Size of each raw payload (at least 32 bytes: the first 32 are its id).
    #[arg(long, default_value_t = 512)]
    pub raw_size: usize,
    /// Milliseconds between requests at most (sooner when a transaction is due before).
    #[arg(long, default_value_t = 20)]
    pub tick_ms: u64,
    /// One request per tick carrying what is due, as a gateway batching its clients'
    /// transactions does, instead of a request as soon as one transaction is due
    /// (docs/benchmarks.md, "CPU at a load").
    #[arg(long)]
    pub steady: bool,
    /// Milliseconds between polls for new commits.
    #[arg(long, default_value_t = 25)]
    pub poll_ms: u64,
    /// Print a JSON progress line every second.
    #[arg(long)]
    pub progress: bool,
    /// After preparing, print a `ready` line and wait for a line on stdin before sending (so a
    /// launcher can start several generators together).
    #[arg(long)]
    pub wait_go: bool,
}

impl Default for LoadArgs {
    fn default() -> Self {
        LoadArgs {
            nodes: Vec::new(),
            payload: PayloadMode::Signed,
            rate: 1000,
            duration: 30,
            warmup: 0,
            drain: 10,
            seed: 0,
            accounts: None,
            fund_from: None,
            fund_amount: 1_000_000_000,
            mix: "transfer=100".into(),
            service: None,
            task: String::new(),
            inputs: String::new(),
            max_fee: 1_000_000,
            event: String::new(),
            event_data: String::new(),
            raw_size: 512,
            tick_ms: 20,
            steady: false,
            poll_ms: 25,
            progress: false,
            wait_go: false,
        }
    }
}

impl LoadArgs {
    /// The command line that gives these arguments back (after `runnet testnet load`).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        let mut push = |k: &str, v: String| {
            a.push(format!("--{k}"));
            a.push(v);
        };
        for n in &self.nodes {
            push("node", n.clone());
        }
        push("payload", self.payload.to_string());
        push("rate", self.rate.to_string());
        push("duration", self.duration.to_string());
        push("warmup", self.warmup.to_string());
        push("drain", self.drain.to_string());
        push("seed", self.seed.to_string());
        if let Some(n) = self.accounts {
            push("accounts", n.to_string());
        }
        if let Some(p) = &self.fund_from {
            push("fund-from", p.display().to_string());
        }
        push("fund-amount", self.fund_amount.to_string());
        push("mix", self.mix.clone());
        if let Some(s) = &self.service {
            push("service", s.clone());
        }
        push("task", self.task.clone());
        push("inputs", self.inputs.clone());
        push("max-fee", self.max_fee.to_string());
        push("event", self.event.clone());
        push("event-data", self.event_data.clone());
        push("raw-size", self.raw_size.to_string());
        push("tick-ms", self.tick_ms.to_string());
        push("poll-ms", self.poll_ms.to_string());
        if self.steady {
            a.push("--steady".into());
        }
        if self.progress {
            a.push("--progress".into());
        }
        if self.wait_go {
            a.push("--wait-go".into());
        }
        a
    }

    fn account_count(&self) -> u64 {
        self.accounts
            .unwrap_or((self.rate / 10).max(16))
            .clamp(1, MAX_PER_REQUEST as u64)
    }
}

/// One JSON line of the load's stdout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LoadLine {
    Ready,
    Progress(Progress),
    Report(LoadReport),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Seconds since sending started.
    pub t: f64,
    pub sent: u64,
    pub admitted: u64,
    pub committed: u64,
    /// Committed in the last second.
    pub tps: f64,
    /// Of the commits seen in the last second.
    pub latency_ms: Percentiles,
    pub height: u64,
}

/// What a load process measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub payload: String,
    /// Offered rate.
    pub input_rate: u64,
    /// Length of the measured window (the run less the warm-up).
    pub window_s: f64,
    /// Frames posted in the window (refused ones sent again count again).
    pub sent: u64,
    pub sent_rate: f64,
    pub admitted: u64,
    pub refused: BTreeMap<String, u64>,
    /// Requests that failed (node unreachable, an error answer).
    pub errors: u64,
    /// Own transactions whose commit was observed inside the window.
    pub committed: u64,
    pub tps: f64,
    /// Own transactions observed committed at any time.
    pub committed_total: u64,
    /// Of transactions submitted in the window and seen committed before the drain ended.
    pub latency_ms: Percentiles,
    pub histogram: Histogram,
    /// Admitted but not seen committed when the drain ended.
    pub pending_at_end: u64,
    /// Signed: the senders' nonces moved by this much (transactions executed).
    pub executed: Option<u64>,
    pub accounts: u64,
    pub height_start: u64,
    pub height_end: u64,
    /// Execution payloads: what became of the requests after they committed.
    #[serde(default)]
    pub execution: Option<Box<ExecutionStats>>,
}

/// What became of a load's execution requests: each one committed is followed
/// (`GET /v1/execution/{id}`, every open one once per [`SETTLE_POLL`]) until its status is final.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionStats {
    /// Own executions seen final at any time, by final status (`completed`,
    /// `completed_unverified`, `rejected`, `expired`, `cancelled`).
    pub statuses: BTreeMap<String, u64>,
    /// Seen final inside the measured window, by final status.
    pub statuses_in_window: BTreeMap<String, u64>,
    /// Seen final inside the window, any status, per second.
    pub settled_rate: f64,
    /// Seen `completed` or `completed_unverified` inside the window, per second.
    pub completed_rate: f64,
    /// Seen `completed` (verified) inside the window, per second.
    #[serde(default)]
    pub verified_rate: f64,
    /// From the moment the request left to the first poll that showed it completed (or
    /// completed unverified), over the requests submitted in the window.
    pub latency_ms: Percentiles,
    pub histogram: Histogram,
    /// Committed requests still not final when the drain ended.
    pub unsettled_at_end: u64,
    /// `GET /v1/execution/{id}` requests made.
    pub polls: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("load: {0}")]
    Setup(String),
}

fn setup(e: impl ToString) -> LoadError {
    LoadError::Setup(e.to_string())
}

/// Each sender's transactions in nonce order; the head is the next to send (again, if refused).
struct Sender {
    key: SecretKey,
    next_nonce: u64,
    start_nonce: u64,
    queue: VecDeque<Prepared>,
}

/// Where the next frames come from. One per process: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Source {
    Signed {
        chain_id: String,
        senders: Vec<Sender>,
        cursor: usize,
        kinds: Vec<Kind>,
        kind_at: usize,
        service: Option<ServiceTarget>,
    },
    Raw {
        seed: u64,
        size: usize,
        /// The next payload's number; numbers go up by `stride`, so the parts of a split
        /// source never make the same payload.
        counter: u64,
        stride: u64,
    },
}

impl Source {
    fn sign_next(&mut self, index: usize) -> Result<(), String> {
        let Source::Signed {
            chain_id,
            senders,
            kinds,
            kind_at,
            service,
            ..
        } = self
        else {
            return Ok(());
        };
        let count = senders.len();
        let sink = senders
            .get((index + 1) % count.max(1))
            .map(|s| s.key.public().address())
            .unwrap_or(Address([0; 20]));
        let kind = kinds
            .get(*kind_at % kinds.len().max(1))
            .copied()
            .unwrap_or(Kind::Transfer);
        *kind_at += 1;
        let Some(sender) = senders.get_mut(index) else {
            return Ok(());
        };
        let p = build(
            chain_id,
            &sender.key,
            sender.next_nonce,
            kind,
            sink,
            service.as_ref(),
        )?;
        sender.next_nonce += 1;
        sender.queue.push_back(p);
        Ok(())
    }

    /// Up to `n` frames: one per sender (the head of its queue), or fresh raw payloads.
    /// Returns each frame's sender (for signed) so the answer can be applied.
    fn take(
        &mut self,
        n: usize,
        sign_more: bool,
    ) -> Result<Vec<(Option<usize>, Prepared)>, String> {
        let mut out = Vec::with_capacity(n);
        match self {
            Source::Raw {
                seed,
                size,
                counter,
                stride,
            } => {
                for _ in 0..n {
                    // The first 32 bytes are the payload's id: seed and counter make it unique.
                    let mut payload = vec![0x5a; (*size).max(MIN_RAW_PAYLOAD_BYTES)];
                    payload[..8].copy_from_slice(&seed.to_le_bytes());
                    payload[8..16].copy_from_slice(&counter.to_le_bytes());
                    *counter += (*stride).max(1);
                    let id = raw_payload_id(&payload).ok_or("raw payload shorter than its id")?;
                    out.push((None, Prepared { bytes: payload, id }));
                }
            }
            Source::Signed {
                senders, cursor, ..
            } => {
                let count = senders.len();
                let mut picked = Vec::new();
                for step in 0..count {
                    if picked.len() >= n {
                        break;
                    }
                    let index = (*cursor + step) % count;
                    picked.push(index);
                }
                *cursor = (*cursor + picked.len()) % count.max(1);
                for index in picked {
                    let empty = match self {
                        Source::Signed { senders, .. } => {
                            senders.get(index).is_none_or(|s| s.queue.is_empty())
                        }
                        Source::Raw { .. } => false,
                    };
                    if empty {
                        if !sign_more {
                            continue;
                        }
                        self.sign_next(index)?;
                    }
                    if let Source::Signed { senders, .. } = self
                        && let Some(p) = senders.get(index).and_then(|s| s.queue.front())
                    {
                        out.push((Some(index), p.clone()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// `n` parts, one per node a sending thread serves. Sender `i` goes to part `i % n`: all of
    /// a sender's transactions go to one node, since sent to different nodes, nonce n+1 could
    /// be batched and committed before nonce n, be skipped, and leave a gap that stalls the
    /// sender for good.
    fn split(self, n: usize) -> Vec<Source> {
        let n = n.max(1);
        match self {
            Source::Signed {
                chain_id,
                senders,
                kinds,
                kind_at,
                service,
                ..
            } => {
                let mut parts: Vec<Vec<Sender>> = (0..n).map(|_| Vec::new()).collect();
                for (i, sender) in senders.into_iter().enumerate() {
                    if let Some(part) = parts.get_mut(i % n) {
                        part.push(sender);
                    }
                }
                parts
                    .into_iter()
                    .map(|senders| Source::Signed {
                        chain_id: chain_id.clone(),
                        senders,
                        cursor: 0,
                        kinds: kinds.clone(),
                        kind_at,
                        service: service.clone(),
                    })
                    .collect()
            }
            Source::Raw {
                seed,
                size,
                counter,
                stride,
            } => (0..n as u64)
                .map(|i| Source::Raw {
                    seed,
                    size,
                    counter: counter + i * stride.max(1),
                    stride: stride.max(1) * n as u64,
                })
                .collect(),
        }
    }

    /// The sender's head was admitted (or is known): move on to its next transaction.
    fn advance(&mut self, index: usize) {
        if let Source::Signed { senders, .. } = self
            && let Some(s) = senders.get_mut(index)
        {
            s.queue.pop_front();
        }
    }
}

/// Refusals after which the transaction is as good as sent: it is (or was) in a mempool.
fn already_there(reason: &str) -> bool {
    matches!(reason, "duplicate" | "nonce_too_low" | "nonce_taken")
}

/// Refusals of one transaction that sending it again cannot fix.
fn hopeless(reason: &str) -> bool {
    matches!(
        reason,
        "oversized"
            | "decode"
            | "wrong_chain_id"
            | "bad_signature"
            | "gas_price_too_low"
            | "gas_limit_too_high"
            | "raw_disabled"
    )
}

struct Shared {
    /// Admitted ids and when their request left.
    pending: std::sync::Mutex<HashMap<Hash, Instant>>,
    /// Execution payloads: requests seen committed, not yet seen final, and when they left.
    settling: Option<std::sync::Mutex<HashMap<Hash, Instant>>>,
    /// The commit observer has stopped (nothing more moves into `settling`).
    observed_all: AtomicBool,
    stop: Arc<AtomicBool>,
    sending_done: AtomicBool,
    sent: AtomicU64,
    admitted: AtomicU64,
    height: AtomicU64,
}

/// What the observer saw.
#[derive(Default)]
struct Observed {
    committed_in_window: u64,
    committed_total: u64,
    latencies: Recorder,
    recent: Recorder,
}

fn first_status(apis: &[Api]) -> Result<(usize, crate::api::Status), LoadError> {
    let mut last = None;
    for (i, api) in apis.iter().enumerate() {
        match api.status() {
            Ok(s) => return Ok((i, s)),
            Err(e) => last = Some(e),
        }
    }
    Err(setup(match last {
        Some(e) => format!("no node answers: {e}"),
        None => "no --node given".into(),
    }))
}

/// Runs the load as `runnet testnet load` does and prints its JSON lines on stdout.
pub fn load(args: &LoadArgs) -> Result<LoadReport, LoadError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).map_err(setup)?;
    }
    let report = run(args, stop, &mut |line| {
        let mut out = std::io::stdout().lock();
        if let Ok(text) = serde_json::to_string(line) {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    })?;
    Ok(report)
}

/// The load with an explicit stop flag and line sink (tests and in-process use).
pub fn run(
    args: &LoadArgs,
    stop: Arc<AtomicBool>,
    emit: &mut dyn FnMut(&LoadLine),
) -> Result<LoadReport, LoadError> {
    if args.rate == 0 {
        return Err(setup("--rate must be at least 1"));
    }
    if args.tick_ms == 0 || args.poll_ms == 0 {
        return Err(setup("--tick-ms and --poll-ms must be at least 1"));
    }
    if args.duration > 0 && args.warmup >= args.duration {
        return Err(setup("--warmup must be shorter than --duration"));
    }
    if !(MIN_RAW_PAYLOAD_BYTES..=1 << 20).contains(&args.raw_size) {
        return Err(setup(format!(
            "--raw-size must be {MIN_RAW_PAYLOAD_BYTES}..=1048576 bytes"
        )));
    }
    let execution = args.payload == PayloadMode::Execution;
    // Execution payloads are execution requests only, whatever --mix says.
    let mix = if execution {
        Mix {
            transfer: 0,
            execution: 1,
            event: 0,
        }
    } else {
        Mix::from_str(&args.mix).map_err(setup)?
    };
    let service = if mix.needs_service() {
        let id = args.service.as_deref().ok_or_else(|| {
            setup(if execution {
                "--payload execution needs --service (the hex id of a published service with runners)"
            } else {
                "--mix with execution or event needs --service"
            })
        })?;
        if execution && args.task.is_empty() {
            return Err(setup("--payload execution needs --task"));
        }
        Some(ServiceTarget {
            service: Hash::from_str(id).map_err(|e| setup(format!("--service: {e}")))?,
            task: args.task.clone(),
            inputs: hex_arg("--inputs", &args.inputs)?,
            max_fee: args.max_fee,
            event: args.event.clone(),
            event_data: hex_arg("--event-data", &args.event_data)?,
        })
    } else {
        None
    };
    let apis: Vec<Api> = args
        .nodes
        .iter()
        .map(|n| Api::new(n, Duration::from_secs(10)))
        .collect();
    let (first, status) = first_status(&apis)?;
    let chain_id = status.chain_id.clone();

    let mut source = match args.payload {
        PayloadMode::Raw => Source::Raw {
            seed: args.seed,
            size: args.raw_size,
            counter: 0,
            stride: 1,
        },
        PayloadMode::Signed | PayloadMode::Execution => {
            let count = args.account_count();
            let keys: Vec<SecretKey> = (0..count).map(|i| account_key(args.seed, i)).collect();
            let api = apis.get(first).ok_or_else(|| setup("no node"))?;
            let mut starts = vec![0u64; keys.len()];
            if let Some(path) = &args.fund_from {
                let funder = load_key(path, KeyKind::Account).map_err(setup)?;
                let addresses: Vec<Address> = keys.iter().map(|k| k.public().address()).collect();
                fund(
                    api,
                    &chain_id,
                    &funder,
                    &addresses,
                    args.fund_amount,
                    Duration::from_secs(120),
                )
                .map_err(setup)?;
            } else {
                for (start, key) in starts.iter_mut().zip(&keys) {
                    let account = api.account(&key.public().address()).map_err(setup)?;
                    if account.balance == 0 {
                        return Err(setup(format!(
                            "sender {} has no coins: pass --fund-from KEYFILE",
                            key.public().address()
                        )));
                    }
                    *start = account.next_nonce.max(account.nonce);
                }
            }
            let senders = keys
                .into_iter()
                .zip(starts)
                .map(|(key, start)| Sender {
                    key,
                    next_nonce: start,
                    start_nonce: start,
                    queue: VecDeque::new(),
                })
                .collect();
            Source::Signed {
                chain_id: chain_id.clone(),
                senders,
                cursor: 0,
                kinds: mix.sequence(mix.total().clamp(1, 1000) as usize),
                kind_at: 0,
                service,
            }
        }
    };

    // Sign everything in advance when the run has an end.
    let presigned = args.duration > 0;
    if presigned && let Source::Signed { senders, .. } = &source {
        let total = args.rate.saturating_mul(args.duration);
        if total > MAX_PRESIGNED {
            return Err(setup(format!(
                "--rate x --duration = {total} transactions to sign in advance, over {MAX_PRESIGNED}"
            )));
        }
        let per_sender = total.div_ceil(senders.len().max(1) as u64) + 1;
        let count = senders.len();
        // Round by round, so the kinds of the mix are spread over senders and time alike.
        for _ in 0..per_sender {
            for index in 0..count {
                source.sign_next(index).map_err(setup)?;
            }
        }
    }
    let height_start = apis
        .get(first)
        .and_then(|a| a.status().ok())
        .map_or(status.committed_height, |s| s.committed_height);

    if args.wait_go {
        emit(&LoadLine::Ready);
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }

    let shared = Arc::new(Shared {
        pending: std::sync::Mutex::new(HashMap::new()),
        settling: execution.then(|| std::sync::Mutex::new(HashMap::new())),
        observed_all: AtomicBool::new(false),
        stop: stop.clone(),
        sending_done: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        admitted: AtomicU64::new(0),
        height: AtomicU64::new(height_start),
    });
    let start = Instant::now();
    let window_start = start + Duration::from_secs(args.warmup);
    let window_end = (args.duration > 0).then(|| start + Duration::from_secs(args.duration));

    let observer_apis = apis.clone();
    let observer_shared = shared.clone();
    let poll = Duration::from_millis(args.poll_ms);
    let drain = Duration::from_secs(args.drain);
    let (progress_tx, progress_rx) = std::sync::mpsc::channel::<Progress>();
    let want_progress = args.progress;
    let observer = std::thread::spawn(move || {
        observe(
            &observer_apis,
            first,
            &observer_shared,
            height_start,
            (window_start, window_end),
            poll,
            drain,
            want_progress.then_some((progress_tx, start)),
        )
    });

    let settler = execution.then(|| {
        let apis = apis.clone();
        let shared = shared.clone();
        std::thread::spawn(move || {
            settle(
                &apis,
                &shared,
                (window_start, window_end),
                SETTLE_POLL,
                drain,
            )
        })
    });

    let mut parts = source.split(apis.len());
    let sending = send(
        args,
        &apis,
        &mut parts,
        &shared,
        presigned,
        window_start,
        window_end,
        &mut |p| emit(&LoadLine::Progress(p)),
        &progress_rx,
    );
    shared.sending_done.store(true, Ordering::SeqCst);
    let observed = observer.join();
    shared.observed_all.store(true, Ordering::SeqCst);
    let observed = observed.map_err(|_| setup("the commit observer panicked"))?;
    let settled = match settler {
        Some(handle) => Some(
            handle
                .join()
                .map_err(|_| setup("the settlement watcher panicked"))?,
        ),
        None => None,
    };
    let sending = sending?;
    // Progress lines the observer sent after sending stopped are not worth printing.
    let window_s = match window_end {
        Some(end) => end.saturating_duration_since(window_start).as_secs_f64(),
        None => sending
            .ended
            .saturating_duration_since(window_start)
            .as_secs_f64(),
    }
    .max(1e-3);

    let executed = match parts.first() {
        Some(Source::Signed { .. }) => {
            let api = apis.get(first);
            let mut moved = Some(0u64);
            let senders = parts.iter().flat_map(|part| match part {
                Source::Signed { senders, .. } => senders.as_slice(),
                Source::Raw { .. } => &[],
            });
            for s in senders {
                let nonce = api.and_then(|a| a.account(&s.key.public().address()).ok());
                moved = match (moved, nonce) {
                    (Some(m), Some(a)) => Some(m + a.nonce.saturating_sub(s.start_nonce)),
                    _ => None,
                };
            }
            moved
        }
        _ => None,
    };
    let histogram = observed.latencies.finish();
    let report = LoadReport {
        payload: args.payload.to_string(),
        input_rate: args.rate,
        window_s,
        sent: sending.sent_in_window,
        sent_rate: sending.sent_in_window as f64 / window_s,
        admitted: shared.admitted.load(Ordering::SeqCst),
        refused: sending.refused,
        errors: sending.errors,
        committed: observed.committed_in_window,
        tps: observed.committed_in_window as f64 / window_s,
        committed_total: observed.committed_total,
        latency_ms: histogram.percentiles(),
        histogram,
        pending_at_end: shared.pending.lock().map_or(0, |p| p.len() as u64),
        executed,
        accounts: parts
            .iter()
            .map(|part| match part {
                Source::Signed { senders, .. } => senders.len() as u64,
                Source::Raw { .. } => 0,
            })
            .sum(),
        height_start,
        height_end: shared.height.load(Ordering::SeqCst),
        execution: settled.map(|s| Box::new(s.report(window_s))),
    };
    emit(&LoadLine::Report(report.clone()));
    Ok(report)
}

fn hex_arg(name: &str, text: &str) -> Result<Vec<u8>, LoadError> {
    hex_decode(text.trim_start_matches("0x")).map_err(|e| setup(format!("{name}: {e}")))
}

fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("'{text}' is not hex"))
        })
        .collect()
}

struct Sending {
    sent_in_window: u64,
    refused: BTreeMap<String, u64>,
    errors: u64,
    ended: Instant,
}

/// Sends from every part of the source at once, part `i` to node `i` at its share of the rate,
/// each on its own thread (one thread's requests go one after another, and one at a time
/// cannot keep up with a network's rate), forwarding progress lines meanwhile.
#[allow(clippy::too_many_arguments)]
fn send(
    args: &LoadArgs,
    apis: &[Api],
    parts: &mut [Source],
    shared: &Shared,
    presigned: bool,
    window_start: Instant,
    window_end: Option<Instant>,
    emit: &mut dyn FnMut(Progress),
    progress: &std::sync::mpsc::Receiver<Progress>,
) -> Result<Sending, LoadError> {
    let count = parts.len().max(1) as u64;
    let results: Vec<Result<Sending, LoadError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter_mut()
            .zip(apis)
            .enumerate()
            .map(|(i, (source, api))| {
                let rate = args.rate / count + u64::from((i as u64) < args.rate % count);
                let job = Shard {
                    args,
                    api,
                    rate,
                    shared,
                    presigned,
                    window: (window_start, window_end),
                };
                scope.spawn(move || job.send(source))
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            while let Ok(p) = progress.try_recv() {
                emit(p);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(setup("a sending thread panicked")))
            })
            .collect()
    });
    let mut out = Sending {
        sent_in_window: 0,
        refused: BTreeMap::new(),
        errors: 0,
        ended: Instant::now(),
    };
    let mut latest = None::<Instant>;
    for result in results {
        let part = result?;
        out.sent_in_window += part.sent_in_window;
        out.errors += part.errors;
        for (reason, n) in part.refused {
            *out.refused.entry(reason).or_default() += n;
        }
        latest = Some(latest.map_or(part.ended, |l| l.max(part.ended)));
    }
    if let Some(latest) = latest {
        out.ended = latest;
    }
    Ok(out)
}

/// One sending thread: its part of the source, to one node, at `rate`.
struct Shard<'a> {
    args: &'a LoadArgs,
    api: &'a Api,
    rate: u64,
    shared: &'a Shared,
    presigned: bool,
    window: (Instant, Option<Instant>),
}

impl Shard<'_> {
    fn send(self, source: &mut Source) -> Result<Sending, LoadError> {
        let Shard {
            args,
            api,
            rate,
            shared,
            presigned,
            window: (window_start, window_end),
        } = self;
        // Without an end, transactions are signed as they are needed.
        let sign_more = !presigned;
        let start = Instant::now();
        let tick = Duration::from_millis(args.tick_ms);
        let path = match args.payload {
            PayloadMode::Signed | PayloadMode::Execution => "/v1/txs",
            PayloadMode::Raw => "/v1/raw",
        };
        let mut down_until = start;
        let mut attempted: u64 = 0;
        let mut out = Sending {
            sent_in_window: 0,
            refused: BTreeMap::new(),
            errors: 0,
            ended: start,
        };
        loop {
            let now = Instant::now();
            if rate == 0
                || shared.stop.load(Ordering::SeqCst)
                || window_end.is_some_and(|end| now >= end)
            {
                break;
            }
            let elapsed = now.duration_since(start).as_secs_f64();
            let due = ((rate as f64 * elapsed) as u64).saturating_sub(attempted);
            if due == 0 {
                std::thread::sleep(if args.steady {
                    tick
                } else {
                    tick.min(Duration::from_millis(
                        (1000 / rate.max(1)).clamp(1, args.tick_ms),
                    ))
                });
                continue;
            }
            // A node that did not answer gets a second; its senders wait for it, as its
            // clients would.
            if now < down_until {
                std::thread::sleep(tick);
                continue;
            }
            let n = (due as usize).min(MAX_PER_REQUEST);
            let batch = source.take(n, sign_more).map_err(setup)?;
            if batch.is_empty() {
                // Every sender's transactions are used up (refusals ate the margin): idle.
                std::thread::sleep(tick);
                attempted += due;
                continue;
            }
            let body = frames(batch.iter().map(|(_, p)| p.bytes.as_slice()));
            let submitted = Instant::now();
            if let Ok(mut pending) = shared.pending.lock() {
                for (_, p) in &batch {
                    pending.insert(p.id, submitted);
                }
            }
            let result = api.post_frames(path, &body);
            attempted += batch.len() as u64;
            shared.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
            if submitted >= window_start {
                out.sent_in_window += batch.len() as u64;
            }
            match result {
                Ok(admission) => {
                    for (reason, n) in &admission.refused {
                        *out.refused.entry(reason.clone()).or_default() += n;
                    }
                    let mut forget = Vec::new();
                    if admission.each.is_empty() {
                        // Raw payloads: the answer only counts refusals. The pool fills as a
                        // request is admitted, so the refused are taken to be the tail; raw
                        // payloads are dropped, never sent again.
                        let refused = batch.len().saturating_sub(admission.admitted as usize);
                        let keep = batch.len() - refused;
                        forget.extend(batch.iter().skip(keep).map(|(_, p)| p.id));
                    } else {
                        for ((sender, p), answer) in batch.iter().zip(&admission.each) {
                            let move_on = match answer {
                                Ok(()) => true,
                                Err(reason) => {
                                    forget.push(p.id);
                                    already_there(reason) || hopeless(reason)
                                }
                            };
                            if move_on && let Some(i) = sender {
                                source.advance(*i);
                            }
                        }
                    }
                    if let Ok(mut pending) = shared.pending.lock() {
                        for id in &forget {
                            pending.remove(id);
                        }
                    }
                    shared
                        .admitted
                        .fetch_add(admission.admitted, Ordering::Relaxed);
                }
                Err(e) => {
                    out.errors += 1;
                    if let Ok(mut pending) = shared.pending.lock() {
                        for (_, p) in &batch {
                            pending.remove(&p.id);
                        }
                    }
                    if !e.is_busy() {
                        down_until = Instant::now() + Duration::from_secs(1);
                    }
                    // A 503 refuses the whole request for a full mempool.
                    if let ApiError::Status { status, .. } = &e {
                        let reason = if *status == 503 {
                            "busy".to_string()
                        } else {
                            format!("http_{status}")
                        };
                        *out.refused.entry(reason).or_default() += batch.len() as u64;
                    }
                }
            }
        }
        out.ended = Instant::now();
        Ok(out)
    }
}

#[allow(clippy::too_many_arguments)]
fn observe(
    apis: &[Api],
    first: usize,
    shared: &Shared,
    height_start: u64,
    window: (Instant, Option<Instant>),
    poll: Duration,
    drain: Duration,
    progress: Option<(std::sync::mpsc::Sender<Progress>, Instant)>,
) -> Observed {
    let (window_start, window_end) = window;
    let mut observed = Observed::default();
    let mut node = first;
    let mut next_height = height_start + 1;
    let mut drain_deadline: Option<Instant> = None;
    let mut last_progress = Instant::now();
    let mut last_committed = 0u64;
    loop {
        let now = Instant::now();
        if shared.sending_done.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst) {
            let deadline = *drain_deadline.get_or_insert(now + drain);
            let empty = shared.pending.lock().map_or(true, |p| p.is_empty());
            if empty || now >= deadline {
                break;
            }
        }
        let Some(api) = apis.get(node) else { break };
        match api.status() {
            Ok(status) => {
                while next_height <= status.committed_height {
                    match api.block_ids(next_height) {
                        Ok(Some(ids)) => {
                            let seen = Instant::now();
                            let in_window =
                                seen >= window_start && window_end.is_none_or(|end| seen <= end);
                            if let Ok(mut pending) = shared.pending.lock() {
                                for id in ids.txs.iter().chain(&ids.raw) {
                                    if let Some(sent) = pending.remove(id) {
                                        if let Some(settling) = &shared.settling
                                            && let Ok(mut settling) = settling.lock()
                                        {
                                            settling.insert(*id, sent);
                                        }
                                        observed.committed_total += 1;
                                        if in_window {
                                            observed.committed_in_window += 1;
                                        }
                                        let micros = seen.duration_since(sent).as_micros() as u64;
                                        if sent >= window_start
                                            && window_end.is_none_or(|end| sent <= end)
                                        {
                                            observed.latencies.record_micros(micros);
                                        }
                                        observed.recent.record_micros(micros);
                                    }
                                }
                            }
                            shared.height.store(next_height, Ordering::SeqCst);
                            next_height += 1;
                        }
                        // Its batches are not here yet: look again at the next poll.
                        Ok(None) => break,
                        Err(_) => {
                            node = (node + 1) % apis.len().max(1);
                            break;
                        }
                    }
                }
            }
            Err(_) => node = (node + 1) % apis.len().max(1),
        }
        if let Some((tx, start)) = &progress
            && last_progress.elapsed() >= Duration::from_secs(1)
        {
            let secs = last_progress.elapsed().as_secs_f64();
            let hist = observed.recent.finish();
            let _ = tx.send(Progress {
                t: start.elapsed().as_secs_f64(),
                sent: shared.sent.load(Ordering::Relaxed),
                admitted: shared.admitted.load(Ordering::Relaxed),
                committed: observed.committed_total,
                tps: (observed.committed_total - last_committed) as f64 / secs,
                latency_ms: hist.percentiles(),
                height: shared.height.load(Ordering::Relaxed),
            });
            last_committed = observed.committed_total;
            observed.recent = Recorder::default();
            last_progress = Instant::now();
        }
        std::thread::sleep(poll);
    }
    observed
}

/// How often each open execution is looked at: the resolution of settlement latencies.
pub const SETTLE_POLL: Duration = Duration::from_millis(200);

/// The final status in a `GET /v1/execution/{id}` answer (a live execution, or the summary of
/// a pruned one); `None` while it is still open.
pub fn final_status(answer: &serde_json::Value) -> Option<&str> {
    let status = answer
        .get("status")
        .or_else(|| answer.get("summary")?.get("status"))?
        .as_str()?;
    matches!(
        status,
        "completed" | "completed_unverified" | "rejected" | "expired" | "cancelled"
    )
    .then_some(status)
}

fn is_completed(status: &str) -> bool {
    matches!(status, "completed" | "completed_unverified")
}

/// What the settlement watcher saw.
#[derive(Default)]
struct Settled {
    statuses: BTreeMap<String, u64>,
    statuses_in_window: BTreeMap<String, u64>,
    latencies: Recorder,
    unsettled_at_end: u64,
    polls: u64,
}

impl Settled {
    fn report(self, window_s: f64) -> ExecutionStats {
        let in_window = |pick: &dyn Fn(&str) -> bool| {
            self.statuses_in_window
                .iter()
                .filter(|(s, _)| pick(s))
                .map(|(_, n)| *n)
                .sum::<u64>() as f64
                / window_s.max(1e-3)
        };
        let histogram = self.latencies.finish();
        ExecutionStats {
            settled_rate: in_window(&|_| true),
            completed_rate: in_window(&is_completed),
            verified_rate: in_window(&|s| s == "completed"),
            latency_ms: histogram.percentiles(),
            histogram,
            statuses: self.statuses,
            statuses_in_window: self.statuses_in_window,
            unsettled_at_end: self.unsettled_at_end,
            polls: self.polls,
        }
    }
}

/// Follows every committed execution request until its status is final: each open one is
/// asked for once per `poll`, spread over the nodes; ends once the commit observer has stopped
/// and nothing is open, or `drain` after sending stopped.
fn settle(
    apis: &[Api],
    shared: &Shared,
    (window_start, window_end): (Instant, Option<Instant>),
    poll: Duration,
    drain: Duration,
) -> Settled {
    let mut out = Settled::default();
    let Some(settling) = &shared.settling else {
        return out;
    };
    let mut node = 0usize;
    let mut deadline: Option<Instant> = None;
    loop {
        let sweep = Instant::now();
        if shared.sending_done.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst) {
            let deadline = *deadline.get_or_insert(sweep + drain);
            let open = settling.lock().map_or(0, |s| s.len());
            if shared.observed_all.load(Ordering::SeqCst) && (open == 0 || sweep >= deadline) {
                out.unsettled_at_end = open as u64;
                break;
            }
        }
        let open: Vec<(Hash, Instant)> = settling
            .lock()
            .map(|s| s.iter().map(|(id, sent)| (*id, *sent)).collect())
            .unwrap_or_default();
        for (id, sent) in open {
            let Some(api) = apis.get(node % apis.len().max(1)) else {
                break;
            };
            node = node.wrapping_add(1);
            out.polls += 1;
            // Not executed on that node yet (404), or unreachable: ask again next sweep.
            let Ok(Some(answer)) =
                api.get_optional::<serde_json::Value>(&format!("/v1/execution/{id}"))
            else {
                continue;
            };
            let Some(status) = final_status(&answer) else {
                continue;
            };
            let seen = Instant::now();
            if let Ok(mut s) = settling.lock() {
                s.remove(&id);
            }
            *out.statuses.entry(status.to_string()).or_default() += 1;
            if seen >= window_start && window_end.is_none_or(|end| seen <= end) {
                *out.statuses_in_window
                    .entry(status.to_string())
                    .or_default() += 1;
            }
            if is_completed(status)
                && sent >= window_start
                && window_end.is_none_or(|end| sent <= end)
            {
                out.latencies
                    .record_micros(seen.duration_since(sent).as_micros() as u64);
            }
        }
        std::thread::sleep(poll.saturating_sub(sweep.elapsed()));
    }
    out
}

/// Reads a load process's stdout lines: progress as it comes, the report last.
pub fn parse_line(line: &str) -> Option<LoadLine> {
    serde_json::from_str(line.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        load: LoadArgs,
    }

    #[test]
    fn arguments_round_trip_through_the_command_line() {
        let args = LoadArgs {
            nodes: vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()],
            payload: PayloadMode::Raw,
            rate: 12_345,
            duration: 7,
            warmup: 2,
            accounts: Some(99),
            fund_from: Some("/tmp/f.key".into()),
            service: Some("ab".repeat(32)),
            inputs: "0102".into(),
            progress: true,
            wait_go: true,
            steady: true,
            ..LoadArgs::default()
        };
        let mut argv = vec!["load".to_string()];
        argv.extend(args.to_args());
        let parsed = Cmd::try_parse_from(argv).unwrap();
        assert_eq!(parsed.load, args);
        let defaults = Cmd::try_parse_from(["load", "--node", "http://x"]).unwrap();
        assert_eq!(
            defaults.load,
            LoadArgs {
                nodes: vec!["http://x".into()],
                ..LoadArgs::default()
            }
        );
    }

    #[test]
    fn report_lines_round_trip() {
        let report = LoadReport {
            payload: "signed".into(),
            input_rate: 5,
            committed: 3,
            ..LoadReport::default()
        };
        let line = serde_json::to_string(&LoadLine::Report(report.clone())).unwrap();
        assert!(line.contains("\"kind\":\"report\""));
        assert_eq!(parse_line(&line), Some(LoadLine::Report(report)));
        assert_eq!(parse_line("{\"kind\":\"ready\"}"), Some(LoadLine::Ready));
        assert_eq!(parse_line("garbage"), None);
    }

    #[test]
    fn bad_arguments_are_refused_before_any_request() {
        let stop = Arc::new(AtomicBool::new(false));
        let base = LoadArgs {
            nodes: vec!["http://127.0.0.1:9".into()],
            ..LoadArgs::default()
        };
        for (args, words) in [
            (
                LoadArgs {
                    rate: 0,
                    ..base.clone()
                },
                "--rate",
            ),
            (
                LoadArgs {
                    warmup: 30,
                    ..base.clone()
                },
                "--warmup",
            ),
            (
                LoadArgs {
                    mix: "swap=1".into(),
                    ..base.clone()
                },
                "unknown kind",
            ),
            (
                LoadArgs {
                    mix: "event=1".into(),
                    ..base.clone()
                },
                "--service",
            ),
            (
                LoadArgs {
                    raw_size: 1,
                    ..base.clone()
                },
                "--raw-size",
            ),
            (
                LoadArgs {
                    payload: PayloadMode::Execution,
                    ..base.clone()
                },
                "--payload execution needs --service",
            ),
            (
                LoadArgs {
                    payload: PayloadMode::Execution,
                    service: Some("ab".repeat(32)),
                    ..base.clone()
                },
                "--task",
            ),
            (
                LoadArgs {
                    payload: PayloadMode::Execution,
                    service: Some("not hex".into()),
                    task: "add".into(),
                    ..base.clone()
                },
                "--service",
            ),
            (base.clone(), "no node answers"),
        ] {
            let e = run(&args, stop.clone(), &mut |_| {})
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{e}");
        }
        assert_eq!(hex_decode("0aff").unwrap(), vec![10, 255]);
        assert!(hex_decode("0g").is_err() && hex_decode("abc").is_err());
    }

    #[test]
    fn final_statuses_are_read_from_live_and_pruned_executions() {
        use serde_json::json;
        for status in [
            "completed",
            "completed_unverified",
            "rejected",
            "expired",
            "cancelled",
        ] {
            assert_eq!(final_status(&json!({"status": status})), Some(status));
            assert_eq!(
                final_status(&json!({"pruned": true, "summary": {"status": status}})),
                Some(status)
            );
        }
        for open in [
            "requested",
            "assigned",
            "committed",
            "verifying",
            "runner_revealing",
            "revealing",
            "awaiting_rerun",
        ] {
            assert_eq!(final_status(&json!({"status": open})), None, "{open}");
        }
        assert_eq!(final_status(&json!({"status": 3})), None);
        assert_eq!(final_status(&json!([])), None);
        assert!(is_completed("completed_unverified") && !is_completed("expired"));
    }

    #[test]
    fn settlement_rates_count_the_window_and_latency_only_completions() {
        let mut settled = Settled::default();
        settled.statuses_in_window.insert("completed".into(), 8);
        settled
            .statuses_in_window
            .insert("completed_unverified".into(), 2);
        settled.statuses_in_window.insert("expired".into(), 10);
        settled.statuses.insert("expired".into(), 12);
        settled.latencies.record_micros(1_500_000);
        settled.unsettled_at_end = 3;
        let report = settled.report(10.0);
        assert_eq!(report.settled_rate, 2.0);
        assert_eq!(report.completed_rate, 1.0);
        assert_eq!(report.verified_rate, 0.8);
        assert_eq!(report.latency_ms.p50, 1_500.0);
        assert_eq!(report.statuses.get("expired"), Some(&12));
        assert_eq!(report.unsettled_at_end, 3);
        // A report line without the field (an older generator) still reads.
        let line = r#"{"kind":"report","payload":"signed","input_rate":1,"window_s":1.0,"sent":0,"sent_rate":0.0,"admitted":0,"refused":{},"errors":0,"committed":0,"tps":0.0,"committed_total":0,"latency_ms":{"p50":0.0,"p99":0.0},"histogram":{"buckets":[]},"pending_at_end":0,"executed":null,"accounts":0,"height_start":0,"height_end":0}"#;
        assert!(matches!(
            parse_line(line),
            Some(LoadLine::Report(LoadReport {
                execution: None,
                ..
            }))
        ));
    }

    /// A source of transfers from `n` fresh senders whose keys derive from `seed`.
    fn transfers_from(seed: u64, n: u64) -> Source {
        let senders = (0..n)
            .map(|i| Sender {
                key: account_key(seed, i),
                next_nonce: 0,
                start_nonce: 0,
                queue: VecDeque::new(),
            })
            .collect();
        Source::Signed {
            chain_id: "c".into(),
            senders,
            cursor: 0,
            kinds: vec![Kind::Transfer],
            kind_at: 0,
            service: None,
        }
    }

    fn raw_source(seed: u64, size: usize) -> Source {
        Source::Raw {
            seed,
            size,
            counter: 0,
            stride: 1,
        }
    }

    #[test]
    fn senders_send_one_at_a_time_and_retry_their_head() {
        let mut source = transfers_from(5, 3);
        // Signing as it goes: 5 asked, only one per sender.
        let first = source.take(5, true).unwrap();
        assert_eq!(first.len(), 3);
        let senders: Vec<_> = first.iter().map(|(s, _)| s.unwrap()).collect();
        assert_eq!(senders, [0, 1, 2]);
        // Sender 0 admitted, 1 and 2 refused: 1 and 2 send the same transaction again.
        source.advance(0);
        let second = source.take(3, true).unwrap();
        let nonce = |p: &Prepared| runnet_types::SignedTx::decode(&p.bytes).unwrap().body.nonce;
        let by_sender: BTreeMap<usize, u64> =
            second.iter().map(|(s, p)| (s.unwrap(), nonce(p))).collect();
        assert_eq!(by_sender, BTreeMap::from([(0, 1), (1, 0), (2, 0)]));
        assert_eq!(second[1].1.id, first[1].1.id);
        // Without signing more, an empty queue sends nothing.
        let mut raw = raw_source(1, 512);
        let payloads = raw.take(3, false).unwrap();
        assert_eq!(payloads.len(), 3);
        assert!(payloads.iter().all(|(_, p)| p.bytes.len() == 512));
        assert_ne!(payloads[0].1.id, payloads[1].1.id);
    }

    #[test]
    fn a_split_keeps_each_sender_in_one_part_and_raw_payloads_apart() {
        let owners_of = |source: &Source| -> Vec<Address> {
            match source {
                Source::Signed { senders, .. } => {
                    senders.iter().map(|s| s.key.public().address()).collect()
                }
                Source::Raw { .. } => Vec::new(),
            }
        };
        let source = transfers_from(6, 7);
        let keys = owners_of(&source);
        let owners: Vec<Vec<Address>> = source.split(3).iter().map(owners_of).collect();
        assert_eq!(owners[0], [keys[0], keys[3], keys[6]]);
        assert_eq!(owners[1], [keys[1], keys[4]]);
        assert_eq!(owners[2], [keys[2], keys[5]]);
        // Raw parts never make the same payload.
        let raw = raw_source(2, 64);
        let mut ids = std::collections::BTreeSet::new();
        for mut part in raw.split(4) {
            for (_, p) in part.take(50, false).unwrap() {
                assert!(ids.insert(p.id), "a payload made twice");
            }
        }
        assert_eq!(ids.len(), 200);
    }
}
