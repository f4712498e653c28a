//! The Binance REST client: public and signed requests, the shared
//! rate-limit gate and the offset to Binance's clock.
//!
//! Owns: building each request (the signed string is the sent string), the
//! `X-MBX-APIKEY` header (marked sensitive), reading `X-MBX-USED-WEIGHT-*`,
//! `Retry-After` and Binance's `{code, msg}`, and pausing every request of
//! every clone during a 429 pause or a 418 ban. Market data and orders share
//! one client, so the klines poller can never spend the weight orders need
//! or keep asking while Binance has said stop.
//!
//! Must never: log a URL's query, a header value, the key or the secret;
//! retry a request that may have executed (that is the order logic's call,
//! made by client id); spawn a task (lines logged here belong to the
//! caller's span, so an order's lines carry its `correlation_id`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use super::error::{BinanceError, codes};
use super::gate::{RateGate, lock, retry_after};
use super::responses::{ApiErrorBody, ServerTime};
use super::signing::{SignedQuery, encode_params};

/// `Retry-After` when Binance leaves it out (it documents always sending it).
const DEFAULT_PAUSE: Duration = Duration::from_secs(30);
const DEFAULT_BAN: Duration = Duration::from_secs(120);

/// The exchange credentials, as the secrets manager loaded them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub api_key: SecretString,
    pub api_secret: SecretString,
}

#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Without a trailing slash.
    pub base_url: String,
    pub request_timeout: Duration,
    pub recv_window_ms: u64,
    pub time_sync_interval: Duration,
}

/// Cheap to clone; every clone shares the gate and the clock.
#[derive(Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
    signer: Option<Signer>,
    gate: RateGate,
    clock: Mutex<Clock>,
}

struct Signer {
    api_key: HeaderValue,
    secret: SecretString,
}

#[derive(Default)]
struct Clock {
    offset_ms: i64,
    synced_at: Option<Instant>,
}

impl RestClient {
    /// A client for public endpoints only (paper mode's market data).
    pub fn public(settings: ClientSettings) -> Result<Self, BinanceError> {
        Self::build(settings, None)
    }

    pub fn signed(
        settings: ClientSettings,
        credentials: &Credentials,
    ) -> Result<Self, BinanceError> {
        let mut api_key =
            HeaderValue::from_str(credentials.api_key.expose_secret()).map_err(|_| {
                BinanceError::Setup(
                    "secret exchange_api_key is not a valid http header value".into(),
                )
            })?;
        // Keeps it out of reqwest's and hyper's Debug output.
        api_key.set_sensitive(true);
        let signer = Signer {
            api_key,
            secret: credentials.api_secret.clone(),
        };
        Self::build(settings, Some(signer))
    }

    fn build(settings: ClientSettings, signer: Option<Signer>) -> Result<Self, BinanceError> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .user_agent(concat!("tradebot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| {
                BinanceError::Setup(crate::telemetry::error_chain(&err.without_url()))
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                settings,
                signer,
                gate: RateGate::default(),
                clock: Mutex::default(),
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.settings.base_url
    }

    /// The per-minute request-weight limit from exchangeInfo.
    pub fn set_weight_limit(&self, limit: u64) {
        self.inner.gate.set_weight_limit(limit);
    }

    /// The milliseconds added to the local clock to get Binance's.
    pub fn clock_offset_ms(&self) -> i64 {
        lock(&self.inner.clock).offset_ms
    }

    /// An unsigned GET. Waits out a 429 pause; refused during a ban.
    pub async fn public_get(
        &self,
        path: &'static str,
        params: &[(&str, &str)],
    ) -> Result<Vec<u8>, BinanceError> {
        self.inner.gate.admit(true).await?;
        let mut url = format!("{}{path}", self.inner.settings.base_url);
        if !params.is_empty() {
            url.push('?');
            url.push_str(&encode_params(params));
        }
        self.execute(self.inner.http.get(url), path).await
    }

    /// A signed request. `wait` says whether to wait out a 429 pause (a
    /// query) or to refuse at once (an order: the trade has moved on by
    /// then). A -1021 is answered by measuring the clock again and retrying
    /// once: Binance refused the request unprocessed, so that is safe.
    pub async fn signed_request(
        &self,
        method: Method,
        path: &'static str,
        params: &[(&str, &str)],
        wait: bool,
    ) -> Result<Vec<u8>, BinanceError> {
        match self.signed_once(&method, path, params, wait).await {
            Err(err) if err.code() == Some(codes::TIMESTAMP_OUTSIDE_WINDOW) => {
                warn!(
                    error = %err,
                    "Binance refused our timestamp; measuring the clock offset again and retrying once"
                );
                self.sync_time().await?;
                match self.signed_once(&method, path, params, wait).await {
                    Err(err) if err.code() == Some(codes::TIMESTAMP_OUTSIDE_WINDOW) => {
                        Err(BinanceError::ClockSkew)
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn signed_once(
        &self,
        method: &Method,
        path: &'static str,
        params: &[(&str, &str)],
        wait: bool,
    ) -> Result<Vec<u8>, BinanceError> {
        self.inner.gate.admit(wait).await?;
        if self.clock_is_stale() {
            self.sync_time().await?;
        }
        let signer = self.inner.signer.as_ref().ok_or_else(|| {
            BinanceError::Setup("a signed request needs the exchange credentials".into())
        })?;
        let recv_window = self.inner.settings.recv_window_ms.to_string();
        let timestamp = self.now_ms().to_string();
        let mut all = params.to_vec();
        all.push(("recvWindow", &recv_window));
        all.push(("timestamp", &timestamp));
        let signed = SignedQuery::new(&signer.secret, &all);

        let url = format!("{}{path}", self.inner.settings.base_url);
        let request = if *method == Method::GET || *method == Method::DELETE {
            self.inner
                .http
                .request(method.clone(), format!("{url}?{}", signed.as_str()))
        } else {
            self.inner
                .http
                .request(method.clone(), url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(signed.as_str().to_owned())
        };
        debug!(method = %method, path, "Signed request sent to Binance");
        self.execute(request.header("X-MBX-APIKEY", signer.api_key.clone()), path)
            .await
    }

    /// Measures the offset to Binance's clock, taking the reply as stamped
    /// half-way through the round trip.
    pub async fn sync_time(&self) -> Result<(), BinanceError> {
        let local_ms = unix_ms();
        let sent = Instant::now();
        let body = self.public_get("/api/v3/time", &[]).await?;
        let half_trip = (sent.elapsed().as_millis() / 2) as i64;
        let time: ServerTime = parse(&body, "/api/v3/time")?;
        let offset_ms = time.server_time - (local_ms + half_trip);
        let mut clock = lock(&self.inner.clock);
        clock.offset_ms = offset_ms;
        clock.synced_at = Some(Instant::now());
        debug!(offset_ms, "Clock offset to Binance measured");
        Ok(())
    }

    fn clock_is_stale(&self) -> bool {
        lock(&self.inner.clock)
            .synced_at
            .is_none_or(|at| at.elapsed() >= self.inner.settings.time_sync_interval)
    }

    fn now_ms(&self) -> i64 {
        unix_ms() + self.clock_offset_ms()
    }

    async fn execute(
        &self,
        request: reqwest::RequestBuilder,
        what: &'static str,
    ) -> Result<Vec<u8>, BinanceError> {
        let started = Instant::now();
        let response = request.send().await.map_err(BinanceError::from_reqwest)?;
        // Every answer counts, refusals too (a slow exchange is slow whatever
        // it says); a request that never got one (DNS, refused) has no latency.
        crate::metrics::global().observe_exchange_request(what, started.elapsed());
        let status = response.status();
        self.inner.gate.note_weight(response.headers());
        match status.as_u16() {
            429 => {
                let retry_after = retry_after(response.headers()).unwrap_or(DEFAULT_PAUSE);
                self.inner.gate.pause(retry_after);
                return Err(BinanceError::RateLimited { retry_after });
            }
            418 => {
                let remaining = retry_after(response.headers()).unwrap_or(DEFAULT_BAN);
                self.inner.gate.ban(remaining);
                return Err(BinanceError::Banned { remaining });
            }
            _ => {}
        }
        let body = response.bytes().await.map_err(BinanceError::from_reqwest)?;
        if status.is_server_error() {
            return Err(BinanceError::Server {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ApiErrorBody>(&body) {
                Ok(api) => BinanceError::Api {
                    status: status.as_u16(),
                    code: api.code,
                    msg: api.msg,
                },
                Err(_) => BinanceError::Malformed {
                    what,
                    reason: format!("http {status} without binance's error object"),
                },
            });
        }
        Ok(body.to_vec())
    }
}

/// Parses a reply body; the error names the endpoint, never the body.
pub fn parse<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, BinanceError> {
    serde_json::from_slice(body).map_err(|err| BinanceError::Malformed {
        what,
        reason: err.to_string(),
    })
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}
