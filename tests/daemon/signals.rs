//! Stopping the daemon with signals, as `docker stop` and Ctrl-C do: the first
//! one is a clean stop, a second one forces the exit.

use std::ffi::OsStr;

use nix::sys::signal::Signal;

use crate::helpers::{BTC_1M, Daemon, data_file, json_lines};

#[test]
fn sigterm_mid_replay_stops_cleanly_with_shutdown_complete_as_the_last_line() {
    let Some(btc) = data_file(BTC_1M) else { return };
    let daemon = Daemon::new();
    // About 3 ms per 1m candle: the replay runs for seconds, long after the
    // first fill.
    let mut running = daemon.spawn([
        OsStr::new("run"),
        OsStr::new("--replay"),
        btc.as_os_str(),
        OsStr::new("--speed"),
        OsStr::new("20000"),
    ]);
    running.wait_for_message("Order filled");
    running.signal(Signal::SIGTERM);
    let finished = running.finish();

    assert_eq!(finished.code(), 0, "{finished}");
    let lines = finished.json_lines();
    let requested = &finished.with_message("Shutdown requested");
    assert_eq!(requested.len(), 1, "{finished}");
    assert_eq!(requested[0]["signal"], "SIGTERM");
    assert!(
        finished.with_message("Replay finished").is_empty(),
        "{finished}"
    );
    let last = lines.last().unwrap();
    assert_eq!(last["message"], "Shutdown complete", "{finished}");
    assert_eq!(last["reason"], "signal", "{finished}");

    let file = std::fs::read_to_string(daemon.log_file()).unwrap();
    let file_last = json_lines(&file).pop().unwrap();
    assert_eq!(file_last["message"], "Shutdown complete", "{file}");
}

/// Two signals at once race the clean stop against the forced exit; either
/// may win, but neither may leave anything but JSON on stdout, and the
/// process must exit rather than be killed by the signal.
#[test]
fn two_signals_back_to_back_leave_only_json_lines_whichever_stop_wins() {
    let daemon = Daemon::new();
    let replay = daemon.tiny_replay();
    // Speed 1: after the first candle the replay sleeps a whole minute.
    let mut running = daemon.spawn(["run", "--replay", &replay, "--speed", "1"]);
    running.wait_for_message("Replay started");
    running.signal(Signal::SIGINT);
    running.signal(Signal::SIGTERM);
    let finished = running.finish();

    let lines = finished.json_lines();
    match finished.code() {
        0 => {
            let last = lines.last().unwrap();
            assert_eq!(last["message"], "Shutdown complete", "{finished}");
        }
        130 => assert_eq!(
            finished
                .with_message("Second signal; exiting now without waiting")
                .len(),
            1,
            "{finished}"
        ),
        other => panic!("exit code {other}\n{finished}"),
    }
}
