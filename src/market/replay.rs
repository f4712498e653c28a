//! Replay files: kline CSVs in the data.binance.vision column order, read into
//! [`Candle`]s for backtests and paper runs.
//!
//! This module owns the file format (plain or gzip, with or without a header,
//! millisecond or microsecond times), the symbol a file stands for, and the
//! checks on every row. A broken row rejects the whole file with its line and
//! column; it is never skipped, because a replay that silently drops bars
//! trades on a market that never existed. Real exchange anomalies (gaps, short
//! or zero-volume bars, a bar closing before it opens) are kept, counted and
//! logged, since the live feed has them too and a strategy must cope.
//! It never touches the network and never converts a price through `f64`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use flate2::bufread::MultiGzDecoder;
use tracing::info;

use super::{Candle, MarketDataError};

mod anomalies;
mod row;

pub(crate) use row::epoch_to_ms;

#[cfg(test)]
mod tests;

/// Quote assets a symbol inferred from a file name may end in.
const QUOTE_ASSETS: [&str; 10] = [
    "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY",
];

/// One loaded replay file: its candles in open-time order and what was odd.
#[derive(Debug, Clone)]
pub struct ReplayFile {
    pub path: PathBuf,
    pub symbol: String,
    /// The most common bar length (`close_time - open_time + 1`), e.g. 60000.
    pub interval_ms: i64,
    pub candles: Vec<Candle>,
    pub anomalies: AnomalyCounts,
}

/// Real-data anomalies found while loading; each bar involved is kept.
#[derive(Debug, Default, Clone)]
pub struct AnomalyCounts {
    /// Places where the next bar opens more than one interval after the last.
    pub gaps: usize,
    /// Bars missing across all gaps (at least 1 per gap, even when not aligned).
    pub missing_bars: usize,
    pub close_before_open: usize,
    pub zero_volume: usize,
    /// Bars that close before a full interval has passed (not counting bars
    /// that close before they open).
    pub short_bars: usize,
}

/// Loads `spec`, either `path` or `SYMBOL=path`. Without a symbol, the first
/// file-name token like `BTCUSDT` (uppercase, ends in a quote asset) is used.
pub fn load_replay_file(spec: &str) -> Result<ReplayFile, MarketDataError> {
    let (given_symbol, path) = split_spec(spec)?;
    let symbol = match given_symbol {
        Some(symbol) => symbol,
        None => infer_symbol(&path)
            .ok_or_else(|| MarketDataError::ReplaySymbolUnknown { path: path.clone() })?,
    };

    let (candles, lines) = read_candles(&path, &symbol)?;
    let interval_ms = anomalies::most_common_length(&candles)
        .ok_or_else(|| MarketDataError::ReplayNoInterval { path: path.clone() })?;
    let anomalies = anomalies::find_anomalies(&path, &symbol, interval_ms, &candles, &lines);

    info!(
        file = %path.display(), symbol, candles = candles.len(), interval_ms,
        "Replay file loaded"
    );
    Ok(ReplayFile {
        path,
        symbol,
        interval_ms,
        candles,
        anomalies,
    })
}

/// Refuses two files whose candles for one symbol overlap in time (the same
/// file given twice, or two downloads of one day): merged, they would feed
/// every candle twice and double the trades.
pub fn check_no_overlap(files: &[ReplayFile]) -> Result<(), MarketDataError> {
    let mut spans: Vec<(&str, i64, i64, &Path)> = files
        .iter()
        .filter_map(|f| {
            let first = f.candles.first()?.open_time_ms;
            let last = f.candles.last()?.open_time_ms;
            Some((f.symbol.as_str(), first, last, f.path.as_path()))
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        let ((symbol, _, last, earlier), (next_symbol, first, _, later)) = (pair[0], pair[1]);
        if symbol == next_symbol && first <= last {
            return Err(MarketDataError::ReplayOverlap {
                symbol: symbol.to_owned(),
                first: earlier.to_owned(),
                second: later.to_owned(),
            });
        }
    }
    Ok(())
}

/// All candles of all files, stably ordered by close time: on a tie, the
/// earlier file's candle comes first, so the caller's file order decides.
pub fn merge_by_time(files: Vec<ReplayFile>) -> Vec<Candle> {
    let mut merged: Vec<Candle> = files.into_iter().flat_map(|file| file.candles).collect();
    merged.sort_by_key(|candle| candle.close_time_ms);
    merged
}

fn split_spec(spec: &str) -> Result<(Option<String>, PathBuf), MarketDataError> {
    let spec_error = |problem: &str| MarketDataError::ReplaySpec {
        spec: spec.to_owned(),
        problem: problem.to_owned(),
    };
    if let Some((prefix, path)) = spec.split_once('=') {
        let is_symbol = !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if is_symbol {
            if path.is_empty() {
                return Err(spec_error("no path after the symbol"));
            }
            return Ok((Some(prefix.to_owned()), PathBuf::from(path)));
        }
        // A prefix without a path separator was meant as a symbol, not a path.
        if !prefix.is_empty() && !prefix.contains(['/', '\\']) {
            return Err(spec_error(
                "the symbol before = must be uppercase letters and digits",
            ));
        }
    }
    if spec.is_empty() {
        return Err(spec_error("empty; expected a path or SYMBOL=path"));
    }
    Ok((None, PathBuf::from(spec)))
}

fn infer_symbol(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.split(['-', '_', '.'])
        .find(|token| looks_like_pair(token))
        .map(str::to_owned)
}

fn looks_like_pair(token: &str) -> bool {
    token.len() >= 5
        && token
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && QUOTE_ASSETS
            .iter()
            .any(|quote| token.len() > quote.len() && token.ends_with(quote))
}

/// Opens the file, decompressing when it starts with the gzip magic bytes:
/// the content decides, not the name, so a renamed file still reads.
fn open_decoded(path: &Path) -> Result<Box<dyn Read>, MarketDataError> {
    let read_error = |error| MarketDataError::ReplayRead {
        path: path.to_owned(),
        error,
    };
    let file = File::open(path).map_err(read_error)?;
    // A device or a pipe (`/dev/zero`) could feed the loader forever.
    if !file.metadata().map_err(read_error)?.is_file() {
        return Err(read_error(std::io::Error::other("not a regular file")));
    }
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let is_gzip = reader
        .fill_buf()
        .map_err(read_error)?
        .starts_with(&[0x1f, 0x8b]);
    if is_gzip {
        // Multi-member, so `cat a.gz b.gz > c.gz` reads as one file, like zcat.
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads every data row; returns the candles and each one's file line.
fn read_candles(path: &Path, symbol: &str) -> Result<(Vec<Candle>, Vec<u64>), MarketDataError> {
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(open_decoded(path)?);
    let mut record = ByteRecord::new();
    let mut candles: Vec<Candle> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut first_record = true;

    loop {
        match csv_reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => return Err(csv_read_error(path, err)),
        }
        let line = record.position().map_or(0, |position| position.line());
        let row_error = |column, problem| MarketDataError::ReplayRow {
            path: path.to_owned(),
            line,
            column,
            problem,
        };
        if std::mem::take(&mut first_record) && row::is_header(&record) {
            continue;
        }

        let candle = row::parse_row(&record, symbol)
            .map_err(|(column, problem)| row_error(column, problem))?;
        if let (Some(previous), Some(previous_line)) = (candles.last(), lines.last())
            && candle.open_time_ms <= previous.open_time_ms
        {
            let problem = format!(
                "{} is not after {} on line {previous_line}; \
                 rows must be in time order without duplicates",
                candle.open_time_ms, previous.open_time_ms
            );
            return Err(row_error("open_time", problem));
        }
        candles.push(candle);
        lines.push(line);
    }

    if candles.is_empty() {
        return Err(MarketDataError::ReplayEmpty {
            path: path.to_owned(),
        });
    }
    Ok((candles, lines))
}

/// Gzip and file errors surface from inside the csv reader; keep them as the
/// io error they are.
fn csv_read_error(path: &Path, err: csv::Error) -> MarketDataError {
    let message = err.to_string();
    let error = match err.into_kind() {
        csv::ErrorKind::Io(error) => error,
        _ => std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    };
    MarketDataError::ReplayRead {
        path: path.to_owned(),
        error,
    }
}
