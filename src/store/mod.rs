//! The record of what the daemon did with money: runs, decisions, trades
//! with their fills, kill-switch events, and the balances and positions it
//! last saw. Logs are for diagnosis; this is the record.
//!
//! Two backends behind one [`Store`]: SQLite (the embedded default, a file
//! created on first start) and PostgreSQL (the compose stack). Both run the
//! same SQL text; only how a decimal travels differs (TEXT in SQLite, whose
//! NUMERIC affinity would round it, NUMERIC in PostgreSQL), so each query is
//! written once and expanded per backend by [`with_pool!`]. Migrations are
//! embedded in the binary and applied on connect.

mod error;
mod reads;
mod records;
mod target;
mod values;
mod writes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use error::StoreError;
pub use records::{
    DecisionRecord, FillRecord, KillSwitchAction, KillSwitchEvent, KillSwitchSource,
    PositionRecord, RunStart, TradeFilter, TradeIntent, TradeRecord, TradeResult, TradeStatus, now,
};
pub use target::{DatabaseTarget, database_url_from_env};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Connections per pool: the trading loop writes one statement at a time;
/// the rest serve `tradebot trades` and the HTTP API's reads.
const MAX_CONNECTIONS: u32 = 4;

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool and, when asked,
/// `$v` to its value conversions (`values::sqlite` or `values::postgres`).
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
    ($store:expr, |$pool:ident, $v:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => {
                use $crate::store::values::sqlite as $v;
                $body
            }
            $crate::store::Pool::Postgres($pool) => {
                use $crate::store::values::postgres as $v;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// How much a commit must survive before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A power cut: every commit is flushed to disk (SQLite `synchronous =
    /// FULL`, PostgreSQL `synchronous_commit = on`). What a record of money
    /// needs: an order's intent must outlive the machine, not just the process.
    PowerLoss,
    /// The process dying, not the machine (SQLite `NORMAL` in WAL mode,
    /// PostgreSQL `synchronous_commit = off`): for backtests, whose record
    /// can be made again and which commit thousands of times a second.
    ProcessCrash,
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// The target without its password, for errors.
    target: Arc<str>,
    /// The longest any one statement (or connection wait) may take.
    timeout: Duration,
}

impl Store {
    /// Connects (creating the SQLite file and its folder when missing) and
    /// applies any migration the database has not seen. Commits survive a
    /// power cut.
    pub async fn open(target: &DatabaseTarget, timeout: Duration) -> Result<Self, StoreError> {
        Self::open_with(target, timeout, Durability::PowerLoss).await
    }

    pub async fn open_with(
        target: &DatabaseTarget,
        timeout: Duration,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let store = Self::connect(target, timeout, durability).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(
        target: &DatabaseTarget,
        timeout: Duration,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let connect_err = |source| StoreError::Connect {
            target: target.to_string(),
            source,
        };
        let pool = match target {
            DatabaseTarget::Sqlite { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                        path: parent.to_owned(),
                        source,
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    // WAL lets readers (`tradebot trades`, the dashboard)
                    // work beside the daemon's writes.
                    .journal_mode(SqliteJournalMode::Wal)
                    // Shorter than the statement timeout, so a lock held
                    // elsewhere ends in SQLite's own "busy" error rather
                    // than an abandoned statement that may still land.
                    .busy_timeout(timeout * 3 / 4)
                    .synchronous(match durability {
                        Durability::PowerLoss => SqliteSynchronous::Full,
                        Durability::ProcessCrash => SqliteSynchronous::Normal,
                    })
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .acquire_timeout(timeout)
                    .connect_with(options)
                    .await
                    .map_err(connect_err)?;
                Pool::Sqlite(pool)
            }
            DatabaseTarget::Postgres { options, .. } => {
                // The server abandons a statement the store has given up on,
                // so a write that timed out here cannot land later.
                let statement_timeout = timeout.as_millis().to_string();
                let options = (**options)
                    .clone()
                    .options([("statement_timeout", statement_timeout.as_str())]);
                let options = match durability {
                    Durability::PowerLoss => options,
                    Durability::ProcessCrash => options.options([("synchronous_commit", "off")]),
                };
                let pool = PgPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .acquire_timeout(timeout)
                    .connect_with(options)
                    .await
                    .map_err(connect_err)?;
                Pool::Postgres(pool)
            }
        };
        Ok(Store {
            pool,
            target: target.to_string().into(),
            timeout,
        })
    }

    /// Applies the embedded migrations; returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let migrate_err = |source| StoreError::Migrate {
            target: self.target.to_string(),
            source,
        };
        let migrator = match &self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        let before = self.applied_migrations(migrator).await?;
        with_pool!(self, |pool| migrator.run(pool).await).map_err(migrate_err)?;
        Ok(migrator
            .iter()
            .map(|m| m.version)
            .filter(|version| !before.contains(version))
            .collect())
    }

    async fn applied_migrations(&self, migrator: &Migrator) -> Result<Vec<i64>, StoreError> {
        let table = &migrator.table_name;
        let listed = with_pool!(self, |pool| async {
            let mut conn = pool.acquire().await?;
            conn.ensure_migrations_table(table).await?;
            conn.list_applied_migrations(table).await
        }
        .await);
        let applied = listed.map_err(|source| StoreError::Migrate {
            target: self.target.to_string(),
            source,
        })?;
        Ok(applied.into_iter().map(|m| m.version).collect())
    }

    /// One round trip: is the database reachable? (`/ready`.)
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", async {
            with_pool!(self, |pool| sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(drop))
        })
        .await
    }

    /// Can the database take a write now? Takes the write lock with a
    /// no-op update of `run_id`'s row and rolls back: a plain `SELECT 1`
    /// succeeds on a SQLite file another process holds locked.
    pub async fn check_writable(&self, run_id: &str) -> Result<(), StoreError> {
        self.timed("write check", async {
            with_pool!(self, |pool| {
                let mut tx = pool.begin().await?;
                sqlx::query("UPDATE runs SET exit_reason = exit_reason WHERE run_id = $1")
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                tx.rollback().await
            })
        })
        .await
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// The target, without any password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Closes every connection, waiting for statements in flight.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }

    /// Runs one database operation within the store's timeout.
    async fn timed<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(StoreError::Query {
                operation,
                target: self.target.to_string(),
                source,
            }),
            Err(_) => Err(StoreError::Timeout {
                operation,
                target: self.target.to_string(),
                timeout: self.timeout,
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
