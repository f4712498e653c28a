//! Market orders, order queries, balances and cancelling every open order
//! of a symbol on [`BinanceExchange`].
//!
//! An order whose outcome is unknown (a timeout, a 5xx, -1007, a reply that
//! cannot be read) is queried by its client id, with backoff, before
//! anything else. Only when Binance confirms the order does not exist (-2013)
//! is it sent again, once, with the same client id. If it is still unknown
//! after the queries, the caller gets `OutcomeUnknown` and must reconcile.
//!
//! Everything here runs in the caller's task, so every line lands in the
//! caller's trade span and carries its `correlation_id`.

use reqwest::Method;
use rust_decimal::Decimal;
use tracing::{debug, error, info, warn};

use super::client::parse;
use super::error::{BinanceError, codes};
use super::responses::{Account, CancelledEntry, NewOrderReply, QueriedOrder};
use super::{BinanceExchange, OUR_PREFIX};
use crate::exchange::{Balances, ExchangeError, OrderReport, OrderRequest};

/// What one send of an order came to.
enum Sent {
    Done(OrderReport),
    Unknown(BinanceError),
}

/// What the queries after an unknown outcome found.
enum Found {
    Order(OrderReport),
    Absent,
    StillUnknown(BinanceError),
}

impl BinanceExchange {
    pub(super) async fn place(
        &mut self,
        order: &OrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        let rules = self
            .rules
            .get(&order.symbol)
            .ok_or_else(|| BinanceError::UnknownSymbol(order.symbol.clone()))?;
        let last_price = self.last_close.get(&order.symbol).copied();
        let quantity = rules
            .market_quantity(order.quantity, last_price)
            .map_err(|reason| ExchangeError::Rejected { reason })?;
        if quantity != order.quantity {
            info!(requested = %order.quantity, quantity = %quantity, "Quantity cut to the symbol's lot step");
        }

        let mut resent = false;
        loop {
            let cause = match self.send(order, quantity).await? {
                Sent::Done(report) => return Ok(report),
                Sent::Unknown(cause) => cause,
            };
            match self.find_after_unknown(order, &cause).await {
                Found::Order(report) => {
                    info!(
                        exchange_order_id = %report.exchange_order_id,
                        status = ?report.status,
                        "Order found on Binance after the unknown outcome"
                    );
                    return Ok(report);
                }
                Found::Absent if !resent => {
                    warn!(
                        "Binance confirms the order does not exist; sending it once more with the same client order id"
                    );
                    resent = true;
                }
                Found::Absent => {
                    return Err(ExchangeError::Rejected {
                        reason: "binance confirms the order does not exist after it was sent twice"
                            .into(),
                    });
                }
                Found::StillUnknown(last) => {
                    return Err(ExchangeError::OutcomeUnknown {
                        reason: format!("{cause}; the order could not be found either: {last}"),
                    });
                }
            }
        }
    }

    async fn send(&self, order: &OrderRequest, quantity: Decimal) -> Result<Sent, ExchangeError> {
        let quantity = quantity.normalize().to_string();
        let side = order.side.to_string();
        let params = [
            ("symbol", order.symbol.as_str()),
            ("side", side.as_str()),
            ("type", "MARKET"),
            ("quantity", quantity.as_str()),
            ("newClientOrderId", order.client_order_id.as_str()),
            ("newOrderRespType", "FULL"),
        ];
        let reply = self
            .client
            .signed_request(Method::POST, "/api/v3/order", &params, false)
            .await
            .and_then(|body| parse::<NewOrderReply>(&body, "/api/v3/order"));
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) if err.outcome_unknown() => return Ok(Sent::Unknown(err)),
            Err(err) => return Err(err.into()),
        };
        let quote = self.quote_asset(&order.symbol);
        let order_id = reply.order_id;
        let Some((report, derived)) = reply.into_report(&quote) else {
            // An ACK reply: accepted, execution not reported. Ask.
            return Ok(
                match self.find(&order.symbol, &order.client_order_id).await {
                    Ok(Some(report)) => Sent::Done(report),
                    Ok(None) | Err(_) => Sent::Unknown(BinanceError::Malformed {
                        what: "/api/v3/order",
                        reason: format!("order {order_id} acknowledged without its execution"),
                    }),
                },
            );
        };
        if derived {
            warn!(
                "Binance reported the order without fills; booked at its average price, fee unknown"
            );
        }
        info!(
            exchange_order_id = %report.exchange_order_id,
            status = ?report.status,
            fills = report.fills.len(),
            "Binance executed the order"
        );
        Ok(Sent::Done(report))
    }

    async fn find_after_unknown(&self, order: &OrderRequest, cause: &BinanceError) -> Found {
        warn!(error = %cause, "Order outcome unknown; querying it by client order id before anything else");
        let mut last = None;
        for (attempt, wait) in self.backoff.iter().enumerate() {
            tokio::time::sleep(*wait).await;
            match self.find(&order.symbol, &order.client_order_id).await {
                Ok(Some(report)) => return Found::Order(report),
                Ok(None) => return Found::Absent,
                Err(err) => {
                    warn!(attempt = attempt + 1, error = %err, "Order query failed");
                    last = Some(err);
                }
            }
        }
        Found::StillUnknown(last.unwrap_or(BinanceError::Malformed {
            what: "/api/v3/order",
            reason: "no query was allowed".into(),
        }))
    }

    /// The order by our client id; `None` when Binance says it does not exist.
    pub(super) async fn find(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, BinanceError> {
        let params = [("symbol", symbol), ("origClientOrderId", client_order_id)];
        match self
            .client
            .signed_request(Method::GET, "/api/v3/order", &params, true)
            .await
        {
            Ok(body) => {
                let order: QueriedOrder = parse(&body, "/api/v3/order")?;
                Ok(Some(order.into_report(&self.quote_asset(symbol))))
            }
            Err(err) if err.code() == Some(codes::ORDER_DOES_NOT_EXIST) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The kill switch: every open order on each of `symbols` cancelled, one
    /// signed `DELETE /api/v3/openOrders` per symbol. Binance cancels all of
    /// the symbol's orders, ours or not, so every original client id is
    /// returned. A symbol that fails does not stop the others: each is
    /// tried, each failure logged, and the first one returned.
    ///
    /// A cancel never goes stale the way a market order does, and sending it
    /// twice is harmless (the second finds nothing), so it waits out a 429
    /// pause like a query; during a ban it is refused unsent (`Halted`).
    pub(super) async fn cancel_all(
        &self,
        symbols: &[String],
    ) -> Result<Vec<String>, ExchangeError> {
        let mut cancelled = Vec::new();
        let mut first_failure = None;
        for symbol in symbols {
            match self.cancel_symbol(symbol).await {
                Ok(ids) => cancelled.extend(ids),
                Err(err) => {
                    error!(symbol = %symbol, error = %err, "Cancelling the open orders failed");
                    first_failure.get_or_insert(err);
                }
            }
        }
        match first_failure {
            Some(err) => Err(err.into()),
            None => Ok(cancelled),
        }
    }

    async fn cancel_symbol(&self, symbol: &str) -> Result<Vec<String>, BinanceError> {
        const WHAT: &str = "/api/v3/openOrders";
        let body = match self
            .client
            .signed_request(Method::DELETE, WHAT, &[("symbol", symbol)], true)
            .await
        {
            Ok(body) => body,
            Err(BinanceError::Api { code, msg, .. })
                if code == codes::CANCEL_REJECTED && msg == "Unknown order sent." =>
            {
                debug!(symbol, "No open order to cancel");
                return Ok(Vec::new());
            }
            Err(err) => return Err(err),
        };
        let entries: Vec<CancelledEntry> = parse(&body, WHAT)?;
        let mut ids = Vec::new();
        for report in entries.into_iter().flat_map(CancelledEntry::into_reports) {
            info!(
                symbol = %report.symbol,
                client_order_id = %report.orig_client_order_id,
                exchange_order_id = %report.order_id,
                "Open order cancelled"
            );
            if !report.orig_client_order_id.starts_with(OUR_PREFIX) {
                warn!(
                    symbol = %report.symbol,
                    client_order_id = %report.orig_client_order_id,
                    exchange_order_id = %report.order_id,
                    "The cancelled order was not placed by tradebot"
                );
            }
            ids.push(report.orig_client_order_id);
        }
        Ok(ids)
    }

    /// Free plus locked, per asset.
    pub(super) async fn fetch_balances(&self) -> Result<Balances, BinanceError> {
        let body = self
            .client
            .signed_request(Method::GET, "/api/v3/account", &[], true)
            .await?;
        let account: Account = parse(&body, "/api/v3/account")?;
        Ok(account
            .balances
            .into_iter()
            .map(|b| (b.asset, b.free + b.locked))
            .collect())
    }

    fn quote_asset(&self, symbol: &str) -> String {
        self.rules
            .get(symbol)
            .map(|rules| rules.quote_asset.clone())
            .unwrap_or_default()
    }
}
