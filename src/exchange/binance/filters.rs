//! A symbol's exchange filters from `exchangeInfo`, applied before an order
//! is sent.
//!
//! Owns: rounding a quantity down to the lot step and a price to the tick, on
//! `Decimal`, and refusing what Binance would refuse (with a reason naming the
//! filter), so a doomed order never costs a request. Must never: round a
//! quantity up (that could spend more than the trade decided), or fail on a
//! filter type it does not know (Binance adds them; they are ignored here and
//! enforced by the exchange).

use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "filterType")]
pub enum Filter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        min_price: Decimal,
        max_price: Decimal,
        tick_size: Decimal,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional {
        min_notional: Decimal,
        #[serde(default = "yes")]
        apply_to_market: bool,
    },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional {
        min_notional: Decimal,
        #[serde(default = "yes")]
        apply_min_to_market: bool,
        max_notional: Option<Decimal>,
        #[serde(default)]
        apply_max_to_market: bool,
    },
    #[serde(other)]
    Other,
}

fn yes() -> bool {
    true
}

/// Cuts `value` down to a whole number of `step`s; a zero step means none.
pub fn round_down_to_step(value: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        return value;
    }
    ((value / step).floor() * step).normalize()
}

/// The filters of one symbol, with the assets it trades.
#[derive(Debug, Clone)]
pub struct SymbolRules {
    pub base_asset: String,
    pub quote_asset: String,
    pub filters: Vec<Filter>,
}

impl SymbolRules {
    /// A limit price cut to the tick. Market orders carry no price; this is
    /// here so a limit order cannot be added without it.
    pub fn round_price(&self, price: Decimal) -> Decimal {
        self.filters
            .iter()
            .find_map(|f| match f {
                Filter::Price { tick_size, .. } => Some(round_down_to_step(price, *tick_size)),
                _ => None,
            })
            .unwrap_or(price)
    }

    /// The quantity a market order is sent with: cut to every lot step, then
    /// checked against every lot and notional limit. `last_price` is the last
    /// close the exchange saw; without one the notional limits are left to
    /// Binance.
    pub fn market_quantity(
        &self,
        quantity: Decimal,
        last_price: Option<Decimal>,
    ) -> Result<Decimal, String> {
        let mut quantity = quantity;
        for filter in &self.filters {
            let (name, min, max, step) = match filter {
                Filter::LotSize {
                    min_qty,
                    max_qty,
                    step_size,
                } => ("LOT_SIZE", min_qty, max_qty, step_size),
                Filter::MarketLotSize {
                    min_qty,
                    max_qty,
                    step_size,
                } => ("MARKET_LOT_SIZE", min_qty, max_qty, step_size),
                _ => continue,
            };
            let rounded = round_down_to_step(quantity, *step);
            if rounded < *min || rounded.is_zero() {
                return Err(format!(
                    "filter {name}: quantity {} below minQty {}",
                    quantity.normalize(),
                    min.normalize()
                ));
            }
            quantity = rounded;
            // A zero maxQty is how Binance writes "no limit" in some filters.
            if !max.is_zero() && quantity > *max {
                return Err(format!(
                    "filter {name}: quantity {} above maxQty {}",
                    quantity.normalize(),
                    max.normalize()
                ));
            }
        }
        let Some(price) = last_price else {
            return Ok(quantity);
        };
        let notional = quantity * price;
        for filter in &self.filters {
            let (name, min, max) = match filter {
                Filter::MinNotional {
                    min_notional,
                    apply_to_market: true,
                } => ("MIN_NOTIONAL", Some(min_notional), None),
                Filter::Notional {
                    min_notional,
                    apply_min_to_market,
                    max_notional,
                    apply_max_to_market,
                } => (
                    "NOTIONAL",
                    apply_min_to_market.then_some(min_notional),
                    max_notional.as_ref().filter(|_| *apply_max_to_market),
                ),
                _ => continue,
            };
            if let Some(min) = min.filter(|min| notional < **min) {
                return Err(format!(
                    "filter {name}: notional {} below minNotional {}",
                    notional.round_dp(8).normalize(),
                    min.normalize()
                ));
            }
            if let Some(max) = max.filter(|max| notional > **max) {
                return Err(format!(
                    "filter {name}: notional {} above maxNotional {}",
                    notional.round_dp(8).normalize(),
                    max.normalize()
                ));
            }
        }
        Ok(quantity)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// BTCUSDT's filters as the 2021 capture in `../shared/data` has them,
    /// plus the current NOTIONAL filter and an unknown type.
    fn btcusdt() -> SymbolRules {
        let json = r#"[
          {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
          {"filterType":"PERCENT_PRICE","multiplierUp":"5","multiplierDown":"0.2","avgPriceMins":5},
          {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
          {"filterType":"MIN_NOTIONAL","minNotional":"10.00000000","applyToMarket":true,"avgPriceMins":5},
          {"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"112.21108820","stepSize":"0.00000000"},
          {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},
          {"filterType":"SOMETHING_NEW","limit":3}
        ]"#;
        SymbolRules {
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            filters: serde_json::from_str(json).unwrap(),
        }
    }

    #[test]
    fn quantities_are_cut_down_to_the_step_never_up() {
        let rules = btcusdt();
        assert_eq!(
            rules.market_quantity(dec("0.01388999"), Some(dec("7200"))),
            Ok(dec("0.01388"))
        );
        assert_eq!(rules.market_quantity(dec("0.02"), None), Ok(dec("0.02")));
    }

    #[test]
    fn prices_are_cut_to_the_tick() {
        assert_eq!(btcusdt().round_price(dec("60123.456")), dec("60123.45"));
    }

    #[test]
    fn each_refusal_names_its_filter_and_the_limit() {
        let rules = btcusdt();
        assert_eq!(
            rules.market_quantity(dec("0.000001"), Some(dec("60000"))),
            Err("filter LOT_SIZE: quantity 0.000001 below minQty 0.00001".into())
        );
        assert_eq!(
            rules.market_quantity(dec("200"), None),
            Err("filter MARKET_LOT_SIZE: quantity 200 above maxQty 112.2110882".into())
        );
        assert_eq!(
            rules.market_quantity(dec("0.0001"), Some(dec("60000"))),
            Err("filter MIN_NOTIONAL: notional 6 below minNotional 10".into())
        );
    }
}
