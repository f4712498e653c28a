//! Prometheus metrics (`GET /metrics`): counters the trading loop and the
//! exchange client bump, and gauges filled in when scraped.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub trades: Family<OutcomeLabel, Counter>,
    pub orders: Family<StatusLabel, Counter>,
    pub exchange_latency: Family<EndpointLabel, Histogram>,
    kill_switch_active: Gauge,
    log_lines_dropped: Counter,
    uptime_seconds: Gauge,
}

/// The process's metrics, created on first use.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("tradebot");
        let trades = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "trades",
            "Trading signals acted on, by outcome (filled, rejected, unknown, skipped)",
            trades.clone(),
        );
        let orders = Family::<StatusLabel, Counter>::default();
        registry.register(
            "orders",
            "Orders by the status they were recorded with",
            orders.clone(),
        );
        let exchange_latency = Family::<EndpointLabel, Histogram>::new_with_constructor(|| {
            // 1 ms to ~16 s.
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "exchange_request_duration_seconds",
            "Binance REST request latency, by endpoint",
            exchange_latency.clone(),
        );
        let kill_switch_active = Gauge::default();
        registry.register(
            "kill_switch_active",
            "1 while the kill switch stops new orders",
            kill_switch_active.clone(),
        );
        let log_lines_dropped = Counter::default();
        registry.register(
            "log_lines_dropped",
            "Log lines the log file refused since start (nothing is dropped otherwise)",
            log_lines_dropped.clone(),
        );
        let uptime_seconds = Gauge::default();
        registry.register(
            "uptime_seconds",
            "Seconds since the process started",
            uptime_seconds.clone(),
        );
        // Every outcome from the first scrape, at 0: a rate over a series
        // that appears only with its first trade reads as missing data.
        for outcome in ["filled", "rejected", "unknown", "skipped"] {
            trades.get_or_create(&OutcomeLabel { outcome }).inc_by(0);
        }
        for status in [
            "FILLED",
            "PARTIALLY_FILLED",
            "NEW",
            "REJECTED",
            "NOT_SENT",
            "UNKNOWN",
        ] {
            orders.get_or_create(&StatusLabel { status }).inc_by(0);
        }
        Metrics {
            registry,
            trades,
            orders,
            exchange_latency,
            kill_switch_active,
            log_lines_dropped,
            uptime_seconds,
        }
    }

    pub fn observe_exchange_request(&self, endpoint: &'static str, elapsed: Duration) {
        self.exchange_latency
            .get_or_create(&EndpointLabel { endpoint })
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the gauges read now.
    pub fn render(
        &self,
        kill_switch_active: bool,
        log_lines_dropped: u64,
        uptime: Duration,
    ) -> String {
        self.kill_switch_active.set(i64::from(kill_switch_active));
        // The writer keeps the true count; bring the counter up to it.
        let seen = self.log_lines_dropped.get();
        self.log_lines_dropped
            .inc_by(log_lines_dropped.saturating_sub(seen));
        self.uptime_seconds
            .set(i64::try_from(uptime.as_secs()).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
