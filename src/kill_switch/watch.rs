//! Picks up kill-switch events other processes wrote (the dashboard, the
//! CLI against the dashboard) by polling the store: simple, and the same on
//! SQLite and PostgreSQL. A poll is one indexed single-row query.

use std::sync::Arc;
use std::time::Duration;

use tracing::debug;

use super::KillSwitch;
use crate::shutdown::Shutdown;
use crate::telemetry::error_chain;

/// Polls every `interval` until shutdown. A database that does not answer
/// changes nothing: the switch keeps its last known state.
pub fn watch_store(kill_switch: Arc<KillSwitch>, interval: Duration, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.requested() => return,
                _ = ticker.tick() => {}
            }
            match kill_switch.store.kill_switch().await {
                Ok(stored) => kill_switch.sync_with(stored).await,
                Err(err) => debug!(error = %error_chain(&err), "Kill-switch poll failed"),
            }
        }
    });
}
