//! A stand-in for Binance Spot's REST API on 127.0.0.1, strict where the real
//! one is: it checks the API key header, the HMAC-SHA256 signature over the
//! exact bytes received (`signature` last) and the timestamp against
//! recvWindow (-1021). It keeps an order book by client id that, like
//! Binance, accepts a reused client id once the first order filled, so a
//! duplicate order shows up as two orders. Faults can be queued for the next
//! order requests. Every request is recorded with its raw query and body.
//!
//! [`FakeBinance::serve_klines`] is the old klines-only mode: one recorded
//! reply for every klines request.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::oneshot;

use super::TIMEOUT;

mod book;

pub const FAKE_API_KEY: &str = "canary-api-key-7f3a9c";
pub const FAKE_API_SECRET: &str = "canary-api-secret-51be0d";

/// What the next order request runs into.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The order executes, then the reply is a 500.
    ServerErrorAfterExecuting,
    /// A 503 and the order is not executed.
    ServerErrorWithoutExecuting,
    /// The order executes, then the reply comes after this long.
    SlowAfterExecuting(Duration),
    /// 429 with `Retry-After` seconds; nothing executes.
    TooManyRequests(u64),
    /// 418 with `Retry-After` seconds; nothing executes.
    Banned(u64),
    /// -1021 as if the timestamp were outside recvWindow; nothing executes.
    TimestampOutsideWindow,
    /// The order executes; the reply is not JSON.
    MalformedAfterExecuting,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    pub api_key: Option<String>,
    pub at: Instant,
}

#[derive(Debug, Clone)]
pub struct FakeOrder {
    pub client_order_id: String,
    pub order_id: u64,
    pub symbol: String,
    pub side: String,
    pub quantity: Decimal,
    pub price: Decimal,
    pub status: &'static str,
}

#[derive(Default)]
struct Book {
    klines_body: Option<String>,
    /// Per symbol: every candle, and how many have "closed" so far.
    candles: HashMap<String, (Vec<Value>, usize)>,
    last_price: HashMap<String, Decimal>,
    balances: BTreeMap<String, Decimal>,
    orders: Vec<FakeOrder>,
    faults: VecDeque<Fault>,
    failing_queries: usize,
    stalled_queries: usize,
    recorded: Vec<Recorded>,
}

#[derive(Clone)]
struct Shared {
    book: Arc<Mutex<Book>>,
    klines_requests: Arc<AtomicUsize>,
    exchange_info: Arc<String>,
}

pub struct FakeBinance {
    pub base_url: String,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl FakeBinance {
    /// Serves `klines_json` for every klines request, whatever its query.
    pub fn serve_klines(klines_json: String) -> Self {
        let fake = Self::start(String::new());
        fake.book().klines_body = Some(klines_json);
        fake
    }

    /// The whole fake exchange, serving `exchange_info` (the capture in
    /// `../shared/data`) with 10,000 USDT on the account.
    pub fn exchange(exchange_info: String) -> Self {
        let fake = Self::start(exchange_info);
        fake.book().balances.extend([
            ("USDT".into(), Decimal::from(10_000)),
            ("BNB".into(), Decimal::ZERO),
        ]);
        fake
    }

    fn start(exchange_info: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Shared {
            book: Arc::default(),
            klines_requests: Arc::default(),
            exchange_info: Arc::new(exchange_info),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                // Dropping the runtime afterwards closes any open connection,
                // so stopping never waits on a client's keep-alive.
                tokio::select! {
                    served = axum::serve(listener, app) => served.unwrap(),
                    _ = stopped => {}
                }
            });
        });
        Self {
            base_url,
            shared,
            stop: Some(stop),
            server: Some(server),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.shared.book.lock().unwrap()
    }

    /// Klines for `symbol` built from kline CSV rows (data.binance.vision
    /// columns, with a header): each klines request closes one more candle,
    /// starting with `first_closed` already closed.
    pub fn serve_csv_klines(&self, symbol: &str, csv: &str, first_closed: usize) {
        let rows: Vec<Value> = csv
            .lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                json!([
                    f[0].parse::<i64>().unwrap(),
                    f[1],
                    f[2],
                    f[3],
                    f[4],
                    f[5],
                    f[6].parse::<i64>().unwrap(),
                    f[7],
                    f[8].parse::<i64>().unwrap(),
                    f[9],
                    f[10],
                    "0"
                ])
            })
            .collect();
        self.book()
            .candles
            .insert(symbol.to_owned(), (rows, first_closed));
    }

    pub fn push_fault(&self, fault: Fault) {
        self.book().faults.push_back(fault);
    }

    /// The next `count` order queries answer 503.
    pub fn fail_queries(&self, count: usize) {
        self.book().failing_queries = count;
    }

    /// The next `count` order queries answer only after 1.5 s, past any
    /// client timeout the tests set.
    pub fn stall_queries(&self, count: usize) {
        self.book().stalled_queries = count;
    }

    /// An open LIMIT order on the account, as an earlier run would leave it.
    pub fn add_open_order(&self, symbol: &str, client_order_id: &str) {
        let mut book = self.book();
        let order_id = book.orders.len() as u64 + 1;
        book.orders.push(FakeOrder {
            client_order_id: client_order_id.to_owned(),
            order_id,
            symbol: symbol.to_owned(),
            side: "BUY".into(),
            quantity: Decimal::new(1, 3),
            price: Decimal::from(30_000),
            status: "NEW",
        });
    }

    /// Every order executed or open, in the order they arrived.
    pub fn orders(&self) -> Vec<FakeOrder> {
        self.book().orders.clone()
    }

    /// How many orders carry each client id.
    pub fn orders_per_client_id(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for order in self.orders() {
            *counts.entry(order.client_order_id).or_default() += 1;
        }
        counts
    }

    /// Every request received so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.book().recorded.clone()
    }

    /// The recorded requests to `method path`.
    pub fn recorded_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.recorded()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Klines requests received so far.
    pub fn requests(&self) -> usize {
        self.shared.klines_requests.load(Ordering::SeqCst)
    }

    /// The query strings of the klines requests received so far.
    pub fn queries(&self) -> Vec<String> {
        self.recorded_to("GET", "/api/v3/klines")
            .into_iter()
            .map(|r| r.query)
            .collect()
    }

    /// Waits until at least `count` klines requests arrived; fails after [`TIMEOUT`].
    pub fn wait_for_requests(&self, count: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while self.requests() < count {
            assert!(
                Instant::now() < deadline,
                "only {} of {count} klines requests within {TIMEOUT:?}",
                self.requests()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FakeBinance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// A local address nothing listens on: bound, then released.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr: SocketAddr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn api_error(status: StatusCode, code: i64, msg: &str) -> Response {
    reply(status, json!({ "code": code, "msg": msg }))
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let api_key = headers
        .get("x-mbx-apikey")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    shared.book.lock().unwrap().recorded.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: query.clone(),
        body: body.clone(),
        api_key: api_key.clone(),
        at: Instant::now(),
    });
    let path = uri.path();
    match (method.as_str(), path) {
        ("GET", "/api/v3/time") => return reply(StatusCode::OK, json!({ "serverTime": now_ms() })),
        ("GET", "/api/v3/exchangeInfo") => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                shared.exchange_info.as_str().to_owned(),
            )
                .into_response();
        }
        ("GET", "/api/v3/klines") => {
            shared.klines_requests.fetch_add(1, Ordering::SeqCst);
            return book::klines(&shared.book, &query);
        }
        _ => {}
    }
    let params = match authenticate(api_key.as_deref(), &query, &body) {
        Ok(params) => params,
        Err(response) => return response,
    };
    book::signed(&shared.book, &method, path, &params).await
}

type Params = HashMap<String, String>;

/// Checks the key, the signature over the raw bytes and the timestamp, as
/// Binance does; the decoded parameters on success.
// The refusal is the reply itself; its size does not matter in a test fake.
#[allow(clippy::result_large_err)]
fn authenticate(api_key: Option<&str>, query: &str, body: &str) -> Result<Params, Response> {
    match api_key {
        None => {
            return Err(api_error(
                StatusCode::UNAUTHORIZED,
                -2014,
                "API-key format invalid.",
            ));
        }
        Some(key) if key != FAKE_API_KEY => {
            return Err(api_error(
                StatusCode::UNAUTHORIZED,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        }
        Some(_) => {}
    }
    let total = format!("{query}{body}");
    let bad_signature = || {
        api_error(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        )
    };
    let Some((payload, signature)) = total.rsplit_once("&signature=") else {
        return Err(bad_signature());
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(FAKE_API_SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    let valid = hex::decode(signature)
        .map(|sig| mac.verify_slice(&sig).is_ok())
        .unwrap_or(false);
    if !valid {
        return Err(bad_signature());
    }
    let params: Params = serde_urlencoded::from_str(payload).map_err(|_| bad_signature())?;
    let timestamp: i64 = params
        .get("timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            api_error(
                StatusCode::BAD_REQUEST,
                -1102,
                "Mandatory parameter 'timestamp' was not sent.",
            )
        })?;
    let window: i64 = params
        .get("recvWindow")
        .and_then(|w| w.parse().ok())
        .unwrap_or(5000);
    let now = now_ms();
    if timestamp > now + 1000 || now - timestamp > window {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(params)
}
