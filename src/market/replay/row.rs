//! One CSV row of a replay file into a [`Candle`]: the column order, the
//! time unit and the checks that make a row broken. A problem is returned as
//! the column name and what was wrong; the caller adds the file and line.

use csv::ByteRecord;
use rust_decimal::Decimal;

use crate::market::Candle;

/// The columns a row must have, in file order; later columns are ignored.
const COLUMNS: [&str; 7] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
];
/// Epoch values at or above this are microseconds (10^14 ms is year 5138).
const MICROS_THRESHOLD: i64 = 100_000_000_000_000;

pub(super) type RowProblem = (&'static str, String);

/// Normalises an epoch timestamp to milliseconds: Binance spot archives use
/// microseconds from 2025 on, so the unit is decided per value.
pub(crate) fn epoch_to_ms(raw: i64) -> i64 {
    if raw >= MICROS_THRESHOLD {
        raw / 1000
    } else {
        raw
    }
}

/// A first record is a header when its open_time is not an integer. When its
/// close_time is one, though, it is a data row with a broken open_time, and
/// must be reported rather than skipped as a header.
pub(super) fn is_header(record: &ByteRecord) -> bool {
    let is_integer = |index: usize| {
        let field = record.get(index).unwrap_or_default().trim_ascii();
        std::str::from_utf8(field).is_ok_and(|text| text.parse::<i64>().is_ok())
    };
    !is_integer(0) && !is_integer(6)
}

pub(super) fn parse_row(record: &ByteRecord, symbol: &str) -> Result<Candle, RowProblem> {
    if record.len() < COLUMNS.len() {
        let problem = format!(
            "missing; the row has {} columns, at least 7 are needed",
            record.len()
        );
        return Err((COLUMNS[record.len()], problem));
    }
    let candle = Candle {
        symbol: symbol.to_owned(),
        open_time_ms: epoch_field(record, 0)?,
        open: price_field(record, 1)?,
        high: price_field(record, 2)?,
        low: price_field(record, 3)?,
        close: price_field(record, 4)?,
        volume: price_field(record, 5)?,
        close_time_ms: epoch_field(record, 6)?,
    };
    candle.check_plausible()?;
    Ok(candle)
}

fn text_field(record: &ByteRecord, index: usize) -> Result<&str, RowProblem> {
    let bytes = record.get(index).unwrap_or_default().trim_ascii();
    std::str::from_utf8(bytes).map_err(|_| (COLUMNS[index], "not valid utf-8".to_owned()))
}

fn epoch_field(record: &ByteRecord, index: usize) -> Result<i64, RowProblem> {
    let text = text_field(record, index)?;
    match text.parse::<i64>() {
        Ok(raw) if raw >= 0 => Ok(epoch_to_ms(raw)),
        Ok(_) => Err((
            COLUMNS[index],
            format!("negative timestamp {}", shown(text)),
        )),
        Err(_) => Err((COLUMNS[index], format!("not an integer {}", shown(text)))),
    }
}

/// Parses a price or volume from the exchange's exact string. `from_str_exact`
/// refuses what it would have to round, so no digit is lost unnoticed.
fn price_field(record: &ByteRecord, index: usize) -> Result<Decimal, RowProblem> {
    let text = text_field(record, index)?;
    let value = Decimal::from_str_exact(text)
        .map_err(|_| (COLUMNS[index], format!("invalid decimal {}", shown(text))))?;
    if value < Decimal::ZERO {
        let what = if index == 5 { "volume" } else { "price" };
        return Err((COLUMNS[index], format!("negative {what} {}", shown(text))));
    }
    Ok(value)
}

/// Quotes a field for an error message, cut short so a garbage file cannot
/// flood the log.
fn shown(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}
