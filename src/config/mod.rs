//! The daemon's configuration: the typed settings, where each value came from,
//! and the checks that keep a bad value from reaching the trading loop.
//!
//! Layers, lowest first: `config/default.toml` (the copy built into the binary
//! when the file is absent), `config/local.toml`, then environment variables.
//! Secrets are never part of the configuration; the secrets manager owns them.

mod load;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::telemetry::{LogFormat, LogSettings, Rotation};

pub use load::{ConfigSources, load};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub trading: TradingConfig,
    pub strategy: StrategyConfig,
    pub risk: RiskConfig,
    pub paper: PaperConfig,
    pub market_data: MarketDataConfig,
    pub exchange: ExchangeConfig,
    pub http: HttpConfig,
    pub dashboard: DashboardConfig,
    pub kill_switch: KillSwitchConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub secrets: SecretsConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Paper,
    Live,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Paper => "paper",
            Mode::Live => "live",
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TradingConfig {
    pub mode: Mode,
    pub symbols: Vec<String>,
    pub interval: String,
    pub order_notional: Decimal,
    pub shutdown_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    pub fast_period: usize,
    pub slow_period: usize,
    pub min_confidence: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    pub max_order_notional: Decimal,
    pub max_position_notional: Decimal,
    pub daily_loss_limit: Decimal,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaperConfig {
    pub starting_balances: BTreeMap<String, Decimal>,
    pub fee_rate: Decimal,
    pub slippage_bps: Decimal,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDataConfig {
    pub base_url: String,
    pub poll_interval_ms: u64,
    pub request_timeout_ms: u64,
    pub max_backoff_ms: u64,
}

/// Which Binance Spot the live client trades on. Production is never a
/// default: it takes `environment = "production"` written somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Testnet,
    Production,
}

impl Environment {
    /// The REST host used when `exchange.base_url` is empty.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Environment::Testnet => "https://testnet.binance.vision",
            Environment::Production => "https://api.binance.com",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Environment::Testnet => "testnet",
            Environment::Production => "production",
        })
    }
}

/// The live Binance client. Credentials are the `exchange_api_key` and
/// `exchange_api_secret` secrets, never settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    pub environment: Environment,
    /// Empty: the environment's host. Otherwise a proxy, or a fake in tests.
    pub base_url: String,
    pub recv_window_ms: u64,
    pub request_timeout_ms: u64,
    pub time_sync_interval_s: u64,
}

impl ExchangeConfig {
    /// The REST base URL actually used, without a trailing slash.
    pub fn effective_base_url(&self) -> String {
        let url = if self.base_url.is_empty() {
            self.environment.default_base_url()
        } else {
            &self.base_url
        };
        url.trim_end_matches('/').to_owned()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: std::net::SocketAddr,
    /// A request not answered within this gets 408.
    pub request_timeout_ms: u64,
    /// On shutdown, how long requests in flight may still take.
    pub drain_timeout_ms: u64,
    /// `/ready` answers 503 when the last candle arrived longer ago.
    pub market_data_stale_s: u64,
}

/// `tradebot dashboard`: the page and API on their own port, reading and
/// writing the shared database.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    pub bind: std::net::SocketAddr,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchConfig {
    /// How often the daemon reads the switch's state from the database, to
    /// see a change another process (the dashboard) made.
    pub poll_interval_ms: u64,
}

/// Where the store lives. `DATABASE_URL`, when set, wins over all of this;
/// the PostgreSQL password is the `db_password` secret, never a setting.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The embedded SQLite file, used while `host` is empty.
    pub sqlite_path: PathBuf,
    /// PostgreSQL's host; empty keeps the embedded SQLite file.
    pub host: String,
    pub port: u16,
    pub user: String,
    pub name: String,
    /// The longest one statement, or a wait for a connection, may take.
    pub timeout_ms: u64,
    /// The longest wait between retries while the database is away.
    pub max_backoff_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
    pub dir: PathBuf,
    pub rotation: Rotation,
    pub max_files: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    pub dir: PathBuf,
}

impl Config {
    pub fn log_settings(&self) -> LogSettings {
        LogSettings {
            directives: self.log.level.clone(),
            format: self.log.format,
            dir: Some(self.log.dir.clone()),
            rotation: self.log.rotation,
            max_files: self.log.max_files,
        }
    }
}

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    BuiltIn,
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::BuiltIn => f.write_str("the built-in defaults"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key {key} (from {origin}): {message}")]
    Key {
        key: String,
        origin: Origin,
        message: String,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}
