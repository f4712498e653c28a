//! The `tradebot` binary end to end: each test starts the built daemon in a
//! fresh folder with a clean environment and pins one behaviour an operator
//! relies on. Shared start-up and log-reading code is in `helpers`.
//!
//! Tests that need the real market data in `../shared/data` print why and
//! return when it is absent.

mod helpers;

#[path = "daemon/binance.rs"]
mod binance;
#[path = "daemon/binance_daemon.rs"]
mod binance_daemon;
#[path = "daemon/config.rs"]
mod config;
#[path = "daemon/container.rs"]
mod container;
#[path = "daemon/database.rs"]
mod database;
#[path = "daemon/kill_switch.rs"]
mod kill_switch;
#[path = "daemon/live_data.rs"]
mod live_data;
#[path = "daemon/replay.rs"]
mod replay;
#[path = "daemon/repo.rs"]
mod repo;
#[path = "daemon/secrets.rs"]
mod secrets;
#[path = "daemon/signals.rs"]
mod signals;
