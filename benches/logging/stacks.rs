//! The three logging stacks under comparison, each writing every line to a
//! "stdout" file and a log file in its own temporary folder, and how to wait
//! until their writer threads have written everything.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tracing::Dispatch;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::writer::{MakeWriterExt, Tee};
use tracing_subscriber::layer::SubscriberExt;

use tradebot::telemetry::{FILE_NAME, JsonLayer, LogWriter, RollingFile, Rotation, Stream};

/// How long draining the writers may take before the benchmark gives up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// One logging stack under test and how to wait for its writers.
pub struct Stack {
    pub name: &'static str,
    pub dispatch: Dispatch,
    sink: Sink,
    /// Lines emitted so far, so a drain knows what to wait for.
    emitted: Cell<u64>,
    pub files: Vec<PathBuf>,
    _dir: TempDir,
}

enum Sink {
    /// Our writer has a flush that waits for the lines queued before it.
    Ours(LogWriter),
    /// `tracing_appender` has no flush short of dropping its guard, so each
    /// file counts the lines that reached it.
    Appender {
        lines: Vec<Arc<AtomicU64>>,
        _guards: Vec<WorkerGuard>,
    },
}

impl Stack {
    /// `tradebot::telemetry` as `telemetry::init` wires it in JSON mode.
    fn ours() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stdout_path = dir.path().join("stdout.log");
        let stdout: Stream = Box::new(BufWriter::with_capacity(
            64 * 1024,
            open_append(&stdout_path),
        ));
        let file_dir = dir.path().join("logs");
        let file = RollingFile::open(&file_dir, Rotation::Daily, 14).unwrap();
        let writer = LogWriter::start(vec![stdout], Some(file)).unwrap();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(writer.clone()));
        Self {
            name: "ours",
            dispatch: Dispatch::new(subscriber),
            sink: Sink::Ours(writer),
            emitted: Cell::new(0),
            files: vec![stdout_path, file_dir.join(FILE_NAME)],
            _dir: dir,
        }
    }

    /// json-subscriber set up as close to our line contract as it goes: event
    /// and span fields at the top level, no nested span objects (it adds the
    /// span's `name`, and writes a name twice when an event reuses it).
    fn json_subscriber() -> Self {
        let (dir, writers, sink, files) = appender_sinks();
        let layer = json_subscriber::fmt::layer()
            .flatten_event(true)
            .flatten_span_list_on_top_level(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(writers);
        Self::appender(
            "json_subscriber",
            tracing_subscriber::registry().with(layer),
            dir,
            sink,
            files,
        )
    }

    /// tracing-subscriber's own JSON formatter with the event's fields
    /// flattened; span fields stay nested under `span` and `spans`, which is
    /// why it cannot serve our contract.
    fn fmt_json() -> Self {
        let (dir, writers, sink, files) = appender_sinks();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writers);
        Self::appender(
            "fmt_json",
            tracing_subscriber::registry().with(layer),
            dir,
            sink,
            files,
        )
    }

    fn appender<S>(
        name: &'static str,
        subscriber: S,
        dir: TempDir,
        sink: Sink,
        files: Vec<PathBuf>,
    ) -> Self
    where
        S: tracing::Subscriber + Send + Sync + 'static,
    {
        Self {
            name,
            dispatch: Dispatch::new(subscriber),
            sink,
            emitted: Cell::new(0),
            files,
            _dir: dir,
        }
    }

    /// Records `lines` more emitted lines and waits until every line so far
    /// has been handed to the operating system.
    pub fn drain(&self, lines: u64) {
        let total = self.emitted.get() + lines;
        self.emitted.set(total);
        match &self.sink {
            Sink::Ours(writer) => assert!(
                writer.flush(DRAIN_TIMEOUT),
                "{}: flush timed out",
                self.name
            ),
            Sink::Appender { lines, .. } => {
                let start = Instant::now();
                while lines
                    .iter()
                    .any(|count| count.load(Ordering::Acquire) < total)
                {
                    assert!(
                        start.elapsed() < DRAIN_TIMEOUT,
                        "{}: drain timed out",
                        self.name
                    );
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
        }
    }

    /// Empties the files between samples so a run does not fill the disk.
    /// Every file is open for appending, so the writers carry on at the new end.
    pub fn truncate_files(&self) {
        for path in &self.files {
            if let Ok(file) = OpenOptions::new().write(true).open(path) {
                let _ = file.set_len(0);
            }
        }
    }
}

/// Two non-blocking, lossless writers over buffered files, teed.
fn appender_sinks() -> (TempDir, Tee<NonBlocking, NonBlocking>, Sink, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    let mut guards = Vec::new();
    let mut writers = Vec::new();
    let mut files = Vec::new();
    for name in ["stdout.log", "trading.json.log"] {
        let path = dir.path().join(name);
        let count = Arc::new(AtomicU64::new(0));
        let file = CountingFile {
            file: open_append(&path),
            lines: Arc::clone(&count),
        };
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(false)
            .finish(BufWriter::with_capacity(64 * 1024, file));
        lines.push(count);
        guards.push(guard);
        writers.push(writer);
        files.push(path);
    }
    let second = writers.pop().unwrap();
    let first = writers.pop().unwrap();
    let sink = Sink::Appender {
        lines,
        _guards: guards,
    };
    (dir, first.and(second), sink, files)
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// A file that counts the newlines written to it: every line is one JSON
/// object with its own newlines escaped, so this counts lines.
struct CountingFile {
    file: File,
    lines: Arc<AtomicU64>,
}

impl Write for CountingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        let newlines = buf[..written].iter().filter(|&&b| b == b'\n').count();
        self.lines.fetch_add(newlines as u64, Ordering::Release);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Ours first, then the off-the-shelf stacks.
pub fn all() -> Vec<Stack> {
    vec![Stack::ours(), Stack::json_subscriber(), Stack::fmt_json()]
}
