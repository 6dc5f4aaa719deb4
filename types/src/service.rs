//! Service definitions: tasks and events with their schemas, and the bundle that runs them.
//!
//! A definition travels inside a transaction as canonical JSON bytes (the bytes `serde_json`
//! writes for the parsed definition): JSON's parser is depth-bounded, the file a developer writes
//! maps one to one onto what the chain stores, and the service id hashes exactly those bytes.

use crate::hash::Hash;
use crate::record::{FieldType, RecordError, Schema, check_name};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How results of a task are verified (docs/economy.md, "Verification kinds").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Verifiers re-run the task and compare outputs; for WebAssembly the chain judges disputes.
    Deterministic,
    /// The service's `check` task takes `{inputs, outputs}` and answers `{valid: bool}`.
    PublicEffect { check: String },
    /// No verification: users trust the runner.
    Trusted,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDefinition {
    pub key: String,
    pub inputs: Schema,
    pub outputs: Schema,
    /// The largest output (canonical record bytes) a runner may return; prices are escrowed for it.
    pub max_output_bytes: u32,
    pub verification: Verification,
    /// Chain time (ms) from assignment to the runner's deadline, within the genesis
    /// `min_task_timeout_ms` and `max_task_timeout_ms`.
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDefinition {
    pub key: String,
    pub data: Schema,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDefinition {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tasks: Vec<TaskDefinition>,
    #[serde(default)]
    pub events: Vec<EventDefinition>,
}

/// What runs the tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bundle {
    /// A WebAssembly module run by the node's deterministic VM (and by the chain in disputes).
    Wasm(Vec<u8>),
    /// An external program, named by the blake3 digest of its release; runners run it themselves.
    External { digest: Hash },
}

impl Bundle {
    pub fn digest(&self) -> Hash {
        match self {
            Bundle::Wasm(bytes) => Hash::digest(bytes),
            Bundle::External { digest } => *digest,
        }
    }

    pub fn stored_len(&self) -> usize {
        match self {
            Bundle::Wasm(bytes) => bytes.len(),
            Bundle::External { .. } => 32,
        }
    }
}

/// Limits from genesis that a definition must respect.
#[derive(Clone, Copy, Debug)]
pub struct DefinitionLimits {
    pub min_task_timeout_ms: u64,
    pub max_task_timeout_ms: u64,
    pub max_output_bytes: u32,
    pub max_tasks: usize,
    pub max_events: usize,
    pub max_definition_bytes: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DefinitionError {
    #[error("definition is not valid JSON for a service: {0}")]
    Json(String),
    #[error("definition bytes are not canonical: submit the bytes `runnet` writes for it")]
    NotCanonical,
    #[error("definition is {len} bytes, more than the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("a service needs at least one task or event")]
    Empty,
    #[error("service name must be 1 to 64 characters")]
    BadServiceName,
    #[error("description is longer than 1024 characters")]
    DescriptionTooLong,
    #[error("more than {0} tasks")]
    TooManyTasks(usize),
    #[error("more than {0} events")]
    TooManyEvents(usize),
    #[error("task or event key '{0}' is used twice")]
    DuplicateKey(String),
    #[error("task '{task}': {problem}")]
    Task { task: String, problem: String },
    #[error("event '{event}': {problem}")]
    Event { event: String, problem: String },
    #[error("{0}")]
    Record(#[from] RecordError),
}

impl ServiceDefinition {
    pub fn task(&self, key: &str) -> Option<&TaskDefinition> {
        self.tasks.iter().find(|t| t.key == key)
    }

    pub fn event(&self, key: &str) -> Option<&EventDefinition> {
        self.events.iter().find(|e| e.key == key)
    }

    /// The canonical bytes a transaction carries.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        // A struct of strings, integers and maps with string keys always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses definition bytes from a transaction: valid JSON, canonical, and within limits.
    pub fn from_canonical_bytes(
        bytes: &[u8],
        limits: &DefinitionLimits,
    ) -> Result<ServiceDefinition, DefinitionError> {
        if bytes.len() > limits.max_definition_bytes {
            return Err(DefinitionError::TooLarge {
                len: bytes.len(),
                limit: limits.max_definition_bytes,
            });
        }
        let definition: ServiceDefinition =
            serde_json::from_slice(bytes).map_err(|e| DefinitionError::Json(e.to_string()))?;
        if definition.to_canonical_bytes() != bytes {
            return Err(DefinitionError::NotCanonical);
        }
        definition.validate(limits)?;
        Ok(definition)
    }

    /// The rules of a well-formed definition (docs/economy.md, "service definition").
    pub fn validate(&self, limits: &DefinitionLimits) -> Result<(), DefinitionError> {
        if self.name.is_empty() || self.name.chars().count() > 64 {
            return Err(DefinitionError::BadServiceName);
        }
        if self.description.chars().count() > 1024 {
            return Err(DefinitionError::DescriptionTooLong);
        }
        if self.tasks.is_empty() && self.events.is_empty() {
            return Err(DefinitionError::Empty);
        }
        if self.tasks.len() > limits.max_tasks {
            return Err(DefinitionError::TooManyTasks(limits.max_tasks));
        }
        if self.events.len() > limits.max_events {
            return Err(DefinitionError::TooManyEvents(limits.max_events));
        }
        let mut keys = BTreeSet::new();
        for key in self
            .tasks
            .iter()
            .map(|t| &t.key)
            .chain(self.events.iter().map(|e| &e.key))
        {
            if !keys.insert(key) {
                return Err(DefinitionError::DuplicateKey(key.clone()));
            }
        }
        for task in &self.tasks {
            self.validate_task(task, limits)
                .map_err(|problem| DefinitionError::Task {
                    task: task.key.clone(),
                    problem,
                })?;
        }
        for event in &self.events {
            check_name(&event.key)
                .and_then(|_| event.data.validate())
                .map_err(|e| DefinitionError::Event {
                    event: event.key.clone(),
                    problem: e.to_string(),
                })?;
        }
        Ok(())
    }

    fn validate_task(
        &self,
        task: &TaskDefinition,
        limits: &DefinitionLimits,
    ) -> Result<(), String> {
        check_name(&task.key).map_err(|e| e.to_string())?;
        task.inputs.validate().map_err(|e| format!("inputs: {e}"))?;
        task.outputs
            .validate()
            .map_err(|e| format!("outputs: {e}"))?;
        if task.timeout_ms < limits.min_task_timeout_ms {
            return Err(format!(
                "timeout_ms {} is below min_task_timeout_ms {}",
                task.timeout_ms, limits.min_task_timeout_ms
            ));
        }
        if task.timeout_ms > limits.max_task_timeout_ms {
            return Err(format!(
                "timeout_ms {} is above max_task_timeout_ms {}",
                task.timeout_ms, limits.max_task_timeout_ms
            ));
        }
        if task.max_output_bytes == 0 || task.max_output_bytes > limits.max_output_bytes {
            return Err(format!(
                "max_output_bytes must be between 1 and {}",
                limits.max_output_bytes
            ));
        }
        if let Verification::PublicEffect { check } = &task.verification {
            let check_task = self
                .task(check)
                .ok_or_else(|| format!("check task '{check}' is not a task of this service"))?;
            if check_task.key == task.key {
                return Err("a task cannot be its own check".into());
            }
            let expected_inputs = check_inputs_schema(task);
            if check_task.inputs != expected_inputs {
                return Err(format!(
                    "check task '{check}' must take inputs {{inputs: <this task's inputs>, outputs: <this task's outputs>}}"
                ));
            }
            if check_task.outputs != check_outputs_schema() {
                return Err(format!("check task '{check}' must output {{valid: bool}}"));
            }
            if check_task.verification != Verification::Trusted
                && check_task.verification != Verification::Deterministic
            {
                return Err(format!(
                    "check task '{check}' must be deterministic or trusted"
                ));
            }
        }
        Ok(())
    }
}

/// The input schema a public_effect check task must declare for `task`.
pub fn check_inputs_schema(task: &TaskDefinition) -> Schema {
    Schema::new([
        ("inputs", FieldType::Record(task.inputs.clone())),
        ("outputs", FieldType::Record(task.outputs.clone())),
    ])
}

/// The output schema of every check task.
pub fn check_outputs_schema() -> Schema {
    Schema::new([("valid", FieldType::Bool)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn limits() -> DefinitionLimits {
        DefinitionLimits {
            min_task_timeout_ms: 5_000,
            max_task_timeout_ms: 3_600_000,
            max_output_bytes: 65536,
            max_tasks: 16,
            max_events: 16,
            max_definition_bytes: 16384,
        }
    }

    fn arithmetic() -> serde_json::Value {
        json!({
            "name": "arithmetic",
            "description": "adds",
            "tasks": [{"key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
                       "max_output_bytes": 64, "verification": "deterministic", "timeout_ms": 10000}],
            "events": [{"key": "tick", "data": {"seq": "int"}}]
        })
    }

    fn parse(value: serde_json::Value) -> Result<ServiceDefinition, DefinitionError> {
        let definition: ServiceDefinition =
            serde_json::from_value(value).map_err(|e| DefinitionError::Json(e.to_string()))?;
        definition.validate(&limits())?;
        Ok(definition)
    }

    #[test]
    fn canonical_bytes_round_trip() {
        let definition = parse(arithmetic()).unwrap();
        let bytes = definition.to_canonical_bytes();
        assert_eq!(
            ServiceDefinition::from_canonical_bytes(&bytes, &limits()).unwrap(),
            definition
        );
        // Same JSON with other whitespace is not canonical.
        let pretty = serde_json::to_vec_pretty(&definition).unwrap();
        assert_eq!(
            ServiceDefinition::from_canonical_bytes(&pretty, &limits()),
            Err(DefinitionError::NotCanonical)
        );
        assert!(matches!(
            ServiceDefinition::from_canonical_bytes(b"{", &limits()),
            Err(DefinitionError::Json(_))
        ));
    }

    #[test]
    fn timeout_and_output_limits() {
        let mut bad = arithmetic();
        bad["tasks"][0]["timeout_ms"] = json!(4_999);
        assert!(
            parse(bad)
                .unwrap_err()
                .to_string()
                .contains("below min_task_timeout_ms")
        );
        let mut bad = arithmetic();
        bad["tasks"][0]["timeout_ms"] = json!(3_600_001);
        assert!(
            parse(bad)
                .unwrap_err()
                .to_string()
                .contains("above max_task_timeout_ms")
        );
        // A definition written for blocks is refused, not read as milliseconds.
        let mut old = arithmetic();
        let task = old["tasks"][0].as_object_mut().unwrap();
        let timeout = task.remove("timeout_ms").unwrap();
        task.insert("timeout_blocks".into(), timeout);
        assert!(
            parse(old)
                .unwrap_err()
                .to_string()
                .contains("timeout_blocks")
        );
        let mut bad = arithmetic();
        bad["tasks"][0]["max_output_bytes"] = json!(0);
        assert!(
            parse(bad)
                .unwrap_err()
                .to_string()
                .contains("max_output_bytes")
        );
    }

    #[test]
    fn duplicate_and_bad_keys() {
        let mut bad = arithmetic();
        bad["events"][0]["key"] = json!("add");
        assert_eq!(parse(bad), Err(DefinitionError::DuplicateKey("add".into())));
        let mut bad = arithmetic();
        bad["tasks"][0]["key"] = json!("Add!");
        assert!(matches!(parse(bad), Err(DefinitionError::Task { .. })));
        assert_eq!(
            parse(json!({"name": "x", "tasks": [], "events": []})),
            Err(DefinitionError::Empty)
        );
        assert!(matches!(
            parse(json!({"name": "x", "unknown": 1})),
            Err(DefinitionError::Json(_))
        ));
    }

    #[test]
    fn public_effect_check_task_shape() {
        let good = json!({
            "name": "poster",
            "tasks": [
                {"key": "post", "inputs": {"msg": "string"}, "outputs": {"id": "int"},
                 "max_output_bytes": 64, "verification": {"public_effect": {"check": "verify"}},
                 "timeout_ms": 10000},
                {"key": "verify",
                 "inputs": {"inputs": {"record": {"msg": "string"}}, "outputs": {"record": {"id": "int"}}},
                 "outputs": {"valid": "bool"},
                 "max_output_bytes": 16, "verification": "trusted", "timeout_ms": 10000}
            ]
        });
        parse(good.clone()).unwrap();
        let mut missing = good.clone();
        missing["tasks"][0]["verification"] = json!({"public_effect": {"check": "nope"}});
        assert!(
            parse(missing)
                .unwrap_err()
                .to_string()
                .contains("not a task")
        );
        let mut wrong_shape = good;
        wrong_shape["tasks"][1]["outputs"] = json!({"ok": "bool"});
        assert!(
            parse(wrong_shape)
                .unwrap_err()
                .to_string()
                .contains("valid: bool")
        );
    }
}
