//! HTTP routes: GraphQL over HTTP (POST, and GET for queries only), health, readiness, metrics.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::{parse_query_string, GraphiQLSource};
use async_graphql::parser::types::OperationType;
use async_graphql::{
    BatchRequest, BatchResponse, Request as GqlRequest, Response as GqlResponse, ServerError,
};
use poem::http::{header, StatusCode};
use poem::middleware::CatchPanic;
use poem::web::Data;
use poem::{get, handler, Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use tracing::Instrument;

use crate::auth::{bearer, Caller};
use crate::error::{ensure_codes, server_error};
use crate::limits::{metric_name, operation_name, operation_type};
use crate::parsed::Parsed;
use crate::schema::RequestCtx;
use crate::schema::{ConnectionExpiry, OperationKey};
use crate::state::{AppState, Environment};
use crate::telemetry::prometheus;
use async_graphql::http::{WebSocket as GqlWebSocket, WebSocketProtocols, WsMessage};
use async_graphql_poem::GraphQLProtocol;
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig, WebSocketStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The request id, kept in the request for the audit trail.
#[derive(Clone)]
struct RequestId(String);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// All routes with request ids, access logs, HTTP metrics and panic containment.
pub fn routes(state: AppState) -> impl Endpoint {
    let mut route = Route::new()
        .at("/graphql", get(graphql_get).post(graphql_post))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics_endpoint));
    if state.config.environment == Environment::Development {
        route = route.at("/graphiql", get(graphiql));
    }
    route
        .data(state)
        .with(CatchPanic::new())
        .around(|ep, mut req| async move {
            // The client's `x-request-id` when it is sane, else a new one; echoed in the response
            // and carried by every log line of the request through the span.
            let id = req
                .header("x-request-id")
                .filter(|v| {
                    !v.is_empty()
                        && v.len() <= 64
                        && v.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                })
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            req.extensions_mut().insert(RequestId(id.clone()));
            let route = route_label(req.uri().path());
            let method = req.method().clone();
            let started = Instant::now();
            let span = tracing::info_span!("request", request_id = %id, method = %method, route);
            let mut resp = match ep.call(req).instrument(span.clone()).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            };
            let elapsed = started.elapsed().as_secs_f64();
            let status = resp.status().as_u16();
            if let Ok(v) = header::HeaderValue::from_str(&id) {
                resp.headers_mut().insert("x-request-id", v);
            }
            metrics::counter!("crewtime_http_requests_total",
                "route" => route, "method" => method.to_string(), "status" => status.to_string())
            .increment(1);
            metrics::histogram!("crewtime_http_request_duration_seconds", "route" => route)
                .record(elapsed);
            span.in_scope(|| {
                tracing::info!(status, latency_ms = elapsed * 1000.0, "request finished")
            });
            Ok(resp)
        })
}

fn route_label(path: &str) -> &'static str {
    match path {
        "/graphql" => "/graphql",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/graphiql" => "/graphiql",
        _ => "other",
    }
}

/// The request's caller: one per HTTP request, shared by the operations of a batch, so an API
/// token is looked up (lazily, see `Caller`) at most once per request.
fn caller_of(state: &AppState, req: &Request) -> Arc<Caller> {
    Arc::new(Caller::from_header(
        req.header(header::AUTHORIZATION),
        &state.jwt,
    ))
}

fn request_ctx(state: &AppState, req: &Request, caller: &Arc<Caller>) -> RequestCtx {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    RequestCtx::new(
        state,
        caller.clone(),
        client_address(state, req),
        request_id,
    )
}

/// The client's address for the sign-in limits: the peer's, or behind a trusted proxy the last
/// `X-Forwarded-For` entry, which that proxy appended. Earlier entries came from the client and
/// could be anything, so they are never used.
fn client_address(state: &AppState, req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    if !state.config.trust_proxy {
        return peer;
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .map(str::trim)
        .and_then(|hop| {
            hop.parse::<IpAddr>()
                .ok()
                .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        });
    forwarded.or(peer)
}

/// Which media type to answer with (GraphQL over HTTP): the new one only when asked for.
fn wants_graphql_response(req: &Request) -> bool {
    req.header(header::ACCEPT)
        .is_some_and(|a| a.contains(GRAPHQL_RESPONSE))
}

#[handler]
async fn graphql_post(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let new_media = wants_graphql_response(req);
    let content_type = req.content_type().unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(JSON)
        && !essence.eq_ignore_ascii_case("application/graphql+json")
    {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            new_media,
            "BAD_USER_INPUT",
            "send GraphQL requests as application/json",
        );
    }
    let bytes = match body.into_bytes_limit(state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(poem::error::ReadBodyError::PayloadTooLarge) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                new_media,
                "BAD_USER_INPUT",
                &format!("request body exceeds {} bytes", state.config.max_body_bytes),
            )
        }
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                new_media,
                "BAD_USER_INPUT",
                "unreadable body",
            )
        }
    };
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                new_media,
                "BAD_USER_INPUT",
                &format!("malformed GraphQL request: {e}"),
            )
        }
    };
    let caller = caller_of(state, req);
    match batch {
        BatchRequest::Single(one) => {
            let resp = execute(state, &request_ctx(state, req, &caller), one).await;
            respond(BatchResponse::Single(resp), new_media)
        }
        BatchRequest::Batch(many) => {
            if many.len() > state.config.max_batch {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    new_media,
                    "BAD_USER_INPUT",
                    &format!(
                        "a batch may hold at most {} operations",
                        state.config.max_batch
                    ),
                );
            }
            if many.is_empty() {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    new_media,
                    "BAD_USER_INPUT",
                    "empty batch",
                );
            }
            let mut out = Vec::with_capacity(many.len());
            for one in many {
                // A context (and so loader caches) per operation: a later operation of the
                // batch must see what an earlier one wrote.
                out.push(execute(state, &request_ctx(state, req, &caller), one).await);
            }
            respond(BatchResponse::Batch(out), new_media)
        }
    }
}

/// GET on `/graphql`: a WebSocket upgrade (the `Upgrade: websocket` header) starts a
/// subscription socket; anything else is a query over GET.
#[handler]
async fn graphql_get(
    req: &Request,
    ws: Option<WebSocket>,
    protocol: Option<GraphQLProtocol>,
    Data(state): Data<&AppState>,
) -> Response {
    match ws {
        Some(ws) => live_socket(state, req, ws, protocol),
        None => graphql_query(req, state).await,
    }
}

async fn graphql_query(req: &Request, state: &AppState) -> Response {
    let new_media = wants_graphql_response(req);
    let gql = match parse_query_string(req.uri().query().unwrap_or_default()) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                new_media,
                "BAD_USER_INPUT",
                &format!("malformed GraphQL request: {e}"),
            )
        }
    };
    // GET may not change anything: a mutation must come by POST.
    let op_name = gql.operation_name.clone();
    if let Some(parsed) = state.parsed.get(&gql.query) {
        let ty = operation_type(&parsed.doc, op_name.as_deref());
        if ty == Some(OperationType::Mutation) || ty == Some(OperationType::Subscription) {
            let mut resp = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                new_media,
                "BAD_USER_INPUT",
                "mutations are accepted only by POST",
            );
            resp.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
            return resp;
        }
    }
    let rc = request_ctx(state, req, &caller_of(state, req));
    let resp = execute(state, &rc, gql).await;
    respond(BatchResponse::Single(resp), new_media)
}

/// Runs one operation after the checks async-graphql does not make itself.
async fn execute(state: &AppState, rc: &RequestCtx, mut req: GqlRequest) -> GqlResponse {
    let started = Instant::now();
    // The caller's own quota first: a refused operation is not even parsed.
    if let Err(refused) = rc.charge_caller() {
        record_operation("rejected", "rejected", started);
        return GqlResponse::from_errors(vec![refused]);
    }
    let op_name = req.operation_name.clone();
    let name = match state.parsed.get(&req.query) {
        Some(parsed) => {
            if let Some(refused) = too_many_aliases(state, &parsed) {
                record_operation("rejected", "rejected", started);
                return GqlResponse::from_errors(vec![refused]);
            }
            let doc = &parsed.doc;
            let ty = operation_type(doc, op_name.as_deref());
            let name = metric_name(operation_name(doc, op_name.as_deref()), ty);
            req.set_parsed_query(doc.clone());
            name
        }
        None => "unparsable".to_owned(),
    };
    let mut resp = state.schema.execute(req.data(rc.clone())).await;
    ensure_codes(&mut resp.errors);
    let outcome = if resp.errors.is_empty() {
        "ok"
    } else {
        "error"
    };
    record_operation(&name, outcome, started);
    resp
}

/// The refusal of a document with more aliases of one field than allowed (protections on).
fn too_many_aliases(state: &AppState, parsed: &Parsed) -> Option<ServerError> {
    let (aliases, field) = &parsed.aliases;
    (state.config.protections && *aliases > state.config.max_aliases).then(|| {
        server_error(
            "BAD_USER_INPUT",
            format!(
                "{aliases} aliases of field {field:?}; at most {} are allowed",
                state.config.max_aliases
            ),
        )
    })
}

fn record_operation(name: &str, outcome: &'static str, started: Instant) {
    metrics::counter!("crewtime_graphql_operations_total",
        "operation" => name.to_owned(), "outcome" => outcome)
    .increment(1);
    metrics::histogram!("crewtime_graphql_operation_duration_seconds", "operation" => name.to_owned())
        .record(started.elapsed().as_secs_f64());
}

fn respond(resp: BatchResponse, new_media: bool) -> Response {
    // With the new media type, a request that never executed (no data, no error paths) is 400.
    let not_executed = |r: &GqlResponse| {
        r.data == async_graphql::Value::Null
            && !r.errors.is_empty()
            && r.errors.iter().all(|e| e.path.is_empty())
    };
    let status = match &resp {
        BatchResponse::Single(r) if new_media && not_executed(r) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let body = serde_json::to_vec(&resp).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .content_type(if new_media { GRAPHQL_RESPONSE } else { JSON })
        .body(body)
}

fn error_response(status: StatusCode, new_media: bool, code: &str, message: &str) -> Response {
    let resp = GqlResponse::from_errors(vec![server_error(code, message)]);
    let body = serde_json::to_vec(&resp).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .content_type(if new_media { GRAPHQL_RESPONSE } else { JSON })
        .body(body)
}

#[handler]
fn healthz() -> Response {
    json(StatusCode::OK, serde_json::json!({ "status": "ok" }))
}

#[handler]
async fn readyz(Data(state): Data<&AppState>) -> Response {
    let database = state.store.ping().await.is_ok();
    let migrations = match state.store.pending_control_migrations().await {
        Ok(0) => "current",
        Ok(_) => "pending",
        Err(_) => "unknown",
    };
    let redis = match &state.redis {
        None => "not_configured",
        Some(r) if r.check().await => "up",
        Some(_) => "down",
    };
    metrics::gauge!("crewtime_redis_up").set(if redis == "up" { 1.0 } else { 0.0 });
    // The live bus's subscriber: while it is down, events from other nodes do not arrive
    // here (this node's own still do). Reported, not a reason to take the node out.
    let subscriber = match (state.bus.redis_configured(), state.bus.subscriber_up()) {
        (false, _) => "not_configured",
        (true, true) => "up",
        (true, false) => "down",
    };
    let ready = database && migrations == "current";
    json(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        serde_json::json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": if database { "up" } else { "down" },
            "migrations": migrations,
            "redis": redis,
            "redis_subscriber": subscriber,
        }),
    )
}

#[handler]
async fn metrics_endpoint(Data(state): Data<&AppState>) -> Response {
    let (in_use, size) = state.store.pool_usage();
    metrics::gauge!("crewtime_db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!("crewtime_db_pool_connections", "state" => "open").set(f64::from(size));
    if let Some(r) = &state.redis {
        metrics::gauge!("crewtime_redis_up").set(if r.last_known_up() { 1.0 } else { 0.0 });
    }
    crate::read_cache::export_hit_ratios();
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(prometheus().render())
}

#[handler]
fn graphiql() -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .body(GraphiQLSource::build().endpoint("/graphql").finish())
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type(JSON)
        .body(v.to_string())
}

/// Close code for a `connection_init` without a valid token.
const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code for a socket that sent no `connection_init` in time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;

/// Accepts a subscription socket speaking graphql-transport-ws (the default) or the legacy
/// graphql-ws subprotocol.
fn live_socket(
    state: &AppState,
    req: &Request,
    ws: WebSocket,
    protocol: Option<GraphQLProtocol>,
) -> Response {
    let protocol = protocol
        .map(|p| p.0)
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    let state = state.clone();
    let client = client_address(&state, req);
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    // Clients send small messages (init, subscribe, ping): a 4 KiB read buffer instead of the
    // library's 128 KiB, which it zero-fills on every read of the socket. That fill was 30% of
    // a node's CPU when a punch fanned out to 500 sockets, and 128 KiB per socket is memory
    // held by every idle subscriber. Messages are bounded like request bodies.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(state.config.max_body_bytes))
        .max_frame_size(Some(state.config.max_body_bytes));
    ws.protocols(["graphql-transport-ws", "graphql-ws"])
        .config(config)
        .on_upgrade(move |socket| serve_socket(state, protocol, client, request_id, socket))
        .into_response()
}

/// Runs one socket: the token comes in `connection_init` (an invalid or missing one closes
/// with 4401, none within `ws_init_timeout` closes with 4408); each subscription is then
/// authorised on its own by its resolver.
async fn serve_socket(
    state: AppState,
    protocol: WebSocketProtocols,
    client: Option<IpAddr>,
    request_id: String,
    socket: WebSocketStream,
) {
    metrics::gauge!("crewtime_ws_connections").increment(1.0);
    let (mut sink, stream) = socket.split();
    // The socket is read by a task of its own that hands client messages over a channel.
    // async-graphql polls its input before every message it sends; polled directly, the socket
    // was read (a 4 KiB buffer cleared, a read attempted) twice per live message, 7% of a
    // node's CPU when a punch fanned out to 500 sockets. An empty channel answers at once.
    let (client_tx, client_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(CLIENT_MESSAGES_QUEUED);
    let reader = AbortOnDrop(tokio::spawn(async move {
        let mut stream = stream;
        while let Some(Ok(m)) = stream.next().await {
            if (m.is_text() || m.is_binary()) && client_tx.send(m.into_bytes()).await.is_err() {
                break;
            }
        }
    }));
    let input = futures_util::stream::unfold(client_rx, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    });
    let refused = Arc::new(AtomicBool::new(false));
    let session: Arc<OnceLock<SocketSession>> = Arc::default();
    let executor = SocketExecutor {
        state: state.clone(),
        session: session.clone(),
        open: Arc::default(),
    };
    let init_state = state.clone();
    let init_refused = refused.clone();
    let opened = session.clone();
    let output = GqlWebSocket::new(executor, input, protocol).on_connection_init(
        move |payload| async move {
            let header = payload
                .get("authorization")
                .or_else(|| payload.get("Authorization"))
                .and_then(serde_json::Value::as_str);
            let caller = Caller::from_header(header, &init_state.jwt);
            if caller.principal(&init_state.store).await.is_err() {
                init_refused.store(true, Ordering::Relaxed);
                return Err(async_graphql::Error::new(
                    "connection_init needs {\"authorization\": \"Bearer <valid token>\"}",
                ));
            }
            // A person's JWT expires; the subscriptions end then with a clear error.
            let expiry = header
                .and_then(bearer)
                .and_then(|token| init_state.jwt.expiry(token));
            // The protocol allows one init per socket, so this is set once.
            let _ = session.set(SocketSession {
                caller: Arc::new(caller),
                client,
                request_id,
                expiry,
            });
            Ok(async_graphql::Data::default())
        },
    );
    futures_util::pin_mut!(output);
    let init_deadline = tokio::time::sleep(state.config.ws_init_timeout);
    tokio::pin!(init_deadline);
    let mut acknowledged = false;
    // An API token does not expire by itself as an access token does, and its socket would
    // otherwise outlive its revocation: the token is looked up again now and then, and the
    // socket closed (4401) once it no longer authenticates.
    let every = state.config.ws_token_recheck;
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Set with the acknowledgement, for a socket opened with an API token.
    let mut token_caller: Option<Arc<Caller>> = None;
    loop {
        let next = tokio::select! {
            m = output.next() => m,
            _ = &mut init_deadline, if !acknowledged => {
                let _ = sink
                    .send(Message::close_with(CLOSE_INIT_TIMEOUT, "connection initialisation timeout"))
                    .await;
                break;
            }
            _ = recheck.tick(), if token_caller.is_some() => {
                if let Some(caller) = &token_caller {
                    if no_longer_authenticates(&state, caller).await {
                        let _ = sink
                            .send(Message::close_with(
                                CLOSE_UNAUTHORIZED,
                                "the API token was revoked or has expired",
                            ))
                            .await;
                        break;
                    }
                }
                continue;
            }
        };
        let Some(message) = next else { break };
        let message = match message {
            WsMessage::Text(text) => {
                if !acknowledged && text.contains("\"connection_ack\"") {
                    acknowledged = true;
                    token_caller = opened
                        .get()
                        .map(|s| s.caller.clone())
                        .filter(|c| c.api_token().is_some());
                }
                Message::text(text)
            }
            // Both subprotocols end a refused init here with the same code, so a client can
            // tell "get a new token" from a protocol error.
            WsMessage::Close(_, reason) if refused.load(Ordering::Relaxed) => {
                Message::close_with(CLOSE_UNAUTHORIZED, reason)
            }
            WsMessage::Close(code, reason) => Message::close_with(code, reason),
        };
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
        // The legacy protocol answers a refused init with a `connection_error` message and
        // no close; close it the same way as the new one.
        if refused.load(Ordering::Relaxed) {
            let _ = sink
                .send(Message::close_with(CLOSE_UNAUTHORIZED, "unauthorized"))
                .await;
            break;
        }
    }
    let _ = sink.close().await;
    drop(reader);
    metrics::gauge!("crewtime_ws_connections").decrement(1.0);
}

/// Whether a socket's API token has been revoked or has expired since the socket opened. A
/// failed lookup (the database away) keeps the socket: the next check decides.
async fn no_longer_authenticates(state: &AppState, caller: &Arc<Caller>) -> bool {
    match caller.afresh().principal(&state.store).await {
        Err(crewtime_domain::Error::Unauthenticated) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not check a socket's API token again; it stays open");
            false
        }
        Ok(_) => false,
    }
}

/// What besides a message decides how an operation renders it (see `schema::live::Renders`):
/// operations with equal keys render equal messages alike.
fn operation_key(request: &GqlRequest) -> OperationKey {
    let variables = serde_json::to_string(&request.variables).unwrap_or_default();
    let name = request.operation_name.as_deref().unwrap_or_default();
    OperationKey(format!("{}\n{variables}\n{name}", request.query).into())
}

/// Client messages a socket's reader may hold before it waits for the socket's operations to
/// take them.
const CLIENT_MESSAGES_QUEUED: usize = 8;

/// Aborts a task when dropped: a socket's reader ends with the socket's handler, whichever way
/// that ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Who opened a socket, as its `connection_init` proved.
struct SocketSession {
    caller: Arc<Caller>,
    client: Option<IpAddr>,
    request_id: String,
    expiry: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs a socket's operations. Each operation gets a `RequestCtx` of its own, as an HTTP
/// request does: fresh DataLoader caches and memberships read anew, so a long-lived socket
/// never answers from what an earlier operation cached (a role revoked meanwhile, an old day).
#[derive(Clone)]
struct SocketExecutor {
    state: AppState,
    session: Arc<OnceLock<SocketSession>>,
    /// Operations running on this socket now (subscriptions until they complete).
    open: Arc<AtomicUsize>,
}

/// Holds one place of a socket's operation cap; gives it back when the operation's stream is
/// dropped (it completed, the client stopped it, or the socket closed).
struct OpenSlot(Arc<AtomicUsize>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SocketExecutor {
    fn prepare(&self, mut request: GqlRequest) -> Result<GqlRequest, Box<GqlResponse>> {
        let refused = |e| Box::new(GqlResponse::from_errors(vec![e]));
        if let Some(s) = self.session.get() {
            // Each operation looks an API token up again, as each HTTP request does: one
            // revoked since the socket opened starts nothing more.
            let rc = RequestCtx::new(
                &self.state,
                s.caller.afresh(),
                s.client,
                s.request_id.clone(),
            );
            rc.charge_caller().map_err(refused)?;
            let key = operation_key(&request);
            request = request.data(rc).data(ConnectionExpiry(s.expiry)).data(key);
        }
        if let Some(parsed) = self.state.parsed.get(&request.query) {
            if let Some(e) = too_many_aliases(&self.state, &parsed) {
                return Err(refused(e));
            }
            request.set_parsed_query(parsed.doc.clone());
        }
        Ok(request)
    }

    /// Takes a place for one more operation on this socket, or refuses it with
    /// `TOO_MANY_SUBSCRIPTIONS` (the client gets that error for the operation's id; the socket
    /// and its other operations go on).
    fn open_slot(&self) -> Result<Option<OpenSlot>, Box<GqlResponse>> {
        if !self.state.config.protections {
            return Ok(None);
        }
        let max = self.state.config.max_subscriptions_per_connection;
        if self.open.fetch_add(1, Ordering::Relaxed) >= max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            crate::quotas::count_refusal("subscriptions");
            return Err(Box::new(GqlResponse::from_errors(vec![server_error(
                "TOO_MANY_SUBSCRIPTIONS",
                format!(
                    "at most {max} subscriptions may be open on one connection; \
                     complete one first or open another connection"
                ),
            )])));
        }
        Ok(Some(OpenSlot(self.open.clone())))
    }
}

impl async_graphql::Executor for SocketExecutor {
    async fn execute(&self, request: GqlRequest) -> GqlResponse {
        match self.prepare(request) {
            Ok(request) => {
                let mut resp = self.state.schema.execute(request).await;
                ensure_codes(&mut resp.errors);
                resp
            }
            Err(refused) => *refused,
        }
    }

    fn execute_stream(
        &self,
        request: GqlRequest,
        session_data: Option<Arc<async_graphql::Data>>,
    ) -> futures_util::stream::BoxStream<'static, GqlResponse> {
        let slot = match self.open_slot() {
            Ok(slot) => slot,
            Err(refused) => return futures_util::stream::once(async move { *refused }).boxed(),
        };
        match self.prepare(request) {
            Ok(request) => self
                .state
                .schema
                .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                .map(move |mut resp| {
                    // The slot lives as long as the stream does.
                    let _held = &slot;
                    ensure_codes(&mut resp.errors);
                    resp
                })
                .boxed(),
            Err(refused) => futures_util::stream::once(async move { *refused }).boxed(),
        }
    }
}
