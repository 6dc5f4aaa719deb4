//! The HTTP API (axum): transactions in, state and chain out, metrics.
//!
//! Every answer is JSON. A bad request gets a 4xx with `{"error": "...", "reason": "..."}` where
//! `reason` is a stable name; a full mempool answers 503 so clients back off. Bodies are read as
//! bytes and decoded here, so a malformed body gets our error, not a framework's.
//!
//! The server is bounded (`[api]` in config.toml): a client that never finishes its headers, or
//! its body, or never sends another request, is cut off, and only so many connections are served
//! at once, so slow clients cannot pin the node's tasks and file descriptors.

use crate::config::ApiConfig;
use crate::runtime::{Shared, StateView};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use runnet_mempool::AdmitError;
use runnet_types::batch::raw_payload_id;
use runnet_types::{Address, Hash};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Largest body of `POST /v1/tx`.
const MAX_TX_BODY: usize = 4 << 20;
/// Largest body of `POST /v1/txs`.
const MAX_TXS_BODY: usize = 64 << 20;
/// Most transactions in one `POST /v1/txs`.
pub const MAX_TXS_PER_REQUEST: usize = 20_000;

type Api = State<Arc<Shared>>;
/// A body, or why it could not be read (too large, broken connection).
type Body = Result<Bytes, BytesRejection>;

/// The body-limit refusal as our JSON error, not the framework's plain text.
// The error is the handler's own answer, returned as is: boxing it would only add a step.
#[allow(clippy::result_large_err)]
fn read_body(body: Body) -> Result<Bytes, Response> {
    body.map_err(|e| {
        let status = e.status();
        let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_body"
        };
        error(status, reason, e.body_text())
    })
}

/// What the server allows each client, from `[api]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    /// To send a request's headers; also how long an idle connection is kept.
    pub header_timeout: Duration,
    /// From the headers to the answer, the body's reading included.
    pub request_timeout: Duration,
}

impl Limits {
    pub fn of(api: &ApiConfig) -> Limits {
        Limits {
            max_connections: api.max_connections,
            header_timeout: Duration::from_millis(api.header_timeout_ms),
            request_timeout: Duration::from_millis(api.request_timeout_ms),
        }
    }
}

pub async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let limits = Limits::of(&shared.config.api);
    serve_router(listener, router(shared), limits).await
}

/// Serves `app` within `limits`. A connection is accepted only with a free slot: at the limit
/// new ones wait in the listen queue, and the timeouts free a slot a slow client holds.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn(move |request, next| {
        within(limits.request_timeout, request, next)
    }));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // The semaphore is never closed, so this never fails.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            // A client that goes away or times out ends its connection, not the server.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

/// A failed accept: one client's aborted connection is nothing; anything else (out of file
/// descriptors) is waited out rather than retried in a tight loop.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!("api: cannot accept a connection: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Answers 408 for a request not done within `limit` (a body trickling in, typically), and
/// closes its connection: what is left of the body is not worth reading.
async fn within(limit: Duration, request: axum::extract::Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = error(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!("the request took more than {} ms", limit.as_millis()),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/tx",
            post(post_tx).layer(DefaultBodyLimit::max(MAX_TX_BODY)),
        )
        .route(
            "/v1/txs",
            post(post_txs).layer(DefaultBodyLimit::max(MAX_TXS_BODY)),
        )
        .route(
            "/v1/raw",
            post(post_raw).layer(DefaultBodyLimit::max(MAX_TXS_BODY)),
        )
        .route("/v1/tx/{hash}", get(get_tx))
        .route("/v1/block/{height}/ids", get(get_block_ids))
        .route("/v1/status", get(get_status))
        .route("/v1/block/{height}", get(get_block))
        .route("/v1/account/{address}", get(get_account))
        .route("/v1/validators", get(get_validators))
        .route("/v1/service/{id}", get(get_service))
        .route("/v1/runner/{id}", get(get_runner))
        .route("/v1/execution/{id}", get(get_execution))
        .route("/v1/process/{id}", get(get_process))
        .route("/v1/event/{id}", get(get_event))
        .route("/metrics", get(get_metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(shared)
}

fn error(status: StatusCode, reason: &str, message: impl ToString) -> Response {
    (
        status,
        axum::Json(json!({"error": message.to_string(), "reason": reason})),
    )
        .into_response()
}

fn ok(value: impl Serialize) -> Response {
    axum::Json(value).into_response()
}

fn admit_error(e: &AdmitError) -> Response {
    let status = if e.is_busy() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_REQUEST
    };
    error(status, e.kind(), e)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxBody {
    /// The signed transaction, canonical encoding, in hex.
    tx: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxsBody {
    txs: Vec<String>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A JSON `{"tx": hex}` or the raw bytes.
async fn post_tx(State(shared): Api, headers: HeaderMap, body: Body) -> Response {
    let body = match read_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let bytes = if is_json(&headers) {
        let parsed: TxBody = match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_json", format!("body: {e}")),
        };
        match hex::decode(parsed.tx.trim_start_matches("0x")) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_hex", format!("tx: {e}")),
        }
    } else {
        body.to_vec()
    };
    let result = {
        let view = StateView(&shared.executor);
        shared
            .mempool
            .lock()
            .admit(&bytes, &view, crate::runtime::now_ms())
    };
    match result {
        Ok(hash) => {
            shared.metrics.txs_admitted.inc();
            shared.admitted.notify_one();
            ok(json!({ "hash": hash }))
        }
        Err(e) => {
            shared.metrics.refused_tx(e.kind());
            admit_error(&e)
        }
    }
}

/// Splits a binary `POST /v1/txs` body: each transaction as a 4-byte little-endian length then
/// its bytes.
pub fn split_frames(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err("truncated length prefix".into());
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(format!("frame of {len} bytes runs past the body"));
        }
        let (frame, tail) = tail.split_at(len);
        out.push(frame);
        rest = tail;
        if out.len() > MAX_TXS_PER_REQUEST {
            return Err(format!("more than {MAX_TXS_PER_REQUEST} transactions"));
        }
    }
    Ok(out)
}

/// Many transactions: JSON `{"txs": [hex, ...]}` or length-prefixed binary frames.
async fn post_txs(State(shared): Api, headers: HeaderMap, body: Body) -> Response {
    let body = match read_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let owned: Vec<Vec<u8>>;
    let frames: Vec<&[u8]> = if is_json(&headers) {
        let parsed: TxsBody = match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_json", format!("body: {e}")),
        };
        if parsed.txs.len() > MAX_TXS_PER_REQUEST {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many",
                format!("more than {MAX_TXS_PER_REQUEST} transactions"),
            );
        }
        let decoded: Result<Vec<Vec<u8>>, _> = parsed
            .txs
            .iter()
            .map(|h| hex::decode(h.trim_start_matches("0x")))
            .collect();
        owned = match decoded {
            Ok(v) => v,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_hex", format!("txs: {e}")),
        };
        owned.iter().map(Vec::as_slice).collect()
    } else {
        match split_frames(&body) {
            Ok(f) => f,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_frames", e),
        }
    };
    // The signatures are verified on the blocking pool, outside the mempool's lock, so the
    // driver and the other requests never wait behind them; everything else is checked before
    // (a busy mempool refuses at once) and again after, on the mempool as it then is.
    let prechecked = shared
        .mempool
        .lock()
        .precheck_many(&frames, &StateView(&shared.executor));
    let verified = if prechecked.to_verify() == 0 {
        prechecked.verify()
    } else {
        match tokio::task::spawn_blocking(move || prechecked.verify()).await {
            Ok(verified) => verified,
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("signature verification stopped: {e}"),
                );
            }
        }
    };
    let results = shared.mempool.lock().admit_verified(
        verified,
        &StateView(&shared.executor),
        crate::runtime::now_ms(),
    );
    // Every one refused for a full mempool: one 503 says it, with no answer per transaction
    // (under overload, writing and parsing those answers cost more than refusing).
    if let Some(Err(first)) = results.first()
        && results
            .iter()
            .all(|r| r.as_ref().is_err_and(AdmitError::is_busy))
    {
        shared.metrics.refused_tx_n("busy", results.len() as u64);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({
                "error": first.to_string(),
                "reason": "busy",
                "refused": { "busy": results.len() },
            })),
        )
            .into_response();
    }
    let mut admitted = 0u64;
    let answers: Vec<Value> = results
        .iter()
        .map(|r| match r {
            Ok(hash) => {
                admitted += 1;
                json!({ "hash": hash })
            }
            Err(e) => {
                shared.metrics.refused_tx(e.kind());
                json!({ "error": e.to_string(), "reason": e.kind() })
            }
        })
        .collect();
    shared.metrics.txs_admitted.inc_by(admitted);
    if admitted > 0 {
        shared.admitted.notify_one();
    }
    ok(json!({ "admitted": admitted, "results": answers }))
}

/// Raw benchmark payloads as binary frames; refused unless the node's config allows them.
async fn post_raw(State(shared): Api, body: Body) -> Response {
    let body = match read_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let frames = match split_frames(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_frames", e),
    };
    let now = crate::runtime::now_ms();
    let mut admitted = 0u64;
    let mut refused: std::collections::BTreeMap<&'static str, u64> = Default::default();
    {
        let mut mempool = shared.mempool.lock();
        for frame in frames {
            match mempool.admit_raw(frame.to_vec(), now) {
                Ok(_) => admitted += 1,
                Err(e) => {
                    if e.kind() == "raw_disabled" {
                        return admit_error(&e);
                    }
                    *refused.entry(e.kind()).or_default() += 1;
                }
            }
        }
    }
    shared.metrics.txs_admitted.inc_by(admitted);
    for (reason, n) in &refused {
        shared.metrics.refused_tx_n(reason, *n);
    }
    if admitted > 0 {
        shared.admitted.notify_one();
    }
    ok(json!({ "admitted": admitted, "refused": refused }))
}

/// The ids of what block `height` carried: transaction hashes and raw payload ids (their first
/// 32 bytes), for load generators that measure commit latency.
async fn get_block_ids(State(shared): Api, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_height",
            format!("'{height}' is not a block height"),
        );
    };
    let stored = match shared.blocks.block(height) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "unknown_block",
                format!("no committed block {height} here"),
            );
        }
        Err(e) => return internal(e),
    };
    let mut txs = Vec::new();
    let mut raw = Vec::new();
    for digest in &stored.block.block.batches {
        match shared.blocks.batch(digest) {
            Ok(Some(bytes)) => match runnet_types::Batch::decode(&bytes) {
                Ok(batch) => {
                    txs.extend(batch.txs.iter().map(|t| t.hash()));
                    raw.extend(batch.raw.iter().filter_map(|p| raw_payload_id(p)));
                }
                Err(e) => return internal(e),
            },
            // Not fetched yet (the block is committed but not executed here).
            Ok(None) => {
                return error(
                    StatusCode::NOT_FOUND,
                    "batches_pending",
                    format!("block {height}'s batches are not here yet"),
                );
            }
            Err(e) => return internal(e),
        }
    }
    ok(json!({ "height": height, "txs": txs, "raw": raw }))
}

#[allow(clippy::result_large_err)]
fn parse_hash(text: &str, what: &str) -> Result<Hash, Response> {
    Hash::from_str(text).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_id",
            format!("{what} '{text}': {e}"),
        )
    })
}

fn internal(e: impl ToString) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e)
}

async fn get_tx(State(shared): Api, Path(hash): Path<String>) -> Response {
    let hash = match parse_hash(&hash, "transaction hash") {
        Ok(h) => h,
        Err(r) => return r,
    };
    match shared.blocks.tx(&hash) {
        Ok(Some(record)) => ok(json!({
            "status": "committed",
            "hash": hash,
            "height": record.height,
            "index": record.index,
            "receipt": record.receipt,
        })),
        Ok(None) if shared.mempool.lock().is_pending(&hash) => {
            ok(json!({ "status": "pending", "hash": hash }))
        }
        Ok(None) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "status": "unknown",
                "hash": hash,
                "error": "not pending here and not in a retained block",
                "reason": "unknown_tx",
            })),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

async fn get_status(State(shared): Api) -> Response {
    ok(shared.status.read().clone())
}

async fn get_block(State(shared): Api, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_height",
            format!("'{height}' is not a block height"),
        );
    };
    match shared.blocks.block(height) {
        Ok(Some(stored)) => ok(json!({
            "height": height,
            "hash": stored.block.hash(),
            // After executing this block here; null until then.
            "state_root": shared.blocks.state_root_at(height).ok().flatten(),
            "seed": stored.seed,
            "vrf_output": stored.vrf_output,
            "block": stored.block,
        })),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_block",
            format!("no committed block {height} here (pruned, or not yet committed)"),
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct ProofQuery {
    #[serde(default)]
    proof: bool,
}

async fn get_account(
    State(shared): Api,
    Path(address): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Response {
    let address = match Address::from_str(&address) {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_address",
                format!("'{address}': {e}"),
            );
        }
    };
    let account = match shared.executor.account(&address) {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let next_nonce = shared.mempool.lock().next_nonce(&address, account.nonce);
    let mut answer = json!({
        "address": address,
        "balance": account.balance,
        "nonce": account.nonce,
        "next_nonce": next_nonce,
        "height": shared.executor.height(),
    });
    // The account's validator record (stake, status: active, unbonding, jailed), if it has one.
    match shared.executor.validator(&address) {
        Ok(Some(v)) => answer["validator"] = json!(v),
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    if q.proof {
        match shared.executor.prove_account(&address) {
            Ok(p) => answer["proof"] = json!(p),
            Err(e) => return internal(e),
        }
    }
    ok(answer)
}

async fn get_validators(State(shared): Api) -> Response {
    match shared.executor.validator_set() {
        Ok(set) => ok(json!({
            "epoch": set.epoch,
            "start_height": set.start_height,
            "total_stake": set.total_stake().to_string(),
            "validators": set.members,
        })),
        Err(e) => internal(e),
    }
}

/// An object by id, or with `?proof=true` the object with its proof.
fn object<T: Serialize>(
    found: Result<Option<T>, runnet_state::ExecError>,
    prove: impl FnOnce() -> Result<Value, runnet_state::ExecError>,
    want_proof: bool,
    what: &str,
    id: &Hash,
) -> Response {
    match found {
        Ok(Some(value)) if want_proof => match prove() {
            Ok(p) => ok(json!({ "value": value, "proof": p })),
            Err(e) => internal(e),
        },
        Ok(Some(value)) => ok(value),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            &format!("unknown_{what}"),
            format!("no {what} {id}"),
        ),
        Err(e) => internal(e),
    }
}

async fn get_service(
    State(shared): Api,
    Path(id): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Response {
    let id = match parse_hash(&id, "service id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    // The definition is stored as canonical JSON bytes: show it as JSON.
    let found = shared.executor.service(&id).map(|s| {
        s.map(|s| {
            let definition: Value = serde_json::from_slice(&s.definition).unwrap_or(Value::Null);
            json!({
                "id": s.id,
                "owner": s.owner,
                "definition": definition,
                "bundle_digest": s.bundle_digest,
                "wasm": s.wasm,
                "published_at": s.published_at,
            })
        })
    });
    object(
        found,
        || shared.executor.prove_service(&id).map(|p| json!(p)),
        q.proof,
        "service",
        &id,
    )
}

async fn get_runner(
    State(shared): Api,
    Path(id): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Response {
    let id = match parse_hash(&id, "runner id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    object(
        shared.executor.runner(&id),
        || shared.executor.prove_runner(&id).map(|p| json!(p)),
        q.proof,
        "runner",
        &id,
    )
}

async fn get_execution(
    State(shared): Api,
    Path(id): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Response {
    let id = match parse_hash(&id, "execution id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    // A pruned execution still has its final summary.
    let found = match shared.executor.execution(&id) {
        Ok(Some(e)) => Ok(Some(json!(e))),
        Ok(None) => shared
            .executor
            .execution_summary(&id)
            .map(|s| s.map(|s| json!({ "pruned": true, "summary": s }))),
        Err(e) => Err(e),
    };
    object(
        found,
        || shared.executor.prove_execution(&id).map(|p| json!(p)),
        q.proof,
        "execution",
        &id,
    )
}

async fn get_process(
    State(shared): Api,
    Path(id): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Response {
    let id = match parse_hash(&id, "process id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    // A closed process pruned after `retention_ms` still has its summary.
    let found = match shared.executor.process(&id) {
        Ok(Some(p)) => Ok(Some(json!(p))),
        Ok(None) => shared
            .executor
            .process_summary(&id)
            .map(|s| s.map(|s| json!({ "pruned": true, "summary": s }))),
        Err(e) => Err(e),
    };
    object(
        found,
        || shared.executor.prove_process(&id).map(|p| json!(p)),
        q.proof,
        "process",
        &id,
    )
}

/// An event's reports while they are kept, then its summary.
async fn get_event(State(shared): Api, Path(id): Path<String>) -> Response {
    let id = match parse_hash(&id, "event id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    let found = match shared.executor.event(&id) {
        Ok(Some(e)) => Ok(Some(json!(e))),
        Ok(None) => shared
            .executor
            .event_summary(&id)
            .map(|s| s.map(|s| json!({ "pruned": true, "summary": s }))),
        Err(e) => Err(e),
    };
    object(found, || Ok(Value::Null), false, "event", &id)
}

async fn get_metrics(State(shared): Api) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_refuse_lies() {
        let mut body = Vec::new();
        for payload in [&b"abc"[..], b"", b"hello"] {
            body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            body.extend_from_slice(payload);
        }
        let frames = split_frames(&body).unwrap();
        assert_eq!(frames, vec![&b"abc"[..], b"", b"hello"]);
        assert!(split_frames(&body[..body.len() - 1]).is_err());
        assert!(split_frames(&[1, 0]).is_err());
        let mut lie = (u32::MAX).to_le_bytes().to_vec();
        lie.push(0);
        assert!(split_frames(&lie).is_err());
    }
}
