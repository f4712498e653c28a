//! Names, sources, and what the log line and `Debug` prints may show.

use super::*;
use crate::secrets::SecretSource;

#[test]
fn each_secret_has_its_file_name_and_variables() {
    let expected = [
        (
            "exchange_api_key",
            "EXCHANGE_API_KEY",
            "EXCHANGE_API_KEY_FILE",
        ),
        (
            "exchange_api_secret",
            "EXCHANGE_API_SECRET",
            "EXCHANGE_API_SECRET_FILE",
        ),
        (
            "kill_switch_secret",
            "KILL_SWITCH_SECRET",
            "KILL_SWITCH_SECRET_FILE",
        ),
        ("db_password", "DB_PASSWORD", "DB_PASSWORD_FILE"),
    ];
    for (name, (file, var, file_var)) in SecretName::ALL.into_iter().zip(expected) {
        assert_eq!(name.as_str(), file);
        assert_eq!(name.to_string(), file);
        assert_eq!(name.env_var(), var);
        assert_eq!(name.file_env_var(), file_var);
    }
}

#[test]
fn source_displays_and_serializes_as_file_or_env_text() {
    let cases = [
        (
            SecretSource::FileVar("/run/secrets/exchange_api_key".into()),
            "file:/run/secrets/exchange_api_key",
        ),
        (
            SecretSource::SecretsDir("/run/secrets/db_password".into()),
            "file:/run/secrets/db_password",
        ),
        (SecretSource::Env("DB_PASSWORD"), "env:DB_PASSWORD"),
    ];
    for (source, text) in cases {
        assert_eq!(source.to_string(), text);
        // `Serialize` goes through this conversion (`#[serde(into = "String")]`).
        assert_eq!(String::from(source), text);
    }
}

#[test]
fn load_logs_one_info_line_with_name_and_source_only() {
    let fx = Fixture::new();
    let path = fx.put_in_dir(
        SecretName::ExchangeApiSecret,
        format!("{CANARY}\n").as_bytes(),
    );

    let (loaded, logs) = fx.load(SecretName::ExchangeApiSecret);
    loaded.unwrap();

    // The whole line is pinned, so no length or other field can creep in.
    assert_eq!(
        logs,
        format!(
            " INFO Loaded secret secret=exchange_api_secret source=file:{}\n",
            path.display()
        )
    );
}

#[test]
fn env_source_is_logged_as_env_and_variable_name() {
    let mut fx = Fixture::new();
    fx.set("DB_PASSWORD", CANARY);

    let (loaded, logs) = fx.load(SecretName::DbPassword);
    loaded.unwrap();

    let info: Vec<_> = logs.lines().filter(|l| l.contains("INFO")).collect();
    assert_eq!(
        info,
        [" INFO Loaded secret secret=db_password source=env:DB_PASSWORD"]
    );
}

#[test]
fn debug_prints_redact_values() {
    let mut fx = Fixture::new();
    fx.put_in_dir(SecretName::KillSwitchSecret, CANARY.as_bytes());
    fx.set("DB_PASSWORD", CANARY);
    let manager = fx.manager();

    let loaded = with_logs(|| manager.load(SecretName::KillSwitchSecret))
        .0
        .unwrap();
    let loaded_debug = format!("{loaded:?} {loaded:#?}");
    let manager_debug = format!("{manager:?} {manager:#?}");

    assert!(loaded_debug.contains("[REDACTED]"), "{loaded_debug}");
    assert_no_canary("Debug of LoadedSecret", &loaded_debug);
    assert!(manager_debug.contains("DB_PASSWORD"), "{manager_debug}");
    assert_no_canary("Debug of SecretsManager", &manager_debug);
}
