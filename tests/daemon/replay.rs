//! `tradebot run --replay` over the real 1m files: the trading story it logs,
//! the line contract, and what it does with a broken file.
//!
//! The two-symbol replay takes a fraction of a second, so it runs once and
//! several tests read its output, each pinning one property.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Read;
use std::sync::OnceLock;

use serde_json::Value;

use crate::helpers::logs::{HEADER, is_utc_micros_timestamp};
use crate::helpers::{BTC_1M, Daemon, ETH_1M, Finished, data_file, json_lines, ordered_keys};

const KILL_SWITCH_CANARY: &str = "canary-kill-switch-8d41c2e7";
const DB_PASSWORD_CANARY: &str = "canary-db-password-51f09ab3";
const API_KEY_CANARY: &str = "canary-api-key-c07e19d4";
const API_SECRET_CANARY: &str = "canary-api-secret-3b6fa210";
const CANARIES: [&str; 4] = [
    KILL_SWITCH_CANARY,
    DB_PASSWORD_CANARY,
    API_KEY_CANARY,
    API_SECRET_CANARY,
];

/// What the shared replay run left behind.
struct ReplayRun {
    finished: Finished,
    log_file: String,
    kill_switch_path: String,
    db_password_path: String,
}

/// Replays BTCUSDT and ETHUSDT with a canary in every secret: two from
/// files (`KILL_SWITCH_SECRET_FILE`, the secrets dir), the exchange pair from
/// variables, which paper mode must not even need.
fn replay_run() -> Option<&'static ReplayRun> {
    static RUN: OnceLock<Option<ReplayRun>> = OnceLock::new();
    RUN.get_or_init(|| {
        let btc = data_file(BTC_1M)?;
        let eth = data_file(ETH_1M)?;
        let mut daemon = Daemon::new();
        let kill_switch = daemon.write_file("kill-switch", KILL_SWITCH_CANARY, 0o600);
        let db_password = daemon.write_secret("db_password", DB_PASSWORD_CANARY);
        daemon
            .env("KILL_SWITCH_SECRET_FILE", &kill_switch)
            .env("EXCHANGE_API_KEY", API_KEY_CANARY)
            .env("EXCHANGE_API_SECRET", API_SECRET_CANARY);
        let finished = daemon.run([
            OsStr::new("run"),
            OsStr::new("--replay"),
            btc.as_os_str(),
            eth.as_os_str(),
        ]);
        let log_file = std::fs::read_to_string(daemon.log_file()).unwrap_or_else(|err| {
            panic!(
                "cannot read {}: {err}\n{finished}",
                daemon.log_file().display()
            )
        });
        Some(ReplayRun {
            finished,
            log_file,
            kill_switch_path: kill_switch.display().to_string(),
            db_password_path: db_password.display().to_string(),
        })
    })
    .as_ref()
}

fn string_field<'a>(line: &'a Value, key: &str) -> &'a str {
    line[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {line}"))
}

#[test]
fn a_two_symbol_replay_trades_both_and_ends_with_a_clean_shutdown() {
    let Some(run) = replay_run() else { return };
    let finished = &run.finished;
    assert_eq!(finished.code(), 0, "{finished}");
    let lines = finished.json_lines();

    let filled_symbols: BTreeSet<&str> = lines
        .iter()
        .filter(|line| line["message"] == "Order filled")
        .map(|line| string_field(line, "symbol"))
        .collect();
    assert_eq!(
        filled_symbols,
        BTreeSet::from(["BTCUSDT", "ETHUSDT"]),
        "{finished}"
    );

    let finished_line = &finished.with_message("Replay finished")[0];
    let filled = finished_line["trades_filled"].as_u64().unwrap();
    assert!(filled > 0, "{finished_line}");

    let last = lines.last().unwrap();
    assert_eq!(last["message"], "Shutdown complete", "{last}");
    assert_eq!(last["reason"], "market data ended", "{last}");
}

#[test]
fn every_line_of_a_trade_carries_one_correlation_id_trade_id_and_symbol() {
    let Some(run) = replay_run() else { return };
    let lines = run.finished.json_lines();

    let mut trades: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for line in lines
        .iter()
        .filter(|line| line.get("correlation_id").is_some())
    {
        trades
            .entry(string_field(line, "correlation_id"))
            .or_default()
            .push(line);
    }
    let executions = lines
        .iter()
        .filter(|line| line["message"] == "Executing trade")
        .count();
    assert!(executions > 0);
    assert_eq!(trades.len(), executions, "one correlation id per trade");

    let mut correlation_of_trade: BTreeMap<&str, &str> = BTreeMap::new();
    for (correlation_id, group) in &trades {
        let trade_ids: BTreeSet<&str> = group.iter().map(|l| string_field(l, "trade_id")).collect();
        let symbols: BTreeSet<&str> = group.iter().map(|l| string_field(l, "symbol")).collect();
        assert_eq!(trade_ids.len(), 1, "{correlation_id}: {group:#?}");
        assert_eq!(symbols.len(), 1, "{correlation_id}: {group:#?}");
        let trade_id = trade_ids.into_iter().next().unwrap();
        let earlier = correlation_of_trade.insert(trade_id, correlation_id);
        assert_eq!(earlier, None, "trade {trade_id} has two correlation ids");

        let has = |message: &str| group.iter().any(|line| line["message"] == message);
        let rejected = has("Trade rejected by risk limits") || has("Order not placed");
        assert!(has("Executing trade"), "{correlation_id}: {group:#?}");
        assert!(
            (has("Order filled") && has("Position updated")) || rejected,
            "{correlation_id} neither filled nor rejected: {group:#?}"
        );
    }
}

#[test]
fn the_log_file_holds_exactly_the_lines_written_to_stdout() {
    let Some(run) = replay_run() else { return };
    let mut stdout: Vec<&str> = run.finished.stdout.lines().collect();
    let mut file: Vec<&str> = run.log_file.lines().collect();
    assert!(!stdout.is_empty());
    assert_eq!(stdout.len(), file.len(), "line counts differ");
    stdout.sort_unstable();
    file.sort_unstable();
    assert!(
        stdout == file,
        "stdout and the log file hold different lines"
    );

    let last = json_lines(&run.log_file).pop().unwrap();
    assert_eq!(last["message"], "Shutdown complete", "{last}");
}

#[test]
fn no_secret_value_reaches_stdout_stderr_or_the_log_file() {
    let Some(run) = replay_run() else { return };
    for canary in CANARIES {
        for (name, text) in [
            ("stdout", &run.finished.stdout),
            ("stderr", &run.finished.stderr),
            ("log file", &run.log_file),
        ] {
            assert!(!text.contains(canary), "{canary} found in {name}");
        }
    }
}

#[test]
fn loaded_secrets_are_logged_with_their_name_and_source_and_nothing_else() {
    let Some(run) = replay_run() else { return };
    let loaded: Vec<&str> = run
        .finished
        .stdout
        .lines()
        .filter(|line| line.contains("\"message\":\"Loaded secret\""))
        .collect();
    let mut sources = BTreeMap::new();
    for line in &loaded {
        let expected_keys: Vec<&str> = HEADER.iter().copied().chain(["secret", "source"]).collect();
        assert_eq!(ordered_keys(line), expected_keys, "{line}");
        let value: Value = serde_json::from_str(line).unwrap();
        sources.insert(
            string_field(&value, "secret").to_owned(),
            string_field(&value, "source").to_owned(),
        );
    }
    let expected = BTreeMap::from([
        (
            "db_password".to_owned(),
            format!("file:{}", run.db_password_path),
        ),
        (
            "kill_switch_secret".to_owned(),
            format!("file:{}", run.kill_switch_path),
        ),
    ]);
    // Paper mode leaves the exchange credentials unread.
    assert_eq!(sources, expected, "{loaded:#?}");
}

#[test]
fn the_order_filled_line_has_the_contract_keys_in_order_each_once() {
    let Some(run) = replay_run() else { return };
    let expected = [
        "timestamp",
        "level",
        "logger",
        "message",
        // The event's own fields,
        "price",
        "quantity",
        "fee",
        "fee_asset",
        "exchange_order_id",
        // then the trade span's.
        "correlation_id",
        "symbol",
        "trade_id",
        "action",
        "confidence",
    ];
    let filled: Vec<&str> = run
        .finished
        .stdout
        .lines()
        .filter(|line| line.contains("\"message\":\"Order filled\""))
        .collect();
    assert!(!filled.is_empty());
    for line in &filled {
        assert_eq!(ordered_keys(line), expected, "{line}");
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["level"], "INFO", "{line}");
        assert_eq!(value["logger"], "tradebot::trading::execute", "{line}");
        // Money stays an exact decimal string; confidence is a number.
        for key in ["price", "quantity", "fee"] {
            assert!(value[key].is_string(), "{key} in {line}");
        }
        assert!(value["confidence"].is_f64(), "{line}");
    }
    for line in run.finished.json_lines() {
        let timestamp = string_field(&line, "timestamp");
        assert!(is_utc_micros_timestamp(timestamp), "{timestamp}");
    }
}

#[test]
fn a_broken_row_rejects_the_replay_naming_file_line_and_column() {
    let Some(btc) = data_file(BTC_1M) else { return };
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&btc).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut csv = String::new();
    for (index, line) in text.lines().take(50).enumerate() {
        if index + 1 == 20 {
            let mut columns: Vec<&str> = line.split(',').collect();
            columns[4] = "abc";
            csv.push_str(&columns.join(","));
        } else {
            csv.push_str(line);
        }
        csv.push('\n');
    }
    let daemon = Daemon::new();
    let broken = daemon.write_file("broken.csv", &csv, 0o644);
    let spec = format!("BTCUSDT={}", broken.display());

    let finished = daemon.run(["run", "--replay", &spec]);

    assert_eq!(finished.code(), 2, "{finished}");
    let lines = finished.json_lines();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{finished}");
    let error = string_field(errors[0], "error");
    let path = broken.display().to_string();
    for needle in [path.as_str(), "line 20", "close", "abc"] {
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
    assert!(
        lines
            .iter()
            .all(|l| !string_field(l, "message").starts_with("Order")),
        "{finished}"
    );
}
