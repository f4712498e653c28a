//! Which database the store opens: `DATABASE_URL`, else PostgreSQL from the
//! `database.*` parts when `database.host` is set, else the embedded SQLite
//! file. The password never leaves a `SecretString` except into the driver's
//! connect options, and a target displays without it.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;

use super::StoreError;
use crate::config::DatabaseConfig;
use crate::secrets::SecretError;

pub enum DatabaseTarget {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        /// Holds the password: never `Debug`-printed (sqlx's `Debug` shows it).
        options: Box<PgConnectOptions>,
        /// `postgres://user@host:port/name`, for logs and errors.
        display: String,
        /// Where the settings came from: `DATABASE_URL` or `DB_HOST`.
        origin: &'static str,
    },
}

impl DatabaseTarget {
    /// Picks the target. `database_url` is `DATABASE_URL` (it may hold a
    /// password, so it is a secret too); `password` loads the `db_password`
    /// secret, `Ok(None)` when none is configured.
    pub fn resolve(
        config: &DatabaseConfig,
        database_url: Option<&SecretString>,
        password: impl FnOnce() -> Result<Option<SecretString>, SecretError>,
    ) -> Result<Self, StoreError> {
        let url = database_url
            .map(|url| url.expose_secret().trim())
            .filter(|url| !url.is_empty());
        if let Some(url) = url {
            return Self::from_url(url, password);
        }
        if config.host.is_empty() {
            return Ok(DatabaseTarget::Sqlite {
                path: config.sqlite_path.clone(),
            });
        }
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(&config.host)
            .port(config.port)
            .username(&config.user)
            .database(&config.name)
            .application_name("tradebot");
        if let Some(password) = password().map_err(StoreError::Secret)? {
            options = options.password(password.expose_secret());
        }
        Ok(Self::postgres(options, "DB_HOST"))
    }

    fn from_url(
        url: &str,
        password: impl FnOnce() -> Result<Option<SecretString>, SecretError>,
    ) -> Result<Self, StoreError> {
        // Compose hands `$(cat /run/secrets/x)` over as literal text; used as
        // written it would fail later with a confusing login error.
        if url.contains("$(") {
            return Err(StoreError::ShellSubstitution);
        }
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            "postgres" | "postgresql" => {
                // `user:pa/ss@host` parses as host `user`, port and path
                // `ss@host…`: the password would end up in the target shown.
                let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
                let authority_end = after_scheme
                    .find(['/', '?', '#'])
                    .unwrap_or(after_scheme.len());
                if after_scheme[authority_end..].contains('@') {
                    return Err(StoreError::InvalidUrl {
                        reason: "an '@' follows the host: percent-encode '/', '?', '#' and '@' \
                                 in the user name and password"
                            .into(),
                    });
                }
                let mut options: PgConnectOptions =
                    url.parse()
                        .map_err(|err: sqlx::Error| StoreError::InvalidUrl {
                            reason: url_error_reason(&err),
                        })?;
                // A URL without a password takes the db_password secret.
                let has_password = url::Url::parse(url).is_ok_and(|u| u.password().is_some());
                if !has_password && let Some(password) = password().map_err(StoreError::Secret)? {
                    options = options.password(password.expose_secret());
                }
                Ok(Self::postgres(
                    options.application_name("tradebot"),
                    "DATABASE_URL",
                ))
            }
            "sqlite" => {
                let path = url
                    .trim_start_matches("sqlite:")
                    .trim_start_matches("//")
                    .split('?')
                    .next()
                    .unwrap_or_default();
                if path.is_empty() {
                    return Err(StoreError::InvalidUrl {
                        reason: "a sqlite: URL needs a file path, e.g. sqlite://data/tradebot.db"
                            .into(),
                    });
                }
                Ok(DatabaseTarget::Sqlite {
                    path: PathBuf::from(path),
                })
            }
            _ => Err(StoreError::UnsupportedUrl {
                // Only a short, letters-only scheme is echoed: anything else
                // could be part of a credential pasted in the wrong place.
                scheme: if !scheme.is_empty()
                    && scheme.len() <= 16
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+')
                {
                    scheme.to_owned()
                } else {
                    "(not shown)".to_owned()
                },
            }),
        }
    }

    fn postgres(options: PgConnectOptions, origin: &'static str) -> Self {
        let display = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        DatabaseTarget::Postgres {
            options: Box::new(options),
            display,
            origin,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseTarget::Sqlite { .. } => "sqlite",
            DatabaseTarget::Postgres { .. } => "postgres",
        }
    }

    /// What chose the target: `database.sqlite_path`, `DB_HOST` or `DATABASE_URL`.
    pub fn origin(&self) -> &'static str {
        match self {
            DatabaseTarget::Sqlite { .. } => "database.sqlite_path",
            DatabaseTarget::Postgres { origin, .. } => origin,
        }
    }
}

/// Shown without the password, so it can go in any log line or error.
impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            DatabaseTarget::Postgres { display, .. } => f.write_str(display),
        }
    }
}

impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseTarget({self})")
    }
}

/// The reason a URL did not parse, without any of its text: sqlx's own
/// messages can echo a parameter's value, which may be a misplaced secret.
fn url_error_reason(_err: &sqlx::Error) -> String {
    "check the host, the port and the query parameters, and percent-encode special \
     characters in the user name and password"
        .to_owned()
}

/// `DATABASE_URL` from the process environment, as a secret (it may hold a
/// password); `None` when unset.
pub fn database_url_from_env() -> Result<Option<SecretString>, StoreError> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Ok(Some(SecretString::from(url))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(StoreError::UrlNotUtf8),
    }
}
