//! JSON text for log lines: string escaping and scalar values, appended to a
//! `String` without intermediate allocations.
//!
//! Escaping runs on every event's message, keys and values, so it checks
//! eight bytes at a time for the few that need escaping (control characters,
//! `"`, `\` and DEL) and copies clean runs whole.

use std::fmt::{self, Write as _};

/// Appends `value` as a JSON string literal.
pub fn push_str(out: &mut String, value: &str) {
    out.push('"');
    escape_into(out, value);
    out.push('"');
}

/// Appends `,"name":`.
pub fn push_key(out: &mut String, name: &str) {
    out.push_str(",\"");
    escape_into(out, name);
    out.push_str("\":");
}

pub fn push_f64(out: &mut String, value: f64) {
    if value.is_finite() {
        let _ = write!(out, "{value}");
    } else {
        // JSON has no NaN or infinity; a string keeps the information.
        let _ = write!(out, "\"{value}\"");
    }
}

/// Appends a value's Debug form (Display, for `%field`) as a JSON string.
pub fn push_debug(out: &mut String, value: &dyn fmt::Debug) {
    out.push('"');
    let _ = write!(Escaper(out), "{value:?}");
    out.push('"');
}

/// Appends an error's Display and its causes, `outer: inner`, as a string.
pub fn push_error(out: &mut String, error: &(dyn std::error::Error + 'static)) {
    out.push('"');
    let _ = write!(Escaper(out), "{error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(Escaper(out), ": {cause}");
        source = cause.source();
    }
    out.push('"');
}

/// A `fmt::Write` that escapes what passes through it.
struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `word` is below 0x20, `"`, `\` or 0x7f (SWAR: the
/// classic "has a zero byte" and "has a byte less than n" bit tricks).
fn word_needs_escape(word: u64) -> bool {
    let below_space = word.wrapping_sub(LOW_BITS * 0x20) & !word;
    let zero_in = |x: u64| x.wrapping_sub(LOW_BITS) & !x;
    let quote = zero_in(word ^ (LOW_BITS * u64::from(b'"')));
    let backslash = zero_in(word ^ (LOW_BITS * u64::from(b'\\')));
    let delete = zero_in(word ^ (LOW_BITS * 0x7f));
    (below_space | quote | backslash | delete) & HIGH_BITS != 0
}

fn byte_needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f
}

fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip clean words quickly; a flagged word (or the tail) goes byte
        // by byte. The word test may flag a clean word (bytes >= 0x80 can
        // borrow), which only costs the slow path, never a wrong escape.
        if i + 8 <= bytes.len() {
            let word = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
            if !word_needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(bytes.len());
        while i < end {
            let b = bytes[i];
            if byte_needs_escape(b) {
                out.push_str(&s[start..i]);
                match b {
                    b'"' => out.push_str("\\\""),
                    b'\\' => out.push_str("\\\\"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    _ => {
                        let _ = write!(out, "\\u{b:04x}");
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, s);
        out
    }

    #[test]
    fn every_byte_that_needs_it_is_escaped_wherever_it_sits_in_a_word() {
        for special in ['"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}'] {
            for position in 0..20 {
                let mut text: String = "abcdefghijklmnopqrst".into();
                text.replace_range(position..position + 1, &special.to_string());
                let out = escaped(&text);
                let back: String = serde_json::from_str(&out).unwrap();
                assert_eq!(back, text, "{out}");
                assert!(
                    !out[1..out.len() - 1].contains(special) || special == '"' || special == '\\'
                );
            }
        }
    }

    #[test]
    fn clean_and_multibyte_text_round_trips_unchanged() {
        for text in [
            "",
            "BTCUSDT",
            "Order filled at 7186.68",
            "é 📈 ünïcödé strings over eight bytes",
        ] {
            let out = escaped(text);
            assert_eq!(out, format!("\"{text}\""));
        }
    }

    #[test]
    fn control_characters_use_unicode_escapes() {
        assert_eq!(escaped("a\u{1}b\u{7f}"), "\"a\\u0001b\\u007f\"");
    }
}
