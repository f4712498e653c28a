use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::*;
use crate::config::RiskConfig;
use crate::exchange::{ExchangeError, OrderReport, OrderRequest, PaperExchange, PaperSettings};
use crate::store::tests::TestStore;
use crate::store::{TradeFilter, TradeStatus};
use crate::strategy::MaCrossover;
use crate::telemetry::capture::capture_lines;

/// One runtime for every test here: a store's pool must be used on the
/// runtime that opened it.
fn rt() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A recorder on a fresh SQLite store, its run already started.
fn recorder(t: &TestStore) -> Recorder {
    rt().block_on(async {
        t.store
            .start_run(&crate::store::RunStart {
                run_id: "run-1".into(),
                started_at: crate::store::now(),
                version: "test".into(),
                mode: "paper".into(),
                market_data: "replay".into(),
                account: "paper".into(),
                config_digest: String::new(),
            })
            .await
            .unwrap();
    });
    Recorder::new(
        t.store.clone(),
        "run-1".into(),
        "paper".into(),
        std::time::Duration::from_millis(200),
    )
}

fn sqlite() -> TestStore {
    rt().block_on(TestStore::sqlite())
}

fn trader_on<E: Exchange>(t: &TestStore, exchange: E, max_order: &str) -> Trader<E, MaCrossover> {
    Trader::new(
        exchange,
        MaCrossover::new(2, 4),
        risk(max_order),
        dec("100"),
        0.5,
        recorder(t),
    )
}

fn stored_trades(t: &TestStore) -> Vec<crate::store::TradeRecord> {
    rt().block_on(t.store.trades(&TradeFilter {
        limit: 100,
        ..Default::default()
    }))
    .unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn candle(i: i64, close: &str) -> Candle {
    Candle {
        symbol: "BTCUSDT".into(),
        open_time_ms: i * 60_000,
        close_time_ms: i * 60_000 + 59_999,
        open: dec(close),
        high: dec(close),
        low: dec(close),
        close: dec(close),
        volume: Decimal::ONE,
    }
}

/// Flat, then up (a buy), then down (a sell) for a 2/4 crossover.
const CLOSES: [&str; 10] = [
    "100", "100", "100", "100", "99", "105", "110", "110", "95", "90",
];

fn risk(max_order: &str) -> RiskLimits {
    RiskLimits::new(&RiskConfig {
        max_order_notional: dec(max_order),
        max_position_notional: dec("1000"),
        daily_loss_limit: dec("200"),
    })
}

fn paper() -> PaperExchange {
    PaperExchange::new(PaperSettings {
        starting_balances: [("USDT".to_owned(), dec("1000"))].into(),
        fee_rate: dec("0.001"),
        slippage_bps: Decimal::ZERO,
    })
}

fn feed<E: Exchange>(trader: &mut Trader<E, MaCrossover>) {
    rt().block_on(async {
        for (i, close) in CLOSES.iter().enumerate() {
            trader.on_candle(&candle(i as i64, close)).await;
        }
    });
}

fn parsed(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_line_of_a_trade_carries_its_correlation_id_symbol_and_trade_id() {
    let t = sqlite();
    let mut trader = trader_on(&t, paper(), "500");
    let (_, lines) = capture_lines(|| feed(&mut trader));
    let lines = parsed(&lines);
    assert_eq!(trader.stats().filled, 2, "{lines:#?}");

    let starts: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i]["message"] == "Executing trade")
        .collect();
    assert_eq!(starts.len(), 2);
    let mut correlation_ids = Vec::new();
    for start in starts {
        let id = lines[start]["correlation_id"].as_str().unwrap().to_owned();
        let trade: Vec<&Value> = lines
            .iter()
            .filter(|l| l["correlation_id"] == id.as_str())
            .collect();
        let messages: Vec<&str> = trade
            .iter()
            .map(|l| l["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            messages,
            [
                "Executing trade",
                "Order sent",
                "Order filled",
                "Position updated"
            ]
        );
        for line in &trade {
            assert_eq!(line["symbol"], "BTCUSDT");
            let trade_id = line["trade_id"].as_str().unwrap();
            assert!(trade_id.len() <= 36, "{trade_id}");
            assert!(
                trade_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            );
            assert!(line["confidence"].as_f64().unwrap() >= 0.5);
        }
        assert_eq!(trade[1]["client_order_id"], trade[1]["trade_id"]);
        correlation_ids.push(id);
    }
    assert_ne!(correlation_ids[0], correlation_ids[1]);

    // The record matches the log: same ids, filled, with the fill's fee.
    let stored = stored_trades(&t);
    let stored_ids: Vec<&str> = stored.iter().map(|t| t.correlation_id.as_str()).collect();
    assert_eq!(stored_ids, correlation_ids);
    for trade in &stored {
        assert_eq!(trade.status, TradeStatus::Filled);
        assert_eq!(trade.fills.len(), 1);
        assert_eq!(trade.fills[0].fee_asset, "USDT");
    }
}

#[test]
fn a_risk_rejection_is_logged_with_its_reason_and_sends_nothing() {
    let t = sqlite();
    let mut trader = trader_on(&t, paper(), "50");
    let (_, lines) = capture_lines(|| feed(&mut trader));
    let lines = parsed(&lines);
    let rejection = lines
        .iter()
        .find(|l| l["message"] == "Trade rejected by risk limits")
        .expect("a rejection line");
    assert!(
        rejection["reason"]
            .as_str()
            .unwrap()
            .contains("risk.max_order_notional")
    );
    assert!(rejection["correlation_id"].is_string());
    assert!(!lines.iter().any(|l| l["message"] == "Order sent"));
    assert_eq!(trader.stats().filled, 0);
    assert_eq!(trader.stats().rejected, 1);
    assert!(
        stored_trades(&t).is_empty(),
        "nothing was sent, so no trade"
    );
}

/// An exchange whose every order times out; `found` says what a query then
/// reports.
struct TimingOut {
    sent: usize,
    found: Option<Result<Option<OrderReport>, ()>>,
}

impl Exchange for TimingOut {
    fn name(&self) -> &'static str {
        "timing-out"
    }

    async fn place_market_order(&mut self, _: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        self.sent += 1;
        Err(ExchangeError::OutcomeUnknown {
            reason: "timed out after 10s".into(),
        })
    }

    async fn query_order(
        &mut self,
        _: &str,
        _: &str,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        match self.found.take() {
            Some(Ok(found)) => Ok(found),
            _ => Err(ExchangeError::Unreachable {
                reason: "still down".into(),
            }),
        }
    }

    async fn balances(&mut self) -> Result<Balances, ExchangeError> {
        Ok(Balances::new())
    }

    async fn cancel_open_orders(&mut self, _: &[String]) -> Result<Vec<String>, ExchangeError> {
        Ok(vec![])
    }
}

#[test]
fn an_unknown_outcome_is_queried_and_never_resent_nor_called_failed() {
    let exchange = TimingOut {
        sent: 0,
        found: None,
    };
    let t = sqlite();
    let mut trader = trader_on(&t, exchange, "500");
    let (_, lines) = capture_lines(|| feed(&mut trader));
    assert_eq!(
        trader.exchange.sent, 1,
        "one buy signal, one order, no resend"
    );
    assert_eq!(trader.stats().unknown, 1);
    assert_eq!(trader.stats().rejected, 0);
    let stored = stored_trades(&t);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, TradeStatus::Unknown);
    assert!(
        stored[0]
            .status_reason
            .as_deref()
            .unwrap()
            .contains("timed out")
    );
    let lines = parsed(&lines);
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .unwrap()
            .starts_with("Order outcome still unknown; not resending")
    }));
}

#[test]
fn an_order_confirmed_absent_after_a_timeout_is_not_resent() {
    let exchange = TimingOut {
        sent: 0,
        found: Some(Ok(None)),
    };
    let t = sqlite();
    let mut trader = trader_on(&t, exchange, "500");
    let _ = capture_lines(|| feed(&mut trader));
    assert_eq!(trader.exchange.sent, 1);
    assert_eq!(trader.stats().rejected, 1);
    assert_eq!(stored_trades(&t)[0].status, TradeStatus::NotSent);
}

#[test]
fn buy_quantities_are_cut_never_rounded_up() {
    assert_eq!(buy_quantity(dec("100"), dec("7186.68")), dec("0.01391463"));
}

/// The paper exchange, checking at each order that its intent is already
/// on record as PENDING.
struct CheckingIntent {
    inner: PaperExchange,
    store: crate::store::Store,
    checked: usize,
}

impl Exchange for CheckingIntent {
    fn name(&self) -> &'static str {
        "paper"
    }

    fn on_candle(&mut self, candle: &Candle) {
        self.inner.on_candle(candle);
    }

    async fn place_market_order(
        &mut self,
        order: &OrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        let trades = self
            .store
            .trades(&TradeFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        let trade = trades
            .iter()
            .find(|t| t.client_order_id == order.client_order_id)
            .expect("the intent is written before the order is sent");
        assert_eq!(trade.status, TradeStatus::Pending);
        assert_eq!(trade.quantity, order.quantity);
        self.checked += 1;
        self.inner.place_market_order(order).await
    }

    async fn query_order(
        &mut self,
        symbol: &str,
        id: &str,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        self.inner.query_order(symbol, id).await
    }

    async fn balances(&mut self) -> Result<Balances, ExchangeError> {
        self.inner.balances().await
    }

    async fn cancel_open_orders(&mut self, _: &[String]) -> Result<Vec<String>, ExchangeError> {
        Ok(vec![])
    }
}

#[test]
fn every_order_is_on_record_as_pending_before_it_is_sent() {
    let t = sqlite();
    let exchange = CheckingIntent {
        inner: paper(),
        store: t.store.clone(),
        checked: 0,
    };
    let mut trader = trader_on(&t, exchange, "500");
    let _ = capture_lines(|| feed(&mut trader));
    assert_eq!(trader.exchange.checked, 2);
    assert!(
        stored_trades(&t)
            .iter()
            .all(|t| t.status == TradeStatus::Filled)
    );
}

/// Up, down, then up again: a buy, a sell, and a second buy.
const TWO_ROUNDS: [&str; 16] = [
    "100", "100", "100", "100", "99", "105", "110", "110", "95", "90", "90", "90", "95", "105",
    "115", "120",
];

#[test]
fn with_the_database_locked_no_order_is_sent_and_trading_resumes_after() {
    let t = rt().block_on(TestStore::sqlite_with_timeout(
        std::time::Duration::from_millis(150),
    ));
    let mut trader = trader_on(&t, paper(), "500");
    let path = t.sqlite_path();
    let (_, lines) = capture_lines(|| {
        rt().block_on(async {
            use sqlx::Connection;
            // Another process holds the write lock through the first buy.
            let mut locker =
                sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .unwrap();
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut locker)
                .await
                .unwrap();
            for (i, close) in TWO_ROUNDS.iter().enumerate().take(8) {
                trader.on_candle(&candle(i as i64, close)).await;
            }
            sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
            // Past the first backoff, so the next candle retries.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            for (i, close) in TWO_ROUNDS.iter().enumerate().skip(8) {
                trader.on_candle(&candle(i as i64, close)).await;
            }
        })
    });
    let lines = parsed(&lines);
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    let count = |m: &str| messages.iter().filter(|x| x.starts_with(m)).count();
    assert_eq!(count("Database unavailable"), 1, "{messages:#?}");
    assert_eq!(count("Database available again"), 1, "{messages:#?}");
    assert_eq!(
        count("Order not sent: the database is unavailable"),
        1,
        "{messages:#?}"
    );
    let unavailable = messages
        .iter()
        .position(|m| m.starts_with("Database unavailable"))
        .unwrap();
    let recovered = messages
        .iter()
        .position(|m| m.starts_with("Database available again"))
        .unwrap();
    assert!(
        !messages[unavailable..recovered].contains(&"Order sent"),
        "no order while the database is away: {messages:#?}"
    );
    assert_eq!(trader.stats().skipped, 1);
    assert_eq!(
        trader.stats().filled,
        1,
        "the second buy goes through: {messages:#?}"
    );

    // Every order sent is on record and filled. The skipped intent's write
    // timed out and may still have landed late: if so, it was closed as not
    // sent once the database was back, never left PENDING.
    let sent: Vec<&str> = lines
        .iter()
        .filter(|l| l["message"] == "Order sent")
        .map(|l| l["trade_id"].as_str().unwrap())
        .collect();
    assert_eq!(sent.len(), 1);
    for trade in stored_trades(&t) {
        let expected = if sent.contains(&trade.trade_id.as_str()) {
            TradeStatus::Filled
        } else {
            TradeStatus::NotSent
        };
        assert_eq!(trade.status, expected, "{trade:?}");
    }
    // The decisions made during the outage were written once it ended.
    let decisions = rt().block_on(t.count("decisions"));
    assert_eq!(decisions as u64, trader.stats().signals);
}

#[test]
fn pending_paper_trades_of_an_earlier_run_are_closed_as_not_sent() {
    let t = sqlite();
    let intent = crate::store::TradeIntent {
        trade_id: "tb-crashed".into(),
        correlation_id: "corr-crashed".into(),
        run_id: "run-0".into(),
        account: "paper".into(),
        symbol: "BTCUSDT".into(),
        side: crate::exchange::Side::Buy,
        quantity: dec("0.001"),
        price: dec("100"),
        client_order_id: "tb-crashed".into(),
        created_at: crate::store::now(),
    };
    rt().block_on(async {
        let mut run = crate::store::RunStart {
            run_id: "run-0".into(),
            started_at: crate::store::now(),
            version: "test".into(),
            mode: "paper".into(),
            market_data: "live".into(),
            account: "paper".into(),
            config_digest: String::new(),
        };
        t.store.start_run(&run).await.unwrap();
        t.store.record_intent(&intent).await.unwrap();
        run.run_id = "run-other-account".into();
        t.store.start_run(&run).await.unwrap();
        let mut elsewhere = intent.clone();
        elsewhere.trade_id = "tb-elsewhere".into();
        elsewhere.account = "binance".into();
        t.store.record_intent(&elsewhere).await.unwrap();
    });
    let mut trader = trader_on(&t, paper(), "500");
    let (_, lines) = capture_lines(|| rt().block_on(trader.reconcile_unresolved()));
    let lines = parsed(&lines);
    let line = lines
        .iter()
        .find(|l| l["message"] == "Trade reconciled")
        .expect("a line");
    assert_eq!(line["correlation_id"], "corr-crashed");
    assert_eq!(line["trade_id"], "tb-crashed");
    assert_eq!(line["symbol"], "BTCUSDT");
    assert_eq!(line["was"], "PENDING");
    assert_eq!(line["status"], "NOT_SENT");
    let stored = stored_trades(&t);
    let status = |id: &str| stored.iter().find(|t| t.trade_id == id).unwrap().status;
    assert_eq!(status("tb-crashed"), TradeStatus::NotSent);
    assert_eq!(
        status("tb-elsewhere"),
        TradeStatus::Pending,
        "another account's trade is left alone"
    );
}

#[test]
fn an_active_kill_switch_sends_nothing() {
    let t = sqlite();
    let kill_switch = rt().block_on(async {
        let kill_switch = crate::kill_switch::KillSwitch::new(
            t.store.clone(),
            None,
            crate::kill_switch::Role::Trader,
        );
        kill_switch
            .activate("Emergency test", crate::store::KillSwitchSource::Http, None)
            .await;
        kill_switch
    });
    let mut trader = trader_on(&t, paper(), "500").with_kill_switch(kill_switch);
    let (_, lines) = capture_lines(|| feed(&mut trader));
    let lines = parsed(&lines);
    assert!(!lines.iter().any(|l| l["message"] == "Order sent"));
    assert!(lines.iter().any(
        |l| l["message"] == "Order not sent: the kill switch is active"
            && l["kill_switch_reason"] == "Emergency test"
    ));
    assert_eq!(trader.stats().skipped, 1);
    assert!(stored_trades(&t).is_empty());
}

#[test]
fn the_daily_loss_limit_activates_the_kill_switch_with_source_risk() {
    let t = sqlite();
    let kill_switch = crate::kill_switch::KillSwitch::new(
        t.store.clone(),
        None,
        crate::kill_switch::Role::Trader,
    );
    let limits = RiskLimits::new(&RiskConfig {
        max_order_notional: dec("500"),
        max_position_notional: dec("1000"),
        daily_loss_limit: dec("1"),
    });
    let mut trader = Trader::new(
        paper(),
        MaCrossover::new(2, 4),
        limits,
        dec("100"),
        0.5,
        recorder(&t),
    )
    .with_kill_switch(kill_switch.clone());
    let (_, lines) = capture_lines(|| {
        rt().block_on(async {
            for (i, close) in TWO_ROUNDS.iter().enumerate() {
                trader.on_candle(&candle(i as i64, close)).await;
            }
        })
    });
    let lines = parsed(&lines);
    // A buy, a losing sell, then the second buy breaks the limit.
    assert_eq!(trader.stats().filled, 2, "{lines:#?}");
    assert!(kill_switch.is_active());
    let activated = lines
        .iter()
        .find(|l| l["message"] == "Kill switch activated; no new orders")
        .expect("an activation line");
    assert_eq!(activated["source"], "risk");
    assert!(
        activated["reason"].as_str().unwrap().contains("daily"),
        "{activated}"
    );
    let state = rt().block_on(t.store.kill_switch()).unwrap().unwrap();
    assert_eq!(state.source, crate::store::KillSwitchSource::Risk);
}
