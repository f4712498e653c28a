//! Reading the daemon's JSON lines the way `jq` and a log shipper would.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// The fields every line starts with, in this order.
pub const HEADER: [&str; 4] = ["timestamp", "level", "logger", "message"];

/// Parses every line of `text`; fails the test, naming the line, if any is
/// not a JSON object or lacks a header field.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("line {} is not JSON ({err}): {line:?}", index + 1));
            assert!(
                value.is_object(),
                "line {} is not an object: {line}",
                index + 1
            );
            for key in HEADER {
                assert!(
                    value[key].is_string(),
                    "line {} has no string {key:?}: {line}",
                    index + 1
                );
            }
            value
        })
        .collect()
}

/// The keys of a JSON object line in the order written, duplicates included
/// (a `Value` would keep only the last of a repeated key).
pub fn ordered_keys(line: &str) -> Vec<String> {
    struct Keys;

    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                keys.push(key);
            }
            Ok(keys)
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(line);
    deserializer
        .deserialize_map(Keys)
        .unwrap_or_else(|err| panic!("not a JSON object ({err}): {line}"))
}

/// `2026-12-03T12:00:00.123456Z`: RFC 3339, UTC, microseconds.
pub fn is_utc_micros_timestamp(text: &str) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    text.len() == SHAPE.len()
        && text.bytes().zip(SHAPE).all(|(byte, &shape)| match shape {
            b'd' => byte.is_ascii_digit(),
            literal => byte == literal,
        })
}
