//! The line protocol between the node and an external service program (docs/runners.md): one
//! JSON object per line, each way.
//!
//! Node to program: `{"id": 7, "task": "add", "inputs": {"a": 2, "b": 40}}`.
//! Program to node: `{"id": 7, "outputs": {"sum": 42}}` or `{"id": 7, "error": "overflow"}`
//! (the answer to request 7), or at any time `{"event": "tick", "data": {"seq": 3}}` (an event
//! to report). Records are JSON objects of the schema in the service definition: ints as
//! numbers, bytes as `0x` hex strings.

use runnet_types::record::Schema;
use serde_json::{Map, Value, json};

/// Longest line accepted from a program; a longer one is a protocol violation.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A program's answer to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Outputs(Value),
    Error(String),
}

/// One line a program printed.
#[derive(Clone, Debug, PartialEq)]
pub enum ProgramLine {
    Answer { id: u64, reply: Reply },
    Event { event: String, data: Value },
}

/// The request line for task `task` with `inputs` (a JSON record), newline included.
pub fn request_line(id: u64, task: &str, inputs: &Value) -> String {
    let mut line = json!({"id": id, "task": task, "inputs": inputs}).to_string();
    line.push('\n');
    line
}

/// Parses one line a program printed; the error says what is wrong with it.
pub fn parse_line(line: &str) -> Result<ProgramLine, String> {
    let value: Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("not a JSON line: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("not a JSON object".into());
    };
    if object.contains_key("event") {
        let event = take_string(&mut object, "event")?;
        let data = object.remove("data").unwrap_or_else(|| json!({}));
        if !data.is_object() {
            return Err("'data' must be a JSON object".into());
        }
        refuse_extra(&object)?;
        return Ok(ProgramLine::Event { event, data });
    }
    let id = object
        .remove("id")
        .ok_or("neither 'id' (an answer) nor 'event' (an event)")?
        .as_u64()
        .ok_or("'id' must be the request's number")?;
    let reply = match (object.remove("outputs"), object.remove("error")) {
        (Some(outputs), None) if outputs.is_object() => Reply::Outputs(outputs),
        (Some(_), None) => return Err("'outputs' must be a JSON object".into()),
        (None, Some(Value::String(error))) => Reply::Error(error),
        (None, Some(_)) => return Err("'error' must be a string".into()),
        (Some(_), Some(_)) => return Err("an answer has 'outputs' or 'error', not both".into()),
        (None, None) => return Err("an answer needs 'outputs' or 'error'".into()),
    };
    refuse_extra(&object)?;
    Ok(ProgramLine::Answer { id, reply })
}

fn take_string(object: &mut Map<String, Value>, key: &str) -> Result<String, String> {
    match object.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(format!("'{key}' must be a string")),
    }
}

fn refuse_extra(object: &Map<String, Value>) -> Result<(), String> {
    match object.keys().next() {
        Some(key) => Err(format!("unknown field '{key}'")),
        None => Ok(()),
    }
}

/// Record bytes as the JSON a program reads.
pub fn record_to_json(schema: &Schema, bytes: &[u8]) -> Result<Value, String> {
    schema
        .decode(bytes)
        .map(|v| v.to_json())
        .map_err(|e| e.to_string())
}

/// A program's JSON record as the bytes the chain checks.
pub fn record_from_json(schema: &Schema, json: &Value) -> Result<Vec<u8>, String> {
    let value = schema.value_from_json(json).map_err(|e| e.to_string())?;
    schema.encode(&value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_types::record::FieldType;

    #[test]
    fn answers_and_events_parse() {
        assert_eq!(
            parse_line(r#"{"id": 7, "outputs": {"sum": 42}}"#).unwrap(),
            ProgramLine::Answer {
                id: 7,
                reply: Reply::Outputs(json!({"sum": 42}))
            }
        );
        assert_eq!(
            parse_line("{\"id\":8,\"error\":\"overflow\"}\n").unwrap(),
            ProgramLine::Answer {
                id: 8,
                reply: Reply::Error("overflow".into())
            }
        );
        assert_eq!(
            parse_line(r#"{"event": "tick", "data": {"seq": 3}}"#).unwrap(),
            ProgramLine::Event {
                event: "tick".into(),
                data: json!({"seq": 3})
            }
        );
    }

    #[test]
    fn malformed_lines_say_why() {
        for (line, words) in [
            ("hello", "not a JSON line"),
            ("[1, 2]", "not a JSON object"),
            ("{}", "neither 'id'"),
            (r#"{"id": -1, "outputs": {}}"#, "request's number"),
            (r#"{"id": 1}"#, "needs 'outputs' or 'error'"),
            (r#"{"id": 1, "outputs": 3}"#, "'outputs' must be"),
            (r#"{"id": 1, "error": 3}"#, "'error' must be"),
            (r#"{"id": 1, "outputs": {}, "error": "x"}"#, "not both"),
            (
                r#"{"id": 1, "outputs": {}, "extra": 1}"#,
                "unknown field 'extra'",
            ),
            (r#"{"event": 5}"#, "'event' must be"),
            (r#"{"event": "tick", "data": [1]}"#, "'data' must be"),
        ] {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(words), "{line}: {err}");
        }
    }

    #[test]
    fn records_cross_between_bytes_and_json() {
        let schema = Schema::new([("a", FieldType::Int), ("b", FieldType::Bytes)]);
        let bytes = record_from_json(&schema, &json!({"a": -2, "b": "0xbeef"})).unwrap();
        assert_eq!(
            record_to_json(&schema, &bytes).unwrap(),
            json!({"a": -2, "b": "0xbeef"})
        );
        assert!(record_from_json(&schema, &json!({"a": "x", "b": "0x"})).is_err());
        assert!(record_to_json(&schema, &bytes[..3]).is_err());
        let line = request_line(3, "add", &json!({"a": 1}));
        assert!(line.ends_with('\n'));
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap(),
            json!({"id": 3, "task": "add", "inputs": {"a": 1}})
        );
    }
}
