use std::io::Cursor;

use super::*;

const KEY_CANARY: &str = "canary-KEY-51d0c";
const SECRET_CANARY: &str = "canary-SECRET-9e2b7";

struct Setup {
    _root: tempfile::TempDir,
    options: InitOptions,
}

fn setup(non_interactive: bool, force: &[SecretName]) -> Setup {
    let root = tempfile::tempdir().unwrap();
    let options = InitOptions {
        dir: root.path().join("secrets"),
        env_file: root.path().join(".env"),
        non_interactive,
        force: force.to_vec(),
    };
    Setup {
        _root: root,
        options,
    }
}

fn run_with(setup: &Setup, stdin: &str, vars: &[(&str, &str)]) -> Vec<Value> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut out = Vec::new();
    run(
        &setup.options,
        &mut Lines(Cursor::new(stdin.to_owned())),
        &vars,
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o7777
}

fn read(setup: &Setup, name: SecretName) -> String {
    fs::read_to_string(setup.options.dir.join(name.as_str())).unwrap()
}

#[test]
fn creates_the_folder_0700_and_every_file_0600() {
    let setup = setup(false, &[]);
    run_with(&setup, &format!("{KEY_CANARY}\n{SECRET_CANARY}\n"), &[]);
    assert_eq!(mode(&setup.options.dir), 0o700);
    for name in SecretName::ALL {
        assert_eq!(
            mode(&setup.options.dir.join(name.as_str())),
            0o600,
            "{name:?}"
        );
    }
    assert_eq!(read(&setup, SecretName::ExchangeApiKey), KEY_CANARY);
    assert_eq!(read(&setup, SecretName::ExchangeApiSecret), SECRET_CANARY);
}

#[test]
fn generated_secrets_are_32_random_bytes_in_base64_and_differ() {
    let setup = setup(true, &[]);
    run_with(&setup, "", &[]);
    let kill = read(&setup, SecretName::KillSwitchSecret);
    let db = read(&setup, SecretName::DbPassword);
    let engine = base64::engine::general_purpose::STANDARD;
    assert_eq!(engine.decode(&kill).unwrap().len(), 32);
    assert_eq!(engine.decode(&db).unwrap().len(), 32);
    assert_ne!(kill, db);
}

#[test]
fn running_twice_changes_nothing() {
    let setup = setup(true, &[]);
    run_with(&setup, "", &[("EXCHANGE_API_KEY", KEY_CANARY)]);
    let before: Vec<String> = SecretName::ALL
        .iter()
        .filter(|n| setup.options.dir.join(n.as_str()).exists())
        .map(|n| read(&setup, *n))
        .collect();
    let env_before = fs::read_to_string(&setup.options.env_file).unwrap();
    let lines = run_with(&setup, "", &[("EXCHANGE_API_KEY", "another-value")]);
    let after: Vec<String> = SecretName::ALL
        .iter()
        .filter(|n| setup.options.dir.join(n.as_str()).exists())
        .map(|n| read(&setup, *n))
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        env_before,
        fs::read_to_string(&setup.options.env_file).unwrap()
    );
    assert!(
        lines
            .iter()
            .any(|l| l["secret"] == "exchange_api_key" && l["action"] == "kept")
    );
}

#[test]
fn force_replaces_only_the_named_secret() {
    let first = setup(true, &[]);
    run_with(&first, "", &[]);
    let kill_before = read(&first, SecretName::KillSwitchSecret);
    let db_before = read(&first, SecretName::DbPassword);

    let forced = Setup {
        options: InitOptions {
            force: vec![SecretName::DbPassword],
            ..first.options.clone()
        },
        _root: first._root,
    };
    let lines = run_with(&forced, "", &[]);
    assert_eq!(read(&forced, SecretName::KillSwitchSecret), kill_before);
    assert_ne!(read(&forced, SecretName::DbPassword), db_before);
    assert_eq!(mode(&forced.options.dir.join("db_password")), 0o600);
    assert!(
        lines
            .iter()
            .any(|l| l["secret"] == "db_password" && l["action"] == "replaced")
    );
    let leftovers: Vec<_> = fs::read_dir(&forced.options.dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left behind");
}

#[test]
fn non_interactive_takes_credentials_from_the_environment_or_skips_them_with_a_hint() {
    let with_env = setup(true, &[]);
    run_with(
        &with_env,
        "",
        &[
            ("EXCHANGE_API_KEY", KEY_CANARY),
            ("EXCHANGE_API_SECRET", SECRET_CANARY),
        ],
    );
    assert_eq!(
        read(&with_env, SecretName::ExchangeApiSecret),
        SECRET_CANARY
    );

    let without = setup(true, &[]);
    let lines = run_with(&without, "", &[]);
    // Left empty, so compose finds the file; paper mode never reads it.
    assert_eq!(read(&without, SecretName::ExchangeApiKey), "");
    assert_eq!(mode(&without.options.dir.join("exchange_api_key")), 0o600);
    let skipped = lines
        .iter()
        .find(|l| l["secret"] == "exchange_api_key")
        .unwrap();
    assert_eq!(skipped["action"], "left empty");
    assert!(
        skipped["hint"]
            .as_str()
            .unwrap()
            .contains("EXCHANGE_API_KEY")
    );

    // A later run with the value at hand fills the empty file in.
    let lines = run_with(&without, "", &[("EXCHANGE_API_KEY", KEY_CANARY)]);
    assert_eq!(read(&without, SecretName::ExchangeApiKey), KEY_CANARY);
    let filled = lines
        .iter()
        .find(|l| l["secret"] == "exchange_api_key")
        .unwrap();
    assert_eq!(filled["action"], "replaced");
}

#[test]
fn no_value_ever_reaches_the_output() {
    let setup = setup(false, &[]);
    let lines = run_with(&setup, &format!("{KEY_CANARY}\n{SECRET_CANARY}\n"), &[]);
    let output = lines.iter().map(Value::to_string).collect::<String>();
    for value in [
        KEY_CANARY.to_owned(),
        SECRET_CANARY.to_owned(),
        read(&setup, SecretName::KillSwitchSecret),
        read(&setup, SecretName::DbPassword),
    ] {
        assert!(!output.contains(&value), "a value leaked into: {output}");
    }
}

#[test]
fn the_env_file_gets_the_owner_ids_once_and_keeps_other_lines() {
    let setup = setup(true, &[]);
    fs::write(&setup.options.env_file, "TRADEBOT_MODE=paper").unwrap();
    run_with(&setup, "", &[]);
    run_with(&setup, "", &[]);
    let env = fs::read_to_string(&setup.options.env_file).unwrap();
    let uid = nix::unistd::geteuid().as_raw();
    assert!(env.starts_with("TRADEBOT_MODE=paper\n"), "{env}");
    assert_eq!(env.matches("TRADEBOT_UID=").count(), 1, "{env}");
    assert!(env.contains(&format!("TRADEBOT_UID={uid}\n")), "{env}");
}

#[test]
fn a_folder_others_can_read_is_tightened_to_0700() {
    let setup = setup(true, &[]);
    fs::create_dir(&setup.options.dir).unwrap();
    fs::set_permissions(&setup.options.dir, Permissions::from_mode(0o755)).unwrap();
    let lines = run_with(&setup, "", &[]);
    assert_eq!(mode(&setup.options.dir), 0o700);
    assert_eq!(lines[0]["action"], "tightened");
}
