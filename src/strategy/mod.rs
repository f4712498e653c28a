//! Decision sources: what to do with a symbol after each closed candle.
//!
//! A source only decides; it never sizes, checks risk or sends orders. New
//! sources (a model server, a rules engine) implement [`DecisionSource`].

mod ma_crossover;

use std::fmt;

use crate::market::Candle;

pub use ma_crossover::MaCrossover;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Buy,
    Sell,
    Hold,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Buy => "BUY",
            Action::Sell => "SELL",
            Action::Hold => "HOLD",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TradingDecision {
    pub symbol: String,
    pub action: Action,
    /// How sure the source is, from 0 to 1. Not money, so a float.
    pub confidence: f64,
    /// Why, in words an operator can read in the log.
    pub reason: String,
}

pub trait DecisionSource: Send {
    /// A short name for logs and the API.
    fn name(&self) -> &'static str;

    /// Closed candles the source needs before its first real decision.
    fn warmup_candles(&self) -> usize;

    /// Takes the next closed candle of `candle.symbol` and decides.
    fn on_candle(&mut self, candle: &Candle) -> TradingDecision;
}
