//! Starting the built `tradebot` binary the way an operator would, and reading
//! what it wrote.
//!
//! Every run gets a fresh temporary folder as its working directory, a clean
//! environment (`PATH` plus what the test sets), the repository's `config/`,
//! and its own log and secrets folders inside the temporary folder. Waits are
//! bounded by [`TIMEOUT`] only so that a broken daemon fails the test instead
//! of hanging it; no test asserts on how long anything took.

pub mod browser;
pub mod capture;
pub mod fake_binance;
pub mod logs;
pub mod postgres;
mod process;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

pub use logs::{json_lines, ordered_keys};
pub use process::{Finished, Running};

/// A kill-switch secret as `secrets init` makes them (at least 32 bytes).
pub const KILL_SWITCH_SECRET: &str = "test-kill-switch-secret-0123456789abcdef";

/// Longest wait for a line or an exit before the test gives up.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub const BIN: &str = env!("CARGO_BIN_EXE_tradebot");
pub const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
pub const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

pub const BTC_1M: &str = "binance-spot-BTCUSDT-1m-2020-01-01_2020-01-03.csv.gz";
pub const ETH_1M: &str = "binance-spot-ETHUSDT-1m-2022-08-14_2022-08-15.csv.gz";
pub const KLINES_REST: &str = "binance-spot-rest-klines-BTCUSDT-1m-2021-10-22.json";

/// The header and first two rows of the BTCUSDT 1m file, for runs that only
/// need a valid replay argument and never get as far as trading on it.
pub const TINY_CSV: &str = "\
open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore
1577836800000,7195.24000000,7196.25000000,7183.14000000,7186.68000000,51.64281200,1577836859999,371233.51835535,493,19.59823000,140888.41428273,0
1577836860000,7187.67000000,7188.06000000,7182.20000000,7184.03000000,7.24814800,1577836919999,52080.12778780,135,2.03177200,14599.21192429,0
";

/// A file of the shared market data, or `None` (with the reason on stderr)
/// when the data folder is absent, so the calling test can skip.
pub fn data_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(DATA_DIR).join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} not found; this test needs the real market data in ../shared/data",
            path.display()
        );
        None
    }
}

/// One daemon invocation's surroundings: its folder, environment and config.
pub struct Daemon {
    dir: TempDir,
    config_dir: PathBuf,
    envs: Vec<(OsString, OsString)>,
    /// A program the daemon runs under, such as `setpriv` with its options.
    wrapper: Vec<OsString>,
}

impl Daemon {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary folder");
        let secrets = dir.path().join("secrets");
        fs::create_dir(&secrets).unwrap();
        fs::set_permissions(&secrets, fs::Permissions::from_mode(0o700)).unwrap();
        Self {
            dir,
            config_dir: PathBuf::from(CONFIG_DIR),
            envs: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    /// The working directory of the run.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_dir(&self) -> PathBuf {
        self.path().join("logs")
    }

    pub fn log_file(&self) -> PathBuf {
        self.log_dir().join("trading.json.log")
    }

    pub fn secrets_dir(&self) -> PathBuf {
        self.path().join("secrets")
    }

    pub fn env(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> &mut Self {
        self.envs.push((name.into(), value.into()));
        self
    }

    pub fn config_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.config_dir = dir.into();
        self
    }

    pub fn wrapper<I, S>(&mut self, program_and_args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.wrapper = program_and_args.into_iter().map(Into::into).collect();
        self
    }

    /// Writes `<secrets dir>/<name>` with mode 0600, as a mounted secret.
    pub fn write_secret(&self, name: &str, value: &str) -> PathBuf {
        self.write_file(&format!("secrets/{name}"), value, 0o600)
    }

    /// Writes a file under the run's folder with the given mode.
    pub fn write_file(&self, relative: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.path().join(relative);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// Writes [`TINY_CSV`] and returns its `--replay` spec (`BTCUSDT=path`).
    pub fn tiny_replay(&self) -> String {
        let path = self.write_file("tiny.csv", TINY_CSV, 0o644);
        format!("BTCUSDT={}", path.display())
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut command = match self.wrapper.split_first() {
            Some((program, options)) => {
                let mut command = Command::new(program);
                command.args(options).arg(BIN);
                command
            }
            None => Command::new(BIN),
        };
        command
            .arg("--config-dir")
            .arg(&self.config_dir)
            .args(args.into_iter().map(Into::into))
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LOG_DIR", self.log_dir())
            .env("SECRETS_DIR", self.secrets_dir())
            // Tests run daemons side by side: each takes a free port.
            .env("TRADEBOT__HTTP__BIND", "127.0.0.1:0")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs to the end (at most [`TIMEOUT`]).
    pub fn run<I, S>(&self, args: I) -> Finished
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.spawn(args).finish()
    }

    /// Starts the daemon; its stdout is read line by line as it comes.
    pub fn spawn<I, S>(&self, args: I) -> Running
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Running::start(self.command(args).spawn().expect("start tradebot"))
    }
}

/// The full path of `program` on `PATH`, if any.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `GET url`: the status and the body as text.
pub fn http_get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let reply = reqwest::get(url).await.unwrap();
        let status = reply.status().as_u16();
        (status, reply.text().await.unwrap())
    })
}
