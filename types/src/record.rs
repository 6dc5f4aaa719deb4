//! Typed records: the schemas of task inputs, outputs and event data, and their encoding.
//!
//! A record travels as bytes encoded positionally under its schema (no field names): fields in
//! ascending order of name; `int` is i64 little endian; `bool` one byte 0 or 1; `string` and
//! `bytes` a u32 little-endian length then the bytes; `list` a u32 count then the items;
//! `optional` a byte 0 (absent) or 1 then the value; a nested record its fields. The encoding is
//! canonical (one value, one byte string) and easy to read from hand-written WebAssembly: a task
//! with inputs `{a: int, b: int}` finds `a` at offset 0 and `b` at offset 8.
//!
//! Schemas nest at most [`MAX_SCHEMA_DEPTH`] deep, so every parser here is bounded.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MAX_SCHEMA_DEPTH: usize = 8;
pub const MAX_RECORD_FIELDS: usize = 64;
pub const MAX_NAME_LEN: usize = 64;

/// The type of one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Int,
    Bool,
    String,
    Bytes,
    List(Box<FieldType>),
    Optional(Box<FieldType>),
    Record(Schema),
}

/// A record's fields by name. JSON: `{"a": "int", "tags": {"list": "string"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schema(pub BTreeMap<String, FieldType>);

/// A record value, for converting between JSON and the positional encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    String(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Optional(Option<Box<Value>>),
    Record(BTreeMap<String, Value>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum RecordError {
    #[error("schema nests deeper than {MAX_SCHEMA_DEPTH} levels")]
    TooDeep,
    #[error("record has more than {MAX_RECORD_FIELDS} fields")]
    TooManyFields,
    #[error("invalid name '{0}': use 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and _")]
    BadName(String),
    #[error("field '{field}': {problem}")]
    Field { field: String, problem: String },
    #[error("record bytes end early")]
    Truncated,
    #[error("{0} bytes left over after the record")]
    TrailingBytes(usize),
    #[error("record is larger than {0} bytes")]
    TooLarge(usize),
}

/// Names of tasks, events and fields: short, lowercase, unambiguous in every encoding.
pub fn check_name(name: &str) -> Result<(), RecordError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RecordError::BadName(name.to_string()))
    }
}

impl Schema {
    pub fn new(fields: impl IntoIterator<Item = (&'static str, FieldType)>) -> Schema {
        Schema(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// Checks names, field counts and depth.
    pub fn validate(&self) -> Result<(), RecordError> {
        self.validate_at(1)
    }

    fn validate_at(&self, depth: usize) -> Result<(), RecordError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(RecordError::TooDeep);
        }
        if self.0.len() > MAX_RECORD_FIELDS {
            return Err(RecordError::TooManyFields);
        }
        for (name, field) in &self.0 {
            check_name(name)?;
            field.validate_at(depth + 1)?;
        }
        Ok(())
    }

    /// Checks that `bytes` is exactly one record of this schema. Returns the byte length.
    pub fn check_bytes(&self, bytes: &[u8]) -> Result<(), RecordError> {
        let mut reader = Reader { bytes, pos: 0 };
        self.read(&mut reader, None)?;
        reader.finish()
    }

    /// Decodes a record (for display and JSON).
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, RecordError> {
        let mut reader = Reader { bytes, pos: 0 };
        let mut out = BTreeMap::new();
        self.read(&mut reader, Some(&mut out))?;
        reader.finish()?;
        Ok(Value::Record(out))
    }

    fn read(
        &self,
        reader: &mut Reader<'_>,
        mut out: Option<&mut BTreeMap<String, Value>>,
    ) -> Result<(), RecordError> {
        for (name, field) in &self.0 {
            let value = field
                .read(reader, out.is_some())
                .map_err(|e| nest(name, e))?;
            if let (Some(out), Some(value)) = (out.as_deref_mut(), value) {
                out.insert(name.clone(), value);
            }
        }
        Ok(())
    }

    /// Encodes a record value (a `Value::Record` with exactly the schema's fields).
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, RecordError> {
        let mut out = Vec::new();
        self.write(value, &mut out)?;
        Ok(out)
    }

    fn write(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let Value::Record(fields) = value else {
            return Err(RecordError::Field {
                field: String::new(),
                problem: "expected a record".into(),
            });
        };
        if let Some(extra) = fields.keys().find(|k| !self.0.contains_key(*k)) {
            return Err(RecordError::Field {
                field: extra.clone(),
                problem: "not in the schema".into(),
            });
        }
        for (name, field) in &self.0 {
            let value = fields.get(name).ok_or_else(|| RecordError::Field {
                field: name.clone(),
                problem: "missing".into(),
            })?;
            field.write(value, out).map_err(|e| nest(name, e))?;
        }
        Ok(())
    }

    /// Converts JSON (`{"a": 1, "s": "text", "b": "0xbeef"}`) to a record value of this schema.
    /// Bytes are hex strings with an optional `0x`; an optional field may be absent or null.
    pub fn value_from_json(&self, json: &serde_json::Value) -> Result<Value, RecordError> {
        let object = json.as_object().ok_or_else(|| RecordError::Field {
            field: String::new(),
            problem: "expected a JSON object".into(),
        })?;
        if let Some(extra) = object.keys().find(|k| !self.0.contains_key(*k)) {
            return Err(RecordError::Field {
                field: extra.clone(),
                problem: "not in the schema".into(),
            });
        }
        let mut out = BTreeMap::new();
        for (name, field) in &self.0 {
            let item = object.get(name).unwrap_or(&serde_json::Value::Null);
            out.insert(
                name.clone(),
                field.from_json(item).map_err(|e| nest(name, e))?,
            );
        }
        Ok(Value::Record(out))
    }
}

fn nest(name: &str, error: RecordError) -> RecordError {
    match error {
        RecordError::Field { field, problem } if field.is_empty() => RecordError::Field {
            field: name.to_string(),
            problem,
        },
        RecordError::Field { field, problem } => RecordError::Field {
            field: format!("{name}.{field}"),
            problem,
        },
        other => other,
    }
}

fn problem(text: &str) -> RecordError {
    RecordError::Field {
        field: String::new(),
        problem: text.to_string(),
    }
}

impl FieldType {
    fn validate_at(&self, depth: usize) -> Result<(), RecordError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(RecordError::TooDeep);
        }
        match self {
            // `Some(None)` and `None` would both be JSON `null`: the record a node displays
            // would not be the one it holds, and an external runner could not return it.
            FieldType::Optional(inner) if matches!(**inner, FieldType::Optional(_)) => Err(
                problem("an optional of an optional has no JSON form: use one optional"),
            ),
            FieldType::List(inner) | FieldType::Optional(inner) => inner.validate_at(depth + 1),
            FieldType::Record(schema) => schema.validate_at(depth),
            _ => Ok(()),
        }
    }

    fn read(&self, reader: &mut Reader<'_>, keep: bool) -> Result<Option<Value>, RecordError> {
        Ok(match self {
            FieldType::Int => {
                let v = i64::from_le_bytes(reader.array::<8>()?);
                keep.then_some(Value::Int(v))
            }
            FieldType::Bool => match reader.array::<1>()?[0] {
                0 => keep.then_some(Value::Bool(false)),
                1 => keep.then_some(Value::Bool(true)),
                _ => return Err(problem("a bool must be the byte 0 or 1")),
            },
            FieldType::String => {
                let len = reader.len_prefix()?;
                let raw = reader.take(len)?;
                let text = std::str::from_utf8(raw).map_err(|_| problem("string is not UTF-8"))?;
                keep.then(|| Value::String(text.to_string()))
            }
            FieldType::Bytes => {
                let len = reader.len_prefix()?;
                let raw = reader.take(len)?;
                keep.then(|| Value::Bytes(raw.to_vec()))
            }
            FieldType::List(inner) => {
                let count = reader.len_prefix()?;
                // Every item takes at least one byte, so a count larger than what is left is a lie.
                if count > reader.remaining() {
                    return Err(RecordError::Truncated);
                }
                let mut items = Vec::new();
                for _ in 0..count {
                    if let Some(item) = inner.read(reader, keep)? {
                        items.push(item);
                    }
                }
                keep.then_some(Value::List(items))
            }
            FieldType::Optional(inner) => match reader.array::<1>()?[0] {
                0 => keep.then_some(Value::Optional(None)),
                1 => {
                    let item = inner.read(reader, keep)?;
                    keep.then(|| Value::Optional(item.map(Box::new)))
                }
                _ => return Err(problem("an optional's tag must be the byte 0 or 1")),
            },
            FieldType::Record(schema) => {
                if keep {
                    let mut out = BTreeMap::new();
                    schema.read(reader, Some(&mut out))?;
                    Some(Value::Record(out))
                } else {
                    schema.read(reader, None)?;
                    None
                }
            }
        })
    }

    fn write(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), RecordError> {
        match (self, value) {
            (FieldType::Int, Value::Int(v)) => out.extend_from_slice(&v.to_le_bytes()),
            (FieldType::Bool, Value::Bool(v)) => out.push(u8::from(*v)),
            (FieldType::String, Value::String(s)) => write_len_bytes(s.as_bytes(), out)?,
            (FieldType::Bytes, Value::Bytes(b)) => write_len_bytes(b, out)?,
            (FieldType::List(inner), Value::List(items)) => {
                let count = u32::try_from(items.len()).map_err(|_| problem("list too long"))?;
                out.extend_from_slice(&count.to_le_bytes());
                for item in items {
                    inner.write(item, out)?;
                }
            }
            (FieldType::Optional(_), Value::Optional(None)) => out.push(0),
            (FieldType::Optional(inner), Value::Optional(Some(item))) => {
                out.push(1);
                inner.write(item, out)?;
            }
            (FieldType::Record(schema), value @ Value::Record(_)) => schema.write(value, out)?,
            (expected, _) => return Err(problem(&format!("expected {}", expected.name()))),
        }
        Ok(())
    }

    #[allow(clippy::wrong_self_convention)]
    fn from_json(&self, json: &serde_json::Value) -> Result<Value, RecordError> {
        use serde_json::Value as J;
        let wrong = || problem(&format!("expected {}", self.name()));
        Ok(match (self, json) {
            (FieldType::Int, J::Number(n)) => Value::Int(n.as_i64().ok_or_else(wrong)?),
            (FieldType::Bool, J::Bool(b)) => Value::Bool(*b),
            (FieldType::String, J::String(s)) => Value::String(s.clone()),
            (FieldType::Bytes, J::String(s)) => Value::Bytes(
                hex::decode(s.strip_prefix("0x").unwrap_or(s))
                    .map_err(|_| problem("expected hex bytes"))?,
            ),
            (FieldType::List(inner), J::Array(items)) => Value::List(
                items
                    .iter()
                    .map(|item| inner.from_json(item))
                    .collect::<Result<_, _>>()?,
            ),
            (FieldType::Optional(_), J::Null) => Value::Optional(None),
            (FieldType::Optional(inner), item) => {
                Value::Optional(Some(Box::new(inner.from_json(item)?)))
            }
            (FieldType::Record(schema), item @ J::Object(_)) => schema.value_from_json(item)?,
            _ => return Err(wrong()),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            FieldType::Int => "an int",
            FieldType::Bool => "a bool",
            FieldType::String => "a string",
            FieldType::Bytes => "bytes",
            FieldType::List(_) => "a list",
            FieldType::Optional(_) => "an optional value",
            FieldType::Record(_) => "a record",
        }
    }
}

fn write_len_bytes(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
    let len = u32::try_from(bytes.len()).map_err(|_| problem("too long"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

impl Value {
    /// JSON for display: ints as numbers, bytes as `0x` hex.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Int(v) => J::from(*v),
            Value::Bool(v) => J::Bool(*v),
            Value::String(s) => J::String(s.clone()),
            Value::Bytes(b) => J::String(format!("0x{}", hex::encode(b))),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Optional(None) => J::Null,
            Value::Optional(Some(v)) => v.to_json(),
            Value::Record(fields) => J::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], RecordError> {
        if len > self.remaining() {
            return Err(RecordError::Truncated);
        }
        let out = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len_prefix(&mut self) -> Result<usize, RecordError> {
        Ok(u32::from_le_bytes(self.array::<4>()?) as usize)
    }

    fn finish(&self) -> Result<(), RecordError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(RecordError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn sample_schema() -> Schema {
        serde_json::from_value(json!({
            "b": "int",
            "a": "int",
            "name": "string",
            "tags": {"list": "string"},
            "maybe": {"optional": "bytes"},
            "inner": {"record": {"ok": "bool"}}
        }))
        .unwrap()
    }

    #[test]
    fn positional_layout_for_wasm_authors() {
        let schema = Schema::new([("a", FieldType::Int), ("b", FieldType::Int)]);
        let value = schema.value_from_json(&json!({"b": 2, "a": 1})).unwrap();
        let bytes = schema.encode(&value).unwrap();
        assert_eq!(&bytes[..8], &1i64.to_le_bytes());
        assert_eq!(&bytes[8..], &2i64.to_le_bytes());
    }

    #[test]
    fn json_round_trip_through_bytes() {
        let schema = sample_schema();
        schema.validate().unwrap();
        let input = json!({"a": -5, "b": 7, "name": "né", "tags": ["x", "y"],
                           "maybe": "0xbeef", "inner": {"ok": true}});
        let value = schema.value_from_json(&input).unwrap();
        let bytes = schema.encode(&value).unwrap();
        schema.check_bytes(&bytes).unwrap();
        assert_eq!(schema.decode(&bytes).unwrap(), value);
        assert_eq!(value.to_json(), input);
    }

    #[test]
    fn json_errors_name_the_field() {
        let schema = sample_schema();
        let err = schema
            .value_from_json(
                &json!({"a": "x", "b": 1, "name": "", "tags": [], "inner": {"ok": true}}),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "field 'a': expected an int");
        let err = schema
            .value_from_json(&json!({"a": 1, "b": 1, "name": "", "tags": [], "inner": {"ok": 3}}))
            .unwrap_err();
        assert_eq!(err.to_string(), "field 'inner.ok': expected a bool");
        let err = schema.value_from_json(&json!({"zzz": 1})).unwrap_err();
        assert!(err.to_string().contains("not in the schema"));
    }

    #[test]
    fn malformed_bytes_are_refused() {
        let schema = Schema::new([("s", FieldType::String), ("f", FieldType::Bool)]);
        // Fields are laid out by name: `f` (bool) then `s` (string).
        // f = 2 is not a bool
        assert!(schema.check_bytes(&[2, 0, 0, 0, 0]).is_err());
        // s claims 4 GiB
        assert_eq!(
            schema.check_bytes(&[0, 0xff, 0xff, 0xff, 0xff, 1]),
            Err(RecordError::Truncated)
        );
        // invalid UTF-8
        assert!(schema.check_bytes(&[0, 1, 0, 0, 0, 0xff]).is_err());
        // trailing bytes
        let ok = schema
            .encode(
                &schema
                    .value_from_json(&json!({"s": "a", "f": true}))
                    .unwrap(),
            )
            .unwrap();
        let mut long = ok.clone();
        long.push(0);
        assert_eq!(
            schema.check_bytes(&long),
            Err(RecordError::TrailingBytes(1))
        );
        assert!(schema.check_bytes(&ok).is_ok());
    }

    #[test]
    fn hostile_list_count_is_refused_without_allocating() {
        let schema = Schema::new([("l", FieldType::List(Box::new(FieldType::Int)))]);
        assert_eq!(
            schema.check_bytes(&[0xff, 0xff, 0xff, 0x7f]),
            Err(RecordError::Truncated)
        );
    }

    #[test]
    fn schema_limits() {
        let mut deep = FieldType::Int;
        for _ in 0..MAX_SCHEMA_DEPTH {
            deep = FieldType::List(Box::new(deep));
        }
        assert_eq!(
            Schema::new([("x", deep)]).validate(),
            Err(RecordError::TooDeep)
        );
        let bad_name: Schema = serde_json::from_value(json!({"Bad-Name": "int"})).unwrap();
        assert!(matches!(bad_name.validate(), Err(RecordError::BadName(_))));
        let many: BTreeMap<String, FieldType> = (0..=MAX_RECORD_FIELDS)
            .map(|i| (format!("f{i}"), FieldType::Int))
            .collect();
        assert_eq!(Schema(many).validate(), Err(RecordError::TooManyFields));
        // Found by the `record` fuzz target: `Some(None)` would read back from JSON as `None`.
        let nested: Schema =
            serde_json::from_value(json!({"a": {"optional": {"optional": "int"}}})).unwrap();
        let error = nested.validate().unwrap_err();
        assert!(
            error.to_string().contains("optional of an optional"),
            "{error}"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let schema = sample_schema();
            if schema.check_bytes(&bytes).is_ok() {
                let value = schema.decode(&bytes).unwrap();
                prop_assert_eq!(schema.encode(&value).unwrap(), bytes);
            }
        }
    }
}
