use std::io;

use serde_json::Value;
use tracing::{Level, field};

use crate::telemetry::capture::capture_lines;

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn a_line_has_the_header_fields_in_contract_form() {
    let (_, lines) =
        capture_lines(|| tracing::info!(target: "tradebot::trading", "Executing trade"));
    assert_eq!(lines.len(), 1);
    let line = parse(&lines[0]);
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["logger"], "tradebot::trading");
    assert_eq!(line["message"], "Executing trade");
    let ts = line["timestamp"].as_str().unwrap();
    // 2026-12-03T12:00:00.123456Z
    assert_eq!(ts.len(), 27, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.');
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
}

#[test]
fn span_fields_of_every_enclosing_span_are_at_the_top_level() {
    let (_, lines) = capture_lines(|| {
        let outer = tracing::info_span!("run", mode = "paper");
        let _o = outer.enter();
        let trade = tracing::info_span!("trade", correlation_id = "c-1", symbol = "BTCUSDT");
        let _t = trade.enter();
        let order = tracing::info_span!("order", attempt = 1u64);
        let _r = order.enter();
        tracing::info!(price = 7195.24, "Order filled");
    });
    let line = parse(&lines[0]);
    assert_eq!(line["mode"], "paper");
    assert_eq!(line["correlation_id"], "c-1");
    assert_eq!(line["symbol"], "BTCUSDT");
    assert_eq!(line["attempt"], 1);
    assert_eq!(line["price"], 7195.24);
    assert!(line.get("span").is_none() && line.get("spans").is_none());
}

#[test]
fn a_field_recorded_after_a_child_span_exists_reaches_the_childs_lines() {
    let (_, lines) = capture_lines(|| {
        let trade = tracing::info_span!("trade", trade_id = field::Empty);
        let _t = trade.enter();
        let child = tracing::info_span!("child");
        trade.record("trade_id", "tb-42");
        let _c = child.enter();
        tracing::info!("Inside child");
    });
    assert_eq!(parse(&lines[0])["trade_id"], "tb-42");
}

#[test]
fn the_events_own_field_wins_a_name_clash_and_is_written_once() {
    let (_, lines) = capture_lines(|| {
        let outer = tracing::info_span!("outer", symbol = "OUTER");
        let _o = outer.enter();
        let inner = tracing::info_span!("inner", symbol = "INNER");
        let _i = inner.enter();
        tracing::info!("From inner");
        tracing::info!(symbol = "EVENT", "From event");
    });
    assert_eq!(parse(&lines[0])["symbol"], "INNER");
    assert_eq!(parse(&lines[1])["symbol"], "EVENT");
    for line in &lines {
        assert_eq!(line.matches("\"symbol\":").count(), 1, "{line}");
    }
}

#[test]
fn hostile_text_is_escaped_into_valid_json() {
    let nasty = "quote\" backslash\\ newline\n tab\t nul\u{0} bell\u{7} del\u{7f} é 📈";
    let (_, lines) = capture_lines(|| {
        let span = tracing::info_span!("s", note = nasty);
        let _s = span.enter();
        tracing::warn!(detail = ?nasty, "{nasty}");
    });
    assert_eq!(
        lines.len(),
        1,
        "a newline in a value must not split the line"
    );
    let line = parse(&lines[0]);
    assert_eq!(line["message"], nasty);
    assert_eq!(line["note"], nasty);
    assert_eq!(line["detail"], format!("{nasty:?}"));
}

#[test]
fn errors_are_written_with_their_cause_chain() {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot reach the exchange")]
    struct Outer(#[source] io::Error);
    let err = Outer(io::Error::other("connection refused"));
    let (_, lines) = capture_lines(|| {
        tracing::error!(
            error = &err as &(dyn std::error::Error + 'static),
            "Request failed"
        )
    });
    assert_eq!(
        parse(&lines[0])["error"],
        "cannot reach the exchange: connection refused"
    );
}

#[test]
fn numbers_and_booleans_keep_their_json_types() {
    let (_, lines) = capture_lines(|| {
        tracing::event!(
            Level::DEBUG,
            n = -3i64,
            u = 7u64,
            ok = true,
            nan = f64::NAN,
            "Types"
        )
    });
    let line = parse(&lines[0]);
    assert_eq!(line["n"], -3);
    assert_eq!(line["u"], 7);
    assert_eq!(line["ok"], true);
    assert_eq!(line["nan"], "NaN");
    assert_eq!(line["level"], "DEBUG");
}

#[test]
fn reserved_names_are_never_duplicated() {
    let (_, lines) = capture_lines(|| {
        let span = tracing::info_span!("s", level = "span-level", logger = "x");
        let _s = span.enter();
        tracing::info!(timestamp = 5, "Clash");
    });
    let raw = &lines[0];
    for key in [
        "\"level\":",
        "\"logger\":",
        "\"timestamp\":",
        "\"message\":",
    ] {
        assert_eq!(raw.matches(key).count(), 1, "{key} in {raw}");
    }
    assert_eq!(parse(raw)["level"], "INFO");
}
