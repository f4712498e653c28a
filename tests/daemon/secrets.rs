//! Secrets at start-up: what the daemon says when one it needs is missing or
//! one it was given cannot be read.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use nix::unistd::geteuid;
use serde_json::Value;

use crate::helpers::{Daemon, Finished, find_program};

/// The single ERROR line of a refused start-up, after checking the exit code
/// and that nothing was traded.
fn start_up_error(finished: &Finished) -> String {
    assert_eq!(finished.code(), 2, "{finished}");
    let lines = finished.json_lines();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{finished}");
    let traded = lines.iter().any(|line| {
        let message = line["message"].as_str().unwrap();
        message.starts_with("Order") || message == "Executing trade"
    });
    assert!(!traded, "{finished}");
    errors[0]["error"].as_str().unwrap().to_owned()
}

#[test]
fn live_mode_without_exchange_credentials_refuses_to_start_naming_where_it_looked() {
    let daemon = Daemon::new();

    let finished = daemon.run(["run", "--mode", "live"]);

    let error = start_up_error(&finished);
    let in_dir = daemon.secrets_dir().join("exchange_api_key");
    for needle in [
        "exchange_api_key",
        "EXCHANGE_API_KEY_FILE (unset)",
        &format!("{} (no such file)", in_dir.display()),
        "EXCHANGE_API_KEY (unset)",
    ] {
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
}

#[test]
fn an_unreadable_secret_file_stops_start_up_naming_path_owner_mode_and_uid() {
    const CANARY: &str = "canary-unreadable-2c9e7a";
    let mut daemon = Daemon::new();
    let replay = daemon.tiny_replay();
    let secret = daemon.write_secret("kill_switch_secret", CANARY);

    let (owner, mode, daemon_uid) = if geteuid().is_root() {
        // Root reads anything, so run as nobody (65534) a file that stays
        // root's with mode 0600, as a bind-mounted host secret would be.
        let Some(setpriv) = find_program("setpriv") else {
            eprintln!("skipped: running as root and setpriv (to drop to uid 65534) is not on PATH");
            return;
        };
        let traversable = fs::Permissions::from_mode(0o755);
        fs::set_permissions(daemon.path(), fs::Permissions::from_mode(0o777)).unwrap();
        fs::set_permissions(daemon.secrets_dir(), traversable).unwrap();
        fs::create_dir(daemon.log_dir()).unwrap();
        fs::set_permissions(daemon.log_dir(), fs::Permissions::from_mode(0o777)).unwrap();
        daemon.wrapper([
            setpriv.into_os_string(),
            "--reuid=65534".into(),
            "--regid=65534".into(),
            "--clear-groups".into(),
        ]);
        let probe = daemon.command(["--version"]).output().unwrap();
        if !probe.status.success() {
            eprintln!(
                "skipped: uid 65534 cannot run the built binary: {}",
                String::from_utf8_lossy(&probe.stderr)
            );
            return;
        }
        ("owner 0".to_owned(), "mode 0600", 65534)
    } else {
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
        let uid = geteuid().as_raw();
        (format!("owner {uid}"), "mode 0000", uid)
    };

    let finished = daemon.run(["run", "--replay", &replay]);

    let error = start_up_error(&finished);
    let path = secret.display().to_string();
    let uid = format!("uid {daemon_uid}");
    for needle in [path.as_str(), &owner, mode, &uid] {
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
    assert!(!finished.stdout.contains(CANARY) && !finished.stderr.contains(CANARY));
}
