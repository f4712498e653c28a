//! Live candles from Binance's public klines endpoint, polled over REST.
//!
//! No API key is involved: klines are a public endpoint. Requests go through
//! the Binance client's unsigned path ([`RestClient::public_get`]), so they
//! pass the same rate-limit gate as orders: in live mode the poller shares
//! the exchange's client and waits out a 429 pause or a ban with it; in
//! paper mode it has a public client of its own on `market_data.base_url`.
//! While the network is down the poller backs off (doubling up to
//! `max_backoff`), logs a WARN per failed attempt with when it will retry, and
//! an INFO when data flows again; it never ends on its own. Candles missed
//! during an outage are fed to the strategy as history, and only the newest
//! closed one is traded on, so the daemon never acts on stale prices.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use super::{Candle, CandleSource, MarketDataError, MarketEvent, parse_klines};
use crate::exchange::binance::{BinanceError, RestClient};

/// Candles asked for on a routine poll: enough to bridge a short outage.
const ROUTINE_LIMIT: usize = 10;
/// Binance's largest klines page.
const MAX_LIMIT: usize = 1000;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct PollerSettings {
    pub symbols: Vec<String>,
    pub interval: String,
    pub poll_interval: Duration,
    pub max_backoff: Duration,
    /// Closed candles fetched at start so the strategy can decide at once.
    pub history: usize,
}

pub struct KlinePoller {
    settings: PollerSettings,
    client: RestClient,
    /// Open time of the newest candle already handed out, per symbol.
    seen: HashMap<String, i64>,
    queue: VecDeque<MarketEvent>,
    failures: u32,
    polled_once: bool,
}

impl KlinePoller {
    pub fn new(settings: PollerSettings, client: RestClient) -> Self {
        Self {
            settings,
            client,
            seen: HashMap::new(),
            queue: VecDeque::new(),
            failures: 0,
            polled_once: false,
        }
    }

    fn backoff(&self) -> Duration {
        let doubled = FIRST_BACKOFF.saturating_mul(1 << self.failures.saturating_sub(1).min(16));
        doubled.min(self.settings.max_backoff)
    }

    async fn poll_all(&mut self) -> Result<(), MarketDataError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as i64;
        for symbol in self.settings.symbols.clone() {
            let limit = if self.seen.contains_key(&symbol) {
                ROUTINE_LIMIT
            } else {
                (self.settings.history + 1).min(MAX_LIMIT)
            };
            let candles = self.fetch(&symbol, limit).await?;
            let last_seen = self.seen.get(&symbol).copied().unwrap_or(i64::MIN);
            let mut fresh: Vec<Candle> = candles
                .into_iter()
                .filter(|c| c.open_time_ms > last_seen && c.close_time_ms < now_ms)
                .collect();
            let Some(newest) = fresh.pop() else { continue };
            self.seen.insert(symbol, newest.open_time_ms);
            if !fresh.is_empty() {
                self.queue.push_back(MarketEvent::History(fresh));
            }
            self.queue.push_back(MarketEvent::Closed(newest));
        }
        Ok(())
    }

    async fn fetch(&self, symbol: &str, limit: usize) -> Result<Vec<Candle>, MarketDataError> {
        let limit = limit.to_string();
        let query = [
            ("symbol", symbol),
            ("interval", self.settings.interval.as_str()),
            ("limit", limit.as_str()),
        ];
        match self.client.public_get("/api/v3/klines", &query).await {
            Ok(body) => parse_klines(symbol, &body),
            Err(BinanceError::Api { code, msg, .. }) => {
                Err(MarketDataError::KlinesApi { code, msg })
            }
            // The client's errors never carry the URL or its query.
            Err(err) => Err(MarketDataError::Http {
                reason: err.to_string(),
            }),
        }
    }
}

impl CandleSource for KlinePoller {
    async fn next(&mut self) -> Option<MarketEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.polled_once {
                let wait = if self.failures > 0 {
                    self.backoff()
                } else {
                    self.settings.poll_interval
                };
                tokio::time::sleep(wait).await;
            }
            self.polled_once = true;
            match self.poll_all().await {
                Ok(()) if self.failures > 0 => {
                    info!(failed_attempts = self.failures, "Market data recovered");
                    self.failures = 0;
                }
                Ok(()) => {}
                Err(err) => {
                    self.failures += 1;
                    warn!(
                        error = %err,
                        base_url = %self.client.base_url(),
                        attempt = self.failures,
                        retry_in_ms = self.backoff().as_millis() as u64,
                        "Market data unavailable; still running and retrying"
                    );
                }
            }
        }
    }
}
