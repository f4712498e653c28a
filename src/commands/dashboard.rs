//! `tradebot dashboard`: the page and the API on `dashboard.bind`, in a
//! process of its own (the compose `dashboard` service). It has no trading
//! loop: status comes from what the daemon recorded, and a kill-switch
//! change is an event written to the shared database, which the daemon
//! picks up within `kill_switch.poll_interval_ms`. A change it cannot write
//! is refused, since the daemon would never see it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;

use crate::config::Config;
use crate::daemon::{DaemonError, open_store};
use crate::http::{AppState, ServiceInfo};
use crate::kill_switch::{self, KillSwitch, Role};
use crate::secrets::{SecretName, SecretsManager};
use crate::shutdown;
use crate::store::Durability;
use crate::telemetry::LogWriter;

pub async fn run(config: Config, log: LogWriter) -> Result<(), DaemonError> {
    let (trigger, mut shutdown) = shutdown::channel();
    shutdown::listen_for_signals(trigger, log.clone()).map_err(DaemonError::Signals)?;
    info!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        "Starting the tradebot dashboard"
    );
    let secrets = SecretsManager::from_process_env_in(config.secrets.dir.clone());
    let optional = |name| match secrets.load(name) {
        Ok(loaded) => Ok(Some(loaded.value)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    };
    let kill_switch_secret = optional(SecretName::KillSwitchSecret)?;
    let db_password = optional(SecretName::DbPassword)?;
    let listener = crate::http::bind("dashboard.bind", config.dashboard.bind).await?;
    let verifier = crate::daemon::kill_switch_verifier(kill_switch_secret.as_ref());
    let opening = open_store(&config, db_password, Durability::PowerLoss, &mut shutdown);
    let Some(store) = opening.await? else {
        info!(reason = "signal during start-up", "Shutdown complete");
        return Ok(());
    };
    let kill_switch = KillSwitch::new(store.clone(), store.kill_switch().await?, Role::Recorder);
    let poll = Duration::from_millis(config.kill_switch.poll_interval_ms);
    kill_switch::watch_store(kill_switch.clone(), poll, shutdown.clone());
    let state = AppState {
        info: Arc::new(ServiceInfo {
            service: "dashboard",
            mode: config.trading.mode.to_string(),
            exchange: String::new(),
            environment: String::new(),
            symbols: config.trading.symbols.clone(),
            model: crate::daemon::model_info(&config, "ma_crossover"),
        }),
        board: None,
        kill_switch,
        verifier,
        store: store.clone(),
        log: Some(log),
        started: Instant::now(),
        stale_after: Duration::from_secs(config.http.market_data_stale_s),
        request_timeout: Duration::from_millis(config.http.request_timeout_ms),
    };
    let drain = Duration::from_millis(config.http.drain_timeout_ms);
    let server = crate::http::serve(listener, state, shutdown.clone(), drain);
    shutdown.requested().await;
    let _ = server.await;
    store.close().await;
    info!(reason = "signal", "Shutdown complete");
    Ok(())
}
