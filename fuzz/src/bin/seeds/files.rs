//! Seeds for what a node reads from files and what transactions carry for the state machine to
//! parse: genesis, key files, safety data, service and process definitions, records and
//! WebAssembly modules (the project's example services).

use crate::Seeds;
use crate::consensus::{proposed, qc};
use runnet_consensus::SafetyData;
use runnet_fuzz::{
    CHAIN_ID, DOUBLER, TICKER, VALIDATORS, scratch_file, service_texts, services, validator_key,
    validator_vrf,
};
use runnet_p2p::peer_id_of;
use runnet_types::encoding::encode;
use runnet_types::genesis::{ConsensusParams, GenesisAccount, GenesisValidator, Params};
use runnet_types::keyfile::{KeyKind, ValidatorKeys, save_key, save_validator_keys};
use runnet_types::process::{
    Condition, Constant, Edge, KeyPath, MapField, MapValue, Node, Op, ProcessDefinition,
};
use runnet_types::record::{Schema, Value};
use runnet_types::service::ServiceDefinition;
use runnet_types::{Address, Genesis, SecretKey};
use runnet_vm_exec::wat_to_wasm;
use std::collections::BTreeMap;
use std::path::Path;

fn genesis() -> Genesis {
    let validators = (0..VALIDATORS)
        .map(|i| GenesisValidator {
            address: validator_key(i).public().address(),
            consensus_key: validator_key(i).public(),
            vrf_key: validator_vrf(i).public(),
            peer_id: peer_id_of([i + 1; 32]).expect("a node key seed gives a peer id"),
            stake: 1_000,
        })
        .collect();
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        accounts: vec![GenesisAccount {
            address: Address([7; 20]),
            balance: 1_000_000,
        }],
        validators,
        params: Params::default(),
        consensus: ConsensusParams::default(),
    }
}

pub fn geneses() -> Seeds {
    let full = genesis().to_json().into_bytes();
    let key = validator_key(0).public();
    let minimal = format!(
        r#"{{"chain_id": "{CHAIN_ID}", "validators": [{{"address": "{}", "consensus_key": "{key}",
        "vrf_key": "{}", "peer_id": "p", "stake": 1}}], "params": {{"vm": {{"max_memory_pages": 16}}}}}}"#,
        key.address(),
        validator_vrf(0).public(),
    );
    vec![("full", full), ("minimal", minimal.into_bytes())]
}

/// What `save` writes, read back from a scratch file.
fn saved(save: impl FnOnce(&Path)) -> Vec<u8> {
    let path = scratch_file("seed");
    save(&path);
    std::fs::read(&path).expect("a seed file just written reads back")
}

pub fn keyfiles() -> Seeds {
    let key = SecretKey::from_seed([1; 32]);
    let ok = |r: Result<(), runnet_types::keyfile::KeyFileError>| {
        r.expect("the scratch folder is writable")
    };
    vec![
        (
            "account",
            saved(|p| ok(save_key(p, KeyKind::Account, &key))),
        ),
        ("node", saved(|p| ok(save_key(p, KeyKind::Node, &key)))),
        (
            "validator",
            saved(|p| {
                ok(save_validator_keys(
                    p,
                    &ValidatorKeys::from_seeds([2; 32], [3; 32]),
                ))
            }),
        ),
    ]
}

pub fn safety() -> Seeds {
    let store =
        |data: SafetyData| saved(|p| data.store(p).expect("the scratch folder is writable"));
    let busy = SafetyData {
        epoch: 0,
        last_voted_round: 1,
        one_chain_round: 1,
        highest_qc: Some(qc()),
        blocks: vec![proposed(1)],
        ..SafetyData::default()
    };
    vec![("new", store(SafetyData::default())), ("busy", store(busy))]
}

pub fn definitions() -> Seeds {
    let mut seeds: Seeds = service_texts()
        .into_iter()
        .zip(["ticker", "doubler"])
        .map(|((_, bytes), name)| (name, bytes))
        .collect();
    // The example services as a developer writes them, and in the canonical form the chain stores.
    for (name, canonical, text) in [
        (
            "arith",
            "arith_canonical",
            include_str!("../../../../examples/services/arith.json"),
        ),
        (
            "factor",
            "factor_canonical",
            include_str!("../../../../examples/services/factor.json"),
        ),
        (
            "text",
            "text_canonical",
            include_str!("../../../../examples/services/text.json"),
        ),
    ] {
        let definition: ServiceDefinition =
            serde_json::from_str(text).expect("the example services parse");
        seeds.push((name, text.as_bytes().to_vec()));
        seeds.push((canonical, definition.to_canonical_bytes()));
    }
    seeds
}

fn path(node: u32, fields: &[&str]) -> KeyPath {
    KeyPath {
        node,
        fields: fields.iter().map(|f| f.to_string()).collect(),
    }
}

/// Trigger on ticker's tick, filter it three ways, add two of its fields, double the sum.
pub fn ticker_process() -> ProcessDefinition {
    let condition = |path, op, value| Condition { path, op, value };
    let field = |name: &str, value| MapField {
        name: name.into(),
        value,
    };
    let nodes = vec![
        Node::Trigger {
            service: TICKER,
            event: "tick".into(),
        },
        Node::Filter {
            conditions: vec![
                condition(path(0, &["seq"]), Op::Gt, Constant::Int(0)),
                condition(
                    path(0, &["note"]),
                    Op::Contains,
                    Constant::String("a".into()),
                ),
                condition(
                    path(0, &["tags"]),
                    Op::Contains,
                    Constant::String("x".into()),
                ),
            ],
        },
        Node::Map {
            fields: vec![
                field("a", MapValue::Path(path(0, &["seq"]))),
                field("b", MapValue::Path(path(0, &["inner", "b"]))),
            ],
        },
        Node::Task {
            service: TICKER,
            task: "add".into(),
            max_fee: 20_000,
        },
        Node::Map {
            fields: vec![field("x", MapValue::Path(path(3, &["sum"])))],
        },
        Node::Task {
            service: DOUBLER,
            task: "double".into(),
            max_fee: 20_000,
        },
    ];
    let edges = (0..5).map(|from| Edge { from, to: from + 1 }).collect();
    ProcessDefinition { nodes, edges }
}

pub fn processes() -> Seeds {
    let process = ticker_process();
    let json = serde_json::to_vec_pretty(&process).expect("a process serializes");
    vec![("ticker_binary", encode(&process)), ("ticker_json", json)]
}

fn tick_schema() -> &'static Schema {
    &services()[&TICKER]
        .event("tick")
        .expect("ticker has a tick event")
        .data
}

/// A tick event's data, every field set.
pub fn tick_record() -> Vec<u8> {
    let fields = [
        ("seq", Value::Int(3)),
        ("up", Value::Bool(true)),
        ("note", Value::String("a note".into())),
        ("blob", Value::Bytes(vec![1, 2, 3])),
        (
            "tags",
            Value::List(vec![Value::String("x".into()), Value::String("y".into())]),
        ),
        ("maybe", Value::Optional(Some(Box::new(Value::Int(-1))))),
        (
            "inner",
            Value::Record(BTreeMap::from([
                ("a".into(), Value::Int(1)),
                ("b".into(), Value::Int(2)),
            ])),
        ),
    ];
    let value = Value::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    );
    tick_schema()
        .encode(&value)
        .expect("the tick record fits its schema")
}

pub fn records() -> Seeds {
    // Schema JSON, a 0xff separator, then the record: bytes or JSON.
    let schema = serde_json::to_vec(tick_schema()).expect("a schema serializes");
    let joined = |record: &[u8]| [schema.as_slice(), &[0xff], record].concat();
    let json = tick_schema()
        .decode(&tick_record())
        .expect("the tick record decodes")
        .to_json();
    let add = br#"{"a": "int", "b": "int"}"#;
    vec![
        ("tick", joined(&tick_record())),
        ("tick_json", joined(json.to_string().as_bytes())),
        ("add", [add.as_slice(), &[0xff], &[1; 16]].concat()),
    ]
}

pub fn arith_module() -> Vec<u8> {
    wat_to_wasm(include_str!("../../../../examples/services/arith.wat"))
        .expect("arith.wat compiles")
}

pub fn modules() -> Seeds {
    let wat = |text: &str| wat_to_wasm(text).expect("a seed module compiles");
    let looping = r#"(module (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) (i32.const 0))
        (func (export "spin") (param i32 i32) (loop $l (br $l))))"#;
    let float = r#"(module (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) (i32.const 0))
        (func (export "f") (param i32 i32) (drop (f64.add (f64.const 1) (f64.const 2)))))"#;
    vec![
        ("arith", arith_module()),
        (
            "factor",
            wat(include_str!("../../../../examples/services/factor.wat")),
        ),
        (
            "mixer",
            wat(include_str!("../../../../examples/services/mixer.wat")),
        ),
        (
            "text",
            wat(include_str!("../../../../examples/services/text.wat")),
        ),
        ("looping", wat(looping)),
        ("float", wat(float)),
    ]
}
