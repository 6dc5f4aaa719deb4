//! Processes (docs/economy.md, "Processes and emitters"): a small tree of nodes with one trigger at its
//! root, which the chain walks when the trigger fires, paying tasks from the process's balance.
//!
//! A definition is flat on the wire (a list of nodes and a list of edges), so decoding it is
//! bounded like every other wire type; the tree is rebuilt and checked by [`ProcessDefinition::compile`]
//! against the service definitions it names. Records flow through the tree as [`Value`]s: the
//! trigger's event data, a map's new record, a task's outputs; key paths reach into the data of
//! earlier nodes on the path from the root.

use crate::encoding::hash_of;
use crate::hash::Hash;
use crate::record::{FieldType, MAX_RECORD_FIELDS, MAX_SCHEMA_DEPTH, RecordError, Schema, Value};
use crate::service::ServiceDefinition;
use crate::tx::Amount;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most conditions one filter node may hold.
pub const MAX_CONDITIONS: usize = 16;

/// A process as its owner writes it. Node indices are positions in `nodes`; a walk visits the
/// children of a node in ascending index order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessDefinition {
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
}

/// `to` runs after `from` (a task's children run once its execution completes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub from: u32,
    pub to: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// The root: fires when runners of `service` report its event `event` with a quorum. Its data
    /// is the event's data.
    Trigger { service: Hash, event: String },
    /// Every condition must hold, else the branch stops. Passes the current record on.
    Filter { conditions: Vec<Condition> },
    /// A new record from constants and key paths; it becomes the current record.
    Map { fields: Vec<MapField> },
    /// An execution of `task` with the current record as inputs, escrowing `max_fee` from the
    /// process. Its children run when the execution completes, with its outputs as their data.
    Task {
        service: Hash,
        task: String,
        max_fee: Amount,
    },
}

/// A field reached from the data of node `node` (an earlier node on the path from the root that
/// produces data: the trigger, a map or a task) through nested record fields. No fields: the
/// whole record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPath {
    pub node: u32,
    #[serde(default)]
    pub fields: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Integers, and also booleans, strings and bytes.
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
    /// A substring of a string, or an item of a list.
    Contains,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub path: KeyPath,
    pub op: Op,
    pub value: Constant,
}

/// A scalar written in the definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constant {
    Int(i64),
    Bool(bool),
    String(String),
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapField {
    pub name: String,
    pub value: MapValue,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapValue {
    Constant(Constant),
    Path(KeyPath),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ProcessError {
    #[error("a process needs at least one node")]
    Empty,
    #[error("{len} nodes, more than max_process_nodes ({max})")]
    TooLarge { len: usize, max: usize },
    #[error("a process has exactly one trigger; this one has {0}")]
    Triggers(usize),
    #[error("edge {index} names node {node}, which does not exist")]
    BadEdge { index: usize, node: u32 },
    #[error("node {0} has more than one parent: a process is a tree")]
    TwoParents(u32),
    #[error("the trigger (node {0}) must be the root: nothing leads into it")]
    TriggerHasParent(u32),
    #[error("node {0} is not connected to the trigger")]
    Disconnected(u32),
    #[error("node {0} is on a cycle")]
    Cycle(u32),
    #[error("node {node}: {problem}")]
    Node { node: u32, problem: String },
}

fn node_error(node: u32, problem: impl Into<String>) -> ProcessError {
    ProcessError::Node {
        node,
        problem: problem.into(),
    }
}

/// The checked shape of a process: parents, ordered children, the schema of each node's data,
/// and where each node finds its current record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    pub root: u32,
    pub parent: Vec<Option<u32>>,
    /// Children in ascending index order: the walk's order.
    pub children: Vec<Vec<u32>>,
    /// The schema of the data a node produces (trigger, map, task); `None` for filters.
    pub data: Vec<Option<Schema>>,
    /// For each node, the node whose data is its current record (the trigger for the root).
    pub source: Vec<u32>,
}

impl Compiled {
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// How many nodes lie strictly below `node`.
    pub fn below(&self, node: u32) -> usize {
        let mut count = 0;
        let mut stack: Vec<u32> = self.children_of(node).to_vec();
        while let Some(n) = stack.pop() {
            count += 1;
            stack.extend_from_slice(self.children_of(n));
        }
        count
    }

    pub fn children_of(&self, node: u32) -> &[u32] {
        self.children
            .get(node as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The nodes that produce data strictly above `node`, nearest first.
    fn data_ancestors(&self, node: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = self.parent.get(node as usize).copied().flatten();
        while let Some(n) = at {
            if self.data.get(n as usize).is_some_and(Option::is_some) {
                out.push(n);
            }
            at = self.parent.get(n as usize).copied().flatten();
        }
        out
    }
}

impl ProcessDefinition {
    /// Checks the structure (one trigger at the root, a connected acyclic tree within
    /// `max_nodes`) and resolves every reference against `services`: the trigger's event, each
    /// task, and each key path, whose node must be an earlier data node on the path from the root
    /// and whose fields must exist with a type the use accepts. A task's inputs must be exactly
    /// the schema of its current record.
    pub fn compile<'a>(
        &self,
        max_nodes: usize,
        services: impl Fn(&Hash) -> Option<&'a ServiceDefinition>,
    ) -> Result<Compiled, ProcessError> {
        let (root, parent, children) = self.tree(max_nodes)?;
        let n = self.nodes.len();
        let mut compiled = Compiled {
            root,
            parent,
            children,
            data: vec![None; n],
            source: vec![root; n],
        };
        // Parents before children: a depth-first order from the root.
        let mut stack = vec![root];
        while let Some(index) = stack.pop() {
            let node = self
                .nodes
                .get(index as usize)
                .ok_or_else(|| node_error(index, "missing"))?;
            if let Some(p) = compiled.parent[index as usize] {
                compiled.source[index as usize] = if compiled.data[p as usize].is_some() {
                    p
                } else {
                    compiled.source[p as usize]
                };
            }
            let data = self.check_node(index, node, &compiled, &services)?;
            compiled.data[index as usize] = data;
            stack.extend(compiled.children_of(index).iter().rev());
        }
        Ok(compiled)
    }

    /// Parents and children from the edges, with the tree rules checked.
    #[allow(clippy::type_complexity)]
    fn tree(
        &self,
        max_nodes: usize,
    ) -> Result<(u32, Vec<Option<u32>>, Vec<Vec<u32>>), ProcessError> {
        let n = self.nodes.len();
        if n == 0 {
            return Err(ProcessError::Empty);
        }
        if n > max_nodes || u32::try_from(n).is_err() {
            return Err(ProcessError::TooLarge {
                len: n,
                max: max_nodes,
            });
        }
        let triggers: Vec<u32> = (0..n as u32)
            .filter(|i| matches!(self.nodes[*i as usize], Node::Trigger { .. }))
            .collect();
        let root = match triggers.as_slice() {
            [root] => *root,
            other => return Err(ProcessError::Triggers(other.len())),
        };
        let mut parent: Vec<Option<u32>> = vec![None; n];
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (index, edge) in self.edges.iter().enumerate() {
            for node in [edge.from, edge.to] {
                if node as usize >= n {
                    return Err(ProcessError::BadEdge { index, node });
                }
            }
            if edge.to == root {
                return Err(ProcessError::TriggerHasParent(root));
            }
            if edge.from == edge.to {
                return Err(ProcessError::Cycle(edge.to));
            }
            let slot = &mut parent[edge.to as usize];
            if slot.is_some() {
                return Err(ProcessError::TwoParents(edge.to));
            }
            *slot = Some(edge.from);
            children[edge.from as usize].push(edge.to);
        }
        for node in 0..n as u32 {
            if node == root {
                continue;
            }
            // Every node but the root has one parent; following them must reach the root within
            // n steps, or the node hangs on a cycle.
            let mut at = node;
            let mut steps = 0;
            loop {
                match parent[at as usize] {
                    None if at == root => break,
                    None => return Err(ProcessError::Disconnected(at)),
                    Some(p) => at = p,
                }
                steps += 1;
                if steps > n {
                    return Err(ProcessError::Cycle(node));
                }
            }
        }
        for list in &mut children {
            list.sort_unstable();
        }
        Ok((root, parent, children))
    }

    fn check_node<'a>(
        &self,
        index: u32,
        node: &Node,
        compiled: &Compiled,
        services: &impl Fn(&Hash) -> Option<&'a ServiceDefinition>,
    ) -> Result<Option<Schema>, ProcessError> {
        let fail = |problem: String| Err(node_error(index, problem));
        match node {
            Node::Trigger { service, event } => {
                let Some(definition) = services(service) else {
                    return fail(format!("service {service} not found"));
                };
                match definition.event(event) {
                    Some(e) => Ok(Some(e.data.clone())),
                    None => fail(format!("service {service} has no event '{event}'")),
                }
            }
            Node::Filter { conditions } => {
                if conditions.is_empty() || conditions.len() > MAX_CONDITIONS {
                    return fail(format!("a filter holds 1 to {MAX_CONDITIONS} conditions"));
                }
                for (i, condition) in conditions.iter().enumerate() {
                    let field = self.path_type(index, &condition.path, compiled)?;
                    check_condition(&field, condition.op, &condition.value).map_err(|problem| {
                        node_error(index, format!("condition {i}: {problem}"))
                    })?;
                }
                Ok(None)
            }
            Node::Map { fields } => {
                if fields.is_empty() || fields.len() > MAX_RECORD_FIELDS {
                    return fail(format!("a map builds 1 to {MAX_RECORD_FIELDS} fields"));
                }
                let mut schema = BTreeMap::new();
                for field in fields {
                    crate::record::check_name(&field.name)
                        .map_err(|e| node_error(index, format!("field name: {e}")))?;
                    let ty = match &field.value {
                        MapValue::Constant(c) => c.field_type(),
                        MapValue::Path(path) => self.path_type(index, path, compiled)?,
                    };
                    if schema.insert(field.name.clone(), ty).is_some() {
                        return fail(format!("field '{}' is set twice", field.name));
                    }
                }
                let schema = Schema(schema);
                schema
                    .validate()
                    .map_err(|e| node_error(index, format!("the record it builds: {e}")))?;
                Ok(Some(schema))
            }
            Node::Task {
                service,
                task,
                max_fee,
            } => {
                if *max_fee == 0 {
                    return fail("max_fee of 0".into());
                }
                let Some(definition) = services(service) else {
                    return fail(format!("service {service} not found"));
                };
                let Some(task_definition) = definition.task(task) else {
                    return fail(format!("service {service} has no task '{task}'"));
                };
                let source = compiled.source[index as usize];
                let current = compiled.data.get(source as usize).and_then(Option::as_ref);
                if current != Some(&task_definition.inputs) {
                    return fail(format!(
                        "the current record (from node {source}) is not of the inputs schema of task '{task}': put a map before it"
                    ));
                }
                Ok(Some(task_definition.outputs.clone()))
            }
        }
    }

    /// The type a key path reaches, checked against the data nodes above `index`.
    fn path_type(
        &self,
        index: u32,
        path: &KeyPath,
        compiled: &Compiled,
    ) -> Result<FieldType, ProcessError> {
        if !compiled.data_ancestors(index).contains(&path.node) {
            return Err(node_error(
                index,
                format!(
                    "key path names node {}, which is not an earlier data node (trigger, map or task) on its path",
                    path.node
                ),
            ));
        }
        if path.fields.len() > MAX_SCHEMA_DEPTH {
            return Err(node_error(index, "key path is too long"));
        }
        let Some(Some(schema)) = compiled.data.get(path.node as usize) else {
            return Err(node_error(index, "key path into a node without data"));
        };
        let mut ty = FieldType::Record(schema.clone());
        for field in &path.fields {
            let FieldType::Record(schema) = &ty else {
                return Err(node_error(
                    index,
                    format!("key path goes through '{field}' inside a value that is not a record"),
                ));
            };
            let Some(next) = schema.0.get(field) else {
                return Err(node_error(
                    index,
                    format!("key path: no field '{field}' in node {}'s data", path.node),
                ));
            };
            ty = next.clone();
        }
        Ok(ty)
    }
}

fn is_scalar(ty: &FieldType) -> bool {
    matches!(
        ty,
        FieldType::Int | FieldType::Bool | FieldType::String | FieldType::Bytes
    )
}

fn check_condition(field: &FieldType, op: Op, constant: &Constant) -> Result<(), String> {
    let ok = match op {
        Op::Eq => is_scalar(field) && *field == constant.field_type(),
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            *field == FieldType::Int && matches!(constant, Constant::Int(_))
        }
        Op::Contains => match field {
            FieldType::String => matches!(constant, Constant::String(_)),
            FieldType::List(item) => is_scalar(item) && **item == constant.field_type(),
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{op:?} does not apply to a field of type {} and a constant {}",
            type_name(field),
            type_name(&constant.field_type())
        ))
    }
}

fn type_name(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Int => "int",
        FieldType::Bool => "bool",
        FieldType::String => "string",
        FieldType::Bytes => "bytes",
        FieldType::List(_) => "list",
        FieldType::Optional(_) => "optional",
        FieldType::Record(_) => "record",
    }
}

impl Constant {
    pub fn field_type(&self) -> FieldType {
        match self {
            Constant::Int(_) => FieldType::Int,
            Constant::Bool(_) => FieldType::Bool,
            Constant::String(_) => FieldType::String,
            Constant::Bytes(_) => FieldType::Bytes,
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Constant::Int(v) => Value::Int(*v),
            Constant::Bool(v) => Value::Bool(*v),
            Constant::String(v) => Value::String(v.clone()),
            Constant::Bytes(v) => Value::Bytes(v.clone()),
        }
    }
}

/// The data of the nodes above the one being walked, by node index.
pub type Scope = BTreeMap<u32, Value>;

/// The value a key path reaches in `scope`, if it is there.
pub fn resolve<'a>(scope: &'a Scope, path: &KeyPath) -> Option<&'a Value> {
    let mut value = scope.get(&path.node)?;
    for field in &path.fields {
        match value {
            Value::Record(fields) => value = fields.get(field)?,
            _ => return None,
        }
    }
    Some(value)
}

impl Condition {
    /// Whether the condition holds; a path that does not resolve never holds.
    pub fn holds(&self, scope: &Scope) -> bool {
        let Some(value) = resolve(scope, &self.path) else {
            return false;
        };
        let constant = self.value.to_value();
        match (self.op, value, &constant) {
            (Op::Eq, v, c) => v == c,
            (Op::Gt, Value::Int(v), Value::Int(c)) => v > c,
            (Op::Ge, Value::Int(v), Value::Int(c)) => v >= c,
            (Op::Lt, Value::Int(v), Value::Int(c)) => v < c,
            (Op::Le, Value::Int(v), Value::Int(c)) => v <= c,
            (Op::Contains, Value::String(s), Value::String(c)) => s.contains(c.as_str()),
            (Op::Contains, Value::List(items), c) => items.contains(c),
            _ => false,
        }
    }
}

/// The record a map node builds; `None` if a path does not resolve (a compiled process never
/// does that).
pub fn build_map(fields: &[MapField], scope: &Scope) -> Option<Value> {
    let mut out = BTreeMap::new();
    for field in fields {
        let value = match &field.value {
            MapValue::Constant(c) => c.to_value(),
            MapValue::Path(path) => resolve(scope, path)?.clone(),
        };
        out.insert(field.name.clone(), value);
    }
    Some(Value::Record(out))
}

/// The id of an event: blake3(service id, event key, canonical data).
pub fn event_id(service: &Hash, key: &str, data: &[u8]) -> Hash {
    hash_of(&(service, key, data))
}

/// The id of an execution a process creates: blake3("exec", process id, the event or execution
/// whose completion caused the walk, node index).
pub fn process_execution_id(process: &Hash, cause: &Hash, node: u32) -> Hash {
    hash_of(&("exec", process, cause, node))
}

/// Decodes the data records a walk carries between blocks (`node -> record bytes`) with the
/// schemas of a compiled process.
pub fn decode_scope(
    compiled: &Compiled,
    bytes: &BTreeMap<u32, Vec<u8>>,
) -> Result<Scope, RecordError> {
    let mut scope = Scope::new();
    for (node, record) in bytes {
        let Some(Some(schema)) = compiled.data.get(*node as usize) else {
            return Err(RecordError::Field {
                field: format!("node {node}"),
                problem: "carries data but produces none".into(),
            });
        };
        scope.insert(*node, schema.decode(record)?);
    }
    Ok(scope)
}

/// The inverse of [`decode_scope`].
pub fn encode_scope(
    compiled: &Compiled,
    scope: &Scope,
) -> Result<BTreeMap<u32, Vec<u8>>, RecordError> {
    let mut out = BTreeMap::new();
    for (node, value) in scope {
        let Some(Some(schema)) = compiled.data.get(*node as usize) else {
            return Err(RecordError::Field {
                field: format!("node {node}"),
                problem: "carries data but produces none".into(),
            });
        };
        out.insert(*node, schema.encode(value)?);
    }
    Ok(out)
}

/// The distinct services a definition names (to load them before compiling).
pub fn services_named(definition: &ProcessDefinition) -> BTreeSet<Hash> {
    definition
        .nodes
        .iter()
        .filter_map(|n| match n {
            Node::Trigger { service, .. } | Node::Task { service, .. } => Some(*service),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{EventDefinition, TaskDefinition, Verification};
    use serde_json::json;

    fn schema(value: serde_json::Value) -> Schema {
        serde_json::from_value(value).unwrap()
    }

    fn service() -> ServiceDefinition {
        ServiceDefinition {
            name: "feed".into(),
            description: String::new(),
            tasks: vec![
                TaskDefinition {
                    key: "add".into(),
                    inputs: schema(json!({"a": "int", "b": "int"})),
                    outputs: schema(json!({"sum": "int"})),
                    max_output_bytes: 64,
                    verification: Verification::Trusted,
                    timeout_ms: 10_000,
                },
                TaskDefinition {
                    key: "double".into(),
                    inputs: schema(json!({"x": "int"})),
                    outputs: schema(json!({"y": "int"})),
                    max_output_bytes: 64,
                    verification: Verification::Trusted,
                    timeout_ms: 10_000,
                },
            ],
            events: vec![EventDefinition {
                key: "tick".into(),
                data: schema(json!({"a": "int", "b": "int", "tags": {"list": "string"},
                                    "who": {"record": {"name": "string"}}})),
            }],
        }
    }

    const SERVICE: Hash = Hash([7; 32]);

    fn lookup<'a>(
        definition: &'a ServiceDefinition,
    ) -> impl Fn(&Hash) -> Option<&'a ServiceDefinition> + 'a {
        move |id| (*id == SERVICE).then_some(definition)
    }

    fn trigger() -> Node {
        Node::Trigger {
            service: SERVICE,
            event: "tick".into(),
        }
    }

    fn path(node: u32, fields: &[&str]) -> KeyPath {
        KeyPath {
            node,
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn chain() -> ProcessDefinition {
        // tick -> filter a > 0 -> map {a, b} -> add -> map {x: sum} -> double
        ProcessDefinition {
            nodes: vec![
                trigger(),
                Node::Filter {
                    conditions: vec![Condition {
                        path: path(0, &["a"]),
                        op: Op::Gt,
                        value: Constant::Int(0),
                    }],
                },
                Node::Map {
                    fields: vec![
                        MapField {
                            name: "a".into(),
                            value: MapValue::Path(path(0, &["a"])),
                        },
                        MapField {
                            name: "b".into(),
                            value: MapValue::Constant(Constant::Int(5)),
                        },
                    ],
                },
                Node::Task {
                    service: SERVICE,
                    task: "add".into(),
                    max_fee: 100,
                },
                Node::Map {
                    fields: vec![MapField {
                        name: "x".into(),
                        value: MapValue::Path(path(3, &["sum"])),
                    }],
                },
                Node::Task {
                    service: SERVICE,
                    task: "double".into(),
                    max_fee: 100,
                },
            ],
            edges: (0..5).map(|i| Edge { from: i, to: i + 1 }).collect(),
        }
    }

    #[test]
    fn a_well_formed_chain_compiles_with_its_schemas() {
        let s = service();
        let compiled = chain().compile(32, lookup(&s)).unwrap();
        assert_eq!(compiled.root, 0);
        assert_eq!(compiled.source, vec![0, 0, 0, 2, 3, 4]);
        assert_eq!(compiled.data[1], None);
        assert_eq!(compiled.data[3], Some(schema(json!({"sum": "int"}))));
        assert_eq!(compiled.below(0), 5);
        assert_eq!(compiled.below(3), 2);
        // JSON and the wire both round-trip.
        let text = serde_json::to_string(&chain()).unwrap();
        assert_eq!(
            serde_json::from_str::<ProcessDefinition>(&text).unwrap(),
            chain()
        );
        let bytes = crate::encoding::encode(&chain());
        assert_eq!(
            crate::encoding::decode::<ProcessDefinition>(&bytes).unwrap(),
            chain()
        );
    }

    fn error_of(edit: impl FnOnce(&mut ProcessDefinition)) -> ProcessError {
        let s = service();
        let mut p = chain();
        edit(&mut p);
        p.compile(32, lookup(&s)).unwrap_err()
    }

    #[test]
    fn structure_errors() {
        assert_eq!(
            error_of(|p| {
                p.nodes.clear();
                p.edges.clear()
            }),
            ProcessError::Empty
        );
        let s = service();
        assert!(matches!(
            chain().compile(5, lookup(&s)),
            Err(ProcessError::TooLarge { len: 6, max: 5 })
        ));
        assert_eq!(
            error_of(|p| p.nodes[1] = trigger()),
            ProcessError::Triggers(2)
        );
        assert_eq!(
            error_of(|p| p.nodes[0] = Node::Filter { conditions: vec![] }),
            ProcessError::Triggers(0)
        );
        assert_eq!(
            error_of(|p| p.edges.push(Edge { from: 0, to: 9 })),
            ProcessError::BadEdge { index: 5, node: 9 }
        );
        assert_eq!(
            error_of(|p| p.edges.push(Edge { from: 1, to: 3 })),
            ProcessError::TwoParents(3)
        );
        assert_eq!(
            error_of(|p| p.edges.push(Edge { from: 5, to: 0 })),
            ProcessError::TriggerHasParent(0)
        );
        assert_eq!(
            error_of(|p| {
                p.edges.pop();
            }),
            ProcessError::Disconnected(5)
        );
        // 4 -> 5 -> 4: both hang off the cycle, not the trigger.
        assert!(matches!(
            error_of(|p| {
                p.edges[3] = Edge { from: 5, to: 4 };
            }),
            ProcessError::Cycle(_)
        ));
        assert_eq!(
            error_of(|p| p.edges.push(Edge { from: 2, to: 2 })),
            ProcessError::Cycle(2)
        );
    }

    fn node_problem(edit: impl FnOnce(&mut ProcessDefinition)) -> (u32, String) {
        match error_of(edit) {
            ProcessError::Node { node, problem } => (node, problem),
            other => panic!("expected a node error, got {other:?}"),
        }
    }

    #[test]
    fn reference_errors_name_the_node() {
        let (node, problem) = node_problem(|p| {
            p.nodes[0] = Node::Trigger {
                service: Hash([1; 32]),
                event: "tick".into(),
            }
        });
        assert_eq!(node, 0);
        assert!(problem.contains("not found"), "{problem}");
        let (_, problem) = node_problem(|p| {
            p.nodes[0] = Node::Trigger {
                service: SERVICE,
                event: "tock".into(),
            }
        });
        assert!(problem.contains("no event"), "{problem}");
        let (node, problem) = node_problem(|p| {
            p.nodes[5] = Node::Task {
                service: SERVICE,
                task: "nope".into(),
                max_fee: 1,
            }
        });
        assert_eq!(node, 5);
        assert!(problem.contains("no task"), "{problem}");
        // The task's inputs must be the current record's schema.
        let (node, problem) = node_problem(|p| p.edges[3] = Edge { from: 2, to: 4 });
        assert!(node == 4 || node == 5, "{node}");
        assert!(!problem.is_empty());
        // A key path may only name a data node above it (node 2 is below the filter).
        let (node, problem) = node_problem(|p| {
            p.nodes[1] = Node::Filter {
                conditions: vec![Condition {
                    path: path(2, &["a"]),
                    op: Op::Eq,
                    value: Constant::Int(1),
                }],
            };
        });
        assert_eq!(node, 1);
        assert!(problem.contains("not an earlier data node"), "{problem}");
        // Fields must exist, and the operator must fit the type.
        let filter = |path: KeyPath, op: Op, value: Constant| {
            node_problem(move |p| {
                p.nodes[1] = Node::Filter {
                    conditions: vec![Condition { path, op, value }],
                }
            })
            .1
        };
        assert!(filter(path(0, &["zz"]), Op::Eq, Constant::Int(1)).contains("no field 'zz'"));
        assert!(filter(path(0, &["a", "x"]), Op::Eq, Constant::Int(1)).contains("not a record"));
        assert!(filter(path(0, &["a"]), Op::Contains, Constant::Int(1)).contains("does not apply"));
        assert!(filter(path(0, &["tags"]), Op::Gt, Constant::Int(1)).contains("does not apply"));
        assert!(
            filter(path(0, &["a"]), Op::Eq, Constant::String("1".into()))
                .contains("does not apply")
        );
        let (_, problem) = node_problem(|p| p.nodes[1] = Node::Filter { conditions: vec![] });
        assert!(problem.contains("1 to"), "{problem}");
        let (_, problem) = node_problem(|p| {
            p.nodes[2] = Node::Map {
                fields: vec![
                    MapField {
                        name: "a".into(),
                        value: MapValue::Constant(Constant::Int(1)),
                    },
                    MapField {
                        name: "a".into(),
                        value: MapValue::Constant(Constant::Int(2)),
                    },
                ],
            }
        });
        assert!(problem.contains("twice"), "{problem}");
        let (_, problem) = node_problem(|p| {
            p.nodes[2] = Node::Map {
                fields: vec![MapField {
                    name: "Bad".into(),
                    value: MapValue::Constant(Constant::Int(1)),
                }],
            }
        });
        assert!(problem.contains("field name"), "{problem}");
        let (_, problem) = node_problem(|p| {
            p.nodes[3] = Node::Task {
                service: SERVICE,
                task: "add".into(),
                max_fee: 0,
            }
        });
        assert!(problem.contains("max_fee"), "{problem}");
    }

    fn tick(a: i64, tags: &[&str]) -> Value {
        let s = service();
        s.event("tick")
            .unwrap()
            .data
            .value_from_json(&json!({"a": a, "b": 2, "tags": tags, "who": {"name": "ann"}}))
            .unwrap()
    }

    #[test]
    fn conditions_and_maps_evaluate() {
        let mut scope = Scope::new();
        scope.insert(0, tick(3, &["x", "y"]));
        let holds = |op, p: KeyPath, value| Condition { path: p, op, value }.holds(&scope);
        assert!(holds(Op::Gt, path(0, &["a"]), Constant::Int(2)));
        assert!(!holds(Op::Gt, path(0, &["a"]), Constant::Int(3)));
        assert!(holds(Op::Ge, path(0, &["a"]), Constant::Int(3)));
        assert!(holds(Op::Lt, path(0, &["a"]), Constant::Int(4)));
        assert!(!holds(Op::Le, path(0, &["a"]), Constant::Int(2)));
        assert!(holds(Op::Eq, path(0, &["a"]), Constant::Int(3)));
        assert!(holds(
            Op::Contains,
            path(0, &["tags"]),
            Constant::String("y".into())
        ));
        assert!(!holds(
            Op::Contains,
            path(0, &["tags"]),
            Constant::String("z".into())
        ));
        assert!(holds(
            Op::Contains,
            path(0, &["who", "name"]),
            Constant::String("nn".into())
        ));
        assert!(holds(
            Op::Eq,
            path(0, &["who", "name"]),
            Constant::String("ann".into())
        ));
        // A path that does not resolve never holds.
        assert!(!holds(Op::Eq, path(1, &["a"]), Constant::Int(3)));
        let map = [
            MapField {
                name: "a".into(),
                value: MapValue::Path(path(0, &["a"])),
            },
            MapField {
                name: "b".into(),
                value: MapValue::Constant(Constant::Int(5)),
            },
        ];
        let built = build_map(&map, &scope).unwrap();
        let inputs = schema(json!({"a": "int", "b": "int"}));
        assert_eq!(
            inputs.encode(&built).unwrap(),
            [3i64.to_le_bytes(), 5i64.to_le_bytes()].concat()
        );
        // Scopes survive the trip through bytes.
        let s = service();
        let compiled = chain().compile(32, lookup(&s)).unwrap();
        let bytes = encode_scope(&compiled, &scope).unwrap();
        assert_eq!(decode_scope(&compiled, &bytes).unwrap(), scope);
        let mut wrong = bytes.clone();
        wrong.insert(1, vec![1]);
        assert!(decode_scope(&compiled, &wrong).is_err());
    }

    #[test]
    fn ids_follow_the_formulas() {
        let data = [1u8, 2, 3];
        assert_eq!(
            event_id(&SERVICE, "tick", &data),
            hash_of(&(SERVICE, "tick", data.to_vec()))
        );
        assert_ne!(
            event_id(&SERVICE, "tick", &data),
            event_id(&SERVICE, "tock", &data)
        );
        let p = Hash([1; 32]);
        let cause = Hash([2; 32]);
        assert_eq!(
            process_execution_id(&p, &cause, 3),
            hash_of(&("exec", p, cause, 3u32))
        );
        assert_ne!(
            process_execution_id(&p, &cause, 3),
            process_execution_id(&p, &cause, 4)
        );
        assert_eq!(services_named(&chain()).len(), 1);
    }
}
