//! Writes. Each public method is one statement or one transaction, bounded
//! by the store's timeout, so a slow database delays the caller by at most
//! that and never leaves half a record.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{
    DecisionRecord, KillSwitchEvent, PositionRecord, RunStart, Store, StoreError, TradeIntent,
    TradeResult, TradeStatus, with_pool,
};
use crate::exchange::Balances;

impl Store {
    pub async fn start_run(&self, run: &RunStart) -> Result<(), StoreError> {
        self.timed("run start", async {
            with_pool!(self, |pool| sqlx::query(
                "INSERT INTO runs (run_id, started_at, version, mode, market_data, account, config_digest) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            )
            .bind(&run.run_id)
            .bind(run.started_at)
            .bind(&run.version)
            .bind(&run.mode)
            .bind(&run.market_data)
            .bind(&run.account)
            .bind(&run.config_digest)
            .execute(pool)
            .await
            .map(drop))
        })
        .await
    }

    pub async fn finish_run(
        &self,
        run_id: &str,
        exit_reason: &str,
        stopped_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.timed("run stop", async {
            with_pool!(self, |pool| sqlx::query(
                "UPDATE runs SET stopped_at = $2, exit_reason = $3 WHERE run_id = $1"
            )
            .bind(run_id)
            .bind(stopped_at)
            .bind(exit_reason)
            .execute(pool)
            .await
            .map(drop))
        })
        .await
    }

    /// Safe to repeat: a write that timed out may have landed after all.
    pub async fn record_decision(&self, decision: &DecisionRecord) -> Result<(), StoreError> {
        self.timed("decision insert", async {
            with_pool!(self, |pool, v| sqlx::query(
                "INSERT INTO decisions \
                 (decision_id, run_id, source, symbol, action, confidence, reason, price, decided_at, trade_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (decision_id) DO NOTHING"
            )
            .bind(&decision.decision_id)
            .bind(&decision.run_id)
            .bind(&decision.source)
            .bind(&decision.symbol)
            .bind(&decision.action)
            .bind(decision.confidence)
            .bind(&decision.reason)
            .bind(v::dec(decision.price))
            .bind(decision.decided_at)
            .bind(&decision.trade_id)
            .execute(pool)
            .await
            .map(drop))
        })
        .await
    }

    /// Writes a trade as `PENDING`: call before the order is sent, and send
    /// nothing unless this succeeded.
    pub async fn record_intent(&self, intent: &TradeIntent) -> Result<(), StoreError> {
        self.timed("trade intent insert", async {
            with_pool!(self, |pool, v| sqlx::query(
                "INSERT INTO trades \
                 (trade_id, correlation_id, run_id, account, symbol, side, quantity, price, status, \
                  client_order_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)"
            )
            .bind(&intent.trade_id)
            .bind(&intent.correlation_id)
            .bind(&intent.run_id)
            .bind(&intent.account)
            .bind(&intent.symbol)
            .bind(intent.side.to_string())
            .bind(v::dec(intent.quantity))
            .bind(v::dec(intent.price))
            .bind(TradeStatus::Pending.as_str())
            .bind(&intent.client_order_id)
            .bind(intent.created_at)
            .execute(pool)
            .await
            .map(drop))
        })
        .await
    }

    /// Writes a trade's outcome and its fills in one transaction. Safe to
    /// repeat (the fills are replaced). Returns whether the trade existed:
    /// an intent whose write timed out may or may not have landed.
    pub async fn record_result(&self, result: &TradeResult) -> Result<bool, StoreError> {
        self.write_result(result, false).await
    }

    /// [`Store::record_result`] only while the trade is still `PENDING` or
    /// `UNKNOWN`: a reconciliation must never overwrite an outcome another
    /// daemon recorded meanwhile. Returns whether it wrote.
    pub async fn resolve_result(&self, result: &TradeResult) -> Result<bool, StoreError> {
        self.write_result(result, true).await
    }

    async fn write_result(
        &self,
        result: &TradeResult,
        unresolved_only: bool,
    ) -> Result<bool, StoreError> {
        let guard = if unresolved_only {
            " AND status IN ('PENDING', 'UNKNOWN')"
        } else {
            ""
        };
        let update = format!(
            "UPDATE trades SET status = $2, status_reason = $3, exchange_order_id = $4, \
             executed_quantity = $5, average_price = $6, updated_at = $7 \
             WHERE trade_id = $1{guard}"
        );
        let executed: Decimal = result.fills.iter().map(|f| f.quantity).sum();
        let average_price = (!executed.is_zero()).then(|| {
            let notional: Decimal = result.fills.iter().map(|f| f.price * f.quantity).sum();
            notional / executed
        });
        let executed = (!result.fills.is_empty()).then_some(executed);
        self.timed("trade result update", async {
            with_pool!(self, |pool, v| {
                let mut tx = pool.begin().await?;
                let updated = sqlx::query(sqlx::AssertSqlSafe(update.as_str()))
                    .bind(&result.trade_id)
                    .bind(result.status.as_str())
                    .bind(&result.reason)
                    .bind(&result.exchange_order_id)
                    .bind(v::opt_dec(executed))
                    .bind(v::opt_dec(average_price))
                    .bind(result.updated_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated > 0 {
                    sqlx::query("DELETE FROM fills WHERE trade_id = $1")
                        .bind(&result.trade_id)
                        .execute(&mut *tx)
                        .await?;
                    for (seq, fill) in result.fills.iter().enumerate() {
                        sqlx::query(
                            "INSERT INTO fills (trade_id, seq, price, quantity, fee, fee_asset) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(&result.trade_id)
                        .bind(seq as i32)
                        .bind(v::dec(fill.price))
                        .bind(v::dec(fill.quantity))
                        .bind(v::dec(fill.fee))
                        .bind(&fill.fee_asset)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(updated > 0)
            })
        })
        .await
    }

    /// Claims a kill-switch request's signature: `false` when any process
    /// on this database already used it. Signatures signed before
    /// `forget_before` (Unix seconds) can no longer pass the time check, so
    /// they are pruned here.
    pub async fn claim_signature(
        &self,
        signature: &str,
        signed_at: i64,
        forget_before: i64,
    ) -> Result<bool, StoreError> {
        self.timed("kill-switch signature claim", async {
            with_pool!(self, |pool| {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM kill_switch_signatures WHERE signed_at < $1")
                    .bind(forget_before)
                    .execute(&mut *tx)
                    .await?;
                let claimed = sqlx::query(
                    "INSERT INTO kill_switch_signatures (signature, signed_at) VALUES ($1, $2) \
                     ON CONFLICT (signature) DO NOTHING",
                )
                .bind(signature)
                .bind(signed_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(claimed == 1)
            })
        })
        .await
    }

    pub async fn record_kill_switch(&self, event: &KillSwitchEvent) -> Result<(), StoreError> {
        self.timed("kill-switch event insert", async {
            with_pool!(self, |pool| sqlx::query(
                "INSERT INTO kill_switch_events (event_id, action, reason, source, request_id, at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING"
            )
            .bind(&event.event_id)
            .bind(event.action.as_str())
            .bind(&event.reason)
            .bind(event.source.as_str())
            .bind(&event.request_id)
            .bind(event.at)
            .execute(pool)
            .await
            .map(drop))
        })
        .await
    }

    /// Replaces what the store holds for `account` with what the daemon sees
    /// now: every balance and position it reports, in one transaction.
    pub async fn save_holdings(
        &self,
        account: &str,
        balances: &Balances,
        positions: &[PositionRecord],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.timed("holdings upsert", async {
            with_pool!(self, |pool, v| {
                let mut tx = pool.begin().await?;
                for (asset, amount) in balances {
                    sqlx::query(
                        "INSERT INTO balances (account, asset, amount, updated_at) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (account, asset) DO UPDATE \
                         SET amount = excluded.amount, updated_at = excluded.updated_at",
                    )
                    .bind(account)
                    .bind(asset)
                    .bind(v::dec(*amount))
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                for position in positions {
                    sqlx::query(
                        "INSERT INTO positions (account, symbol, quantity, average_cost, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (account, symbol) DO UPDATE \
                         SET quantity = excluded.quantity, average_cost = excluded.average_cost, \
                             updated_at = excluded.updated_at",
                    )
                    .bind(account)
                    .bind(&position.symbol)
                    .bind(v::dec(position.quantity))
                    .bind(v::dec(position.average_cost))
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await
            })
        })
        .await
    }
}
