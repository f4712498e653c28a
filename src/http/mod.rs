//! The daemon's HTTP side: for now `GET /health`, which `tradebot
//! healthcheck` (the container's HEALTHCHECK) asks over loopback.
//!
//! Every response carries `X-Request-ID`, and every line logged while a
//! request is handled carries `request_id`: [`request_id`] owns that rule.

mod request_id;

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::shutdown::Shutdown;

pub use request_id::{REQUEST_ID_HEADER, is_valid_request_id};

#[derive(Debug, thiserror::Error)]
#[error("http.bind {addr}: cannot listen")]
pub struct BindError {
    addr: SocketAddr,
    source: std::io::Error,
}

#[derive(Clone)]
struct AppState {
    started: Instant,
}

pub fn router() -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(AppState {
            started: Instant::now(),
        })
        .layer(axum::middleware::from_fn(request_id::tag_request))
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
    }))
}

/// Binds before trading starts, so a taken port stops the daemon at once.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// Serves until shutdown is requested. Open connections are not waited for:
/// the daemon's exit ends them, which keeps the stop inside its budget.
pub fn serve(listener: TcpListener, mut shutdown: Shutdown) {
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tokio::spawn(async move {
        info!(addr = %local, "HTTP server listening");
        let server = axum::serve(listener, router())
            .with_graceful_shutdown(async move { shutdown.requested().await });
        if let Err(err) = server.await {
            warn!(error = %err, "HTTP server stopped on an error; health checks will fail");
        }
    });
}
