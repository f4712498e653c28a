//! The rate-limit gate every request of one client passes, shared by all
//! its clones: the 429 pause, the 418 ban and the request-weight watch.
//!
//! Owns: whether a request may go now. Must never: let a request through
//! during a ban or a pause (a request during a ban lengthens it, from two
//! minutes up to three days), or log more than one ERROR per ban.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use tracing::{error, info, warn};

use super::error::BinanceError;

/// Share of the request-weight limit above which a WARN is logged.
const WEIGHT_WARN_PERCENT: u64 = 80;

#[derive(Default)]
pub struct RateGate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    paused_until: Option<Instant>,
    banned_until: Option<Instant>,
    weight_limit: Option<u64>,
    weight_warned: bool,
}

impl RateGate {
    pub fn set_weight_limit(&self, limit: u64) {
        lock(&self.state).weight_limit = Some(limit);
    }

    /// After a 429: every request waits `retry_after`.
    pub fn pause(&self, retry_after: Duration) {
        lock(&self.state).paused_until = Some(Instant::now() + retry_after);
        warn!(
            retry_after_s = retry_after.as_secs(),
            "Binance rate limit hit; every request waits until Retry-After has passed"
        );
    }

    /// After a 418: nothing is sent until the ban ends; one ERROR per ban.
    pub fn ban(&self, remaining: Duration) {
        let was_banned = {
            let mut state = lock(&self.state);
            let was = state
                .banned_until
                .is_some_and(|until| until > Instant::now());
            state.banned_until = Some(Instant::now() + remaining);
            was
        };
        if !was_banned {
            error!(
                ban_s = remaining.as_secs(),
                "Binance banned this IP for sending too many requests; trading halted until the ban ends"
            );
        }
    }

    /// The shared gate: nothing is sent during a ban, and nothing during a
    /// 429 pause (a caller that may wait sleeps it out).
    pub async fn admit(&self, wait: bool) -> Result<(), BinanceError> {
        loop {
            let (banned, paused) = {
                let gate = lock(&self.state);
                let now = Instant::now();
                let left = |until: Option<Instant>| {
                    until
                        .map(|until| until.saturating_duration_since(now))
                        .filter(|left| !left.is_zero())
                };
                (left(gate.banned_until), left(gate.paused_until))
            };
            match (banned, paused) {
                (Some(remaining), _) => return Err(BinanceError::Banned { remaining }),
                (None, Some(remaining)) if wait => tokio::time::sleep(remaining).await,
                (None, Some(remaining)) => return Err(BinanceError::Paused { remaining }),
                (None, None) => return Ok(()),
            }
        }
    }

    pub fn note_weight(&self, headers: &HeaderMap) {
        let Some(used) = headers
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return;
        };
        let mut gate = lock(&self.state);
        let Some(limit) = gate.weight_limit else {
            return;
        };
        let high = used * 100 > limit * WEIGHT_WARN_PERCENT;
        if high && !gate.weight_warned {
            gate.weight_warned = true;
            drop(gate);
            warn!(
                used_weight = used,
                weight_limit = limit,
                "Binance request weight above 80% of the per-minute limit"
            );
        } else if used * 2 < limit && gate.weight_warned {
            // Well below again: the next climb is worth a line of its own.
            gate.weight_warned = false;
            drop(gate);
            info!(
                used_weight = used,
                weight_limit = limit,
                "Binance request weight back to normal"
            );
        }
    }
}

pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// A poisoned lock only means another thread panicked mid-update of plain
/// timestamps; the values are still usable.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
