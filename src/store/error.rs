use std::path::PathBuf;
use std::time::Duration;

use crate::secrets::SecretError;

/// Everything the store can fail with. No variant carries a password: the
/// target is shown as `postgres://user@host:port/name`, and sqlx's own
/// messages name the server's complaint, not the connect options.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "DATABASE_URL contains \"$(\": docker compose does not run shell substitutions, so the \
         text would be used as written. Leave DATABASE_URL unset and set DB_HOST, DB_PORT, \
         DB_USER and DB_NAME; the password then comes from the db_password secret \
         (DB_PASSWORD_FILE, /run/secrets/db_password or DB_PASSWORD)"
    )]
    ShellSubstitution,
    #[error(
        "DATABASE_URL must start with postgres://, postgresql:// or sqlite: (found scheme {scheme:?})"
    )]
    UnsupportedUrl { scheme: String },
    #[error("DATABASE_URL is not a valid database URL: {reason}")]
    InvalidUrl { reason: String },
    #[error("DATABASE_URL is not valid UTF-8")]
    UrlNotUtf8,
    #[error(transparent)]
    Secret(SecretError),
    #[error("cannot create {path}, the folder of the SQLite database")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the database {target}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply the schema migrations to {target}")]
    Migrate {
        target: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("database {operation} failed on {target}")]
    Query {
        operation: &'static str,
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database {operation} on {target} took longer than {timeout:?}")]
    Timeout {
        operation: &'static str,
        target: String,
        timeout: Duration,
    },
}

impl StoreError {
    /// A setting is wrong (`DATABASE_URL`, the password secret): exit 2,
    /// like any other bad configuration.
    pub fn is_setting(&self) -> bool {
        matches!(
            self,
            StoreError::ShellSubstitution
                | StoreError::UnsupportedUrl { .. }
                | StoreError::InvalidUrl { .. }
                | StoreError::UrlNotUtf8
                | StoreError::Secret(_)
        )
    }

    /// Whether retrying later can help: the server is down, busy or slow,
    /// as opposed to a setting or a schema only a person can fix.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Timeout { .. } => true,
            StoreError::Connect { source, .. } | StoreError::Query { source, .. } => {
                is_transient_sqlx(source)
            }
            _ => false,
        }
    }
}

fn is_transient_sqlx(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite: 5 busy, 6 locked (and their extended codes, which
            // keep the primary code in the low byte).
            let sqlite_busy = code
                .parse::<i32>()
                .is_ok_and(|code| matches!(code & 0xff, 5 | 6));
            // PostgreSQL: 08 connection exceptions, 57P0x the server is
            // shutting down or restarting, 53 out of resources.
            sqlite_busy
                || code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
        }
        _ => false,
    }
}
