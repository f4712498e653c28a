//! The rolling log file: `<dir>/trading.json.log` is always the current file,
//! so `tail -F logs/trading.json.log` follows the daemon across rotations.
//!
//! At a period boundary (UTC) the current file is renamed with the period it
//! covered (`trading.json.log.2026-12-02`, or `...2026-12-02T13` hourly) and a
//! new one is opened. Only the newest `keep` files (the current one included)
//! are kept; older ones are pruned at startup and at every rotation. The
//! folder should be the daemon's own: any file named `trading.json.log.*`
//! in it counts as a rotated log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub const FILE_NAME: &str = "trading.json.log";

/// How often the file rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    Hourly,
    Daily,
    Never,
}

impl Rotation {
    /// The period a moment falls in; equal keys share a file.
    fn period(self, at: DateTime<Utc>) -> i64 {
        let secs = at.timestamp();
        match self {
            Rotation::Hourly => secs.div_euclid(3600),
            Rotation::Daily => secs.div_euclid(86_400),
            Rotation::Never => 0,
        }
    }

    fn suffix(self, at: DateTime<Utc>) -> String {
        match self {
            Rotation::Hourly => at.format("%Y-%m-%dT%H").to_string(),
            Rotation::Daily | Rotation::Never => at.format("%Y-%m-%d").to_string(),
        }
    }
}

pub struct RollingFile {
    dir: PathBuf,
    rotation: Rotation,
    keep: usize,
    file: File,
    /// Bytes of the current file known to be whole lines.
    len: u64,
    /// Lines not yet written, and how many there are.
    pending: Vec<u8>,
    pending_lines: u64,
    /// Start of the period the open file covers.
    opened_at: DateTime<Utc>,
}

/// A batch of lines the disk refused. They are gone from the file, which is
/// cut back to its last whole line so it never holds half a JSON object.
#[derive(Debug)]
pub struct LostLines {
    pub lines: u64,
    pub error: io::Error,
}

/// Lines are gathered up to this size before a write.
const BATCH_BYTES: usize = 64 * 1024;

impl RollingFile {
    /// Creates the folder if needed, rotates a file left over from an earlier
    /// period, prunes, and opens the current file for appending.
    pub fn open(dir: &Path, rotation: Rotation, keep: usize) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let now = Utc::now();
        if let Ok(meta) = fs::metadata(&path) {
            let modified: DateTime<Utc> = meta.modified().unwrap_or(SystemTime::now()).into();
            if rotation.period(modified) != rotation.period(now) {
                rename_rotated(dir, &path, &rotation.suffix(modified))?;
            }
        }
        prune(dir, keep)?;
        let file = open_append(&path)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            rotation,
            keep,
            len: file.metadata()?.len(),
            file,
            pending: Vec::with_capacity(BATCH_BYTES),
            pending_lines: 0,
            opened_at: now,
        })
    }

    pub fn path_display(&self) -> String {
        self.dir.join(FILE_NAME).display().to_string()
    }

    /// Queues one whole line; writes the batch when it is full.
    pub fn write_line(&mut self, line: &[u8]) -> Result<(), LostLines> {
        self.write_line_at(line, Utc::now())
    }

    fn write_line_at(&mut self, line: &[u8], now: DateTime<Utc>) -> Result<(), LostLines> {
        if self.rotation.period(now) != self.rotation.period(self.opened_at) {
            self.flush()?;
            if let Err(error) = self.rotate(now) {
                // Keep writing to the file we have: a failed rotation must
                // not cost lines.
                self.opened_at = now;
                return Err(LostLines { lines: 0, error });
            }
        }
        self.pending.extend_from_slice(line);
        self.pending_lines += 1;
        if self.pending.len() >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the queued lines and returns how many. On failure they are
    /// counted as lost and the file is cut back to its last whole line.
    pub fn flush(&mut self) -> Result<u64, LostLines> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let lines = std::mem::take(&mut self.pending_lines);
        let result = self.file.write_all(&self.pending);
        let written = self.pending.len() as u64;
        self.pending.clear();
        match result {
            Ok(()) => {
                self.len += written;
                Ok(lines)
            }
            Err(error) => {
                let _ = self.file.set_len(self.len);
                Err(LostLines { lines, error })
            }
        }
    }

    fn rotate(&mut self, now: DateTime<Utc>) -> io::Result<()> {
        let path = self.dir.join(FILE_NAME);
        rename_rotated(&self.dir, &path, &self.rotation.suffix(self.opened_at))?;
        self.file = open_append(&path)?;
        self.len = 0;
        self.opened_at = now;
        prune(&self.dir, self.keep)
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Renames the current file to `trading.json.log.<suffix>`, adding `.1`, `.2`...
/// when a restart within the same period already produced that name.
fn rename_rotated(dir: &Path, path: &Path, suffix: &str) -> io::Result<()> {
    let mut target = dir.join(format!("{FILE_NAME}.{suffix}"));
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{FILE_NAME}.{suffix}.{n}"));
        n += 1;
    }
    fs::rename(path, target)
}

/// Deletes the oldest rotated files so at most `keep` files remain, counting
/// the current one. Suffixes sort chronologically as text.
fn prune(dir: &Path, keep: usize) -> io::Result<()> {
    let prefix = format!("{FILE_NAME}.");
    let mut rotated: Vec<(String, PathBuf)> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let suffix = name.strip_prefix(&prefix)?.to_owned();
            Some((suffix, entry.path()))
        })
        .collect();
    rotated.sort_by(|a, b| natural_key(&a.0).cmp(&natural_key(&b.0)));
    let allowed = keep.saturating_sub(1);
    let excess = rotated.len().saturating_sub(allowed);
    for (_, path) in rotated.into_iter().take(excess) {
        fs::remove_file(path)?;
    }
    Ok(())
}

/// `2026-12-02.10` must sort after `2026-12-02.9`: compare the date part as
/// text and the restart counter as a number.
fn natural_key(suffix: &str) -> (&str, u64) {
    match suffix.split_once('.') {
        Some((date, n)) => (date, n.parse().unwrap_or(0)),
        None => (suffix, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn rotates_at_the_utc_day_boundary_and_keeps_the_current_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = RollingFile::open(dir.path(), Rotation::Daily, 14).unwrap();
        let day1 = Utc.with_ymd_and_hms(2026, 12, 2, 23, 59, 59).unwrap();
        let day2 = Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 1).unwrap();
        file.opened_at = day1;
        file.write_line_at(b"{\"n\":1}\n", day1).unwrap();
        file.write_line_at(b"{\"n\":2}\n", day2).unwrap();
        file.flush().unwrap();

        assert_eq!(
            names(dir.path()),
            ["trading.json.log", "trading.json.log.2026-12-02"]
        );
        let old = fs::read_to_string(dir.path().join("trading.json.log.2026-12-02")).unwrap();
        let new = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(old, "{\"n\":1}\n");
        assert_eq!(new, "{\"n\":2}\n");
    }

    #[test]
    fn startup_prunes_to_the_newest_files_counting_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        for day in 1..=5 {
            fs::write(
                dir.path().join(format!("{FILE_NAME}.2026-11-0{day}")),
                "{}\n",
            )
            .unwrap();
        }
        RollingFile::open(dir.path(), Rotation::Daily, 3).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "trading.json.log",
                "trading.json.log.2026-11-04",
                "trading.json.log.2026-11-05"
            ]
        );
    }

    #[test]
    fn never_rotation_keeps_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = RollingFile::open(dir.path(), Rotation::Never, 14).unwrap();
        let later = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        file.write_line_at(b"{}\n", later).unwrap();
        file.flush().unwrap();
        assert_eq!(names(dir.path()), ["trading.json.log"]);
    }

    #[test]
    fn a_restart_in_a_later_period_rotates_the_leftover_file_with_a_counter() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join(FILE_NAME);
        fs::write(&current, "old\n").unwrap();
        let long_ago = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400 * 400);
        File::options()
            .write(true)
            .open(&current)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        fs::write(
            dir.path().join(format!("{FILE_NAME}.1971-02-05")),
            "older\n",
        )
        .unwrap();

        RollingFile::open(dir.path(), Rotation::Daily, 14).unwrap();
        let rotated = fs::read_to_string(dir.path().join(format!("{FILE_NAME}.1971-02-05.1")));
        assert_eq!(rotated.unwrap(), "old\n");
    }

    #[test]
    fn a_refused_batch_is_counted_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        // Every write to /dev/full fails with "no space left on device".
        std::os::unix::fs::symlink("/dev/full", dir.path().join(FILE_NAME)).unwrap();
        let mut file = RollingFile::open(dir.path(), Rotation::Never, 14).unwrap();
        for _ in 0..10 {
            file.write_line(b"{\"n\":1}\n").unwrap();
        }
        let lost = file.flush().unwrap_err();
        assert_eq!(lost.lines, 10);
        assert_eq!(lost.error.raw_os_error(), Some(28), "ENOSPC");
        assert_eq!(file.flush().unwrap(), 0, "nothing is left queued");
    }
}
