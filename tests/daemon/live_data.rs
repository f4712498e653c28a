//! Paper trading on live market data, against a local fake of Binance's
//! klines endpoint: polling while it answers, retrying while it is down.

use nix::sys::signal::Signal;

use crate::helpers::fake_binance::{FakeBinance, closed_port_url};
use crate::helpers::{Daemon, KLINES_REST, data_file};

fn live_daemon(base_url: &str) -> Daemon {
    let mut daemon = Daemon::new();
    daemon
        .env("TRADEBOT__MARKET_DATA__BASE_URL", base_url)
        .env("TRADEBOT__TRADING__SYMBOLS", "BTCUSDT")
        .env("TRADEBOT__MARKET_DATA__POLL_INTERVAL_MS", "200");
    daemon
}

#[test]
fn live_market_data_is_polled_until_sigterm_stops_the_daemon_cleanly() {
    let Some(klines) = data_file(KLINES_REST) else {
        return;
    };
    let fake = FakeBinance::serve_klines(std::fs::read_to_string(klines).unwrap());
    let daemon = live_daemon(&fake.base_url);

    let running = daemon.spawn(["run"]);
    fake.wait_for_requests(2);
    running.signal(Signal::SIGTERM);
    let finished = running.finish();

    assert_eq!(finished.code(), 0, "{finished}");
    let lines = finished.json_lines();
    let started = finished.with_message("Paper trading on live market data");
    assert_eq!(started.len(), 1, "{finished}");
    assert_eq!(started[0]["base_url"], fake.base_url.as_str());
    assert!(
        finished
            .with_message("Market data unavailable; still running and retrying")
            .is_empty(),
        "{finished}"
    );
    let last = lines.last().unwrap();
    assert_eq!(last["message"], "Shutdown complete", "{finished}");
    assert_eq!(last["reason"], "signal", "{finished}");
    let queries = fake.queries();
    assert!(
        queries
            .iter()
            .all(|q| q.contains("symbol=BTCUSDT") && q.contains("interval=1m")),
        "{queries:?}"
    );
}

#[test]
fn unreachable_market_data_is_retried_with_warnings_until_sigterm() {
    let mut daemon = live_daemon(&closed_port_url());
    daemon.env("TRADEBOT__MARKET_DATA__MAX_BACKOFF_MS", "1000");

    let mut running = daemon.spawn(["run"]);
    // A second failed attempt shows the daemon kept going after the first.
    let warning = running.wait_for("second retry warning", |line| {
        line["message"] == "Market data unavailable; still running and retrying"
            && line["attempt"].as_u64() >= Some(2)
    });
    running.signal(Signal::SIGTERM);
    let finished = running.finish();

    assert_eq!(warning["level"], "WARN", "{warning}");
    // reqwest puts the URL with its query in its errors; the daemon must not.
    let error = warning["error"].as_str().unwrap();
    assert!(!error.contains("symbol="), "{warning}");
    assert_eq!(finished.code(), 0, "{finished}");
    let last = finished.json_lines().pop().unwrap();
    assert_eq!(last["message"], "Shutdown complete", "{finished}");
}
