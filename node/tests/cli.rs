//! The user command line against a real 1-validator network, run as the `runnet` binary: publish
//! services (WebAssembly text, binary, external program), run one, request an execution and
//! follow it to its end, own a process built from the examples, query every object; and bad
//! files, keys and inputs refused with a clear error, exit code 1 and nothing changed. Also the
//! example external service speaking the agent's line protocol.

mod common;

use common::Net;
use runnet_state::objects::{runner_id, service_id};
use runnet_types::{Address, Hash};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    fn first_line(&self) -> String {
        self.stdout.lines().next().unwrap_or_default().to_string()
    }
}

/// A command line from a template: its words split on spaces, each `{}` replaced by the next
/// value whole (values may hold spaces, as JSON and paths do).
fn words(template: &str, values: &[&str]) -> Vec<String> {
    let mut values = values.iter();
    let out: Vec<String> = template
        .split_whitespace()
        .map(|word| match word {
            "{}" => values.next().expect("a value for each {}").to_string(),
            other => other.to_string(),
        })
        .collect();
    assert!(
        values.next().is_none(),
        "more values than {{}} in {template}"
    );
    out
}

/// The user's side of a network: the binary pointed at node 0, key files in a folder.
struct User<'a> {
    net: &'a Net,
    dir: PathBuf,
}

impl<'a> User<'a> {
    fn new(net: &'a Net) -> User<'a> {
        let dir = net.dir.path().join("user");
        std::fs::create_dir_all(&dir).unwrap();
        User { net, dir }
    }

    fn run(&self, template: &str, values: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_runnet"))
            .args(words(template, values))
            .env("RUNNET_NODE", &self.net.summary.nodes[0].api)
            .env_remove("RUNNET_KEY")
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, template: &str, values: &[&str]) -> Run {
        let run = self.run(template, values);
        assert_eq!(
            run.code, 0,
            "runnet {template} {values:?} failed:\n{}{}",
            run.stdout, run.stderr
        );
        run
    }

    /// Fails with exit code 1 and an error that says each of `says`.
    fn refused(&self, template: &str, values: &[&str], says: &[&str]) {
        let run = self.run(template, values);
        assert_eq!(
            run.code, 1,
            "runnet {template} {values:?} should fail with 1:\n{}{}",
            run.stdout, run.stderr
        );
        for part in says {
            assert!(
                run.stderr.contains(part),
                "runnet {template} {values:?}: the error should say '{part}', it says: {}",
                run.stderr
            );
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// A new account key funded by the faucet; returns its file and address.
    fn funded_key(&self, name: &str, amount: u64) -> (String, Address) {
        let file = self.path(name);
        let address: Address = self
            .ok("keys generate --out {}", &[&file])
            .first_line()
            .parse()
            .unwrap();
        let faucet = self.net.summary.faucet_key.display().to_string();
        self.ok(
            "tx transfer --to {} --amount {} --key {} --wait",
            &[&address.to_string(), &amount.to_string(), &faucet],
        );
        (file, address)
    }

    /// (balance, nonce, next_nonce) as the node sees them.
    fn account(&self, address: &Address) -> (u64, u64, u64) {
        let a = self
            .net
            .client(0)
            .get(&format!("/v1/account/{address}"))
            .unwrap();
        (
            a["balance"].as_u64().unwrap(),
            a["nonce"].as_u64().unwrap(),
            a["next_nonce"].as_u64().unwrap(),
        )
    }

    fn query(&self, kind: &str, id: &str) -> Value {
        self.ok("query {} {} --json", &[kind, id]).json()
    }
}

fn example(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(path)
        .display()
        .to_string()
}

fn canonical(definition: &str) -> Vec<u8> {
    runnet_node::cli::load_definition(Path::new(definition))
        .unwrap()
        .1
}

fn started(salt: u16) -> Net {
    let mut net = Net::init(1, 0, salt);
    net.start(0);
    net.wait("the validator to commit", Duration::from_secs(60), |n| {
        n.height(0) >= 1
    });
    net
}

fn fee_of(run: &Run) -> u64 {
    run.json()["committed"]["receipt"]["fee"].as_u64().unwrap()
}

const PUBLISH: &str = "tx service publish --definition {} --wasm {} --key {} --wait --json";

#[test]
fn the_economy_from_the_command_line() {
    let net = started(0);
    let user = User::new(&net);
    let (dev_key, dev) = user.funded_key("dev.key", 100_000_000);
    let (runner_key, runner_owner) = user.funded_key("runner.key", 100_000_000);
    let (payer_key, payer) = user.funded_key("payer.key", 100_000_000);

    // A service from WebAssembly text: the id printed is the one the state computes.
    let arith_json = example("services/arith.json");
    let wat = example("services/arith.wat");
    let published = user.ok(PUBLISH, &[&arith_json, &wat, &dev_key]);
    let module = runnet_vm_exec::wat_to_wasm(&std::fs::read_to_string(&wat).unwrap()).unwrap();
    let arith = service_id(&dev, &canonical(&arith_json), &Hash::digest(&module));
    assert_eq!(published.json()["service"], json!(arith));
    let arith = arith.to_string();
    let shown = user.query("service", &arith);
    assert_eq!(shown["definition"]["name"], "arith");
    assert_eq!(shown["owner"], json!(dev));
    assert_eq!(shown["wasm"], true);
    assert_eq!(shown["bundle_digest"], json!(Hash::digest(&module)));
    // The same service twice is refused before it costs anything.
    user.refused(
        PUBLISH,
        &[&arith_json, &wat, &dev_key],
        &[&format!("service {arith} is published already")],
    );

    // From a binary module, in human form: the id comes first.
    let text_wat = std::fs::read_to_string(example("services/text.wat")).unwrap();
    let text_wasm = runnet_vm_exec::wat_to_wasm(&text_wat).unwrap();
    let wasm_file = user.path("text.wasm");
    std::fs::write(&wasm_file, &text_wasm).unwrap();
    let text_json = example("services/text.json");
    let run = user.ok(
        "tx service publish --definition {} --wasm {} --key {} --wait",
        &[&text_json, &wasm_file, &dev_key],
    );
    let text_service = service_id(&dev, &canonical(&text_json), &Hash::digest(&text_wasm));
    assert_eq!(run.first_line(), text_service.to_string());
    assert!(run.stdout.contains("committed at height"), "{}", run.stdout);
    let shown = user.query("service", &text_service.to_string());
    assert_eq!(shown["definition"]["name"], "text");

    // The external example: named by the blake3 of the program.
    let ticker_json = example("services/ticker.json");
    let ticker_sh = example("services/ticker.sh");
    let ticker = user
        .ok(
            "tx service publish --definition {} --external {} --key {} --wait --json",
            &[&ticker_json, &ticker_sh, &dev_key],
        )
        .json()["service"]
        .as_str()
        .unwrap()
        .to_string();
    let program_digest = Hash::digest(&std::fs::read(&ticker_sh).unwrap());
    let expected = service_id(&dev, &canonical(&ticker_json), &program_digest);
    assert_eq!(ticker, expected.to_string());
    let shown = user.query("service", &ticker);
    assert_eq!(shown["wasm"], false);
    assert_eq!(shown["bundle_digest"], json!(program_digest));

    // A runner of arith.
    let registered = user.ok(
        "tx runner register --service {} --stake 2000000 --price-per-call 1000 \
         --price-per-kib 10 --max-open 4 --key {} --wait --json",
        &[&arith, &runner_key],
    );
    let runner = runner_id(&arith.parse().unwrap(), &runner_owner).to_string();
    assert_eq!(registered.json()["runner"], json!(runner));
    let shown = user.query("runner", &runner);
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["stake"], 2_000_000);
    assert_eq!(shown["service"], json!(arith));

    // A request followed to its end. No node runs an agent, so the runner never commits: the
    // execution expires at its deadline, the payer gets the escrow back, the runner misses the
    // duty (no stake taken: docs/economy.md, "Downtime"), and the command prints it all and
    // exits 1.
    let (before, _, _) = user.account(&payer);
    let run = user.run(
        "tx execution request --service {} --task add --inputs {} --max-fee 100000 --key {} \
         --wait --json",
        &[&arith, r#"{"a": 20, "b": 22}"#, &payer_key],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("ended expired"), "{}", run.stderr);
    let answer = run.json();
    assert_eq!(answer["status"], "expired");
    assert_eq!(answer["execution"], answer["hash"]);
    assert_eq!(answer["final"]["runner"], json!(runner));
    assert_eq!(answer["result"], Value::Null);
    let execution = answer["execution"].as_str().unwrap().to_string();
    let (after, _, _) = user.account(&payer);
    assert_eq!(after, before - fee_of(&run), "only the gas is paid");
    assert_eq!(user.query("runner", &runner)["stake"], 2_000_000);
    assert_eq!(user.query("runner", &runner)["missed"], 1);
    let described = user.ok("query execution {}", &[&execution]);
    assert!(
        described.stdout.contains("expired at height"),
        "{}",
        described.stdout
    );
    assert!(
        described.stdout.contains(r#"inputs {"a":20,"b":22}"#),
        "{}",
        described.stdout
    );
    assert_eq!(user.query("execution", &execution)["status"], "expired");

    // Without --wait: the id first, the execution in the state once committed.
    let run = user.ok(
        "tx execution request --service {} --task mul --inputs {} --runner {} \
         --max-fee 100000 --key {}",
        &[&arith, r#"{"a": 6, "b": 7}"#, &runner, &payer_key],
    );
    let second = run.first_line();
    runnet_node::cli::wait_for(&net.client(0), &second, Duration::from_secs(60)).unwrap();
    let shown = user.query("execution", &second);
    assert_eq!(shown["task"], "mul");
    assert_eq!(shown["named_runner"], json!(runner));

    // The runner stops taking work.
    user.ok(
        "tx runner unregister --runner {} --key {} --wait",
        &[&runner, &runner_key],
    );
    assert_eq!(user.query("runner", &runner)["status"], "leaving");

    // The example process: ticker's events into arith's add, then mul on the sum. Its owner's
    // account moves with nothing else (the payer's still has an execution to settle).
    let (owner_key, owner) = user.funded_key("owner.key", 100_000_000);
    let (before, _, _) = user.account(&owner);
    let created = user.ok(
        "tx process create --file {} --balance 100000 --service {} --service {} --key {} \
         --wait --json",
        &[
            &example("processes/ticker_arith.json"),
            &format!("ticker={ticker}"),
            &format!("arith={arith}"),
            &owner_key,
        ],
    );
    let process = created.json()["process"].as_str().unwrap().to_string();
    assert_eq!(created.json()["hash"], json!(process));
    let deposit = 10_000; // Params::default().process_deposit
    let (after_create, _, _) = user.account(&owner);
    assert_eq!(after_create, before - 100_000 - deposit - fee_of(&created));
    let shown = user.query("process", &process);
    assert_eq!(shown["status"], "open");
    assert_eq!(shown["balance"], 100_000);
    assert_eq!(shown["owner"], json!(owner));
    assert_eq!(shown["definition"]["nodes"].as_array().unwrap().len(), 6);

    let funded = user.ok(
        "tx process fund --process {} --amount 5000 --key {} --wait --json",
        &[&process, &dev_key],
    );
    assert!(fee_of(&funded) > 0);
    assert_eq!(user.query("process", &process)["balance"], 105_000);

    // Only the owner closes it; then balance and deposit come back.
    user.refused(
        "tx process close --process {} --key {}",
        &[&process, &dev_key],
        &["belongs to", "not to this key's account"],
    );
    let closed = user.ok(
        "tx process close --process {} --key {} --wait --json",
        &[&process, &owner_key],
    );
    let (after_close, _, _) = user.account(&owner);
    assert_eq!(
        after_close,
        before - fee_of(&created) - fee_of(&closed) + 5_000,
        "the balance (with dev's 5,000) and the deposit return to the owner"
    );
    assert_eq!(user.query("process", &process)["status"], "closed");
    user.refused(
        "tx process fund --process {} --amount 1 --key {}",
        &[&process, &dev_key],
        &["is closed"],
    );
}

#[test]
fn bad_files_keys_and_inputs_are_refused_and_change_nothing() {
    let net = started(1);
    let user = User::new(&net);
    let (key, address) = user.funded_key("user.key", 100_000_000);
    let arith_json = example("services/arith.json");
    let wat = example("services/arith.wat");
    let arith = user.ok(PUBLISH, &[&arith_json, &wat, &key]).json()["service"]
        .as_str()
        .unwrap()
        .to_string();
    let ticker = user
        .ok(
            "tx service publish --definition {} --external {} --key {} --wait",
            &[
                &example("services/ticker.json"),
                &example("services/ticker.sh"),
                &key,
            ],
        )
        .first_line();
    let state = user.account(&address);
    assert_eq!(state.1, state.2, "nothing pending");
    let publish = "tx service publish --definition {} --wasm {} --key {}";

    // A malformed definition file: the error names the file and the field.
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(&arith_json).unwrap()).unwrap();
    let bad_definition = user.path("bad definition.json");
    let mut definition = original.clone();
    definition["tasks"][1]
        .as_object_mut()
        .unwrap()
        .remove("timeout_ms");
    std::fs::write(
        &bad_definition,
        serde_json::to_string_pretty(&definition).unwrap(),
    )
    .unwrap();
    user.refused(
        publish,
        &[&bad_definition, &wat, &key],
        &[
            &bad_definition,
            "tasks[1] ('mul'): missing field `timeout_ms`",
            "line ",
        ],
    );
    let mut definition = original.clone();
    definition["tasks"][0]["inputs"]["a"] = json!("integer");
    std::fs::write(&bad_definition, definition.to_string()).unwrap();
    user.refused(
        publish,
        &[&bad_definition, &wat, &key],
        &["tasks[0] ('add').inputs.a: unknown variant `integer`"],
    );
    let mut definition = original;
    definition["tasks"][1]["verification"] = json!({"public_effect": {"check": "nope"}});
    std::fs::write(&bad_definition, definition.to_string()).unwrap();
    user.refused(
        publish,
        &[&bad_definition, &wat, &key],
        &["task 'mul': check task 'nope' is not a task of this service"],
    );
    let not_json = user.path("not_json.json");
    std::fs::write(&not_json, "{\"name\": \"arith\",\n \"tasks\": [}\n").unwrap();
    user.refused(
        publish,
        &[&not_json, &wat, &key],
        &[&not_json, "not valid JSON", "line 2"],
    );
    // A bundle that is not WebAssembly.
    user.refused(
        publish,
        &[&arith_json, &arith_json, &key],
        &["not a WebAssembly binary, and as WebAssembly text"],
    );

    // Bad key files: missing, corrupt, wrong kind.
    let missing = user.path("missing.key");
    user.refused(
        publish,
        &[&arith_json, &wat, &missing],
        &[
            &format!("key file {missing} does not exist"),
            "--key FILE or RUNNET_KEY",
        ],
    );
    let corrupt = user.path("corrupt.key");
    std::fs::write(&corrupt, "{\"kind\": \"account\", \"secret\": ").unwrap();
    user.refused(
        "tx runner register --service {} --stake 2000000 --price-per-call 1 --max-open 1 \
         --key {}",
        &[&arith, &corrupt],
        &[&format!("key file {corrupt} is corrupt")],
    );
    let node_key = user.path("node.key");
    user.ok("keys generate --out {} --kind node", &[&node_key]);
    let request = "tx execution request --service {} --task {} --inputs {} --max-fee 100000 \
                   --key {}";
    user.refused(
        request,
        &[&arith, "add", r#"{"a": 1, "b": 2}"#, &node_key],
        &["holds a key of kind node, not the account key this needs"],
    );

    // Bad inputs: the error names the field, the task, or the JSON problem.
    for (task, inputs, says) in [
        (
            "add",
            r#"{"a": 1, "b": "two"}"#,
            "field 'b': expected an int",
        ),
        ("add", r#"{"a": 1}"#, "field 'b'"),
        (
            "add",
            r#"{"a": 1, "b": 2, "c": 3}"#,
            "field 'c': not in the schema",
        ),
        ("add", r#"{"a": 1, "#, "--inputs is not valid JSON"),
        (
            "sub",
            r#"{"a": 1, "b": 2}"#,
            "has no task 'sub'; its tasks: add, mul",
        ),
    ] {
        user.refused(request, &[&arith, task, inputs, &key], &[says]);
    }
    let unknown = Hash([7; 32]).to_string();
    user.refused(
        request,
        &[&unknown, "add", r#"{"a": 1, "b": 2}"#, &key],
        &[&format!("no service {unknown}")],
    );
    user.refused(
        request,
        &["nope", "add", "{}", &key],
        &["'nope' is not a service id"],
    );

    // Bad process files: an unbound name, a task fed the wrong record, an unknown node kind.
    let process_file = example("processes/ticker_arith.json");
    let ticker_binding = format!("ticker={ticker}");
    let arith_binding = format!("arith={arith}");
    user.refused(
        "tx process create --file {} --balance 1000 --service {} --key {}",
        &[&process_file, &ticker_binding, &key],
        &[
            &process_file,
            "'arith' is not a service id",
            "--service arith=ID",
        ],
    );
    let create = "tx process create --file {} --balance 1000 --service {} --service {} --key {}";
    let mut process: Value =
        serde_json::from_str(&std::fs::read_to_string(&process_file).unwrap()).unwrap();
    // add (node 3) straight under the trigger, whose data {seq} is not add's {a, b}.
    process["edges"] = json!([{"from": 0, "to": 3}, {"from": 0, "to": 1}, {"from": 1, "to": 2},
                              {"from": 3, "to": 4}, {"from": 4, "to": 5}]);
    let bad_process = user.path("bad_process.json");
    std::fs::write(&bad_process, process.to_string()).unwrap();
    user.refused(
        create,
        &[&bad_process, &ticker_binding, &arith_binding, &key],
        &[&bad_process, "node 3:", "put a map before it"],
    );
    process["nodes"][2] = json!({"mapp": {}});
    std::fs::write(&bad_process, process.to_string()).unwrap();
    user.refused(
        create,
        &[&bad_process, &ticker_binding, &arith_binding, &key],
        &["nodes[2]: unknown variant `mapp`"],
    );
    user.refused(
        "tx process close --process {} --key {}",
        &[&unknown, &key],
        &[&format!("no process {unknown}")],
    );
    user.refused(
        "tx runner unregister --runner {} --key {}",
        &[&unknown, &key],
        &[&format!("no runner {unknown}")],
    );

    // Wrong arguments are usage errors, exit code 2.
    let run = user.run(
        "tx execution request --service {} --key {}",
        &[&arith, &key],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = user.run(
        "tx service publish --definition {} --wasm {} --external-digest {} --key {}",
        &[&arith_json, &wat, &unknown, &key],
    );
    assert_eq!(run.code, 2, "one bundle only: {}", run.stderr);

    // Nothing changed: same balance, same nonce, nothing pending.
    assert_eq!(user.account(&address), state);
}

/// The example external service, driven as the runner agent drives it (docs/runners.md).
#[test]
fn the_ticker_example_speaks_the_line_protocol() {
    let mut child = Command::new("bash")
        .args([example("services/ticker.sh").as_str(), "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_in, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_in.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    for call in [
        json!({"id": 1, "task": "seq_at", "inputs": {"time": 1_700_000_123}}),
        json!({"id": 2, "task": "nope", "inputs": {}}),
        json!({"id": 3, "task": "seq_at", "inputs": {"time": -1}}),
    ] {
        writeln!(stdin, "{call}").unwrap();
    }
    stdin.flush().unwrap();
    let mut answers = std::collections::BTreeMap::new();
    let mut ticks = Vec::new();
    // A bound on a broken script, not a measure of speed: two ticks come a second apart.
    while answers.len() < 3 || ticks.len() < 2 {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the ticker answered every call and ticked twice");
        let message: Value = serde_json::from_str(&line).unwrap();
        let mut fields: Vec<&str> = message
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        if let Some(id) = message["id"].as_u64() {
            assert!(
                fields == ["id", "outputs"] || fields == ["error", "id"],
                "an answer has its id and outputs or error, nothing else: {line}"
            );
            answers.insert(id, message);
        } else {
            assert_eq!(fields, ["data", "event"], "{line}");
            assert_eq!(message["event"], "tick");
            ticks.push(message["data"]["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(answers[&1]["outputs"], json!({"seq": 1_700_000_123}));
    assert_eq!(answers[&2]["error"], "unknown task nope");
    assert!(
        answers[&3]["error"]
            .as_str()
            .unwrap()
            .contains("inputs.time")
    );
    assert!(ticks[1] > ticks[0], "ticks count up: {ticks:?}");
    // Closing stdin ends it cleanly.
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
