//! The daemon's record in its database, end to end: a replay's trades as
//! `tradebot trades` prints them, on SQLite and on PostgreSQL; a password
//! canary shown nowhere; `$(` in DATABASE_URL refused; a live trade killed
//! between intent and outcome reconciled on restart; and a database that
//! goes away mid-run stopping orders until it is back.

use std::os::unix::process::ExitStatusExt;

use nix::sys::signal::Signal;
use serde_json::Value;
use sqlx::Connection;

use crate::binance_daemon::{fake_trading_btc, live_daemon};
use crate::helpers::fake_binance::{FAKE_API_KEY, Fault};
use crate::helpers::postgres::{self, PgSchema};
use crate::helpers::{BTC_1M, Daemon, data_file, find_program, json_lines};

/// The URL of the daemon's embedded database, for a second connection.
fn sqlite_url(daemon: &Daemon) -> String {
    format!(
        "sqlite://{}",
        daemon.path().join("data/tradebot.db").display()
    )
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn trades(daemon: &Daemon, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["trades"];
    all.extend_from_slice(args);
    let finished = daemon.run(all);
    assert_eq!(finished.code(), 0, "{finished}");
    finished
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `(trade_id, correlation_id)` of every order the run sent, in order.
fn orders_sent(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l["message"] == "Order sent")
        .map(|l| {
            (
                l["trade_id"].as_str().unwrap().to_owned(),
                l["correlation_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every order sent is on record, filled, under its correlation id; any
/// other trade on record was closed as not sent.
fn assert_recorded(sent: &[(String, String)], stored: &[Value]) {
    for (trade_id, correlation_id) in sent {
        let trade = stored
            .iter()
            .find(|t| t["trade_id"] == trade_id.as_str())
            .unwrap_or_else(|| panic!("order {trade_id} was sent but is not on record"));
        assert_eq!(trade["correlation_id"], correlation_id.as_str());
        assert_eq!(trade["status"], "FILLED", "{trade}");
        assert_eq!(trade["fills"].as_array().unwrap().len(), 1, "{trade}");
    }
    for trade in stored {
        if !sent.iter().any(|(id, _)| trade["trade_id"] == id.as_str()) {
            assert_eq!(trade["status"], "NOT_SENT", "{trade}");
        }
    }
}

#[test]
fn a_replay_records_every_trade_in_the_embedded_file_and_trades_prints_them() {
    let Some(btc) = data_file(BTC_1M) else {
        return;
    };
    let daemon = Daemon::new();
    let finished = daemon.run(["run", "--replay", btc.to_str().unwrap()]);
    assert_eq!(finished.code(), 0, "{finished}");
    let ready = finished.with_message("Database ready");
    assert_eq!(ready[0]["backend"], "sqlite", "{finished}");
    assert_eq!(ready[0]["database"], "sqlite:data/tradebot.db");
    assert!(daemon.path().join("data/tradebot.db").is_file());

    let sent = orders_sent(&finished.json_lines());
    assert!(sent.len() > 10, "{finished}");
    let stored = trades(&daemon, &["--limit", "100000"]);
    assert_eq!(stored.len(), sent.len());
    assert_recorded(&sent, &stored);
    let ids: Vec<&str> = stored
        .iter()
        .map(|t| t["trade_id"].as_str().unwrap())
        .collect();
    let sent_ids: Vec<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, sent_ids, "oldest first, as they happened");
    for trade in &stored {
        assert_eq!(trade["account"], "replay");
        assert_eq!(trade["symbol"], "BTCUSDT");
        // Amounts are strings, exact, never JSON floats.
        assert!(trade["quantity"].is_string() && trade["fills"][0]["price"].is_string());
    }

    let last3 = trades(&daemon, &["--limit", "3"]);
    let last3_ids: Vec<&str> = last3
        .iter()
        .map(|t| t["trade_id"].as_str().unwrap())
        .collect();
    assert_eq!(last3_ids, &sent_ids[sent_ids.len() - 3..]);
    assert!(trades(&daemon, &["--symbol", "ETHUSDT"]).is_empty());
    assert!(trades(&daemon, &["--since", "2999-01-01"]).is_empty());

    let migrate = daemon.run(["db", "migrate"]);
    assert_eq!(migrate.code(), 0, "{migrate}");
    let report: Value = serde_json::from_str(migrate.stdout.trim()).unwrap();
    assert_eq!(report["migrations_applied"], serde_json::json!([]));
}

#[test]
fn trades_before_any_run_says_there_is_no_database_yet() {
    let daemon = Daemon::new();
    let finished = daemon.run(["trades"]);
    assert_eq!(finished.code(), 1, "{finished}");
    let lines = json_lines(&finished.stdout);
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("no database at sqlite:data/tradebot.db yet")
    );
    assert!(
        !daemon.path().join("data/tradebot.db").exists(),
        "nothing was created"
    );
}

#[test]
fn on_postgres_the_password_canary_shows_up_nowhere() {
    let Some(btc) = data_file(BTC_1M) else {
        return;
    };
    const CANARY: &str = "pgcanary-4d1f0a";
    let schema = PgSchema::create();
    let mut daemon = Daemon::new();
    daemon.env("DATABASE_URL", schema.database_url(Some(CANARY)));
    // Also as the db_password secret, which a URL with its own password ignores.
    daemon.write_secret("db_password", CANARY);

    let finished = daemon.run(["run", "--replay", btc.to_str().unwrap()]);
    assert_eq!(finished.code(), 0, "{finished}");
    let ready = finished.with_message("Database ready");
    assert_eq!(ready[0]["backend"], "postgres", "{finished}");
    assert_eq!(ready[0]["chosen_by"], "DATABASE_URL");
    assert_eq!(
        ready[0]["database"],
        "postgres://postgres@127.0.0.1:5432/test"
    );
    let sent = orders_sent(&finished.json_lines());
    let stored = trades(&daemon, &["--limit", "100000"]);
    assert_eq!(stored.len(), sent.len());
    assert_recorded(&sent, &stored);

    let check = daemon.run(["config", "check"]);
    let migrate = daemon.run(["db", "migrate"]);
    let trades_out = daemon.run(["trades", "--limit", "5"]);
    let file = std::fs::read_to_string(daemon.log_file()).unwrap();
    for (what, text) in [
        ("stdout", &finished.stdout),
        ("stderr", &finished.stderr),
        ("log file", &file),
        ("config check", &check.stdout),
        ("db migrate", &migrate.stdout),
        ("trades", &trades_out.stdout),
    ] {
        assert!(
            !text.contains(CANARY),
            "the password reached {what}:\n{text}"
        );
    }
    if let Some(pg_dump) = find_program("pg_dump") {
        let dump = std::process::Command::new(pg_dump)
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-n",
                &schema.name,
                "test",
            ])
            .output()
            .unwrap();
        assert!(
            dump.status.success(),
            "{}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let dump = String::from_utf8_lossy(&dump.stdout);
        assert!(dump.contains("tb-"), "the dump holds the trades");
        assert!(!dump.contains(CANARY), "the password reached the database");
    }
}

#[test]
fn a_database_url_with_a_shell_substitution_is_refused_naming_what_to_set() {
    let mut daemon = Daemon::new();
    daemon.env(
        "DATABASE_URL",
        "postgresql://tradebot:$(cat /run/secrets/db_password)@postgres:5432/tradebot",
    );
    let tiny = daemon.tiny_replay();
    let finished = daemon.run(["run", "--replay", &tiny]);
    assert_eq!(finished.code(), 2, "{finished}");
    let error = &finished.json_lines().into_iter().last().unwrap();
    assert_eq!(error["level"], "ERROR");
    let text = error["error"].as_str().unwrap();
    for needed in ["$(", "compose", "DB_HOST", "db_password"] {
        assert!(text.contains(needed), "{text}");
    }
    assert!(finished.with_message("Database ready").is_empty());

    let check = daemon.run(["config", "check"]);
    assert_eq!(check.code(), 2, "{check}");
    assert!(check.stdout.contains("DATABASE_URL contains"), "{check}");
}

#[test]
fn a_live_trade_killed_between_intent_and_outcome_is_reconciled_on_restart() {
    let Some(fake) = fake_trading_btc() else {
        return;
    };
    // The first order executes on the exchange, but its reply never comes
    // before the daemon dies.
    fake.push_fault(Fault::SlowAfterExecuting(std::time::Duration::from_secs(
        60,
    )));
    let mut daemon = live_daemon(&fake.base_url, FAKE_API_KEY);
    daemon.env("TRADEBOT__EXCHANGE__REQUEST_TIMEOUT_MS", "120000");

    let mut running = daemon.spawn(["run", "--mode", "live"]);
    let sent = running.wait_for_message("Order sent");
    // "Order sent" is logged as the request leaves: wait until it arrived.
    let deadline = std::time::Instant::now() + crate::helpers::TIMEOUT;
    while !fake
        .orders_per_client_id()
        .contains_key(sent["trade_id"].as_str().unwrap())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the order never reached the fake"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    running.signal(Signal::SIGKILL);
    let killed = running.finish();
    assert_eq!(killed.status.signal(), Some(9), "{killed}");
    let trade_id = sent["trade_id"].as_str().unwrap();
    let correlation_id = sent["correlation_id"].as_str().unwrap();

    let stored = trades(&daemon, &[]);
    let pending: Vec<&Value> = stored
        .iter()
        .filter(|t| t["trade_id"] == trade_id)
        .collect();
    assert_eq!(
        pending.len(),
        1,
        "the intent was on record before the order went out"
    );
    assert_eq!(pending[0]["status"], "PENDING");

    let mut running = daemon.spawn(["run", "--mode", "live"]);
    let reconciled = running.wait_for_message("Trade reconciled");
    running.signal(Signal::SIGTERM);
    let finished = running.finish();
    assert_eq!(finished.code(), 0, "{finished}");
    assert_eq!(reconciled["trade_id"], trade_id);
    assert_eq!(
        reconciled["correlation_id"], correlation_id,
        "jq by correlation_id finds it"
    );
    assert_eq!(reconciled["was"], "PENDING");
    assert_eq!(reconciled["status"], "FILLED");

    let stored = trades(&daemon, &["--limit", "1000"]);
    let trade = stored.iter().find(|t| t["trade_id"] == trade_id).unwrap();
    assert_eq!(trade["status"], "FILLED", "{trade}");
    assert_eq!(trade["fills"].as_array().unwrap().len(), 1, "{trade}");
    assert!(trade["exchange_order_id"].is_string());
    assert_eq!(fake.orders_per_client_id()[trade_id], 1, "never resent");
}

/// Replays BTCUSDT paced so that a database outage lands mid-run; `outage`
/// starts it once the first order went out and ends it after the WARN.
fn run_through_an_outage(daemon: &Daemon, begin: impl FnOnce(), end: impl FnOnce()) -> Vec<Value> {
    let btc = data_file(BTC_1M).unwrap();
    let mut running = daemon.spawn(["run", "--replay", btc.to_str().unwrap(), "--speed", "30000"]);
    running.wait_for_message("Order sent");
    begin();
    let warned = running.wait_for("the outage WARN", |l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Database unavailable; no new orders"))
    });
    assert_eq!(warned["level"], "WARN");
    end();
    let recovered = running.wait_for_message("Database available again; orders resume");
    assert_eq!(recovered["level"], "INFO");
    let finished = running.finish();
    assert_eq!(finished.code(), 0, "{finished}");
    let lines = finished.json_lines();
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    let warns = messages
        .iter()
        .filter(|m| m.starts_with("Database unavailable"))
        .count();
    assert_eq!(warns, 1, "one WARN per outage");
    // Between the WARN and the recovery, no order went out.
    let from = messages
        .iter()
        .position(|m| m.starts_with("Database unavailable"))
        .unwrap();
    let to = messages
        .iter()
        .position(|m| m.starts_with("Database available again"))
        .unwrap();
    assert!(!messages[from..to].contains(&"Order sent"), "{finished}");
    assert!(
        messages[to..].contains(&"Order sent"),
        "trading resumed: {finished}"
    );
    lines
}

#[test]
fn with_the_sqlite_file_locked_mid_run_no_order_goes_out_unrecorded() {
    if data_file(BTC_1M).is_none() {
        return;
    }
    let mut daemon = Daemon::new();
    daemon
        .env("TRADEBOT__DATABASE__TIMEOUT_MS", "300")
        .env("TRADEBOT__DATABASE__MAX_BACKOFF_MS", "500");
    let url = sqlite_url(&daemon);
    let runtime = current_thread_runtime();
    let locker = std::cell::RefCell::new(None);
    let lines = run_through_an_outage(
        &daemon,
        || {
            // Another process takes the write lock, as a backup tool might.
            let mut conn = runtime
                .block_on(sqlx::SqliteConnection::connect(&url))
                .unwrap();
            runtime
                .block_on(sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn))
                .unwrap();
            *locker.borrow_mut() = Some(conn);
        },
        || {
            let mut conn = locker.borrow_mut().take().unwrap();
            runtime
                .block_on(sqlx::query("COMMIT").execute(&mut conn))
                .unwrap();
        },
    );
    assert_recorded(
        &orders_sent(&lines),
        &trades(&daemon, &["--limit", "100000"]),
    );
}

#[test]
fn with_postgres_cut_off_mid_run_no_order_goes_out_unrecorded() {
    if data_file(BTC_1M).is_none() {
        return;
    }
    // A login role of the test's own: refusing its logins and ending its
    // sessions is the daemon's view of the server going away, without
    // stopping the server other tests use.
    let schema = PgSchema::create();
    let role = format!("{}_role", schema.name);
    postgres::execute(&format!(
        "CREATE ROLE {role} LOGIN; GRANT ALL ON SCHEMA {} TO {role}",
        schema.name
    ));
    let url = schema.database_url(None).replacen(
        "postgres://postgres@",
        &format!("postgres://{role}@"),
        1,
    );
    let mut daemon = Daemon::new();
    daemon
        .env("DATABASE_URL", url)
        .env("TRADEBOT__DATABASE__TIMEOUT_MS", "1000")
        .env("TRADEBOT__DATABASE__MAX_BACKOFF_MS", "1000");
    let lines = run_through_an_outage(
        &daemon,
        || {
            postgres::execute(&format!(
                "ALTER ROLE {role} NOLOGIN; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
            ))
        },
        || postgres::execute(&format!("ALTER ROLE {role} LOGIN")),
    );
    assert_recorded(
        &orders_sent(&lines),
        &trades(&daemon, &["--limit", "100000"]),
    );
    drop(schema);
    postgres::execute(&format!("DROP ROLE {role}"));
}

#[test]
fn a_replay_is_a_backtest_the_kill_switch_does_not_stop() {
    let Some(btc) = data_file(BTC_1M) else {
        return;
    };
    let daemon = Daemon::new();
    let replay = ["run", "--replay", btc.to_str().unwrap()];
    assert_eq!(daemon.run(replay).code(), 0);
    // The live daemon's switch, active in the shared database.
    let url = sqlite_url(&daemon);
    let runtime = current_thread_runtime();
    runtime.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO kill_switch_events (event_id, action, reason, source, request_id, at) \
             VALUES ('k-1', 'activate', 'halt live trading', 'http', NULL, '2026-12-03T00:00:00Z')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    let finished = daemon.run(replay);
    assert_eq!(finished.code(), 0, "{finished}");
    assert!(
        !orders_sent(&finished.json_lines()).is_empty(),
        "{finished}"
    );
    assert!(
        !finished.stdout.contains("kill switch is active"),
        "{finished}"
    );
    let replayed = trades(&daemon, &["--account", "replay", "--limit", "100000"]);
    assert_eq!(
        replayed.len(),
        2 * orders_sent(&finished.json_lines()).len()
    );
    assert!(trades(&daemon, &["--account", "paper"]).is_empty());
}
