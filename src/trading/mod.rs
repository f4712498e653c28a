//! The trading loop: market data → decision → risk check → `execute_trade` →
//! position. [`Trader`] holds the state; [`run_loop`] drives it from a candle
//! source until the source ends or shutdown is requested.
//!
//! Invariant: shutdown is only observed between candles, so a trade that has
//! started always runs to its end (the daemon bounds how long it waits).

mod board;
mod execute;
mod portfolio;
mod reconcile;
mod recorder;
pub mod risk;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rust_decimal::Decimal;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::exchange::{Balances, Exchange, split_symbol};
use crate::kill_switch::KillSwitch;
use crate::market::{Candle, CandleSource, MarketEvent, record_close};
use crate::metrics::{self, OutcomeLabel};
use crate::shutdown::Shutdown;
use crate::store::{DecisionRecord, now};
use crate::strategy::{Action, DecisionSource, TradingDecision};

pub use board::{Snapshot, StatusBoard};
pub use execute::{TradeOutcome, buy_quantity, new_trade_id};
pub use portfolio::{Portfolio, Position};
pub use recorder::Recorder;
pub use risk::RiskLimits;

/// Counts for the end-of-run summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TradeStats {
    pub candles: u64,
    pub signals: u64,
    pub filled: u64,
    pub rejected: u64,
    pub unknown: u64,
    /// Signals not traded: the kill switch was active or the database away.
    pub skipped: u64,
}

pub struct Trader<E, D> {
    exchange: E,
    strategy: D,
    risk: RiskLimits,
    portfolio: Portfolio,
    order_notional: Decimal,
    min_confidence: f64,
    marks: HashMap<String, Decimal>,
    stats: TradeStats,
    recorder: Recorder,
    /// Stops every new order while active; `None` trades unguarded (tests).
    kill_switch: Option<Arc<KillSwitch>>,
    /// Wakes the loop when the kill switch flips, to cancel open orders.
    kill_switch_flips: Option<tokio::sync::watch::Receiver<bool>>,
    board: Arc<StatusBoard>,
    /// Set when the exchange reported a failure only a person can fix.
    fatal: Option<String>,
}

/// What the run did, for the final log lines.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub stats: TradeStats,
    pub realized_pnl: Decimal,
    pub fees: Balances,
    pub balances: Balances,
    /// Balances valued in each symbol's quote asset at the last close.
    pub equity: Balances,
}

impl<E: Exchange, D: DecisionSource> Trader<E, D> {
    pub fn new(
        exchange: E,
        strategy: D,
        risk: RiskLimits,
        order_notional: Decimal,
        min_confidence: f64,
        recorder: Recorder,
    ) -> Self {
        Self {
            exchange,
            strategy,
            risk,
            portfolio: Portfolio::default(),
            order_notional,
            min_confidence,
            marks: HashMap::new(),
            stats: TradeStats::default(),
            recorder,
            kill_switch: None,
            kill_switch_flips: None,
            board: Arc::new(StatusBoard::default()),
            fatal: None,
        }
    }

    /// Guards every order with `kill_switch`; open positions are kept
    /// while it is active.
    pub fn with_kill_switch(mut self, kill_switch: Arc<KillSwitch>) -> Self {
        self.kill_switch_flips = Some(kill_switch.subscribe());
        self.kill_switch = Some(kill_switch);
        self
    }

    /// What the loop saw, for the HTTP API.
    pub fn board(&self) -> Arc<StatusBoard> {
        self.board.clone()
    }

    pub fn kill_switch(&self) -> Option<Arc<KillSwitch>> {
        self.kill_switch.clone()
    }

    /// The exchange's name: `paper`, `binance-testnet`, `binance`.
    pub fn exchange_name(&self) -> &'static str {
        self.exchange.name()
    }

    pub fn strategy_name(&self) -> &'static str {
        self.strategy.name()
    }

    /// Resolves when the kill switch has just been activated.
    async fn kill_switch_activated(&mut self) {
        let Some(flips) = &mut self.kill_switch_flips else {
            return std::future::pending().await;
        };
        loop {
            if flips.changed().await.is_err() {
                return std::future::pending().await;
            }
            if *flips.borrow_and_update() {
                return;
            }
        }
    }

    /// Cancels our open orders on every symbol traded (the kill switch's
    /// second step, after stopping new ones).
    async fn cancel_open_orders(&mut self) {
        let mut symbols: Vec<String> = self.marks.keys().cloned().collect();
        symbols.sort();
        // The activation's request id, so one jq filter finds both halves.
        let request_id = match &self.kill_switch {
            Some(kill_switch) => kill_switch.view().await.request_id,
            None => None,
        };
        let request_id = request_id.unwrap_or_default();
        match self.exchange.cancel_open_orders(&symbols).await {
            Ok(cancelled) => info!(
                cancelled = cancelled.len(),
                symbols = %symbols.join(","),
                request_id = %request_id,
                "Kill switch: open orders cancelled"
            ),
            Err(err) => warn!(
                error = %err,
                symbols = %symbols.join(","),
                request_id = %request_id,
                "Kill switch: open orders could not all be cancelled; check them on the exchange"
            ),
        }
    }

    pub fn stats(&self) -> &TradeStats {
        &self.stats
    }

    /// Closed candles the strategy needs before its first decision.
    pub fn warmup_candles(&self) -> usize {
        self.strategy.warmup_candles()
    }

    /// Feeds history to the strategy without trading on it.
    pub fn warm_up(&mut self, candles: &[Candle]) {
        for candle in candles {
            self.exchange.on_candle(candle);
            record_close(&mut self.marks, candle);
            self.strategy.on_candle(candle);
        }
        if let Some(last) = candles.last() {
            debug!(candles = candles.len(), last_close = %last.close, "Strategy warmed up");
        }
    }

    pub async fn on_candle(&mut self, candle: &Candle) {
        self.stats.candles += 1;
        self.exchange.on_candle(candle);
        record_close(&mut self.marks, candle);
        self.board.update(|board| {
            let last = (candle.close_time_ms, candle.close);
            match board.last_candle.get_mut(&candle.symbol) {
                Some(seen) => *seen = last,
                None => {
                    board.last_candle.insert(candle.symbol.clone(), last);
                }
            }
            board.market_data_at = Some(Instant::now());
        });
        // During a database outage this is where recovery is noticed, even
        // when no signal comes.
        self.recorder.available().await;
        let decision = self.strategy.on_candle(candle);
        if decision.action == Action::Hold {
            return;
        }
        self.stats.signals += 1;
        let decided_at = now();
        let trade_id = self.act_on(&decision, candle).await;
        self.recorder
            .record_decision(DecisionRecord {
                decision_id: Uuid::now_v7().to_string(),
                run_id: self.recorder.run_id().to_owned(),
                source: self.strategy.name().to_owned(),
                symbol: decision.symbol,
                action: decision.action.to_string(),
                confidence: decision.confidence,
                reason: decision.reason,
                price: candle.close,
                decided_at,
                trade_id,
            })
            .await;
    }

    /// Trades on a signal if it should be; returns the trade put on record.
    async fn act_on(&mut self, decision: &TradingDecision, candle: &Candle) -> Option<String> {
        if decision.confidence < self.min_confidence {
            info!(
                action = %decision.action,
                confidence = decision.confidence,
                reason = %decision.reason,
                "Signal below strategy.min_confidence; not trading"
            );
            return None;
        }
        if decision.action == Action::Sell
            && self.portfolio.position(&decision.symbol).quantity.is_zero()
        {
            debug!(reason = %decision.reason, "Sell signal with no position; nothing to do");
            return None;
        }
        let executed = self.execute_trade(decision, candle).await;
        let outcome = match executed.outcome {
            TradeOutcome::Filled => {
                self.stats.filled += 1;
                "filled"
            }
            TradeOutcome::Rejected => {
                self.stats.rejected += 1;
                "rejected"
            }
            TradeOutcome::Unknown => {
                self.stats.unknown += 1;
                "unknown"
            }
            TradeOutcome::Skipped => {
                self.stats.skipped += 1;
                "skipped"
            }
        };
        metrics::global()
            .trades
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        let stats = self.stats.clone();
        self.board.update(|board| board.stats = stats);
        executed.recorded_trade_id
    }

    /// The end of the run: records the holdings and how the run ended, then
    /// sums it up for the log.
    pub async fn finish(&mut self, reason: &EndReason) -> RunSummary {
        self.save_holdings().await;
        self.recorder.finish(&reason.to_string()).await;
        self.summary().await
    }

    pub async fn summary(&mut self) -> RunSummary {
        let balances = self.exchange.balances().await.unwrap_or_default();
        let mut equity = Balances::new();
        // In symbol order, so an asset quoted in two symbols is valued the
        // same way on every run.
        let mut marks: Vec<(&String, &Decimal)> = self.marks.iter().collect();
        marks.sort();
        for (asset, amount) in &balances {
            // Value each asset in the quote of the symbol it trades in; an
            // asset with no symbol (the quote itself) counts at face value.
            let priced = marks.iter().find_map(|(symbol, price)| {
                let (base, quote) = split_symbol(symbol)?;
                (base == asset).then(|| (quote.to_owned(), *amount * *price))
            });
            let (quote, value) = priced.unwrap_or_else(|| (asset.clone(), *amount));
            *equity.entry(quote).or_default() += value;
        }
        RunSummary {
            stats: self.stats.clone(),
            realized_pnl: self.portfolio.realized_pnl,
            fees: self.portfolio.fees.clone(),
            balances,
            equity,
        }
    }
}

/// Why the loop stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    ShutdownRequested,
    MarketDataEnded,
    /// The exchange failed in a way only a person can fix; the reason.
    ExchangeFailed(String),
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::ShutdownRequested => f.write_str("shutdown requested"),
            EndReason::MarketDataEnded => f.write_str("market data ended"),
            EndReason::ExchangeFailed(reason) => write!(f, "exchange failed: {reason}"),
        }
    }
}

/// Drives `trader` from `source` until the source ends or shutdown is asked.
pub async fn run_loop<S, E, D>(
    source: &mut S,
    trader: &mut Trader<E, D>,
    shutdown: &mut Shutdown,
) -> EndReason
where
    S: CandleSource,
    E: Exchange,
    D: DecisionSource,
{
    loop {
        let event = tokio::select! {
            biased;
            () = shutdown.requested() => return EndReason::ShutdownRequested,
            () = trader.kill_switch_activated() => {
                trader.cancel_open_orders().await;
                continue;
            }
            event = source.next() => event,
        };
        match event {
            None => return EndReason::MarketDataEnded,
            Some(MarketEvent::History(candles)) => trader.warm_up(&candles),
            Some(MarketEvent::Closed(candle)) => trader.on_candle(&candle).await,
        }
        if let Some(reason) = trader.fatal.take() {
            return EndReason::ExchangeFailed(reason);
        }
    }
}

#[cfg(test)]
#[path = "trading_tests.rs"]
mod tests;
