//! Order execution. [`Exchange`] is what the trading loop talks to; the paper
//! exchange implements it here, the Binance client next to it.
//!
//! The types carry what a real exchange reports: our client order id (the
//! trade's `trade_id`), the exchange's order id, fills with their fees, and an
//! outcome that can be *unknown*. An unknown outcome is never treated as a
//! failure: the order may have executed, so it is queried, never re-sent
//! blindly.

pub mod binance;
mod paper;
mod symbol;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::market::Candle;

pub use paper::{PaperExchange, PaperSettings};
pub use symbol::split_symbol;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        })
    }
}

/// A market order. `client_order_id` is the trade's `trade_id`, so the order
/// can be found again after a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    pub client_order_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Rejected,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub price: Decimal,
    pub quantity: Decimal,
    pub fee: Decimal,
    pub fee_asset: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReport {
    pub client_order_id: String,
    pub exchange_order_id: String,
    pub status: OrderStatus,
    pub fills: Vec<Fill>,
}

impl OrderReport {
    pub fn executed_quantity(&self) -> Decimal {
        self.fills.iter().map(|f| f.quantity).sum()
    }

    /// Quote-asset value of the fills, before fees.
    pub fn executed_notional(&self) -> Decimal {
        self.fills.iter().map(|f| f.price * f.quantity).sum()
    }

    /// Volume-weighted fill price, if anything filled.
    pub fn average_price(&self) -> Option<Decimal> {
        let quantity = self.executed_quantity();
        (!quantity.is_zero()).then(|| self.executed_notional() / quantity)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The exchange refused the order; nothing was placed. Final.
    #[error("order rejected: {reason}")]
    Rejected { reason: String },
    /// The request may or may not have executed (timeout, 5xx). Query the
    /// order by its client id before doing anything else.
    #[error("order outcome unknown: {reason}")]
    OutcomeUnknown { reason: String },
    /// Too many requests; nothing was placed. Wait `retry_after`.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The request never reached the exchange (connection refused, DNS).
    #[error("exchange unreachable: {reason}")]
    Unreachable { reason: String },
    /// Trading is halted for a while (an IP ban after too many requests);
    /// nothing was sent. Orders resume by themselves when it ends.
    #[error("trading halted: {reason}")]
    Halted { reason: String },
    /// Something only a person can fix (a signing bug, a clock that stays
    /// out of the exchange's window): the daemon stops trading and exits.
    #[error("exchange failure that needs a person: {reason}")]
    Fatal { reason: String },
}

/// Balances by asset.
pub type Balances = BTreeMap<String, Decimal>;

pub trait Exchange: Send {
    /// `paper`, `binance-testnet`, `binance`: for logs.
    fn name(&self) -> &'static str;

    /// Sees every closed candle; the paper exchange prices its fills from it.
    fn on_candle(&mut self, _candle: &Candle) {}

    fn place_market_order(
        &mut self,
        order: &OrderRequest,
    ) -> impl Future<Output = Result<OrderReport, ExchangeError>> + Send;

    /// Looks an order up by our client id: `Ok(None)` means the exchange
    /// confirms it does not exist.
    fn query_order(
        &mut self,
        symbol: &str,
        client_order_id: &str,
    ) -> impl Future<Output = Result<Option<OrderReport>, ExchangeError>> + Send;

    fn balances(&mut self) -> impl Future<Output = Result<Balances, ExchangeError>> + Send;

    /// Cancels every open order of ours on `symbols` (the kill switch).
    /// Returns the client order ids cancelled; none open is `Ok(vec![])`.
    fn cancel_open_orders(
        &mut self,
        symbols: &[String],
    ) -> impl Future<Output = Result<Vec<String>, ExchangeError>> + Send;
}
