//! Start-up reconciliation: trades an earlier run left `PENDING` (it stopped
//! between writing the intent and the outcome) or `UNKNOWN` (the exchange
//! could not say) are looked up on the exchange by their client order id
//! and closed with what it reports. The paper exchange forgets its orders
//! with the process, so there they are closed as not sent.

use tracing::{Instrument, error, info, info_span, warn};

use super::Trader;
use crate::exchange::Exchange;
use crate::store::{TradeRecord, TradeResult, TradeStatus, now};
use crate::strategy::DecisionSource;
use crate::telemetry::error_chain;

impl<E: Exchange, D: DecisionSource> Trader<E, D> {
    /// Reconciles every unresolved trade of this account from earlier runs.
    /// A database error here is not fatal: the trades stay unresolved and
    /// are tried again on the next start.
    pub async fn reconcile_unresolved(&mut self) {
        let store = self.recorder.store().clone();
        let trades = match store
            .unresolved_trades(self.recorder.account(), self.recorder.run_id())
            .await
        {
            Ok(trades) => trades,
            Err(err) => {
                warn!(
                    error = %error_chain(&err),
                    "Unresolved trades not reconciled: the database did not answer; they are tried on the next start"
                );
                return;
            }
        };
        for trade in trades {
            let span = info_span!(
                "reconcile",
                correlation_id = %trade.correlation_id,
                symbol = %trade.symbol,
                trade_id = %trade.trade_id,
            );
            self.reconcile_one(trade).instrument(span).await;
        }
    }

    async fn reconcile_one(&mut self, trade: TradeRecord) {
        let was = trade.status;
        let result = match self
            .exchange
            .query_order(&trade.symbol, &trade.client_order_id)
            .await
        {
            Ok(Some(report)) => TradeResult {
                trade_id: trade.trade_id.clone(),
                status: report.status.into(),
                reason: Some(format!("reconciled at start-up from {was}")),
                exchange_order_id: Some(report.exchange_order_id),
                fills: report.fills,
                updated_at: now(),
            },
            Ok(None) => TradeResult {
                trade_id: trade.trade_id.clone(),
                status: TradeStatus::NotSent,
                reason: Some(format!(
                    "reconciled at start-up from {was}: {} has no such order",
                    self.exchange.name()
                )),
                exchange_order_id: None,
                fills: Vec::new(),
                updated_at: now(),
            },
            Err(err) => {
                error!(
                    status = %was,
                    client_order_id = %trade.client_order_id,
                    error = %err,
                    "Trade still unresolved: the exchange could not say whether the order exists; it is tried again on the next start"
                );
                return;
            }
        };
        match self.recorder.store().resolve_result(&result).await {
            Ok(false) => info!(
                status = %result.status,
                "Trade already resolved by another run meanwhile; its record is left as it is"
            ),
            Ok(true) => info!(
                was = %was,
                status = %result.status,
                exchange_order_id = result.exchange_order_id.as_deref().unwrap_or(""),
                client_order_id = %trade.client_order_id,
                "Trade reconciled"
            ),
            Err(err) => warn!(
                error = %error_chain(&err),
                status = %result.status,
                "Trade reconciled with the exchange but not recorded; it is tried again on the next start"
            ),
        }
    }
}
