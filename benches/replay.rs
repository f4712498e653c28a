//! Replay throughput: the two real 1m kline files from `../shared/data`
//! (BTCUSDT, 3 days, and ETHUSDT, 2 days: 7,200 candles) through the trading
//! loop at max speed, with the paper exchange, the built-in strategy and the
//! default configuration, wired as `tradebot run --replay` wires them.
//!
//! Logging is the real thing: the JSON layer behind the INFO filter, writing
//! to a "stdout" file and the rolling file in a temporary folder, installed
//! as the global subscriber as `telemetry::init` does. Two benchmarks:
//!
//! - `replay/load_csv`: reading, checking and merging both gzip files.
//! - `replay/run_loop`: the loop over the merged candles, from the first
//!   candle until every log line it wrote has been handed to the OS.
//!
//! Without `../shared/data` the benchmarks are skipped with a message.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use tracing_subscriber::layer::SubscriberExt;

use tradebot::config::{self, Config, ConfigSources};
use tradebot::exchange::{PaperExchange, PaperSettings};
use tradebot::market::Candle;
use tradebot::market::replay::{self, ReplayFile};
use tradebot::market::replayer::{Replayer, Speed};
use tradebot::strategy::MaCrossover;
use tradebot::telemetry::{self, FILE_NAME, JsonLayer, LogWriter, RollingFile, Rotation};
use tradebot::trading::{EndReason, RiskLimits, Trader, run_loop};

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
const REPLAY_FILES: [&str; 2] = [
    "binance-spot-BTCUSDT-1m-2020-01-01_2020-01-03.csv.gz",
    "binance-spot-ETHUSDT-1m-2022-08-14_2022-08-15.csv.gz",
];

type PaperTrader = Trader<PaperExchange, MaCrossover>;

/// The global JSON logger, writing to files in its own temporary folder.
struct Logs {
    writer: LogWriter,
    file: PathBuf,
    _dir: TempDir,
}

impl Logs {
    fn install() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stdout = File::create(dir.path().join("stdout.log")).unwrap();
        let stdout: telemetry::Stream = Box::new(BufWriter::with_capacity(64 * 1024, stdout));
        let file_dir = dir.path().join("logs");
        let file = RollingFile::open(&file_dir, Rotation::Daily, 14).unwrap();
        let writer = LogWriter::start(vec![stdout], Some(file)).unwrap();
        let subscriber = tracing_subscriber::registry()
            .with(telemetry::build_filter("INFO").unwrap())
            .with(JsonLayer::new(writer.clone()));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        Self {
            writer,
            file: file_dir.join(FILE_NAME),
            _dir: dir,
        }
    }

    fn flush(&self) {
        assert!(
            self.writer.flush(Duration::from_secs(60)),
            "log flush timed out"
        );
    }

    fn lines_written(&self) -> usize {
        self.flush();
        std::fs::read_to_string(&self.file).unwrap().lines().count()
    }
}

/// `config/default.toml` as the daemon reads it, without the environment.
fn default_config() -> Config {
    config::load(&ConfigSources {
        dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
        vars: HashMap::new(),
    })
    .unwrap()
}

/// The trader `daemon::run_until_stopped` builds in paper mode.
fn paper_trader(config: &Config) -> PaperTrader {
    let strategy = MaCrossover::new(config.strategy.fast_period, config.strategy.slow_period);
    let exchange = PaperExchange::new(PaperSettings {
        starting_balances: config.paper.starting_balances.clone(),
        fee_rate: config.paper.fee_rate,
        slippage_bps: config.paper.slippage_bps,
    });
    Trader::new(
        exchange,
        strategy,
        RiskLimits::new(&config.risk),
        config.trading.order_notional,
        config.strategy.min_confidence,
    )
}

fn load_and_merge(paths: &[PathBuf]) -> Vec<Candle> {
    let files: Vec<ReplayFile> = paths
        .iter()
        .map(|path| replay::load_replay_file(path.to_str().unwrap()).unwrap())
        .collect();
    replay::merge_by_time(files)
}

/// Runs the loop in a spawned task on a multi-thread runtime, as the daemon
/// does, and hands the trader back.
fn replay_all(
    runtime: &tokio::runtime::Runtime,
    candles: Vec<Candle>,
    trader: PaperTrader,
) -> PaperTrader {
    runtime.block_on(async move {
        let task = tokio::spawn(async move {
            let (_trigger, mut shutdown) = tradebot::shutdown::channel();
            let mut source = Replayer::new(candles, Speed::Max);
            let mut trader = trader;
            let reason = run_loop(&mut source, &mut trader, &mut shutdown).await;
            assert_eq!(reason, EndReason::MarketDataEnded);
            trader
        });
        task.await.unwrap()
    })
}

fn bench_replay(c: &mut Criterion) {
    let paths: Vec<PathBuf> = REPLAY_FILES
        .iter()
        .map(|name| Path::new(DATA_DIR).join(name))
        .collect();
    if let Some(missing) = paths.iter().find(|path| !path.exists()) {
        eprintln!(
            "replay benchmarks skipped: {} not found (the real kline files live in ../shared/data)",
            missing.display()
        );
        return;
    }
    let logs = Logs::install();
    let config = default_config();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // One run outside criterion, to print what a replay does.
    let candles = load_and_merge(&paths);
    let lines_before = logs.lines_written();
    let start = Instant::now();
    let trader = replay_all(&runtime, candles.clone(), paper_trader(&config));
    logs.flush();
    let elapsed = start.elapsed();
    let stats = trader.stats();
    eprintln!(
        "one replay: {} candles in {:.1} ms ({:.0} candles/s), {} signals, {} trades filled, \
         {} rejected, {} log lines",
        stats.candles,
        elapsed.as_secs_f64() * 1e3,
        stats.candles as f64 / elapsed.as_secs_f64(),
        stats.signals,
        stats.filled,
        stats.rejected,
        logs.lines_written() - lines_before,
    );

    let mut group = c.benchmark_group("replay");
    group
        .throughput(Throughput::Elements(candles.len() as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("load_csv", |b| b.iter(|| load_and_merge(&paths)));
    group.bench_function("run_loop", |b| {
        b.iter_batched(
            || (candles.clone(), paper_trader(&config)),
            |(candles, trader)| {
                let trader = replay_all(&runtime, candles, trader);
                logs.flush();
                trader
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_replay);
criterion_main!(benches);
