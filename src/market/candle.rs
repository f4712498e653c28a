//! The candle (kline) every market-data source produces and the strategy consumes.

use rust_decimal::Decimal;

/// One closed kline of one symbol. Times are Unix milliseconds, UTC, whatever
/// unit the source used (archive files from 2025 on use microseconds; readers
/// normalise them before building a `Candle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candle {
    pub symbol: String,
    pub open_time_ms: i64,
    pub close_time_ms: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    /// Base-asset volume.
    pub volume: Decimal,
}
