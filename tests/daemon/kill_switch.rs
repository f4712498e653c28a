//! The kill switch end to end, with the trading loop running live against
//! the fake Binance: activated over HTTP by `tradebot kill-switch`, no order
//! reaches the exchange after the response; a restarted daemon stays
//! halted until deactivated; and the dashboard process halts the daemon
//! through the shared database.

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::binance_daemon::{fake_trading_btc, live_daemon};
use crate::helpers::fake_binance::{FAKE_API_KEY, FakeBinance};
use crate::helpers::{Daemon, Running};

/// `http://addr` of the running process's API, from its listening line.
fn api_url(running: &mut Running) -> String {
    let listening = running.wait_for_message("HTTP server listening");
    format!("http://{}", listening["addr"].as_str().unwrap())
}

/// Runs `tradebot kill-switch …` with the daemon's secrets; its JSON answer.
fn kill_switch(daemon: &Daemon, args: &[&str]) -> Value {
    let mut all = vec!["kill-switch"];
    all.extend_from_slice(args);
    let finished = daemon.run(all);
    assert_eq!(finished.code(), 0, "{finished}");
    serde_json::from_str(finished.stdout.trim()).unwrap()
}

/// A live daemon that has traded, and `tradebot dashboard` beside it: its
/// own process and port, the daemon's database.
struct DaemonAndDashboard {
    /// Holds the daemon's folder, and so its database, for the test's life.
    _daemon: Daemon,
    running: Running,
    dashboard: Daemon,
    page: Running,
    url: String,
}

fn trading_daemon_and_dashboard(fake: &FakeBinance) -> DaemonAndDashboard {
    let daemon = live_daemon(&fake.base_url, FAKE_API_KEY);
    let db = daemon.path().join("data/tradebot.db");
    let mut running = daemon.spawn(["run", "--mode", "live"]);
    api_url(&mut running);
    running.wait_for_message("Order filled");
    let mut dashboard = Daemon::new();
    dashboard
        .env("TRADEBOT__DASHBOARD__BIND", "127.0.0.1:0")
        .env("TRADEBOT__DATABASE__SQLITE_PATH", &db);
    dashboard.write_secret("kill_switch_secret", crate::helpers::KILL_SWITCH_SECRET);
    let mut page = dashboard.spawn(["dashboard"]);
    let url = api_url(&mut page);
    DaemonAndDashboard {
        _daemon: daemon,
        running,
        dashboard,
        page,
        url,
    }
}

fn skipped(line: &Value) -> bool {
    line["message"] == "Order not sent: the kill switch is active"
}

#[test]
fn after_the_activate_response_no_order_reaches_the_exchange_even_after_a_restart() {
    let Some(fake) = fake_trading_btc() else {
        return;
    };
    let daemon = live_daemon(&fake.base_url, FAKE_API_KEY);
    let mut running = daemon.spawn(["run", "--mode", "live"]);
    let url = api_url(&mut running);
    running.wait_for_message("Order filled");

    let state = kill_switch(
        &daemon,
        &["activate", "--reason", "Emergency test", "--url", &url],
    );
    let orders_at_response = fake.orders().len();
    assert_eq!(state["active"], true, "{state}");
    assert_eq!(state["durable"], true, "{state}");
    assert_eq!(state["source"], "http");
    let activated = running.wait_for_message("Kill switch activated; no new orders");
    assert_eq!(activated["level"], "WARN");
    assert_eq!(activated["reason"], "Emergency test");
    assert_eq!(activated["request_id"], state["request_id"]);
    // Signals keep coming; none becomes an order.
    running.wait_for("a signal refused by the kill switch", skipped);
    let (status, metrics) = crate::helpers::http_get(&format!("{url}/metrics"));
    assert_eq!(status, 200);
    for series in [
        "tradebot_kill_switch_active 1",
        "tradebot_trades_total{outcome=\"filled\"}",
        "tradebot_trades_total{outcome=\"skipped\"}",
        "tradebot_orders_total{status=\"FILLED\"}",
        "tradebot_exchange_request_duration_seconds_count{endpoint=\"/api/v3/order\"}",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }
    running.signal(Signal::SIGTERM);
    let finished = running.finish();
    assert_eq!(finished.code(), 0, "{finished}");
    assert_eq!(
        fake.orders().len(),
        orders_at_response,
        "an order reached the exchange after the response"
    );

    // A restart reads the switch from the database and stays halted.
    let mut running = daemon.spawn(["run", "--mode", "live"]);
    let halted =
        running.wait_for_message("Kill switch is active; no new orders until it is deactivated");
    assert_eq!(halted["reason"], "Emergency test");
    let url = api_url(&mut running);
    running.wait_for("a signal refused by the kill switch", skipped);
    assert_eq!(fake.orders().len(), orders_at_response);
    let status = kill_switch(&daemon, &["status", "--url", &url]);
    assert_eq!(status["active"], true);

    // Deactivated, it trades again.
    let state = kill_switch(
        &daemon,
        &["deactivate", "--reason", "all clear", "--url", &url],
    );
    assert_eq!(state["active"], false, "{state}");
    running.wait_for_message("Order filled");
    running.signal(Signal::SIGTERM);
    assert_eq!(running.finish().code(), 0);
    assert!(fake.orders().len() > orders_at_response);
}

#[test]
fn the_dashboard_halts_the_daemon_through_the_shared_database() {
    let Some(fake) = fake_trading_btc() else {
        return;
    };
    let DaemonAndDashboard {
        _daemon,
        mut running,
        dashboard,
        page,
        url: dashboard_url,
    } = trading_daemon_and_dashboard(&fake);

    let state = kill_switch(
        &dashboard,
        &[
            "activate",
            "--reason",
            "from the dashboard",
            "--url",
            &dashboard_url,
        ],
    );
    assert_eq!(state["active"], true, "{state}");
    // The daemon sees the event within its poll interval and halts.
    let activated = running.wait_for_message("Kill switch activated; no new orders");
    assert_eq!(activated["reason"], "from the dashboard");
    let orders_at_halt = fake.orders().len();
    running.wait_for("a signal refused by the kill switch", skipped);
    running.signal(Signal::SIGTERM);
    page.signal(Signal::SIGTERM);
    assert_eq!(running.finish().code(), 0);
    let page = page.finish();
    assert_eq!(page.code(), 0, "{page}");
    assert_eq!(fake.orders().len(), orders_at_halt);
}

/// The README's curl and openssl one-liner, run as written (with this
/// test's URL and secret file), flips a real daemon's switch.
#[test]
fn the_readme_one_liner_signs_a_request_the_daemon_accepts() {
    let (Some(_), Some(_)) = (
        crate::helpers::find_program("curl"),
        crate::helpers::find_program("openssl"),
    ) else {
        eprintln!("skipped: curl or openssl is not installed");
        return;
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .find(|block| block.contains("X-Kill-Switch-Signature"))
        .expect("the README shows the one-liner");
    let (first, rest) = block.split_once('\n').unwrap();
    assert!(first.starts_with("url="), "{first}");

    let mut daemon = Daemon::new();
    daemon.env(
        "TRADEBOT__MARKET_DATA__BASE_URL",
        crate::helpers::fake_binance::closed_port_url(),
    );
    let secret_file = daemon.write_secret("kill_switch_secret", crate::helpers::KILL_SWITCH_SECRET);
    let mut running = daemon.spawn(["run"]);
    let url = api_url(&mut running);
    let script = format!("url={url} secret_file={}\n{rest}", secret_file.display());
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let reply: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(reply["active"], true, "{reply}");
    assert_eq!(reply["reason"], "Emergency test");
    running.wait_for_message("Kill switch activated; no new orders");
    running.signal(Signal::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

/// The dashboard in headless Chromium: it shows the daemon's live state
/// and trades, and its kill-switch form, signed in the browser, halts the
/// trading loop of the daemon it shares a database with.
#[test]
fn the_dashboard_page_shows_live_state_and_its_form_halts_trading() {
    let Some(fake) = fake_trading_btc() else {
        return;
    };
    let Some(browser) = crate::helpers::browser::Browser::start() else {
        return;
    };
    let DaemonAndDashboard {
        _daemon,
        mut running,
        dashboard,
        page,
        url,
    } = trading_daemon_and_dashboard(&fake);

    let wait = crate::helpers::TIMEOUT;
    browser.goto(&format!("{url}/"));
    browser.wait_for_text("#kill-switch-state", |t| t.starts_with("inactive"), wait);
    browser.wait_for_text("#status", |t| t.contains("binance-testnet"), wait);
    browser.wait_until("a trade row", wait, |b| {
        (b.elements_count("#trades [data-correlation-id]") > 0).then_some(())
    });
    // A row's ids are the daemon's: its trade id is a client order id the
    // exchange received.
    let trade_id = browser
        .attribute("#trades [data-trade-id]", "data-trade-id")
        .expect("a trade id on the row");
    assert!(
        fake.orders_per_client_id().contains_key(&trade_id),
        "{trade_id}"
    );

    browser.type_into("#ks-secret", crate::helpers::KILL_SWITCH_SECRET);
    browser.type_into("#ks-reason", "Emergency test");
    browser.click("#ks-activate");
    browser.wait_for_text("#kill-switch-state", |t| t.starts_with("ACTIVE"), wait);
    assert_eq!(
        browser.property("#ks-secret", "value"),
        "",
        "the secret is not kept"
    );

    let activated = running.wait_for_message("Kill switch activated; no new orders");
    assert_eq!(activated["reason"], "Emergency test");
    let orders_at_halt = fake.orders().len();
    running.wait_for("a signal refused by the kill switch", skipped);
    assert_eq!(fake.orders().len(), orders_at_halt);
    let severe: Vec<Value> = browser
        .console_log()
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "{severe:#?}");

    running.signal(Signal::SIGTERM);
    page.signal(Signal::SIGTERM);
    assert_eq!(running.finish().code(), 0);
    assert_eq!(page.finish().code(), 0);
    let file =
        std::fs::read_to_string(dashboard.log_dir().join("dashboard/trading.json.log")).unwrap();
    assert!(
        !file.contains(crate::helpers::KILL_SWITCH_SECRET),
        "the secret reached the dashboard's log"
    );
}
