//! RFC 3339 timestamps in UTC with microseconds, cheap enough for every line.
//!
//! Formatting a calendar date costs more than the rest of a log line's header,
//! and consecutive lines almost always share the second, so each thread keeps
//! the formatted `YYYY-MM-DDTHH:MM:SS` of the last second it saw.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

thread_local! {
    static LAST_SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

/// Appends the current time, e.g. `2026-12-03T12:00:00.123456Z`.
pub fn push_now(out: &mut String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    push_unix(out, now.as_secs() as i64, now.subsec_micros());
}

fn push_unix(out: &mut String, secs: i64, micros: u32) {
    LAST_SECOND.with_borrow_mut(|(cached_secs, prefix)| {
        if *cached_secs != secs {
            prefix.clear();
            let datetime = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
            let _ = write!(prefix, "{}", datetime.format("%Y-%m-%dT%H:%M:%S"));
            *cached_secs = secs;
        }
        out.push_str(prefix);
    });
    let _ = write!(out, ".{micros:06}Z");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_with_microseconds_in_utc() {
        let mut out = String::new();
        push_unix(&mut out, 1_764_763_200, 123_456);
        assert_eq!(out, "2025-12-03T12:00:00.123456Z");
    }

    #[test]
    fn a_new_second_replaces_the_cached_prefix() {
        let mut first = String::new();
        push_unix(&mut first, 1_764_763_200, 7);
        let mut second = String::new();
        push_unix(&mut second, 1_764_763_201, 7);
        assert_eq!(first, "2025-12-03T12:00:00.000007Z");
        assert_eq!(second, "2025-12-03T12:00:01.000007Z");
    }
}
