//! Secrets: the daemon's four credentials, loaded from files or, as a last resort,
//! from the environment.
//!
//! Owns: where each secret is looked for and in what order (`NAME_FILE`, then
//! `<secrets dir>/<name>`, then `NAME`), the rules a value must pass, and the log lines
//! saying where each secret came from.
//! Must never: log, print or put in an error a secret's value, its length or any part
//! of it; silently fall back to another source when the chosen one is broken; decide
//! that a missing secret is fatal (paper trading needs no exchange credentials).
//!
//! # Implementation notes
//!
//! Files come first because the environment of a process is visible in
//! `/proc/<pid>/environ`, `docker inspect` and crash reports. `NAME` is still allowed,
//! with a warning, because it is what people try first.
//!
//! The `NAME`/`NAME_FILE` semantics follow the official Docker images (both set is an
//! error; only trailing line endings are stripped), so operators meet no surprises.
//!
//! Copies made on the way in are wiped (`Zeroizing`) where this module owns them. The
//! process environment block and the caller's own strings are outside its reach.

mod error;
mod source;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use secrecy::zeroize::{Zeroize, Zeroizing};
use secrecy::{ExposeSecret, SecretString};
use tracing::{info, warn};

pub use error::SecretError;
pub use source::{LoadedSecret, SecretSource};

/// Where secrets are mounted when `SECRETS_DIR` is unset (Docker and Compose default).
pub const DEFAULT_SECRETS_DIR: &str = "/run/secrets";

/// The secrets the daemon knows about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretName {
    ExchangeApiKey,
    ExchangeApiSecret,
    KillSwitchSecret,
    DbPassword,
}

impl SecretName {
    pub const ALL: [SecretName; 4] = [
        SecretName::ExchangeApiKey,
        SecretName::ExchangeApiSecret,
        SecretName::KillSwitchSecret,
        SecretName::DbPassword,
    ];

    /// The name used for the file in the secrets dir and in logs: `exchange_api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::ExchangeApiKey => "exchange_api_key",
            SecretName::ExchangeApiSecret => "exchange_api_secret",
            SecretName::KillSwitchSecret => "kill_switch_secret",
            SecretName::DbPassword => "db_password",
        }
    }

    /// The variable holding the value itself: `EXCHANGE_API_KEY`.
    pub fn env_var(self) -> &'static str {
        match self {
            SecretName::ExchangeApiKey => "EXCHANGE_API_KEY",
            SecretName::ExchangeApiSecret => "EXCHANGE_API_SECRET",
            SecretName::KillSwitchSecret => "KILL_SWITCH_SECRET",
            SecretName::DbPassword => "DB_PASSWORD",
        }
    }

    /// The variable naming a file that holds the value: `EXCHANGE_API_KEY_FILE`.
    pub fn file_env_var(self) -> &'static str {
        match self {
            SecretName::ExchangeApiKey => "EXCHANGE_API_KEY_FILE",
            SecretName::ExchangeApiSecret => "EXCHANGE_API_SECRET_FILE",
            SecretName::KillSwitchSecret => "KILL_SWITCH_SECRET_FILE",
            SecretName::DbPassword => "DB_PASSWORD_FILE",
        }
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `NAME` variable as found at start-up. A non-UTF-8 value is remembered as such so
/// that loading reports it instead of treating the secret as absent.
enum EnvValue {
    Text(SecretString),
    NotUtf8,
}

/// Loads secrets from a fixed snapshot of the secrets dir setting and the variables.
///
/// `Debug` shows the secrets dir, the `NAME_FILE` paths and which `NAME` variables are
/// set, never their values.
pub struct SecretsManager {
    secrets_dir: PathBuf,
    file_vars: HashMap<SecretName, PathBuf>,
    env_values: HashMap<SecretName, EnvValue>,
}

impl SecretsManager {
    /// Reads `SECRETS_DIR` and the `NAME` / `NAME_FILE` variables from the process
    /// environment. An unset or empty `SECRETS_DIR` means `/run/secrets`.
    pub fn from_process_env() -> Self {
        Self::from_lookup(|var| std::env::var_os(var))
    }

    /// The process environment, with the secrets dir the configuration chose
    /// (it already folds in `SECRETS_DIR`).
    pub fn from_process_env_in(secrets_dir: PathBuf) -> Self {
        let mut manager = Self::from_process_env();
        manager.secrets_dir = secrets_dir;
        manager
    }

    /// For tests and for the config loader: an explicit secrets dir and variables.
    /// Only the `NAME` / `NAME_FILE` variables of known secrets are looked at; the
    /// `NAME` values are wiped from `vars` once copied into `SecretString`s.
    pub fn new(secrets_dir: PathBuf, mut vars: HashMap<String, String>) -> Self {
        let mut manager = Self::empty(secrets_dir);
        for name in SecretName::ALL {
            if let Some(path) = vars.remove(name.file_env_var()) {
                manager.file_vars.insert(name, PathBuf::from(path));
            }
            if let Some(value) = vars.remove(name.env_var()) {
                let value = Zeroizing::new(value);
                let secret = SecretString::from(value.as_str());
                manager.env_values.insert(name, EnvValue::Text(secret));
            }
        }
        manager
    }

    /// The process environment behind a lookup function, so that tests need not
    /// mutate the real environment (unsafe, and racy across test threads).
    fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let secrets_dir = match lookup("SECRETS_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(DEFAULT_SECRETS_DIR),
        };

        let mut manager = Self::empty(secrets_dir);
        for name in SecretName::ALL {
            // NAME_FILE stays an OsString: a path need not be UTF-8.
            if let Some(path) = lookup(name.file_env_var()) {
                manager.file_vars.insert(name, PathBuf::from(path));
            }
            if let Some(raw) = lookup(name.env_var()) {
                let value = match raw.into_string() {
                    Ok(text) => EnvValue::Text(SecretString::from(Zeroizing::new(text).as_str())),
                    Err(raw) => {
                        raw.into_vec().zeroize();
                        EnvValue::NotUtf8
                    }
                };
                manager.env_values.insert(name, value);
            }
        }
        manager
    }

    fn empty(secrets_dir: PathBuf) -> Self {
        Self {
            secrets_dir,
            file_vars: HashMap::new(),
            env_values: HashMap::new(),
        }
    }

    pub fn secrets_dir(&self) -> &Path {
        &self.secrets_dir
    }

    /// Loads the secret, applying every rule, and logs where it came from.
    pub fn load(&self, name: SecretName) -> Result<LoadedSecret, SecretError> {
        let source = self.locate(name)?.ok_or_else(|| SecretError::NotFound {
            secret: name,
            searched: self.dir_path(name),
        })?;

        let value = match &source {
            SecretSource::FileVar(path) | SecretSource::SecretsDir(path) => {
                source::read_file(name, &source, path)?
            }
            SecretSource::Env(_) => self.env_value(name, &source)?,
        };

        match &source {
            SecretSource::SecretsDir(_) if self.env_values.contains_key(&name) => warn!(
                secret = %name,
                variable = name.env_var(),
                "Environment variable ignored; the secrets dir file takes precedence"
            ),
            SecretSource::Env(variable) => warn!(
                secret = %name,
                variable,
                "Secret read from an environment variable; prefer a secret file"
            ),
            _ => {}
        }
        info!(secret = %name, source = %source, "Loaded secret");

        Ok(LoadedSecret { value, source })
    }

    /// Where the secret would be loaded from, without reading it and without logging:
    /// `Ok(None)` when no source has it. A `NAME_FILE` path is returned even if nothing
    /// is there; `load` then reports it. Errs when `NAME` and `NAME_FILE` are both set
    /// or `NAME_FILE` is empty.
    pub fn locate(&self, name: SecretName) -> Result<Option<SecretSource>, SecretError> {
        let file_var = self.file_vars.get(&name);
        let env_set = self.env_values.contains_key(&name);

        if let Some(path) = file_var {
            if env_set {
                return Err(SecretError::BothSet { secret: name });
            }
            if path.as_os_str().is_empty() {
                return Err(SecretError::EmptyFileVar { secret: name });
            }
            return Ok(Some(SecretSource::FileVar(path.clone())));
        }

        // `symlink_metadata`: a dangling link in the secrets dir is a broken mount to
        // report, not an absence to skip. Any error other than "not found" (a secrets
        // dir we may not search) also counts as present, so that `load` reports it.
        let in_dir = self.dir_path(name);
        match fs::symlink_metadata(&in_dir) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            _ => return Ok(Some(SecretSource::SecretsDir(in_dir))),
        }

        Ok(env_set.then(|| SecretSource::Env(name.env_var())))
    }

    fn dir_path(&self, name: SecretName) -> PathBuf {
        self.secrets_dir.join(name.as_str())
    }

    fn env_value(
        &self,
        name: SecretName,
        origin: &SecretSource,
    ) -> Result<SecretString, SecretError> {
        match self.env_values.get(&name) {
            Some(EnvValue::Text(value)) => {
                source::checked_value(name, origin, value.expose_secret())
            }
            Some(EnvValue::NotUtf8) => Err(SecretError::NotUtf8 {
                secret: name,
                origin: origin.clone(),
            }),
            // `locate` only returns `Env` for a variable that is set.
            None => Err(SecretError::NotFound {
                secret: name,
                searched: self.dir_path(name),
            }),
        }
    }
}

impl fmt::Debug for SecretsManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut env_vars_set: Vec<&str> = self.env_values.keys().map(|n| n.env_var()).collect();
        env_vars_set.sort_unstable();
        f.debug_struct("SecretsManager")
            .field("secrets_dir", &self.secrets_dir)
            .field("file_vars", &self.file_vars)
            .field("env_vars_set", &env_vars_set)
            .finish()
    }
}
