//! Range checks that types alone cannot express. Each problem is reported as
//! the dotted key and what is wrong with it.

use rust_decimal::Decimal;

use super::Config;
use crate::market::MAX_PRICE;

/// Longest shutdown wait we accept: Docker's default grace period is 10 s and
/// the daemon needs time after the wait to flush and exit.
const MAX_SHUTDOWN_TIMEOUT_MS: u64 = 9_000;
/// Binance refuses a larger `recvWindow`.
const MAX_RECV_WINDOW_MS: u64 = 60_000;

pub fn check(config: &Config) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut require = |ok: bool, key: &str, message: &str| {
        if !ok {
            problems.push((key.to_owned(), message.to_owned()));
        }
    };
    let t = &config.trading;
    let r = &config.risk;
    // Amounts past a trillion are typos, and bounding them keeps every sum
    // and product the trading loop makes far from Decimal's limits.
    let money = |value: Decimal| value > Decimal::ZERO && value <= MAX_PRICE;
    require(
        money(t.order_notional),
        "trading.order_notional",
        "must be above 0 and at most 1000000000000",
    );
    require(
        t.order_notional <= r.max_order_notional,
        "trading.order_notional",
        "is above risk.max_order_notional, so every entry would be rejected",
    );
    require(
        {
            let mut unique = t.symbols.clone();
            unique.sort();
            unique.dedup();
            unique.len() == t.symbols.len()
        },
        "trading.symbols",
        "names a symbol twice",
    );
    require(
        config
            .paper
            .starting_balances
            .keys()
            .all(|asset| is_symbol(asset)),
        "paper.starting_balances",
        "asset names are upper-case letters and digits, like USDT",
    );
    require(
        config
            .paper
            .starting_balances
            .values()
            .all(|b| *b <= MAX_PRICE * Decimal::from(1000)),
        "paper.starting_balances",
        "balances above 10^15 are not supported",
    );
    require(
        !t.symbols.is_empty(),
        "trading.symbols",
        "must name at least one symbol",
    );
    require(
        t.symbols.iter().all(|s| is_symbol(s)),
        "trading.symbols",
        "symbols are upper-case letters and digits, like BTCUSDT",
    );
    require(
        interval_ms(&t.interval).is_some(),
        "trading.interval",
        "must be a Binance interval such as 1m, 15m, 1h or 1d",
    );
    require(
        t.order_notional > Decimal::ZERO,
        "trading.order_notional",
        "must be above zero",
    );
    require(
        (1..=MAX_SHUTDOWN_TIMEOUT_MS).contains(&t.shutdown_timeout_ms),
        "trading.shutdown_timeout_ms",
        "must be between 1 and 9000 (inside Docker's 10 s stop grace period)",
    );

    let s = &config.strategy;
    require(
        s.fast_period >= 1,
        "strategy.fast_period",
        "must be at least 1",
    );
    require(
        s.slow_period > s.fast_period,
        "strategy.slow_period",
        "must be greater than strategy.fast_period",
    );
    require(
        s.slow_period <= 1000,
        "strategy.slow_period",
        "must be at most 1000 (the REST history limit)",
    );
    require(
        (0.0..=1.0).contains(&s.min_confidence),
        "strategy.min_confidence",
        "must be between 0 and 1",
    );

    require(
        r.max_order_notional > Decimal::ZERO,
        "risk.max_order_notional",
        "must be above zero",
    );
    require(
        r.max_position_notional > Decimal::ZERO,
        "risk.max_position_notional",
        "must be above zero",
    );
    require(
        r.daily_loss_limit > Decimal::ZERO,
        "risk.daily_loss_limit",
        "must be above zero",
    );

    let p = &config.paper;
    require(
        p.starting_balances.values().all(|b| *b >= Decimal::ZERO),
        "paper.starting_balances",
        "balances cannot be negative",
    );
    require(
        (Decimal::ZERO..Decimal::ONE).contains(&p.fee_rate),
        "paper.fee_rate",
        "must be at least 0 and below 1 (0.001 is 0.1 %)",
    );
    require(
        (Decimal::ZERO..=Decimal::from(1000)).contains(&p.slippage_bps),
        "paper.slippage_bps",
        "must be between 0 and 1000 basis points",
    );

    let m = &config.market_data;
    require(
        m.base_url.starts_with("http://") || m.base_url.starts_with("https://"),
        "market_data.base_url",
        "must be an http:// or https:// URL",
    );
    require(
        m.poll_interval_ms >= 200,
        "market_data.poll_interval_ms",
        "must be at least 200",
    );
    require(
        m.request_timeout_ms >= 100,
        "market_data.request_timeout_ms",
        "must be at least 100",
    );
    require(
        m.max_backoff_ms >= 1000 && m.max_backoff_ms <= 3_600_000,
        "market_data.max_backoff_ms",
        "must be between 1000 and 3600000",
    );

    let e = &config.exchange;
    require(
        e.base_url.is_empty()
            || e.base_url.starts_with("http://")
            || e.base_url.starts_with("https://"),
        "exchange.base_url",
        "must be empty (the environment's host) or an http:// or https:// URL",
    );
    require(
        (1..=MAX_RECV_WINDOW_MS).contains(&e.recv_window_ms),
        "exchange.recv_window_ms",
        "must be between 1 and 60000 (Binance's largest recvWindow)",
    );
    require(
        (100..=120_000).contains(&e.request_timeout_ms),
        "exchange.request_timeout_ms",
        "must be between 100 and 120000",
    );
    require(
        (10..=86_400).contains(&e.time_sync_interval_s),
        "exchange.time_sync_interval_s",
        "must be between 10 and 86400",
    );

    let h = &config.http;
    require(
        (100..=300_000).contains(&h.request_timeout_ms),
        "http.request_timeout_ms",
        "must be between 100 and 300000",
    );
    require(
        h.drain_timeout_ms <= 5_000,
        "http.drain_timeout_ms",
        "must be at most 5000 (it comes out of Docker's stop grace period)",
    );
    require(
        h.market_data_stale_s >= 1,
        "http.market_data_stale_s",
        "must be at least 1",
    );
    require(
        (50..=1_000).contains(&config.kill_switch.poll_interval_ms),
        "kill_switch.poll_interval_ms",
        "must be between 50 and 1000 (a change must reach the daemon within a second)",
    );

    let d = &config.database;
    require(
        d.port != 0,
        "database.port",
        "must be a port number from 1 to 65535",
    );
    require(
        d.host.is_empty() || (!d.user.is_empty() && !d.name.is_empty()),
        "database.user",
        "database.user and database.name are needed when database.host is set",
    );
    require(
        !d.sqlite_path.as_os_str().is_empty(),
        "database.sqlite_path",
        "must not be empty",
    );
    require(
        (100..=60_000).contains(&d.timeout_ms),
        "database.timeout_ms",
        "must be between 100 and 60000",
    );
    require(
        (d.timeout_ms..=3_600_000).contains(&d.max_backoff_ms),
        "database.max_backoff_ms",
        "must be between database.timeout_ms and 3600000",
    );

    let l = &config.log;
    require(l.max_files >= 1, "log.max_files", "must be at least 1");
    require(
        !l.dir.as_os_str().is_empty(),
        "log.dir",
        "must not be empty",
    );
    require(
        !config.secrets.dir.as_os_str().is_empty(),
        "secrets.dir",
        "must not be empty",
    );
    if let Err(err) = crate::telemetry::build_filter(&config.log.level) {
        problems.push(("log.level".to_owned(), err.to_string()));
    }
    problems
}

fn is_symbol(symbol: &str) -> bool {
    (2..=20).contains(&symbol.len())
        && symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A Binance kline interval in milliseconds (`1M`, a calendar month, is left
/// out: it has no fixed length).
pub fn interval_ms(interval: &str) -> Option<i64> {
    const MIN: i64 = 60_000;
    Some(match interval {
        "1s" => 1_000,
        "1m" => MIN,
        "3m" => 3 * MIN,
        "5m" => 5 * MIN,
        "15m" => 15 * MIN,
        "30m" => 30 * MIN,
        "1h" => 60 * MIN,
        "2h" => 120 * MIN,
        "4h" => 240 * MIN,
        "6h" => 360 * MIN,
        "8h" => 480 * MIN,
        "12h" => 720 * MIN,
        "1d" => 1440 * MIN,
        "3d" => 3 * 1440 * MIN,
        "1w" => 7 * 1440 * MIN,
        _ => return None,
    })
}
