//! `tradebot secrets init`: creates the secrets folder (0700) and each missing
//! secret file (0600), and writes the uid/gid the compose stack runs as to
//! `.env`.
//!
//! It never prints a value and never overwrites a file unless `--force` names
//! it, so running it twice changes nothing. Generated secrets are 32 bytes
//! from the operating system's CSPRNG, base64-encoded. Output is one JSON
//! line per file; prompts go to the terminal, never to stdout.

use std::collections::HashMap;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, BufRead, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use secrecy::zeroize::Zeroizing;
use serde_json::{Value, json};

use crate::secrets::SecretName;

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    pub env_file: PathBuf,
    pub non_interactive: bool,
    pub force: Vec<SecretName>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot read from the operating system's random source: {0}")]
    Random(getrandom::Error),
}

/// Where the exchange credentials come from when asked for.
pub trait CredentialInput {
    /// Asks for one value; `None` or an empty answer skips it.
    fn ask(&mut self, prompt: &str) -> io::Result<Option<Zeroizing<String>>>;
}

/// A terminal: prompts without echoing what is typed.
pub struct Terminal;

impl CredentialInput for Terminal {
    fn ask(&mut self, prompt: &str) -> io::Result<Option<Zeroizing<String>>> {
        let answer = Zeroizing::new(rpassword::prompt_password(prompt)?);
        Ok((!answer.trim().is_empty()).then_some(answer))
    }
}

/// Piped standard input: one value per line, prompts on stderr.
pub struct Lines<R>(pub R);

impl<R: BufRead> CredentialInput for Lines<R> {
    fn ask(&mut self, prompt: &str) -> io::Result<Option<Zeroizing<String>>> {
        eprint!("{prompt}");
        let mut line = Zeroizing::new(String::new());
        self.0.read_line(&mut line)?;
        let value = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
        Ok((!value.is_empty()).then_some(value))
    }
}

pub fn run(
    options: &InitOptions,
    input: &mut dyn CredentialInput,
    vars: &HashMap<String, String>,
    out: &mut dyn Write,
) -> Result<(), InitError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| InitError::Io { path, source }
    };
    let mut emit = |line: Value| {
        let _ = writeln!(out, "{line}");
    };

    emit(prepare_dir(&options.dir).map_err(io_err(&options.dir))?);
    for name in SecretName::ALL {
        let path = options.dir.join(name.as_str());
        let empty = fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(false);
        // An empty placeholder is filled in when a value is at hand.
        let replace = options.force.contains(&name) || empty;
        if path.exists() && !replace {
            let mode = fs::metadata(&path)
                .map(|m| m.mode() & 0o7777)
                .map_err(io_err(&path))?;
            emit(
                json!({ "secret": name.as_str(), "file": path, "action": "kept", "mode": format!("{mode:04o}") }),
            );
            continue;
        }
        let Some((value, origin)) = obtain(name, options, input, vars)? else {
            // Compose refuses to start a stack whose secret file is missing,
            // so an unanswered credential becomes an empty file: paper mode
            // never reads it, live mode stops on it with a clear error.
            if !path.exists() {
                write_secret(&path, b"", false).map_err(io_err(&path))?;
            }
            emit(json!({
                "secret": name.as_str(),
                "file": path,
                "action": "left empty",
                "mode": "0600",
                "hint": format!(
                    "paper trading needs no exchange credentials; for live trading write the value to {} (mode 0600), or set {} and rerun with --non-interactive --force {}",
                    path.display(),
                    name.env_var(),
                    name.as_str()
                ),
            }));
            continue;
        };
        write_secret(&path, value.as_bytes(), replace).map_err(io_err(&path))?;
        emit(json!({
            "secret": name.as_str(),
            "file": path,
            "action": if replace { "replaced" } else { "created" },
            "mode": "0600",
            "origin": origin,
        }));
    }
    emit(write_env_file(&options.env_file).map_err(io_err(&options.env_file))?);
    emit(json!({
        "message": "Secrets ready",
        "read_one": format!("cat {}/NAME  (prints the value: only on a screen nobody else sees)", options.dir.display()),
        "check": "tradebot secrets check",
    }));
    Ok(())
}

fn prepare_dir(dir: &Path) -> io::Result<Value> {
    if dir.exists() {
        let mode = fs::metadata(dir)?.mode() & 0o7777;
        if mode & 0o077 == 0 {
            return Ok(json!({ "dir": dir, "action": "kept", "mode": format!("{mode:04o}") }));
        }
        // A fresh clone has secrets/ at 0755 (git keeps no modes but x).
        fs::set_permissions(dir, Permissions::from_mode(0o700))?;
        return Ok(
            json!({ "dir": dir, "action": "tightened", "mode": "0700", "was": format!("{mode:04o}") }),
        );
    }
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, Permissions::from_mode(0o700))?;
    Ok(json!({ "dir": dir, "action": "created", "mode": "0700" }))
}

fn obtain(
    name: SecretName,
    options: &InitOptions,
    input: &mut dyn CredentialInput,
    vars: &HashMap<String, String>,
) -> Result<Option<(Zeroizing<String>, &'static str)>, InitError> {
    match name {
        SecretName::KillSwitchSecret | SecretName::DbPassword => {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut()).map_err(InitError::Random)?;
            let value = base64::engine::general_purpose::STANDARD.encode(bytes.as_ref());
            Ok(Some((Zeroizing::new(value), "generated")))
        }
        SecretName::ExchangeApiKey | SecretName::ExchangeApiSecret => {
            if options.non_interactive {
                let value = vars.get(name.env_var()).filter(|v| !v.is_empty());
                return Ok(value.map(|v| (Zeroizing::new(v.clone()), "environment")));
            }
            let prompt = format!("{} (input hidden, empty to skip): ", name.as_str());
            let answer = input.ask(&prompt).map_err(|source| InitError::Io {
                path: PathBuf::from("standard input"),
                source,
            })?;
            Ok(answer.map(|value| (value, "entered")))
        }
    }
}

/// Writes the value aside, then puts it in place in one step: a rename over
/// the old file when replacing, a hard link (which fails if the name exists)
/// otherwise. A failed write (a full disk) leaves no half-written secret.
fn write_secret(path: &Path, value: &[u8], replace: bool) -> io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let aside = path.with_file_name(format!(".{name}.new"));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&aside)?;
        // The umask can only remove bits; set the mode exactly anyway.
        file.set_permissions(Permissions::from_mode(0o600))?;
        file.write_all(value)?;
        file.sync_all()?;
        if replace {
            fs::rename(&aside, path)
        } else {
            fs::hard_link(&aside, path)
        }
    })();
    let _ = fs::remove_file(&aside);
    written
}

/// Records the uid and gid that own the secret files, for compose's `user:`.
fn write_env_file(path: &Path) -> io::Result<Value> {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let existing = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err),
    };
    let has = |key: &str| {
        existing
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{key}=")))
    };
    let mut addition = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        addition.push('\n');
    }
    let mut added = Vec::new();
    for (key, value) in [("TRADEBOT_UID", uid), ("TRADEBOT_GID", gid)] {
        if !has(key) {
            addition.push_str(&format!("{key}={value}\n"));
            added.push(key);
        }
    }
    let mut line = json!({ "file": path, "TRADEBOT_UID": uid, "TRADEBOT_GID": gid });
    if added.is_empty() {
        line["action"] = json!("kept");
    } else {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?
            .write_all(addition.as_bytes())?;
        line["action"] = json!(if existing.is_empty() {
            "created"
        } else {
            "updated"
        });
    }
    if uid == 0 {
        line["warning"] = json!(
            "running as root: the stack would run as root; run secrets init as the user who will own the files"
        );
    }
    Ok(line)
}

#[cfg(test)]
#[path = "secrets_init_tests.rs"]
mod tests;
