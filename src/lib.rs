//! tradebot: a crypto trading daemon for Binance Spot.
//!
//! How a candle becomes a logged trade: a market-data source ([`market`])
//! yields closed candles; a decision source ([`strategy`]) turns them into
//! decisions; the risk limits ([`trading::risk`]) vet each one; an
//! [`exchange::Exchange`] executes it inside a span that carries the trade's
//! correlation id ([`trading`]). [`telemetry`] writes every line as JSON to
//! stdout and a rolling file; [`secrets`] loads credentials; [`config`] holds
//! the settings; [`shutdown`] turns signals into a clean stop; [`daemon`]
//! wires it all for `tradebot run`. `ARCHITECTURE.md` has the full map.

pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod exchange;
pub mod http;
pub mod kill_switch;
pub mod market;
pub mod metrics;
pub mod secrets;
pub mod shutdown;
pub mod store;
pub mod strategy;
pub mod telemetry;
pub mod trading;
