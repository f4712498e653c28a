//! Replay throughput: the two real 1m kline files from `../shared/data`
//! (BTCUSDT, 3 days, and ETHUSDT, 2 days: 7,200 candles) through the trading
//! loop at max speed, with the paper exchange, the built-in strategy and the
//! default configuration, wired as `tradebot run --replay` wires them.
//!
//! Logging is the real thing: the JSON layer behind the INFO filter, writing
//! to a "stdout" file and the rolling file in a temporary folder, installed
//! as the global subscriber as `telemetry::init` does. So is recording: the
//! trader writes through a `Recorder` on a `Store` as the daemon's
//! `new_trader` builds it, each run under its own run row (`start_run`,
//! account `replay`), so every signal's decision, every trade's intent and
//! result, and the holdings after every fill are committed to the database
//! before the loop moves on. Three benchmarks:
//!
//! - `replay/load_csv`: reading, checking and merging both gzip files.
//! - `replay/run_loop_sqlite`: the loop over the merged candles, recording
//!   to a SQLite file in a temporary folder (the default backend; WAL, and,
//!   as the daemon opens it for a replay, `Durability::ProcessCrash`:
//!   `synchronous=NORMAL`, so commits are not synced one by one), from the
//!   first candle until every log line it wrote has been handed to the OS.
//! - `replay/run_loop_postgres`: the same, recording to the PostgreSQL server
//!   at `TRADEBOT_TEST_DATABASE_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/test`) in a fresh schema, dropped at
//!   the end, with `synchronous_commit = off` as a replay has it.
//!
//! Each iteration gets a fresh trader and run row, made outside the timer;
//! the store (and its connection pool) is opened once per backend. The
//! start-up steps around the loop (kill-switch read, reconciliation) and the
//! end of run (`Trader::finish`) are not timed. Without `../shared/data` the
//! benchmarks are skipped with a message; without a PostgreSQL server, only
//! `run_loop_postgres` is.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tempfile::TempDir;
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

use tradebot::config::{self, Config, ConfigSources};
use tradebot::exchange::{PaperExchange, PaperSettings};
use tradebot::market::Candle;
use tradebot::market::replay::{self, ReplayFile};
use tradebot::market::replayer::{Replayer, Speed};
use tradebot::store::{DatabaseTarget, Durability, RunStart, Store, now};
use tradebot::strategy::MaCrossover;
use tradebot::telemetry::{self, FILE_NAME, JsonLayer, LogWriter, RollingFile, Rotation};
use tradebot::trading::{EndReason, Recorder, RiskLimits, Trader, run_loop};

/// What `tradebot run --replay` opens its store with.
const REPLAY_DURABILITY: Durability = Durability::ProcessCrash;

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

/// The database a replay records to, with a second connection to count what
/// landed, and what cleans it up.
struct Database {
    name: &'static str,
    store: Store,
    counter: Counter,
    _dir: Option<TempDir>,
}

enum Counter {
    Sqlite(SqlitePool),
    /// Connected without the schema on its search path; drops it at the end.
    Postgres {
        pool: PgPool,
        schema: String,
    },
}

impl Database {
    /// A fresh SQLite file, as the default configuration has it.
    async fn sqlite(config: &Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/tradebot.db");
        let target = DatabaseTarget::Sqlite { path: path.clone() };
        let store = Store::open_with(&target, store_timeout(config), REPLAY_DURABILITY)
            .await
            .unwrap();
        let counter = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
        Self {
            name: "sqlite",
            store,
            counter: Counter::Sqlite(counter),
            _dir: Some(dir),
        }
    }

    /// A fresh schema on the PostgreSQL server; `None` when there is none.
    async fn postgres(config: &Config) -> Option<Self> {
        let url = std::env::var("TRADEBOT_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let connecting = tokio::time::timeout(Duration::from_secs(5), PgPool::connect(&url));
        let pool = match connecting.await {
            Ok(Ok(pool)) => pool,
            failed => {
                let reason = match failed {
                    Ok(Err(err)) => err.to_string(),
                    _ => "no answer within 5 s".to_owned(),
                };
                eprintln!(
                    "replay/run_loop_postgres skipped: no PostgreSQL server at {url} ({reason})"
                );
                return None;
            }
        };
        let schema = format!("tb_bench_{}", Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&pool)
            .await
            .unwrap();
        let url = format!("{url}?options=-c%20search_path%3D{schema}");
        let target =
            DatabaseTarget::resolve(&config.database, Some(&SecretString::from(url)), || {
                Ok(None)
            })
            .unwrap();
        let store = Store::open_with(&target, store_timeout(config), REPLAY_DURABILITY)
            .await
            .unwrap();
        Some(Self {
            name: "postgres",
            store,
            counter: Counter::Postgres { pool, schema },
            _dir: None,
        })
    }

    /// A recorder on a new run row, as the daemon's `new_trader` makes it.
    async fn recorder(&self, config: &Config) -> Recorder {
        let run_id = Uuid::now_v7().to_string();
        self.store
            .start_run(&RunStart {
                run_id: run_id.clone(),
                started_at: now(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                mode: config.trading.mode.to_string(),
                market_data: "replay".to_owned(),
                account: "replay".to_owned(),
                config_digest: "bench".to_owned(),
            })
            .await
            .unwrap();
        Recorder::new(
            self.store.clone(),
            run_id,
            "replay".to_owned(),
            Duration::from_millis(config.database.max_backoff_ms),
        )
    }

    /// What one run put on record.
    async fn recorded(&self, run_id: &str) -> Recorded {
        Recorded {
            decisions: self
                .count(
                    "SELECT COUNT(*) FROM {t}decisions WHERE run_id = $1",
                    run_id,
                )
                .await,
            trades: self
                .count("SELECT COUNT(*) FROM {t}trades WHERE run_id = $1", run_id)
                .await,
            fills: self
                .count(
                    "SELECT COUNT(*) FROM {t}fills f JOIN {t}trades t ON t.trade_id = f.trade_id \
                     WHERE t.run_id = $1",
                    run_id,
                )
                .await,
        }
    }

    /// Runs a `COUNT(*)` whose tables are written `{t}name`.
    async fn count(&self, sql: &str, run_id: &str) -> i64 {
        match &self.counter {
            Counter::Sqlite(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.replace("{t}", "")))
                    .bind(run_id)
                    .fetch_one(pool)
                    .await
                    .unwrap()
            }
            Counter::Postgres { pool, schema } => {
                let sql = sql.replace("{t}", &format!("{schema}."));
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(run_id)
                    .fetch_one(pool)
                    .await
                    .unwrap()
            }
        }
    }

    async fn close(self) {
        self.store.close().await;
        match self.counter {
            Counter::Sqlite(pool) => pool.close().await,
            Counter::Postgres { pool, schema } => {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }
    }
}

/// Rows one run wrote.
struct Recorded {
    decisions: i64,
    trades: i64,
    fills: i64,
}

fn store_timeout(config: &Config) -> Duration {
    Duration::from_millis(config.database.timeout_ms)
}

/// `config/default.toml` as the daemon reads it, without the environment.
fn default_config() -> Config {
    config::load(&ConfigSources {
        dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
        vars: HashMap::new(),
    })
    .unwrap()
}

/// The trader the daemon's `new_trader` builds in paper mode for a replay.
fn paper_trader(config: &Config, recorder: Recorder) -> PaperTrader {
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
        recorder,
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
    let candles = load_and_merge(&paths);

    let mut group = c.benchmark_group("replay");
    group
        .throughput(Throughput::Elements(candles.len() as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("load_csv", |b| b.iter(|| load_and_merge(&paths)));

    let sqlite = runtime.block_on(Database::sqlite(&config));
    let postgres = runtime.block_on(Database::postgres(&config));
    for database in [Some(sqlite), postgres].into_iter().flatten() {
        // One run outside criterion, to print what a replay does.
        let recorder = runtime.block_on(database.recorder(&config));
        let run_id = recorder.run_id().to_owned();
        let lines_before = logs.lines_written();
        let start = Instant::now();
        let trader = replay_all(&runtime, candles.clone(), paper_trader(&config, recorder));
        logs.flush();
        let elapsed = start.elapsed();
        let stats = trader.stats();
        let recorded = runtime.block_on(database.recorded(&run_id));
        eprintln!(
            "one replay ({}): {} candles in {:.1} ms ({:.0} candles/s), {} signals, \
             {} trades filled, {} rejected, {} log lines; recorded {} decisions, {} trades, \
             {} fills",
            database.name,
            stats.candles,
            elapsed.as_secs_f64() * 1e3,
            stats.candles as f64 / elapsed.as_secs_f64(),
            stats.signals,
            stats.filled,
            stats.rejected,
            logs.lines_written() - lines_before,
            recorded.decisions,
            recorded.trades,
            recorded.fills,
        );

        // A replay that records takes many times longer than one that does
        // not, and far longer still on a busy disk: flat sampling, ten
        // samples, with room for at least one replay each in the time given.
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .measurement_time(Duration::from_secs(5).max(elapsed * 20));
        group.bench_function(format!("run_loop_{}", database.name), |b| {
            b.iter_batched(
                || {
                    let recorder = runtime.block_on(database.recorder(&config));
                    (candles.clone(), paper_trader(&config, recorder))
                },
                |(candles, trader)| {
                    let trader = replay_all(&runtime, candles, trader);
                    logs.flush();
                    trader
                },
                BatchSize::PerIteration,
            )
        });
        runtime.block_on(database.close());
    }
    group.finish();
}

criterion_group!(benches, bench_replay);
criterion_main!(benches);
