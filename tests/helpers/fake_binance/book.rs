//! The fake's market and account: klines, balances, and the order book with
//! Binance's rules for market orders, client ids, cancelling every open
//! order of a symbol and the queued faults.

use std::sync::Mutex;

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{Book, FakeOrder, Fault, Params, api_error, now_ms, reply};

/// The lot step of each symbol, as the exchangeInfo capture has it.
fn step_size(symbol: &str) -> Option<Decimal> {
    match symbol {
        "BTCUSDT" => Some(Decimal::new(1, 5)),
        "ETHUSDT" => Some(Decimal::new(1, 4)),
        _ => None,
    }
}

pub(super) fn klines(book: &Mutex<Book>, query: &str) -> Response {
    let mut book = book.lock().unwrap();
    if let Some(body) = &book.klines_body {
        return ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response();
    }
    let params: Params = serde_urlencoded::from_str(query).unwrap_or_default();
    let symbol = params.get("symbol").cloned().unwrap_or_default();
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(500);
    let Some((rows, closed)) = book.candles.get_mut(&symbol) else {
        return api_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
    };
    let end = (*closed).min(rows.len());
    let served: Vec<Value> = rows[end.saturating_sub(limit)..end].to_vec();
    *closed = (end + 1).min(rows.len());
    if let Some(close) = served.last().and_then(|row| row[4].as_str()) {
        let close = close.parse().unwrap();
        book.last_price.insert(symbol, close);
    }
    reply(StatusCode::OK, Value::Array(served))
}

pub(super) async fn signed(
    book: &Mutex<Book>,
    method: &Method,
    path: &str,
    params: &Params,
) -> Response {
    match (method.as_str(), path) {
        ("GET", "/api/v3/account") => {
            let book = book.lock().unwrap();
            let balances: Vec<Value> = book
                .balances
                .iter()
                .map(|(asset, free)| json!({"asset": asset, "free": free.to_string(), "locked": "0.00000000"}))
                .collect();
            reply(
                StatusCode::OK,
                json!({ "canTrade": true, "balances": balances }),
            )
        }
        ("GET", "/api/v3/openOrders") => {
            let book = book.lock().unwrap();
            let open: Vec<Value> = book
                .orders
                .iter()
                .filter(|o| o.status == "NEW")
                .map(order_json)
                .collect();
            reply(StatusCode::OK, Value::Array(open))
        }
        ("GET", "/api/v3/order") => {
            let stalled = {
                let mut book = book.lock().unwrap();
                let stalled = book.stalled_queries > 0;
                book.stalled_queries = book.stalled_queries.saturating_sub(1);
                stalled
            };
            if stalled {
                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            }
            let mut book = book.lock().unwrap();
            if book.failing_queries > 0 {
                book.failing_queries -= 1;
                return reply(StatusCode::SERVICE_UNAVAILABLE, json!({}));
            }
            let wanted = params.get("origClientOrderId");
            match book
                .orders
                .iter()
                .rev()
                .find(|o| Some(&o.client_order_id) == wanted)
            {
                Some(order) => reply(StatusCode::OK, order_json(order)),
                None => api_error(StatusCode::BAD_REQUEST, -2013, "Order does not exist."),
            }
        }
        ("POST", "/api/v3/order") => new_order(book, params).await,
        ("DELETE", "/api/v3/openOrders") => cancel_open_orders(&mut book.lock().unwrap(), params),
        _ => api_error(StatusCode::NOT_FOUND, -1000, "Unknown path in the fake."),
    }
}

async fn new_order(book: &Mutex<Book>, params: &Params) -> Response {
    let fault = book.lock().unwrap().faults.pop_front();
    let refused = |status: StatusCode, retry_after: u64| {
        let body = json!({"code": -1003, "msg": "Too many requests."}).to_string();
        (
            status,
            [(header::RETRY_AFTER, retry_after.to_string())],
            body,
        )
            .into_response()
    };
    match fault {
        Some(Fault::TooManyRequests(seconds)) => {
            return refused(StatusCode::TOO_MANY_REQUESTS, seconds);
        }
        Some(Fault::Banned(seconds)) => return refused(StatusCode::IM_A_TEAPOT, seconds),
        Some(Fault::TimestampOutsideWindow) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            );
        }
        Some(Fault::ServerErrorWithoutExecuting) => {
            return reply(StatusCode::SERVICE_UNAVAILABLE, json!({}));
        }
        _ => {}
    }
    let executed = execute(&mut book.lock().unwrap(), params);
    match fault {
        Some(Fault::ServerErrorAfterExecuting) => {
            reply(StatusCode::INTERNAL_SERVER_ERROR, json!({}))
        }
        Some(Fault::MalformedAfterExecuting) => {
            (StatusCode::OK, "<html>upstream hiccup</html>").into_response()
        }
        Some(Fault::SlowAfterExecuting(wait)) => {
            tokio::time::sleep(wait).await;
            executed
        }
        _ => executed,
    }
}

fn execute(book: &mut Book, params: &Params) -> Response {
    let get = |name: &str| params.get(name).cloned().unwrap_or_default();
    let (symbol, side, client_order_id) = (get("symbol"), get("side"), get("newClientOrderId"));
    if get("type") != "MARKET" {
        return api_error(StatusCode::BAD_REQUEST, -1116, "Invalid orderType.");
    }
    let Some(step) = step_size(&symbol) else {
        return api_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
    };
    let quantity: Decimal = match get("quantity").parse::<Decimal>() {
        Ok(q) if q >= step && (q % step).is_zero() => q,
        _ => return api_error(StatusCode::BAD_REQUEST, -1013, "Filter failure: LOT_SIZE"),
    };
    // Binance refuses a client id while its order is open, and accepts it
    // again once that order has filled.
    if book
        .orders
        .iter()
        .any(|o| o.client_order_id == client_order_id && o.status != "FILLED")
    {
        return api_error(StatusCode::BAD_REQUEST, -2010, "Duplicate order sent.");
    }
    let price = book
        .last_price
        .get(&symbol)
        .copied()
        .unwrap_or(Decimal::from(60_000));
    let base = symbol.trim_end_matches("USDT").to_owned();
    let notional = (price * quantity).round_dp(8);
    let fee_rate = Decimal::new(1, 3);
    let (commission, commission_asset) = if side == "BUY" {
        ((quantity * fee_rate).round_dp(8), base.clone())
    } else {
        ((notional * fee_rate).round_dp(8), "USDT".to_owned())
    };
    let balance = |book: &Book, asset: &str| book.balances.get(asset).copied().unwrap_or_default();
    let affordable = if side == "BUY" {
        balance(book, "USDT") >= notional
    } else {
        balance(book, &base) >= quantity
    };
    if !affordable {
        return api_error(
            StatusCode::BAD_REQUEST,
            -2010,
            "Account has insufficient balance for requested action.",
        );
    }
    let (spent, got, spent_amount, got_amount) = if side == "BUY" {
        (
            "USDT".to_owned(),
            base.clone(),
            notional,
            quantity - commission,
        )
    } else {
        (
            base.clone(),
            "USDT".to_owned(),
            quantity,
            notional - commission,
        )
    };
    *book.balances.entry(spent).or_default() -= spent_amount;
    *book.balances.entry(got).or_default() += got_amount;

    let order = FakeOrder {
        client_order_id,
        order_id: book.orders.len() as u64 + 1,
        symbol,
        side,
        quantity,
        price,
        status: "FILLED",
    };
    let mut body = order_json(&order);
    body["transactTime"] = json!(now_ms());
    body["fills"] = json!([{
        "price": price.to_string(),
        "qty": quantity.to_string(),
        "commission": commission.to_string(),
        "commissionAsset": commission_asset,
        "tradeId": order.order_id * 10,
    }]);
    book.orders.push(order);
    reply(StatusCode::OK, body)
}

/// Binance's cancel-all: every open order on the symbol, whoever placed
/// it, cancelled; one cancel report each, or -2011 when none is open.
fn cancel_open_orders(book: &mut Book, params: &Params) -> Response {
    let symbol = params.get("symbol").cloned().unwrap_or_default();
    if step_size(&symbol).is_none() {
        return api_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
    }
    let mut reports = Vec::new();
    for order in book
        .orders
        .iter_mut()
        .filter(|o| o.symbol == symbol && o.status == "NEW")
    {
        order.status = "CANCELED";
        let mut report = order_json(order);
        let fields = report.as_object_mut().unwrap();
        fields.remove("time");
        fields.insert("origClientOrderId".into(), json!(order.client_order_id));
        // A cancel report's clientOrderId is the cancel request's own id.
        fields.insert(
            "clientOrderId".into(),
            json!(format!("fakecancel{}", order.order_id)),
        );
        fields.insert("transactTime".into(), json!(now_ms()));
        fields.insert("selfTradePreventionMode".into(), json!("NONE"));
        reports.push(report);
    }
    if reports.is_empty() {
        return api_error(StatusCode::BAD_REQUEST, -2011, "Unknown order sent.");
    }
    reply(StatusCode::OK, Value::Array(reports))
}

fn order_json(order: &FakeOrder) -> Value {
    let filled = order.status == "FILLED";
    let executed = if filled {
        order.quantity
    } else {
        Decimal::ZERO
    };
    json!({
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": if filled { "0.00000000".to_owned() } else { order.price.to_string() },
        "origQty": order.quantity.to_string(),
        "executedQty": executed.to_string(),
        "cummulativeQuoteQty": (executed * order.price).round_dp(8).to_string(),
        "status": order.status,
        "timeInForce": "GTC",
        "type": if filled { "MARKET" } else { "LIMIT" },
        "side": order.side,
        "time": now_ms(),
    })
}
