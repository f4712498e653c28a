//! `tradebot run`: wires configuration, secrets, market data, the exchange and
//! the trading loop, and turns a stop request into a bounded, logged shutdown.

use std::time::Duration;

use tracing::{error, info};

use crate::config::{Config, Mode};
use crate::exchange::{Balances, PaperExchange, PaperSettings};
use crate::market::poller::{KlinePoller, PollerSettings};
use crate::market::replay;
use crate::market::replayer::{Replayer, Speed};
use crate::market::{Candle, CandleSource, MarketDataError};
use crate::secrets::{SecretError, SecretName, SecretsManager};
use crate::shutdown::{self, Shutdown};
use crate::strategy::{DecisionSource, MaCrossover};
use crate::telemetry::LogWriter;
use crate::trading::{EndReason, RiskLimits, RunSummary, Trader, run_loop};

/// What `tradebot run` was asked to do beyond the configuration.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Kline files to replay instead of live market data.
    pub replay: Vec<String>,
    pub speed: Speed,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    MarketData(#[from] MarketDataError),
    #[error(
        "live trading needs the Binance client, which this build does not have yet; run with trading.mode = \"paper\""
    )]
    LiveUnavailable,
    #[error(transparent)]
    Http(#[from] crate::http::BindError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("the trading loop panicked; see the Panic line above")]
    LoopPanicked,
    #[error("the replay loader panicked; see the Panic line above")]
    LoaderPanicked,
    #[error("trading stopped: {0}")]
    ExchangeFailed(String),
    #[error("shutdown timed out after {0:?} with a trade in flight; its outcome must be checked")]
    ShutdownTimedOut(Duration),
}

impl DaemonError {
    /// 2 when the daemon never started trading (bad input: a secret, a
    /// replay file, an unavailable mode), 1 when it failed while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Secret(_)
            | DaemonError::MarketData(_)
            | DaemonError::LiveUnavailable
            | DaemonError::Http(_)
            | DaemonError::Signals(_) => 2,
            DaemonError::LoopPanicked
            | DaemonError::LoaderPanicked
            | DaemonError::ExchangeFailed(_)
            | DaemonError::ShutdownTimedOut(_) => 1,
        }
    }
}

/// Runs the daemon until the market data ends or a signal stops it.
pub async fn run(config: Config, options: RunOptions, log: LogWriter) -> Result<(), DaemonError> {
    let (trigger, shutdown) = shutdown::channel();
    shutdown::listen_for_signals(trigger, log).map_err(DaemonError::Signals)?;
    run_until_stopped(config, options, shutdown).await
}

/// The body of [`run`], with the stop request injected so tests can drive it.
pub async fn run_until_stopped(
    config: Config,
    options: RunOptions,
    mut shutdown: Shutdown,
) -> Result<(), DaemonError> {
    info!(
        version = env!("CARGO_PKG_VERSION"),
        mode = %config.trading.mode,
        pid = std::process::id(),
        market_data = if options.replay.is_empty() { "live" } else { "replay" },
        "Starting tradebot"
    );
    let secrets = SecretsManager::new(config.secrets.dir.clone(), std::env::vars().collect());
    load_secrets(&secrets, config.trading.mode)?;
    if config.trading.mode == Mode::Live {
        return Err(DaemonError::LiveUnavailable);
    }
    let listener = crate::http::bind(config.http.bind).await?;
    crate::http::serve(listener, shutdown.clone());

    let strategy = MaCrossover::new(config.strategy.fast_period, config.strategy.slow_period);
    let exchange = PaperExchange::new(PaperSettings {
        starting_balances: config.paper.starting_balances.clone(),
        fee_rate: config.paper.fee_rate,
        slippage_bps: config.paper.slippage_bps,
    });
    let trader = Trader::new(
        exchange,
        strategy,
        RiskLimits::new(&config.risk),
        config.trading.order_notional,
        config.strategy.min_confidence,
    );
    let timeout = Duration::from_millis(config.trading.shutdown_timeout_ms);

    if options.replay.is_empty() {
        let history = trader.warmup_candles();
        let source = KlinePoller::new(PollerSettings {
            base_url: config.market_data.base_url.clone(),
            symbols: config.trading.symbols.clone(),
            interval: config.trading.interval.clone(),
            poll_interval: Duration::from_millis(config.market_data.poll_interval_ms),
            request_timeout: Duration::from_millis(config.market_data.request_timeout_ms),
            max_backoff: Duration::from_millis(config.market_data.max_backoff_ms),
            history,
        })?;
        info!(
            symbols = %config.trading.symbols.join(","),
            interval = %config.trading.interval,
            base_url = %config.market_data.base_url,
            "Paper trading on live market data"
        );
        drive(source, trader, &mut shutdown, timeout).await
    } else {
        let candles = load_replay(options.replay).await?;
        info!(candles = candles.len(), speed = %options.speed, "Replay started");
        drive(
            Replayer::new(candles, options.speed),
            trader,
            &mut shutdown,
            timeout,
        )
        .await
    }
}

/// Loads the secrets the mode needs (a missing one is fatal) and validates
/// the optional ones that are present (a broken one is fatal too: a secret
/// that was meant to be there must never be silently skipped).
fn load_secrets(secrets: &SecretsManager, mode: Mode) -> Result<(), SecretError> {
    for name in SecretName::ALL {
        let exchange_credential = matches!(
            name,
            SecretName::ExchangeApiKey | SecretName::ExchangeApiSecret
        );
        if exchange_credential && mode == Mode::Paper {
            // Paper mode never signs anything: leave exchange keys unread.
            continue;
        }
        match secrets.load(name) {
            Ok(_) => {}
            Err(err) if err.is_not_found() && !exchange_credential => {
                info!(
                    secret = name.as_str(),
                    "Secret not configured; features that need it stay off"
                );
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

async fn load_replay(specs: Vec<String>) -> Result<Vec<Candle>, DaemonError> {
    // Parsing is CPU and disk work; keep it off the async workers.
    let loaded = tokio::task::spawn_blocking(move || {
        specs
            .iter()
            .map(|spec| replay::load_replay_file(spec))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|_| DaemonError::LoaderPanicked)?;
    Ok(replay::merge_by_time(loaded?))
}

/// Runs the loop in its own task and stops it within `timeout` of a request.
async fn drive<S, D>(
    mut source: S,
    mut trader: Trader<PaperExchange, D>,
    shutdown: &mut Shutdown,
    timeout: Duration,
) -> Result<(), DaemonError>
where
    S: CandleSource + 'static,
    D: DecisionSource + 'static,
{
    let mut loop_shutdown = shutdown.clone();
    let mut task = tokio::spawn(async move {
        let reason = run_loop(&mut source, &mut trader, &mut loop_shutdown).await;
        (reason, trader.summary().await)
    });
    let joined = tokio::select! {
        joined = &mut task => joined,
        () = shutdown.requested() => match tokio::time::timeout(timeout, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                task.abort();
                return Err(DaemonError::ShutdownTimedOut(timeout));
            }
        },
    };
    let (reason, summary) = joined.map_err(|_| DaemonError::LoopPanicked)?;
    log_summary(&reason, &summary);
    match reason {
        EndReason::ExchangeFailed(reason) => Err(DaemonError::ExchangeFailed(reason)),
        EndReason::ShutdownRequested | EndReason::MarketDataEnded => Ok(()),
    }
}

fn log_summary(reason: &EndReason, summary: &RunSummary) {
    let stats = &summary.stats;
    let realized_pnl = summary.realized_pnl.round_dp(8);
    let fees = format_balances(&summary.fees);
    let balances = format_balances(&summary.balances);
    if *reason == EndReason::MarketDataEnded {
        info!(
            candles = stats.candles,
            trades_filled = stats.filled,
            trades_rejected = stats.rejected,
            trades_unknown = stats.unknown,
            realized_pnl = %realized_pnl,
            fees = %fees,
            balances = %balances,
            equity = %format_balances(&summary.equity),
            "Replay finished"
        );
    }
    if stats.unknown > 0 {
        error!(
            trades_unknown = stats.unknown,
            "Trades with unknown outcome need reconciling"
        );
    }
    info!(
        reason = match reason {
            EndReason::ShutdownRequested => "signal",
            EndReason::MarketDataEnded => "market data ended",
            EndReason::ExchangeFailed(_) => "exchange failure",
        },
        candles = stats.candles,
        trades_filled = stats.filled,
        trades_rejected = stats.rejected,
        realized_pnl = %realized_pnl,
        fees = %fees,
        balances = %balances,
        "Shutdown complete"
    );
}

/// `BTC=0.01 USDT=9928.1` — compact and greppable in one field.
fn format_balances(balances: &Balances) -> String {
    balances
        .iter()
        .map(|(asset, amount)| format!("{asset}={}", amount.normalize()))
        .collect::<Vec<_>>()
        .join(" ")
}
