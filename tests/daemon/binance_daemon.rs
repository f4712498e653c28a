//! The built daemon trading live (`run --mode live`) against the fake
//! Binance, credentials from `*_FILE` canaries: it trades, its exchange
//! client's lines carry the trade's correlation id, SIGTERM stops it with 0,
//! and no credential or signature reaches stdout, stderr or the log file.
//! A start-up the exchange refuses exits 2 with one ERROR line.

use std::io::Read;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::binance::EXCHANGE_INFO;
use crate::helpers::fake_binance::{
    FAKE_API_KEY, FAKE_API_SECRET, FakeBinance, Fault, closed_port_url,
};
use crate::helpers::{BTC_1M, Daemon, KILL_SWITCH_SECRET, data_file, json_lines};

/// A live daemon on `base_url` with the fake's canary credentials in files,
/// a fast strategy so crossovers come quickly, and BTCUSDT only.
pub(crate) fn live_daemon(base_url: &str, api_key: &str) -> Daemon {
    let mut daemon = Daemon::new();
    let key = daemon.write_file("api_key", api_key, 0o600);
    let secret = daemon.write_file("api_secret", FAKE_API_SECRET, 0o600);
    daemon.write_secret("kill_switch_secret", KILL_SWITCH_SECRET);
    daemon
        .env("TRADEBOT__EXCHANGE__BASE_URL", base_url)
        .env("EXCHANGE_API_KEY_FILE", key)
        .env("EXCHANGE_API_SECRET_FILE", secret)
        .env("TRADEBOT__TRADING__SYMBOLS", "BTCUSDT")
        .env("TRADEBOT__MARKET_DATA__POLL_INTERVAL_MS", "200")
        .env("TRADEBOT__STRATEGY__FAST_PERIOD", "2")
        .env("TRADEBOT__STRATEGY__SLOW_PERIOD", "5")
        .env("TRADEBOT__STRATEGY__MIN_CONFIDENCE", "0");
    daemon
}

/// The fake exchange serving the real BTCUSDT 1m candles, or `None` (the
/// test skips) when ../shared/data is absent.
pub(crate) fn fake_trading_btc() -> Option<FakeBinance> {
    let (info, csv) = (data_file(EXCHANGE_INFO)?, data_file(BTC_1M)?);
    let fake = FakeBinance::exchange(std::fs::read_to_string(info).unwrap());
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(csv).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    fake.serve_csv_klines("BTCUSDT", &text, 40);
    Some(fake)
}

fn assert_no_secrets(text: &str) {
    for needle in [FAKE_API_KEY, FAKE_API_SECRET, "signature="] {
        assert!(!text.contains(needle), "{needle:?} found in:\n{text}");
    }
}

#[test]
fn live_mode_trades_on_the_fake_with_correlated_client_lines_and_stops_cleanly() {
    let Some(fake) = fake_trading_btc() else {
        return;
    };
    let daemon = live_daemon(&fake.base_url, FAKE_API_KEY);

    let mut running = daemon.spawn(["run", "--mode", "live"]);
    let filled = running.wait_for_message("Order filled");
    running.wait_for_message("Position updated");
    running.signal(Signal::SIGTERM);
    let finished = running.finish();

    assert_eq!(finished.code(), 0, "{finished}");
    let lines = finished.json_lines();
    let testnet = finished.with_message("Trading on Binance testnet");
    assert_eq!(testnet.len(), 1, "{finished}");
    assert_eq!(testnet[0]["base_url"], fake.base_url.as_str());
    let correlation_id = filled["correlation_id"].as_str().unwrap();
    let trade: Vec<&Value> = lines
        .iter()
        .filter(|l| l["correlation_id"] == correlation_id)
        .collect();
    let client_lines: Vec<&&Value> = trade
        .iter()
        .filter(|l| {
            l["logger"]
                .as_str()
                .unwrap()
                .starts_with("tradebot::exchange::binance")
        })
        .collect();
    assert!(!client_lines.is_empty(), "{trade:#?}");
    // Every line the client logged about an order belongs to a trade.
    for line in &lines {
        if line["message"] == "Binance executed the order" {
            assert!(line["correlation_id"].is_string(), "{line}");
        }
    }
    assert_eq!(lines.last().unwrap()["message"], "Shutdown complete");
    assert!(!fake.orders().is_empty());
    let counts = fake.orders_per_client_id();
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert!(counts.keys().all(|id| id.starts_with("tb-")), "{counts:?}");

    assert_no_secrets(&finished.stdout);
    assert_no_secrets(&finished.stderr);
    assert_no_secrets(&std::fs::read_to_string(daemon.log_file()).unwrap());
}

/// The exit code 2 and the single ERROR line of a refused start.
fn refused_start(daemon: &Daemon) -> String {
    let finished = daemon.run(["run", "--mode", "live"]);
    assert_eq!(finished.code(), 2, "{finished}");
    assert_no_secrets(&finished.stdout);
    assert_no_secrets(&finished.stderr);
    let errors: Vec<Value> = json_lines(&finished.stdout)
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "{finished}");
    assert!(finished.with_message("Executing trade").is_empty());
    errors[0]["error"].as_str().unwrap().to_owned()
}

#[test]
fn an_exchange_unreachable_at_start_exits_2_naming_it() {
    let url = closed_port_url();
    let error = refused_start(&live_daemon(&url, FAKE_API_KEY));
    assert!(
        error.contains(&format!("cannot start trading on binance at {url}")),
        "{error}"
    );
    assert!(error.contains("cannot connect"), "{error}");
}

#[test]
fn refused_credentials_at_start_exit_2_naming_the_code_never_the_key() {
    let Some(info) = data_file(EXCHANGE_INFO) else {
        return;
    };
    let fake = FakeBinance::exchange(std::fs::read_to_string(info).unwrap());
    let error = refused_start(&live_daemon(&fake.base_url, "canary-rejected-key-5d1e"));
    assert!(error.contains("-2015"), "{error}");
    assert!(!error.contains("canary-rejected-key-5d1e"), "{error}");
}

/// While an order hangs at the exchange, the first signal must wait for it
/// (its outcome matters); a second signal is the operator insisting, and
/// exits at once with 130.
#[test]
fn a_second_signal_forces_exit_130_while_an_order_is_in_flight() {
    let Some(fake) = fake_trading_btc() else {
        return;
    };
    fake.push_fault(Fault::SlowAfterExecuting(std::time::Duration::from_secs(
        60,
    )));
    let mut daemon = live_daemon(&fake.base_url, FAKE_API_KEY);
    daemon
        .env("TRADEBOT__EXCHANGE__REQUEST_TIMEOUT_MS", "120000")
        .env("TRADEBOT__TRADING__SHUTDOWN_TIMEOUT_MS", "9000");

    let mut running = daemon.spawn(["run", "--mode", "live"]);
    running.wait_for_message("Order sent");
    running.signal(Signal::SIGINT);
    running.wait_for_message("Shutdown requested");
    running.signal(Signal::SIGTERM);
    let finished = running.finish();

    assert_eq!(finished.code(), 130, "{finished}");
    let forced = finished.with_message("Second signal; exiting now without waiting");
    assert_eq!(forced.len(), 1, "{finished}");
    assert_eq!(forced[0]["level"], "WARN");
    assert_eq!(forced[0]["signal"], "SIGTERM");
    assert!(
        finished.with_message("Shutdown complete").is_empty(),
        "{finished}"
    );
}
