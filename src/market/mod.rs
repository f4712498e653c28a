//! Market data: closed candles, from Binance's public REST API ([`poller`])
//! or from kline files ([`replay`], paced by [`replayer`]).
//!
//! Sources yield only closed candles, in time order per symbol. They handle
//! their own failures: a live source retries with backoff and never ends; a
//! replay validates its files before the first candle and ends with them.

mod candle;
mod error;
mod klines_json;
pub mod poller;
pub mod replay;
pub mod replayer;

use std::future::Future;

pub use candle::{Candle, MAX_PRICE, MIN_PRICE, record_close};
pub use error::MarketDataError;
pub use klines_json::parse_klines;

/// What a source hands the trading loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketEvent {
    /// Past candles to warm the strategy up with; never traded on.
    History(Vec<Candle>),
    /// A candle that just closed: the moment to decide.
    Closed(Candle),
}

pub trait CandleSource: Send {
    /// The next event, or `None` when the source has ended.
    fn next(&mut self) -> impl Future<Output = Option<MarketEvent>> + Send;
}
