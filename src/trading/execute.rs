//! `execute_trade`: one decision becomes one order, inside one span.
//!
//! Everything logged while a trade executes, from any module, carries the
//! span's `correlation_id`, `symbol`, `trade_id`, `action` and `confidence`,
//! so `jq 'select(.correlation_id=="…")'` shows the trade's whole life.

use rust_decimal::{Decimal, RoundingStrategy};
use tracing::{Instrument, error, info, info_span, warn};
use uuid::Uuid;

use super::Trader;
use super::risk::{ProposedOrder, RiskRejection};
use crate::exchange::{Exchange, ExchangeError, OrderReport, OrderRequest, Side};
use crate::kill_switch::KillSwitch;
use crate::market::Candle;
use crate::metrics::{self, StatusLabel};
use crate::store::{KillSwitchSource, PositionRecord, TradeIntent, TradeResult, TradeStatus, now};
use crate::strategy::{Action, DecisionSource, TradingDecision};

/// Decimal places order quantities are cut to. Binance's per-symbol lot
/// sizes are coarser; the live client rounds to them before sending.
const QUANTITY_DP: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeOutcome {
    Filled,
    /// Refused by the risk limits or the exchange; nothing was placed.
    Rejected,
    /// The order may have executed; it must be reconciled, never re-sent.
    Unknown,
    /// Not attempted: the kill switch is active, or the database could not
    /// record the intent.
    Skipped,
}

/// What `execute_trade` did, and the trade it put on record, if any.
pub(super) struct Executed {
    pub outcome: TradeOutcome,
    pub recorded_trade_id: Option<String>,
}

/// A trade id valid as a Binance `newClientOrderId` (`[A-Za-z0-9_-]{1,36}`):
/// time-ordered, so ids sort the way trades happened.
pub fn new_trade_id() -> String {
    format!("tb-{}", Uuid::now_v7().simple())
}

impl<E: Exchange, D: DecisionSource> Trader<E, D> {
    pub(super) async fn execute_trade(
        &mut self,
        decision: &TradingDecision,
        candle: &Candle,
    ) -> Executed {
        let trade_id = new_trade_id();
        let correlation_id = Uuid::new_v4().to_string();
        let span = info_span!(
            "trade",
            correlation_id = %correlation_id,
            symbol = %decision.symbol,
            trade_id = %trade_id,
            action = %decision.action,
            confidence = decision.confidence,
        );
        self.execute_in_span(decision, candle, trade_id, correlation_id)
            .instrument(span)
            .await
    }

    async fn execute_in_span(
        &mut self,
        decision: &TradingDecision,
        candle: &Candle,
        trade_id: String,
        correlation_id: String,
    ) -> Executed {
        let price = candle.close;
        info!(reason = %decision.reason, price = %price, "Executing trade");
        let not_recorded = |outcome| Executed {
            outcome,
            recorded_trade_id: None,
        };

        let position = self.portfolio.position(&decision.symbol);
        let (side, quantity) = match decision.action {
            Action::Buy => (Side::Buy, buy_quantity(self.order_notional, price)),
            Action::Sell => (Side::Sell, position.quantity),
            Action::Hold => unreachable!("holds never reach execute_trade"),
        };
        let proposed = ProposedOrder {
            side,
            notional: quantity * price,
            position_notional: position.quantity * price,
            day_pnl: self.portfolio.day_pnl(candle.close_time_ms),
        };
        if let Err(rejection) = self.risk.check(&proposed) {
            warn!(reason = %rejection, "Trade rejected by risk limits");
            // The day's losses are past what the operator accepted: stop
            // everything until a person has looked, not just new entries.
            if let (RiskRejection::DailyLossLimit { loss, limit }, Some(kill_switch)) =
                (&rejection, &self.kill_switch)
            {
                let reason = format!("daily loss {loss} reached risk.daily_loss_limit {limit}");
                kill_switch
                    .activate(&reason, KillSwitchSource::Risk, None)
                    .await;
            }
            return not_recorded(TradeOutcome::Rejected);
        }

        // Held until the exchange has answered: an activation waits for this
        // order and no order starts after it.
        let kill_switch: Option<std::sync::Arc<KillSwitch>> = self.kill_switch.clone();
        let permit = match &kill_switch {
            Some(kill_switch) => match kill_switch.order_permit().await {
                Ok(permit) => Some(permit),
                Err(reason) => {
                    info!(kill_switch_reason = %reason, "Order not sent: the kill switch is active");
                    return not_recorded(TradeOutcome::Skipped);
                }
            },
            None => None,
        };

        let intent = TradeIntent {
            trade_id: trade_id.clone(),
            correlation_id,
            run_id: self.recorder.run_id().to_owned(),
            account: self.recorder.account().to_owned(),
            symbol: decision.symbol.clone(),
            side,
            quantity,
            price,
            client_order_id: trade_id.clone(),
            created_at: now(),
        };
        // Nothing is sent unless its intent is on record: after a crash the
        // record is how the order is found again.
        if !self.recorder.record_intent(&intent).await {
            info!("Order not sent: the database is unavailable to record its intent");
            return not_recorded(TradeOutcome::Skipped);
        }

        let order = OrderRequest {
            symbol: decision.symbol.clone(),
            side,
            quantity,
            client_order_id: trade_id.clone(),
        };
        let (outcome, result) = self.place(&order, candle).await;
        drop(permit);
        metrics::global()
            .orders
            .get_or_create(&StatusLabel {
                status: result.status.as_str(),
            })
            .inc();
        self.recorder.record_result(result).await;
        if outcome == TradeOutcome::Filled {
            self.save_holdings().await;
        }
        Executed {
            outcome,
            recorded_trade_id: Some(trade_id),
        }
    }

    /// Sends the order and books what came of it.
    async fn place(
        &mut self,
        order: &OrderRequest,
        candle: &Candle,
    ) -> (TradeOutcome, TradeResult) {
        let (side, quantity) = (order.side, order.quantity);
        info!(
            side = %side,
            order_type = "MARKET",
            quantity = %quantity,
            client_order_id = %order.client_order_id,
            exchange = self.exchange.name(),
            "Order sent"
        );
        match self.exchange.place_market_order(order).await {
            Ok(report) => self.book(order, &report, candle),
            Err(err @ ExchangeError::OutcomeUnknown { .. }) => {
                self.reconcile(order, err, candle).await
            }
            Err(ExchangeError::Fatal { reason }) => {
                error!(reason = %reason, "Order not placed; trading stops");
                let result = closed(order, TradeStatus::Rejected, &reason);
                self.fatal = Some(reason);
                (TradeOutcome::Rejected, result)
            }
            Err(err) => {
                warn!(error = %err, "Order not placed");
                let status = match err {
                    ExchangeError::Rejected { .. } => TradeStatus::Rejected,
                    _ => TradeStatus::NotSent,
                };
                (
                    TradeOutcome::Rejected,
                    closed(order, status, &err.to_string()),
                )
            }
        }
    }

    /// Records what the daemon now holds: the exchange's balances and the
    /// portfolio's positions.
    pub async fn save_holdings(&mut self) {
        let balances = match self.exchange.balances().await {
            Ok(balances) => balances,
            Err(err) => {
                warn!(error = %err, "Balances not recorded: the exchange did not report them");
                return;
            }
        };
        let positions = self
            .portfolio
            .positions()
            .map(|(symbol, position)| PositionRecord {
                symbol: symbol.clone(),
                quantity: position.quantity,
                average_cost: position.average_cost(),
            })
            .collect::<Vec<_>>();
        let realized_pnl = self.portfolio.realized_pnl;
        self.board.update(|board| {
            board.balances = balances.clone();
            board.positions = positions.clone();
            board.realized_pnl = realized_pnl;
        });
        self.recorder.save_holdings(balances, positions).await;
    }

    /// After an unknown outcome: ask the exchange, never resend.
    async fn reconcile(
        &mut self,
        order: &OrderRequest,
        err: ExchangeError,
        candle: &Candle,
    ) -> (TradeOutcome, TradeResult) {
        error!(error = %err, "Order outcome unknown; querying it before anything else");
        match self
            .exchange
            .query_order(&order.symbol, &order.client_order_id)
            .await
        {
            Ok(Some(report)) => self.book(order, &report, candle),
            Ok(None) => {
                warn!(
                    "Order confirmed absent on the exchange; it was not placed and is not resent"
                );
                let reason = "the exchange confirms the order does not exist";
                (
                    TradeOutcome::Rejected,
                    closed(order, TradeStatus::NotSent, reason),
                )
            }
            Err(query_err) => {
                error!(
                    error = %query_err,
                    client_order_id = %order.client_order_id,
                    "Order outcome still unknown; not resending. It is reconciled on the next start"
                );
                let reason = format!("{err}; query failed: {query_err}");
                (
                    TradeOutcome::Unknown,
                    closed(order, TradeStatus::Unknown, &reason),
                )
            }
        }
    }

    fn book(
        &mut self,
        order: &OrderRequest,
        report: &OrderReport,
        candle: &Candle,
    ) -> (TradeOutcome, TradeResult) {
        let result = TradeResult {
            trade_id: order.client_order_id.clone(),
            status: report.status.into(),
            reason: None,
            exchange_order_id: Some(report.exchange_order_id.clone()),
            fills: report.fills.clone(),
            updated_at: now(),
        };
        for fill in &report.fills {
            info!(
                price = %fill.price,
                quantity = %fill.quantity,
                fee = %fill.fee,
                fee_asset = %fill.fee_asset,
                exchange_order_id = %report.exchange_order_id,
                "Order filled"
            );
        }
        if report.fills.is_empty() {
            warn!(status = ?report.status, exchange_order_id = %report.exchange_order_id, "Order accepted without fills");
            return (TradeOutcome::Unknown, result);
        }
        let realized =
            self.portfolio
                .apply(&order.symbol, order.side, report, candle.close_time_ms);
        let position = self.portfolio.position(&order.symbol);
        info!(
            position = %position.quantity,
            average_cost = %position.average_cost().round_dp(8),
            realized_pnl = %realized.round_dp(8),
            total_realized_pnl = %self.portfolio.realized_pnl.round_dp(8),
            "Position updated"
        );
        (TradeOutcome::Filled, result)
    }
}

/// The record of an order that ended without fills.
fn closed(order: &OrderRequest, status: TradeStatus, reason: &str) -> TradeResult {
    TradeResult {
        trade_id: order.client_order_id.clone(),
        status,
        reason: Some(reason.to_owned()),
        exchange_order_id: None,
        fills: Vec::new(),
        updated_at: now(),
    }
}

/// The quantity an entry of `order_notional` buys at `price`, cut (never
/// rounded up, which could overspend) to [`QUANTITY_DP`] places.
pub fn buy_quantity(order_notional: Decimal, price: Decimal) -> Decimal {
    (order_notional / price).round_dp_with_strategy(QUANTITY_DP, RoundingStrategy::ToZero)
}
