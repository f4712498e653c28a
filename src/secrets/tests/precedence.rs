//! Which source wins, and the errors about the sources themselves.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use super::*;
use crate::secrets::SecretSource;

const KEY: SecretName = SecretName::ExchangeApiKey;

#[test]
fn name_file_wins_over_the_secrets_dir() {
    let mut fx = Fixture::new();
    let chosen = fx.put_file("mounted_key", format!("{CANARY}-file-var").as_bytes());
    fx.put_in_dir(KEY, format!("{CANARY}-dir").as_bytes());
    fx.set("EXCHANGE_API_KEY_FILE", &chosen);

    let (loaded, logs) = fx.load(KEY);
    let loaded = loaded.unwrap();

    assert_eq!(value(&loaded), format!("{CANARY}-file-var"));
    assert_eq!(loaded.source, SecretSource::FileVar(chosen));
    assert!(warnings(&logs).is_empty(), "{logs}");
}

#[test]
fn secrets_dir_wins_over_name_and_warns_that_name_is_ignored() {
    let mut fx = Fixture::new();
    let in_dir = fx.put_in_dir(KEY, format!("{CANARY}-dir").as_bytes());
    fx.set("EXCHANGE_API_KEY", format!("{CANARY}-env"));

    let (loaded, logs) = fx.load(KEY);
    let loaded = loaded.unwrap();

    assert_eq!(value(&loaded), format!("{CANARY}-dir"));
    assert_eq!(loaded.source, SecretSource::SecretsDir(in_dir));
    let warns = warnings(&logs);
    assert_eq!(warns.len(), 1, "{logs}");
    assert!(warns[0].contains("Environment variable ignored"), "{logs}");
    assert!(warns[0].contains("secret=exchange_api_key"), "{logs}");
    assert!(warns[0].contains("variable=\"EXCHANGE_API_KEY\""), "{logs}");
}

#[test]
fn name_is_the_last_resort_and_is_logged_at_warn() {
    let mut fx = Fixture::new();
    fx.set("EXCHANGE_API_KEY", CANARY);

    let (loaded, logs) = fx.load(KEY);
    let loaded = loaded.unwrap();

    assert_eq!(value(&loaded), CANARY);
    assert_eq!(loaded.source, SecretSource::Env("EXCHANGE_API_KEY"));
    let warns = warnings(&logs);
    assert_eq!(warns.len(), 1, "{logs}");
    assert!(
        warns[0].contains("Secret read from an environment variable"),
        "{logs}"
    );
    assert!(warns[0].contains("secret=exchange_api_key"), "{logs}");
}

#[test]
fn name_and_name_file_both_set_is_an_error_even_if_the_file_exists() {
    let mut fx = Fixture::new();
    let file = fx.put_file("db", CANARY.as_bytes());
    fx.set("DB_PASSWORD_FILE", &file).set("DB_PASSWORD", CANARY);

    let (result, logs) = fx.load(SecretName::DbPassword);
    let err = result.unwrap_err();

    assert!(matches!(err, SecretError::BothSet { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "secret db_password: both DB_PASSWORD and DB_PASSWORD_FILE are set; unset one of them"
    );
    assert!(fx.manager().locate(SecretName::DbPassword).is_err());
    assert!(logs.is_empty(), "{logs}");
}

#[test]
fn empty_name_file_is_an_error() {
    let mut fx = Fixture::new();
    fx.put_in_dir(KEY, CANARY.as_bytes());
    fx.set("EXCHANGE_API_KEY_FILE", "");

    let (result, _logs) = fx.load(KEY);
    let err = result.unwrap_err();

    assert!(matches!(err, SecretError::EmptyFileVar { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "secret exchange_api_key: EXCHANGE_API_KEY_FILE is set but empty"
    );
}

#[test]
fn name_file_naming_a_missing_file_is_an_error_not_a_fallback() {
    let mut fx = Fixture::new();
    fx.put_in_dir(KEY, CANARY.as_bytes());
    let missing = fx.root().join("no_such_file");
    fx.set("EXCHANGE_API_KEY_FILE", &missing);

    let (result, logs) = fx.load(KEY);
    let err = result.unwrap_err();

    assert!(
        matches!(err, SecretError::FileVarTargetMissing { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "secret exchange_api_key: EXCHANGE_API_KEY_FILE names {}, which does not exist",
            missing.display()
        )
    );
    assert!(!logs.contains("Loaded secret"), "{logs}");
}

#[test]
fn missing_everywhere_is_not_found_naming_every_place_looked_in() {
    let fx = Fixture::new();

    let (result, logs) = fx.load(SecretName::KillSwitchSecret);
    let err = result.unwrap_err();

    assert!(err.is_not_found());
    assert_eq!(err.secret(), SecretName::KillSwitchSecret);
    assert_eq!(
        err.to_string(),
        format!(
            "secret kill_switch_secret: not found; looked in KILL_SWITCH_SECRET_FILE (unset), \
             {}/kill_switch_secret (no such file), KILL_SWITCH_SECRET (unset)",
            fx.secrets_dir().display()
        )
    );
    assert!(logs.is_empty(), "{logs}");
}

#[test]
fn only_not_found_counts_as_not_found() {
    let mut fx = Fixture::new();
    fx.set("EXCHANGE_API_KEY", "");

    let err = fx.load(KEY).0.unwrap_err();

    assert!(!err.is_not_found(), "{err:?}");
}

#[test]
fn locate_names_the_source_without_reading_it_or_logging() {
    let mut fx = Fixture::new();
    // Not valid UTF-8, so `load` would fail: `locate` must not look inside.
    let in_dir = fx.put_in_dir(KEY, b"\xff\xfe");
    let missing = fx.root().join("gone");
    fx.set("DB_PASSWORD_FILE", &missing);
    fx.set("KILL_SWITCH_SECRET", CANARY);
    let manager = fx.manager();

    let (located, logs) = with_logs(|| SecretName::ALL.map(|name| manager.locate(name).unwrap()));

    assert_eq!(
        located,
        [
            Some(SecretSource::SecretsDir(in_dir)),
            None,
            Some(SecretSource::Env("KILL_SWITCH_SECRET")),
            Some(SecretSource::FileVar(missing)),
        ]
    );
    assert!(logs.is_empty(), "{logs}");
}

fn lookup_from(pairs: Vec<(&'static str, OsString)>) -> impl Fn(&str) -> Option<OsString> {
    let vars: HashMap<&str, OsString> = pairs.into_iter().collect();
    move |var| vars.get(var).cloned()
}

#[test]
fn secrets_dir_defaults_to_run_secrets_when_unset_or_empty() {
    let unset = SecretsManager::from_lookup(lookup_from(vec![]));
    let empty = SecretsManager::from_lookup(lookup_from(vec![("SECRETS_DIR", "".into())]));

    assert_eq!(unset.secrets_dir(), PathBuf::from("/run/secrets"));
    assert_eq!(empty.secrets_dir(), PathBuf::from("/run/secrets"));
}

#[test]
fn process_environment_supplies_secrets_dir_name_and_name_file() {
    let fx = Fixture::new();
    fx.put_in_dir(SecretName::DbPassword, format!("{CANARY}-db").as_bytes());
    let file = fx.put_file("kill", format!("{CANARY}-kill").as_bytes());
    let manager = SecretsManager::from_lookup(lookup_from(vec![
        ("SECRETS_DIR", fx.secrets_dir().into()),
        ("KILL_SWITCH_SECRET_FILE", file.clone().into()),
        ("EXCHANGE_API_SECRET", format!("{CANARY}-env").into()),
    ]));

    let (loaded, _logs) = with_logs(|| SecretName::ALL.map(|name| manager.load(name)));
    let [key, api_secret, kill, db] = loaded;

    assert_eq!(manager.secrets_dir(), fx.secrets_dir());
    assert!(key.unwrap_err().is_not_found());
    assert_eq!(value(&api_secret.unwrap()), format!("{CANARY}-env"));
    assert_eq!(kill.unwrap().source, SecretSource::FileVar(file));
    assert_eq!(value(&db.unwrap()), format!("{CANARY}-db"));
}

#[test]
fn non_utf8_name_is_an_error_not_an_absence() {
    let mut raw = CANARY.as_bytes().to_vec();
    raw.push(0xff);
    let manager =
        SecretsManager::from_lookup(lookup_from(vec![("DB_PASSWORD", OsString::from_vec(raw))]));

    let (result, _logs) = with_logs(|| manager.load(SecretName::DbPassword));
    assert_result_clean(&result);
    let err = result.unwrap_err();

    assert!(matches!(err, SecretError::NotUtf8 { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "secret db_password: the value from env:DB_PASSWORD is not valid UTF-8"
    );
}
