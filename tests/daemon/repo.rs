//! The checkout itself: secrets and logs dropped into the repository's own
//! folders must never be committable.

use std::path::Path;
use std::process::Command;

use crate::helpers::find_program;

#[test]
fn new_files_in_secrets_and_logs_are_git_ignored_but_their_gitkeeps_are_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(git) = find_program("git") else {
        eprintln!("skipped: git not found on PATH");
        return;
    };
    let inside = Command::new(&git)
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(root)
        .output()
        .unwrap();
    if !inside.status.success() {
        eprintln!("skipped: {} is not a git checkout", root.display());
        return;
    }

    // --no-index: judge the ignore rules, not whether a file is tracked.
    for (path, expected) in [
        ("secrets/newsecret", true),
        ("logs/x.log", true),
        ("secrets/.gitkeep", false),
        ("logs/.gitkeep", false),
    ] {
        let status = Command::new(&git)
            .args(["check-ignore", "--quiet", "--no-index", path])
            .current_dir(root)
            .status()
            .unwrap();
        let ignored = match status.code() {
            Some(0) => true,
            Some(1) => false,
            _ => panic!("git check-ignore {path} failed: {status}"),
        };
        assert_eq!(ignored, expected, "{path} ignored: {ignored}");
    }
}
