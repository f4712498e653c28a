//! The lines that close a run: what it traded, earned and paid, and why it
//! stopped. `Shutdown complete` is always the last line of a clean stop.

use tracing::{error, info};

use crate::exchange::Balances;
use crate::trading::{EndReason, RunSummary};

pub(super) fn log_summary(reason: &EndReason, summary: &RunSummary) {
    let stats = &summary.stats;
    let realized_pnl = summary.realized_pnl.round_dp(8);
    let fees = format_balances(&summary.fees);
    let balances = format_balances(&summary.balances);
    if *reason == EndReason::MarketDataEnded {
        info!(
            candles = stats.candles,
            trades_filled = stats.filled,
            trades_rejected = stats.rejected,
            trades_unknown = stats.unknown,
            realized_pnl = %realized_pnl,
            fees = %fees,
            balances = %balances,
            equity = %format_balances(&summary.equity),
            "Replay finished"
        );
    }
    if stats.unknown > 0 {
        error!(
            trades_unknown = stats.unknown,
            "Trades with unknown outcome need reconciling"
        );
    }
    info!(
        reason = match reason {
            EndReason::ShutdownRequested => "signal",
            EndReason::MarketDataEnded => "market data ended",
            EndReason::ExchangeFailed(_) => "exchange failure",
        },
        candles = stats.candles,
        trades_filled = stats.filled,
        trades_rejected = stats.rejected,
        realized_pnl = %realized_pnl,
        fees = %fees,
        balances = %balances,
        "Shutdown complete"
    );
}

/// `BTC=0.01 USDT=9928.1` — compact and greppable in one field.
fn format_balances(balances: &Balances) -> String {
    balances
        .iter()
        .map(|(asset, amount)| format!("{asset}={}", amount.normalize()))
        .collect::<Vec<_>>()
        .join(" ")
}
