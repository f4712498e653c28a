//! Binance Spot REST replies as serde types, and their translation into the
//! exchange module's [`OrderReport`].
//!
//! Owns: the shapes of `/api/v3/time`, `exchangeInfo`, `account`, the order
//! endpoints (cancel reports included) and the `{code, msg}` error body.
//! Every price and quantity is a decimal string parsed straight into
//! `Decimal`, never through `f64`.
//!
//! Fills: a FULL reply carries them with their commissions. A RESULT reply,
//! or a queried order, carries only totals; the client then books one fill at
//! the average price (`cummulativeQuoteQty / executedQty`) with the fee
//! unknown, reported as zero in the quote asset with a WARN. An ACK reply has
//! no totals either, so the client queries the order first.

use rust_decimal::Decimal;
use serde::Deserialize;

use super::filters::Filter;
use crate::exchange::{Fill, OrderReport, OrderStatus};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    pub server_time: i64,
}

#[derive(Debug, Deserialize)]
pub struct ApiErrorBody {
    pub code: i64,
    pub msg: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfo {
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    pub symbols: Vec<SymbolInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub rate_limit_type: String,
    pub interval: String,
    pub interval_num: u32,
    pub limit: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    pub symbol: String,
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
pub struct Account {
    pub balances: Vec<AccountBalance>,
}

#[derive(Debug, Deserialize)]
pub struct AccountBalance {
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
}

/// `POST /api/v3/order` in any response type: ACK has only the ids, RESULT
/// adds the totals and status, FULL adds the fills.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderReply {
    pub order_id: u64,
    pub client_order_id: String,
    pub status: Option<String>,
    pub executed_qty: Option<Decimal>,
    pub cummulative_quote_qty: Option<Decimal>,
    pub fills: Option<Vec<ReplyFill>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyFill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
}

/// `GET /api/v3/order` and each element of `GET /api/v3/openOrders`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueriedOrder {
    pub symbol: String,
    pub order_id: u64,
    pub client_order_id: String,
    pub status: String,
    pub side: String,
    #[serde(rename = "type")]
    pub order_type: String,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    pub cummulative_quote_qty: Decimal,
}

/// One element of the `DELETE /api/v3/openOrders` reply. Binance cancels
/// every open order on the symbol, orders of an order list (OCO, OTO)
/// included; those come grouped as one element with a report per order.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CancelledEntry {
    List {
        #[serde(rename = "orderReports")]
        order_reports: Vec<CancelReport>,
    },
    Order(CancelReport),
}

/// A cancelled order. `clientOrderId` in a cancel report is the id of the
/// cancel request; the order's own client id is `origClientOrderId`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelReport {
    pub symbol: String,
    pub orig_client_order_id: String,
    pub order_id: u64,
}

impl CancelledEntry {
    pub fn into_reports(self) -> Vec<CancelReport> {
        match self {
            CancelledEntry::List { order_reports } => order_reports,
            CancelledEntry::Order(report) => vec![report],
        }
    }
}

pub fn order_status(status: &str) -> OrderStatus {
    match status {
        "NEW" | "PENDING_NEW" => OrderStatus::New,
        "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
        "FILLED" => OrderStatus::Filled,
        "CANCELED" | "PENDING_CANCEL" => OrderStatus::Canceled,
        "REJECTED" => OrderStatus::Rejected,
        // EXPIRED, EXPIRED_IN_MATCH, and anything Binance adds later: the
        // order is not working any more.
        _ => OrderStatus::Expired,
    }
}

/// One fill at the average price, fee unknown (zero, in `quote_asset`).
pub fn derived_fills(executed: Decimal, quote_total: Decimal, quote_asset: &str) -> Vec<Fill> {
    if executed.is_zero() {
        return Vec::new();
    }
    vec![Fill {
        price: (quote_total / executed).round_dp(8).normalize(),
        quantity: executed,
        fee: Decimal::ZERO,
        fee_asset: quote_asset.to_owned(),
    }]
}

impl NewOrderReply {
    /// The report, and whether its fills were derived from totals. `None`
    /// for an ACK reply, which says nothing about execution.
    pub fn into_report(self, quote_asset: &str) -> Option<(OrderReport, bool)> {
        let status = order_status(self.status.as_deref()?);
        let (fills, derived) = match self.fills {
            Some(fills) if !fills.is_empty() => (
                fills
                    .into_iter()
                    .map(|f| Fill {
                        price: f.price,
                        quantity: f.qty,
                        fee: f.commission,
                        fee_asset: f.commission_asset,
                    })
                    .collect(),
                false,
            ),
            _ => (
                derived_fills(
                    self.executed_qty.unwrap_or_default(),
                    self.cummulative_quote_qty.unwrap_or_default(),
                    quote_asset,
                ),
                true,
            ),
        };
        Some((
            OrderReport {
                client_order_id: self.client_order_id,
                exchange_order_id: self.order_id.to_string(),
                status,
                fills,
            },
            derived,
        ))
    }
}

impl QueriedOrder {
    pub fn into_report(self, quote_asset: &str) -> OrderReport {
        OrderReport {
            fills: derived_fills(self.executed_qty, self.cummulative_quote_qty, quote_asset),
            client_order_id: self.client_order_id,
            exchange_order_id: self.order_id.to_string(),
            status: order_status(&self.status),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn a_full_reply_keeps_every_fill_with_its_commission_exactly() {
        let body = r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"tb-1",
            "transactTime":1507725176595,"price":"0.00000000","origQty":"0.00200000",
            "executedQty":"0.00200000","cummulativeQuoteQty":"120.03000000","status":"FILLED",
            "timeInForce":"GTC","type":"MARKET","side":"BUY","fills":[
            {"price":"60010.00000000","qty":"0.00100000","commission":"0.00000100","commissionAsset":"BTC","tradeId":56},
            {"price":"60020.00000000","qty":"0.00100000","commission":"0.00000100","commissionAsset":"BTC","tradeId":57}]}"#;
        let reply: NewOrderReply = serde_json::from_str(body).unwrap();
        let (report, derived) = reply.into_report("USDT").unwrap();
        assert!(!derived);
        assert_eq!(report.exchange_order_id, "28");
        assert_eq!(report.status, OrderStatus::Filled);
        assert_eq!(report.fills.len(), 2);
        assert_eq!(report.fills[1].price, dec("60020"));
        assert_eq!(report.fills[0].fee.to_string(), "0.00000100");
        assert_eq!(report.fills[0].fee_asset, "BTC");
    }

    #[test]
    fn a_result_reply_books_one_fill_at_the_average_price_with_the_fee_unknown() {
        let body = r#"{"symbol":"BTCUSDT","orderId":28,"clientOrderId":"tb-1","transactTime":1,
            "executedQty":"0.00200000","cummulativeQuoteQty":"120.03000000","status":"FILLED"}"#;
        let reply: NewOrderReply = serde_json::from_str(body).unwrap();
        let (report, derived) = reply.into_report("USDT").unwrap();
        assert!(derived);
        assert_eq!(report.fills[0].price, dec("60015"));
        assert_eq!(report.fills[0].quantity, dec("0.002"));
        assert_eq!(report.fills[0].fee, Decimal::ZERO);
    }

    #[test]
    fn a_cancel_all_reply_yields_the_original_client_ids_of_orders_and_order_lists() {
        // Binance's documented example, cut to the fields that matter.
        let body = r#"[
            {"symbol":"BTCUSDT","origClientOrderId":"E6APeyTJvkMvLMYMqu1KQ4","orderId":11,
             "orderListId":-1,"clientOrderId":"pXLV6Hz6mprAcVYpVMTGgx","transactTime":1684804350068,
             "price":"0.089853","origQty":"0.178622","executedQty":"0.000000",
             "cummulativeQuoteQty":"0.000000","status":"CANCELED","timeInForce":"GTC",
             "type":"LIMIT","side":"BUY","selfTradePreventionMode":"NONE"},
            {"orderListId":1929,"contingencyType":"OCO","listStatusType":"ALL_DONE",
             "listOrderStatus":"ALL_DONE","listClientOrderId":"2inzWQdDvZLHbbAmAozX2N",
             "transactionTime":1585230948299,"symbol":"BTCUSDT",
             "orders":[{"symbol":"BTCUSDT","orderId":20,"clientOrderId":"CwOOIPHSmYywx6jZX77TdL"},
                       {"symbol":"BTCUSDT","orderId":21,"clientOrderId":"461cPg51vQjV3zIMOXNz39"}],
             "orderReports":[
               {"symbol":"BTCUSDT","origClientOrderId":"CwOOIPHSmYywx6jZX77TdL","orderId":20,
                "orderListId":1929,"clientOrderId":"pXLV6Hz6mprAcVYpVMTGgx","status":"CANCELED",
                "type":"STOP_LOSS_LIMIT","side":"BUY"},
               {"symbol":"BTCUSDT","origClientOrderId":"461cPg51vQjV3zIMOXNz39","orderId":21,
                "orderListId":1929,"clientOrderId":"pXLV6Hz6mprAcVYpVMTGgx","status":"CANCELED",
                "type":"LIMIT_MAKER","side":"BUY"}]}
        ]"#;
        let entries: Vec<CancelledEntry> = serde_json::from_str(body).unwrap();
        let reports: Vec<CancelReport> = entries
            .into_iter()
            .flat_map(CancelledEntry::into_reports)
            .collect();
        let ids: Vec<(&str, u64)> = reports
            .iter()
            .map(|r| (r.orig_client_order_id.as_str(), r.order_id))
            .collect();
        assert_eq!(
            ids,
            [
                ("E6APeyTJvkMvLMYMqu1KQ4", 11),
                ("CwOOIPHSmYywx6jZX77TdL", 20),
                ("461cPg51vQjV3zIMOXNz39", 21)
            ]
        );
        assert!(reports.iter().all(|r| r.symbol == "BTCUSDT"));
    }

    #[test]
    fn an_ack_reply_says_nothing_about_execution() {
        let body = r#"{"symbol":"BTCUSDT","orderId":28,"clientOrderId":"tb-1","transactTime":1}"#;
        let reply: NewOrderReply = serde_json::from_str(body).unwrap();
        assert!(reply.into_report("USDT").is_none());
    }
}
