//! The API's OpenAPI document, generated from the types of this crate ([`document`]); a node
//! serves it at `GET /v1/openapi.json`.
//!
//! Each route is declared here once, with its parameters, bodies and answers. The node's tests
//! check that every route its router serves is in the document and the other way round.

use crate::chain::{
    AccountAnswer, BlockAnswer, BlockIds, ParamsAnswer, ProofQuery, Status, ValidatorsAnswer,
};
use crate::error::ErrorBody;
use crate::objects::{
    EventRecord, EventSummary, Execution, ExecutionSummary, LiveOrPruned, MaybeProved, Process,
    ProcessSummary, Runner, Service, StoredService,
};
use crate::tx::{RawAdmission, TxAdmitted, TxLookup, TxRequest, TxsAdmission, TxsRequest};
use utoipa::OpenApi;

/// The document, as a value.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Doc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    // An empty binary body is no frames, which these take (utoipa has no attribute for it).
    for path in ["/v1/txs", "/v1/raw"] {
        if let Some(utoipa::openapi::RefOr::T(body)) = doc
            .paths
            .paths
            .get_mut(path)
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut())
        {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
    with_nullable_proved_values(doc)
}

/// `Proved<T>`'s `value` is `null` in a proof of absence, which utoipa does not say for an
/// `Option` of a type parameter: each `Proved_*` schema's `value` becomes "that or null".
fn with_nullable_proved_values(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let Ok(mut json) = serde_json::to_value(&doc) else {
        return doc;
    };
    let Some(schemas) = json
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return doc;
    };
    for (name, schema) in schemas.iter_mut() {
        if !name.starts_with("Proved_") {
            continue;
        }
        if let Some(value) = schema.pointer_mut("/properties/value") {
            let inner = value.take();
            *value = serde_json::json!({"oneOf": [inner, {"type": "null"}]});
        }
    }
    serde_json::from_value(json).unwrap_or(doc)
}

/// The document as JSON text, made once per process.
pub fn json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    // A document of plain structs and maps always serializes; an empty object would be the
    // answer if it ever did not.
    JSON.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".to_string()))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "runnet node API",
        description = "The HTTP API of a runnet node (docs/operator.md, \"Ports and API\"). Errors \
            answer an ErrorBody whose `reason` is a stable name. Types: the `runnet-api` crate.",
        license(name = "Apache-2.0"),
    ),
    paths(
        post_tx,
        post_txs,
        post_raw,
        get_tx,
        get_status,
        get_params,
        get_block,
        get_block_ids,
        get_account,
        get_validators,
        get_service,
        get_runner,
        get_execution,
        get_process,
        get_event,
        get_metrics,
        get_openapi,
    ),
    tags(
        (name = "transactions", description = "Admission and lookup of transactions"),
        (name = "chain", description = "The node, the chain and its blocks"),
        (name = "objects", description = "The state's objects, by id, with proofs"),
        (name = "node", description = "Operations"),
    )
)]
struct Doc;

/// A binary body: a transaction's bytes, or length-prefixed frames.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct Binary(Vec<u8>);

// The declarations: utoipa reads their attributes; the functions are never called.

#[utoipa::path(
    post, path = "/v1/tx", tag = "transactions",
    description = "Submits one signed transaction: JSON `{\"tx\": hex}`, or the raw bytes.",
    request_body(content(
        (TxRequest = "application/json"),
        (Binary = "application/octet-stream"),
    )),
    responses(
        (status = 200, description = "Admitted to the mempool", body = TxAdmitted),
        (status = 400, description = "Refused (`reason` says why)", body = ErrorBody),
        (status = 408, description = "The request took too long", body = ErrorBody),
        (status = 413, description = "The body is over 4 MiB", body = ErrorBody),
        (status = 503, description = "The mempool is full: retry later", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn post_tx() {}

#[utoipa::path(
    post, path = "/v1/txs", tag = "transactions",
    description = "Submits up to 20,000 signed transactions: JSON `{\"txs\": [hex, ...]}`, or \
        binary frames (each a 4-byte little-endian length, then the bytes).",
    request_body(
        description = "JSON, or binary frames (an empty body: no transactions)",
        content(
            (TxsRequest = "application/json"),
            (Binary = "application/octet-stream"),
        ),
    ),
    responses(
        (status = 200, description = "Each transaction's answer, in order", body = TxsAdmission),
        (status = 400, description = "The body is malformed", body = ErrorBody),
        (status = 408, description = "The request took too long", body = ErrorBody),
        (status = 413, description = "The body is over 64 MiB or carries too many", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
        (status = 503, description = "Every one refused for a full mempool (`refused`)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn post_txs() {}

#[utoipa::path(
    post, path = "/v1/raw", tag = "transactions",
    description = "Raw benchmark payloads as binary frames; refused unless the node's config \
        allows them.",
    request_body(
        description = "Binary frames (an empty body: no payloads)",
        content((Binary = "application/octet-stream")),
    ),
    responses(
        (status = 200, description = "Admitted and refused counts", body = RawAdmission),
        (status = 400, description = "Malformed frames, or raw payloads disabled", body = ErrorBody),
        (status = 408, description = "The request took too long", body = ErrorBody),
        (status = 413, description = "The body is over 64 MiB", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn post_raw() {}

#[utoipa::path(
    get, path = "/v1/tx/{hash}", tag = "transactions",
    description = "Where a transaction is: committed with its receipt, pending, or unknown (404).",
    params(("hash" = String, Path, description = "The transaction's hash, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "Committed or pending", body = TxLookup),
        (status = 400, description = "Not a hash", body = ErrorBody),
        (status = 404, description = "Unknown here (`status: unknown`)", body = TxLookup),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_tx() {}

#[utoipa::path(
    get, path = "/v1/status", tag = "chain",
    description = "The node's progress.",
    responses((status = 200, description = "The status", body = Status))
)]
#[allow(dead_code)]
fn get_status() {}

#[utoipa::path(
    get, path = "/v1/params", tag = "chain",
    description = "The chain's economic and consensus parameters, from its genesis.",
    responses((status = 200, description = "The parameters", body = ParamsAnswer))
)]
#[allow(dead_code)]
fn get_params() {}

#[utoipa::path(
    get, path = "/v1/block/{height}", tag = "chain",
    description = "A committed block.",
    params(("height" = u64, Path, description = "The block's height")),
    responses(
        (status = 200, description = "The block", body = BlockAnswer),
        (status = 400, description = "Not a height", body = ErrorBody),
        (status = 404, description = "Not committed here, or pruned", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_block() {}

#[utoipa::path(
    get, path = "/v1/block/{height}/ids", tag = "chain",
    description = "The ids of what a committed block carried.",
    params(("height" = u64, Path, description = "The block's height")),
    responses(
        (status = 200, description = "Transaction hashes and raw payload ids", body = BlockIds),
        (status = 400, description = "Not a height", body = ErrorBody),
        (status = 404, description = "Not committed here, or its batches not here yet", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_block_ids() {}

#[utoipa::path(
    get, path = "/v1/account/{address}", tag = "objects",
    description = "An account's balance and nonces (an account never seen reads as zero).",
    params(("address" = String, Path, description = "The account's address", pattern = "^(0x)?[0-9a-fA-F]{40}$"), ProofQuery),
    responses(
        (status = 200, description = "The account", body = AccountAnswer),
        (status = 400, description = "Not an address", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_account() {}

#[utoipa::path(
    get, path = "/v1/validators", tag = "chain",
    description = "The current epoch's validator set.",
    responses(
        (status = 200, description = "The set", body = ValidatorsAnswer),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_validators() {}

#[utoipa::path(
    get, path = "/v1/service/{id}", tag = "objects",
    description = "A service; with `?proof=true`, `{\"value\", \"proof\"}`.",
    params(("id" = String, Path, description = "The service's id, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$"), ProofQuery),
    responses(
        (status = 200, description = "The service", body = MaybeProved<Service, StoredService>),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_service() {}

#[utoipa::path(
    get, path = "/v1/runner/{id}", tag = "objects",
    description = "A runner; with `?proof=true`, `{\"value\", \"proof\"}`.",
    params(("id" = String, Path, description = "The runner's id, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$"), ProofQuery),
    responses(
        (status = 200, description = "The runner", body = MaybeProved<Runner, Runner>),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such runner", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_runner() {}

#[utoipa::path(
    get, path = "/v1/execution/{id}", tag = "objects",
    description = "An execution, or its summary once pruned; with `?proof=true`, \
        `{\"value\", \"proof\"}`.",
    params(("id" = String, Path, description = "The execution's id, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$"), ProofQuery),
    responses(
        (status = 200, description = "The execution", body = MaybeProved<LiveOrPruned<Execution, ExecutionSummary>, Execution>),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_execution() {}

#[utoipa::path(
    get, path = "/v1/process/{id}", tag = "objects",
    description = "A process, or its summary once pruned; with `?proof=true`, \
        `{\"value\", \"proof\"}`.",
    params(("id" = String, Path, description = "The process's id, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$"), ProofQuery),
    responses(
        (status = 200, description = "The process", body = MaybeProved<LiveOrPruned<Process, ProcessSummary>, Process>),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such process", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_process() {}

#[utoipa::path(
    get, path = "/v1/event/{id}", tag = "objects",
    description = "An event's reports while they are kept, then its summary.",
    params(("id" = String, Path, description = "The event's id, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The event", body = LiveOrPruned<EventRecord, EventSummary>),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 500, description = "The node failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_event() {}

#[utoipa::path(
    get, path = "/metrics", tag = "node",
    description = "Metrics in the OpenMetrics text format.",
    responses((status = 200, description = "The metrics", body = String,
        content_type = "application/openmetrics-text"))
)]
#[allow(dead_code)]
fn get_metrics() {}

#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "node",
    description = "This document.",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
#[allow(dead_code)]
fn get_openapi() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_parses_and_resolves_its_references() {
        let text = json();
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/v1/params"));
        assert!(paths.contains_key("/v1/openapi.json"));
        assert!(paths["/v1/tx"]["post"].is_object());
        assert_eq!(paths["/v1/tx"]["post"]["requestBody"]["required"], true);
        assert_eq!(paths["/v1/txs"]["post"]["requestBody"]["required"], false);
        assert_eq!(paths["/v1/raw"]["post"]["requestBody"]["required"], false);
        let value = &doc["components"]["schemas"]["Proved_StoredAccount"]["properties"]["value"];
        assert_eq!(value["oneOf"][1]["type"], "null", "{value}");
        // Every `$ref` names a schema the document carries.
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "dangling $ref {r}");
        }
        // It reads back as a document.
        let back: utoipa::openapi::OpenApi = serde_json::from_str(text).unwrap();
        assert_eq!(back.paths.paths.len(), paths.len());
    }

    fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_string()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_documents_reasons_are_the_stable_names() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        let documented: Vec<&str> = doc["components"]["schemas"]["Reason"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let names: Vec<&str> = crate::Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(documented, names);
    }

    #[test]
    fn every_operation_declares_its_success() {
        let doc = document();
        for (path, item) in &doc.paths.paths {
            let json = serde_json::to_value(item).unwrap();
            for (method, op) in json.as_object().unwrap() {
                let Some(responses) = op.get("responses").and_then(|r| r.as_object()) else {
                    continue;
                };
                assert!(responses.contains_key("200"), "{method} {path}: no 200");
            }
        }
    }
}
