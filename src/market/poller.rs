//! Live candles from Binance's public klines endpoint, polled over REST.
//!
//! No API key is involved: klines are a public endpoint. Requests go through
//! the Binance client's unsigned path ([`RestClient::public_get`]), so they
//! pass the same rate-limit gate as orders: in live mode the poller shares
//! the exchange's client and waits out a 429 pause or a ban with it; in
//! paper mode it has a public client of its own on `market_data.base_url`.
//! Each symbol is its own feed. While the network is down a feed backs off
//! (doubling up to `max_backoff`), logs a WARN per failed attempt with its
//! `symbol` and when it will retry, and an INFO when data flows again; a
//! refusal from Binance (an unknown symbol) is an ERROR. It never ends on its
//! own. Candles missed
//! during an outage are fed to the strategy as history, and only the newest
//! closed one is traded on, so the daemon never acts on stale prices.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{error, info, warn};

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
    feeds: Vec<Feed>,
    queue: VecDeque<MarketEvent>,
}

/// One symbol's stream: each symbol backs off on its own, so a delisted or
/// misspelt symbol never slows the others.
struct Feed {
    symbol: String,
    /// Open time of the newest candle already handed out.
    seen: Option<i64>,
    failures: u32,
    due: Instant,
}

impl KlinePoller {
    pub fn new(settings: PollerSettings, client: RestClient) -> Self {
        let now = Instant::now();
        let feeds = settings
            .symbols
            .iter()
            .map(|symbol| Feed {
                symbol: symbol.clone(),
                seen: None,
                failures: 0,
                due: now,
            })
            .collect();
        Self {
            settings,
            client,
            feeds,
            queue: VecDeque::new(),
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(16));
        doubled.min(self.settings.max_backoff)
    }

    /// Polls every feed that is due and queues what it brought.
    async fn poll_due(&mut self) {
        let now = Instant::now();
        for index in 0..self.feeds.len() {
            if self.feeds[index].due > now {
                continue;
            }
            let feed = &self.feeds[index];
            let limit = match feed.seen {
                Some(_) => ROUTINE_LIMIT,
                None => (self.settings.history + 1).min(MAX_LIMIT),
            };
            let symbol = feed.symbol.clone();
            let result = self.fetch(&symbol, limit).await;
            let failures = self.feeds[index].failures;
            match result {
                Ok(candles) => {
                    if failures > 0 {
                        info!(symbol = %symbol, failed_attempts = failures, "Market data recovered");
                    }
                    self.accept(index, candles);
                    let feed = &mut self.feeds[index];
                    feed.failures = 0;
                    feed.due = Instant::now() + self.settings.poll_interval;
                }
                Err(err) => {
                    let failures = failures + 1;
                    let retry_in = self.backoff(failures);
                    let feed = &mut self.feeds[index];
                    feed.failures = failures;
                    feed.due = Instant::now() + retry_in;
                    let retry_in_ms = retry_in.as_millis() as u64;
                    let base_url = self.client.base_url();
                    if matches!(err, MarketDataError::KlinesApi { .. }) && failures == 1 {
                        // Binance answered and refused: no retry will fix a
                        // wrong symbol or interval, a person must.
                        error!(symbol = %symbol, error = %err, base_url = %base_url, retry_in_ms, "Binance refused the klines request; check trading.symbols and trading.interval");
                    } else {
                        warn!(symbol = %symbol, error = %err, base_url = %base_url, attempt = failures, retry_in_ms, "Market data unavailable; still running and retrying");
                    }
                }
            }
        }
    }

    /// Queues a feed's new closed candles, oldest first: all but the newest
    /// as history, the newest to trade on.
    fn accept(&mut self, index: usize, mut candles: Vec<Candle>) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as i64;
        // A server that answers newest first must not replay old candles.
        candles.sort_by_key(|c| c.open_time_ms);
        let last_seen = self.feeds[index].seen.unwrap_or(i64::MIN);
        let mut fresh: Vec<Candle> = candles
            .into_iter()
            .filter(|c| c.open_time_ms > last_seen && c.close_time_ms < now_ms)
            .collect();
        fresh.dedup_by_key(|c| c.open_time_ms);
        let Some(newest) = fresh.pop() else { return };
        self.feeds[index].seen = Some(newest.open_time_ms);
        if !fresh.is_empty() {
            self.queue.push_back(MarketEvent::History(fresh));
        }
        self.queue.push_back(MarketEvent::Closed(newest));
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
            let earliest = self.feeds.iter().map(|f| f.due).min()?;
            tokio::time::sleep_until(earliest.into()).await;
            self.poll_due().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::exchange::binance::ClientSettings;

    fn poller(symbols: &[&str]) -> KlinePoller {
        let client = RestClient::public(ClientSettings {
            base_url: "http://127.0.0.1:9".into(),
            request_timeout: Duration::from_secs(1),
            recv_window_ms: 5000,
            time_sync_interval: Duration::from_secs(300),
        })
        .unwrap();
        let settings = PollerSettings {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            interval: "1m".into(),
            poll_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            history: 3,
        };
        KlinePoller::new(settings, client)
    }

    fn candle(minute: i64) -> Candle {
        Candle {
            symbol: "BTCUSDT".into(),
            open_time_ms: minute * 60_000,
            close_time_ms: minute * 60_000 + 59_999,
            open: Decimal::ONE,
            high: Decimal::ONE,
            low: Decimal::ONE,
            close: Decimal::ONE,
            volume: Decimal::ONE,
        }
    }

    fn closed_times(events: &VecDeque<MarketEvent>) -> Vec<i64> {
        events
            .iter()
            .filter_map(|e| match e {
                MarketEvent::Closed(c) => Some(c.open_time_ms / 60_000),
                MarketEvent::History(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_newest_first_reply_is_traded_on_its_newest_candle_once() {
        let mut poller = poller(&["BTCUSDT"]);
        poller.accept(0, vec![candle(3), candle(2), candle(1)]);
        assert_eq!(closed_times(&poller.queue), [3]);
        match &poller.queue[0] {
            MarketEvent::History(history) => {
                let minutes: Vec<i64> = history.iter().map(|c| c.open_time_ms / 60_000).collect();
                assert_eq!(minutes, [1, 2]);
            }
            other => panic!("history first, got {other:?}"),
        }
        poller.queue.clear();
        poller.accept(0, vec![candle(3), candle(2)]);
        assert!(poller.queue.is_empty(), "old candles are never replayed");
    }

    #[test]
    fn backoff_doubles_per_failure_up_to_the_cap() {
        let poller = poller(&["BTCUSDT"]);
        assert_eq!(poller.backoff(1), Duration::from_secs(1));
        assert_eq!(poller.backoff(5), Duration::from_secs(16));
        assert_eq!(
            poller.backoff(20),
            Duration::from_secs(60),
            "capped at max_backoff"
        );
    }
}
