//! The daemon's HTTP API: bound early (a taken port stops the start), served
//! once the trader exists, with the kill switch it guards orders with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::net::TcpListener;
use tracing::error;

use crate::config::{Config, Environment, Mode};
use crate::exchange::Exchange;
use crate::http::{AppState, ServiceInfo};
use crate::kill_switch::auth::{MIN_SECRET_BYTES, Verifier};
use crate::kill_switch::{self, KillSwitch};
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::strategy::DecisionSource;
use crate::telemetry::LogWriter;
use crate::trading::Trader;

pub(super) struct Api {
    pub listener: TcpListener,
    pub verifier: Option<Arc<Verifier>>,
    pub log: LogWriter,
}

/// The kill switch's request checker, or `None` (and an ERROR) when there
/// is no secret to check against: the endpoints then refuse everything,
/// never falling back to a default.
pub(crate) fn verifier(secret: Option<&SecretString>) -> Option<Arc<Verifier>> {
    let Some(secret) = secret else {
        error!(
            "No kill_switch_secret: the kill-switch endpoints refuse every request. Create one with `tradebot secrets init`"
        );
        return None;
    };
    let verifier = Verifier::new(secret.expose_secret());
    if verifier.is_none() {
        error!(
            min_bytes = MIN_SECRET_BYTES,
            "kill_switch_secret is too short: the kill-switch endpoints refuse every request. Replace it with `tradebot secrets init --force kill_switch_secret`"
        );
    }
    verifier.map(Arc::new)
}

/// The decision source and its parameters, for `/api/v1/ml/models`.
pub(crate) fn model_info(config: &Config, name: &str) -> serde_json::Value {
    json!({
        "name": name,
        "description": "Simple moving-average crossover: buy when the fast average crosses above the slow one, sell when it crosses below",
        "parameters": {
            "fast_period": config.strategy.fast_period,
            "slow_period": config.strategy.slow_period,
            "min_confidence": config.strategy.min_confidence,
        },
    })
}

impl Api {
    /// Serves the API and starts following kill-switch events written by
    /// other processes.
    pub fn start<E: Exchange, D: DecisionSource>(
        self,
        config: &Config,
        trader: &Trader<E, D>,
        store: &Store,
        shutdown: &Shutdown,
    ) {
        let kill_switch: Arc<KillSwitch> = trader
            .kill_switch()
            .expect("the daemon's trader is always guarded by a kill switch");
        kill_switch::watch_store(
            kill_switch.clone(),
            Duration::from_millis(config.kill_switch.poll_interval_ms),
            shutdown.clone(),
        );
        let environment = match (config.trading.mode, config.exchange.environment) {
            (Mode::Paper, _) => "paper",
            (Mode::Live, Environment::Testnet) => "testnet",
            (Mode::Live, Environment::Production) => "production",
        };
        let state = AppState {
            info: Arc::new(ServiceInfo {
                service: "trading-bot",
                mode: config.trading.mode.to_string(),
                exchange: trader.exchange_name().to_owned(),
                environment: environment.to_owned(),
                symbols: config.trading.symbols.clone(),
                model: model_info(config, trader.strategy_name()),
            }),
            board: Some(trader.board()),
            kill_switch,
            verifier: self.verifier,
            store: store.clone(),
            log: Some(self.log),
            started: Instant::now(),
            stale_after: Duration::from_secs(config.http.market_data_stale_s),
            request_timeout: Duration::from_millis(config.http.request_timeout_ms),
        };
        crate::http::serve(
            self.listener,
            state,
            shutdown.clone(),
            Duration::from_millis(config.http.drain_timeout_ms),
        );
    }
}
