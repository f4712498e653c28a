//! The background writer: takes finished log lines off the caller's thread and
//! writes each one to stdout and to the rolling file.
//!
//! Invariants:
//! - No line is ever dropped on the way. The queue is bounded and a full queue
//!   makes the caller wait (back-pressure) instead of discarding.
//! - The only lines that can go missing are those the disk refuses; those are
//!   counted, and a JSON line on stdout says how many and why.
//! - [`LogWriter::flush`] returns once everything queued before it is on its
//!   way to the operating system, so exit paths (normal, signal, panic) call it
//!   last.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::json_encode::push_str as push_json_str;
use super::rolling::{LostLines, RollingFile};
use super::timestamp;

/// Lines the queue holds before callers wait for the writer.
const QUEUE_CAPACITY: usize = 65_536;
/// Lines written between flushes when the queue never runs dry.
const MAX_BATCH: usize = 4_096;
/// Spent line buffers kept for reuse, and the largest one worth keeping.
const POOL_SIZE: usize = 1_024;
const POOL_MAX_CAPACITY: usize = 4_096;
/// How long the writer naps between looks at an idle queue, and for how many
/// naps before it blocks. While it naps, callers never pay for waking it.
const IDLE_NAP: Duration = Duration::from_millis(1);
const IDLE_NAPS_BEFORE_BLOCKING: u32 = 100;

enum Command {
    Line(Vec<u8>),
    Flush(Sender<()>),
}

/// A cheap handle to the writer thread; clones share the queue.
#[derive(Clone)]
pub struct LogWriter {
    tx: Sender<Command>,
    /// Buffers the writer thread has finished with, for the next lines:
    /// allocating on one thread and freeing on another is what glibc's
    /// allocator does worst.
    pool: Receiver<Vec<u8>>,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    lines_lost: AtomicU64,
}

impl LogWriter {
    /// Starts the writer thread. Every line goes to each of `streams` (stdout,
    /// or a buffer in tests) and to `file`; pretty mode leaves stdout out.
    pub fn start(streams: Vec<Stream>, file: Option<RollingFile>) -> io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let (pool_tx, pool) = crossbeam_channel::bounded(POOL_SIZE);
        let stats = Arc::new(Stats::default());
        let worker = Worker {
            pool: pool_tx,
            streams,
            file,
            stats: Arc::clone(&stats),
            file_failing: false,
        };
        thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || worker.run(rx))?;
        Ok(Self { tx, pool, stats })
    }

    /// An empty buffer for the next line, reused when one is free.
    pub fn buffer(&self) -> Vec<u8> {
        self.pool
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(512))
    }

    /// Queues one complete line (ending in `\n`).
    pub fn write_line(&self, line: Vec<u8>) {
        if let Err(err) = self.tx.send(Command::Line(line)) {
            // The writer thread is gone (it only stops if it panicked): write
            // directly rather than lose the line.
            if let Command::Line(line) = err.into_inner() {
                let _ = io::stdout().write_all(&line);
            }
        }
    }

    /// Waits until every line queued so far has been written, or `timeout`.
    /// Returns false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        if self
            .tx
            .send_timeout(Command::Flush(ack_tx), timeout)
            .is_err()
        {
            return false;
        }
        ack_rx.recv_timeout(timeout).is_ok()
    }

    /// Lines the log file could not take (disk full, permissions changed...).
    pub fn lines_lost(&self) -> u64 {
        self.stats.lines_lost.load(Ordering::Relaxed)
    }
}

/// A destination for every line besides the file.
pub type Stream = Box<dyn Write + Send>;

/// Standard output, buffered: std's `Stdout` flushes at every newline, which
/// would cost one syscall per line; the writer flushes once per batch instead.
pub fn stdout_stream() -> io::Result<Stream> {
    let fd = io::stdout().as_fd().try_clone_to_owned()?;
    Ok(Box::new(BufWriter::with_capacity(
        64 * 1024,
        File::from(fd),
    )))
}

struct Worker {
    pool: Sender<Vec<u8>>,
    streams: Vec<Stream>,
    file: Option<RollingFile>,
    stats: Arc<Stats>,
    file_failing: bool,
}

impl Worker {
    fn run(mut self, rx: Receiver<Command>) {
        let mut idle_naps = 0;
        loop {
            let first = match rx.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Disconnected) => break,
                // A blocked receiver makes every send a futex wake-up, a
                // fifth of a log call's cost; napping briefly while lines
                // may still come keeps that off the caller.
                Err(TryRecvError::Empty) if idle_naps < IDLE_NAPS_BEFORE_BLOCKING => {
                    idle_naps += 1;
                    thread::sleep(IDLE_NAP);
                    continue;
                }
                Err(TryRecvError::Empty) => match rx.recv() {
                    Ok(command) => command,
                    Err(_) => break,
                },
            };
            idle_naps = 0;
            let mut acks = Vec::new();
            self.handle(first, &mut acks);
            for command in rx.try_iter().take(MAX_BATCH) {
                self.handle(command, &mut acks);
            }
            self.flush_sinks();
            for ack in acks {
                let _ = ack.send(());
            }
        }
        self.flush_sinks();
    }

    fn handle(&mut self, command: Command, acks: &mut Vec<Sender<()>>) {
        match command {
            Command::Line(mut line) => {
                self.write(&line);
                if line.capacity() <= POOL_MAX_CAPACITY {
                    line.clear();
                    let _ = self.pool.try_send(line);
                }
            }
            Command::Flush(ack) => acks.push(ack),
        }
    }

    fn write(&mut self, line: &[u8]) {
        // A closed stdout (a reader that went away) must not stop the file
        // from being written, so stream errors are ignored.
        self.write_streams(line);
        if let Some(file) = &mut self.file {
            let result = file.write_line(line).map(|()| 0);
            self.account(result);
        }
    }

    fn write_streams(&mut self, line: &[u8]) {
        for stream in &mut self.streams {
            let _ = stream.write_all(line);
        }
    }

    fn flush_sinks(&mut self) {
        if let Some(file) = &mut self.file {
            let result = file.flush();
            self.account(result);
        }
        for stream in &mut self.streams {
            let _ = stream.flush();
        }
    }

    /// Counts lines the disk refused and says so on the streams: once when
    /// an outage starts, once when a batch is written again.
    fn account(&mut self, result: Result<u64, LostLines>) {
        let Some(file) = &mut self.file else { return };
        match result {
            Ok(written) if written > 0 && self.file_failing => {
                self.file_failing = false;
                let notice = notice_line(
                    "WARN",
                    "Log file writes recovered; lines from the outage are missing from the file",
                    file.path_display(),
                    None,
                    self.stats.lines_lost.load(Ordering::Relaxed),
                );
                let _ = file.write_line(notice.as_bytes());
                self.write_streams(notice.as_bytes());
            }
            Ok(_) => {}
            Err(lost) => {
                let total = self
                    .stats
                    .lines_lost
                    .fetch_add(lost.lines, Ordering::Relaxed)
                    + lost.lines;
                if !self.file_failing {
                    self.file_failing = true;
                    let notice = notice_line(
                        "ERROR",
                        "Log file write failed; lines are missing from the file until it recovers",
                        file.path_display(),
                        Some(&lost.error),
                        total,
                    );
                    self.write_streams(notice.as_bytes());
                }
            }
        }
    }
}

/// A line about the log file itself, written by the writer thread (it cannot
/// log through tracing without queueing behind itself).
fn notice_line(
    level: &str,
    message: &str,
    path: String,
    error: Option<&io::Error>,
    lines_lost: u64,
) -> String {
    let mut line = String::with_capacity(256);
    line.push_str("{\"timestamp\":\"");
    timestamp::push_now(&mut line);
    line.push_str("\",\"level\":\"");
    line.push_str(level);
    line.push_str("\",\"logger\":\"tradebot::telemetry\",\"message\":");
    push_json_str(&mut line, message);
    line.push_str(",\"path\":");
    push_json_str(&mut line, &path);
    if let Some(error) = error {
        line.push_str(",\"error\":");
        push_json_str(&mut line, &error.to_string());
    }
    line.push_str(&format!(",\"lines_lost\":{lines_lost}}}\n"));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_line_is_one_json_object() {
        let err = io::Error::other("no space left on device");
        let line = notice_line(
            "ERROR",
            "Log file write failed",
            "logs/x".into(),
            Some(&err),
            3,
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["lines_lost"], 3);
        assert_eq!(value["error"], "no space left on device");
        assert!(line.ends_with("}\n"));
    }

    #[test]
    fn a_full_disk_is_reported_once_with_the_exact_count_and_stdout_keeps_every_line() {
        use crate::telemetry::capture::Capture;

        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.path().join(super::super::FILE_NAME)).unwrap();
        let file = RollingFile::open(dir.path(), super::super::Rotation::Never, 14).unwrap();
        let capture = Capture::default();
        let writer = LogWriter::start(vec![Box::new(capture.clone())], Some(file)).unwrap();
        for i in 0..25 {
            writer.write_line(format!("{{\"n\":{i}}}\n").into_bytes());
        }
        assert!(writer.flush(Duration::from_secs(5)));

        assert_eq!(writer.lines_lost(), 25);
        let text = capture.text();
        let notices: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("Log file write failed"))
            .collect();
        assert_eq!(notices.len(), 1, "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("{\"n\":")).count(),
            25
        );
    }
}
