//! The economy's transactions from the command line: publish services, run them, request
//! executions and follow them, and own processes.
//!
//! Everything that can be checked before spending gas is checked first (the files, the inputs
//! against the task's schema, that the service, runner or process exists and is the key's to
//! act on), so a mistake is an error that changes nothing rather than a failed receipt. Each
//! command that creates an object prints its id on the first line: the id is computed as the
//! state computes it, so scripts can use it at once.

use super::files::{self, BundleSource};
use super::show;
use super::{Output, Sent, TxArgs, send};
use crate::client::{Client, ClientError};
use runnet_api::LiveOrPruned;
use runnet_api::objects::{ProcessStatus, Runner, RunnerStatus};
use runnet_state::objects::{runner_id, service_id};
use runnet_types::process::services_named;
use runnet_types::service::ServiceDefinition;
use runnet_types::tx::Amount;
use runnet_types::{Address, Hash, Payload};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum ServiceCommand {
    /// Publish a service: its definition and its bundle. Prints the service id first.
    Publish {
        /// The definition (JSON: name, description, tasks, events; see docs/economy.md).
        #[arg(long)]
        definition: PathBuf,
        #[command(flatten)]
        bundle: BundleArgs,
        #[command(flatten)]
        tx: TxArgs,
    },
}

/// Exactly one bundle.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct BundleArgs {
    /// A WebAssembly module: the binary (.wasm) or its text form (.wat).
    #[arg(long)]
    pub wasm: Option<PathBuf>,
    /// An external program that runners run themselves: the chain records the blake3 of the file.
    #[arg(long)]
    pub external: Option<PathBuf>,
    /// An external program named by its blake3 digest (64 hex digits).
    #[arg(long, value_name = "DIGEST")]
    pub external_digest: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum RunnerCommand {
    /// Run a service: lock stake and set prices. Prints the runner id first.
    Register {
        #[arg(long)]
        service: String,
        /// Stake to lock (at least the chain's min_runner_stake).
        #[arg(long)]
        stake: Amount,
        #[arg(long)]
        price_per_call: Amount,
        /// Price per KiB of inputs plus outputs.
        #[arg(long, default_value_t = 0)]
        price_per_kib: Amount,
        /// Most executions assigned at once.
        #[arg(long)]
        max_open: u32,
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Take no new work; the stake returns after the last duty settles.
    Unregister {
        #[arg(long)]
        runner: String,
        #[command(flatten)]
        tx: TxArgs,
    },
}

#[derive(clap::Subcommand)]
pub enum ExecutionCommand {
    /// Request a task; with --wait, follow it to its final status. Prints the execution id first.
    Request {
        #[arg(long)]
        service: String,
        /// The task's key.
        #[arg(long)]
        task: String,
        /// The inputs as JSON (`{"a": 1}`; bytes as hex strings), or @FILE.
        #[arg(long)]
        inputs: String,
        /// A runner of the service to ask (else one is drawn).
        #[arg(long)]
        runner: Option<String>,
        /// The most the whole execution may cost (escrowed at once, the rest refunded).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_fee: Amount,
        /// With --wait: how long to follow the execution before giving up.
        #[arg(long, default_value_t = 600)]
        wait_seconds: u64,
        #[command(flatten)]
        tx: TxArgs,
    },
}

#[derive(clap::Subcommand)]
pub enum ProcessCommand {
    /// Create a process from a definition file. Prints the process id first.
    Create {
        /// The process (JSON: nodes and edges; see docs/economy.md).
        #[arg(long = "file", value_name = "FILE")]
        path: PathBuf,
        /// Funds the process starts with (besides the chain's process_deposit).
        #[arg(long)]
        balance: Amount,
        /// The most it may spend in one block (default: the balance).
        #[arg(long)]
        spend_cap: Option<Amount>,
        /// Binds a service name used in the file to a service id (repeat for each name).
        #[arg(long = "service", value_name = "NAME=ID", value_parser = files::parse_binding)]
        services: Vec<(String, Hash)>,
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Add to a process's balance (anyone may).
    Fund {
        #[arg(long)]
        process: String,
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        amount: Amount,
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Close your process: its balance and deposit come back.
    Close {
        #[arg(long)]
        process: String,
        #[command(flatten)]
        tx: TxArgs,
    },
}

/// What a command that creates an object prints: its id first, then the transaction.
fn created(kind: &str, id: &Hash, sent: &Sent) -> Output {
    let mut json = sent.json();
    json[kind] = json!(id);
    Output::new(json, format!("{id}\n{}", sent.text()))
}

fn done(sent: &Sent) -> Output {
    Output::new(sent.json(), sent.text())
}

pub fn service(command: ServiceCommand) -> Result<Output, String> {
    let ServiceCommand::Publish {
        definition,
        bundle,
        tx,
    } = command;
    let (key, client) = tx.open()?;
    let (parsed, canonical) = files::load_definition(&definition)?;
    let source = match (&bundle.wasm, &bundle.external, &bundle.external_digest) {
        (Some(path), _, _) => BundleSource::Wasm(path),
        (_, Some(path), _) => BundleSource::External(path),
        (_, _, Some(digest)) => BundleSource::Digest(digest),
        _ => return Err("give the bundle: --wasm, --external or --external-digest".into()),
    };
    let bundle = files::load_bundle(source, &parsed)?;
    let id = service_id(&key.public().address(), &canonical, &bundle.digest());
    if client
        .find(&format!("/v1/service/{id}"))
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err(format!(
            "service {id} is published already (one owner, definition and bundle give one id)"
        ));
    }
    let payload = Payload::PublishService {
        definition: canonical,
        bundle,
    };
    let sent = send(&client, &key, payload, &tx.gas)?;
    Ok(created("service", &id, &sent))
}

pub fn runner(command: RunnerCommand) -> Result<Output, String> {
    match command {
        RunnerCommand::Register {
            service,
            stake,
            price_per_call,
            price_per_kib,
            max_open,
            tx,
        } => {
            let service = files::parse_id(&service, "service")?;
            let (key, client) = tx.open()?;
            show::service_definition(&client, &service.to_string())?;
            let id = runner_id(&service, &key.public().address());
            if let Some(existing) = find_runner(&client, &id)?
                && existing.status != RunnerStatus::Left
            {
                return Err(format!(
                    "this account runs service {service} already: runner {id} is {}",
                    runner_status(&existing.status)
                ));
            }
            let payload = Payload::RegisterRunner {
                service,
                stake,
                price_per_call,
                price_per_kib,
                max_open,
            };
            let sent = send(&client, &key, payload, &tx.gas)?;
            Ok(created("runner", &id, &sent))
        }
        RunnerCommand::Unregister { runner, tx } => {
            let id = files::parse_id(&runner, "runner")?;
            let (key, client) = tx.open()?;
            let found = find_runner(&client, &id)?
                .ok_or_else(|| format!("no runner {id} on the node at {}", client.base()))?;
            check_owner(&found.owner, &key, "runner", &id)?;
            if found.status != RunnerStatus::Active {
                return Err(format!(
                    "runner {id} is {} already",
                    runner_status(&found.status)
                ));
            }
            let sent = send(
                &client,
                &key,
                Payload::UnregisterRunner { runner: id },
                &tx.gas,
            )?;
            Ok(done(&sent))
        }
    }
}

fn find_runner(client: &Client, id: &Hash) -> Result<Option<Runner>, String> {
    client
        .typed()
        .runner(id)
        .map_err(|e| ClientError::from(e).to_string())
}

/// A runner's status as the node names it (`jailed` with its end).
fn runner_status(status: &RunnerStatus) -> String {
    match status {
        RunnerStatus::Jailed { until } => format!("jailed until {until} ms"),
        other => json!(other).as_str().unwrap_or("?").to_string(),
    }
}

fn check_owner(
    owner: &Address,
    key: &runnet_types::SecretKey,
    kind: &str,
    id: &Hash,
) -> Result<(), String> {
    let mine = key.public().address();
    if *owner != mine {
        return Err(format!(
            "{kind} {id} belongs to {owner}, not to this key's account {mine}"
        ));
    }
    Ok(())
}

/// `--inputs`: JSON text, or `@FILE`.
fn inputs_json(text: &str) -> Result<Value, String> {
    match text.strip_prefix('@') {
        Some(path) => {
            let bytes = files::read_bounded(std::path::Path::new(path), "inputs")?;
            serde_json::from_slice(&bytes).map_err(|e| format!("{path}: not valid JSON: {e}"))
        }
        None => serde_json::from_str(text).map_err(|e| format!("--inputs is not valid JSON: {e}")),
    }
}

/// The inputs as record bytes of the task's input schema, or an error naming the field.
pub fn encode_inputs(
    definition: &ServiceDefinition,
    service: &Hash,
    task: &str,
    inputs: &Value,
) -> Result<Vec<u8>, String> {
    let Some(task_definition) = definition.task(task) else {
        let keys: Vec<&str> = definition.tasks.iter().map(|t| t.key.as_str()).collect();
        return Err(format!(
            "service {service} has no task '{task}'; its tasks: {}",
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            }
        ));
    };
    let schema = &task_definition.inputs;
    schema
        .value_from_json(inputs)
        .and_then(|value| schema.encode(&value))
        .map_err(|e| {
            format!(
                "--inputs do not fit task '{task}': {e} (the task takes {})",
                serde_json::to_string(schema).unwrap_or_default()
            )
        })
}

pub fn execution(command: ExecutionCommand) -> Result<Output, String> {
    let ExecutionCommand::Request {
        service,
        task,
        inputs,
        runner,
        max_fee,
        wait_seconds,
        tx,
    } = command;
    let service = files::parse_id(&service, "service")?;
    let runner = runner.map(|r| files::parse_id(&r, "runner")).transpose()?;
    let (key, client) = tx.open()?;
    let definition = show::service_definition(&client, &service.to_string())?;
    let inputs = encode_inputs(&definition, &service, &task, &inputs_json(&inputs)?)?;
    if let Some(runner) = runner {
        let found = find_runner(&client, &runner)?
            .ok_or_else(|| format!("no runner {runner} on the node at {}", client.base()))?;
        if found.service != service {
            return Err(format!(
                "runner {runner} runs service {}, not {service}",
                found.service
            ));
        }
        if found.status != RunnerStatus::Active {
            return Err(format!(
                "runner {runner} is {}: it takes no work",
                runner_status(&found.status)
            ));
        }
    }
    let payload = Payload::RequestExecution {
        service,
        task: task.clone(),
        inputs,
        max_fee,
        runner,
    };
    let sent = send(&client, &key, payload, &tx.gas)?;
    // The state names a requested execution by the hash of the request.
    let id = files::parse_id(&sent.hash, "execution")?;
    if !tx.gas.wait {
        return Ok(created("execution", &id, &sent));
    }
    let last = show::follow(&client, &id, Duration::from_secs(wait_seconds))?;
    let task_definition = definition.task(&task);
    let ended = show::status(&last);
    let status = show::status_name(ended);
    let mut json = sent.json();
    json["execution"] = json!(id);
    json["status"] = json!(status);
    json["result"] = show::result_json(&last, task_definition);
    json["final"] = json!(last);
    let mut output = Output::new(
        json,
        format!(
            "{id}\n{}\n{}",
            sent.text(),
            show::describe(&last, task_definition)
        ),
    );
    if !show::completed(ended) {
        output.failure = Some(format!("execution {id} ended {status}"));
    }
    Ok(output)
}

/// The node's view of a process, its owner and status (a pruned process's from its summary);
/// `None` when the node has no process endpoint to ask.
fn known_process(client: &Client, id: &Hash) -> Result<Option<(Address, ProcessStatus)>, String> {
    match client.typed().process(id) {
        Ok(Some(LiveOrPruned::Live(p))) => Ok(Some((p.owner, p.status))),
        Ok(Some(LiveOrPruned::Pruned(p))) => Ok(Some((p.summary.owner, p.summary.status))),
        Ok(None) => Err(format!("no process {id} on the node at {}", client.base())),
        Err(e) if e.reason() == Some(runnet_api::Reason::NotFound) => Ok(None),
        Err(e) => Err(ClientError::from(e).to_string()),
    }
}

/// The chain's parameters from the node; the defaults from a node without `GET /v1/params`.
fn chain_params(client: &Client) -> Result<runnet_types::Params, String> {
    match client.typed().params() {
        Ok(answer) => Ok(answer.params),
        Err(e) if e.status() == Some(404) => Ok(runnet_types::Params::default()),
        Err(e) => Err(crate::client::ClientError::from(e).to_string()),
    }
}

pub fn process(command: ProcessCommand) -> Result<Output, String> {
    match command {
        ProcessCommand::Create {
            path: file,
            balance,
            spend_cap,
            services,
            tx,
        } => {
            let bindings: BTreeMap<String, Hash> = services.into_iter().collect();
            let (key, client) = tx.open()?;
            let definition = files::load_process(&file, &bindings)?;
            let mut known = BTreeMap::new();
            for service in services_named(&definition) {
                let found = show::service_definition(&client, &service.to_string())
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                known.insert(service, found);
            }
            // Structure and references only: the chain applies its own max_process_nodes.
            definition
                .compile(usize::MAX, |id| known.get(id))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let payload = Payload::CreateProcess {
                definition,
                balance,
                // At least one walk step at the chain's prices (`GET /v1/params`; the defaults
                // from a node without it): the chain refuses a spend cap that cannot pay for one
                // (docs/economy.md, "Processes and emitters").
                spend_cap: match spend_cap {
                    Some(cap) => cap,
                    None => {
                        let p = chain_params(&client)?;
                        balance.max(p.min_gas_price.saturating_mul(p.gas.walk_step))
                    }
                },
            };
            let sent = send(&client, &key, payload, &tx.gas)?;
            let id = files::parse_id(&sent.hash, "process")?;
            Ok(created("process", &id, &sent))
        }
        ProcessCommand::Fund {
            process,
            amount,
            tx,
        } => {
            let id = files::parse_id(&process, "process")?;
            let (key, client) = tx.open()?;
            if let Some((_, status)) = known_process(&client, &id)?
                && status == ProcessStatus::Closed
            {
                return Err(format!("process {id} is closed: it takes no funds"));
            }
            let payload = Payload::FundProcess {
                process: id,
                amount,
            };
            Ok(done(&send(&client, &key, payload, &tx.gas)?))
        }
        ProcessCommand::Close { process, tx } => {
            let id = files::parse_id(&process, "process")?;
            let (key, client) = tx.open()?;
            if let Some((owner, status)) = known_process(&client, &id)? {
                check_owner(&owner, &key, "process", &id)?;
                if status == ProcessStatus::Closed {
                    return Err(format!("process {id} is closed already"));
                }
            }
            let payload = Payload::CloseProcess { process: id };
            Ok(done(&send(&client, &key, payload, &tx.gas)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_against_the_task_schema() {
        let definition: ServiceDefinition = serde_json::from_value(json!({
            "name": "arith",
            "tasks": [{"key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
                       "max_output_bytes": 64, "verification": "deterministic", "timeout_ms": 10000}]
        }))
        .unwrap();
        let service = Hash([3; 32]);
        let bytes = encode_inputs(&definition, &service, "add", &json!({"a": 1, "b": -2})).unwrap();
        let expected: Vec<u8> = [1i64, -2].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(bytes, expected);
        let e =
            encode_inputs(&definition, &service, "add", &json!({"a": 1, "b": "two"})).unwrap_err();
        assert!(e.contains("field 'b': expected an int"), "{e}");
        let e = encode_inputs(
            &definition,
            &service,
            "add",
            &json!({"a": 1, "b": 2, "c": 3}),
        )
        .unwrap_err();
        assert!(e.contains("field 'c': not in the schema"), "{e}");
        let e = encode_inputs(&definition, &service, "sub", &json!({})).unwrap_err();
        assert!(e.contains("no task 'sub'; its tasks: add"), "{e}");
        assert!(
            inputs_json("{\"a\": ")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            inputs_json("@/nonexistent/inputs.json")
                .unwrap_err()
                .contains("does not exist")
        );
    }
}
