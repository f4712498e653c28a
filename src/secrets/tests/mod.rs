//! Unit tests of the secrets module, one per rule, grouped by theme.
//!
//! Every test that loads a secret goes through `Fixture::load`, which captures the log
//! output and checks that the canary value never shows up in it, in the `Debug` of the
//! result or in the error's message chain.

mod files;
mod precedence;
mod redaction;
mod values;

use std::collections::HashMap;
use std::error::Error as _;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use secrecy::ExposeSecret;
use tempfile::TempDir;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use super::{LoadedSecret, SecretError, SecretName, SecretsManager};

/// A value that must never appear in any log line, `Debug` print or error message.
const CANARY: &str = "canary-SECRET-7f3a9";

/// Log output shared between the subscriber and the test.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `f` with a subscriber that records every event as plain text, without time
/// or target, so lines can be compared whole: `INFO Loaded secret secret=... ...`.
fn with_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    let buffer = LogBuffer::default();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .without_time()
        .with_target(false);
    let subscriber = tracing_subscriber::registry().with(layer);

    let result = tracing::subscriber::with_default(subscriber, f);
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert_no_canary("log output", &logs);
    (result, logs)
}

fn assert_no_canary(what: &str, text: &str) {
    assert!(!text.contains(CANARY), "{what} leaks the secret: {text}");
    assert!(
        !text.contains("7f3a9"),
        "{what} leaks part of the secret: {text}"
    );
}

/// Checks the `Debug` of a load result and, for an error, every message in its chain.
fn assert_result_clean(result: &Result<LoadedSecret, SecretError>) {
    assert_no_canary("Debug of the result", &format!("{result:?}"));
    if let Err(err) = result {
        let mut cause: Option<&dyn std::error::Error> = Some(err);
        while let Some(e) = cause {
            assert_no_canary("error message", &e.to_string());
            cause = e.source();
        }
    }
}

/// The WARN lines of captured log output.
fn warnings(logs: &str) -> Vec<&str> {
    logs.lines()
        .filter(|l| l.trim_start().starts_with("WARN"))
        .collect()
}

fn value(loaded: &LoadedSecret) -> &str {
    loaded.value.expose_secret()
}

/// A temporary root holding a secrets dir, other files, and the variables to pass.
struct Fixture {
    root: TempDir,
    vars: HashMap<String, String>,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("secrets")).unwrap();
        Self {
            root,
            vars: HashMap::new(),
        }
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    fn secrets_dir(&self) -> PathBuf {
        self.root().join("secrets")
    }

    /// Writes `<secrets dir>/<name>` with mode 0600, so that no mode warning fires.
    fn put_in_dir(&self, name: SecretName, contents: &[u8]) -> PathBuf {
        write_private(&self.secrets_dir().join(name.as_str()), contents)
    }

    /// Writes a file outside the secrets dir with mode 0600.
    fn put_file(&self, file: &str, contents: &[u8]) -> PathBuf {
        write_private(&self.root().join(file), contents)
    }

    fn set(&mut self, var: &str, value: impl AsRef<Path>) -> &mut Self {
        let value = value.as_ref().to_str().unwrap().to_owned();
        self.vars.insert(var.to_owned(), value);
        self
    }

    fn manager(&self) -> SecretsManager {
        let manager = SecretsManager::new(self.secrets_dir(), self.vars.clone());
        assert_no_canary("Debug of the manager", &format!("{manager:?}"));
        manager
    }

    /// Loads `name`, returning the result and the log output, both checked for leaks.
    fn load(&self, name: SecretName) -> (Result<LoadedSecret, SecretError>, String) {
        let manager = self.manager();
        let (result, logs) = with_logs(|| manager.load(name));
        assert_result_clean(&result);
        (result, logs)
    }
}

fn write_private(path: &Path, contents: &[u8]) -> PathBuf {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    path.to_path_buf()
}
