//! Configuration mistakes stop the daemon before it starts, and
//! `tradebot config check` shows where each secret comes from, never its
//! value.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::{CONFIG_DIR, Daemon, Finished};

/// Runs a short replay, so that a configuration mistake that slipped through
/// ends the run quickly instead of polling the real exchange.
fn start(daemon: &Daemon) -> Finished {
    daemon.run(["run", "--replay", &daemon.tiny_replay()])
}

/// The one line a refused start-up writes, with its error text.
fn single_error(finished: &Finished) -> String {
    assert_eq!(finished.code(), 2, "{finished}");
    let lines = finished.json_lines();
    assert_eq!(lines.len(), 1, "{finished}");
    assert_eq!(lines[0]["level"], "ERROR", "{finished}");
    let error = lines[0]["error"].as_str().unwrap().to_owned();
    assert!(!error.contains('\n'), "the error is one line: {error:?}");
    error
}

#[test]
fn an_unknown_key_in_local_toml_stops_start_up_naming_the_key_and_file() {
    let mut daemon = Daemon::new();
    let config = daemon.path().join("config");
    fs::create_dir(&config).unwrap();
    fs::copy(
        Path::new(CONFIG_DIR).join("default.toml"),
        config.join("default.toml"),
    )
    .unwrap();
    fs::write(
        config.join("local.toml"),
        "[trading]\nsymbolz = [\"BTCUSDT\"]\n",
    )
    .unwrap();
    daemon.config_dir(&config);

    let error = single_error(&start(&daemon));

    let local = config.join("local.toml").display().to_string();
    assert!(error.contains("trading.symbolz"), "{error}");
    assert!(error.contains(&local), "{error}");
}

#[test]
fn a_malformed_setting_variable_stops_start_up_naming_the_variable() {
    let mut daemon = Daemon::new();
    daemon.env("TRADEBOT__TRADING__SHUTDOWN_TIMEOUT_MS", "abc");

    let error = single_error(&start(&daemon));

    assert!(
        error.contains("TRADEBOT__TRADING__SHUTDOWN_TIMEOUT_MS"),
        "{error}"
    );
}

#[test]
fn a_log_level_that_is_not_a_level_stops_start_up() {
    let mut daemon = Daemon::new();
    daemon.env("LOG_LEVEL", "loud");

    let error = single_error(&start(&daemon));

    assert!(error.contains("\"loud\""), "{error}");
    assert!(
        error.contains("log.level") && error.contains("LOG_LEVEL"),
        "{error}"
    );
}

const KEY_CANARY: &str = "canary-check-key-a61d0f";
const SECRET_CANARY: &str = "canary-check-secret-e2b7c9";
const KILL_SWITCH_CANARY: &str = "canary-check-kill-9f3e51";
const DB_CANARY: &str = "canary-check-db-47ac20";

/// A canary in each secret, from each kind of source.
fn daemon_with_every_secret() -> Daemon {
    let mut daemon = Daemon::new();
    daemon.write_secret("kill_switch_secret", KILL_SWITCH_CANARY);
    let api_secret = daemon.write_file("api-secret", SECRET_CANARY, 0o600);
    daemon
        .env("EXCHANGE_API_KEY", KEY_CANARY)
        .env("EXCHANGE_API_SECRET_FILE", &api_secret)
        .env("DB_PASSWORD", DB_CANARY);
    daemon
}

fn report(finished: &Finished) -> Value {
    for canary in [KEY_CANARY, SECRET_CANARY, KILL_SWITCH_CANARY, DB_CANARY] {
        assert!(!finished.stdout.contains(canary), "{canary} on stdout");
        assert!(!finished.stderr.contains(canary), "{canary} on stderr");
    }
    serde_json::from_str(&finished.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err})\n{finished}"))
}

#[test]
fn config_check_shows_each_secrets_source_and_never_its_value() {
    let daemon = daemon_with_every_secret();

    let finished = daemon.run(["config", "check"]);

    assert_eq!(finished.code(), 0, "{finished}");
    let report = report(&finished);
    let secrets = daemon.secrets_dir().join("kill_switch_secret");
    let api_secret = daemon.path().join("api-secret");
    let expected = json!({
        "exchange_api_key": {"value": "[redacted]", "source": "env:EXCHANGE_API_KEY"},
        "exchange_api_secret": {
            "value": "[redacted]",
            "source": format!("file:{}", api_secret.display()),
        },
        "kill_switch_secret": {
            "value": "[redacted]",
            "source": format!("file:{}", secrets.display()),
        },
        "db_password": {"value": "[redacted]", "source": "env:DB_PASSWORD"},
    });
    assert_eq!(report["secret_values"], expected, "{finished}");
    assert_eq!(report["trading"]["mode"], "paper", "{finished}");
}

#[test]
fn config_check_fails_when_a_secret_is_set_both_directly_and_as_a_file() {
    let mut daemon = daemon_with_every_secret();
    let db_file = daemon.write_file("db-password", DB_CANARY, 0o600);
    daemon.env("DB_PASSWORD_FILE", &db_file);

    let finished = daemon.run(["config", "check"]);

    assert_ne!(finished.code(), 0, "{finished}");
    let report = report(&finished);
    let db = &report["secret_values"]["db_password"];
    assert_eq!(db["value"], Value::Null, "{db}");
    let error = db["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("DB_PASSWORD ") && error.contains("DB_PASSWORD_FILE"),
        "{db}"
    );
    let key = &report["secret_values"]["exchange_api_key"];
    assert_eq!(key["value"], "[redacted]", "{key}");
}
