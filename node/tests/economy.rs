//! The market end to end: 4 validator processes from `runnet testnet init`, each running
//! runners of several services through `[[runner]]` sections, their agents doing all the work.
//! One network, scenario after scenario:
//! - an honest request settles: runner, service owner and verifiers paid to the token;
//! - at once: a wrong-result runner rejected and slashed, its payer refunded; a silent runner
//!   expired at its deadline (a missed duty: no stake); an always-invalid verifier slashed while
//!   the honest runner is paid; and every node's metrics count the same settlements and slashes;
//! - a process fires on an event its ticker program reports on two nodes, runs a WebAssembly
//!   task and chains the external program's task on its result; meanwhile a service program that
//!   crashes on its task is logged clearly and only its execution expires;
//! - a runner killed between its commit and its reveal reveals after restart.
//!
//! Gas costs nothing on this chain, so every balance moves only by the market's payouts and
//! the assertions can be exact.

mod common;

use common::Net;
use runnet_node::config::{RunnerConfig, RunnerMode};
use runnet_state::objects::{runner_id, service_id};
use runnet_types::genesis::GasSchedule;
use runnet_types::process::{
    Constant, Edge, KeyPath, MapField, MapValue, Node, ProcessDefinition, event_id,
    process_execution_id,
};
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Address, Hash, Params, Payload, SecretKey};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const STAKE: u64 = 100_000;
const PRICE: u64 = 1_000;
const PRICE_KIB: u64 = 100;
const MAX_FEE: u64 = 1_000_000;
const VERIFIER_FEE: u64 = 1_000;
/// Chain time (ms) from assignment to the runner's deadline: 20 to 100 blocks at the pace.
const TIMEOUT: u64 = 10_000;
const LONG: Duration = Duration::from_secs(90);

fn params() -> Params {
    Params {
        gas: GasSchedule {
            transfer: 0,
            bond_validator: 0,
            unbond_validator: 0,
            unjail: 0,
            publish_service: 0,
            register_runner: 0,
            unregister_runner: 0,
            request_execution: 0,
            commit_result: 0,
            reveal_result: 0,
            submit_result: 0,
            commit_verdict: 0,
            reveal_verdict: 0,
            create_process: 0,
            fund_process: 0,
            close_process: 0,
            emit_event: 0,
            evidence: 0,
            per_byte: 0,
            per_stored_byte: 0,
            ..GasSchedule::default()
        },
        min_runner_stake: 1_000,
        verifier_fee: VERIFIER_FEE,
        verifiers_per_execution: 3,
        // Wide enough that a verifier on a slow, loaded machine (CI runs debug builds on 2 cores)
        // still commits in time: a missed commit forfeits the verifier's fee, and the payouts the
        // test asserts would change. Commits close the window early once all are in.
        commit_window_ms: 8_000,
        // Reveals settle early once all are in; a long window leaves a restarted node time.
        reveal_window_ms: 20_000,
        event_window_ms: 10_000,
        ..Params::default()
    }
}

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn ints(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `arith` from examples/services under another name (one service per scenario), with a
/// longer timeout.
fn arith(name: &str) -> (Vec<u8>, Bundle) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services");
    let json = std::fs::read_to_string(dir.join("arith.json")).unwrap();
    let mut definition: ServiceDefinition = serde_json::from_str(&json).unwrap();
    definition.name = name.into();
    for task in &mut definition.tasks {
        task.timeout_ms = TIMEOUT;
    }
    let wat = std::fs::read_to_string(dir.join("arith.wat")).unwrap();
    let module = runnet_vm_exec::wat_to_wasm(&wat).unwrap();
    (definition.to_canonical_bytes(), Bundle::Wasm(module))
}

/// An external service whose program is `script`: a trusted task `double {x} -> {y}` and an
/// event `tick {seq}`.
fn external(name: &str, script: &str) -> (Vec<u8>, Bundle) {
    let definition: ServiceDefinition = serde_json::from_value(serde_json::json!({
        "name": name,
        "tasks": [{"key": "double", "inputs": {"x": "int"}, "outputs": {"y": "int"},
                   "max_output_bytes": 64, "verification": "trusted", "timeout_ms": TIMEOUT}],
        "events": [{"key": "tick", "data": {"seq": "int"}}]
    }))
    .unwrap();
    let bundle = Bundle::External {
        digest: Hash::digest(script.as_bytes()),
    };
    (definition.to_canonical_bytes(), bundle)
}

/// Waits for the file `go.flag` in its folder (the node's home), reports tick 1 and 2, and
/// doubles x on request (a line such as `{"id":3,"inputs":{"x":42},"task":"double"}`). The
/// ticking loop ends with its node (`$PPID`) or after two minutes.
const TICKER: &str = r#"
( n=0
  until [ -e go.flag ]; do
    kill -0 $PPID 2>/dev/null && [ $n -lt 600 ] || exit 0
    n=$((n + 1)); sleep 0.2
  done
  for seq in 1 2; do echo "{\"event\":\"tick\",\"data\":{\"seq\":$seq}}"; sleep 1; done ) &
while read -r line; do
  id=$(echo "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
  x=$(echo "$line" | sed 's/.*"x":\(-*[0-9]*\).*/\1/')
  echo "{\"id\":$id,\"outputs\":{\"y\":$((x * 2))}}"
done
"#;

/// Dies on its first task.
const CRASHER: &str = r#"
read -r line
echo "crasher: giving up on purpose" >&2
exit 3
"#;

struct Service {
    definition: Vec<u8>,
    bundle: Bundle,
    id: Hash,
}

impl Service {
    fn new(developer: &Address, (definition, bundle): (Vec<u8>, Bundle)) -> Service {
        let id = service_id(developer, &definition, &bundle.digest());
        Service {
            definition,
            bundle,
            id,
        }
    }

    fn publish(&self) -> Payload {
        Payload::PublishService {
            definition: self.definition.clone(),
            bundle: self.bundle.clone(),
        }
    }
}

fn runner(service: &Service, mode: RunnerMode, program: Option<&Path>) -> RunnerConfig {
    RunnerConfig {
        service: service.id.to_string(),
        stake: STAKE,
        price_per_call: PRICE,
        price_per_kib: PRICE_KIB,
        max_open: 10,
        program: program.map(|p| format!("sh {}", p.display())),
        timeout_ms: 10_000,
        mode,
    }
}

fn request(service: &Service, task: &str, inputs: Vec<u8>, runner: Hash) -> Payload {
    Payload::RequestExecution {
        service: service.id,
        task: task.into(),
        inputs,
        max_fee: MAX_FEE,
        runner: Some(runner),
    }
}

fn execution(net: &Net, id: &Hash) -> Value {
    net.query(0, &format!("/v1/execution/{id}"))
        .unwrap_or(Value::Null)
}

/// Waits until the execution is final on node 0 and returns it.
fn settled(net: &Net, id: &Hash, what: &str) -> Value {
    let mut last = Value::Null;
    net.wait(what, LONG, |n| {
        last = execution(n, id);
        matches!(
            last["status"].as_str(),
            Some("completed" | "completed_unverified" | "rejected" | "expired" | "cancelled")
        )
    });
    last
}

fn stake(net: &Net, runner: &Hash) -> u64 {
    net.query(0, &format!("/v1/runner/{runner}")).unwrap()["stake"]
        .as_u64()
        .unwrap()
}

fn output(result: &Value) -> Vec<u8> {
    result["Output"]
        .as_array()
        .unwrap_or_else(|| panic!("an output, not {result}"))
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect()
}

#[test]
fn runners_verifiers_and_emitters_at_work_on_four_nodes() {
    let mut net = Net::init_with(4, 0, 0, |opts| opts.params = params());
    let scripts = net.dir.path().to_path_buf();
    std::fs::write(scripts.join("ticker.sh"), TICKER).unwrap();
    std::fs::write(scripts.join("crasher.sh"), CRASHER).unwrap();

    let developer = key(1);
    let dev = developer.public().address();
    let owners: Vec<Address> = (0..4)
        .map(|i| net.account_key(i).public().address())
        .collect();
    let ok = Service::new(&dev, arith("arith-ok"));
    let wrong = Service::new(&dev, arith("arith-wrong"));
    let silent = Service::new(&dev, arith("arith-silent"));
    let invalid = Service::new(&dev, arith("arith-invalid"));
    let restart = Service::new(&dev, arith("arith-restart"));
    let ticker = Service::new(&dev, external("ticker", TICKER));
    let crasher = Service::new(&dev, external("crasher", CRASHER));
    let ticker_sh = scripts.join("ticker.sh");
    let crasher_sh = scripts.join("crasher.sh");
    use RunnerMode::*;
    for i in 0..4 {
        let mut sections = vec![
            runner(&ok, Honest, None),
            runner(&wrong, if i == 1 { WrongResult } else { Honest }, None),
            runner(&silent, if i == 2 { Silent } else { Honest }, None),
            runner(&invalid, if i == 3 { AlwaysInvalid } else { Honest }, None),
            runner(&restart, if i == 2 { Silent } else { Honest }, None),
        ];
        if i == 0 || i == 2 {
            sections.push(RunnerConfig {
                price_per_kib: 0,
                ..runner(&ticker, Honest, Some(&ticker_sh))
            });
        }
        if i == 3 {
            sections.push(runner(&crasher, Honest, Some(&crasher_sh)));
        }
        net.add_runners(i, &sections);
    }
    let mine = |service: &Service, i: usize| runner_id(&service.id, &owners[i]);

    net.start_all();
    net.wait("the network to make blocks", LONG, |n| {
        (0..4).all(|i| n.height(i) >= 2)
    });

    // Funds for the test's own accounts, then the WebAssembly services.
    let payers: Vec<SecretKey> = (10..16).map(key).collect();
    let process_owner = key(20);
    let funded: Vec<Address> = std::iter::once(dev)
        .chain(payers.iter().map(|k| k.public().address()))
        .chain([process_owner.public().address()])
        .collect();
    let transfers = funded
        .iter()
        .map(|to| Payload::Transfer {
            to: *to,
            amount: 100_000_000,
        })
        .collect();
    let hashes = net.submit_all(0, &net.faucet(), transfers);
    net.succeeded(0, hashes.last().unwrap(), LONG);
    let publishes = [&ok, &wrong, &silent, &invalid, &restart]
        .iter()
        .map(|s| s.publish())
        .collect();
    let hashes = net.submit_all(0, &developer, publishes);
    net.succeeded(0, hashes.last().unwrap(), LONG);
    net.wait("every node's runners registered", LONG, |n| {
        [&ok, &wrong, &silent, &invalid, &restart].iter().all(|s| {
            (0..4).all(|i| {
                n.query(0, &format!("/v1/runner/{}", mine(s, i)))
                    .is_some_and(|r| r["status"] == "active")
            })
        })
    });

    // 1. Honest: node 0 runs add(2, 40), nodes 1-3 verify; everyone is paid to the token.
    let before: Vec<u64> = owners.iter().map(|a| net.balance(0, a)).collect();
    let dev_before = net.balance(0, &dev);
    let payer = &payers[0];
    let payer_before = net.balance(0, &payer.public().address());
    let id = net.submit(0, payer, request(&ok, "add", ints(&[2, 40]), mine(&ok, 0)));
    let e = settled(&net, &id, "the honest execution to settle");
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(output(&e["result"]), ints(&[42]));
    let verifiers = e["verifiers"].as_array().unwrap();
    assert_eq!(verifiers.len(), 3, "{e}");
    for v in verifiers {
        assert_eq!(output(&v["verdict"]["Rerun"]), ints(&[42]), "{e}");
    }
    // Price: 1,000 per call + 100 per started KiB of 16 input and 8 output bytes.
    let price = PRICE + PRICE_KIB;
    let developer_share = price * 2_000 / 10_000;
    // The audit pool's share comes out of the runner's part (docs/economy.md, "Audits").
    let audit_pool_share = price * 500 / 10_000;
    let after: Vec<u64> = owners.iter().map(|a| net.balance(0, a)).collect();
    assert_eq!(
        after[0],
        before[0] + price - developer_share - audit_pool_share
    );
    for i in 1..4 {
        assert_eq!(after[i], before[i] + VERIFIER_FEE, "verifier on node {i}");
    }
    assert_eq!(net.balance(0, &dev), dev_before + developer_share);
    assert_eq!(
        net.balance(0, &payer.public().address()),
        payer_before - price - 3 * VERIFIER_FEE
    );

    // 2. Three faults at once.
    let payer_of = |k: &SecretKey| net.balance(0, &k.public().address());
    let (pw, ps, pi) = (&payers[1], &payers[2], &payers[3]);
    let (pw0, ps0, pi0) = (payer_of(pw), payer_of(ps), payer_of(pi));
    let wrong_id = net.submit(
        0,
        pw,
        request(&wrong, "add", ints(&[2, 40]), mine(&wrong, 1)),
    );
    let silent_id = net.submit(
        1,
        ps,
        request(&silent, "add", ints(&[5, 5]), mine(&silent, 2)),
    );
    let invalid_id = net.submit(
        2,
        pi,
        request(&invalid, "add", ints(&[7, 8]), mine(&invalid, 0)),
    );

    let e = settled(&net, &wrong_id, "the wrong result to be judged");
    assert_eq!(e["status"], "rejected", "{e}");
    assert_eq!(output(&e["result"]), ints(&[43]), "the runner's lie");
    assert!(e["rerun_fuel"].is_u64(), "the chain re-ran it: {e}");
    assert_eq!(stake(&net, &mine(&wrong, 1)), STAKE / 2);
    assert_eq!(payer_of(pw), pw0, "the payer gets everything back");

    let e = settled(&net, &silent_id, "the silent runner's deadline");
    assert_eq!(e["status"], "expired", "{e}");
    // A missed duty forfeits the fee, not stake (docs/economy.md, "Downtime").
    assert_eq!(stake(&net, &mine(&silent, 2)), STAKE);
    assert_eq!(payer_of(ps), ps0);

    let e = settled(&net, &invalid_id, "the lying verifier to be caught");
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(output(&e["result"]), ints(&[15]));
    assert!(e["rerun_fuel"].is_u64(), "the chain re-ran it: {e}");
    assert_eq!(stake(&net, &mine(&invalid, 3)), STAKE - STAKE / 5);
    assert_eq!(stake(&net, &mine(&invalid, 0)), STAKE, "the honest runner");
    // The runner is paid, and every verifier who revealed gets its fee, the liar too (it was
    // slashed for its verdict; its fee only covers its gas).
    assert_eq!(payer_of(pi), pi0 - price - 3 * VERIFIER_FEE);

    // Every node counted the same: 2 completed, 1 rejected, 1 expired, and 2 slashes (the wrong
    // runner, the lying verifier); the silent runner's missed duties take no stake.
    net.wait("every node's metrics to agree", LONG, |n| {
        let slashes = n.metric(0, "runnet_slashes_total");
        slashes == Some(2.0)
            && (0..4).all(|i| {
                n.metric(i, "runnet_executions_completed_total") == Some(2.0)
                    && n.metric(i, "runnet_executions_rejected_total") == Some(1.0)
                    && n.metric(i, "runnet_executions_expired_total") == Some(1.0)
                    && n.metric(i, "runnet_slashes_total") == slashes
            })
    });

    // 3. External programs: the ticker on nodes 0 and 2 drives a process; the crasher on node 3
    // dies on its task.
    let hashes = net.submit_all(0, &developer, vec![ticker.publish(), crasher.publish()]);
    net.succeeded(0, hashes.last().unwrap(), LONG);
    let field = |name: &str, node: u32, path: &str| MapField {
        name: name.into(),
        value: MapValue::Path(KeyPath {
            node,
            fields: vec![path.into()],
        }),
    };
    let definition = ProcessDefinition {
        nodes: vec![
            Node::Trigger {
                service: ticker.id,
                event: "tick".into(),
            },
            Node::Map {
                fields: vec![
                    field("a", 0, "seq"),
                    MapField {
                        name: "b".into(),
                        value: MapValue::Constant(Constant::Int(41)),
                    },
                ],
            },
            Node::Task {
                service: ok.id,
                task: "add".into(),
                max_fee: 20_000,
            },
            Node::Map {
                fields: vec![field("x", 2, "sum")],
            },
            Node::Task {
                service: ticker.id,
                task: "double".into(),
                max_fee: 20_000,
            },
        ],
        edges: (0..4).map(|i| Edge { from: i, to: i + 1 }).collect(),
    };
    let process = net.submit(
        1,
        &process_owner,
        Payload::CreateProcess {
            definition,
            balance: 1_000_000,
            spend_cap: 200_000,
        },
    );
    net.succeeded(1, &process, LONG);
    net.wait("the ticker and crasher runners registered", LONG, |n| {
        [(&ticker, 0), (&ticker, 2), (&crasher, 3)]
            .iter()
            .all(|(s, i)| {
                n.query(0, &format!("/v1/runner/{}", mine(s, *i)))
                    .is_some_and(|r| r["status"] == "active")
            })
    });
    for i in [0, 2] {
        std::fs::write(net.home(i).join("go.flag"), b"").unwrap();
    }
    let pc = &payers[4];
    let pc0 = payer_of(pc);
    let crash_id = net.submit(
        3,
        pc,
        request(&crasher, "double", ints(&[1]), mine(&crasher, 3)),
    );

    // tick {seq: 1} fires the process: add(1, 41) on arith-ok, then double(42) on the ticker.
    let tick = event_id(&ticker.id, "tick", &ints(&[1]));
    let first = process_execution_id(&process, &tick, 2);
    let second = process_execution_id(&process, &first, 4);
    net.wait("the event to fire the process", LONG, |n| {
        n.query(0, &format!("/v1/event/{tick}"))
            .is_some_and(|e| e["fired_at"].is_u64())
    });
    let event = net.query(0, &format!("/v1/event/{tick}")).unwrap();
    let reporters: Vec<&str> = event["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runner"].as_str().unwrap())
        .collect();
    assert_eq!(reporters.len(), 2, "{event}");
    let e = settled(&net, &first, "the process's first task");
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(output(&e["result"]), ints(&[42]));
    assert_eq!(e["payer"]["process"], process.to_string(), "{e}");
    let e = settled(&net, &second, "the chained task on the ticker's program");
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(output(&e["result"]), ints(&[84]));
    let p = net.query(0, &format!("/v1/process/{process}")).unwrap();
    assert!(p["executions"].as_u64().unwrap() >= 2, "{p}");

    let e = settled(&net, &crash_id, "the crashed program's execution to expire");
    assert_eq!(e["status"], "expired", "{e}");
    assert_eq!(payer_of(pc), pc0, "refunded");
    let log = net.log(3);
    assert!(
        log.contains("service program stopped while running a task (exit status: 3)")
            && log.contains("crasher: giving up on purpose"),
        "node 3's log should say what happened:\n{}",
        log.lines()
            .filter(|l| l.contains("program"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        net.metric(3, "runnet_agent_failures_total{reason=\"crash\"}"),
        Some(1.0)
    );

    // 4. Node 1 runs add(20, 22) for arith-restart and is killed once it has committed. Node 2
    // is a silent verifier there, so the reveals wait for the commit window to close.
    let pr = &payers[5];
    let restart_id = net.submit(
        0,
        pr,
        request(&restart, "add", ints(&[20, 22]), mine(&restart, 1)),
    );
    net.wait("node 1 to commit", LONG, |n| {
        execution(n, &restart_id)["commitment"].is_string()
    });
    net.kill(1);
    assert!(
        std::fs::read_to_string(net.home(1).join("agent/salts.json"))
            .unwrap()
            .contains(&restart_id.to_string()),
        "the salt is on disk before the commitment leaves"
    );
    net.wait("the reveal window to open without node 1", LONG, |n| {
        execution(n, &restart_id)["status"] == "runner_revealing"
    });
    net.start(1);
    let e = settled(&net, &restart_id, "node 1 to reveal after its restart");
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(output(&e["result"]), ints(&[42]));
    assert_eq!(stake(&net, &mine(&restart, 1)), STAKE, "never slashed");
    assert_eq!(
        stake(&net, &mine(&restart, 2)),
        STAKE,
        "the silent verifier, absent: a missed duty, no stake"
    );
    assert!(net.log(1).contains("waiting in agent/salts.json"));
    // Revealed and final: the secret is gone from disk.
    net.wait("node 1 to drop the revealed secret", LONG, |n| {
        !std::fs::read_to_string(n.home(1).join("agent/salts.json"))
            .unwrap_or_default()
            .contains(&restart_id.to_string())
    });
}
