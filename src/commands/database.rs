//! `tradebot db migrate` and `tradebot trades`: the store from the command
//! line, with the same database choice and password handling as the daemon.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::config::Config;
use crate::secrets::{SecretName, SecretsManager};
use crate::store::{
    DatabaseTarget, Durability, Store, StoreError, TradeFilter, database_url_from_env,
};

fn target(config: &Config) -> Result<DatabaseTarget, StoreError> {
    let url = database_url_from_env()?;
    let secrets = SecretsManager::from_process_env_in(config.secrets.dir.clone());
    DatabaseTarget::resolve(&config.database, url.as_ref(), || {
        match secrets.load(SecretName::DbPassword) {
            Ok(loaded) => Ok(Some(loaded.value)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    })
}

fn timeout(config: &Config) -> Duration {
    Duration::from_millis(config.database.timeout_ms)
}

/// Applies the migrations the database has not seen; one line saying which.
pub async fn migrate(config: &Config) -> Result<Value, StoreError> {
    let target = target(config)?;
    let store = Store::connect(&target, timeout(config), Durability::PowerLoss).await?;
    let applied = store.migrate().await;
    store.close().await;
    Ok(json!({
        "message": "Database schema up to date",
        "backend": target.backend(),
        "database": target.to_string(),
        "migrations_applied": applied?,
    }))
}

/// The trades matching `filter`, oldest first, one JSON object each.
pub async fn trades(config: &Config, filter: &TradeFilter) -> Result<Vec<Value>, TradesError> {
    let target = target(config)?;
    if let DatabaseTarget::Sqlite { path } = &target
        && !path.exists()
    {
        // Opening would create an empty database; say what is going on.
        return Err(TradesError::NoDatabase(target.to_string()));
    }
    let store = Store::open(&target, timeout(config)).await?;
    let trades = store.trades(filter).await;
    store.close().await;
    Ok(trades?
        .iter()
        .map(|trade| serde_json::to_value(trade).unwrap_or(Value::Null))
        .collect())
}

#[derive(Debug, thiserror::Error)]
pub enum TradesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no database at {0} yet: the daemon creates it on its first start")]
    NoDatabase(String),
}

/// `--since`: an RFC 3339 time (`2026-12-01T08:00:00Z`) or a UTC date
/// (`2026-12-01`).
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| {
            format!("{text:?} is neither an RFC 3339 time (2026-12-01T08:00:00Z) nor a date (2026-12-01)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_a_date() {
        assert_eq!(
            parse_since("2026-12-01T08:00:00+01:00")
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T07:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-12-01").unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        let err = parse_since("yesterday").unwrap_err();
        assert!(err.contains("\"yesterday\""), "{err}");
    }
}
