//! The Binance client against the strict local fake: signing, every fault an
//! order can meet (the outcome reported right, never a duplicate order), the
//! rate-limit gate, clock skew, filters, the kill switch's cancel of every
//! open order, and credentials that never reach a log line. `BinanceExchange` is driven directly, on a current-thread
//! runtime on the test's thread so the capturing subscriber sees its lines.
//! The whole daemon trading live against the fake is in `binance_daemon`.

use std::time::Duration;

use rust_decimal::Decimal;
use secrecy::SecretString;
use tokio::runtime::Runtime;
use tracing::Instrument;

use tradebot::config::Environment;
use tradebot::exchange::binance::{BinanceExchange, BinanceSettings, ClientSettings, Credentials};
use tradebot::exchange::{Exchange, ExchangeError, OrderReport, OrderRequest, OrderStatus, Side};

use crate::helpers::capture::Captured;
use crate::helpers::data_file;
use crate::helpers::fake_binance::{FAKE_API_KEY, FAKE_API_SECRET, FakeBinance, Fault};

pub const EXCHANGE_INFO: &str = "binance-spot-rest-exchangeInfo-BTCUSDT-ETHUSDT-2021-10-22.json";
const CORRELATION_ID: &str = "corr-test-1";

struct Harness {
    runtime: Runtime,
    fake: FakeBinance,
    exchange: BinanceExchange,
    logs: Captured,
    /// Lines logged while connecting, before any trade.
    startup_lines: usize,
}

/// The span the trader opens for a trade.
fn trade_span() -> tracing::Span {
    tracing::info_span!("trade", correlation_id = CORRELATION_ID)
}

fn settings(fake: &FakeBinance) -> BinanceSettings {
    BinanceSettings {
        environment: Environment::Testnet,
        client: ClientSettings {
            base_url: fake.base_url.clone(),
            request_timeout: Duration::from_millis(500),
            recv_window_ms: 5000,
            time_sync_interval: Duration::from_secs(300),
        },
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        unknown_outcome_backoff: vec![
            Duration::from_millis(20),
            Duration::from_millis(40),
            Duration::from_millis(80),
        ],
    }
}

fn credentials(key: &str) -> Credentials {
    Credentials {
        api_key: SecretString::from(key),
        api_secret: SecretString::from(FAKE_API_SECRET),
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A fake exchange and a client connected to it, or `None` without the data.
fn harness_with(prepare: impl FnOnce(&FakeBinance)) -> Option<Harness> {
    let info = std::fs::read_to_string(data_file(EXCHANGE_INFO)?).unwrap();
    let fake = FakeBinance::exchange(info);
    prepare(&fake);
    let logs = Captured::start();
    let runtime = runtime();
    let exchange = runtime
        .block_on(BinanceExchange::connect(
            settings(&fake),
            &credentials(FAKE_API_KEY),
        ))
        .expect("connect to the fake");
    let startup_lines = logs.lines().len();
    Some(Harness {
        runtime,
        fake,
        exchange,
        logs,
        startup_lines,
    })
}

fn harness() -> Option<Harness> {
    harness_with(|_| {})
}

fn buy(quantity: &str, id: &str) -> OrderRequest {
    OrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        quantity: quantity.parse().unwrap(),
        client_order_id: id.into(),
    }
}

impl Harness {
    /// Places the order inside a trade span, as the trader does.
    fn place(&mut self, order: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        self.runtime.block_on(
            self.exchange
                .place_market_order(order)
                .instrument(trade_span()),
        )
    }

    fn posts(&self) -> usize {
        self.fake.recorded_to("POST", "/api/v3/order").len()
    }

    fn queries(&self) -> usize {
        self.fake.recorded_to("GET", "/api/v3/order").len()
    }

    /// The kill switch's cancel, outside any trade span as it runs.
    fn cancel_open_orders(&mut self, symbols: &[&str]) -> Result<Vec<String>, ExchangeError> {
        let symbols: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
        self.runtime
            .block_on(self.exchange.cancel_open_orders(&symbols))
    }

    /// The lines logged since connecting.
    fn lines_since_startup(&self) -> Vec<serde_json::Value> {
        self.lines_after(self.startup_lines)
    }

    /// The lines logged after the first `mark`.
    fn lines_after(&self, mark: usize) -> Vec<serde_json::Value> {
        self.logs.lines()[mark..].to_vec()
    }

    /// Neither credential nor a signature in any line.
    fn assert_no_credentials_logged(&self) {
        let text = self.logs.text();
        for needle in [FAKE_API_KEY, FAKE_API_SECRET, "signature="] {
            assert!(!text.contains(needle), "{needle:?} in the logs:\n{text}");
        }
    }

    /// Neither credential nor a signature in any line; every line the client
    /// logged during an order carries the trade's correlation id.
    fn assert_logs_clean(&self) {
        self.assert_no_credentials_logged();
        for line in &self.logs.lines()[self.startup_lines..] {
            let logger = line["logger"].as_str().unwrap();
            if logger.starts_with("tradebot::exchange::binance") {
                assert_eq!(line["correlation_id"], CORRELATION_ID, "{line}");
            }
        }
    }
}

fn assert_one_order_per_client_id(fake: &FakeBinance) {
    let counts = fake.orders_per_client_id();
    assert!(
        counts.values().all(|&n| n == 1),
        "duplicate orders: {counts:?}"
    );
}

#[test]
fn a_market_order_is_signed_sent_with_our_client_id_and_booked_with_its_fills() {
    let Some(mut h) = harness() else { return };
    let report = h.place(&buy("0.012345678", "tb-plain")).unwrap();

    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(report.client_order_id, "tb-plain");
    assert_eq!(report.fills.len(), 1);
    // Cut down to BTCUSDT's 0.00001 step before sending, never up.
    assert_eq!(
        report.fills[0].quantity,
        "0.01234".parse::<Decimal>().unwrap()
    );
    assert_eq!(report.fills[0].fee_asset, "BTC");
    let post = &h.fake.recorded_to("POST", "/api/v3/order")[0];
    assert!(post.query.is_empty(), "{post:?}");
    assert!(post.body.contains("newClientOrderId=tb-plain"), "{post:?}");
    assert!(post.body.contains("newOrderRespType=FULL"), "{post:?}");
    assert!(post.body.contains("quantity=0.01234&"), "{post:?}");
    assert_eq!(post.api_key.as_deref(), Some(FAKE_API_KEY));
    assert_one_order_per_client_id(&h.fake);
    h.assert_logs_clean();
}

/// A fault after which the order did execute: it is found by client id and
/// booked, and never sent twice.
fn executed_but_unanswered(fault: Fault) {
    let Some(mut h) = harness() else { return };
    h.fake.push_fault(fault);
    let report = h.place(&buy("0.01", "tb-unknown")).unwrap();

    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(
        report.executed_quantity(),
        "0.01".parse::<Decimal>().unwrap()
    );
    assert_eq!(h.posts(), 1);
    assert!(h.queries() >= 1);
    assert_eq!(h.fake.orders_per_client_id()["tb-unknown"], 1);
    let lines = h.logs.lines();
    assert!(
        lines.iter().any(|l| l["message"]
            == "Order outcome unknown; querying it by client order id before anything else"),
        "{lines:#?}"
    );
    h.assert_logs_clean();
}

#[test]
fn a_5xx_after_the_order_executed_is_queried_and_booked_without_a_second_order() {
    executed_but_unanswered(Fault::ServerErrorAfterExecuting);
}

#[test]
fn a_timeout_after_the_order_executed_is_queried_and_booked_without_a_second_order() {
    executed_but_unanswered(Fault::SlowAfterExecuting(Duration::from_millis(1500)));
}

#[test]
fn a_malformed_reply_is_an_unknown_outcome_that_is_queried_and_booked() {
    executed_but_unanswered(Fault::MalformedAfterExecuting);
}

#[test]
fn a_slow_reply_inside_the_timeout_is_booked_directly() {
    let Some(mut h) = harness() else { return };
    h.fake
        .push_fault(Fault::SlowAfterExecuting(Duration::from_millis(200)));
    h.place(&buy("0.01", "tb-slow")).unwrap();
    assert_eq!((h.posts(), h.queries()), (1, 0));
    h.assert_logs_clean();
}

#[test]
fn an_order_confirmed_absent_is_resent_once_with_the_same_client_id() {
    let Some(mut h) = harness() else { return };
    h.fake.push_fault(Fault::ServerErrorWithoutExecuting);
    let report = h.place(&buy("0.01", "tb-absent")).unwrap();

    assert_eq!(report.status, OrderStatus::Filled);
    let posts = h.fake.recorded_to("POST", "/api/v3/order");
    assert_eq!(posts.len(), 2);
    assert!(
        posts
            .iter()
            .all(|p| p.body.contains("newClientOrderId=tb-absent"))
    );
    assert_eq!(h.queries(), 1);
    assert_eq!(h.fake.orders_per_client_id()["tb-absent"], 1);
    h.assert_logs_clean();
}

#[test]
fn an_outcome_the_queries_cannot_settle_is_reported_unknown_and_never_resent() {
    let Some(mut h) = harness() else { return };
    h.fake.push_fault(Fault::ServerErrorAfterExecuting);
    h.fake.fail_queries(3);
    let err = h.place(&buy("0.01", "tb-lost")).unwrap_err();

    assert!(matches!(err, ExchangeError::OutcomeUnknown { .. }), "{err}");
    assert_eq!(h.posts(), 1);
    assert_eq!(h.queries(), 3);
    assert_eq!(h.fake.orders_per_client_id()["tb-lost"], 1);
    // The trader's own follow-up query now finds it.
    let found = h
        .runtime
        .block_on(
            h.exchange
                .query_order("BTCUSDT", "tb-lost")
                .instrument(trade_span()),
        )
        .unwrap();
    assert_eq!(found.unwrap().status, OrderStatus::Filled);
    h.assert_logs_clean();
}

#[test]
fn a_signed_query_that_times_out_never_shows_its_url_or_signature() {
    let Some(mut h) = harness() else { return };
    h.fake.push_fault(Fault::ServerErrorAfterExecuting);
    h.fake.stall_queries(3);
    let err = h.place(&buy("0.01", "tb-stalled")).unwrap_err();

    assert!(matches!(err, ExchangeError::OutcomeUnknown { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("signature=") && !text.contains("origClientOrderId"),
        "{text}"
    );
    let failures = h
        .logs
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "Order query failed")
        .count();
    assert_eq!(failures, 3);
    assert_eq!(h.fake.orders_per_client_id()["tb-stalled"], 1);
    h.assert_logs_clean();
}

#[test]
fn a_429_pauses_every_request_until_retry_after_has_passed() {
    let Some(mut h) = harness() else { return };
    h.fake.push_fault(Fault::TooManyRequests(1));
    let err = h.place(&buy("0.01", "tb-429")).unwrap_err();
    assert!(matches!(err, ExchangeError::RateLimited { .. }), "{err}");
    // During the pause an order is refused without a request...
    let err = h.place(&buy("0.01", "tb-429-b")).unwrap_err();
    assert!(matches!(err, ExchangeError::RateLimited { .. }), "{err}");
    // ...and a query waits the pause out.
    h.runtime
        .block_on(h.exchange.balances().instrument(trade_span()))
        .unwrap();

    let recorded = h.fake.recorded();
    let limited = recorded
        .iter()
        .position(|r| r.method == "POST")
        .expect("the 429 order");
    let after: Vec<_> = recorded[limited + 1..].iter().collect();
    assert_eq!(after.len(), 1, "{after:#?}");
    assert!(after[0].at >= recorded[limited].at + Duration::from_secs(1));
    assert_eq!(h.posts(), 1);
    assert!(h.fake.orders().is_empty());
    h.assert_logs_clean();
}

#[test]
fn a_418_halts_orders_with_one_error_line_and_no_request_until_the_ban_ends() {
    let Some(mut h) = harness() else { return };
    h.fake.push_fault(Fault::Banned(1));
    for id in ["tb-418-a", "tb-418-b", "tb-418-c"] {
        let err = h.place(&buy("0.01", id)).unwrap_err();
        assert!(matches!(err, ExchangeError::Halted { .. }), "{err}");
    }
    assert_eq!(h.posts(), 1);
    let errors: Vec<_> = h
        .logs
        .lines()
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0]["message"].as_str().unwrap().contains("banned"));

    std::thread::sleep(Duration::from_millis(1100));
    h.place(&buy("0.01", "tb-418-d")).unwrap();
    assert_eq!(h.posts(), 2);
    h.assert_logs_clean();
}

#[test]
fn a_timestamp_refused_once_is_resynced_and_retried() {
    let Some(mut h) = harness() else { return };
    let syncs = h.fake.recorded_to("GET", "/api/v3/time").len();
    h.fake.push_fault(Fault::TimestampOutsideWindow);
    h.place(&buy("0.01", "tb-skew")).unwrap();

    assert_eq!(h.posts(), 2);
    assert_eq!(h.fake.recorded_to("GET", "/api/v3/time").len(), syncs + 1);
    assert_eq!(h.fake.orders_per_client_id()["tb-skew"], 1);
    h.assert_logs_clean();
}

#[test]
fn a_timestamp_refused_again_after_the_resync_is_fatal_and_names_the_code() {
    let Some(mut h) = harness() else { return };
    h.fake.push_fault(Fault::TimestampOutsideWindow);
    h.fake.push_fault(Fault::TimestampOutsideWindow);
    let err = h.place(&buy("0.01", "tb-skewed")).unwrap_err();

    assert!(matches!(err, ExchangeError::Fatal { .. }), "{err}");
    assert!(err.to_string().contains("-1021"), "{err}");
    assert_eq!(h.posts(), 2);
    assert!(h.fake.orders().is_empty());
    h.assert_logs_clean();
}

#[test]
fn an_order_below_the_lot_size_is_refused_before_anything_is_sent() {
    let Some(mut h) = harness() else { return };
    let before = h.fake.recorded().len();
    let err = h.place(&buy("0.000001", "tb-tiny")).unwrap_err();

    assert_eq!(
        err.to_string(),
        "order rejected: filter LOT_SIZE: quantity 0.000001 below minQty 0.00001"
    );
    assert_eq!(h.fake.recorded().len(), before);
    h.assert_logs_clean();
}

#[test]
fn an_order_below_the_min_notional_at_the_last_close_is_refused_before_sending() {
    let Some(mut h) = harness() else { return };
    let candle = tradebot::market::Candle {
        symbol: "BTCUSDT".into(),
        open_time_ms: 0,
        close_time_ms: 59_999,
        open: Decimal::from(60_000),
        high: Decimal::from(60_000),
        low: Decimal::from(60_000),
        close: Decimal::from(60_000),
        volume: Decimal::ONE,
    };
    h.exchange.on_candle(&candle);
    let err = h.place(&buy("0.0001", "tb-small")).unwrap_err();
    assert!(err.to_string().contains("filter MIN_NOTIONAL"), "{err}");
    assert_eq!(h.posts(), 0);
}

#[test]
fn start_up_reports_balances_and_leaves_our_earlier_open_orders_alone() {
    let Some(h) = harness_with(|fake| fake.add_open_order("BTCUSDT", "tb-earlier")) else {
        return;
    };
    let lines = h.logs.lines();
    let balances = lines
        .iter()
        .find(|l| l["message"] == "Binance account balances")
        .expect("balances line");
    // Zero balances (BNB) are left out.
    assert_eq!(balances["balances"], "USDT=10000", "{balances}");
    let earlier: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "Open order from an earlier run; it is left as it is")
        .collect();
    assert_eq!(earlier.len(), 1, "{lines:#?}");
    assert_eq!(earlier[0]["level"], "WARN");
    assert_eq!(earlier[0]["client_order_id"], "tb-earlier");
    assert!(h.fake.recorded_to("DELETE", "/api/v3/order").is_empty());
    let text = h.logs.text();
    for needle in [FAKE_API_KEY, FAKE_API_SECRET, "signature="] {
        assert!(!text.contains(needle), "{needle:?} in the logs:\n{text}");
    }
}

#[test]
fn a_refused_api_key_fails_the_connection_without_showing_the_key() {
    let Some(path) = data_file(EXCHANGE_INFO) else {
        return;
    };
    let fake = FakeBinance::exchange(std::fs::read_to_string(path).unwrap());
    let logs = Captured::start();
    let wrong = "canary-wrong-key-0c41";
    let err = runtime()
        .block_on(BinanceExchange::connect(
            settings(&fake),
            &credentials(wrong),
        ))
        .err()
        .expect("a wrong key is refused");

    let text = format!("{err} {err:?} {}", logs.text());
    assert!(err.to_string().contains("-2015"), "{err}");
    for needle in [wrong, FAKE_API_SECRET, "signature="] {
        assert!(!text.contains(needle), "{needle:?} in {text}");
    }
}

fn cancelled_lines(lines: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["message"] == "Open order cancelled")
        .collect()
}

fn status_of(fake: &FakeBinance, client_order_id: &str) -> &'static str {
    fake.orders()
        .iter()
        .find(|o| o.client_order_id == client_order_id)
        .unwrap_or_else(|| panic!("no order {client_order_id} on the fake"))
        .status
}

#[test]
fn the_kill_switch_cancels_the_open_orders_on_each_symbol_and_returns_their_client_ids() {
    let Some(mut h) = harness_with(|fake| {
        fake.add_open_order("BTCUSDT", "tb-open-btc");
        fake.add_open_order("ETHUSDT", "tb-open-eth");
    }) else {
        return;
    };
    let cancelled = h.cancel_open_orders(&["BTCUSDT", "ETHUSDT"]).unwrap();

    assert_eq!(cancelled, ["tb-open-btc", "tb-open-eth"]);
    assert_eq!(status_of(&h.fake, "tb-open-btc"), "CANCELED");
    assert_eq!(status_of(&h.fake, "tb-open-eth"), "CANCELED");
    let deletes = h.fake.recorded_to("DELETE", "/api/v3/openOrders");
    assert_eq!(deletes.len(), 2, "{deletes:#?}");
    for (delete, symbol) in deletes.iter().zip(["BTCUSDT", "ETHUSDT"]) {
        assert!(
            delete.query.starts_with(&format!("symbol={symbol}&")),
            "{delete:?}"
        );
        assert!(delete.query.contains("&signature="), "{delete:?}");
        assert!(delete.body.is_empty(), "{delete:?}");
        assert_eq!(delete.api_key.as_deref(), Some(FAKE_API_KEY));
    }

    let lines = h.lines_since_startup();
    let infos = cancelled_lines(&lines);
    assert_eq!(infos.len(), 2, "{lines:#?}");
    assert_eq!(infos[0]["level"], "INFO");
    assert_eq!(infos[0]["symbol"], "BTCUSDT");
    assert_eq!(infos[0]["client_order_id"], "tb-open-btc");
    assert_eq!(infos[0]["exchange_order_id"], "1");
    assert_eq!(infos[1]["symbol"], "ETHUSDT");
    assert_eq!(infos[1]["client_order_id"], "tb-open-eth");
    assert!(
        !lines
            .iter()
            .any(|l| l["level"] == "WARN" || l["level"] == "ERROR"),
        "{lines:#?}"
    );
    h.assert_no_credentials_logged();
}

#[test]
fn the_kill_switch_with_nothing_open_is_ok_and_empty_and_leaves_filled_orders_alone() {
    let Some(mut h) = harness() else { return };
    h.place(&buy("0.01", "tb-filled")).unwrap();
    let mark = h.logs.lines().len();

    let cancelled = h.cancel_open_orders(&["BTCUSDT", "ETHUSDT"]).unwrap();

    assert!(cancelled.is_empty(), "{cancelled:?}");
    assert_eq!(status_of(&h.fake, "tb-filled"), "FILLED");
    // Binance's -2011 for each symbol, and neither is an error.
    assert_eq!(h.fake.recorded_to("DELETE", "/api/v3/openOrders").len(), 2);
    let lines = h.lines_after(mark);
    assert!(cancelled_lines(&lines).is_empty(), "{lines:#?}");
    assert!(
        !lines
            .iter()
            .any(|l| l["level"] == "WARN" || l["level"] == "ERROR"),
        "{lines:#?}"
    );
    h.assert_no_credentials_logged();
}

#[test]
fn the_kill_switch_cancels_an_order_not_ours_too_and_warns_about_it() {
    let Some(mut h) = harness_with(|fake| {
        fake.add_open_order("BTCUSDT", "tb-ours");
        fake.add_open_order("BTCUSDT", "web_manual_1");
    }) else {
        return;
    };
    let cancelled = h.cancel_open_orders(&["BTCUSDT"]).unwrap();

    assert_eq!(cancelled, ["tb-ours", "web_manual_1"]);
    assert_eq!(status_of(&h.fake, "web_manual_1"), "CANCELED");
    let lines = h.lines_since_startup();
    assert_eq!(cancelled_lines(&lines).len(), 2, "{lines:#?}");
    let warnings: Vec<_> = lines.iter().filter(|l| l["level"] == "WARN").collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert_eq!(warnings[0]["client_order_id"], "web_manual_1");
    assert_eq!(warnings[0]["symbol"], "BTCUSDT");
    h.assert_no_credentials_logged();
}

#[test]
fn a_symbol_the_kill_switch_cannot_cancel_does_not_stop_the_others() {
    let Some(mut h) = harness_with(|fake| fake.add_open_order("BTCUSDT", "tb-still-cancelled"))
    else {
        return;
    };
    let err = h.cancel_open_orders(&["DOGEUSDT", "BTCUSDT"]).unwrap_err();

    assert!(matches!(err, ExchangeError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("-1121"), "{err}");
    assert_eq!(status_of(&h.fake, "tb-still-cancelled"), "CANCELED");
    let lines = h.lines_since_startup();
    let errors: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    assert_eq!(errors[0]["symbol"], "DOGEUSDT");
    assert_eq!(cancelled_lines(&lines).len(), 1, "{lines:#?}");
    h.assert_no_credentials_logged();
}

#[test]
fn the_kill_switch_against_an_unreachable_exchange_is_an_error_for_every_symbol() {
    let Some(h) = harness() else { return };
    let Harness {
        runtime,
        fake,
        mut exchange,
        logs,
        startup_lines,
    } = h;
    drop(fake);
    // Lets the client's pooled connection see the fake hang up, so the
    // next request opens a new connection and finds nothing listening.
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });

    let symbols = ["BTCUSDT".to_owned(), "ETHUSDT".to_owned()];
    let err = runtime
        .block_on(exchange.cancel_open_orders(&symbols))
        .unwrap_err();

    assert!(matches!(err, ExchangeError::Unreachable { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("signature=") && !text.contains("symbol="),
        "{text}"
    );
    let lines = logs.lines()[startup_lines..].to_vec();
    let failed: Vec<_> = lines
        .iter()
        .filter(|l| l["level"] == "ERROR")
        .map(|l| l["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["BTCUSDT", "ETHUSDT"], "{lines:#?}");
    let text = logs.text();
    for needle in [FAKE_API_KEY, FAKE_API_SECRET, "signature="] {
        assert!(!text.contains(needle), "{needle:?} in the logs:\n{text}");
    }
}
