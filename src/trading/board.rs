//! What the trading loop last saw, for the HTTP API: balances, positions,
//! profit, counts and each symbol's latest candle. The loop writes it (a
//! short lock per candle); the API reads a copy.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Instant;

use rust_decimal::Decimal;

use super::TradeStats;
use crate::exchange::Balances;
use crate::store::PositionRecord;

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub balances: Balances,
    pub positions: Vec<PositionRecord>,
    pub realized_pnl: Decimal,
    pub stats: TradeStats,
    /// Per symbol: the latest closed candle's close time (Unix ms) and price.
    pub last_candle: BTreeMap<String, (i64, Decimal)>,
    /// When the loop last received market data.
    pub market_data_at: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct StatusBoard {
    snapshot: RwLock<Snapshot>,
}

impl StatusBoard {
    pub fn snapshot(&self) -> Snapshot {
        self.read(Snapshot::clone)
    }

    pub fn read<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> T {
        // A panic elsewhere while writing leaves a usable snapshot.
        f(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut self.snapshot.write().unwrap_or_else(|p| p.into_inner()));
    }
}
