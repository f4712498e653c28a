//! The container contract, without a Docker engine: the compose file and
//! Dockerfile are read and checked, and the binary is run the way the
//! `trading-bot` service runs it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::Signal;
use serde_yaml_ng::Value;

use crate::helpers::postgres::PgSchema;
use crate::helpers::{Daemon, fake_binance, find_program};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const SECRETS: [&str; 4] = [
    "exchange_api_key",
    "exchange_api_secret",
    "kill_switch_secret",
    "db_password",
];
/// The most `trading.shutdown_timeout_ms` may be, in seconds.
const MAX_SHUTDOWN_SECS: u64 = 9;

fn compose() -> Value {
    let text = fs::read_to_string(Path::new(REPO).join("docker-compose.yml")).unwrap();
    let mut value: Value = serde_yaml_ng::from_str(&text).unwrap();
    value.apply_merge().unwrap();
    value
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("service {name} missing"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    let mapping = service["environment"]
        .as_mapping()
        .expect("environment as a mapping");
    mapping
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => panic!("environment value {other:?}"),
            };
            (k.as_str().unwrap().to_owned(), value)
        })
        .collect()
}

/// `20s`, `1m30s` → seconds.
fn duration_secs(text: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = number.parse().unwrap();
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => panic!("unexpected duration {text}"),
        }
    }
    total
}

#[test]
fn compose_names_the_project_and_mounts_every_secret_from_the_secrets_folder() {
    let compose = compose();
    assert_eq!(compose["name"].as_str(), Some("llm-tradebot"));
    for name in SECRETS {
        let file = compose["secrets"][name]["file"].as_str();
        assert_eq!(file, Some(format!("./secrets/{name}").as_str()), "{name}");
    }
}

#[test]
fn the_trading_bot_gets_every_secret_as_a_file_and_no_value_in_its_environment() {
    let compose = compose();
    let bot = service(&compose, "trading-bot");
    assert_eq!(strings(&bot["command"]), ["run"]);
    assert_eq!(strings(&bot["secrets"]), SECRETS);
    let env = environment(bot);
    for name in SECRETS {
        let var = format!("{}_FILE", name.to_uppercase());
        assert_eq!(
            env.get(&var),
            Some(&format!("/run/secrets/{name}")),
            "{var}"
        );
        assert!(
            !env.contains_key(&name.to_uppercase()),
            "{name} given as a value"
        );
    }
    for key in ["DB_HOST", "DB_PORT", "DB_USER", "DB_NAME"] {
        assert!(env.contains_key(key), "{key}");
    }
    assert_eq!(env["DB_HOST"], "postgres");
}

#[test]
fn no_environment_value_anywhere_uses_a_shell_substitution() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        if service.get("environment").is_none() {
            continue;
        }
        for (key, value) in environment(service) {
            assert!(!value.contains("$("), "{name:?} {key}={value}");
        }
    }
}

#[test]
fn the_dashboard_gets_only_its_two_secrets_and_publishes_on_loopback() {
    let compose = compose();
    let dashboard = service(&compose, "dashboard");
    assert_eq!(strings(&dashboard["command"]), ["dashboard"]);
    assert_eq!(
        strings(&dashboard["secrets"]),
        ["kill_switch_secret", "db_password"]
    );
    assert_eq!(strings(&dashboard["ports"]), ["127.0.0.1:5173:5173"]);
    // Started by a plain `docker compose up`, and health-checked on its own
    // port (the image's HEALTHCHECK asks the daemon's).
    assert!(dashboard.get("profiles").is_none());
    let env = environment(dashboard);
    assert_eq!(env["TRADEBOT__DASHBOARD__BIND"], "0.0.0.0:5173");
    let check = strings(&dashboard["healthcheck"]["test"]).join(" ");
    assert!(check.contains("http://127.0.0.1:5173/health"), "{check}");
}

#[test]
fn every_published_port_is_bound_to_loopback() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for port in strings(&service["ports"]) {
            assert!(port.starts_with("127.0.0.1:"), "{name:?} publishes {port}");
        }
    }
}

#[test]
fn postgres_reads_its_password_file_is_health_checked_and_awaited() {
    let compose = compose();
    let postgres = service(&compose, "postgres");
    let env = environment(postgres);
    assert_eq!(env["POSTGRES_PASSWORD_FILE"], "/run/secrets/db_password");
    assert!(postgres["healthcheck"]["test"].is_sequence());
    let volume = strings(&postgres["volumes"]).join(",");
    assert!(volume.starts_with("pgdata:"), "{volume}");
    assert!(compose["volumes"].get("pgdata").is_some());
    for dependant in ["trading-bot", "dashboard"] {
        let condition = &service(&compose, dependant)["depends_on"]["postgres"]["condition"];
        assert_eq!(condition.as_str(), Some("service_healthy"), "{dependant}");
    }
}

#[test]
fn services_stop_cleanly_restart_and_run_as_the_secret_owner() {
    let compose = compose();
    for name in ["trading-bot", "dashboard"] {
        let service = service(&compose, name);
        assert_eq!(service["init"].as_bool(), Some(true), "{name}");
        assert_eq!(
            service["restart"].as_str(),
            Some("unless-stopped"),
            "{name}"
        );
        let grace = duration_secs(service["stop_grace_period"].as_str().unwrap());
        assert!(grace > MAX_SHUTDOWN_SECS, "{name}: grace {grace}s");
        let user = service["user"].as_str().unwrap();
        assert!(
            user.contains("TRADEBOT_UID") && user.contains("TRADEBOT_GID"),
            "{user}"
        );
        assert_eq!(service["logging"]["driver"].as_str(), Some("json-file"));
        assert!(service["logging"]["options"]["max-size"].is_string());
        assert!(service["logging"]["options"]["max-file"].is_string());
    }
    let postgres_user = service(&compose, "postgres")["user"].as_str().unwrap();
    assert!(postgres_user.contains("TRADEBOT_UID"), "{postgres_user}");
    let bot_volumes = strings(&service(&compose, "trading-bot")["volumes"]);
    assert!(
        bot_volumes.iter().any(|v| v.starts_with("./logs:")),
        "{bot_volumes:?}"
    );
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_exec_form_and_health_checked() {
    let text = fs::read_to_string(Path::new(REPO).join("Dockerfile")).unwrap();
    let instructions: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let count = |word: &str| instructions.iter().filter(|l| l.starts_with(word)).count();
    assert!(count("FROM ") >= 2, "multi-stage");
    assert!(
        instructions
            .iter()
            .any(|l| l.starts_with("ENTRYPOINT [\"tradebot\"]"))
    );
    assert!(
        instructions
            .iter()
            .any(|l| l.starts_with("STOPSIGNAL SIGTERM"))
    );
    let user = instructions
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER");
    let who = user.trim_start_matches("USER ").split(':').next().unwrap();
    assert!(!matches!(who, "root" | "0"), "{user}");
    assert!(
        text.contains("CMD [\"tradebot\", \"healthcheck\"]"),
        "HEALTHCHECK via the binary"
    );
    let ignore = fs::read_to_string(Path::new(REPO).join(".dockerignore")).unwrap();
    for entry in ["secrets/", "logs/", "target/", ".git/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            "{entry} not ignored"
        );
    }
}

#[test]
fn the_dockerfile_builds_a_manifest_cargo_accepts_and_embeds_the_migrations() {
    let text = fs::read_to_string(Path::new(REPO).join("Dockerfile")).unwrap();
    let manifest: toml::Value =
        toml::from_str(&fs::read_to_string(Path::new(REPO).join("Cargo.toml")).unwrap()).unwrap();
    let placeholders = text
        .lines()
        .find(|l| l.contains("for bench in"))
        .expect("a placeholder per bench");
    for bench in manifest["bench"].as_array().unwrap() {
        let name = bench["name"].as_str().unwrap();
        assert!(
            placeholders
                .split_whitespace()
                .any(|word| word.trim_end_matches(';') == name),
            "bench {name} has no placeholder in the dependency layer: cargo would refuse the manifest"
        );
    }
    assert!(
        text.contains("COPY migrations ./migrations"),
        "sqlx::migrate! reads them at build time"
    );
    let ignore = fs::read_to_string(Path::new(REPO).join(".dockerignore")).unwrap();
    assert!(
        !ignore
            .lines()
            .any(|l| l.trim().trim_end_matches('/') == "migrations")
    );
}

#[test]
fn the_dockerfile_passes_hadolint_when_it_is_installed() {
    let Some(hadolint) = find_program("hadolint") else {
        eprintln!("skipped: hadolint is not installed (.ci/run installs it with pip)");
        return;
    };
    let output = std::process::Command::new(hadolint)
        .arg(Path::new(REPO).join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The trading-bot service's environment, with `/run/secrets` moved to the
/// test's folder and the log folder left to the helper.
fn container_environment(daemon: &mut Daemon) {
    let compose = compose();
    let secrets_dir = daemon.secrets_dir();
    for (key, value) in environment(service(&compose, "trading-bot")) {
        if key == "LOG_DIR" {
            continue;
        }
        let value = match value.strip_prefix("/run/secrets/") {
            Some(name) => secrets_dir.join(name).display().to_string(),
            None => interpolate_unset(&value),
        };
        daemon.env(key, value);
    }
}

/// What compose makes of `${NAME:-default}` when NAME is unset, as in a
/// fresh checkout; other values pass through.
fn interpolate_unset(value: &str) -> String {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(inner) => inner
            .split_once(":-")
            .map(|(_, d)| d)
            .unwrap_or("")
            .to_owned(),
        None => value.to_owned(),
    }
}

#[test]
fn the_binary_runs_as_the_container_would_and_stops_on_sigterm() {
    let mut daemon = Daemon::new();
    let canaries: Vec<String> = SECRETS
        .iter()
        .map(|s| format!("canary-{s}-c0nta1ner"))
        .collect();
    for (name, canary) in SECRETS.iter().zip(&canaries) {
        daemon.write_secret(name, canary);
    }
    container_environment(&mut daemon);
    // The compose `postgres` service is this machine's server, in a schema
    // of the test's own; the db_password canary goes along unused (trust
    // authentication) but must show up nowhere.
    let schema = PgSchema::create();
    daemon
        .env("DB_HOST", "127.0.0.1")
        .env("DB_USER", "postgres")
        .env("DB_NAME", "test")
        .env("PGOPTIONS", schema.pgoptions());
    daemon.env(
        "TRADEBOT__MARKET_DATA__BASE_URL",
        fake_binance::closed_port_url(),
    );
    daemon.env("TRADEBOT__MARKET_DATA__MAX_BACKOFF_MS", "1000");

    let mut running = daemon.spawn(["run"]);
    let ready = running.wait_for_message("Database ready");
    assert_eq!(ready["backend"], "postgres");
    assert_eq!(ready["chosen_by"], "DB_HOST");
    assert_eq!(ready["database"], "postgres://postgres@127.0.0.1:5432/test");
    let listening = running.wait_for_message("HTTP server listening");
    let url = format!("http://{}/health", listening["addr"].as_str().unwrap());
    let health = daemon.run(["healthcheck", "--url", &url]);
    assert_eq!(health.code(), 0, "{health}");
    running.wait_for_message("Market data unavailable; still running and retrying");
    running.signal(Signal::SIGTERM);
    let finished = running.finish();

    assert_eq!(finished.code(), 0, "{finished}");
    let lines = finished.json_lines();
    assert_eq!(lines.last().unwrap()["message"], "Shutdown complete");
    let file = fs::read_to_string(daemon.log_file()).unwrap();
    for canary in &canaries {
        for (what, text) in [
            ("stdout", &finished.stdout),
            ("stderr", &finished.stderr),
            ("file", &file),
        ] {
            assert!(
                !text.contains(canary.as_str()),
                "a secret value reached {what}"
            );
        }
    }
    let loaded: Vec<&str> = lines
        .iter()
        .filter(|l| l["message"] == "Loaded secret")
        .map(|l| l["secret"].as_str().unwrap())
        .collect();
    assert_eq!(
        loaded,
        ["kill_switch_secret", "db_password"],
        "paper mode leaves exchange keys unread"
    );
}

fn secrets_init(daemon: &Daemon, args: &[&str], stdin: &str) -> crate::helpers::Finished {
    let mut command = daemon.command(["secrets", "init"].iter().chain(args));
    command.stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    crate::helpers::Finished {
        status: output.status,
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn mode(path: &PathBuf) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn secrets_init_reads_piped_credentials_writes_0600_files_and_prints_no_value() {
    let daemon = Daemon::new();
    let dir = daemon.path().join("new-secrets");
    let dir_arg = dir.display().to_string();
    let key = "canary-init-key-77a1";
    let secret = "canary-init-secret-77a2";
    let finished = secrets_init(&daemon, &["--dir", &dir_arg], &format!("{key}\n{secret}\n"));
    assert_eq!(finished.code(), 0, "{finished}");
    assert_eq!(mode(&dir), 0o700);
    for name in SECRETS {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(
        fs::read_to_string(dir.join("exchange_api_key")).unwrap(),
        key
    );
    let generated = fs::read_to_string(dir.join("db_password")).unwrap();
    for value in [key, secret, generated.as_str()] {
        assert!(!finished.stdout.contains(value) && !finished.stderr.contains(value));
    }
    for line in finished.stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    let env = fs::read_to_string(daemon.path().join(".env")).unwrap();
    assert!(
        env.contains("TRADEBOT_UID=") && env.contains("TRADEBOT_GID="),
        "{env}"
    );

    let again = secrets_init(&daemon, &["--dir", &dir_arg, "--non-interactive"], "");
    assert_eq!(again.code(), 0, "{again}");
    assert_eq!(
        fs::read_to_string(dir.join("db_password")).unwrap(),
        generated,
        "nothing changes"
    );
}

#[test]
fn secrets_check_reports_source_owner_and_mode_without_values() {
    let mut daemon = Daemon::new();
    daemon.write_secret("kill_switch_secret", "canary-check-31f");
    daemon.write_file("secrets/db_password", "canary-check-32f", 0o644);
    daemon.env("EXCHANGE_API_KEY", "canary-check-33f");
    let finished = daemon.run(["secrets", "check"]);
    assert_eq!(finished.code(), 0, "{finished}");
    assert!(!finished.stdout.contains("canary-check"), "{finished}");
    let lines: Vec<serde_json::Value> = finished
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_name = |n: &str| lines.iter().find(|l| l["secret"] == n).unwrap().clone();
    assert_eq!(by_name("kill_switch_secret")["mode"], "0600");
    assert_eq!(by_name("kill_switch_secret")["readable"], true);
    assert!(
        by_name("db_password")["warnings"][0]
            .as_str()
            .unwrap()
            .contains("readable")
    );
    assert_eq!(
        by_name("exchange_api_key")["source"],
        "env:EXCHANGE_API_KEY"
    );
    assert_eq!(by_name("exchange_api_secret")["status"], "absent");
}

#[test]
fn the_init_script_is_an_executable_wrapper_of_secrets_init() {
    let script = Path::new(REPO).join("scripts/init-secrets.sh");
    assert!(mode(&script) & 0o111 != 0, "not executable");
    assert!(fs::read_to_string(script).unwrap().contains("secrets init"));
}
