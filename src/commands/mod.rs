//! The subcommands besides `run`: each prints JSON on stdout and returns its
//! exit status. None of them ever prints a secret value.

pub mod config_check;
pub mod dashboard;
pub mod database;
pub mod healthcheck;
pub mod kill_switch;
pub mod secrets_check;
pub mod secrets_init;

use std::io::Write as _;

/// Prints one line on stdout. A reader that went away (`| head -1`) is not
/// an error worth a panic: the output is simply no longer wanted.
pub fn print_line(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stdout(), "{line}");
}
