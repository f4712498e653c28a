//! What one trade log line costs: our JSON stack against two off-the-shelf
//! tracing stacks, each writing every line to a "stdout" file and a log file.
//!
//! The measured line is the trading loop's "Order filled" event inside an
//! entered `trade` span, the hottest line the daemon writes. Three groups:
//!
//! - `trade_event_caller`: what the calling thread pays. Events are emitted in
//!   bursts of at most [`BURST`], which fit every stack's queue, so the caller
//!   never waits for a writer; between bursts, outside the timed region, the
//!   writers are drained. This is the figure the 1 µs aim is about.
//! - `trade_event_sustained`: events emitted back to back with the final
//!   drain inside the timed region, so the figure is the whole pipeline's
//!   throughput (formatting on the caller plus I/O on the writer threads). A
//!   lossless bounded queue makes the caller wait once it is full, so this is
//!   what a caller pays when it logs faster than the disk side can keep up.
//! - `trade_span_caller`: opening, entering, leaving and closing the `trade`
//!   span with its five fields, paid once per trade.
//!
//! The "stdout" stream is a file in a temporary folder so a terminal does not
//! slow it down. The off-the-shelf stacks use `tracing_appender::non_blocking`
//! with `lossy(false)`, so like ours they drop nothing and are compared on the
//! same terms; each sink is a 64 KiB `BufWriter` over the file.
//! `docs/BENCHMARKS.md` has the figures and how to read them.

#[path = "logging/stacks.rs"]
mod stacks;

use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use tracing::{dispatcher, info, info_span};
use uuid::Uuid;

use stacks::Stack;

/// Events per timed burst in the caller-cost group: well under every queue
/// (65,536 lines for ours, 128,000 for `tracing_appender`).
const BURST: u64 = 10_000;

/// The values of one real "Order filled" line.
struct Fill {
    price: Decimal,
    quantity: Decimal,
    fee: Decimal,
    fee_asset: String,
    exchange_order_id: String,
}

impl Fill {
    fn sample() -> Self {
        Self {
            price: Decimal::from_str("7186.68000000").unwrap(),
            quantity: Decimal::from_str("0.01391400").unwrap(),
            fee: Decimal::from_str("0.10004987").unwrap(),
            fee_asset: "USDT".to_owned(),
            exchange_order_id: "paper-42".to_owned(),
        }
    }
}

/// The measured line, with the fields and target `trading::execute` writes
/// (the target is the line's `logger`, so its length counts).
fn order_filled(fill: &Fill) {
    info!(
        target: "tradebot::trading::execute",
        price = %fill.price,
        quantity = %fill.quantity,
        fee = %fill.fee,
        fee_asset = %fill.fee_asset,
        exchange_order_id = %fill.exchange_order_id,
        "Order filled"
    );
}

/// The ids of one trade, made outside the timed regions: generating them is
/// the trading loop's cost, not the logger's.
struct TradeIds {
    correlation_id: Uuid,
    trade_id: String,
}

impl TradeIds {
    fn new() -> Self {
        Self {
            correlation_id: Uuid::new_v4(),
            trade_id: format!("tb-{}", Uuid::now_v7().simple()),
        }
    }
}

/// The span `execute_trade` opens around every trade.
fn trade_span(ids: &TradeIds) -> tracing::Span {
    info_span!(
        target: "tradebot::trading::execute",
        "trade",
        correlation_id = %ids.correlation_id,
        symbol = "BTCUSDT",
        trade_id = %ids.trade_id,
        action = "BUY",
        confidence = 0.82,
    )
}

/// Caller-side cost: bursts that fit the queues, drained outside the timer.
fn caller_cost(stack: &Stack, fill: &Fill, iters: u64) -> Duration {
    dispatcher::with_default(&stack.dispatch, || {
        let mut measured = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let burst = left.min(BURST);
            let span = trade_span(&TradeIds::new());
            let entered = span.enter();
            let start = Instant::now();
            for _ in 0..burst {
                order_filled(fill);
            }
            measured += start.elapsed();
            drop(entered);
            stack.drain(burst);
            left -= burst;
        }
        stack.truncate_files();
        measured
    })
}

/// Sustained throughput: back to back, the final drain timed too.
fn sustained(stack: &Stack, fill: &Fill, iters: u64) -> Duration {
    dispatcher::with_default(&stack.dispatch, || {
        let span = trade_span(&TradeIds::new());
        let entered = span.enter();
        let start = Instant::now();
        for _ in 0..iters {
            order_filled(fill);
        }
        stack.drain(iters);
        let measured = start.elapsed();
        drop(entered);
        stack.truncate_files();
        measured
    })
}

/// A trade's span: created with its fields, entered, left and closed.
fn span_cost(stack: &Stack, iters: u64) -> Duration {
    let ids = TradeIds::new();
    dispatcher::with_default(&stack.dispatch, || {
        let start = Instant::now();
        for _ in 0..iters {
            let span = trade_span(&ids);
            drop(span.enter());
        }
        start.elapsed()
    })
}

/// Prints one line of each stack, so a run shows the shapes being compared,
/// and checks that both of its files received it.
fn print_sample_lines(stacks: &[Stack], fill: &Fill) {
    for stack in stacks {
        dispatcher::with_default(&stack.dispatch, || {
            let span = trade_span(&TradeIds::new());
            let _entered = span.enter();
            order_filled(fill);
        });
        stack.drain(1);
        let texts: Vec<String> = stack
            .files
            .iter()
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect();
        assert!(
            texts
                .iter()
                .all(|text| text.lines().count() == 1 && *text == texts[0]),
            "{}: every file should hold the same one line",
            stack.name
        );
        eprint!("sample line ({}): {}", stack.name, texts[0]);
        stack.truncate_files();
    }
}

fn bench_logging(c: &mut Criterion) {
    let fill = Fill::sample();
    let stacks = stacks::all();
    print_sample_lines(&stacks, &fill);

    let mut group = c.benchmark_group("trade_event_caller");
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for stack in &stacks {
        group.bench_function(stack.name, |b| {
            b.iter_custom(|iters| caller_cost(stack, &fill, iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("trade_event_sustained");
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(15)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    for stack in &stacks {
        group.bench_function(stack.name, |b| {
            b.iter_custom(|iters| sustained(stack, &fill, iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("trade_span_caller");
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    for stack in &stacks {
        group.bench_function(stack.name, |b| {
            b.iter_custom(|iters| span_cost(stack, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_logging);
criterion_main!(benches);
