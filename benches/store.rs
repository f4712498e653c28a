//! What the trading loop pays to put one trade on record, on each backend,
//! through the daemon's own `tradebot::store::Store` (connected and migrated
//! by `Store::open_with`, with the timeout from `config/default.toml`):
//!
//! - `store/trade_sqlite`, `store/trade_postgres`: one trade as
//!   `execute_trade` writes it, `record_intent` (the `PENDING` row, one
//!   statement) then `record_result` (`FILLED` with one fill: one transaction
//!   of an update, a delete and an insert). Two commits.
//! - `store/decision_sqlite`, `store/decision_postgres`: one
//!   `record_decision`, written for every signal that is not a hold. One
//!   commit.
//! - `store/holdings_sqlite`, `store/holdings_postgres`: one `save_holdings`
//!   of three balances and two positions, written after every filled trade.
//!   One transaction, one commit.
//!
//! So a filled trade in the daemon costs one `trade`, one `decision` and one
//! `holdings` figure: four commits.
//!
//! Those six run with `Durability::PowerLoss`, what `tradebot run` opens on
//! live market data (and `Store::open`): every write is durable, power cut
//! included, before it returns. SQLite is a file in a temporary folder (on
//! the same disk as the repository here) in WAL mode with
//! `synchronous=FULL`, which the store sets (sqlx 0.9 sets no `synchronous`
//! of its own, and the SQLite that libsqlite3-sys bundles defaults to FULL
//! anyway): each commit syncs the WAL file to disk. PostgreSQL is the server
//! at `TRADEBOT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, over TCP on loopback), in a
//! fresh schema dropped at the end; with its defaults (`fsync` and
//! `synchronous_commit` on, which `PowerLoss` keeps) each commit waits for
//! its WAL flush.
//!
//! The same six again, named `…_process_crash` (such as
//! `store/trade_sqlite_process_crash`), run with `Durability::ProcessCrash`,
//! what a replay opens: SQLite `synchronous=NORMAL` (in WAL mode a commit is
//! not synced; the WAL is synced at checkpoints) and PostgreSQL
//! `synchronous_commit=off` for the store's sessions. The difference between
//! the two is what syncing costs.
//!
//! Each backend prints its settings at start: SQLite's version and journal
//! mode (read back; `synchronous` belongs to a connection, so it is the one
//! the store sets), PostgreSQL's version, `fsync`, `synchronous_commit` and
//! `wal_sync_method`.
//!
//! Rows are fresh for every write (new ids made outside the timer); the
//! tables grow by up to a few tens of thousands of rows during a run. Each
//! sample runs its writes one after the other inside one `block_on` of a
//! multi-thread tokio runtime, as the trading loop awaits them one at a time.
//! Without a PostgreSQL server the PostgreSQL benchmarks are skipped with a
//! message.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use secrecy::SecretString;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tempfile::TempDir;
use uuid::Uuid;

use tradebot::config::{self, Config, ConfigSources};
use tradebot::exchange::{Balances, Fill, Side};
use tradebot::store::{
    DatabaseTarget, DecisionRecord, Durability, PositionRecord, RunStart, Store, TradeIntent,
    TradeResult, TradeStatus, now,
};
use tradebot::trading::new_trade_id;

/// The database one benchmark writes to, and what cleans it up.
struct Backend {
    /// `sqlite` or `postgres`, then `_process_crash` for that durability.
    name: String,
    durability: Durability,
    store: Store,
    run_id: String,
    /// A second connection, for the settings printed at start.
    admin: Admin,
    _dir: Option<TempDir>,
}

enum Admin {
    Sqlite(SqlitePool),
    /// Connected without the schema on its search path; drops it at the end.
    Postgres {
        pool: PgPool,
        schema: String,
    },
}

impl Backend {
    /// A fresh SQLite file, as the default configuration has it.
    async fn sqlite(config: &Config, durability: Durability) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/tradebot.db");
        let target = DatabaseTarget::Sqlite { path: path.clone() };
        let store = open(&target, config, durability).await;
        let admin = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
        Self::started("sqlite", durability, store, Admin::Sqlite(admin), Some(dir)).await
    }

    /// A fresh schema on the PostgreSQL server; `None` when there is none.
    async fn postgres(config: &Config, durability: Durability) -> Option<Self> {
        let url = postgres_url();
        let connecting = tokio::time::timeout(Duration::from_secs(5), PgPool::connect(&url));
        let pool = match connecting.await {
            Ok(Ok(pool)) => pool,
            Ok(Err(err)) => return skip_postgres(&url, &err.to_string()),
            Err(_) => return skip_postgres(&url, "no answer within 5 s"),
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
        let store = open(&target, config, durability).await;
        let admin = Admin::Postgres { pool, schema };
        Some(Self::started("postgres", durability, store, admin, None).await)
    }

    async fn started(
        backend: &str,
        durability: Durability,
        store: Store,
        admin: Admin,
        dir: Option<TempDir>,
    ) -> Self {
        let run_id = Uuid::now_v7().to_string();
        store
            .start_run(&RunStart {
                run_id: run_id.clone(),
                started_at: now(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                mode: "paper".to_owned(),
                market_data: "replay".to_owned(),
                account: "replay".to_owned(),
                config_digest: "bench".to_owned(),
            })
            .await
            .unwrap();
        let name = match durability {
            Durability::PowerLoss => backend.to_owned(),
            Durability::ProcessCrash => format!("{backend}_process_crash"),
        };
        Self {
            name,
            durability,
            store,
            run_id,
            admin,
            _dir: dir,
        }
    }

    /// The settings that decide what a commit costs, as one line.
    async fn durability(&self) -> String {
        match &self.admin {
            Admin::Sqlite(pool) => {
                let version: String = sqlx::query_scalar("SELECT sqlite_version()")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                let synchronous = match self.durability {
                    Durability::PowerLoss => "FULL",
                    Durability::ProcessCrash => "NORMAL",
                };
                format!(
                    "SQLite {version}, journal_mode={journal} (read back); \
                     synchronous={synchronous} (set by the store for {:?})",
                    self.durability
                )
            }
            Admin::Postgres { pool, .. } => {
                let mut line: String = sqlx::query_scalar("SHOW server_version")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                line.insert_str(0, "PostgreSQL ");
                for setting in ["fsync", "synchronous_commit", "wal_sync_method"] {
                    let value: String =
                        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
                            .fetch_one(pool)
                            .await
                            .unwrap();
                    line.push_str(&format!(", {setting}={value}"));
                }
                if self.durability == Durability::ProcessCrash {
                    line.push_str("; the store's sessions: synchronous_commit=off (ProcessCrash)");
                }
                line
            }
        }
    }

    async fn close(self) {
        self.store.close().await;
        match self.admin {
            Admin::Sqlite(pool) => pool.close().await,
            Admin::Postgres { pool, schema } => {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }
    }
}

fn skip_postgres<T>(url: &str, reason: &str) -> Option<T> {
    eprintln!(
        "PostgreSQL benchmarks skipped: no server at {url} ({reason}); start it with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
    );
    None
}

fn postgres_url() -> String {
    std::env::var("TRADEBOT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `config/default.toml` as the daemon reads it, without the environment.
fn default_config() -> Config {
    config::load(&ConfigSources {
        dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
        vars: HashMap::new(),
    })
    .unwrap()
}

async fn open(target: &DatabaseTarget, config: &Config, durability: Durability) -> Store {
    Store::open_with(target, timeout(config), durability)
        .await
        .unwrap()
}

fn timeout(config: &Config) -> Duration {
    Duration::from_millis(config.database.timeout_ms)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A buy as `execute_trade` records it, and its filled outcome.
fn filled_trade(run_id: &str) -> (TradeIntent, TradeResult) {
    let trade_id = new_trade_id();
    let intent = TradeIntent {
        trade_id: trade_id.clone(),
        correlation_id: Uuid::new_v4().to_string(),
        run_id: run_id.to_owned(),
        account: "replay".to_owned(),
        symbol: "BTCUSDT".to_owned(),
        side: Side::Buy,
        quantity: dec("0.01391400"),
        price: dec("7186.68000000"),
        client_order_id: trade_id.clone(),
        created_at: now(),
    };
    let result = TradeResult {
        trade_id,
        status: TradeStatus::Filled,
        reason: None,
        exchange_order_id: Some("paper-42".to_owned()),
        fills: vec![Fill {
            price: dec("7190.27334000"),
            quantity: dec("0.01391400"),
            fee: dec("0.10004987"),
            fee_asset: "USDT".to_owned(),
        }],
        updated_at: now(),
    };
    (intent, result)
}

fn decision(run_id: &str) -> DecisionRecord {
    DecisionRecord {
        decision_id: Uuid::now_v7().to_string(),
        run_id: run_id.to_owned(),
        source: "ma_crossover".to_owned(),
        symbol: "BTCUSDT".to_owned(),
        action: "BUY".to_owned(),
        confidence: 0.82,
        reason: "fast SMA(10) crossed above slow SMA(30)".to_owned(),
        price: dec("7186.68000000"),
        decided_at: now(),
        trade_id: Some(new_trade_id()),
    }
}

/// Balances and positions partway through a replay of both files.
fn holdings() -> (Balances, Vec<PositionRecord>) {
    let balances = Balances::from([
        ("BTC".to_owned(), dec("0.01391400")),
        ("ETH".to_owned(), dec("0.05234100")),
        ("USDT".to_owned(), dec("9799.71230000")),
    ]);
    let positions = vec![
        PositionRecord {
            symbol: "BTCUSDT".to_owned(),
            quantity: dec("0.01391400"),
            average_cost: dec("7197.46361000"),
        },
        PositionRecord {
            symbol: "ETHUSDT".to_owned(),
            quantity: dec("0.05234100"),
            average_cost: dec("1912.55000000"),
        },
    ];
    (balances, positions)
}

fn bench_backend(c: &mut Criterion, runtime: &tokio::runtime::Runtime, backend: &Backend) {
    eprintln!(
        "{}: {}",
        backend.name,
        runtime.block_on(backend.durability())
    );
    let store = &backend.store;
    let run_id = backend.run_id.as_str();

    let mut group = c.benchmark_group("store");
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.bench_function(format!("trade_{}", backend.name), |b| {
        b.iter_custom(|iters| {
            let trades: Vec<_> = (0..iters).map(|_| filled_trade(run_id)).collect();
            runtime.block_on(async {
                let start = Instant::now();
                for (intent, result) in &trades {
                    store.record_intent(intent).await.unwrap();
                    assert!(store.record_result(result).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function(format!("decision_{}", backend.name), |b| {
        b.iter_custom(|iters| {
            let decisions: Vec<_> = (0..iters).map(|_| decision(run_id)).collect();
            runtime.block_on(async {
                let start = Instant::now();
                for decision in &decisions {
                    store.record_decision(decision).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    let (balances, positions) = holdings();
    group.bench_function(format!("holdings_{}", backend.name), |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    store
                        .save_holdings("replay", &balances, &positions, now())
                        .await
                        .unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn bench_store(c: &mut Criterion) {
    let config = default_config();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // What trading on live data opens (`Store::open`), then what a replay
    // opens.
    let durabilities = [Durability::PowerLoss, Durability::ProcessCrash];
    for durability in durabilities {
        let sqlite = runtime.block_on(Backend::sqlite(&config, durability));
        bench_backend(c, &runtime, &sqlite);
        runtime.block_on(sqlite.close());
    }
    for durability in durabilities {
        let Some(postgres) = runtime.block_on(Backend::postgres(&config, durability)) else {
            break;
        };
        bench_backend(c, &runtime, &postgres);
        runtime.block_on(postgres.close());
    }
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
