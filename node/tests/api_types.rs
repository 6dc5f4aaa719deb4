//! The API's answers against its types (`runnet-api`): a live node's JSON, read into the typed
//! answer and written back, is the same JSON, for every endpoint and the error answers. A field
//! the server sends that the types lack, or one the types declare that the server does not send,
//! fails here.

mod common;

use common::{Net, TEST_GAS_LIMIT};
use runnet_api as api;
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Genesis, Hash, Payload, SignedTx, TxBody};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Status and JSON body of a request, whatever the status.
fn call(net: &Net, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("{}{path}", net.summary.nodes[0].api);
    let response = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        (_, Some((content_type, bytes))) => agent
            .post(&url)
            .header("content-type", content_type)
            .send(&bytes[..]),
        (_, None) => agent.post(&url).send_empty(),
    };
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, value)
}

/// Reads `raw` as a `T` and checks that writing it back gives `raw` again.
fn round_trip<T: DeserializeOwned + Serialize>(what: &str, raw: &Value) -> T {
    let typed: T = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("{what}: not a {}: {e}\n{raw:#}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(&back, raw, "{what}: the typed answer differs from the JSON");
    typed
}

fn get<T: DeserializeOwned + Serialize>(net: &Net, path: &str, status: u16) -> T {
    let (got, raw) = call(net, "GET", path, None);
    assert_eq!(got, status, "GET {path}: {raw}");
    round_trip(path, &raw)
}

fn error(
    net: &Net,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
    status: u16,
) -> api::Reason {
    let (got, raw) = call(net, method, path, body);
    assert_eq!(got, status, "{method} {path}: {raw}");
    let body: api::ErrorBody = round_trip(path, &raw);
    assert_ne!(body.reason, api::Reason::Unknown, "{raw}");
    body.reason
}

fn signed(net: &Net, nonce: u64, payload: Payload) -> SignedTx {
    let key = net.faucet();
    TxBody {
        chain_id: net.chain_id.clone(),
        sender: key.public(),
        nonce,
        gas_limit: TEST_GAS_LIMIT,
        gas_price: 1,
        payload,
    }
    .sign(&key)
}

#[test]
fn every_answer_is_its_type() {
    let mut net = Net::init(1, 0, 0);
    net.start(0);
    net.wait("two blocks", LIMIT, |n| n.height(0) >= 2);

    // The node and the chain.
    let status: api::Status = get(&net, "/v1/status", 200);
    assert_eq!(status.chain_id, net.chain_id);
    let params: api::ParamsAnswer = get(&net, "/v1/params", 200);
    let genesis: Genesis =
        serde_json::from_str(&std::fs::read_to_string(net.home(0).join("genesis.json")).unwrap())
            .unwrap();
    assert_eq!(params.params, genesis.params);
    assert_eq!(params.consensus, genesis.consensus);
    assert_eq!(params.genesis_hash, genesis.hash());
    assert_eq!(params.chain_id, net.chain_id);
    let (code, doc) = call(&net, "GET", "/v1/openapi.json", None);
    assert_eq!(code, 200);
    assert_eq!(doc, serde_json::to_value(api::openapi::document()).unwrap());
    let block: api::BlockAnswer = get(&net, "/v1/block/1", 200);
    assert_eq!(block.height, 1);
    let _: api::BlockIds = get(&net, "/v1/block/1/ids", 200);
    let set: api::ValidatorsAnswer = get(&net, "/v1/validators", 200);
    assert_eq!(set.validators.len(), 1);
    let faucet = net.faucet().public().address();
    let account: api::AccountAnswer = get(&net, &format!("/v1/account/{faucet}"), 200);
    assert!(account.balance > 0 && account.proof.is_none());
    let proved: api::AccountAnswer = get(&net, &format!("/v1/account/{faucet}?proof=true"), 200);
    assert_eq!(
        proved.proof.unwrap().value.unwrap().balance,
        account.balance
    );
    let validator = set.validators[0].address;
    let v: api::AccountAnswer = get(&net, &format!("/v1/account/{validator}"), 200);
    assert!(v.validator.is_some());

    // Transactions: a service, a runner of it and an execution it runs, in one request.
    let definition: ServiceDefinition = serde_json::from_value(serde_json::json!({
        "name": "api-types",
        "tasks": [{"key": "double", "inputs": {"x": "int"}, "outputs": {"y": "int"},
                   "max_output_bytes": 64, "verification": "trusted", "timeout_ms": 600000}],
        "events": [{"key": "tick", "data": {"seq": "int"}}]
    }))
    .unwrap();
    let definition = definition.to_canonical_bytes();
    let bundle = Bundle::External {
        digest: Hash::digest(b"never run"),
    };
    let service = runnet_state::objects::service_id(&faucet, &definition, &bundle.digest());
    let runner = runnet_state::objects::runner_id(&service, &faucet);
    let nonce = account.next_nonce;
    let txs = [
        signed(&net, nonce, Payload::PublishService { definition, bundle }),
        signed(
            &net,
            nonce + 1,
            Payload::RegisterRunner {
                service,
                stake: params.params.min_runner_stake,
                price_per_call: 10,
                price_per_kib: 1,
                max_open: 4,
            },
        ),
        signed(
            &net,
            nonce + 2,
            Payload::RequestExecution {
                service,
                task: "double".into(),
                inputs: 21i64.to_le_bytes().to_vec(),
                max_fee: 1_000_000,
                runner: Some(runner),
            },
        ),
    ];
    let hexes: Vec<String> = txs.iter().map(|t| hex::encode(t.encode())).collect();
    // The first, then all three (the first again: refused as a duplicate).
    let (code, raw) = call(
        &net,
        "POST",
        "/v1/tx",
        Some((
            "application/json",
            serde_json::to_vec(&api::TxRequest {
                tx: hexes[0].clone(),
            })
            .unwrap(),
        )),
    );
    assert_eq!(code, 200, "{raw}");
    let admitted: api::TxAdmitted = round_trip("POST /v1/tx", &raw);
    assert_eq!(admitted.hash, txs[0].hash());
    let (code, raw) = call(
        &net,
        "POST",
        "/v1/txs",
        Some((
            "application/json",
            serde_json::to_vec(&api::TxsRequest { txs: hexes.clone() }).unwrap(),
        )),
    );
    assert_eq!(code, 200, "{raw}");
    let answer: api::TxsAdmission = round_trip("POST /v1/txs", &raw);
    assert_eq!(answer.admitted, 2, "{raw}");
    assert!(answer.results[0].reason().is_some(), "{raw}");
    assert_eq!(answer.results[1].reason(), None, "{raw}");
    let execution = txs[2].hash();
    for tx in &txs {
        let hash = tx.hash();
        net.wait("the transactions committed", LIMIT, |n| {
            n.query(0, &format!("/v1/tx/{hash}"))
                .is_some_and(|v| v["status"] == "committed")
        });
        let lookup: api::TxLookup = get(&net, &format!("/v1/tx/{hash}"), 200);
        let api::TxLookup::Committed { receipt, .. } = lookup else {
            panic!("{lookup:?}");
        };
        assert_eq!(
            receipt.outcome,
            api::objects::Outcome::Success,
            "{receipt:?}"
        );
    }
    let s: api::objects::MaybeProved<api::Service, api::StoredService> =
        get(&net, &format!("/v1/service/{service}"), 200);
    assert!(matches!(s, api::objects::MaybeProved::Plain(_)), "{s:?}");
    let s: api::objects::MaybeProved<api::Service, api::StoredService> =
        get(&net, &format!("/v1/service/{service}?proof=true"), 200);
    assert!(matches!(s, api::objects::MaybeProved::Proved(_)), "{s:?}");
    let _: api::Runner = get(&net, &format!("/v1/runner/{runner}"), 200);
    let _: api::WithProof<api::Runner, api::Runner> =
        get(&net, &format!("/v1/runner/{runner}?proof=true"), 200);
    let e: api::ExecutionAnswer = get(&net, &format!("/v1/execution/{execution}"), 200);
    assert!(matches!(e, api::LiveOrPruned::Live(_)), "{e:?}");
    let _: api::WithProof<api::ExecutionAnswer, api::Execution> =
        get(&net, &format!("/v1/execution/{execution}?proof=true"), 200);

    // Lookups that find nothing, and bad requests.
    let zero = Hash::ZERO;
    let unknown: api::TxLookup = get(&net, &format!("/v1/tx/{zero}"), 404);
    assert!(matches!(
        unknown,
        api::TxLookup::Unknown {
            reason: api::Reason::UnknownTx,
            ..
        }
    ));
    use api::Reason as R;
    for (path, status, reason) in [
        (format!("/v1/process/{zero}"), 404, R::UnknownProcess),
        (format!("/v1/event/{zero}"), 404, R::UnknownEvent),
        (
            format!("/v1/service/{zero}?proof=true"),
            404,
            R::UnknownService,
        ),
        (format!("/v1/runner/{zero}"), 404, R::UnknownRunner),
        (format!("/v1/execution/{zero}"), 404, R::UnknownExecution),
        ("/v1/block/999999".into(), 404, R::UnknownBlock),
        ("/v1/block/x".into(), 400, R::BadHeight),
        ("/v1/block/x/ids".into(), 400, R::BadHeight),
        ("/v1/tx/xyz".into(), 400, R::BadId),
        ("/v1/account/nope".into(), 400, R::BadAddress),
        ("/v1/nothing".into(), 404, R::NotFound),
        (format!("/v1/runner/{zero}?proof=maybe"), 400, R::BadQuery),
        ("/v1/tx/%FF".into(), 400, R::BadPath),
    ] {
        assert_eq!(error(&net, "GET", &path, None, status), reason, "{path}");
    }
    let json = "application/json";
    let bytes = "application/octet-stream";
    for (path, body, status, reason) in [
        ("/v1/tx", (json, b"{".to_vec()), 400, R::BadJson),
        (
            "/v1/tx",
            (json, br#"{"tx": "zz"}"#.to_vec()),
            400,
            R::BadHex,
        ),
        ("/v1/tx", (bytes, b"junk".to_vec()), 400, R::Decode),
        ("/v1/tx", (bytes, txs[0].encode()), 400, R::NonceTooLow),
        (
            "/v1/txs",
            (json, br#"{"txs": [], "more": 1}"#.to_vec()),
            400,
            R::BadJson,
        ),
        ("/v1/txs", (bytes, vec![9, 0, 0, 0, 1]), 400, R::BadFrames),
        ("/v1/raw", (bytes, vec![1, 0, 0, 0, 1]), 400, R::RawDisabled),
    ] {
        assert_eq!(
            error(&net, "POST", path, Some(body), status),
            reason,
            "{path}"
        );
    }

    // The typed client reads the same answers.
    let client = api::client::Client::new(&net.summary.nodes[0].api);
    assert_eq!(client.status().unwrap().chain_id, net.chain_id);
    assert_eq!(client.params().unwrap(), params);
    assert_eq!(client.block(1).unwrap().unwrap().height, 1);
    assert!(client.block(999_999).unwrap().is_none());
    assert!(client.block_ids(1).unwrap().is_some());
    assert!(client.block_ids(999_999).unwrap().is_none());
    assert!(client.account(&faucet).unwrap().nonce >= 3);
    assert_eq!(client.validators().unwrap().validators.len(), 1);
    let committed = client.tx(&txs[0].hash()).unwrap().unwrap();
    assert!(
        matches!(committed, api::TxLookup::Committed { .. }),
        "{committed:?}"
    );
    assert!(client.tx(&zero).unwrap().is_none());
    assert_eq!(client.service(&service).unwrap().unwrap().id, service);
    assert!(client.service(&zero).unwrap().is_none());
    assert_eq!(client.runner(&runner).unwrap().unwrap().id, runner);
    assert!(client.execution(&execution).unwrap().is_some());
    assert!(client.process(&zero).unwrap().is_none());
    assert!(client.event(&zero).unwrap().is_none());
    assert!(client.metrics().unwrap().contains("runnet_"));
    assert!(client.openapi().unwrap()["paths"].is_object());
    let refused = client.submit(&txs[0].encode()).unwrap_err();
    assert_eq!(refused.reason(), Some(R::NonceTooLow), "{refused}");
    assert_eq!(refused.status(), Some(400));
    let framed = client
        .submit_frames(&api::client::frames([&txs[1].encode()[..]]))
        .unwrap();
    assert_eq!(framed.results[0].reason(), Some(R::NonceTooLow));
    let raw = client.submit_raw(&api::client::frames([&[0u8; 40][..]]));
    assert_eq!(raw.unwrap_err().reason(), Some(R::RawDisabled));
    // An endpoint the node does not have is an error, not a missing object.
    let missing = client.find::<Value>("/v1/nothing").unwrap_err();
    assert!(!missing.is_unknown_object() && missing.status() == Some(404));
    net.kill(0);
}
