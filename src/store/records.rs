//! What the store writes and reads, as plain values. Amounts are `Decimal`;
//! times are UTC, cut to the millisecond so they read back exactly on both
//! backends (PostgreSQL keeps microseconds, the daemon's clock has more).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::exchange::{Fill, OrderStatus, Side};

/// Now, as the store keeps times.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// One daemon process.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub version: String,
    pub mode: String,
    /// `live` or `replay`.
    pub market_data: String,
    pub account: String,
    pub config_digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub decision_id: String,
    pub run_id: String,
    pub source: String,
    pub symbol: String,
    pub action: String,
    pub confidence: f64,
    pub reason: String,
    pub price: Decimal,
    pub decided_at: DateTime<Utc>,
    pub trade_id: Option<String>,
}

/// What is written before an order is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeIntent {
    pub trade_id: String,
    pub correlation_id: String,
    pub run_id: String,
    pub account: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    /// The price the decision saw (the candle's close).
    pub price: Decimal,
    pub client_order_id: String,
    pub created_at: DateTime<Utc>,
}

/// Where a trade stands. `Pending` and `Unknown` are unresolved: the order
/// may exist on the exchange, so they are reconciled, never resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    /// The intent is written; the order is being sent.
    Pending,
    /// Accepted by the exchange, nothing filled yet.
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
    /// Refused by the exchange.
    Rejected,
    /// Never reached the exchange, or the exchange confirms it is absent.
    NotSent,
    /// May have executed; the exchange could not say.
    Unknown,
}

impl TradeStatus {
    pub const UNRESOLVED: [TradeStatus; 2] = [TradeStatus::Pending, TradeStatus::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Pending => "PENDING",
            TradeStatus::New => "NEW",
            TradeStatus::PartiallyFilled => "PARTIALLY_FILLED",
            TradeStatus::Filled => "FILLED",
            TradeStatus::Canceled => "CANCELED",
            TradeStatus::Expired => "EXPIRED",
            TradeStatus::Rejected => "REJECTED",
            TradeStatus::NotSent => "NOT_SENT",
            TradeStatus::Unknown => "UNKNOWN",
        }
    }
}

impl From<OrderStatus> for TradeStatus {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::New => TradeStatus::New,
            OrderStatus::PartiallyFilled => TradeStatus::PartiallyFilled,
            OrderStatus::Filled => TradeStatus::Filled,
            OrderStatus::Canceled => TradeStatus::Canceled,
            OrderStatus::Rejected => TradeStatus::Rejected,
            OrderStatus::Expired => TradeStatus::Expired,
        }
    }
}

impl fmt::Display for TradeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TradeStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [
            TradeStatus::Pending,
            TradeStatus::New,
            TradeStatus::PartiallyFilled,
            TradeStatus::Filled,
            TradeStatus::Canceled,
            TradeStatus::Expired,
            TradeStatus::Rejected,
            TradeStatus::NotSent,
            TradeStatus::Unknown,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or(())
    }
}

/// What is written once the order's fate is known (or known to be unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct TradeResult {
    pub trade_id: String,
    pub status: TradeStatus,
    /// Why it was rejected, not sent or unknown.
    pub reason: Option<String>,
    pub exchange_order_id: Option<String>,
    pub fills: Vec<Fill>,
    pub updated_at: DateTime<Utc>,
}

/// A trade as stored, with its fills: one line of `tradebot trades`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeRecord {
    pub trade_id: String,
    pub correlation_id: String,
    pub run_id: String,
    pub account: String,
    pub symbol: String,
    pub side: String,
    pub quantity: Decimal,
    pub price: Decimal,
    pub status: TradeStatus,
    pub status_reason: Option<String>,
    pub client_order_id: String,
    pub exchange_order_id: Option<String>,
    pub executed_quantity: Option<Decimal>,
    pub average_price: Option<Decimal>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub fills: Vec<FillRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FillRecord {
    pub price: Decimal,
    pub quantity: Decimal,
    pub fee: Decimal,
    pub fee_asset: String,
}

impl From<&Fill> for FillRecord {
    fn from(fill: &Fill) -> Self {
        FillRecord {
            price: fill.price,
            quantity: fill.quantity,
            fee: fill.fee,
            fee_asset: fill.fee_asset.clone(),
        }
    }
}

/// Which trades `tradebot trades` shows.
#[derive(Debug, Clone, Default)]
pub struct TradeFilter {
    /// `paper`, `replay`, `binance-testnet`, `binance`.
    pub account: Option<String>,
    pub symbol: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KillSwitchAction {
    Activate,
    Deactivate,
}

/// Who flipped the kill switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KillSwitchSource {
    Http,
    Cli,
    Risk,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillSwitchEvent {
    pub event_id: String,
    pub action: KillSwitchAction,
    pub reason: String,
    pub source: KillSwitchSource,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl KillSwitchEvent {
    pub fn is_active(&self) -> bool {
        self.action == KillSwitchAction::Activate
    }
}

impl KillSwitchAction {
    pub fn as_str(self) -> &'static str {
        match self {
            KillSwitchAction::Activate => "activate",
            KillSwitchAction::Deactivate => "deactivate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "activate" => Some(KillSwitchAction::Activate),
            "deactivate" => Some(KillSwitchAction::Deactivate),
            _ => None,
        }
    }
}

impl KillSwitchSource {
    pub fn as_str(self) -> &'static str {
        match self {
            KillSwitchSource::Http => "http",
            KillSwitchSource::Cli => "cli",
            KillSwitchSource::Risk => "risk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(KillSwitchSource::Http),
            "cli" => Some(KillSwitchSource::Cli),
            "risk" => Some(KillSwitchSource::Risk),
            _ => None,
        }
    }
}

/// A position as stored: quantity and the average price paid for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionRecord {
    pub symbol: String,
    pub quantity: Decimal,
    pub average_cost: Decimal,
}
