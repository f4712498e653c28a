//! The Binance client's own cost: from a decision (calling
//! `place_market_order`) to the signed request arriving at a loopback fake,
//! as p50 and p99, and whole orders per second (request, FULL reply, parse).
//!
//! The fake runs on its own thread and runtime on 127.0.0.1 and answers
//! without checking signatures: what is measured is the client (filters,
//! signing, encoding, HTTP over loopback), not a verifier. No network beyond
//! loopback is used.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;
use serde_json::json;
use tokio::runtime::Runtime;

use tradebot::config::Environment;
use tradebot::exchange::binance::{BinanceExchange, BinanceSettings, ClientSettings, Credentials};
use tradebot::exchange::{Exchange, OrderRequest, Side};

const SAMPLES: usize = 2_000;

type Arrivals = Arc<Mutex<Vec<Instant>>>;

fn exchange_info() -> serde_json::Value {
    json!({
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1_000_000}],
        "symbols": [{
            "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
            "filters": [
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                {"filterType": "MIN_NOTIONAL", "minNotional": "10.00000000", "applyToMarket": true}
            ]
        }]
    })
}

fn order_reply() -> serde_json::Value {
    json!({
        "symbol": "BTCUSDT", "orderId": 1, "orderListId": -1, "clientOrderId": "tb-bench",
        "transactTime": 1, "price": "0.00000000", "origQty": "0.01000000",
        "executedQty": "0.01000000", "cummulativeQuoteQty": "600.00000000",
        "status": "FILLED", "timeInForce": "GTC", "type": "MARKET", "side": "BUY",
        "fills": [{"price": "60000.00000000", "qty": "0.01000000", "commission": "0.00001000",
                   "commissionAsset": "BTC", "tradeId": 1}]
    })
}

/// Starts the fake; returns its base URL and the arrival times of orders.
fn start_fake() -> (String, Arrivals) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let arrivals = Arrivals::default();
    let seen = arrivals.clone();
    let app = Router::new()
        .route(
            "/api/v3/time",
            get(|| async {
                axum::Json(json!({"serverTime": chrono::Utc::now().timestamp_millis()}))
            }),
        )
        .route(
            "/api/v3/exchangeInfo",
            get(|| async { axum::Json(exchange_info()) }),
        )
        .route(
            "/api/v3/account",
            get(|| async {
                axum::Json(
                    json!({"balances": [{"asset": "USDT", "free": "1000000", "locked": "0"}]}),
                )
            }),
        )
        .route(
            "/api/v3/openOrders",
            get(|| async { axum::Json(json!([])) }),
        )
        .route(
            "/api/v3/order",
            axum::routing::post(move || {
                seen.lock().unwrap().push(Instant::now());
                async { axum::Json(order_reply()) }
            }),
        );
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (base_url, arrivals)
}

fn connect(runtime: &Runtime, base_url: &str) -> BinanceExchange {
    let settings = BinanceSettings {
        environment: Environment::Testnet,
        client: ClientSettings {
            base_url: base_url.to_owned(),
            request_timeout: Duration::from_secs(5),
            recv_window_ms: 5000,
            time_sync_interval: Duration::from_secs(300),
        },
        symbols: vec!["BTCUSDT".into()],
        unknown_outcome_backoff: Vec::new(),
    };
    let credentials = Credentials {
        api_key: SecretString::from("bench-key"),
        api_secret: SecretString::from("bench-secret"),
    };
    runtime
        .block_on(BinanceExchange::connect(settings, &credentials))
        .unwrap()
}

fn order(n: usize) -> OrderRequest {
    OrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        quantity: "0.0123456".parse().unwrap(),
        client_order_id: format!("tb-bench-{n}"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (base_url, arrivals) = start_fake();
    let mut exchange = connect(&runtime, &base_url);

    // Decision to arrival, one order at a time, after a warm-up.
    let mut latencies = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES + 200 {
        let decided = Instant::now();
        runtime
            .block_on(exchange.place_market_order(&order(n)))
            .unwrap();
        let arrived = *arrivals.lock().unwrap().last().unwrap();
        if n >= 200 {
            latencies.push(arrived - decided);
        }
    }
    latencies.sort();
    println!(
        "exchange/decision_to_request: p50 {:?}, p99 {:?}, max {:?} over {SAMPLES} orders",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );

    let mut group = c.benchmark_group("exchange");
    group.throughput(Throughput::Elements(1));
    let mut n = 0;
    group.bench_function("market_order_round_trip", |b| {
        b.iter(|| {
            n += 1;
            runtime
                .block_on(exchange.place_market_order(&order(n)))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
