//! Layering: files and variables are merged as TOML values while the origin of
//! every key is remembered, so an error can say which file or variable holds
//! the bad value.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::{Config, ConfigError, Origin, validate};

/// The defaults, built in so the binary runs where `config/` is absent (a
/// container image, an installed binary).
const BUILT_IN_DEFAULTS: &str = include_str!("../../config/default.toml");

/// Prefix of variables that override a key: `TRADEBOT__SECTION__KEY`.
const ENV_PREFIX: &str = "TRADEBOT__";

/// Plain variable names that operators expect, and the key each sets.
/// Later entries win: `LOG_LEVEL` over `RUST_LOG`.
const PLAIN_VARS: [(&str, &str); 9] = [
    ("RUST_LOG", "log.level"),
    ("LOG_LEVEL", "log.level"),
    ("LOG_FORMAT", "log.format"),
    ("LOG_DIR", "log.dir"),
    ("SECRETS_DIR", "secrets.dir"),
    ("DB_HOST", "database.host"),
    ("DB_PORT", "database.port"),
    ("DB_USER", "database.user"),
    ("DB_NAME", "database.name"),
];

/// What the configuration is read from: a folder holding `default.toml` and
/// an optional `local.toml`, and the environment.
#[derive(Debug, Clone)]
pub struct ConfigSources {
    pub dir: PathBuf,
    pub vars: HashMap<String, String>,
}

impl ConfigSources {
    /// The process environment. A variable the configuration reads that is
    /// not UTF-8 is an error naming it (never its value); other variables
    /// that are not UTF-8 are none of the configuration's business.
    pub fn from_process(dir: PathBuf) -> Result<Self, ConfigError> {
        let mut vars = HashMap::new();
        for (name, value) in std::env::vars_os() {
            // Only the configuration's own variables are kept, so no secret
            // held in the environment ever enters this struct.
            let Some(name) = name.into_string().ok().filter(|n| is_config_var(n)) else {
                continue;
            };
            let Ok(value) = value.into_string() else {
                return Err(ConfigError::Env {
                    var: name,
                    message: "is not valid UTF-8".into(),
                });
            };
            vars.insert(name, value);
        }
        Ok(Self { dir, vars })
    }
}

fn is_config_var(name: &str) -> bool {
    name.starts_with("TRADEBOT") || PLAIN_VARS.iter().any(|(var, _)| *var == name)
}

type Origins = BTreeMap<String, Origin>;

pub fn load(sources: &ConfigSources) -> Result<Config, ConfigError> {
    let mut merged = Table::new();
    let mut origins = Origins::new();

    let default_path = sources.dir.join("default.toml");
    match read_optional(&default_path)? {
        Some(text) => merge_file(&mut merged, &mut origins, &text, Origin::File(default_path))?,
        None => merge_file(
            &mut merged,
            &mut origins,
            BUILT_IN_DEFAULTS,
            Origin::BuiltIn,
        )?,
    }
    let local_path = sources.dir.join("local.toml");
    if let Some(text) = read_optional(&local_path)? {
        merge_file(&mut merged, &mut origins, &text, Origin::File(local_path))?;
    }
    apply_env(&mut merged, &mut origins, &sources.vars)?;

    let config: Config = serde_path_to_error::deserialize(Value::Table(merged)).map_err(|err| {
        let key = err.path().to_string();
        let origin = origin_of(&origins, &key);
        ConfigError::Key {
            key,
            origin,
            // toml's messages end in newlines and may hold one; a log field
            // stays one line.
            message: err.into_inner().to_string().trim_end().replace('\n', " "),
        }
    })?;

    if let Some((key, mut message)) = validate::check(&config).into_iter().next() {
        let origin = origin_of(&origins, &key);
        // A rule between two keys: say where the other one came from too,
        // since either may be the one to change.
        let others: Vec<String> = origins
            .iter()
            .filter(|(other, _)| *other != &key && message.contains(other.as_str()))
            .map(|(other, origin)| format!("{other} is from {origin}"))
            .collect();
        if !others.is_empty() {
            message = format!("{message} ({})", others.join("; "));
        }
        return Err(ConfigError::Key {
            key,
            origin,
            message,
        });
    }
    Ok(config)
}

fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn merge_file(
    merged: &mut Table,
    origins: &mut Origins,
    text: &str,
    origin: Origin,
) -> Result<(), ConfigError> {
    let table: Table = text
        .parse()
        .map_err(|err: toml::de::Error| ConfigError::Syntax {
            path: match &origin {
                Origin::File(path) => path.clone(),
                _ => PathBuf::from("config/default.toml (built in)"),
            },
            message: err.to_string().trim_end().replace('\n', " "),
        })?;
    merge_table(merged, origins, table, "", &origin);
    Ok(())
}

/// Deep-merges `from` into `into`: tables merge key by key, anything else
/// (arrays included) replaces the lower layer's value whole.
fn merge_table(
    into: &mut Table,
    origins: &mut Origins,
    from: Table,
    prefix: &str,
    origin: &Origin,
) {
    for (key, value) in from {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (into.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(table)) => {
                merge_table(existing, origins, table, &path, origin);
            }
            (_, value) => {
                record_origins(origins, &path, &value, origin);
                into.insert(key, value);
            }
        }
    }
}

fn record_origins(origins: &mut Origins, path: &str, value: &Value, origin: &Origin) {
    origins.insert(path.to_owned(), origin.clone());
    if let Value::Table(table) = value {
        for (key, child) in table {
            record_origins(origins, &format!("{path}.{key}"), child, origin);
        }
    }
}

fn apply_env(
    merged: &mut Table,
    origins: &mut Origins,
    vars: &HashMap<String, String>,
) -> Result<(), ConfigError> {
    let mut overrides: Vec<(String, String)> = Vec::new();
    for (var, key) in PLAIN_VARS {
        if vars.contains_key(var) {
            overrides.push((var.to_owned(), key.to_owned()));
        }
    }
    let mut prefixed: Vec<&String> = vars.keys().filter(|v| v.starts_with("TRADEBOT")).collect();
    prefixed.sort();
    for var in prefixed {
        if let Some(rest) = var.strip_prefix(ENV_PREFIX) {
            overrides.push((var.clone(), rest.to_ascii_lowercase().replace("__", ".")));
        } else if var.contains("__") {
            // `TRADEBOT_TRADING__MODE` would otherwise be ignored in silence.
            return Err(ConfigError::Env {
                var: var.clone(),
                message: format!(
                    "looks like a setting but the prefix is {ENV_PREFIX} (two underscores)"
                ),
            });
        }
    }
    for (var, key) in overrides {
        set_from_env(merged, &key, &vars[&var], &var)?;
        origins.insert(key, Origin::Env(var));
    }
    Ok(())
}

/// Sets `key` from a variable's text, typed like the value it replaces, so
/// `5000` stays a number for a number and `007` stays a string for a string.
fn set_from_env(merged: &mut Table, key: &str, text: &str, var: &str) -> Result<(), ConfigError> {
    let env_error = |message: String| ConfigError::Env {
        var: var.to_owned(),
        message,
    };
    let mut parts: Vec<&str> = key.split('.').collect();
    let leaf = parts
        .pop()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| env_error("names no key".into()))?;
    let mut table = merged;
    for part in parts {
        table = match table.get_mut(part) {
            Some(Value::Table(inner)) => inner,
            _ => return Err(env_error(format!("there is no config section {key}"))),
        };
    }
    // Keys are matched whatever their case (`STARTING_BALANCES__USDT` must
    // reach `USDT`); a new key keeps the lower case the section names use.
    let leaf = table
        .keys()
        .find(|existing| existing.eq_ignore_ascii_case(leaf))
        .cloned()
        .unwrap_or_else(|| leaf.to_owned());
    let leaf = leaf.as_str();
    let value = match table.get(leaf) {
        Some(Value::Integer(_)) => text
            .trim()
            .parse()
            .map(Value::Integer)
            .map_err(|_| env_error(format!("{key} must be a whole number")))?,
        Some(Value::Float(_)) => text
            .trim()
            .parse()
            .map(Value::Float)
            .map_err(|_| env_error(format!("{key} must be a number")))?,
        Some(Value::Boolean(_)) => match text.trim() {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => return Err(env_error(format!("{key} must be true or false"))),
        },
        Some(Value::Array(_)) => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        Some(Value::Table(_)) => {
            return Err(env_error(format!(
                "{key} is a section; set its keys one by one"
            )));
        }
        Some(_) | None => Value::String(text.to_owned()),
    };
    table.insert(leaf.to_owned(), value);
    Ok(())
}

/// The origin of `key`, or of its nearest recorded parent (an unknown key's
/// parent is where it was written).
fn origin_of(origins: &Origins, key: &str) -> Origin {
    let mut key = key;
    loop {
        if let Some(origin) = origins.get(key) {
            return origin.clone();
        }
        // An unknown key inside a section: whichever layer wrote a key below it.
        if let Some((_, origin)) = origins
            .iter()
            .rev()
            .find(|(k, _)| k.starts_with(&format!("{key}.")))
        {
            return origin.clone();
        }
        match key.rsplit_once('.') {
            Some((parent, _)) => key = parent,
            None => return Origin::BuiltIn,
        }
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
