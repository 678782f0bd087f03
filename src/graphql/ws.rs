//! GraphQL over WebSocket at `/graphql/ws`, both subprotocols:
//! `graphql-transport-ws` (the `graphql-ws` library's PROTOCOL.md, preferred)
//! and the legacy `graphql-ws` (Apollo's subscriptions-transport-ws).
//!
//! Written here rather than taken from async-graphql-axum, whose handler
//! cannot produce the close codes the protocol asks for (NOTES.md):
//! - 4403 when `connection_init` carries no valid token (payload
//!   `{"Authorization": "Bearer …"}`, the key in any letter case), and when the
//!   token's `exp` passes (no event is sent after it; the client may reconnect
//!   with a fresh token);
//! - 4408 when no `connection_init` arrives within `LEADGRAPH_WS_INIT_TIMEOUT`
//!   (10 s); 4429 on a second `connection_init`;
//! - 4401 on `subscribe` before the acknowledgement; 4409 on a `subscribe`
//!   whose id is in use; 4400 on a message that is not one of the protocol;
//! - 4406 when the client offers neither subprotocol; 1001 when the server
//!   stops.
//!
//! A `subscribe` (or legacy `start`) payload may name a persisted operation
//! in `extensions.persistedQuery` instead of sending its `query`, resolved
//! as over HTTP (`graphql::persisted`).
//!
//! Subscriptions to events with one root field are rendered once per event
//! for every identical subscription (`subscriptions::share`): the subscription is
//! opened through the schema as usual, its event stream is then handed over
//! here, and each event is executed and serialized once per share key;
//! each socket only frames the shared payload.
//!
//! The `Origin` of the upgrade is checked against `LEADGRAPH_ALLOWED_ORIGINS`
//! when that is set, otherwise against `LEADGRAPH_CORS_ORIGINS` when that
//! lists origins (`cors::websocket_origins`); a page of the server itself
//! (its `Origin` names the request's `Host`: GraphiQL) always passes. It is
//! open by default because the token is sent in the
//! `connection_init` payload, never in a cookie: a page on a foreign origin
//! cannot use a visitor's credentials, so cross-site WebSocket hijacking has
//! nothing to hijack.

use super::execute::{Executor, classify, internal_error, panic_message};
use crate::app::Loaders;
use crate::auth::Viewer;
use crate::error::AppError;
use crate::events::bus::{Event, FollowError};
use crate::graphql::subscriptions::share::{Rendered, ShareKey, SharedOperation, shared_operation};
use crate::graphql::subscriptions::{RenderOneEvent, StreamHandover};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError, Value};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::{Router, routing::get};
use futures::stream::{BoxStream, SelectAll, SplitSink};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tokio::time::Instant;

const TRANSPORT_WS: &str = "graphql-transport-ws";
const LEGACY_WS: &str = "graphql-ws";
/// A client that does not read for this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Operations running at once on one connection.
const MAX_OPERATIONS: usize = 100;
/// The largest client message, as for an HTTP body; a larger one closes the
/// connection with 1009 (message too big).
const MAX_MESSAGE_BYTES: usize = super::http::MAX_BODY_BYTES;

/// Counts an open connection in `leadgraph_ws_connections` for as long as
/// it lives, however its task ends.
struct Counted;

impl Counted {
    fn new() -> Self {
        metrics::gauge!("leadgraph_ws_connections").increment(1.0);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!("leadgraph_ws_connections").decrement(1.0);
    }
}

/// The WebSocket side of the one executor.
type GraphqlWs = Executor;

pub fn routes<S: Clone + Send + Sync + 'static>(ws: GraphqlWs) -> Router<S> {
    Router::new()
        .route("/graphql/ws", get(upgrade))
        .with_state(ws)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`.
    Transport,
    /// Legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

/// Whether a browser page from the request's `Origin` may connect: a page
/// of this server itself (its GraphiQL) always may.
fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    let allowed: Vec<&str> = allowed
        .iter()
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .collect();
    if allowed.is_empty() || allowed.contains(&"*") {
        return true;
    }
    // Non-browser clients send no Origin; browsers always do.
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    same_origin(origin, headers) || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// Whether `origin` names the host the request was sent to.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    ["http://", "https://"].iter().any(|scheme| {
        origin
            .strip_prefix(scheme)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host.trim()))
    })
}

async fn upgrade(
    State(g): State<GraphqlWs>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> HttpResponse {
    if !origin_allowed(&crate::cors::websocket_origins(&g.state.config), &headers) {
        let body = json!({"errors": [{
            "message": "this Origin may not open a WebSocket here",
            "extensions": {"code": "FORBIDDEN"},
        }]});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let ws = ws.protocols([TRANSPORT_WS, LEGACY_WS]);
    let protocol = match ws.selected_protocol().and_then(|p| p.to_str().ok()) {
        Some(TRANSPORT_WS) => Some(Protocol::Transport),
        Some(LEGACY_WS) => Some(Protocol::Legacy),
        _ => None,
    };
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        // Thousands of idle subscribers: small buffers, grown on demand.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            match protocol {
                Some(protocol) => Connection::new(g, protocol).run(socket).await,
                None => {
                    let (mut sink, _) = socket.split();
                    close(&mut sink, 4406, "Subprotocol not acceptable").await;
                }
            }
        })
}

type Sink = SplitSink<WebSocket, Message>;

/// What the connection does after a client message.
enum Step {
    Continue,
    Close(u16, &'static str),
    /// The client ended the connection.
    Gone,
}

struct Connection {
    g: GraphqlWs,
    protocol: Protocol,
    viewer: Option<Viewer>,
    /// Running operations by id; dropping the sender cancels the operation.
    operations: HashMap<String, oneshot::Sender<()>>,
    /// Their results, tagged with their id; `None` when one ends.
    results: SelectAll<BoxStream<'static, (String, Option<Outcome>)>>,
    /// Whether the connection's timer runs to the token's expiry (after
    /// `connection_init`) rather than to the init timeout.
    deadline_is_expiry: bool,
}

impl Connection {
    fn new(g: GraphqlWs, protocol: Protocol) -> Self {
        Connection {
            g,
            protocol,
            viewer: None,
            operations: HashMap::new(),
            results: SelectAll::new(),
            deadline_is_expiry: false,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let _counted = Counted::new();
        let (mut sink, mut source) = socket.split();
        let stopped = self.g.state.events.stopped();
        tokio::pin!(stopped);
        // The init timeout, then the token's expiry: one timer, reset once.
        let deadline = tokio::time::sleep(self.g.state.config.ws_init_timeout);
        tokio::pin!(deadline);
        let (code, reason) = loop {
            if let Some(viewer) = &self.viewer
                && !self.deadline_is_expiry
            {
                deadline.as_mut().reset(expiry(viewer));
                self.deadline_is_expiry = true;
            }
            // Biased, results before messages: an operation is polled (and a
            // subscription started) before the next client message is read,
            // so a `ping` sent after `subscribe` is answered once it is live.
            tokio::select! {
                biased;
                () = &mut stopped => break (1001, "the server is shutting down"),
                () = &mut deadline => {
                    break match self.viewer {
                        Some(_) => (4403, "Forbidden: the token has expired"),
                        None => (4408, "Connection initialisation timeout"),
                    };
                }
                Some((id, result)) = self.results.next(), if !self.results.is_empty() => {
                    match self.on_result(&mut sink, id, result).await {
                        Step::Continue => {}
                        Step::Close(code, reason) => break (code, reason),
                        Step::Gone => break (0, ""),
                    }
                }
                message = source.next() => {
                    let step = match message {
                        Some(Ok(Message::Text(text))) => self.on_message(&mut sink, text.as_str()).await,
                        Some(Ok(Message::Binary(_))) => Step::Close(4400, "Binary messages are not supported"),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Step::Continue,
                        // The closing handshake: the socket has queued the
                        // answering close frame; flushing sends it.
                        Some(Ok(Message::Close(_))) => {
                            let _ = tokio::time::timeout(SEND_TIMEOUT, sink.flush()).await;
                            Step::Gone
                        }
                        Some(Err(err)) if too_big(&err) => Step::Close(1009, "Message too big"),
                        Some(Err(_)) | None => Step::Gone,
                    };
                    match step {
                        Step::Continue => {}
                        Step::Close(code, reason) => break (code, reason),
                        Step::Gone => break (0, ""),
                    }
                }
            }
        };
        if code != 0 {
            close(&mut sink, code, reason).await;
        }
    }

    async fn on_message(&mut self, sink: &mut Sink, text: &str) -> Step {
        let Ok(serde_json::Value::Object(mut message)) = serde_json::from_str(text) else {
            return Step::Close(4400, "Invalid message received");
        };
        let kind = match message.remove("type") {
            Some(serde_json::Value::String(kind)) => kind,
            _ => return Step::Close(4400, "Invalid message received"),
        };
        let payload = message.remove("payload");
        let id = match message.remove("id") {
            Some(serde_json::Value::String(id)) => Some(id),
            None => None,
            Some(_) => return Step::Close(4400, "Invalid message received"),
        };
        match (self.protocol, kind.as_str(), id) {
            (_, "connection_init", None) => self.on_init(sink, payload).await,
            (Protocol::Transport, "ping", None) => send(sink, json!({"type": "pong"})).await,
            (Protocol::Transport, "pong", None) => Step::Continue,
            (Protocol::Transport, "subscribe", Some(id))
            | (Protocol::Legacy, "start", Some(id)) => self.on_subscribe(sink, id, payload).await,
            (Protocol::Transport, "complete", Some(id)) => {
                self.operations.remove(&id);
                Step::Continue
            }
            (Protocol::Legacy, "stop", Some(id)) => {
                if self.operations.remove(&id).is_some() {
                    return send(sink, json!({"type": "complete", "id": id})).await;
                }
                Step::Continue
            }
            (Protocol::Legacy, "connection_terminate", None) => Step::Close(1000, "terminated"),
            _ => Step::Close(4400, "Invalid message received"),
        }
    }

    async fn on_init(&mut self, sink: &mut Sink, payload: Option<serde_json::Value>) -> Step {
        if self.viewer.is_some() {
            return Step::Close(4429, "Too many initialisation requests");
        }
        let token = payload
            .as_ref()
            .and_then(authorization)
            .and_then(super::http::bearer);
        let viewer = match token {
            None => Err(AppError::Unauthenticated("no bearer token".into())),
            Some(token) => crate::users::service::viewer_for_token(&self.g.state, token).await,
        };
        let viewer = match viewer {
            Ok(viewer) if !expired(&viewer) => viewer,
            Ok(_) | Err(AppError::Unauthenticated(_)) => {
                tracing::debug!("WebSocket connection_init refused");
                if self.protocol == Protocol::Legacy {
                    let refused = json!({"type": "connection_error", "payload": {
                        "message": "a valid bearer token is required",
                        "extensions": {"code": "UNAUTHENTICATED"},
                    }});
                    send(sink, refused).await;
                }
                return Step::Close(4403, "Forbidden");
            }
            Err(err) => {
                tracing::error!(error = %err, "WebSocket authentication failed");
                return Step::Close(4500, "Internal server error");
            }
        };
        self.viewer = Some(viewer);
        send(sink, json!({"type": "connection_ack"})).await
    }

    async fn on_subscribe(
        &mut self,
        sink: &mut Sink,
        id: String,
        payload: Option<serde_json::Value>,
    ) -> Step {
        let Some(viewer) = self.viewer.clone() else {
            return Step::Close(4401, "Unauthorized");
        };
        if self.operations.contains_key(&id) {
            return match self.protocol {
                Protocol::Transport => Step::Close(4409, "Subscriber for this id already exists"),
                Protocol::Legacy => Step::Close(4409, "An operation with this id is running"),
            };
        }
        let Some(payload) = payload.and_then(request_from) else {
            return Step::Close(4400, "Invalid message received");
        };
        let limit = |message: String| json!([{"message": message, "extensions": {"code": "LIMIT_EXCEEDED"}}]);
        if self.operations.len() >= MAX_OPERATIONS {
            let error = limit(format!(
                "at most {MAX_OPERATIONS} operations may run on one connection"
            ));
            return send(sink, self.error_message(&id, error)).await;
        }
        if let Err(limited) = self.g.rate_check(&viewer.subject, 1) {
            let seconds = limited.retry_after.as_secs_f64().ceil().max(1.0);
            let error = limit(format!("too many requests; retry in {seconds} s"));
            return send(sink, self.error_message(&id, error)).await;
        }
        // The same checks as over HTTP (persisted operations included),
        // before anything runs.
        let admitted = match self.g.admit_operation(
            payload.query,
            payload.extensions.as_ref(),
            payload.variables,
            payload.operation_name,
        ) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                let errors = json!([refusal.into_error()]);
                return send(sink, self.error_message(&id, errors)).await;
            }
        };
        let outcomes = if admitted.operation == Some(OperationType::Subscription) {
            self.open_subscription(viewer, admitted.into_request())
        } else {
            // Queries and mutations run as over HTTP: bounded in time and
            // concurrency, the bus woken after a mutation.
            let g = self.g.clone();
            futures::stream::once(async move {
                let request_id = uuid::Uuid::new_v4().to_string();
                let response = g.execute(&viewer, admitted, &request_id).await;
                Outcome::Response(Box::new(response))
            })
            .boxed()
        };
        // A panic while the operation runs ends it with an internal error;
        // the connection and its other operations go on.
        let outcomes = AssertUnwindSafe(outcomes)
            .catch_unwind()
            .map(|item| match item {
                Ok(outcome) => outcome,
                Err(panic) => {
                    tracing::error!(panic = panic_message(&panic), "a subscription panicked");
                    Outcome::Response(Box::new(internal_error()))
                }
            });
        let (cancel, cancelled) = oneshot::channel::<()>();
        let tag = id.clone();
        let stream = outcomes
            .map(Some)
            .chain(futures::stream::once(async { None }))
            .take_until(cancelled)
            .map(move |result| (tag.clone(), result))
            .boxed();
        self.operations.insert(id, cancel);
        self.results.push(stream);
        Step::Continue
    }

    /// Open a subscription; identical subscriptions share the rendering of
    /// each event (`subscriptions::share`).
    fn open_subscription(
        &self,
        viewer: Viewer,
        mut request: Request,
    ) -> BoxStream<'static, Outcome> {
        let shared = shared_operation(&mut request, viewer.role);
        let handover = shared.as_ref().map(|_| StreamHandover::default());
        let mut request = request
            .data(Loaders::new(&self.g.state, &viewer))
            .data(viewer.clone());
        if let Some(handover) = &handover {
            request = request.data(handover.clone());
        }
        let opened = self
            .g
            .schema
            .execute_stream(request)
            .map(|response| Outcome::Response(Box::new(response)));
        // A shared subscription's stream is opened, then handed over: its
        // events follow the opening (which yields only errors, if any).
        match (shared, handover) {
            (Some(operation), Some(handover)) => {
                let subscriber = Arc::new(Subscriber {
                    g: self.g.clone(),
                    operation,
                    viewer,
                });
                let events = futures::stream::once(async move { handover.take() })
                    .flat_map(futures::stream::iter)
                    .flatten()
                    .then(move |item| render_event(subscriber.clone(), item));
                opened.chain(events).boxed()
            }
            _ => opened.boxed(),
        }
    }

    async fn on_result(&mut self, sink: &mut Sink, id: String, result: Option<Outcome>) -> Step {
        let Some(outcome) = result else {
            if self.operations.remove(&id).is_some() {
                return send(sink, json!({"type": "complete", "id": id})).await;
            }
            return Step::Continue;
        };
        if !self.operations.contains_key(&id) {
            return Step::Continue;
        }
        if self.viewer.as_ref().is_none_or(expired) {
            return Step::Close(4403, "Forbidden: the token has expired");
        }
        let rendered = match outcome {
            Outcome::Response(response) => Arc::new(render(*response)),
            Outcome::Rendered(rendered) => rendered,
        };
        let max = self.g.max_response_bytes();
        if rendered.payload.len() > max {
            self.operations.remove(&id);
            let errors = json!([super::execute::response_too_large(max)]);
            return send(sink, self.error_message(&id, errors)).await;
        }
        if self.protocol == Protocol::Transport
            && let Some(errors) = &rendered.fatal
        {
            self.operations.remove(&id);
            return send(sink, self.error_message(&id, errors.clone())).await;
        }
        let kind = match self.protocol {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        // The payload is serialized already (once per event and share key);
        // only the frame is this subscriber's.
        let id = serde_json::Value::String(id);
        let text = format!(
            "{{\"type\":\"{kind}\",\"id\":{id},\"payload\":{}}}",
            rendered.payload
        );
        send_text(sink, text).await
    }

    fn error_message(&self, id: &str, errors: serde_json::Value) -> serde_json::Value {
        match self.protocol {
            Protocol::Transport => json!({"type": "error", "id": id, "payload": errors}),
            Protocol::Legacy => {
                json!({"type": "data", "id": id, "payload": {"data": null, "errors": errors}})
            }
        }
    }
}

/// The `Authorization` entry of a `connection_init` payload, in any case.
fn authorization(payload: &serde_json::Value) -> Option<&str> {
    payload
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.as_str())
}

/// What a `subscribe`/`start` payload asks for: its document (or a
/// persisted operation named in `extensions`), variables and operation name.
struct Payload {
    query: Option<String>,
    variables: Option<serde_json::Value>,
    operation_name: Option<String>,
    extensions: Option<serde_json::Value>,
}

fn request_from(payload: serde_json::Value) -> Option<Payload> {
    let serde_json::Value::Object(mut map) = payload else {
        return None;
    };
    let extensions = match map.remove("extensions") {
        None | Some(serde_json::Value::Null) => None,
        Some(extensions @ serde_json::Value::Object(_)) => Some(extensions),
        Some(_) => return None,
    };
    let query = match map.remove("query") {
        Some(serde_json::Value::String(query)) => Some(query),
        None | Some(serde_json::Value::Null)
            if super::persisted::has_persisted_query(extensions.as_ref()) =>
        {
            None
        }
        _ => return None,
    };
    let variables = match map.remove("variables") {
        None | Some(serde_json::Value::Null) => None,
        Some(variables @ serde_json::Value::Object(_)) => Some(variables),
        Some(_) => return None,
    };
    let operation_name = match map.remove("operationName") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(name)) => Some(name),
        Some(_) => return None,
    };
    Some(Payload {
        query,
        variables,
        operation_name,
        extensions,
    })
}

/// Whether a read failed because the client's message was over the limit.
fn too_big(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(tungstenite::Error::Capacity(_)) = e.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn expired(viewer: &Viewer) -> bool {
    now_secs() >= viewer.expires_at
}

/// When the viewer's token expires, as an instant.
fn expiry(viewer: &Viewer) -> Instant {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let exp = Duration::from_secs(u64::try_from(viewer.expires_at).unwrap_or(0));
    Instant::now() + exp.saturating_sub(now)
}

/// What an operation's stream yields.
enum Outcome {
    /// A response of the schema, for this subscriber alone.
    Response(Box<Response>),
    /// An event rendered for every subscriber with the same share key.
    Rendered(Arc<Rendered>),
}

/// `response` ready to send: errors classified, serialized once.
fn render(mut response: Response) -> Rendered {
    if !response.errors.is_empty() {
        let request_id = uuid::Uuid::new_v4().to_string();
        for error in &mut response.errors {
            classify(error, &request_id);
        }
    }
    // An operation that failed as a whole (validation, access, a bad
    // cursor, an interrupted stream) ends with `error`; an event whose
    // field failed is still `next`.
    let whole = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.len() <= 1);
    match serde_json::to_string(&response) {
        Ok(payload) => Rendered {
            payload,
            fatal: whole.then(|| serde_json::to_value(&response.errors).unwrap_or_default()),
        },
        Err(err) => {
            tracing::error!(error = %err, "cannot serialize a GraphQL response");
            let errors = json!([{
                "message": "internal error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }]);
            Rendered {
                payload: json!({"data": null, "errors": errors}).to_string(),
                fatal: Some(errors),
            }
        }
    }
}

/// A subscriber of a shared subscription.
struct Subscriber {
    g: GraphqlWs,
    operation: Arc<SharedOperation>,
    viewer: Viewer,
}

/// One item of a shared subscription's stream, ready to send: an event is
/// rendered once per share key (as the key's canonical viewer); the error
/// that ends the stream is this subscriber's own.
async fn render_event(s: Arc<Subscriber>, item: Result<Arc<Event>, FollowError>) -> Outcome {
    match item {
        Ok(event) => {
            let key = ShareKey::new(&s.operation, &s.viewer, &event);
            let rendered = s
                .g
                .renderings
                .get_or_render(&event, key, |key| {
                    let as_viewer = key.viewer(&s.viewer);
                    async {
                        metrics::counter!("leadgraph_event_renderings_total").increment(1);
                        render(execute_one(&s.g, &s.operation, as_viewer, Ok(event.clone())).await)
                    }
                })
                .await;
            Outcome::Rendered(rendered)
        }
        Err(err) => {
            let response = execute_one(&s.g, &s.operation, s.viewer.clone(), Err(err)).await;
            Outcome::Response(Box::new(response))
        }
    }
}

/// The subscription `operation` run as `viewer` over one item.
async fn execute_one(
    g: &GraphqlWs,
    operation: &SharedOperation,
    viewer: Viewer,
    item: Result<Arc<Event>, FollowError>,
) -> Response {
    let mut request = Request::new(operation.query.clone()).variables(operation.variables.clone());
    if let Some(name) = &operation.operation_name {
        request = request.operation_name(name.clone());
    }
    let request = request
        .data(Loaders::new(&g.state, &viewer))
        .data(viewer)
        .data(RenderOneEvent::new(item));
    match g.schema.execute_stream(request).next().await {
        Some(response) => response,
        None => Response::from_errors(vec![ServerError::new(
            "the subscription produced no response",
            None,
        )]),
    }
}

async fn send(sink: &mut Sink, message: serde_json::Value) -> Step {
    send_text(sink, message.to_string()).await
}

async fn send_text(sink: &mut Sink, text: String) -> Step {
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Step::Continue,
        Ok(Err(_)) => Step::Gone,
        Err(_) => {
            tracing::debug!("WebSocket client stopped reading; dropping it");
            Step::Gone
        }
    }
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let mut headers = HeaderMap::new();
        assert!(origin_allowed(&[], &headers));
        let allowed = vec!["https://app.example.com/".to_owned()];
        assert!(
            origin_allowed(&allowed, &headers),
            "no Origin: not a browser"
        );
        headers.insert(header::ORIGIN, "https://APP.example.com".parse().unwrap());
        assert!(origin_allowed(&allowed, &headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!origin_allowed(&allowed, &headers));
        assert!(origin_allowed(&["*".to_owned()], &headers));
        // A page of this very server (its GraphiQL) is always allowed.
        headers.insert(header::HOST, "leads.example.com:8080".parse().unwrap());
        headers.insert(
            header::ORIGIN,
            "http://leads.example.com:8080".parse().unwrap(),
        );
        assert!(origin_allowed(&allowed, &headers));
        headers.insert(
            header::ORIGIN,
            "http://leads.example.com:8081".parse().unwrap(),
        );
        assert!(!origin_allowed(&allowed, &headers));
    }

    #[test]
    fn authorization_key_in_any_case() {
        let payload = json!({"AUTHORIZATION": "Bearer abc"});
        assert_eq!(authorization(&payload), Some("Bearer abc"));
        assert_eq!(authorization(&json!({"authorization": 1})), None);
        assert_eq!(authorization(&json!("Bearer abc")), None);
    }
}
