//! Where a secret came from, and turning what was read there into a checked value.
//!
//! Owns: reading a secret file (following symlinks), the value rules shared by every
//! source (trailing line endings, emptiness, UTF-8, trailing whitespace, a path put in
//! `NAME`), and the warnings those rules raise.
//! Must never: log or return in an error any part of a value, or its length; keep a
//! plain copy of a value once it is inside a `SecretString`.

use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::Uid;
use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;
use tracing::warn;

use super::SecretName;
use super::error::{SecretError, diagnose_unreadable};

/// Where a secret's value was (or would be) read from.
///
/// Displays and serializes as `file:/path` for both file kinds and `env:NAME` for the
/// environment, the form used in the `Loaded secret` log line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub enum SecretSource {
    /// The file named by `NAME_FILE`.
    FileVar(PathBuf),
    /// `<secrets dir>/<name>`.
    SecretsDir(PathBuf),
    /// The variable `NAME` itself.
    Env(&'static str),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::FileVar(path) | SecretSource::SecretsDir(path) => {
                write!(f, "file:{}", path.display())
            }
            SecretSource::Env(var) => write!(f, "env:{var}"),
        }
    }
}

impl From<SecretSource> for String {
    fn from(source: SecretSource) -> String {
        source.to_string()
    }
}

/// A loaded secret and where it came from. `Debug` shows `[REDACTED]` for the value.
#[derive(Clone, Debug)]
pub struct LoadedSecret {
    pub value: SecretString,
    pub source: SecretSource,
}

/// Reads and checks the secret file at `path`. `origin` is the source that chose it.
pub(super) fn read_file(
    secret: SecretName,
    origin: &SecretSource,
    path: &Path,
) -> Result<SecretString, SecretError> {
    let fail = |err: io::Error| read_error(secret, origin, path, err, Uid::effective());

    // `File::open` follows symlinks, so Kubernetes' `name -> ..data/name` links work and
    // the metadata below is the final target's, which is the mode that matters.
    let mut file = File::open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;

    // Sized up front so the buffer never grows, which would leave unwiped copies behind.
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.read_to_end(&mut bytes).map_err(fail)?;

    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Err(SecretError::NotUtf8 {
            secret,
            origin: origin.clone(),
        });
    };
    let value = checked_value(secret, origin, text)?;

    warn_if_shared(secret, path, &meta);
    Ok(value)
}

/// Maps a failure to open or read a secret file to the error the operator needs.
/// Never a reason to try another source: the caller returns it as is.
pub(super) fn read_error(
    secret: SecretName,
    origin: &SecretSource,
    path: &Path,
    err: io::Error,
    euid: Uid,
) -> SecretError {
    let path = path.to_path_buf();
    match err.kind() {
        io::ErrorKind::NotFound if matches!(origin, SecretSource::FileVar(_)) => {
            SecretError::FileVarTargetMissing { secret, path }
        }
        io::ErrorKind::PermissionDenied => {
            // Metadata needs only search permission on the directories, not read
            // permission on the file, so it usually succeeds where the open failed.
            let meta = fs::metadata(&path).ok();
            let diagnosis = diagnose_unreadable(meta.as_ref(), euid);
            SecretError::Unreadable {
                secret,
                path,
                diagnosis,
            }
        }
        _ => SecretError::Io {
            secret,
            path,
            source: err,
        },
    }
}

/// Applies the value rules shared by every source and wraps the result.
///
/// Only trailing line endings go, as the official Docker images do for `*_FILE`:
/// editors add them, and nothing else can be assumed to be accidental.
pub(super) fn checked_value(
    secret: SecretName,
    origin: &SecretSource,
    raw: &str,
) -> Result<SecretString, SecretError> {
    let value = raw.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(SecretError::Empty {
            secret,
            origin: origin.clone(),
        });
    }

    if matches!(origin, SecretSource::Env(_)) && names_existing_file(value) {
        return Err(SecretError::EnvHoldsPath { secret });
    }

    // Kept, because an API secret may legitimately end in a space; but it is far more
    // often a copy-paste slip, so say so without showing anything of the value.
    if value.ends_with([' ', '\t']) {
        warn!(
            secret = %secret,
            source = %origin,
            "Secret value ends in whitespace; kept as is"
        );
    }

    Ok(SecretString::from(value))
}

/// A `NAME` value such as `/run/secrets/db_password` or `./key.txt` that exists on
/// disk: the operator meant `NAME_FILE`. Only path-shaped values are looked up.
fn names_existing_file(value: &str) -> bool {
    let path_shaped = ["/", "./", "../"].iter().any(|p| value.starts_with(p));
    path_shaped && Path::new(value).is_file()
}

/// Secrets should be readable by their owner only; Kubernetes' default 0644 is common
/// enough that this is a warning rather than an error.
fn warn_if_shared(secret: SecretName, path: &Path, meta: &Metadata) {
    let mode = meta.mode() & 0o7777;
    if mode & 0o044 != 0 {
        warn!(
            secret = %secret,
            path = %path.display(),
            mode = %format_args!("{mode:04o}"),
            "Secret file is readable by group or others"
        );
    }
}
