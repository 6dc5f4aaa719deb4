//! Executions as a person reads them: status, who runs it, and inputs and result decoded from
//! record bytes with the task's schemas; and following one to its final status.

use crate::client::{Client, ClientError};
use runnet_api::objects::ExecutionStatus;
use runnet_api::{ExecutionAnswer, LiveOrPruned, Service};
use runnet_types::Hash;
use runnet_types::execution::TaskResult;
use runnet_types::record::Schema;
use runnet_types::service::{ServiceDefinition, TaskDefinition};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An execution's status, from the object or from the summary left after pruning.
pub fn status(execution: &ExecutionAnswer) -> ExecutionStatus {
    match execution {
        LiveOrPruned::Live(e) => e.status,
        LiveOrPruned::Pruned(p) => p.summary.status,
    }
}

/// A status's name, as in the JSON (`completed_unverified`).
pub fn status_name(status: ExecutionStatus) -> String {
    json!(status).as_str().unwrap_or("unknown").to_string()
}

/// The statuses an execution never leaves (`ExecutionStatus::is_final` in the state).
pub fn is_final(status: ExecutionStatus) -> bool {
    use ExecutionStatus::*;
    matches!(
        status,
        Completed | CompletedUnverified | Rejected | Expired | Cancelled
    )
}

/// Whether the execution ended with the task done (verified or not).
pub fn completed(status: ExecutionStatus) -> bool {
    matches!(
        status,
        ExecutionStatus::Completed | ExecutionStatus::CompletedUnverified
    )
}

/// Polls the execution until its status is final, or fails after `limit`.
pub fn follow(client: &Client, id: &Hash, limit: Duration) -> Result<ExecutionAnswer, String> {
    let started = Instant::now();
    let mut last = String::from("unknown");
    loop {
        match client.typed().execution(id) {
            Ok(Some(execution)) => {
                let now = status(&execution);
                if is_final(now) {
                    return Ok(execution);
                }
                last = status_name(now);
            }
            Ok(None) => {}
            Err(e) => return Err(ClientError::from(e).to_string()),
        }
        if started.elapsed() > limit {
            return Err(format!(
                "execution {id} is still {last} after {} s: follow it with `runnet query execution {id}`",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The service's definition, as the node shows it.
pub fn service_definition(client: &Client, service: &str) -> Result<ServiceDefinition, String> {
    let id: Hash = service
        .parse()
        .map_err(|e| format!("'{service}' is not a service id: {e}"))?;
    let found = client
        .typed()
        .service(&id)
        .map_err(|e| ClientError::from(e).to_string())?
        .ok_or_else(|| {
            format!(
                "no service {service} on the node at {}: check the id, or publish it first",
                client.base()
            )
        })?;
    serde_json::from_value(found.definition)
        .map_err(|e| format!("the node's definition of service {service} does not parse: {e}"))
}

fn decode(schema: &Schema, bytes: &[u8]) -> Value {
    match schema.decode(bytes) {
        Ok(v) => v.to_json(),
        Err(e) => json!(format!("0x{} (does not decode: {e})", hex::encode(bytes))),
    }
}

/// The result decoded: `{"outputs": ...}` or `{"error": "..."}`, or null without a result.
pub fn result_json(execution: &ExecutionAnswer, task: Option<&TaskDefinition>) -> Value {
    let LiveOrPruned::Live(execution) = execution else {
        return Value::Null;
    };
    match (&execution.result, task) {
        (None, _) => Value::Null,
        (Some(TaskResult::Output(bytes)), Some(task)) => {
            json!({"outputs": decode(&task.outputs, bytes)})
        }
        (Some(TaskResult::Output(bytes)), None) => {
            json!({"outputs": format!("0x{}", hex::encode(bytes))})
        }
        (Some(TaskResult::Error(bytes)), _) => {
            json!({"error": String::from_utf8_lossy(bytes).into_owned()})
        }
    }
}

/// The task an execution runs, when the node still shows its service.
pub fn task_of(client: &Client, execution: &ExecutionAnswer) -> Option<TaskDefinition> {
    let LiveOrPruned::Live(execution) = execution else {
        return None;
    };
    let definition = service_definition(client, &execution.service.to_string()).ok()?;
    definition.task(&execution.task).cloned()
}

/// A height or a time as the JSON shows it: the number, or `null`.
fn shown(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// A few lines about an execution; inputs and result decoded when `task` is known.
pub fn describe(answer: &ExecutionAnswer, task: Option<&TaskDefinition>) -> String {
    let execution = match answer {
        LiveOrPruned::Pruned(p) => {
            return format!(
                "execution {}: {} at height {} (pruned: only its summary is kept)",
                p.summary.id,
                status_name(p.summary.status),
                p.summary.settled_at
            );
        }
        LiveOrPruned::Live(e) => e,
    };
    let mut lines = vec![format!(
        "execution {}: {}{}",
        execution.id,
        status_name(execution.status),
        execution
            .settled_at
            .map(|h| format!(" at height {h}"))
            .unwrap_or_default()
    )];
    let inputs = match task {
        Some(task) => decode(&task.inputs, &execution.inputs).to_string(),
        None => format!("0x{}", hex::encode(&execution.inputs)),
    };
    lines.push(format!(
        "task {} of service {}, inputs {inputs}",
        execution.task, execution.service
    ));
    match execution.runner {
        Some(runner) => lines.push(format!(
            "runner {runner}, assigned at {}, deadline {}",
            shown(execution.assigned_at),
            shown(execution.deadline)
        )),
        None => lines.push(format!(
            "no runner assigned (requested at {})",
            execution.requested_at
        )),
    }
    let verifiers = execution.verifiers.len();
    if verifiers > 0 {
        lines.push(format!("{verifiers} verifiers drawn"));
    }
    match result_json(answer, task) {
        Value::Null => lines.push("no result".into()),
        result => lines.push(format!("result {result}")),
    }
    lines.push(format!(
        "max_fee {}, escrow left {}",
        execution.max_fee, execution.escrow
    ));
    lines.join("\n")
}

/// A service as a person reads it: what it is, and each task's schemas (what `--inputs` takes).
pub fn describe_service(service: &Service) -> String {
    let definition = &service.definition;
    let compact = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    let mut lines = vec![format!(
        "service {}: {} ({}, bundle {}), owner {}, published at height {}",
        service.id,
        definition["name"].as_str().unwrap_or("?"),
        if service.wasm {
            "WebAssembly"
        } else {
            "external program"
        },
        service.bundle_digest,
        service.owner,
        service.published_at
    )];
    if let Some(text) = definition["description"].as_str().filter(|t| !t.is_empty()) {
        lines.push(format!("  {text}"));
    }
    for task in definition["tasks"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  task {} {} -> {}, {}, timeout {} ms, outputs up to {} bytes",
            task["key"].as_str().unwrap_or("?"),
            compact(&task["inputs"]),
            compact(&task["outputs"]),
            task["verification"]
                .as_str()
                .map_or_else(|| compact(&task["verification"]), str::to_string),
            task["timeout_ms"],
            task["max_output_bytes"]
        ));
    }
    for event in definition["events"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  event {} {}",
            event["key"].as_str().unwrap_or("?"),
            compact(&event["data"])
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_api::Pruned;
    use runnet_api::objects::{Execution, ExecutionSummary, Payer, VerificationKind};
    use runnet_types::Address;

    fn task() -> TaskDefinition {
        serde_json::from_value(json!({"key": "add", "inputs": {"a": "int", "b": "int"},
            "outputs": {"sum": "int"}, "max_output_bytes": 64, "verification": "deterministic",
            "timeout_ms": 10000}))
        .unwrap()
    }

    fn execution(result: Option<TaskResult>) -> Execution {
        Execution {
            id: Hash([0xab; 32]),
            service: Hash([0xcd; 32]),
            task: "add".into(),
            inputs: [1i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect(),
            payer: Payer::Account(Address([1; 20])),
            max_fee: 10,
            escrow: 0,
            verification: VerificationKind::WasmRerun,
            requested_at: 2,
            named_runner: None,
            runner: Some(Hash([0xef; 32])),
            runner_owner: None,
            assigned_at: Some(3),
            deadline: None,
            commitment: None,
            result,
            verifiers: Vec::new(),
            drawn_at: None,
            commit_deadline: None,
            reveal_deadline: None,
            status: ExecutionStatus::Completed,
            settled_at: Some(9),
            rerun_fuel: None,
        }
    }

    #[test]
    fn results_and_inputs_decode_with_the_task_schemas() {
        let done = LiveOrPruned::Live(execution(Some(TaskResult::Output(
            3i64.to_le_bytes().to_vec(),
        ))));
        assert_eq!(
            result_json(&done, Some(&task())),
            json!({"outputs": {"sum": 3}})
        );
        let text = describe(&done, Some(&task()));
        assert!(text.contains("completed at height 9"), "{text}");
        assert!(text.contains(r#"inputs {"a":1,"b":2}"#), "{text}");
        assert!(text.contains("assigned at 3, deadline null"), "{text}");
        assert!(text.contains(r#"result {"outputs":{"sum":3}}"#), "{text}");
        let failed = LiveOrPruned::Live(execution(Some(TaskResult::Error(b"overflow".to_vec()))));
        assert_eq!(
            result_json(&failed, Some(&task())),
            json!({"error": "overflow"})
        );
        assert_eq!(
            result_json(&LiveOrPruned::Live(execution(None)), None),
            Value::Null
        );
        let pruned: ExecutionAnswer = LiveOrPruned::Pruned(Pruned {
            pruned: true,
            summary: ExecutionSummary {
                id: Hash([0xab; 32]),
                service: Hash([0xcd; 32]),
                status: ExecutionStatus::Expired,
                settled_at: 4,
            },
        });
        assert_eq!(status(&pruned), ExecutionStatus::Expired);
        assert!(describe(&pruned, None).contains("expired at height 4"));
        assert!(is_final(ExecutionStatus::Cancelled) && !is_final(ExecutionStatus::Revealing));
        assert!(
            completed(ExecutionStatus::CompletedUnverified)
                && !completed(ExecutionStatus::Rejected)
        );
        assert_eq!(
            status_name(ExecutionStatus::CompletedUnverified),
            "completed_unverified"
        );
    }

    #[test]
    fn services_show_their_tasks_and_events() {
        let service = Service {
            id: Hash([0xab; 32]),
            owner: Address([1; 20]),
            wasm: false,
            bundle_digest: Hash([0xcd; 32]),
            published_at: 5,
            definition: json!({"name": "ticker", "description": "A clock.",
                "tasks": [{"key": "seq_at", "inputs": {"time": "int"}, "outputs": {"seq": "int"},
                           "max_output_bytes": 16, "verification": "deterministic",
                           "timeout_ms": 20000}],
                "events": [{"key": "tick", "data": {"seq": "int"}}]}),
        };
        let text = describe_service(&service);
        assert!(
            text.starts_with(&format!(
                "service {}: ticker (external program, bundle {})",
                Hash([0xab; 32]),
                Hash([0xcd; 32])
            )),
            "{text}"
        );
        assert!(
            text.contains(
                r#"task seq_at {"time":"int"} -> {"seq":"int"}, deterministic, timeout 20000 ms"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"event tick {"seq":"int"}"#), "{text}");
    }
}
