//! Captures what the library logs on this thread, through the daemon's own
//! JSON layer, for tests that drive library parts directly (the lib's own
//! capture helper is for its unit tests only).

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::SubscriberExt;
use tradebot::telemetry::{self, JsonLayer, LogWriter};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Every line logged on this thread while it lives, at DEBUG and above.
pub struct Captured {
    buffer: Shared,
    writer: LogWriter,
    _guard: DefaultGuard,
}

impl Captured {
    pub fn start() -> Self {
        let buffer = Shared::default();
        let writer = LogWriter::start(vec![Box::new(buffer.clone())], None).unwrap();
        let subscriber = tracing_subscriber::registry()
            .with(telemetry::build_filter("debug").unwrap())
            .with(JsonLayer::new(writer.clone()));
        let guard = tracing::subscriber::set_default(subscriber);
        Self {
            buffer,
            writer,
            _guard: guard,
        }
    }

    /// Everything written so far, once the writer thread has caught up.
    pub fn text(&self) -> String {
        assert!(
            self.writer.flush(Duration::from_secs(10)),
            "log writer did not drain"
        );
        String::from_utf8(self.buffer.0.lock().unwrap().clone()).unwrap()
    }

    pub fn lines(&self) -> Vec<Value> {
        super::json_lines(&self.text())
    }
}
