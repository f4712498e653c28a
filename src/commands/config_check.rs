//! `tradebot config check`: the effective configuration as JSON, and for each
//! secret where it would come from — never its value.

use serde_json::{Value, json};

use crate::config::Config;
use crate::secrets::{SecretName, SecretsManager};

/// Builds the report. Each present secret is loaded (so every rule is
/// checked: readable, non-empty, not set twice) and shown as `[redacted]`.
pub fn report(config: &Config, secrets: &SecretsManager) -> (Value, bool) {
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
    let mut value = serde_json::to_value(config).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("secret_values".into(), Value::Object(entries));
    }
    (value, all_ok)
}
