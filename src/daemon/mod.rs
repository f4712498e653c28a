//! `tradebot run`: wires configuration, secrets, market data, the exchange and
//! the trading loop, and turns a stop request into a bounded, logged shutdown.

mod api;
mod records;
mod summary;

pub(crate) use api::{model_info, verifier as kill_switch_verifier};
pub(crate) use records::open_store;

use std::future::Future;
use std::time::Duration;

use tracing::{info, warn};

use crate::config::{Config, Environment, Mode};
use crate::exchange::binance::{
    BinanceError, BinanceExchange, BinanceSettings, ClientSettings, Credentials, RestClient,
};
use crate::exchange::{Exchange, PaperExchange, PaperSettings};
use crate::kill_switch::{self, KillSwitch};
use crate::market::poller::{KlinePoller, PollerSettings};
use crate::market::replay;
use crate::market::replayer::{Replayer, Speed};
use crate::market::{Candle, CandleSource, MarketDataError};
use crate::secrets::{SecretError, SecretName, SecretsManager};
use crate::shutdown::{self, Shutdown};
use crate::store::{Durability, Store, StoreError};
use crate::strategy::{DecisionSource, MaCrossover};
use crate::telemetry::LogWriter;
use crate::trading::{EndReason, Recorder, RiskLimits, Trader, run_loop};
use secrecy::SecretString;
use summary::log_summary;

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
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("live trading needs live market data; --replay runs only in paper mode")]
    LiveReplay,
    /// The exchange could not be reached, refused the credentials, or lacks
    /// a traded symbol, before the first candle.
    #[error("cannot start trading on binance at {base_url}")]
    ExchangeStart {
        base_url: String,
        #[source]
        source: BinanceError,
    },
    #[error(transparent)]
    Http(#[from] crate::http::BindError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("the trading loop panicked; see the Panic line above")]
    LoopPanicked,
    #[error("a start-up loader panicked; see the Panic line above")]
    LoaderPanicked,
    #[error("trading stopped: {0}")]
    ExchangeFailed(String),
    #[error("shutdown timed out after {0:?} with a trade in flight; its outcome must be checked")]
    ShutdownTimedOut(Duration),
}

impl DaemonError {
    /// 2 when the daemon never started trading (bad input: a secret, a
    /// replay file, an exchange that refused or could not be reached at
    /// start), 1 when it failed while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Secret(_)
            | DaemonError::MarketData(_)
            | DaemonError::Store(_)
            | DaemonError::LiveReplay
            | DaemonError::ExchangeStart { .. }
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
    shutdown::listen_for_signals(trigger, log.clone()).map_err(DaemonError::Signals)?;
    run_until_stopped(config, options, shutdown, log).await
}

/// The body of [`run`], with the stop request injected.
async fn run_until_stopped(
    config: Config,
    options: RunOptions,
    mut shutdown: Shutdown,
    log: LogWriter,
) -> Result<(), DaemonError> {
    info!(
        version = env!("CARGO_PKG_VERSION"),
        mode = %config.trading.mode,
        pid = std::process::id(),
        market_data = if options.replay.is_empty() { "live" } else { "replay" },
        "Starting tradebot"
    );
    if config.trading.mode == Mode::Live && !options.replay.is_empty() {
        return Err(DaemonError::LiveReplay);
    }
    // Reading a secret can block (a FIFO, a hung network mount): do it off
    // the runtime so a stop request is still heard.
    let (mode, secrets_dir) = (config.trading.mode, config.secrets.dir.clone());
    let loading = tokio::task::spawn_blocking(move || {
        load_secrets(&SecretsManager::from_process_env_in(secrets_dir), mode)
    });
    let secrets = match until_stopped(&mut shutdown, loading).await {
        Some(loaded) => loaded.map_err(|_| DaemonError::LoaderPanicked)??,
        None => return stopped_during_start_up(),
    };
    // A backtest's record can be made again, and it commits thousands of
    // times a second: it need not survive a power cut, only a crash.
    let durability = match options.replay.is_empty() {
        true => Durability::PowerLoss,
        false => Durability::ProcessCrash,
    };
    let opening = records::open_store(&config, secrets.db_password, durability, &mut shutdown);
    let store = match opening.await? {
        Some(store) => store,
        None => return stopped_during_start_up(),
    };
    // A replay is a backtest: it serves no API, and leaving the port alone
    // lets it run beside a live daemon.
    let api = if options.replay.is_empty() {
        Some(api::Api {
            listener: crate::http::bind("http.bind", config.http.bind).await?,
            verifier: api::verifier(secrets.kill_switch_secret.as_ref()),
            log,
        })
    } else {
        None
    };
    let result = trade(
        config,
        options,
        secrets.credentials,
        &store,
        api,
        &mut shutdown,
    )
    .await;
    store.close().await;
    result
}

/// Everything after the store is open: the exchange, the market data, the
/// API and the loop.
async fn trade(
    config: Config,
    options: RunOptions,
    credentials: Option<Credentials>,
    store: &Store,
    api: Option<api::Api>,
    shutdown: &mut Shutdown,
) -> Result<(), DaemonError> {
    let timeout = Duration::from_millis(config.trading.shutdown_timeout_ms);

    if config.trading.mode == Mode::Live {
        // Checked by load_secrets: live mode fails there without both.
        let credentials = credentials.expect("live mode loads both exchange credentials");
        let settings = BinanceSettings::from_config(&config);
        let base_url = settings.client.base_url.clone();
        match config.exchange.environment {
            Environment::Production => {
                warn!(base_url = %base_url, "Trading on Binance production");
            }
            Environment::Testnet => info!(base_url = %base_url, "Trading on Binance testnet"),
        }
        let connecting = BinanceExchange::connect(settings, &credentials);
        let exchange = match until_stopped(shutdown, connecting).await {
            Some(connected) => {
                connected.map_err(|source| DaemonError::ExchangeStart { base_url, source })?
            }
            None => return stopped_during_start_up(),
        };
        let client = exchange.client();
        let trader = new_trader(&config, exchange, store, "live").await?;
        if let Some(api) = api {
            api.start(&config, &trader, store, shutdown);
        }
        return trade_on_live_data(&config, trader, client, shutdown, timeout).await;
    }

    let exchange = PaperExchange::new(PaperSettings {
        starting_balances: config.paper.starting_balances.clone(),
        fee_rate: config.paper.fee_rate,
        slippage_bps: config.paper.slippage_bps,
    });
    if options.replay.is_empty() {
        let trader = new_trader(&config, exchange, store, "live").await?;
        if let Some(api) = api {
            api.start(&config, &trader, store, shutdown);
        }
        let client = RestClient::public(ClientSettings {
            base_url: config.market_data.base_url.trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_millis(config.market_data.request_timeout_ms),
            recv_window_ms: config.exchange.recv_window_ms,
            time_sync_interval: Duration::from_secs(config.exchange.time_sync_interval_s),
        })
        .map_err(|source| DaemonError::ExchangeStart {
            base_url: config.market_data.base_url.clone(),
            source,
        })?;
        trade_on_live_data(&config, trader, client, shutdown, timeout).await
    } else {
        let candles = match until_stopped(shutdown, load_replay(options.replay)).await {
            Some(loaded) => loaded?,
            None => return stopped_during_start_up(),
        };
        let trader = new_trader(&config, exchange, store, "replay").await?;
        info!(candles = candles.len(), speed = %options.speed, "Replay started");
        drive(
            Replayer::new(candles, options.speed),
            trader,
            shutdown,
            timeout,
        )
        .await
    }
}

/// Awaits `work` unless a stop is requested first.
async fn until_stopped<T>(shutdown: &mut Shutdown, work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        () = shutdown.requested() => None,
        done = work => Some(done),
    }
}

/// The clean end of a run stopped before it traded.
fn stopped_during_start_up() -> Result<(), DaemonError> {
    info!(
        reason = "signal during start-up",
        trades_filled = 0u64,
        "Shutdown complete"
    );
    Ok(())
}

/// Builds the trader on its own record: opens the run, honours an active
/// kill switch, and reconciles what earlier runs left unresolved.
async fn new_trader<E: Exchange>(
    config: &Config,
    exchange: E,
    store: &Store,
    market_data: &str,
) -> Result<Trader<E, MaCrossover>, DaemonError> {
    // A replay is a backtest: its trades are kept apart from paper trading
    // on live data, and reconciling one never touches the other.
    let account = match market_data {
        "replay" => "replay",
        _ => exchange.name(),
    };
    let run_id = records::start_run(store, config, market_data, account).await?;
    let recorder = Recorder::new(
        store.clone(),
        run_id,
        account.to_owned(),
        Duration::from_millis(config.database.max_backoff_ms),
    );
    let mut trader = Trader::new(
        exchange,
        MaCrossover::new(config.strategy.fast_period, config.strategy.slow_period),
        RiskLimits::new(&config.risk),
        config.trading.order_notional,
        config.strategy.min_confidence,
        recorder,
    );
    // The kill switch guards orders that reach an exchange, simulated or
    // not, on live data; a backtest sends none, so it runs regardless.
    if market_data == "live" {
        let kill_switch = KillSwitch::new(
            store.clone(),
            records::kill_switch(store).await?,
            kill_switch::Role::Trader,
        );
        trader = trader.with_kill_switch(kill_switch);
    }
    trader.reconcile_unresolved().await;
    // The API's status and the record show the holdings from the start.
    trader.save_holdings().await;
    Ok(trader)
}

/// Polls klines through `client` (the exchange's own in live mode, so both
/// share one rate-limit gate) and trades on them.
async fn trade_on_live_data<E: Exchange + 'static>(
    config: &Config,
    trader: Trader<E, MaCrossover>,
    client: RestClient,
    shutdown: &mut Shutdown,
    timeout: Duration,
) -> Result<(), DaemonError> {
    let history = trader.warmup_candles();
    let base_url = client.base_url().to_owned();
    let source = KlinePoller::new(
        PollerSettings {
            symbols: config.trading.symbols.clone(),
            interval: config.trading.interval.clone(),
            poll_interval: Duration::from_millis(config.market_data.poll_interval_ms),
            max_backoff: Duration::from_millis(config.market_data.max_backoff_ms),
            history,
        },
        client,
    );
    let message = match config.trading.mode {
        Mode::Paper => "Paper trading on live market data",
        Mode::Live => "Live trading on Binance market data",
    };
    info!(
        symbols = %config.trading.symbols.join(","),
        interval = %config.trading.interval,
        base_url = %base_url,
        "{message}"
    );
    drive(source, trader, shutdown, timeout).await
}

/// The secrets a run uses, each loaded once.
struct RunSecrets {
    /// Both exchange credentials, in live mode.
    credentials: Option<Credentials>,
    db_password: Option<SecretString>,
    kill_switch_secret: Option<SecretString>,
}

/// Loads the secrets the mode needs (a missing one is fatal) and validates
/// the optional ones that are present (a broken one is fatal too: a secret
/// that was meant to be there must never be silently skipped).
fn load_secrets(secrets: &SecretsManager, mode: Mode) -> Result<RunSecrets, SecretError> {
    let (mut api_key, mut api_secret) = (None, None);
    let (mut db_password, mut kill_switch_secret) = (None, None);
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
            Ok(loaded) => match name {
                SecretName::ExchangeApiKey => api_key = Some(loaded.value),
                SecretName::ExchangeApiSecret => api_secret = Some(loaded.value),
                SecretName::DbPassword => db_password = Some(loaded.value),
                SecretName::KillSwitchSecret => kill_switch_secret = Some(loaded.value),
            },
            Err(err) if err.is_not_found() && !exchange_credential => {
                info!(
                    secret = name.as_str(),
                    "Secret not configured; features that need it stay off"
                );
            }
            Err(err) => return Err(err),
        }
    }
    let credentials = api_key
        .zip(api_secret)
        .map(|(api_key, api_secret)| Credentials {
            api_key,
            api_secret,
        });
    Ok(RunSecrets {
        credentials,
        db_password,
        kill_switch_secret,
    })
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
    let files = loaded?;
    replay::check_no_overlap(&files)?;
    Ok(replay::merge_by_time(files))
}

/// Runs the loop in its own task and stops it within `timeout` of a request.
async fn drive<S, E, D>(
    mut source: S,
    mut trader: Trader<E, D>,
    shutdown: &mut Shutdown,
    timeout: Duration,
) -> Result<(), DaemonError>
where
    S: CandleSource + 'static,
    E: Exchange + 'static,
    D: DecisionSource + 'static,
{
    let mut loop_shutdown = shutdown.clone();
    let mut task = tokio::spawn(async move {
        let reason = run_loop(&mut source, &mut trader, &mut loop_shutdown).await;
        let summary = trader.finish(&reason).await;
        (reason, summary)
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
