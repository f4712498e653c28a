//! The paper exchange: fills market orders locally at the last close, with a
//! fee and slippage, against a simulated account. It never sends anything
//! over the network, signed or not.
//!
//! Fees are charged in the quote asset on both sides, which keeps the account
//! in two assets per symbol; Binance charges a buy's fee in the base asset
//! unless BNB pays it, a difference the live client reports as it comes.

use std::collections::HashMap;

use rust_decimal::{Decimal, RoundingStrategy};

use super::{
    Balances, Exchange, ExchangeError, Fill, OrderReport, OrderRequest, OrderStatus, Side,
    split_symbol,
};
use crate::market::{Candle, record_close};

/// Decimal places of paper prices and fees, as Binance spot quotes them.
const PRICE_DP: u32 = 8;
const BASIS_POINTS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

#[derive(Debug, Clone)]
pub struct PaperSettings {
    pub starting_balances: Balances,
    pub fee_rate: Decimal,
    pub slippage_bps: Decimal,
}

pub struct PaperExchange {
    settings: PaperSettings,
    balances: Balances,
    /// Last close per symbol: the price the next market order fills at.
    marks: HashMap<String, Decimal>,
    orders: HashMap<String, OrderReport>,
    next_order_id: u64,
}

impl PaperExchange {
    pub fn new(settings: PaperSettings) -> Self {
        Self {
            balances: settings.starting_balances.clone(),
            settings,
            marks: HashMap::new(),
            orders: HashMap::new(),
            next_order_id: 1,
        }
    }

    fn fill(&mut self, order: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        let reject = |reason: String| Err(ExchangeError::Rejected { reason });
        if self.orders.contains_key(&order.client_order_id) {
            return reject(format!(
                "duplicate client order id {}",
                order.client_order_id
            ));
        }
        let Some((base, quote)) = split_symbol(&order.symbol) else {
            return reject(format!("unknown symbol {}", order.symbol));
        };
        let Some(mark) = self.marks.get(&order.symbol).copied() else {
            return reject(format!("no price yet for {}", order.symbol));
        };
        if order.quantity <= Decimal::ZERO {
            return reject("quantity must be above zero".into());
        }

        let slip = mark * self.settings.slippage_bps / BASIS_POINTS;
        let price = match order.side {
            Side::Buy => mark + slip,
            Side::Sell => mark - slip,
        }
        .round_dp_with_strategy(PRICE_DP, RoundingStrategy::MidpointAwayFromZero);
        // Quote amounts settle at quote precision, rounded against the
        // account: a buy costs the higher cent, a sell earns the lower.
        let notional = (price * order.quantity).round_dp_with_strategy(
            PRICE_DP,
            match order.side {
                Side::Buy => RoundingStrategy::AwayFromZero,
                Side::Sell => RoundingStrategy::ToZero,
            },
        );
        let fee = (notional * self.settings.fee_rate)
            .round_dp_with_strategy(PRICE_DP, RoundingStrategy::AwayFromZero);

        let quote_balance = self.balances.get(quote).copied().unwrap_or_default();
        let base_balance = self.balances.get(base).copied().unwrap_or_default();
        match order.side {
            Side::Buy if quote_balance < notional + fee => {
                return reject(format!(
                    "insufficient {quote}: need {}, have {quote_balance}",
                    notional + fee
                ));
            }
            Side::Sell if base_balance < order.quantity => {
                return reject(format!(
                    "insufficient {base}: need {}, have {base_balance}",
                    order.quantity
                ));
            }
            Side::Buy => {
                *self.balances.entry(quote.into()).or_default() -= notional + fee;
                *self.balances.entry(base.into()).or_default() += order.quantity;
            }
            Side::Sell => {
                *self.balances.entry(base.into()).or_default() -= order.quantity;
                *self.balances.entry(quote.into()).or_default() += notional - fee;
            }
        }

        let report = OrderReport {
            client_order_id: order.client_order_id.clone(),
            exchange_order_id: format!("paper-{}", self.next_order_id),
            status: OrderStatus::Filled,
            fills: vec![Fill {
                price,
                quantity: order.quantity,
                fee,
                fee_asset: quote.to_owned(),
            }],
        };
        self.next_order_id += 1;
        self.orders
            .insert(order.client_order_id.clone(), report.clone());
        Ok(report)
    }
}

impl Exchange for PaperExchange {
    fn name(&self) -> &'static str {
        "paper"
    }

    fn on_candle(&mut self, candle: &Candle) {
        record_close(&mut self.marks, candle);
    }

    async fn place_market_order(
        &mut self,
        order: &OrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        self.fill(order)
    }

    async fn query_order(
        &mut self,
        _symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        Ok(self.orders.get(client_order_id).cloned())
    }

    async fn balances(&mut self) -> Result<Balances, ExchangeError> {
        Ok(self.balances.clone())
    }

    /// Nothing to cancel, ever: the paper exchange takes only market orders
    /// and fills each one in full the moment it is placed (or refuses it),
    /// so no order of its is ever left open.
    async fn cancel_open_orders(
        &mut self,
        _symbols: &[String],
    ) -> Result<Vec<String>, ExchangeError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn exchange(usdt: &str, slippage_bps: &str) -> PaperExchange {
        let mut exchange = PaperExchange::new(PaperSettings {
            starting_balances: [("USDT".to_owned(), dec(usdt))].into(),
            fee_rate: dec("0.001"),
            slippage_bps: dec(slippage_bps),
        });
        exchange.on_candle(&Candle {
            symbol: "BTCUSDT".into(),
            open_time_ms: 0,
            close_time_ms: 59_999,
            open: dec("7195.24"),
            high: dec("7196.25"),
            low: dec("7183.14"),
            close: dec("7186.68"),
            volume: dec("51.642812"),
        });
        exchange
    }

    fn order(side: Side, quantity: &str, id: &str) -> OrderRequest {
        OrderRequest {
            symbol: "BTCUSDT".into(),
            side,
            quantity: dec(quantity),
            client_order_id: id.into(),
        }
    }

    #[tokio::test]
    async fn a_buy_fills_at_the_close_and_charges_the_fee_in_quote() {
        let mut ex = exchange("10000", "0");
        let report = ex
            .place_market_order(&order(Side::Buy, "0.01", "t1"))
            .await
            .unwrap();
        let fill = &report.fills[0];
        assert_eq!(fill.price, dec("7186.68"));
        assert_eq!(fill.fee, dec("0.07186680"));
        let balances = ex.balances().await.unwrap();
        assert_eq!(balances["BTC"], dec("0.01"));
        assert_eq!(
            balances["USDT"],
            dec("10000") - dec("71.8668") - dec("0.0718668")
        );
    }

    #[tokio::test]
    async fn slippage_makes_buys_dearer_and_sells_cheaper() {
        let mut ex = exchange("10000", "10");
        let buy = ex
            .place_market_order(&order(Side::Buy, "0.01", "b"))
            .await
            .unwrap();
        let sell = ex
            .place_market_order(&order(Side::Sell, "0.01", "s"))
            .await
            .unwrap();
        assert_eq!(buy.fills[0].price, dec("7193.86668"));
        assert_eq!(sell.fills[0].price, dec("7179.49332"));
    }

    #[tokio::test]
    async fn what_the_account_cannot_afford_is_rejected_and_changes_nothing() {
        let mut ex = exchange("50", "0");
        let err = ex
            .place_market_order(&order(Side::Buy, "0.01", "t1"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("insufficient USDT"), "{err}");
        let err = ex
            .place_market_order(&order(Side::Sell, "1", "t2"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("insufficient BTC"), "{err}");
        assert_eq!(ex.balances().await.unwrap()["USDT"], dec("50"));
    }

    #[tokio::test]
    async fn a_reused_client_order_id_is_refused_and_the_first_can_be_queried() {
        let mut ex = exchange("10000", "0");
        ex.place_market_order(&order(Side::Buy, "0.001", "same"))
            .await
            .unwrap();
        assert!(
            ex.place_market_order(&order(Side::Buy, "0.001", "same"))
                .await
                .is_err()
        );
        let found = ex.query_order("BTCUSDT", "same").await.unwrap().unwrap();
        assert_eq!(found.status, OrderStatus::Filled);
        assert!(ex.query_order("BTCUSDT", "other").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_kill_switch_finds_nothing_open_and_leaves_the_account_alone() {
        let mut ex = exchange("10000", "0");
        ex.place_market_order(&order(Side::Buy, "0.01", "t1"))
            .await
            .unwrap();
        let before = ex.balances().await.unwrap();
        let cancelled = ex
            .cancel_open_orders(&["BTCUSDT".to_owned(), "ETHUSDT".to_owned()])
            .await
            .unwrap();
        assert!(cancelled.is_empty(), "{cancelled:?}");
        assert_eq!(ex.balances().await.unwrap(), before);
        let found = ex.query_order("BTCUSDT", "t1").await.unwrap().unwrap();
        assert_eq!(found.status, OrderStatus::Filled);
    }
}
