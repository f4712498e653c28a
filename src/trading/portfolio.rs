//! Positions and realised profit, as the trading loop accounts for its fills.
//!
//! Cost basis is average cost, fees included: a buy adds what it cost in the
//! quote asset (notional plus fee), a sell realises its net proceeds against
//! the average cost of the quantity sold.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::exchange::{Balances, OrderReport, Side, split_symbol};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    pub quantity: Decimal,
    /// Quote asset paid for `quantity`, fees included.
    pub cost: Decimal,
}

impl Position {
    pub fn average_cost(&self) -> Decimal {
        if self.quantity.is_zero() {
            Decimal::ZERO
        } else {
            self.cost / self.quantity
        }
    }
}

#[derive(Debug, Default)]
pub struct Portfolio {
    positions: BTreeMap<String, Position>,
    pub realized_pnl: Decimal,
    /// Fees paid, by asset.
    pub fees: Balances,
    /// Realised profit of the current UTC day, for the daily loss limit.
    day: i64,
    day_pnl: Decimal,
}

impl Portfolio {
    pub fn position(&self, symbol: &str) -> Position {
        self.positions.get(symbol).cloned().unwrap_or_default()
    }

    /// Every symbol traded this run, with its position (possibly flat).
    pub fn positions(&self) -> impl Iterator<Item = (&String, &Position)> {
        self.positions.iter()
    }

    /// Realised profit of the UTC day `time_ms` falls in.
    pub fn day_pnl(&mut self, time_ms: i64) -> Decimal {
        self.roll_day(time_ms);
        self.day_pnl
    }

    fn roll_day(&mut self, time_ms: i64) {
        let day = time_ms.div_euclid(86_400_000);
        if day != self.day {
            self.day = day;
            self.day_pnl = Decimal::ZERO;
        }
    }

    /// Books a report's fills; returns the profit it realised.
    ///
    /// A fee in the quote asset is part of the cost (or comes off the
    /// proceeds); a fee in the base asset comes off the quantity held, as
    /// Binance takes a buy's fee from what was bought; a fee in a third asset
    /// (BNB) is counted in `fees` but not in the profit, which is in quote.
    pub fn apply(
        &mut self,
        symbol: &str,
        side: Side,
        report: &OrderReport,
        time_ms: i64,
    ) -> Decimal {
        self.roll_day(time_ms);
        let (base, quote) = split_symbol(symbol).unwrap_or((symbol, ""));
        let position = self.positions.entry(symbol.to_owned()).or_default();
        let mut realized = Decimal::ZERO;
        for fill in &report.fills {
            let notional = fill.price * fill.quantity;
            *self.fees.entry(fill.fee_asset.clone()).or_default() += fill.fee;
            let quote_fee = if fill.fee_asset == quote {
                fill.fee
            } else {
                Decimal::ZERO
            };
            let base_fee = if fill.fee_asset == base {
                fill.fee
            } else {
                Decimal::ZERO
            };
            match side {
                Side::Buy => {
                    position.quantity += fill.quantity - base_fee;
                    position.cost += notional + quote_fee;
                }
                Side::Sell => {
                    let sold = (fill.quantity + base_fee).min(position.quantity);
                    let basis = position.average_cost() * sold;
                    realized += notional - quote_fee - basis;
                    position.quantity -= sold;
                    position.cost -= basis;
                }
            }
        }
        if position.quantity.is_zero() {
            position.cost = Decimal::ZERO;
        }
        self.realized_pnl += realized;
        self.day_pnl += realized;
        realized
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::exchange::{Fill, OrderStatus};

    fn report(price: &str, quantity: &str, fee: &str) -> OrderReport {
        report_in(price, quantity, fee, "USDT")
    }

    fn report_in(price: &str, quantity: &str, fee: &str, fee_asset: &str) -> OrderReport {
        OrderReport {
            client_order_id: "t".into(),
            exchange_order_id: "1".into(),
            status: OrderStatus::Filled,
            fills: vec![Fill {
                price: Decimal::from_str(price).unwrap(),
                quantity: Decimal::from_str(quantity).unwrap(),
                fee: Decimal::from_str(fee).unwrap(),
                fee_asset: fee_asset.into(),
            }],
        }
    }

    #[test]
    fn a_round_trip_realises_the_price_change_less_both_fees() {
        let mut p = Portfolio::default();
        p.apply("BTCUSDT", Side::Buy, &report("100", "2", "0.2"), 0);
        assert_eq!(
            p.position("BTCUSDT").average_cost(),
            Decimal::from_str("100.1").unwrap()
        );
        let realized = p.apply("BTCUSDT", Side::Sell, &report("110", "2", "0.22"), 1);
        assert_eq!(realized, Decimal::from_str("19.58").unwrap());
        assert_eq!(p.position("BTCUSDT"), Position::default());
        assert_eq!(p.fees["USDT"], Decimal::from_str("0.42").unwrap());
    }

    #[test]
    fn the_day_pnl_resets_at_midnight_utc() {
        let mut p = Portfolio::default();
        p.apply("BTCUSDT", Side::Buy, &report("100", "1", "0"), 0);
        p.apply("BTCUSDT", Side::Sell, &report("90", "1", "0"), 1_000);
        assert_eq!(p.day_pnl(2_000), Decimal::from(-10));
        assert_eq!(p.day_pnl(86_400_000), Decimal::ZERO);
        assert_eq!(p.realized_pnl, Decimal::from(-10));
    }

    #[test]
    fn a_fee_in_the_base_asset_comes_off_the_quantity_held() {
        let mut p = Portfolio::default();
        p.apply(
            "BTCUSDT",
            Side::Buy,
            &report_in("100", "1", "0.001", "BTC"),
            0,
        );
        assert_eq!(
            p.position("BTCUSDT").quantity,
            Decimal::from_str("0.999").unwrap()
        );
        assert_eq!(p.position("BTCUSDT").cost, Decimal::from(100));
        assert_eq!(p.fees["BTC"], Decimal::from_str("0.001").unwrap());
    }

    #[test]
    fn a_fee_in_a_third_asset_is_counted_but_not_in_the_profit() {
        let mut p = Portfolio::default();
        p.apply(
            "BTCUSDT",
            Side::Buy,
            &report_in("100", "1", "0.01", "BNB"),
            0,
        );
        let realized = p.apply(
            "BTCUSDT",
            Side::Sell,
            &report_in("110", "1", "0.01", "BNB"),
            1,
        );
        assert_eq!(realized, Decimal::from(10));
        assert_eq!(p.fees["BNB"], Decimal::from_str("0.02").unwrap());
    }
}
