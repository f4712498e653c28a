//! `tradebot secrets check`: one JSON line per secret saying where it would
//! be loaded from, whether this user can read it, its owner and mode, and any
//! warning. Values are loaded only to validate them, and never shown.

use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use crate::config::Mode;
use crate::secrets::{SecretError, SecretName, SecretSource, SecretsManager};

/// The report lines, and whether every present secret is usable. In paper
/// mode an empty exchange credential (what `secrets init` leaves when none
/// was given) is fine: paper mode never reads it.
pub fn report(secrets: &SecretsManager, mode: Mode) -> (Vec<Value>, bool) {
    let uid = nix::unistd::geteuid().as_raw();
    let mut ok = true;
    let lines = SecretName::ALL
        .into_iter()
        .map(|name| {
            let (line, usable) = check_one(secrets, name, uid, mode);
            ok &= usable;
            line
        })
        .collect();
    (lines, ok)
}

fn check_one(secrets: &SecretsManager, name: SecretName, uid: u32, mode: Mode) -> (Value, bool) {
    let mut line = json!({ "secret": name.as_str(), "running_as_uid": uid });
    let source = match secrets.locate(name) {
        Ok(Some(source)) => source,
        Ok(None) => {
            line["status"] = json!("absent");
            line["looked_in"] = json!([
                format!("{} (variable)", name.file_env_var()),
                secrets
                    .secrets_dir()
                    .join(name.as_str())
                    .display()
                    .to_string(),
                format!("{} (variable)", name.env_var()),
            ]);
            return (line, true);
        }
        Err(err) => {
            line["status"] = json!("error");
            line["error"] = json!(err.to_string());
            return (line, false);
        }
    };

    line["source"] = json!(source.to_string());
    let mut warnings = Vec::new();
    match &source {
        SecretSource::FileVar(path) | SecretSource::SecretsDir(path) => {
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = meta.mode() & 0o7777;
                line["owner"] = json!(meta.uid());
                line["group"] = json!(meta.gid());
                line["mode"] = json!(format!("{mode:04o}"));
                if mode & 0o044 != 0 {
                    warnings.push("group- or world-readable; 0600 is enough".to_owned());
                }
                if meta.uid() != uid && mode & 0o004 == 0 && uid != 0 {
                    warnings.push(format!(
                        "owned by uid {}, not by this user (uid {uid})",
                        meta.uid()
                    ));
                }
            }
        }
        SecretSource::Env(var) => warnings.push(format!(
            "read from the plain variable {var}: anything that can read the process environment sees it; prefer a file"
        )),
    }
    let usable = match secrets.load(name) {
        Ok(_) => {
            line["status"] = json!("ok");
            line["readable"] = json!(true);
            true
        }
        Err(SecretError::Empty { .. })
            if mode == Mode::Paper
                && matches!(
                    name,
                    SecretName::ExchangeApiKey | SecretName::ExchangeApiSecret
                ) =>
        {
            line["status"] = json!("empty");
            line["readable"] = json!(true);
            warnings.push("empty: fine for paper trading, needed for live trading".to_owned());
            true
        }
        Err(err) => {
            line["status"] = json!("error");
            line["readable"] = json!(!matches!(err, SecretError::Unreadable { .. }));
            line["error"] = json!(err.to_string());
            false
        }
    };
    line["warnings"] = json!(warnings);
    (line, usable)
}
