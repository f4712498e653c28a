//! Test support: run code under the JSON layer and get the lines it wrote.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;

use super::{JsonLayer, LogWriter};

/// An in-memory stream for a [`LogWriter`]; clones share the bytes.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `body` with only the JSON layer installed (on this thread) and
/// returns the raw lines it wrote.
pub fn capture_lines<T>(body: impl FnOnce() -> T) -> (T, Vec<String>) {
    let capture = Capture::default();
    let writer = LogWriter::start(vec![Box::new(capture.clone())], None).unwrap();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(writer.clone()));
    let value = tracing::subscriber::with_default(subscriber, body);
    assert!(writer.flush(Duration::from_secs(5)));
    let bytes = capture.0.lock().unwrap().clone();
    let lines = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (value, lines)
}
