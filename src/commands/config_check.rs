//! `tradebot config check`: the effective configuration as JSON, and for each
//! secret where it would come from — never its value.

use serde_json::{Value, json};

use crate::config::Config;
use crate::secrets::{SecretName, SecretsManager};
use crate::store::DatabaseTarget;

/// Builds the report. Each present secret is loaded (so every rule is
/// checked: readable, non-empty, not set twice) and shown as `[redacted]`.
/// `database_url` is `DATABASE_URL`; the report names the database the
/// daemon would open, without its password, or why it would refuse.
pub fn report(
    config: &Config,
    secrets: &SecretsManager,
    database_url: Option<&secrecy::SecretString>,
) -> (Value, bool) {
    let mut all_ok = true;
    let mut entries = serde_json::Map::new();
    for name in SecretName::ALL {
        let entry = match secrets.load(name) {
            Ok(loaded) => json!({
                "value": "[redacted]",
                "source": loaded.source.to_string(),
            }),
            Err(err) if err.is_not_found() => json!({
                "value": null,
                "source": null,
                "status": err.to_string(),
            }),
            Err(err) => {
                all_ok = false;
                json!({ "value": null, "source": null, "error": err.to_string() })
            }
        };
        entries.insert(name.as_str().to_owned(), entry);
    }
    let database = match DatabaseTarget::resolve(&config.database, database_url, || {
        match secrets.load(SecretName::DbPassword) {
            Ok(loaded) => Ok(Some(loaded.value)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }) {
        Ok(target) => json!({
            "backend": target.backend(),
            "target": target.to_string(),
            "chosen_by": target.origin(),
        }),
        Err(err) => {
            all_ok = false;
            json!({ "error": crate::telemetry::error_chain(&err) })
        }
    };
    let mut value = serde_json::to_value(config).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("secret_values".into(), Value::Object(entries));
        map.insert("database_target".into(), database);
    }
    (value, all_ok)
}
