//! The candle (kline) every market-data source produces and the strategy consumes.

use std::collections::HashMap;

use rust_decimal::Decimal;

/// The range a traded price may fall in. Binance spot ticks go down to 1e-8,
/// and nothing trades near a trillion; outside this range a value is a data
/// error, and letting it through would let the paper exchange fill at a price
/// that rounds to zero or overflow the strategy's sums.
pub const MIN_PRICE: Decimal = Decimal::from_parts(1, 0, 0, false, 8);
pub const MAX_PRICE: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);
/// 2100-01-01T00:00:00Z in milliseconds: later open times are garbage.
const MAX_TIME_MS: i64 = 4_102_444_800_000;

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

/// Records a candle's close as its symbol's latest price, in place: on the
/// trading loop's path, so the symbol key is allocated once, not per candle.
pub fn record_close(latest: &mut HashMap<String, Decimal>, candle: &Candle) {
    match latest.get_mut(&candle.symbol) {
        Some(price) => *price = candle.close,
        None => {
            latest.insert(candle.symbol.clone(), candle.close);
        }
    }
}

impl Candle {
    /// Checks what a parser alone cannot: prices in [`MIN_PRICE`, `MAX_PRICE`],
    /// open and close inside the low–high range, a plausible time. Returns
    /// the offending column and what is wrong with it.
    pub fn check_plausible(&self) -> Result<(), (&'static str, String)> {
        for (column, price) in [
            ("open", self.open),
            ("high", self.high),
            ("low", self.low),
            ("close", self.close),
        ] {
            if !(MIN_PRICE..=MAX_PRICE).contains(&price) {
                return Err((
                    column,
                    format!("price {price} is outside {MIN_PRICE} to {MAX_PRICE}"),
                ));
            }
        }
        if self.high < self.low {
            return Err((
                "high",
                format!("high {} is below low {}", self.high, self.low),
            ));
        }
        for (column, price) in [("open", self.open), ("close", self.close)] {
            if price < self.low || price > self.high {
                return Err((
                    column,
                    format!(
                        "{column} {price} is outside the bar's range {} to {}",
                        self.low, self.high
                    ),
                ));
            }
        }
        if self.open_time_ms > MAX_TIME_MS {
            return Err((
                "open_time",
                format!("open time {} is after the year 2100", self.open_time_ms),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn candle(open: &str, high: &str, low: &str, close: &str) -> Candle {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        Candle {
            symbol: "BTCUSDT".into(),
            open_time_ms: 0,
            close_time_ms: 59_999,
            open: d(open),
            high: d(high),
            low: d(low),
            close: d(close),
            volume: Decimal::ONE,
        }
    }

    #[test]
    fn the_price_range_constants_are_what_they_claim() {
        assert_eq!(MIN_PRICE.to_string(), "0.00000001");
        assert_eq!(MAX_PRICE.to_string(), "1000000000000");
    }

    #[test]
    fn a_real_bar_is_plausible() {
        assert!(
            candle("7195.24", "7196.25", "7183.14", "7186.68")
                .check_plausible()
                .is_ok()
        );
    }

    #[test]
    fn implausible_bars_name_the_column() {
        assert_eq!(
            candle("1", "1", "1e-27", "1")
                .check_plausible()
                .unwrap_err()
                .0,
            "low"
        );
        assert_eq!(
            candle("1", "1", "1", "5").check_plausible().unwrap_err().0,
            "close"
        );
        assert_eq!(
            candle("2", "1", "1", "1").check_plausible().unwrap_err().0,
            "open"
        );
        let huge = "79228162514264337593543950335";
        assert_eq!(
            candle(huge, huge, huge, huge)
                .check_plausible()
                .unwrap_err()
                .0,
            "open"
        );
    }
}
