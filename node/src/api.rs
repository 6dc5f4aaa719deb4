//! The HTTP API (axum): transactions in, state and chain out, metrics.
//!
//! Every answer is JSON, one of the types of `runnet-api` (the API's requests, answers and
//! refusal reasons, and the OpenAPI document served at `GET /v1/openapi.json`): nothing here
//! writes JSON by hand. A bad request gets a 4xx with `{"error": "...", "reason": "..."}` where
//! `reason` is a stable name ([`api::Reason`]); a full mempool answers 503 so clients back off.
//! Bodies are read as bytes and decoded here, so a malformed body gets our error, not a
//! framework's.
//!
//! The server is bounded (`[api]` in config.toml): a client that never finishes its headers, or
//! its body, or never sends another request, is cut off, and only so many connections are served
//! at once, so slow clients cannot pin the node's tasks and file descriptors.

use crate::config::ApiConfig;
use crate::runtime::{Shared, StateView};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use runnet_api as api;
use runnet_api::Reason;
use runnet_mempool::AdmitError;
use runnet_types::batch::raw_payload_id;
use runnet_types::{Address, Hash};
use serde::Serialize;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

mod convert;

/// Largest body of `POST /v1/tx`.
const MAX_TX_BODY: usize = api::tx::MAX_TX_BODY_BYTES;
/// Largest body of `POST /v1/txs`.
const MAX_TXS_BODY: usize = api::tx::MAX_TXS_BODY_BYTES;
/// Most transactions in one `POST /v1/txs`.
pub const MAX_TXS_PER_REQUEST: usize = api::tx::MAX_TXS_PER_REQUEST;

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
            Reason::TooLarge
        } else {
            Reason::BadBody
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
                Reason::Timeout,
                format!("the request took more than {} ms", limit.as_millis()),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// One route of the API: its method (lowercase, as in the OpenAPI document), its path and its
/// handler, made together by [`Route::get`] and [`Route::post`] so they cannot disagree.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub handler: MethodRouter<Arc<Shared>>,
}

impl Route {
    fn get<H: Handler<T, Arc<Shared>>, T: 'static>(path: &'static str, handler: H) -> Route {
        Route {
            method: "get",
            path,
            handler: get(handler),
        }
    }

    /// A POST whose body may be up to `max_body` bytes.
    fn post<H: Handler<T, Arc<Shared>>, T: 'static>(
        path: &'static str,
        handler: H,
        max_body: usize,
    ) -> Route {
        Route {
            method: "post",
            path,
            handler: post(handler).layer(DefaultBodyLimit::max(max_body)),
        }
    }
}

/// Every route the API serves: the router is built from this list, and a test checks it
/// against the OpenAPI document (`runnet_api::openapi`), both ways.
pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/tx", post_tx, MAX_TX_BODY),
        Route::post("/v1/txs", post_txs, MAX_TXS_BODY),
        Route::post("/v1/raw", post_raw, MAX_TXS_BODY),
        Route::get("/v1/tx/{hash}", get_tx),
        Route::get("/v1/block/{height}/ids", get_block_ids),
        Route::get("/v1/status", get_status),
        Route::get("/v1/params", get_params),
        Route::get("/v1/block/{height}", get_block),
        Route::get("/v1/account/{address}", get_account),
        Route::get("/v1/validators", get_validators),
        Route::get("/v1/service/{id}", get_service),
        Route::get("/v1/runner/{id}", get_runner),
        Route::get("/v1/execution/{id}", get_execution),
        Route::get("/v1/process/{id}", get_process),
        Route::get("/v1/event/{id}", get_event),
        Route::get("/v1/openapi.json", get_openapi),
        Route::get("/metrics", get_metrics),
    ]
}

pub fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for Route { path, handler, .. } in routes() {
        router = router.route(path, handler);
    }
    router
        .fallback(|| async { error(StatusCode::NOT_FOUND, Reason::NotFound, "no such endpoint") })
        .with_state(shared)
}

fn error(status: StatusCode, reason: Reason, message: impl ToString) -> Response {
    (status, axum::Json(api::ErrorBody::new(reason, message))).into_response()
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
    error(status, convert::admit_reason(e), e)
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
        let parsed: api::TxRequest = match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Reason::BadJson,
                    format!("body: {e}"),
                );
            }
        };
        match hex::decode(parsed.tx.trim_start_matches("0x")) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, Reason::BadHex, format!("tx: {e}")),
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
            ok(api::TxAdmitted { hash })
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

/// Most signatures a request has checked on the async worker instead of the blocking pool
/// (about 40 us each on this machine: docs/benchmarks.md, "CPU at a load").
const INLINE_VERIFY_MAX: usize = 4;

/// Many transactions: JSON `{"txs": [hex, ...]}` or length-prefixed binary frames.
async fn post_txs(State(shared): Api, headers: HeaderMap, body: Body) -> Response {
    let body = match read_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let owned: Vec<Vec<u8>>;
    let frames: Vec<&[u8]> = if is_json(&headers) {
        let parsed: api::TxsRequest = match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Reason::BadJson,
                    format!("body: {e}"),
                );
            }
        };
        if parsed.txs.len() > MAX_TXS_PER_REQUEST {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Reason::TooMany,
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
            Err(e) => return error(StatusCode::BAD_REQUEST, Reason::BadHex, format!("txs: {e}")),
        };
        owned.iter().map(Vec::as_slice).collect()
    } else {
        match split_frames(&body) {
            Ok(f) => f,
            Err(e) => return error(StatusCode::BAD_REQUEST, Reason::BadFrames, e),
        }
    };
    // The signatures are verified on the blocking pool, outside the mempool's lock, so the
    // driver and the other requests never wait behind them; everything else is checked before
    // (a busy mempool refuses at once) and again after, on the mempool as it then is.
    let prechecked = shared
        .mempool
        .lock()
        .precheck_many(&frames, &StateView(&shared.executor));
    // A few signatures (one client's request, tens of microseconds each) are cheaper to check
    // here than the two thread hand-offs of the blocking pool.
    shared
        .metrics
        .signatures_checked("admission", prechecked.to_verify());
    let verified = if prechecked.to_verify() <= INLINE_VERIFY_MAX {
        prechecked.verify()
    } else {
        match tokio::task::spawn_blocking(move || prechecked.verify()).await {
            Ok(verified) => verified,
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Reason::Internal,
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
        let body = api::ErrorBody {
            refused: Some([(Reason::Busy, results.len() as u64)].into()),
            ..api::ErrorBody::new(Reason::Busy, first)
        };
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    let mut admitted = 0u64;
    let answers: Vec<api::TxResult> = results
        .iter()
        .map(|r| match r {
            Ok(hash) => {
                admitted += 1;
                api::TxResult::Admitted(api::TxAdmitted { hash: *hash })
            }
            Err(e) => {
                shared.metrics.refused_tx(e.kind());
                api::TxResult::Refused(api::TxRefused {
                    error: e.to_string(),
                    reason: convert::admit_reason(e),
                })
            }
        })
        .collect();
    shared.metrics.txs_admitted.inc_by(admitted);
    if admitted > 0 {
        shared.admitted.notify_one();
    }
    ok(api::TxsAdmission {
        admitted,
        results: answers,
    })
}

/// Raw benchmark payloads as binary frames; refused unless the node's config allows them.
async fn post_raw(State(shared): Api, body: Body) -> Response {
    let body = match read_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let frames = match split_frames(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, Reason::BadFrames, e),
    };
    let now = crate::runtime::now_ms();
    let mut admitted = 0u64;
    let mut refused: std::collections::BTreeMap<Reason, u64> = Default::default();
    {
        let mut mempool = shared.mempool.lock();
        for frame in frames {
            match mempool.admit_raw(frame.to_vec(), now) {
                Ok(_) => admitted += 1,
                Err(e) => {
                    if e.kind() == "raw_disabled" {
                        return admit_error(&e);
                    }
                    *refused.entry(convert::admit_reason(&e)).or_default() += 1;
                }
            }
        }
    }
    shared.metrics.txs_admitted.inc_by(admitted);
    for (reason, n) in &refused {
        shared.metrics.refused_tx_n(reason.as_str(), *n);
    }
    if admitted > 0 {
        shared.admitted.notify_one();
    }
    ok(api::RawAdmission { admitted, refused })
}

/// The ids of what block `height` carried: transaction hashes and raw payload ids (their first
/// 32 bytes), for load generators that measure commit latency.
async fn get_block_ids(State(shared): Api, ApiPath(height): ApiPath) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            Reason::BadHeight,
            format!("'{height}' is not a block height"),
        );
    };
    let stored = match shared.blocks.block(height) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                Reason::UnknownBlock,
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
                    Reason::BatchesPending,
                    format!("block {height}'s batches are not here yet"),
                );
            }
            Err(e) => return internal(e),
        }
    }
    ok(api::BlockIds { height, txs, raw })
}

#[allow(clippy::result_large_err)]
fn parse_hash(text: &str, what: &str) -> Result<Hash, Response> {
    Hash::from_str(text).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            Reason::BadId,
            format!("{what} '{text}': {e}"),
        )
    })
}

fn internal(e: impl ToString) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, Reason::Internal, e)
}

async fn get_tx(State(shared): Api, ApiPath(hash): ApiPath) -> Response {
    let hash = match parse_hash(&hash, "transaction hash") {
        Ok(h) => h,
        Err(r) => return r,
    };
    match shared.blocks.tx(&hash) {
        Ok(Some(record)) => ok(api::TxLookup::Committed {
            hash,
            height: record.height,
            index: record.index,
            receipt: convert::receipt(record.receipt),
        }),
        Ok(None) if shared.mempool.lock().is_pending(&hash) => ok(api::TxLookup::Pending { hash }),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            axum::Json(api::TxLookup::Unknown {
                hash,
                error: "not pending here and not in a retained block".into(),
                reason: Reason::UnknownTx,
            }),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

async fn get_status(State(shared): Api) -> Response {
    ok(shared.status.read().clone())
}

/// The chain's rules, from the genesis the state was made from (the executor checked, at
/// start, that the store's genesis hash is this genesis's).
async fn get_params(State(shared): Api) -> Response {
    ok(api::ParamsAnswer {
        chain_id: shared.chain_id.clone(),
        genesis_hash: shared.genesis.hash(),
        genesis_time_ms: shared.genesis.genesis_time_ms,
        params: shared.executor.params().clone(),
        consensus: shared.genesis.consensus.clone(),
    })
}

/// The OpenAPI document of this API, generated from `runnet-api`'s types.
async fn get_openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        runnet_api::openapi::json(),
    )
        .into_response()
}

async fn get_block(State(shared): Api, ApiPath(height): ApiPath) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            Reason::BadHeight,
            format!("'{height}' is not a block height"),
        );
    };
    match shared.blocks.block(height) {
        Ok(Some(stored)) => ok(api::BlockAnswer {
            height,
            hash: stored.block.hash(),
            // After executing this block here; null until then.
            state_root: shared.blocks.state_root_at(height).ok().flatten(),
            seed: stored.seed,
            vrf_output: stored.vrf_output,
            block: stored.block,
        }),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            Reason::UnknownBlock,
            format!("no committed block {height} here (pruned, or not yet committed)"),
        ),
        Err(e) => internal(e),
    }
}

/// `?proof=`; a query string that does not parse gets our JSON error (`bad_query`), not the
/// framework's text.
struct ApiQuery(api::ProofQuery);

impl<S: Send + Sync> FromRequestParts<S> for ApiQuery {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Query::<api::ProofQuery>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(ApiQuery(q)),
            Err(e) => Err(error(e.status(), Reason::BadQuery, e.body_text())),
        }
    }
}

/// The path's one parameter; a path that does not decode gets our JSON error (`bad_path`).
struct ApiPath(String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(p)) => Ok(ApiPath(p)),
            Err(e) if e.status().is_server_error() => {
                Err(error(e.status(), Reason::Internal, e.body_text()))
            }
            Err(e) => Err(error(e.status(), Reason::BadPath, e.body_text())),
        }
    }
}

async fn get_account(
    State(shared): Api,
    ApiPath(address): ApiPath,
    ApiQuery(q): ApiQuery,
) -> Response {
    let address = match Address::from_str(&address) {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                Reason::BadAddress,
                format!("'{address}': {e}"),
            );
        }
    };
    let account = match shared.executor.account(&address) {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let next_nonce = shared.mempool.lock().next_nonce(&address, account.nonce);
    let mut answer = api::AccountAnswer {
        address,
        balance: account.balance,
        nonce: account.nonce,
        next_nonce,
        height: shared.executor.height(),
        validator: None,
        proof: None,
    };
    // The account's validator record (stake, status: active, unbonding, jailed), if it has one.
    match shared.executor.validator(&address) {
        Ok(v) => answer.validator = v.map(convert::validator),
        Err(e) => return internal(e),
    }
    if q.proof {
        match shared.executor.prove_account(&address) {
            Ok(p) => answer.proof = Some(convert::proved(p, convert::stored_account)),
            Err(e) => return internal(e),
        }
    }
    ok(answer)
}

async fn get_validators(State(shared): Api) -> Response {
    match shared.executor.validator_set() {
        Ok(set) => ok(api::ValidatorsAnswer {
            epoch: set.epoch,
            start_height: set.start_height,
            total_stake: set.total_stake().to_string(),
            validators: set.members.into_iter().map(convert::set_member).collect(),
        }),
        Err(e) => internal(e),
    }
}

/// An object by id (converted by `show`), or with `?proof=true` the object with its proof (of
/// the stored value, converted by `show_stored`).
#[allow(clippy::too_many_arguments)]
fn object<T, A: Serialize, S, P: Serialize>(
    found: Result<Option<T>, runnet_state::ExecError>,
    show: impl FnOnce(T) -> A,
    prove: impl FnOnce() -> Result<runnet_state::Proved<S>, runnet_state::ExecError>,
    show_stored: impl FnOnce(S) -> P,
    want_proof: bool,
    reason: Reason,
    what: &str,
    id: &Hash,
) -> Response {
    match found {
        Ok(Some(value)) if want_proof => match prove() {
            Ok(p) => ok(api::WithProof {
                value: show(value),
                proof: convert::proved(p, show_stored),
            }),
            Err(e) => internal(e),
        },
        Ok(Some(value)) => ok(show(value)),
        Ok(None) => error(StatusCode::NOT_FOUND, reason, format!("no {what} {id}")),
        Err(e) => internal(e),
    }
}

/// A live object, or the summary that stays of it once pruned.
fn live_or_pruned<T, S>(
    live: Result<Option<T>, runnet_state::ExecError>,
    summary: impl FnOnce() -> Result<Option<S>, runnet_state::ExecError>,
) -> Result<Option<api::LiveOrPruned<T, S>>, runnet_state::ExecError> {
    match live {
        Ok(Some(value)) => Ok(Some(api::LiveOrPruned::Live(value))),
        Ok(None) => summary().map(|s| {
            s.map(|summary| {
                api::LiveOrPruned::Pruned(api::Pruned {
                    pruned: true,
                    summary,
                })
            })
        }),
        Err(e) => Err(e),
    }
}

async fn get_service(State(shared): Api, ApiPath(id): ApiPath, ApiQuery(q): ApiQuery) -> Response {
    let id = match parse_hash(&id, "service id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    // The definition is stored as canonical JSON bytes: shown as JSON.
    object(
        shared.executor.service(&id),
        convert::service,
        || shared.executor.prove_service(&id),
        convert::stored_service,
        q.proof,
        Reason::UnknownService,
        "service",
        &id,
    )
}

async fn get_runner(State(shared): Api, ApiPath(id): ApiPath, ApiQuery(q): ApiQuery) -> Response {
    let id = match parse_hash(&id, "runner id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    object(
        shared.executor.runner(&id),
        convert::runner,
        || shared.executor.prove_runner(&id),
        convert::runner,
        q.proof,
        Reason::UnknownRunner,
        "runner",
        &id,
    )
}

async fn get_execution(
    State(shared): Api,
    ApiPath(id): ApiPath,
    ApiQuery(q): ApiQuery,
) -> Response {
    let id = match parse_hash(&id, "execution id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    // A pruned execution still has its final summary.
    let found = live_or_pruned(shared.executor.execution(&id), || {
        shared.executor.execution_summary(&id)
    });
    object(
        found,
        |found| match found {
            api::LiveOrPruned::Live(e) => api::LiveOrPruned::Live(convert::execution(e)),
            api::LiveOrPruned::Pruned(p) => api::LiveOrPruned::Pruned(api::Pruned {
                pruned: p.pruned,
                summary: convert::execution_summary(p.summary),
            }),
        },
        || shared.executor.prove_execution(&id),
        convert::execution,
        q.proof,
        Reason::UnknownExecution,
        "execution",
        &id,
    )
}

async fn get_process(State(shared): Api, ApiPath(id): ApiPath, ApiQuery(q): ApiQuery) -> Response {
    let id = match parse_hash(&id, "process id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    // A closed process pruned after `retention_ms` still has its summary.
    let found = live_or_pruned(shared.executor.process(&id), || {
        shared.executor.process_summary(&id)
    });
    object(
        found,
        |found| match found {
            api::LiveOrPruned::Live(p) => api::LiveOrPruned::Live(convert::process(p)),
            api::LiveOrPruned::Pruned(p) => api::LiveOrPruned::Pruned(api::Pruned {
                pruned: p.pruned,
                summary: convert::process_summary(p.summary),
            }),
        },
        || shared.executor.prove_process(&id),
        convert::process,
        q.proof,
        Reason::UnknownProcess,
        "process",
        &id,
    )
}

/// An event's reports while they are kept, then its summary.
async fn get_event(State(shared): Api, ApiPath(id): ApiPath) -> Response {
    let id = match parse_hash(&id, "event id") {
        Ok(h) => h,
        Err(r) => return r,
    };
    let found = match live_or_pruned(shared.executor.event(&id), || {
        shared.executor.event_summary(&id)
    }) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                Reason::UnknownEvent,
                format!("no event {id}"),
            );
        }
        Err(e) => return internal(e),
    };
    ok(match found {
        api::LiveOrPruned::Live(e) => api::LiveOrPruned::Live(convert::event(e)),
        api::LiveOrPruned::Pruned(p) => api::LiveOrPruned::Pruned(api::Pruned {
            pruned: p.pruned,
            summary: convert::event_summary(p.summary),
        }),
    })
}

async fn get_metrics(State(shared): Api) -> Response {
    shared.metrics.observe_network(&shared.network.stats());
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
    use std::collections::BTreeSet;

    /// The routes the router serves are the routes the OpenAPI document describes: a new
    /// route without its declaration in `runnet_api::openapi` (or a declaration of a route
    /// that is gone) fails here.
    #[test]
    fn every_route_is_in_the_openapi_document_and_back() {
        let served: BTreeSet<(String, String)> = routes()
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        assert_eq!(served.len(), routes().len(), "a route is listed twice");
        let doc: serde_json::Value =
            serde_json::from_str(runnet_api::openapi::json()).expect("the document parses");
        let methods = [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ];
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                if methods.contains(&method.as_str()) {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let gone: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "served, not in the document: {undocumented:?}"
        );
        assert!(gone.is_empty(), "in the document, not served: {gone:?}");
        assert!(served.contains(&("get".into(), "/v1/params".into())));
    }

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
