//! Logging: every line on stdout and in the rolling file is one JSON object,
//! with the fields of every enclosing span at the top level.
//!
//! This module owns the global subscriber, the panic hook and the guard that
//! flushes on exit. It must never write anything but JSON lines to stdout in
//! JSON mode, and never drop a line silently.

#[cfg(test)]
pub(crate) mod capture;
mod json_encode;
mod json_layer;
mod rolling;
mod timestamp;
mod writer;

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use json_layer::JsonLayer;
pub use rolling::{FILE_NAME, RollingFile, Rotation};
pub use writer::{LogWriter, Stream, stdout_stream};

/// Crates whose INFO and DEBUG lines are noise for an operator; held at WARN
/// unless the level directives name them.
const QUIET_CRATES: [&str; 7] = [
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "rustls",
    "sqlx",
    "tower",
];

/// How long exit paths wait for the writer to drain.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    /// Human-readable lines on stdout for a terminal; the file stays JSON.
    Pretty,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    /// A level (`INFO`) or `RUST_LOG`-style directives (`info,tradebot=debug`).
    pub directives: String,
    pub format: LogFormat,
    /// Folder of the rolling file; `None` logs to stdout only.
    pub dir: Option<PathBuf>,
    pub rotation: Rotation,
    pub max_files: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log level directives {directives:?} are invalid: {reason}")]
    Directives { directives: String, reason: String },
    #[error("log folder {path}: cannot open it")]
    LogDir { path: PathBuf, source: io::Error },
    #[error("cannot start the log writer: {0}")]
    Writer(io::Error),
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Keeps the writer alive; dropping it flushes every queued line. Hold it in
/// `main` and drop it last.
pub struct LogGuard {
    writer: LogWriter,
}

impl LogGuard {
    pub fn writer(&self) -> &LogWriter {
        &self.writer
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.writer.flush(FLUSH_TIMEOUT);
        // The last word on a run whose log file lost lines, so the count is
        // never only in a line from the middle of an outage.
        let lost = self.writer.lines_lost();
        if lost > 0 {
            let mut timestamp = String::new();
            timestamp::push_now(&mut timestamp);
            let line = serde_json::json!({
                "timestamp": timestamp,
                "level": "ERROR",
                "logger": "tradebot::telemetry",
                "message": "The log file is missing lines from this run; stdout has them all",
                "lines_lost": lost,
            });
            let _ = writeln!(io::stdout(), "{line}");
        }
    }
}

/// An error and its causes as one line: `cannot read x: permission denied`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Installs the global subscriber and the panic hook.
pub fn init(settings: &LogSettings) -> Result<LogGuard, TelemetryError> {
    let filter = build_filter(&settings.directives)?;
    let file = match &settings.dir {
        Some(dir) => Some(
            RollingFile::open(dir, settings.rotation, settings.max_files).map_err(|source| {
                TelemetryError::LogDir {
                    path: dir.clone(),
                    source,
                }
            })?,
        ),
        None => None,
    };
    let mut streams = Vec::new();
    if settings.format == LogFormat::Json {
        streams.push(stdout_stream().map_err(TelemetryError::Writer)?);
    }
    let writer = LogWriter::start(streams, file).map_err(TelemetryError::Writer)?;

    let pretty = (settings.format == LogFormat::Pretty).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stdout)
            .with_ansi(io::IsTerminal::is_terminal(&io::stdout()))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(JsonLayer::new(writer.clone()))
        .with(pretty)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    install_panic_hook(writer.clone());
    Ok(LogGuard { writer })
}

/// A stdout-only JSON logger for errors that happen before the configuration
/// is known (the configuration names the log folder and level).
pub fn init_bootstrap() -> Result<LogGuard, TelemetryError> {
    init(&LogSettings {
        directives: "info".into(),
        format: LogFormat::Json,
        dir: None,
        rotation: Rotation::Never,
        max_files: 1,
    })
}

/// Parses level directives case-insensitively (`LOG_LEVEL=INFO` is common)
/// and holds the noisy HTTP and database crates at WARN unless named.
pub fn build_filter(directives: &str) -> Result<EnvFilter, TelemetryError> {
    let lowered = directives.trim().to_ascii_lowercase();
    // EnvFilter reads a bare word as a target enabled at every level, so a
    // misspelt level (`loud`, `warning`) would silently turn every line off.
    if let Some(word) = lowered
        .split(',')
        .map(str::trim)
        .find(|d| !d.is_empty() && !d.contains(['=', '[']) && d.parse::<LevelFilter>().is_err())
    {
        return Err(TelemetryError::Directives {
            directives: directives.to_owned(),
            reason: format!(
                "{word:?} is not a level (trace, debug, info, warn, error, off); \
                 write target=level to set a target's level"
            ),
        });
    }
    let mut all = if lowered.is_empty() {
        "info".to_owned()
    } else {
        lowered.clone()
    };
    for krate in QUIET_CRATES {
        if !lowered
            .split(',')
            .any(|d| d.trim_start().starts_with(krate))
        {
            all.push_str(&format!(",{krate}=warn"));
        }
    }
    // sqlx logs a DATABASE_URL parameter it does not know with its value:
    // a password pasted as `?pasword=…` would reach the log.
    all.push_str(",sqlx_postgres::options=error");
    EnvFilter::builder()
        .parse(&all)
        .map_err(|err| TelemetryError::Directives {
            directives: directives.to_owned(),
            reason: err.to_string(),
        })
}

/// Turns a panic anywhere (spawned tasks included) into one JSON ERROR line
/// carrying the current span's fields, then flushes, so the line is on disk
/// before the process goes down.
fn install_panic_hook(writer: LogWriter) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        tracing::error!(target: "tradebot::panic", panic = %payload, location = %location, thread = %thread, "Panic");
        writer.flush(FLUSH_TIMEOUT);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_case_levels_are_accepted() {
        assert!(build_filter("INFO").is_ok());
        assert!(build_filter("WARN,tradebot=DEBUG").is_ok());
    }

    #[test]
    fn a_bad_directive_is_an_error_naming_it() {
        let err = build_filter("tradebot=loud").unwrap_err().to_string();
        assert!(err.contains("tradebot=loud"), "{err}");
    }

    #[test]
    fn a_bare_word_that_is_not_a_level_is_an_error_naming_it() {
        let err = build_filter("loud").unwrap_err().to_string();
        assert!(err.contains("\"loud\" is not a level"), "{err}");
        assert!(build_filter("info,warning").is_err());
        assert!(build_filter("off").is_ok() && build_filter("info,tradebot=debug").is_ok());
    }

    #[test]
    fn a_panic_is_one_json_error_line_carrying_the_enclosing_span_fields() {
        let previous = std::panic::take_hook();
        let (outcome, lines) = capture::capture_lines(|| {
            // The hook's own writer only gets flushed; the line goes through
            // the capturing subscriber like any event on this thread.
            install_panic_hook(LogWriter::start(Vec::new(), None).unwrap());
            let span = tracing::info_span!("trade", correlation_id = "c-42", symbol = "BTCUSDT");
            let outcome = span.in_scope(|| std::panic::catch_unwind(|| panic!("boom {}", 7)));
            drop(std::panic::take_hook());
            outcome
        });
        std::panic::set_hook(previous);

        assert!(outcome.is_err());
        assert_eq!(lines.len(), 1, "{lines:#?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "ERROR", "{line}");
        assert_eq!(line["logger"], "tradebot::panic", "{line}");
        assert_eq!(line["message"], "Panic", "{line}");
        assert_eq!(line["panic"], "boom 7", "{line}");
        assert_eq!(line["correlation_id"], "c-42", "{line}");
        assert_eq!(line["symbol"], "BTCUSDT", "{line}");
        let location = line["location"].as_str().unwrap();
        assert!(location.contains("telemetry/mod.rs"), "{line}");
    }

    #[test]
    fn noisy_crates_are_held_at_warn_unless_named() {
        let filter = build_filter("debug").unwrap().to_string();
        assert!(filter.contains("hyper=warn"), "{filter}");
        let named = build_filter("debug,reqwest=debug").unwrap().to_string();
        assert!(
            named.contains("reqwest=debug") && !named.contains("reqwest=warn"),
            "{named}"
        );
    }
}
