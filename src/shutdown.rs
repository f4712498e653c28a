//! Turning SIGTERM, SIGINT and SIGHUP into a clean stop.
//!
//! The stop request is a value ([`Shutdown`]) passed to whatever must stop, so
//! tests can request it without sending signals to the test runner. The first
//! signal requests a graceful stop; a second one exits at once with status
//! 130 (after a short flush of the log), since installing handlers removed
//! the default action that would otherwise have killed the process. Handlers
//! are what make the daemon stoppable as PID 1 in a container, where the
//! kernel ignores signals a process has no handler for.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::telemetry::LogWriter;

/// Exit status after a second signal: 128 + SIGINT, as shells report it.
pub const FORCED_EXIT_CODE: i32 = 130;

/// A handle that can be awaited until a stop is requested. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The side that requests the stop.
#[derive(Clone)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    pub fn request(&self) {
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once a stop has been requested (at once if it already was).
    pub async fn requested(&mut self) {
        // An error means every trigger is gone: nobody can ask any more, so
        // waiting forever is the honest answer.
        if self.rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Listens for SIGTERM and SIGINT for the life of the process.
pub fn listen_for_signals(trigger: ShutdownTrigger, log: LogWriter) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // A closed terminal sends SIGHUP, whose default would kill the daemon
    // without its summary or the last log lines.
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = hup.recv() => "SIGHUP",
        };
        info!(signal = first, "Shutdown requested");
        trigger.request();

        let second = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = hup.recv() => "SIGHUP",
        };
        warn!(
            signal = second,
            "Second signal; exiting now without waiting"
        );
        if !log.flush(Duration::from_millis(500)) {
            error!("Log flush timed out on forced exit; the last lines may be missing");
        }
        std::process::exit(FORCED_EXIT_CODE);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_wakes_every_waiter_even_ones_that_come_later() {
        let (trigger, mut early) = channel();
        let waiter = tokio::spawn(async move { early.requested().await });
        trigger.request();
        waiter.await.unwrap();
        let (_, mut late) = (trigger.clone(), trigger.tx.subscribe());
        assert!(*late.borrow_and_update());
    }

    #[tokio::test]
    async fn nothing_is_requested_until_asked() {
        let (_trigger, shutdown) = channel();
        assert!(!shutdown.is_requested());
    }
}
