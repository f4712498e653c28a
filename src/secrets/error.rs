//! The error type of the secrets module, and the wording of its permission diagnosis.
//!
//! Owns: every way loading a secret can fail, phrased for the person on call, and
//! the text that explains an unreadable secret file.
//! Must never: hold or print a secret's value, its length or any byte of it. Variants
//! carry only the secret's name, paths, file metadata and io errors, so a derived
//! `Debug` is as safe as the `Display`.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::unistd::{Gid, Group, Uid, User};

use super::{SecretName, SecretSource};

/// Why a secret could not be loaded. Messages start with `secret <name>: `.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Both `NAME` and `NAME_FILE` are set; like the official database images we refuse
    /// to guess which one the operator meant.
    #[error(
        "secret {secret}: both {} and {} are set; unset one of them",
        .secret.env_var(),
        .secret.file_env_var()
    )]
    BothSet { secret: SecretName },

    /// `NAME_FILE` is set to the empty string.
    #[error("secret {secret}: {} is set but empty", .secret.file_env_var())]
    EmptyFileVar { secret: SecretName },

    /// `NAME_FILE` names a file that does not exist. Not a reason to try the next
    /// source: the operator asked for this file.
    #[error(
        "secret {secret}: {} names {}, which does not exist",
        .secret.file_env_var(),
        .path.display()
    )]
    FileVarTargetMissing { secret: SecretName, path: PathBuf },

    /// The file exists but the daemon's uid may not read it.
    #[error("secret {secret}: cannot read {}: {diagnosis}", .path.display())]
    Unreadable {
        secret: SecretName,
        path: PathBuf,
        /// Owner, group, mode, the daemon's uid and the likely fix.
        diagnosis: String,
    },

    /// Any other failure to open or read the file (a directory, a dangling link, EIO).
    #[error("secret {secret}: cannot read {}", .path.display())]
    Io {
        secret: SecretName,
        path: PathBuf,
        source: io::Error,
    },

    /// The value is not UTF-8. The position of the bad byte is left out on purpose.
    #[error("secret {secret}: the value from {origin} is not valid UTF-8")]
    NotUtf8 {
        secret: SecretName,
        origin: SecretSource,
    },

    /// The value is empty, or nothing but line endings.
    #[error("secret {secret}: the value from {origin} is empty")]
    Empty {
        secret: SecretName,
        origin: SecretSource,
    },

    /// `NAME` holds the path of an existing file: almost certainly meant for `NAME_FILE`.
    /// The path itself is not repeated, since it is the variable's value.
    #[error(
        "secret {secret}: {} holds the path of an existing file rather than a secret; \
         set {} to that path instead",
        .secret.env_var(),
        .secret.file_env_var()
    )]
    EnvHoldsPath { secret: SecretName },

    /// No source has the secret. Whether that is fatal is the caller's call.
    #[error(
        "secret {secret}: not found; looked in {} (unset), {} (no such file), {} (unset)",
        .secret.file_env_var(),
        .searched.display(),
        .secret.env_var()
    )]
    NotFound {
        secret: SecretName,
        searched: PathBuf,
    },
}

impl SecretError {
    /// True when no source has the secret, as opposed to a source that is broken.
    pub fn is_not_found(&self) -> bool {
        matches!(self, SecretError::NotFound { .. })
    }

    /// The secret this error is about.
    pub fn secret(&self) -> SecretName {
        match self {
            SecretError::BothSet { secret }
            | SecretError::EmptyFileVar { secret }
            | SecretError::FileVarTargetMissing { secret, .. }
            | SecretError::Unreadable { secret, .. }
            | SecretError::Io { secret, .. }
            | SecretError::NotUtf8 { secret, .. }
            | SecretError::Empty { secret, .. }
            | SecretError::EnvHoldsPath { secret }
            | SecretError::NotFound { secret, .. } => *secret,
        }
    }
}

/// Explains a permission-denied secret file: who owns it, its mode, who we run as and
/// what would fix it. `meta` is `None` when even the file's metadata is out of reach,
/// which means a directory above it is not searchable.
///
/// Kept apart from the read so its text can be tested: the test suite runs as root in
/// CI, where no file is unreadable.
pub(super) fn diagnose_unreadable(meta: Option<&Metadata>, euid: Uid) -> String {
    let daemon = describe_uid(euid);
    let Some(meta) = meta else {
        return format!(
            "permission denied, and its owner and mode cannot be read either \
             (daemon running as uid {daemon}); make every directory above it \
             searchable by uid {euid}"
        );
    };

    let owner = Uid::from_raw(meta.uid());
    let group = Gid::from_raw(meta.gid());
    let facts = format!(
        "owner {}, group {}, mode {:04o}, daemon running as uid {daemon}",
        describe_uid(owner),
        describe_gid(group),
        meta.mode() & 0o7777,
    );

    // When we already own the file only its mode can be at fault; otherwise the usual
    // cause is a host file bind-mounted with the host user's uid (see NOTES.md).
    let fix = if owner == euid {
        "add read permission for its owner (chmod u+r)".to_owned()
    } else {
        format!("run the daemon as uid {owner}, or change the file's owner to uid {euid}")
    };
    format!("permission denied ({facts}); {fix}")
}

/// `1000 (app)`, or just `1000` when the uid has no passwd entry (common in containers).
fn describe_uid(uid: Uid) -> String {
    with_name(
        uid.as_raw(),
        User::from_uid(uid).ok().flatten().map(|u| u.name),
    )
}

fn describe_gid(gid: Gid) -> String {
    with_name(
        gid.as_raw(),
        Group::from_gid(gid).ok().flatten().map(|g| g.name),
    )
}

fn with_name(id: u32, name: Option<String>) -> String {
    match name {
        Some(name) => format!("{id} ({name})"),
        None => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn file_with_mode(mode: u32) -> (tempfile::TempDir, PathBuf, Metadata) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exchange_api_key");
        fs::write(&path, "canary-SECRET-7f3a9").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let meta = fs::metadata(&path).unwrap();
        (dir, path, meta)
    }

    #[test]
    fn unreadable_message_names_path_owner_group_mode_uid_and_fix() {
        let (_dir, path, meta) = file_with_mode(0o600);
        let owner = Uid::from_raw(meta.uid());
        let daemon = Uid::from_raw(65532);
        assert_ne!(
            owner, daemon,
            "the test needs a daemon uid unlike the file's owner"
        );

        let err = SecretError::Unreadable {
            secret: SecretName::ExchangeApiKey,
            path: path.clone(),
            diagnosis: diagnose_unreadable(Some(&meta), daemon),
        };

        let expected = format!(
            "secret exchange_api_key: cannot read {}: permission denied (owner {}, group {}, \
             mode 0600, daemon running as uid {}); run the daemon as uid {}, or change the \
             file's owner to uid 65532",
            path.display(),
            describe_uid(owner),
            describe_gid(Gid::from_raw(meta.gid())),
            describe_uid(daemon),
            meta.uid(),
        );
        assert_eq!(err.to_string(), expected);
        assert!(!err.to_string().contains("canary"));
    }

    #[test]
    fn unreadable_message_suggests_chmod_when_the_daemon_owns_the_file() {
        let (_dir, _path, meta) = file_with_mode(0o000);
        let text = diagnose_unreadable(Some(&meta), Uid::from_raw(meta.uid()));

        assert!(text.contains("mode 0000"), "{text}");
        assert!(
            text.ends_with("add read permission for its owner (chmod u+r)"),
            "{text}"
        );
    }

    #[test]
    fn unreadable_message_without_metadata_points_at_parent_directories() {
        let text = diagnose_unreadable(None, Uid::from_raw(65532));

        assert!(text.contains("daemon running as uid 65532"), "{text}");
        assert!(text.contains("searchable by uid 65532"), "{text}");
    }

    #[test]
    fn ids_show_their_name_only_when_resolvable() {
        assert_eq!(with_name(1000, Some("app".into())), "1000 (app)");
        assert_eq!(with_name(65532, None), "65532");
        // uid 0 always has a passwd entry named root on the systems we run on.
        assert_eq!(describe_uid(Uid::from_raw(0)), "0 (root)");
    }
}
