//! A running daemon's process: its stdout read line by line as it comes,
//! signals, and what it left behind once it exited.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::{TIMEOUT, json_lines};

/// A daemon that is (or was) running.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    /// Every stdout line received so far, in order.
    seen: Vec<String>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr_reader: Option<JoinHandle<String>>,
}

impl Running {
    /// Takes over a child started with piped stdout and stderr.
    pub fn start(mut child: Child) -> Self {
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout_reader = thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
                let line = String::from_utf8_lossy(&buf);
                let _ = tx.send(line.trim_end_matches('\n').to_owned());
                buf.clear();
            }
        });
        let stderr_reader = thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            text
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
            stdout_reader: Some(stdout_reader),
            stderr_reader: Some(stderr_reader),
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn signal(&self, signal: Signal) {
        signal::kill(self.pid(), signal).expect("send a signal to tradebot");
    }

    /// Waits for the first stdout line (JSON) with this message, counting only
    /// lines not yet seen by an earlier wait, and returns it.
    pub fn wait_for_message(&mut self, message: &str) -> Value {
        self.wait_for(message, |line| line["message"] == message)
    }

    /// Waits for a stdout line matching `wanted`; fails after [`TIMEOUT`]
    /// or if stdout ends first.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let value: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|err| panic!("stdout line is not JSON ({err}): {line}"));
                    if wanted(&value) {
                        return value;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    panic!(
                        "no {what} line within {TIMEOUT:?}; stdout so far:\n{}",
                        self.seen.join("\n")
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let finished = self.finish_inner();
                    panic!("stdout ended without a {what} line\n{finished}");
                }
            }
        }
    }

    /// Waits for the exit (at most [`TIMEOUT`], then kills it and fails) and
    /// collects everything it wrote.
    pub fn finish(mut self) -> Finished {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Finished {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for tradebot") {
                break status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "tradebot did not exit within {TIMEOUT:?}; stdout so far:\n{}",
                    self.seen.join("\n")
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.stdout_reader.take() {
            reader.join().expect("stdout reader");
        }
        self.seen.extend(self.lines.try_iter());
        let stderr = self
            .stderr_reader
            .take()
            .map(|reader| reader.join().expect("stderr reader"))
            .unwrap_or_default();
        let mut stdout = self.seen.join("\n");
        if !stdout.is_empty() {
            stdout.push('\n');
        }
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    /// A test that fails half-way must not leave a daemon behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// What a finished run left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The exit code; fails the test if a signal killed the process.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("tradebot was killed by a signal\n{self}"))
    }

    /// Every stdout line as JSON, failing the test on any line that is not
    /// an object with the header fields.
    pub fn json_lines(&self) -> Vec<Value> {
        json_lines(&self.stdout)
    }

    /// The stdout lines whose message is `message`.
    pub fn with_message(&self, message: &str) -> Vec<Value> {
        self.json_lines()
            .into_iter()
            .filter(|line| line["message"] == message)
            .collect()
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status: {}\nstdout:\n{}\nstderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}
