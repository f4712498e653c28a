use std::collections::HashMap;
use std::fs;

use super::*;
use crate::config::Mode;

fn sources(local: Option<&str>, vars: &[(&str, &str)]) -> (tempfile::TempDir, ConfigSources) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("default.toml"), BUILT_IN_DEFAULTS).unwrap();
    if let Some(local) = local {
        fs::write(dir.path().join("local.toml"), local).unwrap();
    }
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sources = ConfigSources {
        dir: dir.path().to_owned(),
        vars,
    };
    (dir, sources)
}

fn error_text(local: Option<&str>, vars: &[(&str, &str)]) -> String {
    let (_dir, sources) = sources(local, vars);
    load(&sources).unwrap_err().to_string()
}

#[test]
fn the_committed_defaults_load_and_trade_paper() {
    let (_dir, sources) = sources(None, &[]);
    let config = load(&sources).unwrap();
    assert_eq!(config.trading.mode, Mode::Paper);
    assert_eq!(config.trading.symbols, ["BTCUSDT", "ETHUSDT"]);
    assert_eq!(config.paper.fee_rate.to_string(), "0.001");
}

#[test]
fn the_built_in_copy_is_used_when_the_folder_has_no_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let sources = ConfigSources {
        dir: dir.path().to_owned(),
        vars: HashMap::new(),
    };
    assert_eq!(load(&sources).unwrap().log.max_files, 14);
}

#[test]
fn local_toml_overrides_defaults_and_variables_override_both() {
    let local = "[trading]\nmode = \"live\"\nshutdown_timeout_ms = 3000\n";
    let (_dir, sources) = sources(
        Some(local),
        &[
            ("TRADEBOT__TRADING__SHUTDOWN_TIMEOUT_MS", "2000"),
            ("LOG_FORMAT", "pretty"),
        ],
    );
    let config = load(&sources).unwrap();
    assert_eq!(config.trading.mode, Mode::Live);
    assert_eq!(config.trading.shutdown_timeout_ms, 2000);
    assert_eq!(config.log.format, crate::telemetry::LogFormat::Pretty);
}

#[test]
fn a_list_variable_is_comma_separated() {
    let (_dir, sources) = sources(None, &[("TRADEBOT__TRADING__SYMBOLS", "BTCUSDT, SOLUSDT")]);
    assert_eq!(
        load(&sources).unwrap().trading.symbols,
        ["BTCUSDT", "SOLUSDT"]
    );
}

#[test]
fn an_unknown_key_in_a_file_is_named_with_the_file() {
    let err = error_text(Some("[trading]\nmodee = \"paper\"\n"), &[]);
    assert!(err.contains("modee") && err.contains("local.toml"), "{err}");
}

#[test]
fn an_unknown_section_is_named() {
    let err = error_text(Some("[tradin]\nmode = \"paper\"\n"), &[]);
    assert!(
        err.contains("tradin") && err.contains("local.toml"),
        "{err}"
    );
}

#[test]
fn a_wrong_type_is_named_with_its_key_and_file() {
    let err = error_text(Some("[trading]\nshutdown_timeout_ms = \"soon\"\n"), &[]);
    assert!(
        err.contains("trading.shutdown_timeout_ms") && err.contains("local.toml"),
        "{err}"
    );
}

#[test]
fn a_wrong_type_in_a_variable_names_the_variable() {
    let err = error_text(None, &[("TRADEBOT__MARKET_DATA__POLL_INTERVAL_MS", "fast")]);
    assert!(
        err.contains("TRADEBOT__MARKET_DATA__POLL_INTERVAL_MS"),
        "{err}"
    );
}

#[test]
fn an_unknown_variable_key_names_the_variable() {
    let err = error_text(None, &[("TRADEBOT__TRADING__MODEE", "paper")]);
    assert!(
        err.contains("TRADEBOT__TRADING__MODEE") && err.contains("modee"),
        "{err}"
    );
}

#[test]
fn a_variable_with_a_single_underscore_prefix_is_an_error_not_ignored() {
    let err = error_text(None, &[("TRADEBOT_TRADING__MODE", "live")]);
    assert!(err.contains("TRADEBOT_TRADING__MODE"), "{err}");
}

#[test]
fn an_out_of_range_value_is_named_with_its_origin() {
    let err = error_text(None, &[("TRADEBOT__TRADING__SHUTDOWN_TIMEOUT_MS", "0")]);
    assert!(err.contains("trading.shutdown_timeout_ms"), "{err}");
    assert!(
        err.contains("TRADEBOT__TRADING__SHUTDOWN_TIMEOUT_MS"),
        "{err}"
    );
}

#[test]
fn a_bad_enum_value_names_the_key_and_the_choices() {
    let err = error_text(None, &[("TRADEBOT__TRADING__MODE", "yolo")]);
    assert!(
        err.contains("trading.mode") && err.contains("paper"),
        "{err}"
    );
}

#[test]
fn broken_toml_names_the_file_and_line() {
    let err = error_text(Some("[trading\nmode = 1\n"), &[]);
    assert!(
        err.contains("local.toml") && err.contains("line 1"),
        "{err}"
    );
}

#[test]
fn log_level_wins_over_rust_log_and_rust_log_applies_alone() {
    let (_dir, both) = sources(None, &[("RUST_LOG", "debug"), ("LOG_LEVEL", "WARN")]);
    assert_eq!(load(&both).unwrap().log.level, "WARN");
    let (_dir, alone) = sources(None, &[("RUST_LOG", "info,tradebot=debug")]);
    assert_eq!(load(&alone).unwrap().log.level, "info,tradebot=debug");
}

#[test]
fn the_exchange_defaults_to_the_testnet_host() {
    let (_dir, sources) = sources(None, &[]);
    let config = load(&sources).unwrap();
    assert_eq!(
        config.exchange.environment,
        crate::config::Environment::Testnet
    );
    assert_eq!(
        config.exchange.effective_base_url(),
        "https://testnet.binance.vision"
    );
    assert_eq!(config.exchange.recv_window_ms, 5000);
}

#[test]
fn production_and_a_base_url_are_explicit_settings() {
    let (_dir, proxied) = sources(
        Some("[exchange]\nenvironment = \"production\"\n"),
        &[("TRADEBOT__EXCHANGE__BASE_URL", "http://127.0.0.1:9/")],
    );
    let config = load(&proxied).unwrap();
    assert_eq!(
        config.exchange.environment,
        crate::config::Environment::Production
    );
    assert_eq!(config.exchange.effective_base_url(), "http://127.0.0.1:9");
    let (_dir2, production) = sources(Some("[exchange]\nenvironment = \"production\"\n"), &[]);
    assert_eq!(
        load(&production).unwrap().exchange.effective_base_url(),
        "https://api.binance.com"
    );
}

#[test]
fn exchange_settings_out_of_range_are_named_with_their_origin() {
    let cases = [
        (
            "TRADEBOT__EXCHANGE__RECV_WINDOW_MS",
            "60001",
            "exchange.recv_window_ms",
        ),
        (
            "TRADEBOT__EXCHANGE__RECV_WINDOW_MS",
            "0",
            "exchange.recv_window_ms",
        ),
        (
            "TRADEBOT__EXCHANGE__BASE_URL",
            "ftp://x",
            "exchange.base_url",
        ),
        (
            "TRADEBOT__EXCHANGE__REQUEST_TIMEOUT_MS",
            "5",
            "exchange.request_timeout_ms",
        ),
        (
            "TRADEBOT__EXCHANGE__TIME_SYNC_INTERVAL_S",
            "0",
            "exchange.time_sync_interval_s",
        ),
    ];
    for (var, value, key) in cases {
        let err = error_text(None, &[(var, value)]);
        assert!(
            err.contains(key) && err.contains(var),
            "{var}={value}: {err}"
        );
    }
    let err = error_text(Some("[exchange]\nenvironment = \"mainnet\"\n"), &[]);
    assert!(
        err.contains("exchange.environment") && err.contains("testnet"),
        "{err}"
    );
}

#[test]
fn a_starting_balance_variable_reaches_the_upper_case_asset() {
    let (_dir, sources) = sources(None, &[("TRADEBOT__PAPER__STARTING_BALANCES__USDT", "5")]);
    let config = load(&sources).unwrap();
    assert_eq!(config.paper.starting_balances.len(), 1);
    assert_eq!(config.paper.starting_balances["USDT"].to_string(), "5");
}

#[test]
fn an_entry_larger_than_the_order_limit_is_refused_naming_both_origins() {
    let err = error_text(None, &[("TRADEBOT__RISK__MAX_ORDER_NOTIONAL", "50")]);
    assert!(err.contains("trading.order_notional"), "{err}");
    assert!(
        err.contains("risk.max_order_notional is from environment variable"),
        "{err}"
    );
}

#[test]
fn a_log_level_that_is_no_level_is_a_config_error_naming_its_variable() {
    let err = error_text(None, &[("LOG_LEVEL", "chatty")]);
    assert!(
        err.contains("log.level") && err.contains("LOG_LEVEL"),
        "{err}"
    );
}

#[test]
fn amounts_past_a_trillion_are_refused() {
    let err = error_text(
        None,
        &[(
            "TRADEBOT__TRADING__ORDER_NOTIONAL",
            "79228162514264337593543950335",
        )],
    );
    assert!(err.contains("trading.order_notional"), "{err}");
}
