//! The one error type of the Binance client, split by what the caller must do
//! next, and its mapping onto [`ExchangeError`].
//!
//! Owns: classifying a failed request (never reached Binance, may have
//! executed, refused for good, rate limited, needs a person). Must never:
//! carry a URL, a query string, a header value or a key; reqwest errors enter
//! only through [`BinanceError::from_reqwest`], which drops the URL.

use std::time::Duration;

use crate::exchange::ExchangeError;
use crate::telemetry::error_chain;

/// Binance's codes that decide what happens next.
pub mod codes {
    /// The order's status is unknown: it may have executed.
    pub const UNKNOWN_STATUS: i64 = -1007;
    pub const TOO_MANY_REQUESTS: i64 = -1003;
    pub const TIMESTAMP_OUTSIDE_WINDOW: i64 = -1021;
    pub const INVALID_SIGNATURE: i64 = -1022;
    pub const BAD_API_KEY_FORMAT: i64 = -2014;
    pub const REJECTED_API_KEY: i64 = -2015;
    pub const ORDER_DOES_NOT_EXIST: i64 = -2013;
    /// A cancel refused; with "Unknown order sent." it means nothing to cancel.
    pub const CANCEL_REJECTED: i64 = -2011;
}

#[derive(Debug, thiserror::Error)]
pub enum BinanceError {
    /// The connection was never made: nothing reached Binance.
    #[error("cannot connect to binance: {reason}")]
    Connect { reason: String },
    /// No reply in time; the request may have been processed.
    #[error("no reply from binance in time: {reason}")]
    Timeout { reason: String },
    /// The exchange was reached but the exchange failed the request; it may
    /// have been processed.
    #[error("binance answered http {status}")]
    Server { status: u16 },
    /// The connection broke after the request left; it may have been processed.
    #[error("request to binance failed on the way: {reason}")]
    Transport { reason: String },
    /// A reply that is not what Binance documents.
    #[error("binance reply for {what} is malformed: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// Binance's `{code, msg}`: the request was refused.
    #[error("binance error {code}: {msg}")]
    Api { status: u16, code: i64, msg: String },
    /// HTTP 429: every request waits out `retry_after`.
    #[error("binance rate limit hit (http 429); requests paused for {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// Refused before sending: the 429 pause is still running.
    #[error("requests paused after a rate limit for another {remaining:?}; not sent")]
    Paused { remaining: Duration },
    /// HTTP 418, or refused before sending while that ban lasts.
    #[error("this ip is banned by binance for another {remaining:?}; not sent")]
    Banned { remaining: Duration },
    /// -1021 again right after re-measuring the clock offset.
    #[error(
        "binance error -1021 (timestamp outside recvWindow) persists after resyncing the clock; check the host clock"
    )]
    ClockSkew,
    /// Refused before sending by the symbol's exchange filters.
    #[error("{0}")]
    Filter(String),
    /// A symbol missing from exchangeInfo.
    #[error("symbol {0} is not in binance's exchangeInfo")]
    UnknownSymbol(String),
    /// The client could not be built (TLS backend, bad base URL).
    #[error("cannot build the http client: {0}")]
    Setup(String),
}

impl BinanceError {
    /// The rule for every reqwest error: no URL (signed queries carry the
    /// signature and timestamp), but the whole cause chain.
    pub fn from_reqwest(err: reqwest::Error) -> Self {
        let is_connect = err.is_connect();
        let is_timeout = err.is_timeout();
        let reason = error_chain(&err.without_url());
        if is_connect {
            BinanceError::Connect { reason }
        } else if is_timeout {
            BinanceError::Timeout { reason }
        } else {
            BinanceError::Transport { reason }
        }
    }

    /// True when an order request that failed this way may have executed.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            BinanceError::Timeout { .. }
            | BinanceError::Server { .. }
            | BinanceError::Transport { .. }
            | BinanceError::Malformed { .. } => true,
            BinanceError::Api { code, .. } => *code == codes::UNKNOWN_STATUS,
            _ => false,
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            BinanceError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Credentials or signing that Binance refuses: a person must fix them.
    pub fn needs_a_person(&self) -> bool {
        matches!(self, BinanceError::ClockSkew)
            || matches!(
                self.code(),
                Some(
                    codes::INVALID_SIGNATURE | codes::BAD_API_KEY_FORMAT | codes::REJECTED_API_KEY
                )
            )
    }
}

impl From<BinanceError> for ExchangeError {
    fn from(err: BinanceError) -> Self {
        let reason = err.to_string();
        if err.needs_a_person() {
            return ExchangeError::Fatal { reason };
        }
        if err.outcome_unknown() {
            return ExchangeError::OutcomeUnknown { reason };
        }
        match err {
            BinanceError::Connect { .. } => ExchangeError::Unreachable { reason },
            BinanceError::RateLimited { retry_after } => ExchangeError::RateLimited { retry_after },
            BinanceError::Paused { remaining } => ExchangeError::RateLimited {
                retry_after: remaining,
            },
            BinanceError::Api {
                code: codes::TOO_MANY_REQUESTS,
                ..
            } => ExchangeError::RateLimited {
                retry_after: Duration::from_secs(60),
            },
            BinanceError::Banned { .. } => ExchangeError::Halted { reason },
            // -2010 (new order rejected), -2011 (cancel rejected), -2013 (no
            // such order), -1013 (filter failure) and the rest: final refusals.
            _ => ExchangeError::Rejected { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> BinanceError {
        BinanceError::Api {
            status: 400,
            code,
            msg: "m".into(),
        }
    }

    #[test]
    fn each_binance_error_maps_to_what_the_trader_must_do() {
        let kind = |err: BinanceError| match ExchangeError::from(err) {
            ExchangeError::Rejected { .. } => "rejected",
            ExchangeError::OutcomeUnknown { .. } => "unknown",
            ExchangeError::RateLimited { .. } => "rate limited",
            ExchangeError::Unreachable { .. } => "unreachable",
            ExchangeError::Halted { .. } => "halted",
            ExchangeError::Fatal { .. } => "fatal",
        };
        for code in [-2010, -2011, -2013, -1013] {
            assert_eq!(kind(api(code)), "rejected", "{code}");
        }
        for code in [-1022, -2014, -2015] {
            assert_eq!(kind(api(code)), "fatal", "{code}");
        }
        assert_eq!(kind(api(-1007)), "unknown");
        assert_eq!(kind(api(-1003)), "rate limited");
        assert_eq!(kind(BinanceError::Server { status: 502 }), "unknown");
        assert_eq!(
            kind(BinanceError::Timeout { reason: "t".into() }),
            "unknown"
        );
        assert_eq!(
            kind(BinanceError::Connect { reason: "c".into() }),
            "unreachable"
        );
        assert_eq!(
            kind(BinanceError::Banned {
                remaining: Duration::from_secs(1)
            }),
            "halted"
        );
        assert_eq!(kind(BinanceError::ClockSkew), "fatal");
        assert!(
            ExchangeError::from(BinanceError::ClockSkew)
                .to_string()
                .contains("-1021")
        );
    }
}
