use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::*;
use crate::config::RiskConfig;
use crate::exchange::{ExchangeError, OrderReport, OrderRequest, PaperExchange, PaperSettings};
use crate::strategy::MaCrossover;
use crate::telemetry::capture::capture_lines;

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
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
    let mut trader = Trader::new(
        paper(),
        MaCrossover::new(2, 4),
        risk("500"),
        dec("100"),
        0.5,
    );
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
}

#[test]
fn a_risk_rejection_is_logged_with_its_reason_and_sends_nothing() {
    let mut trader = Trader::new(paper(), MaCrossover::new(2, 4), risk("50"), dec("100"), 0.5);
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
}

#[test]
fn an_unknown_outcome_is_queried_and_never_resent_nor_called_failed() {
    let exchange = TimingOut {
        sent: 0,
        found: None,
    };
    let mut trader = Trader::new(
        exchange,
        MaCrossover::new(2, 4),
        risk("500"),
        dec("100"),
        0.5,
    );
    let (_, lines) = capture_lines(|| feed(&mut trader));
    assert_eq!(
        trader.exchange.sent, 1,
        "one buy signal, one order, no resend"
    );
    assert_eq!(trader.stats().unknown, 1);
    assert_eq!(trader.stats().rejected, 0);
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
    let mut trader = Trader::new(
        exchange,
        MaCrossover::new(2, 4),
        risk("500"),
        dec("100"),
        0.5,
    );
    let _ = capture_lines(|| feed(&mut trader));
    assert_eq!(trader.exchange.sent, 1);
    assert_eq!(trader.stats().rejected, 1);
}

#[test]
fn buy_quantities_are_cut_never_rounded_up() {
    assert_eq!(buy_quantity(dec("100"), dec("7186.68")), dec("0.01391463"));
}
