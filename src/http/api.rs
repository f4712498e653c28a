//! The read side of the API: health, readiness, status, trades, decision
//! sources and metrics.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::warn;

use super::{AppState, error_response};
use crate::store::TradeFilter;
use crate::telemetry::error_chain;

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "service": state.info.service,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
    }))
}

/// 200 when the database answers and (in the daemon) market data is
/// fresh; 503 naming what is not.
pub async fn ready(State(state): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    if let Err(err) = state.store.ping().await {
        reasons.push(format!("database: {}", error_chain(&err)));
    }
    if let Some(board) = &state.board {
        match board.read(|s| s.market_data_at) {
            None => reasons.push("market data: no candle received yet".to_owned()),
            Some(at) if at.elapsed() > state.stale_after => reasons.push(format!(
                "market data: last candle received {} s ago",
                at.elapsed().as_secs()
            )),
            Some(_) => {}
        }
    }
    if reasons.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reasons": reasons })),
        )
            .into_response()
    }
}

pub async fn status(State(state): State<AppState>) -> Response {
    let info = &state.info;
    let kill_switch = state.kill_switch.view().await;
    let mut body = json!({
        "service": info.service,
        "version": env!("CARGO_PKG_VERSION"),
        "mode": info.mode,
        "exchange": info.exchange,
        "environment": info.environment,
        "symbols": info.symbols,
        "uptime_s": state.started.elapsed().as_secs(),
        "kill_switch": kill_switch,
    });
    match &state.board {
        Some(board) => {
            let snapshot = board.snapshot();
            let market_data: serde_json::Map<String, Value> = snapshot
                .last_candle
                .iter()
                .map(|(symbol, (close_time_ms, price))| {
                    (
                        symbol.clone(),
                        json!({ "close_time_ms": close_time_ms, "close": price }),
                    )
                })
                .collect();
            body["balances"] = json!(snapshot.balances);
            body["positions"] = json!(snapshot.positions);
            body["realized_pnl"] = json!(snapshot.realized_pnl);
            body["trades"] = json!({
                "filled": snapshot.stats.filled,
                "rejected": snapshot.stats.rejected,
                "unknown": snapshot.stats.unknown,
                "skipped": snapshot.stats.skipped,
            });
            body["market_data"] = Value::Object(market_data);
        }
        None => {
            // The dashboard: what the daemon last recorded.
            let recorded = async {
                let run = state.store.latest_live_run().await?;
                let holdings = match &run {
                    Some(run) => Some(state.store.holdings(&run.account).await?),
                    None => None,
                };
                Ok::<_, crate::store::StoreError>((run, holdings))
            };
            match recorded.await {
                Ok((run, holdings)) => {
                    if let Some(run) = run {
                        body["mode"] = json!(run.mode);
                        body["exchange"] = json!(run.account);
                        body["daemon_started_at"] = json!(run.started_at);
                    }
                    let (balances, positions) = holdings.unwrap_or_default();
                    body["balances"] = json!(balances);
                    body["positions"] = json!(positions);
                }
                Err(err) => {
                    warn!(error = %error_chain(&err), "Status without the recorded holdings: the database did not answer");
                    body["balances"] = Value::Null;
                    body["positions"] = Value::Null;
                }
            }
            body["realized_pnl"] = Value::Null;
            body["trades"] = Value::Null;
        }
    }
    Json(body).into_response()
}

#[derive(Debug, Deserialize)]
pub struct TradesQuery {
    account: Option<String>,
    symbol: Option<String>,
    limit: Option<u32>,
}

pub async fn trades(
    State(state): State<AppState>,
    query: Result<Query<TradesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "query: symbol must be text and limit a number from 1 to 1000",
        );
    };
    let symbol = query.symbol.filter(|s| !s.is_empty());
    if symbol.as_ref().is_some_and(|s| {
        s.len() > 20
            || !s
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    }) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "symbol must be 1 to 20 upper-case letters and digits, e.g. BTCUSDT",
        );
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return error_response(StatusCode::BAD_REQUEST, "limit must be from 1 to 1000");
    }
    let account = query.account.filter(|a| !a.is_empty());
    if account
        .as_ref()
        .is_some_and(|a| a.len() > 32 || !a.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            "account must be lower-case letters and dashes, e.g. paper or binance-testnet",
        );
    }
    let filter = TradeFilter {
        account,
        symbol,
        since: None,
        limit,
    };
    match state.store.trades(&filter).await {
        Ok(trades) => Json(json!({ "trades": trades })).into_response(),
        Err(err) => {
            warn!(error = %error_chain(&err), "Trades not served: the database did not answer");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable",
            )
        }
    }
}

pub async fn models(State(state): State<AppState>) -> Json<Value> {
    let active = state.info.model["name"].clone();
    Json(json!({
        "active": active,
        "models": [state.info.model],
    }))
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let lost = state.log.as_ref().map_or(0, |log| log.lines_lost());
    let text = crate::metrics::global().render(
        state.kill_switch.is_active(),
        lost,
        state.started.elapsed(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
