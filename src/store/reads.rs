//! Reads: what `tradebot trades`, start-up reconciliation, the kill switch
//! and the tests ask of the store.

use sqlx::Row;

use super::values::parse;
use super::{
    FillRecord, KillSwitchAction, KillSwitchEvent, KillSwitchSource, PositionRecord, RunStart,
    Store, StoreError, TradeFilter, TradeRecord, TradeStatus, with_pool,
};
use crate::exchange::Balances;

const TRADE_COLUMNS: &str = "trade_id, correlation_id, run_id, account, symbol, side, quantity, \
     price, status, status_reason, client_order_id, exchange_order_id, executed_quantity, \
     average_price, created_at, updated_at";

/// Builds a [`TradeRecord`] (without fills) from a row of `TRADE_COLUMNS`.
macro_rules! trade_from_row {
    ($row:expr, $v:ident) => {
        TradeRecord {
            trade_id: $row.try_get("trade_id")?,
            correlation_id: $row.try_get("correlation_id")?,
            run_id: $row.try_get("run_id")?,
            account: $row.try_get("account")?,
            symbol: $row.try_get("symbol")?,
            side: $row.try_get("side")?,
            quantity: $v::get_dec(&$row, "quantity")?,
            price: $v::get_dec(&$row, "price")?,
            status: parse::<TradeStatus, _>(&$row, "status")?,
            status_reason: $row.try_get("status_reason")?,
            client_order_id: $row.try_get("client_order_id")?,
            exchange_order_id: $row.try_get("exchange_order_id")?,
            executed_quantity: $v::get_opt_dec(&$row, "executed_quantity")?,
            average_price: $v::get_opt_dec(&$row, "average_price")?,
            created_at: $row.try_get("created_at")?,
            updated_at: $row.try_get("updated_at")?,
            fills: Vec::new(),
        }
    };
}

impl Store {
    /// The most recent trades matching `filter`, oldest first (like a log's
    /// tail), each with its fills.
    pub async fn trades(&self, filter: &TradeFilter) -> Result<Vec<TradeRecord>, StoreError> {
        let sql = format!(
            "SELECT {TRADE_COLUMNS} FROM trades \
             WHERE ($1 IS NULL OR symbol = $1) AND ($2 IS NULL OR created_at >= $2) \
               AND ($4 IS NULL OR account = $4) \
             ORDER BY created_at DESC, trade_id DESC LIMIT $3"
        );
        let mut trades = self
            .timed("trade query", async {
                with_pool!(self, |pool, v| {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                        .bind(&filter.symbol)
                        .bind(filter.since)
                        .bind(i64::from(filter.limit))
                        .bind(&filter.account)
                        .fetch_all(pool)
                        .await?;
                    let mut trades = Vec::with_capacity(rows.len());
                    for row in rows {
                        trades.push(trade_from_row!(row, v));
                    }
                    Ok(trades)
                })
            })
            .await?;
        trades.reverse();
        for trade in &mut trades {
            trade.fills = self.fills(&trade.trade_id).await?;
        }
        Ok(trades)
    }

    /// Trades of `account` left `PENDING` or `UNKNOWN` by earlier runs:
    /// their orders may exist on the exchange.
    pub async fn unresolved_trades(
        &self,
        account: &str,
        current_run_id: &str,
    ) -> Result<Vec<TradeRecord>, StoreError> {
        let sql = format!(
            "SELECT {TRADE_COLUMNS} FROM trades \
             WHERE account = $1 AND run_id <> $2 AND status IN ('PENDING', 'UNKNOWN') \
             ORDER BY created_at, trade_id"
        );
        self.timed("unresolved trade query", async {
            with_pool!(self, |pool, v| {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(account)
                    .bind(current_run_id)
                    .fetch_all(pool)
                    .await?;
                let mut trades = Vec::with_capacity(rows.len());
                for row in rows {
                    trades.push(trade_from_row!(row, v));
                }
                Ok(trades)
            })
        })
        .await
    }

    pub async fn fills(&self, trade_id: &str) -> Result<Vec<FillRecord>, StoreError> {
        self.timed("fill query", async {
            with_pool!(self, |pool, v| {
                let rows = sqlx::query(
                    "SELECT price, quantity, fee, fee_asset FROM fills \
                     WHERE trade_id = $1 ORDER BY seq",
                )
                .bind(trade_id)
                .fetch_all(pool)
                .await?;
                let mut fills = Vec::with_capacity(rows.len());
                for row in rows {
                    fills.push(FillRecord {
                        price: v::get_dec(&row, "price")?,
                        quantity: v::get_dec(&row, "quantity")?,
                        fee: v::get_dec(&row, "fee")?,
                        fee_asset: row.try_get("fee_asset")?,
                    });
                }
                Ok(fills)
            })
        })
        .await
    }

    /// The latest kill-switch event, which is the switch's state; `None`
    /// when it was never used.
    pub async fn kill_switch(&self) -> Result<Option<KillSwitchEvent>, StoreError> {
        self.timed("kill-switch query", async {
            with_pool!(self, |pool| {
                let row = sqlx::query(
                    "SELECT event_id, action, reason, source, request_id, at \
                     FROM kill_switch_events ORDER BY at DESC, event_id DESC LIMIT 1",
                )
                .fetch_optional(pool)
                .await?;
                row.map(|row| {
                    let action: String = row.try_get("action")?;
                    let source: String = row.try_get("source")?;
                    Ok(KillSwitchEvent {
                        event_id: row.try_get("event_id")?,
                        action: KillSwitchAction::parse(&action)
                            .ok_or_else(|| decode_error("kill_switch_events.action", &action))?,
                        reason: row.try_get("reason")?,
                        source: KillSwitchSource::parse(&source)
                            .ok_or_else(|| decode_error("kill_switch_events.source", &source))?,
                        request_id: row.try_get("request_id")?,
                        at: row.try_get("at")?,
                    })
                })
                .transpose()
            })
        })
        .await
    }
}

impl Store {
    /// The most recently started run on live market data (backtests left
    /// out): what the dashboard reports as the daemon's mode and account.
    pub async fn latest_live_run(&self) -> Result<Option<RunStart>, StoreError> {
        self.timed("run query", async {
            with_pool!(self, |pool| {
                let row = sqlx::query(
                    "SELECT run_id, started_at, version, mode, market_data, account, config_digest \
                     FROM runs WHERE market_data = 'live' \
                     ORDER BY started_at DESC, run_id DESC LIMIT 1",
                )
                .fetch_optional(pool)
                .await?;
                row.map(|row| {
                    Ok(RunStart {
                        run_id: row.try_get("run_id")?,
                        started_at: row.try_get("started_at")?,
                        version: row.try_get("version")?,
                        mode: row.try_get("mode")?,
                        market_data: row.try_get("market_data")?,
                        account: row.try_get("account")?,
                        config_digest: row.try_get("config_digest")?,
                    })
                })
                .transpose()
            })
        })
        .await
    }

    /// The balances and positions last recorded for `account`.
    pub async fn holdings(
        &self,
        account: &str,
    ) -> Result<(Balances, Vec<PositionRecord>), StoreError> {
        self.timed("holdings query", async {
            with_pool!(self, |pool, v| {
                let mut balances = Balances::new();
                for row in sqlx::query("SELECT asset, amount FROM balances WHERE account = $1")
                    .bind(account)
                    .fetch_all(pool)
                    .await?
                {
                    balances.insert(row.try_get("asset")?, v::get_dec(&row, "amount")?);
                }
                let mut positions = Vec::new();
                for row in sqlx::query(
                    "SELECT symbol, quantity, average_cost FROM positions \
                     WHERE account = $1 ORDER BY symbol",
                )
                .bind(account)
                .fetch_all(pool)
                .await?
                {
                    positions.push(PositionRecord {
                        symbol: row.try_get("symbol")?,
                        quantity: v::get_dec(&row, "quantity")?,
                        average_cost: v::get_dec(&row, "average_cost")?,
                    });
                }
                Ok((balances, positions))
            })
        })
        .await
    }
}

fn decode_error(column: &str, found: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("column {column} holds {found:?}").into())
}
