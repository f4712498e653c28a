//! The subcommands besides `run`: each prints JSON on stdout and returns its
//! exit status. None of them ever prints a secret value.

pub mod config_check;
pub mod healthcheck;
pub mod secrets_check;
pub mod secrets_init;
