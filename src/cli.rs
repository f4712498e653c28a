//! Command-line interface. `tradebot` with no command runs the daemon.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Mode;
use crate::market::replayer::Speed;

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

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "paper" => Ok(Mode::Paper),
        "live" => Ok(Mode::Live),
        _ => Err(format!("mode must be paper or live, got {s:?}")),
    }
}
