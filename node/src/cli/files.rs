//! The files a user hands the command line: service definitions, bundles, process definitions.
//!
//! Every error names the file and, where it can, the place in it (`tasks[1] ('mul').inputs.a`):
//! serde's messages say what is wrong but not where in a nested document, so a failed document is
//! probed element by element to find the first part that does not parse. Only the rules that do
//! not depend on the chain's parameters are checked here; the chain checks its own limits
//! (timeouts, sizes) and its receipt names them.

use runnet_types::Hash;
use runnet_types::process::{Edge, Node, ProcessDefinition};
use runnet_types::record::{FieldType, Schema};
use runnet_types::service::{
    Bundle, DefinitionLimits, EventDefinition, ServiceDefinition, TaskDefinition,
};
use runnet_vm_exec::{VmLimits, check_module, wat_to_wasm};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The largest definition, module or process file read: more than a transaction can carry, so
/// a bigger file is a mistake, and reading it would only waste memory.
pub const MAX_FILE_BYTES: u64 = runnet_types::tx::MAX_TX_BYTES as u64;

/// Structure only: the chain applies its own limits, which this machine does not know.
const STRUCTURE_ONLY: DefinitionLimits = DefinitionLimits {
    min_task_timeout_ms: 0,
    max_task_timeout_ms: u64::MAX,
    max_output_bytes: u32::MAX,
    max_tasks: usize::MAX,
    max_events: usize::MAX,
    max_definition_bytes: usize::MAX,
};

/// Reads at most [`MAX_FILE_BYTES`] of `path`; `what` names the file in errors.
pub fn read_bounded(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| open_error(path, what, &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {what} file {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{what} file {} is larger than {MAX_FILE_BYTES} bytes, more than a transaction can carry",
            path.display()
        ));
    }
    Ok(bytes)
}

fn open_error(path: &Path, what: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("{what} file {} does not exist", path.display())
    } else {
        format!("cannot open {what} file {}: {e}", path.display())
    }
}

fn parse_json(path: &Path, bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{}: not valid JSON: {e}", path.display()))
}

/// Parses a service id, runner id, execution id or process id: 64 hex digits, `0x` allowed.
pub fn parse_id(text: &str, what: &str) -> Result<Hash, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    digits
        .parse::<Hash>()
        .map_err(|e| format!("'{text}' is not a {what} id (64 hex digits): {e}"))
}

/// A service definition file: the parsed definition and the canonical bytes a transaction
/// carries (and the service id hashes).
pub fn load_definition(path: &Path) -> Result<(ServiceDefinition, Vec<u8>), String> {
    let bytes = read_bounded(path, "definition")?;
    let value = parse_json(path, &bytes)?;
    let definition: ServiceDefinition = match serde_json::from_value(value.clone()) {
        Ok(d) => d,
        Err(e) => {
            let place = locate_definition_error(&value).unwrap_or_else(|| e.to_string());
            return Err(format!(
                "{}: {place}{}",
                path.display(),
                position::<ServiceDefinition>(&bytes)
            ));
        }
    };
    definition
        .validate(&STRUCTURE_ONLY)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let canonical = definition.to_canonical_bytes();
    Ok((definition, canonical))
}

/// Where in the text serde stops, for a person to look: " (line L, column C)".
fn position<T: DeserializeOwned>(bytes: &[u8]) -> String {
    match serde_json::from_slice::<T>(bytes) {
        Err(e) if e.line() > 0 => format!(" (line {}, column {})", e.line(), e.column()),
        _ => String::new(),
    }
}

fn failure<T: DeserializeOwned>(value: &Value) -> Option<String> {
    serde_json::from_value::<T>(value.clone())
        .err()
        .map(|e| e.to_string())
}

/// `tasks[1] ('mul')`: the index, and the key when the item has one.
fn label(array: &str, index: usize, item: &Value) -> String {
    match item.get("key").and_then(Value::as_str) {
        Some(key) => format!("{array}[{index}] ('{key}')"),
        None => format!("{array}[{index}]"),
    }
}

/// Checks one item of a document: `Some(serde's message)` when it does not parse.
type Probe = fn(&Value) -> Option<String>;

fn locate_definition_error(value: &Value) -> Option<String> {
    let probes: [(&str, Probe, &[&str]); 2] = [
        ("tasks", failure::<TaskDefinition>, &["inputs", "outputs"]),
        ("events", failure::<EventDefinition>, &["data"]),
    ];
    for (array, probe, schemas) in probes {
        let Some(items) = value.get(array).and_then(Value::as_array) else {
            continue;
        };
        for (index, item) in items.iter().enumerate() {
            let Some(message) = probe(item) else {
                continue;
            };
            let at = label(array, index, item);
            for field in schemas {
                if let Some(inner) = item.get(*field).and_then(locate_schema_error) {
                    return Some(format!("{at}.{field}{inner}"));
                }
            }
            return Some(format!("{at}: {message}"));
        }
    }
    None
}

/// `.name: problem` for the first field of a schema whose type does not parse, recursing into
/// nested records.
fn locate_schema_error(schema: &Value) -> Option<String> {
    let message = failure::<Schema>(schema)?;
    if let Some(fields) = schema.as_object() {
        for (name, ty) in fields {
            if failure::<FieldType>(ty).is_none() {
                continue;
            }
            if let Some(inner) = ty.get("record").and_then(locate_schema_error) {
                return Some(format!(".{name}{inner}"));
            }
            if let Some(problem) = failure::<FieldType>(ty) {
                return Some(format!(".{name}: {problem}"));
            }
        }
    }
    Some(format!(": {message}"))
}

/// Where a service's bundle comes from.
pub enum BundleSource<'a> {
    /// A WebAssembly binary, or its text form.
    Wasm(&'a Path),
    /// An external program: its digest is the blake3 of the file.
    External(&'a Path),
    /// An external program named by its digest.
    Digest(&'a str),
}

/// The bundle for `definition`: a WebAssembly module is compiled from text if needed and checked
/// as the chain will check it (with the default VM limits), so a module the chain would refuse
/// costs no gas.
pub fn load_bundle(
    source: BundleSource<'_>,
    definition: &ServiceDefinition,
) -> Result<Bundle, String> {
    match source {
        BundleSource::Wasm(path) => {
            let bytes = read_bounded(path, "WebAssembly")?;
            let module = if bytes.starts_with(b"\0asm") {
                bytes
            } else {
                let text = std::str::from_utf8(&bytes).map_err(|_| {
                    format!(
                        "{}: neither a WebAssembly binary (it does not start with \\0asm) nor WebAssembly text (it is not UTF-8)",
                        path.display()
                    )
                })?;
                wat_to_wasm(text).map_err(|e| {
                    format!(
                        "{}: not a WebAssembly binary, and as WebAssembly text: {e}",
                        path.display()
                    )
                })?
            };
            let tasks: Vec<&str> = definition.tasks.iter().map(|t| t.key.as_str()).collect();
            check_module(&module, &tasks, &VmLimits::default()).map_err(|e| {
                format!(
                    "{}: the chain would refuse this module ({}): {e}",
                    path.display(),
                    e.code()
                )
            })?;
            Ok(Bundle::Wasm(module))
        }
        BundleSource::External(path) => {
            let file = std::fs::File::open(path).map_err(|e| open_error(path, "program", &e))?;
            let mut hasher = blake3::Hasher::new();
            hasher
                .update_reader(file)
                .map_err(|e| format!("cannot read program file {}: {e}", path.display()))?;
            Ok(Bundle::External {
                digest: Hash(*hasher.finalize().as_bytes()),
            })
        }
        BundleSource::Digest(text) => Ok(Bundle::External {
            digest: parse_id(text, "bundle digest")?,
        }),
    }
}

/// A process file. Its services are ids, or names bound on the command line
/// (`--service ticker=ID`), so one example file serves every network.
pub fn load_process(
    path: &Path,
    bindings: &BTreeMap<String, Hash>,
) -> Result<ProcessDefinition, String> {
    let bytes = read_bounded(path, "process")?;
    let mut value = parse_json(path, &bytes)?;
    bind_services(&mut value, bindings).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_value(value.clone()).map_err(|e| {
        let place = locate_process_error(&value).unwrap_or_else(|| e.to_string());
        format!("{}: {place}", path.display())
    })
}

/// Replaces each service name in the nodes by its bound id.
fn bind_services(value: &mut Value, bindings: &BTreeMap<String, Hash>) -> Result<(), String> {
    let Some(nodes) = value.get_mut("nodes").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for (index, node) in nodes.iter_mut().enumerate() {
        for kind in ["trigger", "task"] {
            let Some(slot) = node.get_mut(kind).and_then(|n| n.get_mut("service")) else {
                continue;
            };
            let Some(text) = slot.as_str() else {
                continue;
            };
            if let Ok(id) = parse_id(text, "service") {
                *slot = Value::String(id.to_string());
                continue;
            }
            let Some(id) = bindings.get(text) else {
                return Err(format!(
                    "nodes[{index}].{kind}.service: '{text}' is not a service id (64 hex digits), and no --service {text}=ID binds it"
                ));
            };
            *slot = Value::String(id.to_string());
        }
    }
    Ok(())
}

fn locate_process_error(value: &Value) -> Option<String> {
    let probes: [(&str, Probe); 2] = [("nodes", failure::<Node>), ("edges", failure::<Edge>)];
    for (array, probe) in probes {
        let items = value.get(array).and_then(Value::as_array)?;
        for (index, item) in items.iter().enumerate() {
            if let Some(message) = probe(item) {
                return Some(format!("{array}[{index}]: {message}"));
            }
        }
    }
    None
}

/// `NAME=ID`, for `--service`.
pub fn parse_binding(text: &str) -> Result<(String, Hash), String> {
    let (name, id) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}': expected NAME=SERVICE_ID"))?;
    if name.is_empty() {
        return Err(format!("'{text}': the name before '=' is empty"));
    }
    Ok((name.to_string(), parse_id(id, "service")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn arith() -> Value {
        json!({
            "name": "arith",
            "tasks": [
                {"key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
                 "max_output_bytes": 64, "verification": "deterministic", "timeout_ms": 10000},
                {"key": "mul", "inputs": {"a": "int", "b": "int"}, "outputs": {"product": "int"},
                 "max_output_bytes": 64, "verification": "deterministic", "timeout_ms": 10000}
            ]
        })
    }

    fn definition_error(value: &Value) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "def.json",
            &serde_json::to_string_pretty(value).unwrap(),
        );
        let error = load_definition(&path).unwrap_err();
        assert!(error.starts_with(&path.display().to_string()), "{error}");
        error
    }

    #[test]
    fn definition_errors_name_the_file_and_the_place() {
        let mut missing = arith();
        missing["tasks"][1]
            .as_object_mut()
            .unwrap()
            .remove("timeout_ms");
        let e = definition_error(&missing);
        assert!(
            e.contains("tasks[1] ('mul'): missing field `timeout_ms`"),
            "{e}"
        );
        assert!(e.contains("line "), "{e}");

        let mut bad_type = arith();
        bad_type["tasks"][0]["inputs"]["b"] = json!("integer");
        let e = definition_error(&bad_type);
        assert!(
            e.contains("tasks[0] ('add').inputs.b: unknown variant `integer`"),
            "{e}"
        );

        let mut nested = arith();
        nested["tasks"][0]["inputs"]["b"] = json!({"record": {"x": "float"}});
        let e = definition_error(&nested);
        assert!(
            e.contains("tasks[0] ('add').inputs.b.x: unknown variant `float`"),
            "{e}"
        );

        let mut unknown = arith();
        unknown["colour"] = json!("blue");
        assert!(definition_error(&unknown).contains("unknown field `colour`"));

        let mut bad_rule = arith();
        bad_rule["tasks"][1]["key"] = json!("add");
        assert!(definition_error(&bad_rule).contains("'add' is used twice"));

        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "broken.json",
            "{\"name\": \"x\",\n  \"tasks\": [}",
        );
        let e = load_definition(&path).unwrap_err();
        assert!(e.contains("not valid JSON") && e.contains("line 2"), "{e}");
        let e = load_definition(&dir.path().join("absent.json")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn canonical_bytes_ignore_the_file_layout() {
        let dir = tempfile::tempdir().unwrap();
        let pretty = write(
            dir.path(),
            "a.json",
            &serde_json::to_string_pretty(&arith()).unwrap(),
        );
        let compact = write(dir.path(), "b.json", &arith().to_string());
        let (_, a) = load_definition(&pretty).unwrap();
        let (_, b) = load_definition(&compact).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn wat_and_wasm_give_the_same_bundle_and_bad_modules_are_refused() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services");
        let (definition, _) = load_definition(&root.join("arith.json")).unwrap();
        let from_text =
            load_bundle(BundleSource::Wasm(&root.join("arith.wat")), &definition).unwrap();
        let Bundle::Wasm(binary) = &from_text else {
            panic!("a WebAssembly bundle expected");
        };
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("arith.wasm");
        std::fs::write(&wasm, binary).unwrap();
        assert_eq!(
            load_bundle(BundleSource::Wasm(&wasm), &definition).unwrap(),
            from_text
        );
        // A module that lacks a task of the definition.
        let mut more = definition.clone();
        let mut extra = more.tasks[0].clone();
        extra.key = "sub".into();
        more.tasks.push(extra);
        let e = load_bundle(BundleSource::Wasm(&wasm), &more).unwrap_err();
        assert!(e.contains("the chain would refuse this module"), "{e}");
        let junk = write(dir.path(), "junk.wat", "(module (func $f (param i32) ");
        let e = load_bundle(BundleSource::Wasm(&junk), &definition).unwrap_err();
        assert!(e.contains("as WebAssembly text"), "{e}");
        // An external program is named by the blake3 of its bytes.
        let program = write(dir.path(), "prog.sh", "#!/bin/sh\necho hi\n");
        assert_eq!(
            load_bundle(BundleSource::External(&program), &definition).unwrap(),
            Bundle::External {
                digest: Hash::digest(b"#!/bin/sh\necho hi\n")
            }
        );
        assert!(load_bundle(BundleSource::Digest("12"), &definition).is_err());
    }

    #[test]
    fn process_services_bind_by_name_and_errors_name_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let process = json!({
            "nodes": [
                {"trigger": {"service": "ticker", "event": "tick"}},
                {"task": {"service": "arith", "task": "add", "max_fee": 100}}
            ],
            "edges": [{"from": 0, "to": 1}]
        });
        let path = write(dir.path(), "p.json", &process.to_string());
        let ticker = Hash([1; 32]);
        let arith = Hash([2; 32]);
        let bindings: BTreeMap<String, Hash> =
            [("ticker".to_string(), ticker), ("arith".to_string(), arith)].into();
        let definition = load_process(&path, &bindings).unwrap();
        assert_eq!(
            definition.nodes[0],
            Node::Trigger {
                service: ticker,
                event: "tick".into()
            }
        );
        let e = load_process(&path, &BTreeMap::new()).unwrap_err();
        assert!(
            e.contains("nodes[0].trigger.service: 'ticker'") && e.contains("--service ticker=ID"),
            "{e}"
        );
        let mut bad = process.clone();
        bad["nodes"][1] = json!({"tsak": {}});
        let path = write(dir.path(), "q.json", &bad.to_string());
        let e = load_process(&path, &bindings).unwrap_err();
        assert!(e.contains("nodes[1]: unknown variant `tsak`"), "{e}");
        assert!(parse_binding("arith").is_err());
        assert!(parse_binding("=00").is_err());
        assert_eq!(
            parse_binding(&format!("a=0x{arith}")).unwrap(),
            ("a".to_string(), arith)
        );
    }
}
