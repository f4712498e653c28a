//! The rules every value must pass, whichever source it came from.

use super::*;
use crate::secrets::SecretSource;

const KEY: SecretName = SecretName::ExchangeApiKey;

/// Loads `raw` once from the secrets dir and once from `NAME`.
fn load_both_ways(raw: &str) -> Vec<(Result<LoadedSecret, SecretError>, String)> {
    let from_file = Fixture::new();
    from_file.put_in_dir(KEY, raw.as_bytes());

    let mut from_env = Fixture::new();
    from_env.set("EXCHANGE_API_KEY", raw);

    vec![from_file.load(KEY), from_env.load(KEY)]
}

#[test]
fn only_trailing_line_endings_are_stripped() {
    for ending in ["\n", "\r\n", "\n\n", "\r\n\r\n", "\r"] {
        for (result, _logs) in load_both_ways(&format!("{CANARY}{ending}")) {
            assert_eq!(value(&result.unwrap()), CANARY, "ending {ending:?}");
        }
    }
}

#[test]
fn everything_else_is_kept_byte_for_byte() {
    for raw in [
        "000123",
        "  leading",
        "\tleading tab",
        "in ner",
        "two\nlines",
        "ünïcode",
    ] {
        for (result, _logs) in load_both_ways(&format!("{raw}\n")) {
            assert_eq!(value(&result.unwrap()), raw);
        }
    }
}

#[test]
fn trailing_spaces_are_kept_with_a_warning_that_does_not_show_them() {
    for (result, logs) in load_both_ways(&format!("{CANARY}  \n")) {
        assert_eq!(value(&result.unwrap()), format!("{CANARY}  "));

        let warns: Vec<_> = warnings(&logs)
            .into_iter()
            .filter(|l| l.contains("Secret value ends in whitespace"))
            .collect();
        assert_eq!(warns.len(), 1, "{logs}");
        assert!(warns[0].contains("secret=exchange_api_key"), "{logs}");
    }
}

#[test]
fn value_without_trailing_whitespace_raises_no_whitespace_warning() {
    for (result, logs) in load_both_ways(&format!(" {CANARY}\n")) {
        result.unwrap();
        assert!(!logs.contains("whitespace"), "{logs}");
    }
}

#[test]
fn empty_value_is_an_error_even_after_stripping_line_endings() {
    for raw in ["", "\n", "\r\n\n"] {
        for (result, logs) in load_both_ways(raw) {
            let err = result.unwrap_err();
            assert!(matches!(err, SecretError::Empty { .. }), "{raw:?}: {err:?}");
            assert!(err.to_string().ends_with(" is empty"), "{err}");
            assert!(!logs.contains("Loaded secret"), "{logs}");
        }
    }

    let fx = Fixture::new();
    let path = fx.put_in_dir(KEY, b"\n");
    let err = fx.load(KEY).0.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "secret exchange_api_key: the value from file:{} is empty",
            path.display()
        )
    );
}

#[test]
fn name_holding_the_path_of_an_existing_file_is_an_error_suggesting_name_file() {
    let mut fx = Fixture::new();
    // The path carries the canary: it is the variable's value, so it must not be echoed.
    let path = fx.put_file(CANARY, b"real secret");
    fx.set("EXCHANGE_API_KEY", &path);

    let (result, logs) = fx.load(KEY);
    let err = result.unwrap_err();

    assert!(matches!(err, SecretError::EnvHoldsPath { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "secret exchange_api_key: EXCHANGE_API_KEY holds the path of an existing file rather \
         than a secret; set EXCHANGE_API_KEY_FILE to that path instead"
    );
    assert!(!logs.contains("Loaded secret"), "{logs}");
}

#[test]
fn name_holding_a_relative_path_of_an_existing_file_is_an_error() {
    // Tests run in the package root, where Cargo.toml exists.
    let mut fx = Fixture::new();
    fx.set("EXCHANGE_API_KEY", "./Cargo.toml");

    let err = fx.load(KEY).0.unwrap_err();

    assert!(matches!(err, SecretError::EnvHoldsPath { .. }), "{err:?}");
}

#[test]
fn name_that_merely_looks_like_a_path_is_accepted() {
    let mut fx = Fixture::new();
    let not_a_file = format!("/{CANARY}/does/not/exist");
    fx.set("EXCHANGE_API_KEY", &not_a_file);

    let loaded = fx.load(KEY).0.unwrap();

    assert_eq!(value(&loaded), not_a_file);
}

#[test]
fn non_utf8_file_is_an_error_that_shows_no_bytes() {
    let fx = Fixture::new();
    let mut raw = CANARY.as_bytes().to_vec();
    raw.extend_from_slice(b"\xff\n");
    let path = fx.put_in_dir(KEY, &raw);

    let err = fx.load(KEY).0.unwrap_err();

    assert!(matches!(
        &err,
        SecretError::NotUtf8 { origin: SecretSource::SecretsDir(p), .. } if *p == path
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "secret exchange_api_key: the value from file:{} is not valid UTF-8",
            path.display()
        )
    );
}
