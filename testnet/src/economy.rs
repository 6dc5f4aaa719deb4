//! The economy part of `testnet up`: publish the example arith service through the binary's
//! CLI, give validators `[[runner]]` sections for it (one of them the `wrong_result` mode, so the
//! chain has a cheater to slash), and the execution request the workload sends. For process
//! events, also the example ticker service (an external program every validator runs, reporting
//! `tick` events) and the example process its ticks fire, which chains two arith tasks.
//!
//! Everything goes through the `runnet` binary and the homes' files: this crate does not link
//! the node or the state.

use crate::error::{TestnetError, io};
use runnet_types::record::{Schema, Value};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The example service, built into the launcher so `up` works from any folder.
const ARITH_JSON: &str = include_str!("../../examples/services/arith.json");
const ARITH_WAT: &str = include_str!("../../examples/services/arith.wat");
const TICKER_JSON: &str = include_str!("../../examples/services/ticker.json");
const TICKER_SH: &str = include_str!("../../examples/services/ticker.sh");
const TICKER_PROCESS: &str = include_str!("../../examples/processes/ticker_arith.json");
/// The balance the ticker's process starts with: each run costs two tasks of at most MAX_FEE.
pub const PROCESS_BALANCE: u64 = 1_000_000_000;
/// The slowest tick `up` runs (seconds).
const MAX_TICK_PERIOD: u64 = 60;

/// The example's tasks time out after 10 s of chain time; on a shared machine at full load an
/// agent's queue can hold a task longer, and a longer timeout keeps honest runners from
/// missing deadlines they would meet.
const TASK_TIMEOUT_MS: u64 = 20_000;
pub const RUNNER_STAKE: u64 = 2_000_000;
pub const PRICE_PER_CALL: u64 = 1_000;
pub const PRICE_PER_KIB: u64 = 100;
const MAX_OPEN: u64 = 64;
/// Covers the price (one KiB of inputs and outputs), three verifiers' pay of the default
/// genesis (`verifier_fee` 20,000 plus a re-run result's bytes each) and room to spare; what is
/// not used is refunded.
pub const MAX_FEE: u64 = 100_000;

/// Genesis parameters `up` sets in every home before the first start when runners take part,
/// in chain time (ms), whatever `init` wrote: windows of seconds, so that an agent on a busy
/// machine has re-run the task before its window closes, yet a 60 s run still sees executions
/// expire and settle; and a jailed runner back within the run (the public default is 10
/// minutes). The reveal window outlasts `longest_outage`, the longest the fault schedule keeps
/// a node out ([`crate::schedule::FaultSchedule::longest_outage`]), by [`OUTAGE_MARGIN_MS`]: a
/// runner or verifier the schedule cuts off between its commitment and its reveal catches up
/// and reveals in time, as one would on a public chain's 30 s windows after a short outage, and
/// is never slashed as a withholder for a fault the testnet itself planned. Windows close early
/// once everyone has answered, so a longer window costs honest executions nothing.
pub fn genesis_params(longest_outage: Duration) -> Vec<(String, serde_json::Value)> {
    let outage_ms = u64::try_from(longest_outage.as_millis()).unwrap_or(u64::MAX);
    let reveal_window_ms = outage_ms
        .saturating_add(OUTAGE_MARGIN_MS)
        .max(MIN_REVEAL_WINDOW_MS);
    vec![
        ("commit_window_ms".into(), 5_000.into()),
        ("reveal_window_ms".into(), reveal_window_ms.into()),
        ("downtime_jail_ms".into(), 10_000.into()),
    ]
}

/// The testnet's reveal window when no fault keeps a node out that long.
const MIN_REVEAL_WINDOW_MS: u64 = 10_000;
/// How much longer than the longest planned outage the reveal window lasts: a restarted node's
/// start and catch-up, or a healed one's block sync, before its agent reveals.
const OUTAGE_MARGIN_MS: u64 = 6_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Honest,
    WrongResult,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Honest => "honest",
            Mode::WrongResult => "wrong_result",
        }
    }
}

/// Which validators run an arith runner and how: every one, the last one lying when at least
/// three others are honest (enough verifiers to outvote it).
pub fn plan(validators: usize) -> Vec<(usize, Mode)> {
    (0..validators)
        .map(|i| {
            let liar = validators >= 4 && i + 1 == validators;
            (
                i,
                if liar {
                    Mode::WrongResult
                } else {
                    Mode::Honest
                },
            )
        })
        .collect()
}

/// The arith definition with the longer task timeout.
pub fn arith_definition() -> Result<String, TestnetError> {
    let mut def: serde_json::Value = serde_json::from_str(ARITH_JSON)
        .map_err(|e| TestnetError::Binary(format!("examples/services/arith.json: {e}")))?;
    if let Some(tasks) = def.get_mut("tasks").and_then(|t| t.as_array_mut()) {
        for task in tasks {
            task["timeout_ms"] = TASK_TIMEOUT_MS.into();
        }
    }
    serde_json::to_string_pretty(&def)
        .map_err(|e| TestnetError::Binary(format!("arith definition: {e}")))
}

/// Record bytes of `add {a, b}`, hex, as `testnet load --inputs` takes them.
pub fn add_inputs_hex(a: i64, b: i64) -> Result<String, TestnetError> {
    let schema: Schema = serde_json::from_str(r#"{"a":"int","b":"int"}"#)
        .map_err(|e| TestnetError::Binary(format!("arith schema: {e}")))?;
    let value = Value::Record(BTreeMap::from([
        ("a".to_string(), Value::Int(a)),
        ("b".to_string(), Value::Int(b)),
    ]));
    let bytes = schema
        .encode(&value)
        .map_err(|e| TestnetError::Binary(format!("arith inputs: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Publishes arith from `key` through `binary tx service publish --wait` and returns its id.
pub fn publish_arith(
    binary: &Path,
    dir: &Path,
    node: &str,
    key: &Path,
) -> Result<String, TestnetError> {
    let def_path = dir.join("arith.json");
    let wat_path = dir.join("arith.wat");
    write(&def_path, &arith_definition()?)?;
    write(&wat_path, ARITH_WAT)?;
    let program = ("--wasm", wat_path.as_path());
    publish(binary, node, key, &def_path, program, "publishing arith")
}

/// `binary tx service publish --definition DEF --wasm|--external PATH --wait`; the service's id.
fn publish(
    binary: &Path,
    node: &str,
    key: &Path,
    definition: &Path,
    (program_flag, program): (&str, &Path),
    what: &str,
) -> Result<String, TestnetError> {
    let args = [
        "tx".as_ref(),
        "service".as_ref(),
        "publish".as_ref(),
        "--definition".as_ref(),
        definition.as_os_str(),
        program_flag.as_ref(),
        program.as_os_str(),
    ];
    let stdout = run_tx(binary, &args, node, key, what)?;
    id_field(&stdout, "service")
}

/// Writes the ticker's program to `dir/ticker.sh`, publishes the ticker from `key` and returns
/// its id and the program's path (its runners run that file).
pub fn publish_ticker(
    binary: &Path,
    dir: &Path,
    node: &str,
    key: &Path,
) -> Result<(String, PathBuf), TestnetError> {
    let def_path = dir.join("ticker.json");
    let program = dir.join("ticker.sh");
    write(&def_path, TICKER_JSON)?;
    write(&program, TICKER_SH)?;
    let external = ("--external", program.as_path());
    let id = publish(
        binary,
        node,
        key,
        &def_path,
        external,
        "publishing the ticker",
    )?;
    Ok((id, program))
}

/// Creates the example process (ticker tick → arith add → arith mul) from `key`, funded with
/// [`PROCESS_BALANCE`], and returns its id.
pub fn create_process(
    binary: &Path,
    dir: &Path,
    node: &str,
    key: &Path,
    ticker: &str,
    arith: &str,
) -> Result<String, TestnetError> {
    let path = dir.join("ticker_arith.json");
    write(&path, TICKER_PROCESS)?;
    let balance = PROCESS_BALANCE.to_string();
    let ticker = format!("ticker={ticker}");
    let arith = format!("arith={arith}");
    let args = [
        "tx".as_ref(),
        "process".as_ref(),
        "create".as_ref(),
        "--file".as_ref(),
        path.as_os_str(),
        "--balance".as_ref(),
        balance.as_ref(),
        "--service".as_ref(),
        ticker.as_ref(),
        "--service".as_ref(),
        arith.as_ref(),
    ];
    let stdout = run_tx(binary, &args, node, key, "creating the ticker's process")?;
    id_field(&stdout, "process")
}

/// The ticker's period in seconds so that its reports (one per validator per tick) come at
/// about `share` of the `load`: at least 1 s (so at most one report per validator a second),
/// at most a minute.
pub fn tick_period(load: u64, share: f64, validators: usize) -> u64 {
    let per_second = load as f64 * share;
    if per_second <= 0.0 {
        return MAX_TICK_PERIOD;
    }
    ((validators as f64 / per_second).ceil() as u64).clamp(1, MAX_TICK_PERIOD)
}

fn write(path: &Path, text: &str) -> Result<(), TestnetError> {
    std::fs::write(path, text).map_err(io(format!("write {}", path.display())))
}

/// Runs `binary ARGS --key KEY --node NODE --wait --json` and returns its stdout.
fn run_tx(
    binary: &Path,
    args: &[&OsStr],
    node: &str,
    key: &Path,
    what: &str,
) -> Result<String, TestnetError> {
    let output = Command::new(binary)
        .args(args)
        .arg("--key")
        .arg(key)
        .args(["--node", node, "--wait", "--json"])
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("cannot run {}", binary.display())))?;
    if !output.status.success() {
        return Err(TestnetError::Binary(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The id in the `field` of the command's JSON line (`service`, `process`).
fn id_field(stdout: &str, field: &str) -> Result<String, TestnetError> {
    stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v.get(field)?.as_str().map(str::to_string))
        .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            TestnetError::Binary(format!(
                "the command printed no {field} id I can read: {stdout}"
            ))
        })
}

/// Appends a `[[runner]]` section for `service` to the home's config.toml; `program`: the
/// command line of an external service's program.
pub fn add_runner(
    home: &Path,
    service: &str,
    mode: Mode,
    program: Option<&str>,
) -> Result<(), TestnetError> {
    let path = home.join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(io(format!("read {}", path.display())))?;
    let mut config: toml::Table = toml::from_str(&text)
        .map_err(|e| TestnetError::Binary(format!("{}: {e}", path.display())))?;
    let mut runner = toml::Table::new();
    runner.insert("service".into(), service.into());
    runner.insert("stake".into(), toml::Value::Integer(RUNNER_STAKE as i64));
    runner.insert(
        "price_per_call".into(),
        toml::Value::Integer(PRICE_PER_CALL as i64),
    );
    runner.insert(
        "price_per_kib".into(),
        toml::Value::Integer(PRICE_PER_KIB as i64),
    );
    runner.insert("max_open".into(), toml::Value::Integer(MAX_OPEN as i64));
    runner.insert("mode".into(), mode.name().into());
    if let Some(program) = program {
        runner.insert("program".into(), program.into());
    }
    let runners = config
        .entry("runner")
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    match runners {
        toml::Value::Array(list) => list.push(toml::Value::Table(runner)),
        _ => {
            return Err(TestnetError::Binary(format!(
                "{}: 'runner' is not a list of sections",
                path.display()
            )));
        }
    }
    let text = toml::to_string(&config)
        .map_err(|e| TestnetError::Binary(format!("{}: {e}", path.display())))?;
    std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))
}

/// Sets `params.NAME` in a home's genesis.json (every home gets the same, before any start).
pub fn set_genesis_params(
    home: &Path,
    params: &[(String, serde_json::Value)],
) -> Result<(), TestnetError> {
    if params.is_empty() {
        return Ok(());
    }
    let path = home.join("genesis.json");
    let text = std::fs::read_to_string(&path).map_err(io(format!("read {}", path.display())))?;
    let mut genesis: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| TestnetError::Binary(format!("{}: {e}", path.display())))?;
    let Some(section) = genesis.get_mut("params").and_then(|p| p.as_object_mut()) else {
        return Err(TestnetError::Binary(format!(
            "{}: no params object",
            path.display()
        )));
    };
    for (name, value) in params {
        section.insert(name.clone(), value.clone());
    }
    let text = serde_json::to_string_pretty(&genesis)
        .map_err(|e| TestnetError::Binary(format!("{}: {e}", path.display())))?;
    std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))
}

/// Waits until the node's log says its `count` runners registered (the agent logs it once the
/// chain holds each runner), so the first execution requests find runners to assign.
pub fn wait_registered(log: &Path, count: usize, timeout: Duration) -> Result<(), TestnetError> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read(log).unwrap_or_default();
        if String::from_utf8_lossy(&text)
            .matches("runner registered")
            .count()
            >= count
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(TestnetError::Node(format!(
                "not {count} 'runner registered' within {timeout:?}; the end of {}:\n{}",
                log.display(),
                crate::network::log_tail(log, 15)
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The runners of `service` a node's log says its agent registered, as (id, mode), first
/// registration first (a restarted node logs its runners again).
pub fn registered_runners(log: &Path, service: &str) -> Vec<(String, String)> {
    let text = std::fs::read(log).unwrap_or_default();
    let short = service.get(..12).unwrap_or(service);
    let mut found: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(&text).lines() {
        if !line.contains("runner registered") || !line.contains(&format!("(service {short})")) {
            continue;
        }
        let value = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .map(|v| v.trim_matches('"').to_string())
        };
        if let (Some(id), Some(mode)) = (value("id="), value("mode="))
            && !found.iter().any(|(known, _)| *known == id)
        {
            found.push((id, mode));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_has_one_liar_outvoted_by_honest_runners() {
        let p = plan(4);
        assert_eq!(p.len(), 4);
        assert_eq!(p[3], (3, Mode::WrongResult));
        assert!(p[..3].iter().all(|(_, m)| *m == Mode::Honest));
        assert!(plan(3).iter().all(|(_, m)| *m == Mode::Honest));
        assert_eq!(
            plan(7).iter().filter(|(_, m)| *m != Mode::Honest).count(),
            1
        );
    }

    #[test]
    fn the_tick_period_follows_the_event_share_within_bounds() {
        // 200 tx/s with a tenth of events: 20 reports a second wanted, 4 a tick: 1 s.
        assert_eq!(tick_period(200, 0.1, 4), 1);
        // 200 tx/s with 1 %: 2 a second, 4 a tick: every 2 s.
        assert_eq!(tick_period(200, 0.01, 4), 2);
        assert_eq!(tick_period(10, 0.01, 4), 40);
        assert_eq!(tick_period(1, 0.001, 4), MAX_TICK_PERIOD);
        assert_eq!(tick_period(0, 0.5, 4), MAX_TICK_PERIOD);
    }

    #[test]
    fn ids_are_read_from_the_commands_json_line() {
        let id = "ab".repeat(32);
        let out = format!("noise\n{{\"hash\": \"x\", \"process\": \"{id}\"}}\n");
        assert_eq!(id_field(&out, "process").unwrap(), id);
        assert!(id_field(&out, "service").is_err());
        assert!(id_field("{\"service\": \"abc\"}", "service").is_err());
    }

    #[test]
    fn inputs_encode_as_the_task_schema_decodes_them() {
        let schema: Schema = serde_json::from_str(r#"{"a":"int","b":"int"}"#).unwrap();
        let hex = add_inputs_hex(20, 22).unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(
            schema.decode(&bytes).unwrap().to_json(),
            serde_json::json!({"a": 20, "b": 22})
        );
    }

    #[test]
    fn the_definition_keeps_the_tasks_with_a_longer_timeout() {
        let def: serde_json::Value = serde_json::from_str(&arith_definition().unwrap()).unwrap();
        assert_eq!(def["name"], "arith");
        assert_eq!(def["tasks"][0]["key"], "add");
        assert_eq!(def["tasks"][0]["timeout_ms"], TASK_TIMEOUT_MS);
    }

    #[test]
    fn runner_sections_append_and_genesis_params_are_set() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("config.toml"), "moniker = \"n\"\n").unwrap();
        add_runner(home.path(), &"ab".repeat(32), Mode::Honest, None).unwrap();
        add_runner(
            home.path(),
            &"cd".repeat(32),
            Mode::WrongResult,
            Some("bash t.sh 2"),
        )
        .unwrap();
        let text = std::fs::read_to_string(home.path().join("config.toml")).unwrap();
        let config: toml::Table = toml::from_str(&text).unwrap();
        let runners = config["runner"].as_array().unwrap();
        assert_eq!(runners.len(), 2);
        assert_eq!(runners[1]["mode"].as_str(), Some("wrong_result"));
        assert!(runners[0].get("program").is_none());
        assert_eq!(runners[1]["program"].as_str(), Some("bash t.sh 2"));
        assert_eq!(config["moniker"].as_str(), Some("n"));

        std::fs::write(
            home.path().join("genesis.json"),
            r#"{"params":{"commit_window_ms":5,"x":1}}"#,
        )
        .unwrap();
        set_genesis_params(home.path(), &genesis_params(Duration::ZERO)).unwrap();
        let g: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(home.path().join("genesis.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(g["params"]["commit_window_ms"], 5_000);
        assert_eq!(g["params"]["reveal_window_ms"], MIN_REVEAL_WINDOW_MS);
        assert_eq!(g["params"]["x"], 1);
        // The reveal window outlasts the longest planned outage.
        let reveal = |outage_s| {
            genesis_params(Duration::from_secs(outage_s))
                .into_iter()
                .find(|(name, _)| name == "reveal_window_ms")
                .and_then(|(_, v)| v.as_u64())
                .unwrap()
        };
        assert_eq!(reveal(12), 12_000 + OUTAGE_MARGIN_MS);
        assert_eq!(reveal(1), MIN_REVEAL_WINDOW_MS);
        std::fs::write(home.path().join("genesis.json"), "{}").unwrap();
        assert!(set_genesis_params(home.path(), &genesis_params(Duration::ZERO)).is_err());
    }

    #[test]
    fn registered_runners_are_read_from_the_log_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        let line = |service: &str, id: &str, mode: &str| {
            format!(
                "2026-12-07T23:02:22Z  INFO runnet_node::agent::runners: runner registered \
                 runner=runner[0] (service {service}) id={id} stake=2000000 status=Active \
                 mode=\"{mode}\"\n"
            )
        };
        let text = line("b8d3ff5ad25d", "aa", "honest")
            + &line("df8d2a68bd07", "bb", "honest")
            + "garbage line\n"
            + &line("b8d3ff5ad25d", "aa", "honest")
            + &line("b8d3ff5ad25d", "cc", "wrong_result");
        std::fs::write(&log, text).unwrap();
        let arith = format!("b8d3ff5ad25d{}", "0".repeat(52));
        assert_eq!(
            registered_runners(&log, &arith),
            [
                ("aa".to_string(), "honest".to_string()),
                ("cc".to_string(), "wrong_result".to_string())
            ]
        );
        assert!(registered_runners(&dir.path().join("none.log"), &arith).is_empty());
    }

    #[test]
    fn publish_output_yields_the_id_or_an_error() {
        let id = "ab".repeat(32);
        let out = format!("{{\"service\":\"{id}\",\"tx\":\"00\"}}\n");
        assert_eq!(id_field(&out, "service").unwrap(), id);
        assert!(id_field("{\"service\":\"xyz\"}", "service").is_err());
        assert!(id_field("garbage", "service").is_err());
    }
}
