//! A schema of its own on the test PostgreSQL server for each test, so runs
//! side by side never see each other's rows. The server is the machine's
//! (`TRADEBOT_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! `.ci/run` starts it).

use sqlx::Connection;

pub struct PgSchema {
    pub name: String,
    server_url: String,
}

fn server_url() -> String {
    std::env::var("TRADEBOT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Runs `sql` as the server's superuser.
pub fn execute(sql: &str) {
    let url = server_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&url)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "these tests need PostgreSQL at {url} ({err}); start it with \
                     `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
                )
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    });
}

impl PgSchema {
    pub fn create() -> Self {
        let name = format!("tb_e2e_{}", uuid::Uuid::new_v4().simple());
        execute(&format!("CREATE SCHEMA {name}"));
        PgSchema {
            name,
            server_url: server_url(),
        }
    }

    /// `DATABASE_URL` for a daemon working in this schema, with `password`
    /// in it when given (trust authentication ignores it).
    pub fn database_url(&self, password: Option<&str>) -> String {
        let url = match password {
            Some(password) => self.server_url.replacen(
                "postgres://postgres@",
                &format!("postgres://postgres:{password}@"),
                1,
            ),
            None => self.server_url.clone(),
        };
        format!("{url}?options=-c%20search_path%3D{}", self.name)
    }

    /// `PGOPTIONS` that put a daemon configured by `DB_HOST` in this schema.
    pub fn pgoptions(&self) -> String {
        format!("-c search_path={}", self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}
