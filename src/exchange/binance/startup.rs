//! What the client does once at start: load the traded symbols' rules and
//! report the account (balances, open orders) to the operator.
//!
//! Open orders carrying our client-id prefix come from an earlier run. There
//! is no local record of orders yet (the store is a later issue), so they
//! are logged at WARN and left as they are: never cancelled, never adopted.

use std::collections::HashMap;

use tracing::{info, warn};

use super::client::{RestClient, parse};
use super::error::BinanceError;
use super::filters::SymbolRules;
use super::responses::{ExchangeInfo, QueriedOrder};
use super::{BinanceExchange, OUR_PREFIX};

pub async fn load_rules(
    client: &RestClient,
    symbols: &[String],
) -> Result<HashMap<String, SymbolRules>, BinanceError> {
    let list = serde_json::to_string(symbols).unwrap_or_default();
    let body = client
        .public_get("/api/v3/exchangeInfo", &[("symbols", &list)])
        .await?;
    let info: ExchangeInfo = parse(&body, "/api/v3/exchangeInfo")?;
    if let Some(limit) = info.rate_limits.iter().find(|l| {
        l.rate_limit_type == "REQUEST_WEIGHT" && l.interval == "MINUTE" && l.interval_num == 1
    }) {
        client.set_weight_limit(u64::from(limit.limit));
    }
    let mut rules = HashMap::new();
    for symbol in info.symbols {
        if !symbols.contains(&symbol.symbol) {
            continue;
        }
        if symbol.status != "TRADING" {
            warn!(symbol = %symbol.symbol, status = %symbol.status, "Symbol not trading on Binance now; its orders will be refused");
        }
        rules.insert(
            symbol.symbol,
            SymbolRules {
                base_asset: symbol.base_asset,
                quote_asset: symbol.quote_asset,
                filters: symbol.filters,
            },
        );
    }
    match symbols.iter().find(|s| !rules.contains_key(*s)) {
        Some(missing) => Err(BinanceError::UnknownSymbol(missing.clone())),
        None => Ok(rules),
    }
}

pub async fn report_account(exchange: &mut BinanceExchange) -> Result<(), BinanceError> {
    let balances = exchange.fetch_balances().await?;
    let shown = balances
        .iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(asset, amount)| format!("{asset}={}", amount.normalize()))
        .collect::<Vec<_>>()
        .join(" ");
    info!(balances = %shown, "Binance account balances");

    let body = exchange
        .client
        .signed_request(reqwest::Method::GET, "/api/v3/openOrders", &[], true)
        .await?;
    let open: Vec<QueriedOrder> = parse(&body, "/api/v3/openOrders")?;
    info!(open_orders = open.len(), "Open orders on Binance");
    for order in open {
        if order.client_order_id.starts_with(OUR_PREFIX) {
            warn!(
                order_symbol = %order.symbol,
                client_order_id = %order.client_order_id,
                exchange_order_id = order.order_id,
                side = %order.side,
                order_type = %order.order_type,
                orig_qty = %order.orig_qty,
                executed_qty = %order.executed_qty,
                "Open order from an earlier run; it is left as it is"
            );
        } else {
            info!(
                order_symbol = %order.symbol,
                client_order_id = %order.client_order_id,
                "Open order not placed by tradebot; it is left as it is"
            );
        }
    }
    Ok(())
}
