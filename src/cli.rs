//! Command-line interface. `tradebot` with no command runs the daemon.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Mode;
use crate::market::replayer::Speed;
use crate::secrets::SecretName;

#[derive(Debug, Parser)]
#[command(
    name = "tradebot",
    version,
    about = "A crypto trading daemon for Binance Spot"
)]
pub struct Cli {
    /// Folder holding default.toml and the optional local.toml.
    #[arg(
        long,
        global = true,
        env = "TRADEBOT_CONFIG_DIR",
        default_value = "config"
    )]
    pub config_dir: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default): market data, decisions, risk, orders.
    Run(RunArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create or check the secret files.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Ask the running daemon whether it is healthy (the container's
    /// HEALTHCHECK); exits 0 when it answers.
    Healthcheck(HealthcheckArgs),
    /// Print recent trades from the database, oldest first, one JSON object
    /// per line (for jq), each with its fills and correlation_id.
    Trades(TradesArgs),
    /// Manage the database.
    #[command(subcommand)]
    Db(DbCommand),
    /// Serve the dashboard page and the API on dashboard.bind, from the
    /// shared database (the compose `dashboard` service).
    Dashboard,
    /// Stop or resume trading, signed with the kill_switch_secret.
    #[command(subcommand, name = "kill-switch")]
    KillSwitch(KillSwitchCommand),
}

#[derive(Debug, Subcommand)]
pub enum KillSwitchCommand {
    /// Stop every new order now (and cancel open ones).
    Activate(KillSwitchFlipArgs),
    /// Let trading resume.
    Deactivate(KillSwitchFlipArgs),
    /// Show the kill switch's state.
    Status(KillSwitchUrlArgs),
}

#[derive(Debug, clap::Args)]
pub struct KillSwitchFlipArgs {
    /// Why: recorded with the event and logged.
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub target: KillSwitchUrlArgs,
}

#[derive(Debug, clap::Args)]
pub struct KillSwitchUrlArgs {
    /// The daemon's (or dashboard's) base URL; by default the configured
    /// http.bind.
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the schema migrations the database has not seen (the daemon
    /// also applies them when it starts).
    Migrate,
}

#[derive(Debug, clap::Args)]
pub struct TradesArgs {
    /// Only this symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only this account: paper, replay, binance-testnet or binance.
    #[arg(long)]
    pub account: Option<String>,
    /// Only trades created at or after this RFC 3339 time or UTC date.
    #[arg(long, value_parser = crate::commands::database::parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// The most recent this many.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create the secrets folder (0700) and each missing file (0600), and
    /// write TRADEBOT_UID/TRADEBOT_GID to .env for docker compose.
    Init(SecretsInitArgs),
    /// For each secret: where it would be loaded from, whether this user can
    /// read it, its owner and mode, and any warning. Never a value.
    Check,
}

#[derive(Debug, clap::Args)]
pub struct SecretsInitArgs {
    /// Folder to create the secret files in.
    #[arg(long, default_value = "secrets")]
    pub dir: PathBuf,
    /// Where to write TRADEBOT_UID and TRADEBOT_GID.
    #[arg(long, default_value = ".env")]
    pub env_file: PathBuf,
    /// Ask nothing: take EXCHANGE_API_KEY and EXCHANGE_API_SECRET from the
    /// environment, or leave those two out.
    #[arg(long)]
    pub non_interactive: bool,
    /// Replace this existing secret (repeatable).
    #[arg(long, value_name = "NAME", value_parser = parse_secret_name)]
    pub force: Vec<SecretName>,
}

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// Ask this URL instead of the configured http.bind.
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

#[derive(Debug, Default, clap::Args)]
pub struct RunArgs {
    /// Override trading.mode.
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<Mode>,

    /// Replay Binance kline CSV files (plain or .gz) instead of live data.
    /// The symbol comes from the file name, or give it as SYMBOL=PATH.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub replay: Vec<String>,

    /// Replay speed: "max", or a factor of market time (60 plays a 1m
    /// candle per second).
    #[arg(long, default_value = "max", requires = "replay")]
    pub speed: Speed,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as JSON, secrets redacted, with
    /// where each secret would be loaded from.
    Check,
}

fn parse_secret_name(s: &str) -> Result<SecretName, String> {
    SecretName::ALL
        .into_iter()
        .find(|n| n.as_str() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = SecretName::ALL.iter().map(|n| n.as_str()).collect();
            format!("unknown secret {s:?}; one of {}", names.join(", "))
        })
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "paper" => Ok(Mode::Paper),
        "live" => Ok(Mode::Live),
        _ => Err(format!("mode must be paper or live, got {s:?}")),
    }
}
