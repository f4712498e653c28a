//! The trading loop's side of the store. It decides what an unavailable
//! database means for trading: no order is sent without its intent on
//! record, outcomes and decisions written while the database is away wait
//! in memory (in order) until it is back, and one WARN marks the outage and
//! one INFO its end.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tracing::{debug, error, info, warn};

use crate::exchange::Balances;
use crate::store::{
    DecisionRecord, PositionRecord, Store, StoreError, TradeIntent, TradeResult, TradeStatus, now,
};
use crate::telemetry::error_chain;

/// The first wait before retrying an unavailable database.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Decisions kept while the database is away; past this the oldest are
/// dropped (and counted). Trade outcomes are never dropped: they are few,
/// as no order is sent during an outage.
const MAX_WAITING_DECISIONS: usize = 10_000;

/// A write that has not reached the database yet.
enum Waiting {
    Decision(DecisionRecord),
    Result(TradeResult),
    Holdings {
        balances: Balances,
        positions: Vec<PositionRecord>,
    },
}

struct Outage {
    since: Instant,
    next_try: Instant,
    backoff: Duration,
}

pub struct Recorder {
    store: Store,
    run_id: String,
    account: String,
    max_backoff: Duration,
    outage: Option<Outage>,
    waiting: VecDeque<Waiting>,
    decisions_dropped: u64,
}

impl Recorder {
    pub fn new(store: Store, run_id: String, account: String, max_backoff: Duration) -> Self {
        Self {
            store,
            run_id,
            account,
            max_backoff,
            outage: None,
            waiting: VecDeque::new(),
            decisions_dropped: 0,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Whether the database can take writes now. During an outage this
    /// retries once the backoff has passed, writing what waited first.
    pub async fn available(&mut self) -> bool {
        let Some(outage) = &self.outage else {
            return true;
        };
        if Instant::now() < outage.next_try {
            return false;
        }
        match self.flush().await {
            Ok(flushed) => {
                let outage = self.outage.take().expect("checked above");
                info!(
                    outage_ms = outage.since.elapsed().as_millis() as u64,
                    records_written = flushed,
                    decisions_not_recorded = self.decisions_dropped,
                    "Database available again; orders resume"
                );
                self.decisions_dropped = 0;
                true
            }
            Err(err) => {
                debug!(error = %error_chain(&err), "Database still unavailable");
                let outage = self.outage.as_mut().expect("checked above");
                outage.backoff = (outage.backoff * 2).min(self.max_backoff);
                outage.next_try = Instant::now() + outage.backoff;
                false
            }
        }
    }

    /// Writes what waited, oldest first; stops at the first failure with
    /// that write still first in line.
    async fn flush(&mut self) -> Result<usize, StoreError> {
        self.store.check_writable(&self.run_id).await?;
        let mut written = 0;
        while let Some(next) = self.waiting.front() {
            match next {
                Waiting::Decision(decision) => self.store.record_decision(decision).await?,
                Waiting::Result(result) => {
                    self.store.record_result(result).await?;
                }
                Waiting::Holdings {
                    balances,
                    positions,
                } => {
                    self.store
                        .save_holdings(&self.account, balances, positions, now())
                        .await?
                }
            }
            self.waiting.pop_front();
            written += 1;
        }
        Ok(written)
    }

    fn enter_outage(&mut self, err: &StoreError) {
        if self.outage.is_some() {
            debug!(error = %error_chain(err), "Database write failed during the outage");
            return;
        }
        warn!(
            error = %error_chain(err),
            database = self.store.target(),
            "Database unavailable; no new orders until it is back (retrying with backoff)"
        );
        let backoff = FIRST_BACKOFF.min(self.max_backoff);
        self.outage = Some(Outage {
            since: Instant::now(),
            next_try: Instant::now() + backoff,
            backoff,
        });
    }

    /// Writes the trade's intent (`PENDING`). `false` means it is not on
    /// record, and the order must not be sent.
    pub async fn record_intent(&mut self, intent: &TradeIntent) -> bool {
        if !self.available().await {
            return false;
        }
        match self.store.record_intent(intent).await {
            Ok(()) => true,
            Err(err) => {
                self.enter_outage(&err);
                // The write may have landed before the failure showed (a
                // timeout): close it once the database is back.
                self.waiting.push_back(Waiting::Result(TradeResult {
                    trade_id: intent.trade_id.clone(),
                    status: TradeStatus::NotSent,
                    reason: Some("the database was unavailable to record the intent".into()),
                    exchange_order_id: None,
                    fills: Vec::new(),
                    updated_at: now(),
                }));
                false
            }
        }
    }

    /// Writes a trade's outcome now, or as soon as the database is back.
    pub async fn record_result(&mut self, result: TradeResult) {
        self.write_or_wait(Waiting::Result(result)).await;
    }

    pub async fn record_decision(&mut self, decision: DecisionRecord) {
        self.write_or_wait(Waiting::Decision(decision)).await;
    }

    pub async fn save_holdings(&mut self, balances: Balances, positions: Vec<PositionRecord>) {
        // Only the latest picture matters: replace one that is still waiting.
        self.waiting
            .retain(|waiting| !matches!(waiting, Waiting::Holdings { .. }));
        self.write_or_wait(Waiting::Holdings {
            balances,
            positions,
        })
        .await;
    }

    async fn write_or_wait(&mut self, write: Waiting) {
        if !self.available().await || !self.waiting.is_empty() {
            // Behind earlier writes, so records land in the order they happened.
            self.wait(write);
            return;
        }
        let written = match &write {
            Waiting::Decision(decision) => self.store.record_decision(decision).await,
            Waiting::Result(result) => match self.store.record_result(result).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    error!(
                        trade_id = %result.trade_id,
                        status = %result.status,
                        "Trade outcome has no recorded intent; it is not stored"
                    );
                    Ok(())
                }
                Err(err) => Err(err),
            },
            Waiting::Holdings {
                balances,
                positions,
            } => {
                self.store
                    .save_holdings(&self.account, balances, positions, now())
                    .await
            }
        };
        if let Err(err) = written {
            self.enter_outage(&err);
            self.wait(write);
        }
    }

    fn wait(&mut self, write: Waiting) {
        if matches!(write, Waiting::Decision(_)) {
            let decisions = self
                .waiting
                .iter()
                .filter(|w| matches!(w, Waiting::Decision(_)))
                .count();
            if decisions >= MAX_WAITING_DECISIONS {
                if let Some(oldest) = self
                    .waiting
                    .iter()
                    .position(|w| matches!(w, Waiting::Decision(_)))
                {
                    self.waiting.remove(oldest);
                    self.decisions_dropped += 1;
                }
            }
        }
        self.waiting.push_back(write);
    }

    /// At the end of a run: one last try, then every record that could not
    /// be written goes to the log at ERROR, so nothing is lost silently.
    pub async fn finish(&mut self, exit_reason: &str) {
        if self.outage.is_some() {
            if let Some(outage) = &mut self.outage {
                outage.next_try = Instant::now();
            }
            self.available().await;
        }
        if self.outage.is_none() {
            match self
                .store
                .finish_run(&self.run_id, exit_reason, now())
                .await
            {
                Ok(()) => return,
                Err(err) => self.enter_outage(&err),
            }
        }
        for waiting in self.waiting.drain(..) {
            match waiting {
                Waiting::Result(result) => error!(
                    trade_id = %result.trade_id,
                    status = %result.status,
                    exchange_order_id = result.exchange_order_id.as_deref().unwrap_or(""),
                    executed_quantity = %result.fills.iter().map(|f| f.quantity).sum::<Decimal>(),
                    reason = result.reason.as_deref().unwrap_or(""),
                    "Trade outcome not recorded: the database stayed unavailable. The trade stays PENDING there and is reconciled on the next start"
                ),
                Waiting::Decision(decision) => warn!(
                    symbol = %decision.symbol,
                    action = %decision.action,
                    reason = %decision.reason,
                    "Decision not recorded: the database stayed unavailable"
                ),
                Waiting::Holdings { .. } => {}
            }
        }
        error!(
            run_id = %self.run_id,
            exit_reason,
            "Run end not recorded: the database stayed unavailable"
        );
    }
}
