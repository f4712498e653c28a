//! The daemon's start on the store: pick the database, wait for it if it is
//! not up yet, open the run's record and read the kill switch.

use std::time::Duration;

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tracing::{info, warn};
use uuid::Uuid;

use super::{DaemonError, until_stopped};
use crate::config::Config;
use crate::shutdown::Shutdown;
use crate::store::{
    DatabaseTarget, Durability, KillSwitchEvent, RunStart, Store, StoreError,
    database_url_from_env, now,
};
use crate::telemetry::error_chain;

/// Opens the store, retrying with backoff while the database is away (in
/// compose it may start after the daemon). A setting only a person can fix
/// (wrong password, no such database) fails at once. `None`: stopped.
pub(crate) async fn open_store(
    config: &Config,
    db_password: Option<SecretString>,
    durability: Durability,
    shutdown: &mut Shutdown,
) -> Result<Option<Store>, DaemonError> {
    let url = database_url_from_env()?;
    let target = DatabaseTarget::resolve(&config.database, url.as_ref(), || Ok(db_password))?;
    let timeout = Duration::from_millis(config.database.timeout_ms);
    let max_backoff = Duration::from_millis(config.database.max_backoff_ms);
    let mut backoff = Duration::from_millis(250);
    let mut warned = false;
    loop {
        let opening = Store::open_with(&target, timeout, durability);
        let err = match until_stopped(shutdown, opening).await {
            None => return Ok(None),
            Some(Ok(store)) => {
                info!(
                    backend = target.backend(),
                    database = %target,
                    chosen_by = target.origin(),
                    durability = ?durability,
                    "Database ready"
                );
                return Ok(Some(store));
            }
            Some(Err(err)) if err.is_transient() => err,
            Some(Err(err)) => return Err(err.into()),
        };
        if !warned {
            warn!(
                error = %error_chain(&err),
                database = %target,
                "Database unavailable at start; retrying with backoff before trading"
            );
            warned = true;
        }
        if until_stopped(shutdown, tokio::time::sleep(backoff))
            .await
            .is_none()
        {
            return Ok(None);
        }
        backoff = (backoff * 2).min(max_backoff);
    }
}

/// Writes the run's first record; returns its id.
pub(super) async fn start_run(
    store: &Store,
    config: &Config,
    market_data: &str,
    account: &str,
) -> Result<String, StoreError> {
    let run_id = Uuid::now_v7().to_string();
    store
        .start_run(&RunStart {
            run_id: run_id.clone(),
            started_at: now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            mode: config.trading.mode.to_string(),
            market_data: market_data.to_owned(),
            account: account.to_owned(),
            config_digest: config_digest(config),
        })
        .await?;
    Ok(run_id)
}

/// SHA-256 of the effective configuration as JSON (it holds no secrets):
/// two runs with the same digest ran with the same settings.
fn config_digest(config: &Config) -> String {
    let json = serde_json::to_vec(config).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// The kill switch as the store has it; an active one is logged, since it
/// keeps the daemon from trading until someone deactivates it.
pub(super) async fn kill_switch(store: &Store) -> Result<Option<KillSwitchEvent>, StoreError> {
    let state = store.kill_switch().await?;
    if let Some(event) = state.as_ref().filter(|event| event.is_active()) {
        warn!(
            reason = %event.reason,
            source = event.source.as_str(),
            since = %event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            request_id = event.request_id.as_deref().unwrap_or(""),
            "Kill switch is active; no new orders until it is deactivated"
        );
    }
    Ok(state)
}
