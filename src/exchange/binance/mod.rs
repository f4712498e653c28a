//! [`BinanceExchange`]: the [`Exchange`] trait on Binance Spot's REST API,
//! testnet by default.
//!
//! Owns: connecting (clock offset, exchangeInfo filters for the traded
//! symbols, the account's balances and open orders), market orders by client
//! id, the rule for an unknown outcome (query by `origClientOrderId`, resend
//! only when Binance confirms the order absent, else report it unknown), and
//! cancelling every open order of a symbol for the kill switch. The parts:
//! [`client`] (requests, rate-limit gate, clock), [`signing`], [`filters`],
//! [`responses`] and [`error`].
//!
//! Must never: resend an order whose outcome is unknown (Binance accepts a
//! reused client id once the first order filled, so a blind resend can
//! double a market order); put a credential or a signed query in a log line,
//! an error or a Debug print; spawn a task for an order (its lines must stay
//! in the caller's trade span).

pub mod client;
mod error;
mod filters;
mod gate;
mod orders;
mod responses;
pub mod signing;
mod startup;

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;

use super::{Balances, Exchange, ExchangeError, OrderReport, OrderRequest};
use crate::config::{Config, Environment};
use crate::market::{Candle, record_close};

pub use client::{ClientSettings, Credentials, RestClient};
pub use error::BinanceError;
pub use filters::{Filter, SymbolRules};

/// The prefix of every client order id tradebot sends (see `new_trade_id`).
const OUR_PREFIX: &str = "tb-";

/// Waits before each query of an order whose outcome is unknown.
pub const UNKNOWN_OUTCOME_BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

#[derive(Debug, Clone)]
pub struct BinanceSettings {
    pub environment: Environment,
    pub client: ClientSettings,
    pub symbols: Vec<String>,
    /// The waits before each query after an unknown outcome; its length is
    /// the number of queries.
    pub unknown_outcome_backoff: Vec<Duration>,
}

impl BinanceSettings {
    pub fn from_config(config: &Config) -> Self {
        let exchange = &config.exchange;
        Self {
            environment: exchange.environment,
            client: ClientSettings {
                base_url: exchange.effective_base_url(),
                request_timeout: Duration::from_millis(exchange.request_timeout_ms),
                recv_window_ms: exchange.recv_window_ms,
                time_sync_interval: Duration::from_secs(exchange.time_sync_interval_s),
            },
            symbols: config.trading.symbols.clone(),
            unknown_outcome_backoff: UNKNOWN_OUTCOME_BACKOFF.to_vec(),
        }
    }
}

pub struct BinanceExchange {
    client: RestClient,
    environment: Environment,
    rules: HashMap<String, SymbolRules>,
    /// Last close per symbol, for the notional filters of market orders.
    last_close: HashMap<String, Decimal>,
    backoff: Vec<Duration>,
}

impl BinanceExchange {
    /// Connects and reports the account: measures the clock offset, loads
    /// the symbols' filters and the weight limit, logs the non-zero balances
    /// and the open orders. Any failure here stops the start.
    pub async fn connect(
        settings: BinanceSettings,
        credentials: &Credentials,
    ) -> Result<Self, BinanceError> {
        let client = RestClient::signed(settings.client.clone(), credentials)?;
        client.sync_time().await?;
        let rules = startup::load_rules(&client, &settings.symbols).await?;
        let mut exchange = Self {
            client,
            environment: settings.environment,
            rules,
            last_close: HashMap::new(),
            backoff: settings.unknown_outcome_backoff,
        };
        startup::report_account(&mut exchange).await?;
        Ok(exchange)
    }

    /// The client, shared with the klines poller so both pass one gate.
    pub fn client(&self) -> RestClient {
        self.client.clone()
    }
}

impl Exchange for BinanceExchange {
    fn name(&self) -> &'static str {
        match self.environment {
            Environment::Testnet => "binance-testnet",
            Environment::Production => "binance",
        }
    }

    fn on_candle(&mut self, candle: &Candle) {
        record_close(&mut self.last_close, candle);
    }

    async fn place_market_order(
        &mut self,
        order: &OrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        self.place(order).await
    }

    async fn query_order(
        &mut self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        self.find(symbol, client_order_id)
            .await
            .map_err(ExchangeError::from)
    }

    async fn balances(&mut self) -> Result<Balances, ExchangeError> {
        self.fetch_balances().await.map_err(ExchangeError::from)
    }

    async fn cancel_open_orders(
        &mut self,
        symbols: &[String],
    ) -> Result<Vec<String>, ExchangeError> {
        self.cancel_all(symbols).await
    }
}
