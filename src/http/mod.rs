//! The HTTP API, served by the daemon (`http.bind`) and by `tradebot
//! dashboard` (`dashboard.bind`): health and readiness, status, trades, the
//! decision sources, the kill switch, Prometheus metrics and the dashboard
//! page.
//!
//! Every response carries `X-Request-ID`, whatever produced it (a handler,
//! a 404, the body limit's 413, the timeout's 408, a panic's 500), because
//! [`request_id`] is the outermost layer; every line logged while a request
//! is handled carries `request_id`, and each request ends with one access
//! line.

mod api;
mod dashboard;
mod kill_switch;
mod request_id;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{info, warn};

use crate::kill_switch::KillSwitch;
use crate::kill_switch::auth::Verifier;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::telemetry::LogWriter;
use crate::trading::StatusBoard;

pub use request_id::{REQUEST_ID_HEADER, is_valid_request_id};

/// Bodies above this are refused with 413: the largest legitimate one is a
/// kill-switch reason.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("{setting} {addr}: cannot listen")]
pub struct BindError {
    setting: &'static str,
    addr: SocketAddr,
    source: std::io::Error,
}

/// What the service is, for `/api/v1/status` and `/api/v1/ml/models`.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// `trading-bot` or `dashboard`.
    pub service: &'static str,
    pub mode: String,
    /// `paper`, `binance-testnet`, `binance`.
    pub exchange: String,
    pub environment: String,
    pub symbols: Vec<String>,
    /// The active decision source and its parameters.
    pub model: serde_json::Value,
}

#[derive(Clone)]
pub struct AppState {
    pub info: Arc<ServiceInfo>,
    /// The trading loop's view; `None` in the dashboard, which reads the
    /// store instead.
    pub board: Option<Arc<StatusBoard>>,
    pub kill_switch: Arc<KillSwitch>,
    /// `None` when no valid kill-switch secret is configured: the switch's
    /// endpoints then refuse every request.
    pub verifier: Option<Arc<Verifier>>,
    pub store: Store,
    pub log: Option<LogWriter>,
    pub started: Instant,
    /// Market data older than this makes `/ready` answer 503.
    pub stale_after: Duration,
    pub request_timeout: Duration,
}

pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The router with `extra` routes inside every layer (tests add a slow and
/// a panicking one).
fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let timeout = state.request_timeout;
    extra
        .route("/health", get(api::health))
        .route("/ready", get(api::ready))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/trades", get(api::trades))
        .route("/api/v1/ml/models", get(api::models))
        .route("/api/v1/safety/kill-switch", get(kill_switch::state))
        .route(
            "/api/v1/safety/kill-switch/activate",
            post(kill_switch::activate),
        )
        .route(
            "/api/v1/safety/kill-switch/deactivate",
            post(kill_switch::deactivate),
        )
        .merge(dashboard::routes())
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // The panic hook has already logged the panic as a JSON line, with
        // the request's id; the client gets a plain 500 and the server
        // keeps serving.
        .layer(CatchPanicLayer::custom(|_| {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }))
        .layer(axum::middleware::from_fn(request_id::tag_request))
}

pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "no such route")
}

/// Binds before trading starts, so a taken port stops the daemon at once.
pub async fn bind(setting: &'static str, addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|source| BindError {
        setting,
        addr,
        source,
    })
}

/// Serves until shutdown is requested, then lets requests in flight finish
/// for at most `drain`. The handle ends when the server has stopped.
///
/// The accept loop is hyper's own rather than `axum::serve`, for one
/// setting axum does not expose: a client must finish sending its headers
/// within `request_timeout`, so slow or idle connections cannot pile up.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    mut shutdown: Shutdown,
    drain: Duration,
) -> tokio::task::JoinHandle<()> {
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let service = state.info.service;
    let header_timeout = state.request_timeout;
    let app = router(state);
    tokio::spawn(async move {
        info!(addr = %local, service, "HTTP server listening");
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let connections = GracefulShutdown::new();
        loop {
            let stream = tokio::select! {
                biased;
                () = shutdown.requested() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        // Out of file descriptors, most likely: back off
                        // instead of spinning.
                        warn!(error = %err, "HTTP connection not accepted");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let connection =
                http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
            let connection = connections.watch(connection);
            tokio::spawn(async move {
                // A client that goes away or sends garbage is its problem.
                let _ = connection.await;
            });
        }
        drop(listener);
        tokio::select! {
            () = connections.shutdown() => {}
            () = tokio::time::sleep(drain) => warn!(
                drain_ms = drain.as_millis() as u64,
                "HTTP requests still open after the drain; closing them"
            ),
        }
    })
}

#[cfg(test)]
mod tests;
