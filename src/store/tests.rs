//! One suite, run on both backends: each `store_suite!` case runs once on a
//! fresh SQLite file and once in a fresh schema of the PostgreSQL server at
//! `TRADEBOT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`,
//! which `.ci/run` starts).

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use secrecy::SecretString;
use sqlx::Row;
use tempfile::TempDir;

use super::*;
use crate::exchange::{Balances, Fill, Side};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A store and what keeps it alive: a temporary folder or a schema that is
/// dropped afterwards.
pub(crate) struct TestStore {
    pub store: Store,
    _dir: Option<TempDir>,
    schema: Option<(sqlx::PgPool, String)>,
}

impl TestStore {
    pub async fn sqlite() -> Self {
        Self::sqlite_with_timeout(TIMEOUT).await
    }

    /// SQLite whose statements give up after `timeout` (its busy timeout).
    pub async fn sqlite_with_timeout(timeout: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let target = DatabaseTarget::Sqlite {
            path: dir.path().join("data/tradebot.db"),
        };
        let store = Store::open(&target, timeout).await.unwrap();
        TestStore {
            store,
            _dir: Some(dir),
            schema: None,
        }
    }

    pub async fn postgres() -> Self {
        let url = postgres_test_url();
        let admin = sqlx::PgPool::connect(&url).await.unwrap_or_else(|err| {
            panic!(
                "the PostgreSQL tests need a server at {url} ({err}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
            )
        });
        let schema = format!("tb_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let url = format!("{url}?options=-c%20search_path%3D{schema}");
        let target = DatabaseTarget::resolve(
            &test_database_config(),
            Some(&SecretString::from(url)),
            || Ok(None),
        )
        .unwrap();
        let store = Store::open(&target, TIMEOUT).await.unwrap();
        TestStore {
            store,
            _dir: None,
            schema: Some((admin, schema)),
        }
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        with_pool!(self.store, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .fetch_one(pool)
        .await
        .unwrap())
    }

    /// The SQLite file, for a second connection that locks it.
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self._dir
            .as_ref()
            .expect("a SQLite store")
            .path()
            .join("data/tradebot.db")
    }

    pub async fn drop_schema(self) {
        self.store.close().await;
        if let Some((admin, schema)) = self.schema {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
        }
    }
}

fn test_database_config() -> crate::config::DatabaseConfig {
    crate::config::DatabaseConfig {
        sqlite_path: "data/tradebot.db".into(),
        host: String::new(),
        port: 5432,
        user: "tradebot".into(),
        name: "tradebot".into(),
        timeout_ms: 5000,
        max_backoff_ms: 30_000,
    }
}

pub(crate) fn postgres_test_url() -> String {
    std::env::var("TRADEBOT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn run(run_id: &str, account: &str) -> RunStart {
    RunStart {
        run_id: run_id.into(),
        started_at: now(),
        version: "0.1.0".into(),
        mode: "paper".into(),
        market_data: "replay".into(),
        account: account.into(),
        config_digest: "ab".repeat(32),
    }
}

fn intent(trade_id: &str, run_id: &str, symbol: &str, price: Decimal) -> TradeIntent {
    TradeIntent {
        trade_id: trade_id.into(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        run_id: run_id.into(),
        account: "paper".into(),
        symbol: symbol.into(),
        side: Side::Buy,
        quantity: dec("0.00012345"),
        price,
        client_order_id: trade_id.into(),
        created_at: now(),
    }
}

/// Prices and amounts SQLite's NUMERIC affinity would round: 28 significant
/// digits, the most a Decimal holds, and a trailing zero that must survive.
const LONG: &str = "12345.678901234567890123456789";
const TINY: &str = "0.0000000000000000000000000001";
const SCALED: &str = "65432.10";

async fn migrations_from_empty(t: &TestStore) {
    // `open` applied them; a second run finds nothing new.
    assert_eq!(t.store.migrate().await.unwrap(), Vec::<i64>::new());
    let migrator = match t.store.backend() {
        "sqlite" => &SQLITE_MIGRATIONS,
        _ => &POSTGRES_MIGRATIONS,
    };
    let applied = t.store.applied_migrations(migrator).await.unwrap();
    assert_eq!(
        applied,
        migrator.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    t.store.check_writable("no-such-run").await.unwrap();
}

async fn a_trade_round_trips_exactly(t: &TestStore) {
    let s = &t.store;
    s.start_run(&run("run-1", "paper")).await.unwrap();
    let intent = intent("tb-1", "run-1", "BTCUSDT", dec(LONG));
    s.record_intent(&intent).await.unwrap();

    let pending = s
        .trades(&TradeFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, TradeStatus::Pending);
    assert_eq!(pending[0].price.to_string(), LONG);

    let fills = vec![
        Fill {
            price: dec(LONG),
            quantity: dec("0.00012"),
            fee: dec(TINY),
            fee_asset: "BNB".into(),
        },
        Fill {
            price: dec(SCALED),
            quantity: dec("0.00000345"),
            fee: dec("0"),
            fee_asset: "BTC".into(),
        },
    ];
    let result = TradeResult {
        trade_id: "tb-1".into(),
        status: TradeStatus::Filled,
        reason: None,
        exchange_order_id: Some("987654321".into()),
        fills: fills.clone(),
        updated_at: now(),
    };
    assert!(s.record_result(&result).await.unwrap());
    // Writing the same outcome again (a retry after a lost reply) changes nothing.
    assert!(s.record_result(&result).await.unwrap());

    let trades = s
        .trades(&TradeFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(trades.len(), 1);
    let t0 = &trades[0];
    assert_eq!(t0.trade_id, intent.trade_id);
    assert_eq!(t0.correlation_id, intent.correlation_id);
    assert_eq!(t0.run_id, "run-1");
    assert_eq!(t0.side, "BUY");
    assert_eq!(t0.quantity.to_string(), "0.00012345");
    assert_eq!(t0.price.to_string(), LONG);
    assert_eq!(t0.status, TradeStatus::Filled);
    assert_eq!(t0.exchange_order_id.as_deref(), Some("987654321"));
    assert_eq!(t0.executed_quantity, Some(dec("0.00012345")));
    assert_eq!(t0.created_at, intent.created_at);
    assert_eq!(t0.updated_at, result.updated_at);
    let stored: Vec<FillRecord> = fills.iter().map(FillRecord::from).collect();
    assert_eq!(t0.fills, stored);
    // Exact to the digit and the scale, not merely numerically equal.
    assert_eq!(t0.fills[0].price.to_string(), LONG);
    assert_eq!(t0.fills[0].fee.to_string(), TINY);
    assert_eq!(t0.fills[1].price.to_string(), SCALED);
}

async fn sqlite_keeps_amounts_as_text(t: &TestStore) {
    let s = &t.store;
    s.start_run(&run("run-1", "paper")).await.unwrap();
    s.record_intent(&intent("tb-1", "run-1", "BTCUSDT", dec(LONG)))
        .await
        .unwrap();
    if let Pool::Sqlite(pool) = &s.pool {
        let row = sqlx::query("SELECT typeof(price), price FROM trades")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>(0), "text");
        assert_eq!(row.get::<String, _>(1), LONG);
    }
}

async fn decisions_runs_and_holdings_round_trip(t: &TestStore) {
    let s = &t.store;
    let start = run("run-1", "paper");
    s.start_run(&start).await.unwrap();
    let decision = DecisionRecord {
        decision_id: "d-1".into(),
        run_id: "run-1".into(),
        source: "ma_crossover".into(),
        symbol: "ETHUSDT".into(),
        action: "BUY".into(),
        confidence: 0.734,
        reason: "fast SMA crossed above slow".into(),
        price: dec(LONG),
        decided_at: now(),
        trade_id: Some("tb-9".into()),
    };
    s.record_decision(&decision).await.unwrap();
    let stopped = now();
    s.finish_run("run-1", "market data ended", stopped)
        .await
        .unwrap();

    let mut balances = Balances::new();
    balances.insert("USDT".into(), dec("9999.123456789012345678"));
    balances.insert("BTC".into(), dec(TINY));
    let positions = vec![PositionRecord {
        symbol: "BTCUSDT".into(),
        quantity: dec("0.5"),
        average_cost: dec(LONG),
    }];
    s.save_holdings("paper", &balances, &positions, now())
        .await
        .unwrap();
    // A second snapshot replaces the first.
    balances.insert("USDT".into(), dec("1.10"));
    s.save_holdings("paper", &balances, &positions, now())
        .await
        .unwrap();

    with_pool!(s, |pool, v| {
        let row = sqlx::query(
            "SELECT source, symbol, action, confidence, reason, price, decided_at, trade_id \
             FROM decisions WHERE decision_id = 'd-1'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(row.get::<String, _>("source"), decision.source);
        assert_eq!(row.get::<String, _>("action"), "BUY");
        assert_eq!(row.get::<f64, _>("confidence"), decision.confidence);
        assert_eq!(row.get::<String, _>("reason"), decision.reason);
        assert_eq!(v::get_dec(&row, "price").unwrap().to_string(), LONG);
        assert_eq!(
            row.get::<chrono::DateTime<chrono::Utc>, _>("decided_at"),
            decision.decided_at
        );
        assert_eq!(
            row.get::<Option<String>, _>("trade_id").as_deref(),
            Some("tb-9")
        );

        let row = sqlx::query("SELECT * FROM runs WHERE run_id = 'run-1'")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>("version"), start.version);
        assert_eq!(row.get::<String, _>("config_digest"), start.config_digest);
        assert_eq!(row.get::<String, _>("exit_reason"), "market data ended");
        assert_eq!(
            row.get::<chrono::DateTime<chrono::Utc>, _>("stopped_at"),
            stopped
        );

        let rows = sqlx::query(
            "SELECT asset, amount FROM balances WHERE account = 'paper' ORDER BY asset",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let read: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r.get("asset"), v::get_dec(r, "amount").unwrap().to_string()))
            .collect();
        assert_eq!(
            read,
            [
                ("BTC".to_owned(), TINY.to_owned()),
                ("USDT".to_owned(), "1.10".to_owned())
            ]
        );
        let row =
            sqlx::query("SELECT quantity, average_cost FROM positions WHERE symbol = 'BTCUSDT'")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(v::get_dec(&row, "average_cost").unwrap().to_string(), LONG);
    });
}

async fn kill_switch_state_is_the_latest_event(t: &TestStore) {
    let s = &t.store;
    assert_eq!(s.kill_switch().await.unwrap(), None);
    let activate = KillSwitchEvent {
        event_id: "k-1".into(),
        action: KillSwitchAction::Activate,
        reason: "Emergency test".into(),
        source: KillSwitchSource::Http,
        request_id: Some("req-1".into()),
        at: now(),
    };
    s.record_kill_switch(&activate).await.unwrap();
    let state = s.kill_switch().await.unwrap().unwrap();
    assert_eq!(state, activate);
    assert!(state.is_active());

    let deactivate = KillSwitchEvent {
        event_id: "k-2".into(),
        action: KillSwitchAction::Deactivate,
        reason: "resolved".into(),
        source: KillSwitchSource::Cli,
        request_id: None,
        at: activate.at,
    };
    s.record_kill_switch(&deactivate).await.unwrap();
    // Same millisecond: the later id (ids are time-ordered) wins.
    assert_eq!(s.kill_switch().await.unwrap().unwrap(), deactivate);
}

async fn unresolved_trades_are_other_runs_pending_or_unknown(t: &TestStore) {
    let s = &t.store;
    s.start_run(&run("old", "paper")).await.unwrap();
    s.start_run(&run("new", "paper")).await.unwrap();
    s.start_run(&run("live", "binance-testnet")).await.unwrap();
    for (id, run_id) in [
        ("tb-a", "old"),
        ("tb-b", "old"),
        ("tb-c", "old"),
        ("tb-d", "new"),
    ] {
        s.record_intent(&intent(id, run_id, "BTCUSDT", dec("1")))
            .await
            .unwrap();
    }
    let mut other = intent("tb-e", "live", "BTCUSDT", dec("1"));
    other.account = "binance-testnet".into();
    s.record_intent(&other).await.unwrap();
    for (id, status) in [
        ("tb-b", TradeStatus::Unknown),
        ("tb-c", TradeStatus::Filled),
    ] {
        s.record_result(&TradeResult {
            trade_id: id.into(),
            status,
            reason: None,
            exchange_order_id: None,
            fills: vec![],
            updated_at: now(),
        })
        .await
        .unwrap();
    }
    let ids: Vec<String> = s
        .unresolved_trades("paper", "new")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.trade_id)
        .collect();
    assert_eq!(ids, ["tb-a", "tb-b"]);
    // A result for a trade that was never written says so.
    let missing = TradeResult {
        trade_id: "tb-zzz".into(),
        status: TradeStatus::NotSent,
        reason: Some("database unavailable".into()),
        exchange_order_id: None,
        fills: vec![],
        updated_at: now(),
    };
    assert!(!s.record_result(&missing).await.unwrap());
}

async fn trades_filter_by_symbol_time_and_limit(t: &TestStore) {
    let s = &t.store;
    s.start_run(&run("run-1", "paper")).await.unwrap();
    let base = now() - chrono::Duration::minutes(10);
    for (i, symbol) in ["BTCUSDT", "ETHUSDT", "BTCUSDT", "BTCUSDT"]
        .iter()
        .enumerate()
    {
        let mut intent = intent(&format!("tb-{i}"), "run-1", symbol, dec("2"));
        intent.created_at = base + chrono::Duration::minutes(i as i64);
        s.record_intent(&intent).await.unwrap();
    }
    let ids = |trades: Vec<TradeRecord>| trades.into_iter().map(|t| t.trade_id).collect::<Vec<_>>();
    let all = TradeFilter {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        ids(s.trades(&all).await.unwrap()),
        ["tb-0", "tb-1", "tb-2", "tb-3"]
    );
    let btc = TradeFilter {
        symbol: Some("BTCUSDT".into()),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(ids(s.trades(&btc).await.unwrap()), ["tb-2", "tb-3"]);
    let since = TradeFilter {
        since: Some(base + chrono::Duration::minutes(1)),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        ids(s.trades(&since).await.unwrap()),
        ["tb-1", "tb-2", "tb-3"]
    );
    let mut replayed = intent("tb-r", "run-1", "BTCUSDT", dec("2"));
    replayed.account = "replay".into();
    s.record_intent(&replayed).await.unwrap();
    let replay = TradeFilter {
        account: Some("replay".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(ids(s.trades(&replay).await.unwrap()), ["tb-r"]);
}

macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let t = super::TestStore::sqlite().await;
                    super::$case(&t).await;
                    t.drop_schema().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let t = super::TestStore::postgres().await;
                    super::$case(&t).await;
                    t.drop_schema().await;
                }
            )*
        }
    };
}

store_suite!(
    migrations_from_empty,
    a_trade_round_trips_exactly,
    sqlite_keeps_amounts_as_text,
    decisions_runs_and_holdings_round_trip,
    kill_switch_state_is_the_latest_event,
    unresolved_trades_are_other_runs_pending_or_unknown,
    trades_filter_by_symbol_time_and_limit,
);

mod target {
    use super::*;
    use crate::telemetry::error_chain;

    const CANARY: &str = "canary-pw-7f3a9c";

    fn resolve(url: Option<&str>, host: &str) -> Result<DatabaseTarget, StoreError> {
        let mut config = test_database_config();
        config.host = host.into();
        let url = url.map(|u| SecretString::from(u.to_owned()));
        DatabaseTarget::resolve(&config, url.as_ref(), || {
            Ok(Some(SecretString::from(CANARY)))
        })
    }

    #[test]
    fn no_url_and_no_host_is_the_embedded_file() {
        let target = resolve(None, "").unwrap();
        assert_eq!(target.to_string(), "sqlite:data/tradebot.db");
        assert_eq!(target.origin(), "database.sqlite_path");
        // An empty DATABASE_URL counts as unset.
        assert_eq!(resolve(Some("  "), "").unwrap().backend(), "sqlite");
    }

    #[test]
    fn db_host_builds_postgres_from_parts_with_the_secret_password() {
        let target = resolve(None, "postgres").unwrap();
        assert_eq!(
            target.to_string(),
            "postgres://tradebot@postgres:5432/tradebot"
        );
        assert_eq!(target.origin(), "DB_HOST");
        assert!(!format!("{target:?}").contains(CANARY));
    }

    #[test]
    fn a_url_wins_and_shows_without_its_password() {
        let target = resolve(
            Some(&format!("postgres://bot:{CANARY}@db:6432/trades")),
            "ignored",
        )
        .unwrap();
        assert_eq!(target.to_string(), "postgres://bot@db:6432/trades");
        assert_eq!(target.origin(), "DATABASE_URL");
        let target = resolve(Some("sqlite://var/lib/tb.db?mode=rwc"), "").unwrap();
        assert_eq!(target.to_string(), "sqlite:var/lib/tb.db");
    }

    #[test]
    fn a_shell_substitution_is_refused_with_what_to_set_instead() {
        let err = resolve(
            Some("postgres://bot:$(cat /run/secrets/db_password)@db/trades"),
            "",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::ShellSubstitution));
        for needed in [
            "$(",
            "compose",
            "DB_HOST",
            "db_password",
            "DB_PASSWORD_FILE",
        ] {
            assert!(message.contains(needed), "{message}");
        }
        assert!(
            !message.contains("cat /run"),
            "the URL is not echoed: {message}"
        );
    }

    #[test]
    fn bad_urls_are_named_without_echoing_them() {
        for url in [
            format!("mysql://bot:{CANARY}@db/trades"),
            format!("{CANARY}@db/trades"),
            format!("postgres://bot:{CANARY}@[::1:5432/trades"),
            format!("postgres://bot:{CANARY}@db:port{CANARY}/trades"),
            "sqlite:".to_owned(),
        ] {
            let err = resolve(Some(&url), "").unwrap_err();
            let message = error_chain(&err);
            assert!(message.contains("DATABASE_URL"), "{message}");
            assert!(!message.contains(CANARY), "{url} -> {message}");
        }
        let err = resolve(Some("mysql://db/x"), "").unwrap_err();
        assert!(err.to_string().contains("\"mysql\""), "{err}");
    }

    #[tokio::test]
    async fn connection_errors_never_carry_the_password() {
        // Nothing listens on port 1.
        for url in [
            format!("postgres://bot:{CANARY}@127.0.0.1:1/trades"),
            "postgres://bot@127.0.0.1:1/trades".to_owned(),
        ] {
            let target = resolve(Some(&url), "").unwrap();
            let err = Store::open(&target, Duration::from_millis(300))
                .await
                .err()
                .unwrap();
            let message = format!("{} | {err:?}", error_chain(&err));
            assert!(
                message.contains("postgres://bot@127.0.0.1:1/trades"),
                "{message}"
            );
            assert!(!message.contains(CANARY), "{message}");
            assert!(err.is_transient(), "{message}");
        }
    }

    #[tokio::test]
    async fn a_server_refusing_the_login_is_not_retried_and_shows_no_password() {
        let url = format!("{}?user=no_such_role_tb", postgres_test_url()).replace(
            "postgres://postgres@",
            &format!("postgres://no_such_role_tb:{CANARY}@"),
        );
        let target = resolve(Some(&url), "").unwrap();
        let err = Store::open(&target, TIMEOUT).await.err().unwrap();
        let message = format!("{} | {err:?}", error_chain(&err));
        assert!(!message.contains(CANARY), "{message}");
        assert!(message.contains("no_such_role_tb"), "{message}");
        assert!(!err.is_transient(), "{message}");
    }
}
