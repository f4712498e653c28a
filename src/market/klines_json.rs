//! Binance REST `GET /api/v3/klines` replies, turned into [`Candle`]s.
//!
//! This module owns the reply's shape: an array of arrays whose prices and
//! volumes are decimal strings, or Binance's `{"code":…,"msg":…}` error
//! object, which becomes its own error variant so the caller can decide
//! whether to retry. It never does HTTP and never routes a price through
//! `f64`. Error messages point at the element index and field, and quote at
//! most the first 200 bytes of a body, never all of it.

use rust_decimal::Decimal;
use serde_json::Value;

use super::replay::epoch_to_ms;
use super::{Candle, MarketDataError};

/// Field names of a kline array, in order; only the first 7 are read.
const FIELDS: [&str; 7] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
];
/// How much of a body an error message may quote.
const BODY_EXCERPT_BYTES: usize = 200;

/// Parses a `/api/v3/klines` reply body for `symbol`, in the reply's order.
pub fn parse_klines(symbol: &str, body: &[u8]) -> Result<Vec<Candle>, MarketDataError> {
    let malformed = |problem: String| MarketDataError::KlinesMalformed {
        symbol: symbol.to_owned(),
        problem,
    };

    let reply: Value = serde_json::from_slice(body).map_err(|err| {
        malformed(format!(
            "not valid json ({err}); body starts {}",
            excerpt(body)
        ))
    })?;

    match reply {
        Value::Array(klines) => klines
            .iter()
            .enumerate()
            .map(|(index, kline)| {
                parse_kline(symbol, kline)
                    .map_err(|problem| malformed(format!("element {index}: {problem}")))
            })
            .collect(),
        Value::Object(object) => {
            let code = object.get("code").and_then(Value::as_i64);
            let msg = object.get("msg").and_then(Value::as_str);
            match (code, msg) {
                (Some(code), Some(msg)) => Err(MarketDataError::KlinesApi {
                    code,
                    msg: msg.to_owned(),
                }),
                _ => Err(malformed(format!(
                    "expected an array of klines, got an object; body starts {}",
                    excerpt(body)
                ))),
            }
        }
        other => Err(malformed(format!(
            "expected an array of klines, got {}",
            json_kind(&other)
        ))),
    }
}

fn parse_kline(symbol: &str, kline: &Value) -> Result<Candle, String> {
    let fields = kline
        .as_array()
        .ok_or_else(|| format!("expected an array, got {}", json_kind(kline)))?;
    if fields.len() < FIELDS.len() {
        return Err(format!(
            "has {} fields, at least 7 are needed",
            fields.len()
        ));
    }
    let candle = Candle {
        symbol: symbol.to_owned(),
        open_time_ms: epoch_field(fields, 0)?,
        open: decimal_field(fields, 1)?,
        high: decimal_field(fields, 2)?,
        low: decimal_field(fields, 3)?,
        close: decimal_field(fields, 4)?,
        volume: decimal_field(fields, 5)?,
        close_time_ms: epoch_field(fields, 6)?,
    };
    candle
        .check_plausible()
        .map_err(|(column, problem)| format!("{column}: {problem}"))?;
    Ok(candle)
}

fn epoch_field(fields: &[Value], index: usize) -> Result<i64, String> {
    match fields[index].as_i64() {
        Some(raw) if raw >= 0 => Ok(epoch_to_ms(raw)),
        _ => Err(format!(
            "field {index} ({}): expected a non-negative integer, got {}",
            FIELDS[index],
            shown(&fields[index])
        )),
    }
}

/// Binance sends prices as strings precisely so that no float touches them;
/// a bare JSON number here means the reply is not what we think it is.
fn decimal_field(fields: &[Value], index: usize) -> Result<Decimal, String> {
    let name = FIELDS[index];
    let text = fields[index].as_str().ok_or_else(|| {
        format!(
            "field {index} ({name}): expected a decimal string, got {}",
            shown(&fields[index])
        )
    })?;
    Decimal::from_str_exact(text).map_err(|_| {
        format!(
            "field {index} ({name}): invalid decimal {}",
            shown(&fields[index])
        )
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value as written, cut to 40 characters.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// The first bytes of a body, quoted, for an error message.
fn excerpt(body: &[u8]) -> String {
    let start = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT_BYTES)]);
    if body.len() > BODY_EXCERPT_BYTES {
        format!("{start:?}...")
    } else {
        format!("{start:?}")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::str::FromStr;

    use super::*;

    fn rest_capture() -> Option<Vec<u8>> {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"));
        if !dir.is_dir() {
            eprintln!(
                "skipped: shared Binance data not found at {}",
                dir.display()
            );
            return None;
        }
        let path = dir.join("binance-spot-rest-klines-BTCUSDT-1m-2021-10-22.json");
        Some(std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display())))
    }

    fn error_text(symbol: &str, body: &str) -> String {
        parse_klines(symbol, body.as_bytes())
            .expect_err("must be rejected")
            .to_string()
    }

    #[test]
    fn rest_capture_parses_to_ten_exact_one_minute_candles() {
        let Some(body) = rest_capture() else { return };
        let candles = parse_klines("BTCUSDT", &body).expect("capture parses");

        assert_eq!(candles.len(), 10);
        let first = &candles[0];
        assert_eq!(first.symbol, "BTCUSDT");
        assert_eq!(first.open_time_ms, 1_634_943_780_000);
        assert_eq!(first.close_time_ms, 1_634_943_839_999);
        assert_eq!(first.open.to_string(), "60685.22000000");
        assert_eq!(first.high, Decimal::from_str("60729.84").unwrap());
        assert_eq!(first.volume.to_string(), "21.63272000");
        for pair in candles.windows(2) {
            assert_eq!(pair[1].open_time_ms - pair[0].open_time_ms, 60_000);
        }
        let last = &candles[9];
        assert!(last.open == last.high && last.high == last.low && last.low == last.close);
    }

    #[test]
    fn compact_reply_with_microsecond_times_is_normalised() {
        let body =
            r#"[[1735689600000000,"1.5","2","1","1.75","10",1735689659999999,"0",0,"0","0","0"]]"#;
        let candles = parse_klines("ETHUSDT", body.as_bytes()).expect("parses");
        assert_eq!(candles[0].open_time_ms, 1_735_689_600_000);
        assert_eq!(candles[0].close_time_ms, 1_735_689_659_999);
        assert_eq!(candles[0].close.to_string(), "1.75");
    }

    #[test]
    fn empty_array_is_no_candles() {
        assert!(parse_klines("BTCUSDT", b"[]").expect("parses").is_empty());
    }

    #[test]
    fn binance_error_body_becomes_the_api_variant_with_code_and_msg() {
        let err = parse_klines("BTCUSD", br#"{"code":-1121,"msg":"Invalid symbol."}"#).unwrap_err();
        match &err {
            MarketDataError::KlinesApi { code, msg } => {
                assert_eq!(*code, -1121);
                assert_eq!(msg, "Invalid symbol.");
            }
            other => panic!("expected KlinesApi, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "binance refused the klines request: code -1121: \"Invalid symbol.\""
        );
    }

    #[test]
    fn malformed_json_is_rejected_with_at_most_200_bytes_of_body() {
        let body = format!("[[1634943780000,\"1\" {}", "x".repeat(1000));
        let message = error_text("BTCUSDT", &body);
        assert!(
            message.starts_with("klines reply for BTCUSDT: not valid json ("),
            "{message}"
        );
        assert!(message.len() < 400, "{message}");
        assert!(!message.contains(&"x".repeat(300)), "{message}");
    }

    #[test]
    fn wrong_shapes_name_the_element_and_field() {
        let cases = [
            (
                r#"[[1,"1","1","1","1","1",2], 5]"#,
                "element 1: expected an array, got a number",
            ),
            (
                r#"[[1,"1","1","1","1","1"]]"#,
                "element 0: has 6 fields, at least 7 are needed",
            ),
            (
                r#"[["1","1","1","1","1","1",2]]"#,
                "element 0: field 0 (open_time): expected a non-negative integer, got \"1\"",
            ),
            (
                r#"[[1,"1","1","1","1","1",2.5]]"#,
                "element 0: field 6 (close_time): expected a non-negative integer, got 2.5",
            ),
            (
                r#"[[1,"1","1","1",1.5,"1",2]]"#,
                "element 0: field 4 (close): expected a decimal string, got 1.5",
            ),
            (
                r#"[[1,"1","1","abc","1","1",2]]"#,
                "element 0: field 3 (low): invalid decimal \"abc\"",
            ),
            (
                r#"{"data":[]}"#,
                "expected an array of klines, got an object; body starts \"{\\\"data\\\":[]}\"",
            ),
            (r#""nope""#, "expected an array of klines, got a string"),
        ];
        for (body, expected) in cases {
            assert_eq!(
                error_text("BTCUSDT", body),
                format!("klines reply for BTCUSDT: {expected}"),
                "body {body}"
            );
        }
    }
}
