//! Executions as a person reads them: status, who runs it, and inputs and result decoded from
//! record bytes with the task's schemas; and following one to its final status.

use crate::client::Client;
use runnet_types::execution::TaskResult;
use runnet_types::record::Schema;
use runnet_types::service::{ServiceDefinition, TaskDefinition};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The statuses an execution never leaves (`ExecutionStatus::is_final`).
const FINAL: [&str; 5] = [
    "completed",
    "completed_unverified",
    "rejected",
    "expired",
    "cancelled",
];

/// An execution's status, from the object or from the summary left after pruning.
pub fn status(execution: &Value) -> &str {
    execution["status"]
        .as_str()
        .or_else(|| execution["summary"]["status"].as_str())
        .unwrap_or("unknown")
}

pub fn is_final(status: &str) -> bool {
    FINAL.contains(&status)
}

/// Whether the execution ended with the task done (verified or not).
pub fn completed(status: &str) -> bool {
    matches!(status, "completed" | "completed_unverified")
}

/// Polls the execution until its status is final, or fails after `limit`.
pub fn follow(client: &Client, id: &str, limit: Duration) -> Result<Value, String> {
    let started = Instant::now();
    let mut last = String::from("unknown");
    loop {
        match client.find(&format!("/v1/execution/{id}")) {
            Ok(Some(execution)) => {
                let now = status(&execution);
                if is_final(now) {
                    return Ok(execution);
                }
                last = now.to_string();
            }
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
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
    let found = client
        .find(&format!("/v1/service/{service}"))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "no service {service} on the node at {}: check the id, or publish it first",
                client.base()
            )
        })?;
    serde_json::from_value(found["definition"].clone())
        .map_err(|e| format!("the node's definition of service {service} does not parse: {e}"))
}

fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    serde_json::from_value(value.clone()).ok()
}

fn decode(schema: &Schema, bytes: &[u8]) -> Value {
    match schema.decode(bytes) {
        Ok(v) => v.to_json(),
        Err(e) => json!(format!("0x{} (does not decode: {e})", hex::encode(bytes))),
    }
}

/// The result decoded: `{"outputs": ...}` or `{"error": "..."}`, or null without a result.
pub fn result_json(execution: &Value, task: Option<&TaskDefinition>) -> Value {
    let Ok(result) = serde_json::from_value::<TaskResult>(execution["result"].clone()) else {
        return Value::Null;
    };
    match (result, task) {
        (TaskResult::Output(bytes), Some(task)) => {
            json!({"outputs": decode(&task.outputs, &bytes)})
        }
        (TaskResult::Output(bytes), None) => {
            json!({"outputs": format!("0x{}", hex::encode(bytes))})
        }
        (TaskResult::Error(bytes), _) => {
            json!({"error": String::from_utf8_lossy(&bytes).into_owned()})
        }
    }
}

/// The task an execution runs, when the node still shows its service.
pub fn task_of(client: &Client, execution: &Value) -> Option<TaskDefinition> {
    let service = execution["service"].as_str()?;
    let definition = service_definition(client, service).ok()?;
    definition.task(execution["task"].as_str()?).cloned()
}

/// A few lines about an execution; inputs and result decoded when `task` is known.
pub fn describe(execution: &Value, task: Option<&TaskDefinition>) -> String {
    if execution["pruned"] == true {
        let s = &execution["summary"];
        return format!(
            "execution {}: {} at height {} (pruned: only its summary is kept)",
            s["id"].as_str().unwrap_or("?"),
            status(execution),
            s["settled_at"]
        );
    }
    let mut lines = vec![format!(
        "execution {}: {}{}",
        execution["id"].as_str().unwrap_or("?"),
        status(execution),
        execution["settled_at"]
            .as_u64()
            .map(|h| format!(" at height {h}"))
            .unwrap_or_default()
    )];
    let inputs = match (bytes_of(&execution["inputs"]), task) {
        (Some(bytes), Some(task)) => decode(&task.inputs, &bytes).to_string(),
        (Some(bytes), None) => format!("0x{}", hex::encode(bytes)),
        (None, _) => "?".into(),
    };
    lines.push(format!(
        "task {} of service {}, inputs {inputs}",
        execution["task"].as_str().unwrap_or("?"),
        execution["service"].as_str().unwrap_or("?")
    ));
    match execution["runner"].as_str() {
        Some(runner) => lines.push(format!(
            "runner {runner}, assigned at {}, deadline {}",
            execution["assigned_at"], execution["deadline"]
        )),
        None => lines.push(format!(
            "no runner assigned (requested at {})",
            execution["requested_at"]
        )),
    }
    let verifiers = execution["verifiers"].as_array().map_or(0, Vec::len);
    if verifiers > 0 {
        lines.push(format!("{verifiers} verifiers drawn"));
    }
    match result_json(execution, task) {
        Value::Null => lines.push("no result".into()),
        result => lines.push(format!("result {result}")),
    }
    lines.push(format!(
        "max_fee {}, escrow left {}",
        execution["max_fee"], execution["escrow"]
    ));
    lines.join("\n")
}

/// A service as a person reads it: what it is, and each task's schemas (what `--inputs` takes).
pub fn describe_service(service: &Value) -> String {
    let definition = &service["definition"];
    let compact = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    let mut lines = vec![format!(
        "service {}: {} ({}, bundle {}), owner {}, published at height {}",
        service["id"].as_str().unwrap_or("?"),
        definition["name"].as_str().unwrap_or("?"),
        if service["wasm"] == true {
            "WebAssembly"
        } else {
            "external program"
        },
        service["bundle_digest"].as_str().unwrap_or("?"),
        service["owner"].as_str().unwrap_or("?"),
        service["published_at"]
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

    fn task() -> TaskDefinition {
        serde_json::from_value(json!({"key": "add", "inputs": {"a": "int", "b": "int"},
            "outputs": {"sum": "int"}, "max_output_bytes": 64, "verification": "deterministic",
            "timeout_ms": 10000}))
        .unwrap()
    }

    #[test]
    fn results_and_inputs_decode_with_the_task_schemas() {
        let inputs: Vec<u8> = [1i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        let execution = json!({
            "id": "ab", "service": "cd", "task": "add", "inputs": inputs,
            "status": "completed", "settled_at": 9, "runner": "ef", "assigned_at": 3,
            "deadline": 13, "verifiers": [], "max_fee": 10, "escrow": 0,
            "result": {"Output": 3i64.to_le_bytes().to_vec()},
        });
        assert_eq!(
            result_json(&execution, Some(&task())),
            json!({"outputs": {"sum": 3}})
        );
        let text = describe(&execution, Some(&task()));
        assert!(text.contains("completed at height 9"), "{text}");
        assert!(text.contains(r#"inputs {"a":1,"b":2}"#), "{text}");
        assert!(text.contains(r#"result {"outputs":{"sum":3}}"#), "{text}");
        let failed = json!({"result": {"Error": b"overflow".to_vec()}});
        assert_eq!(
            result_json(&failed, Some(&task())),
            json!({"error": "overflow"})
        );
        assert_eq!(result_json(&json!({"result": null}), None), Value::Null);
        let pruned =
            json!({"pruned": true, "summary": {"id": "ab", "status": "expired", "settled_at": 4}});
        assert_eq!(status(&pruned), "expired");
        assert!(describe(&pruned, None).contains("expired at height 4"));
        assert!(is_final("cancelled") && !is_final("revealing"));
        assert!(completed("completed_unverified") && !completed("rejected"));
    }

    #[test]
    fn services_show_their_tasks_and_events() {
        let service = json!({
            "id": "ab", "owner": "0x01", "wasm": false, "bundle_digest": "cd", "published_at": 5,
            "definition": {"name": "ticker", "description": "A clock.",
                "tasks": [{"key": "seq_at", "inputs": {"time": "int"}, "outputs": {"seq": "int"},
                           "max_output_bytes": 16, "verification": "deterministic",
                           "timeout_ms": 20000}],
                "events": [{"key": "tick", "data": {"seq": "int"}}]}
        });
        let text = describe_service(&service);
        assert!(
            text.starts_with("service ab: ticker (external program, bundle cd)"),
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
