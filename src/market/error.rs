//! The one error type of the market-data boundary: reading replay files and
//! parsing kline replies. Variants are split by cause so a caller can tell a
//! file it cannot read from data it must not trust, and an exchange refusal
//! from a reply it cannot parse.
//!
//! Messages name the file (and line and column) or the reply element, so the
//! operator can open the exact spot. They never carry a whole reply body.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MarketDataError {
    /// The file could not be opened, read or decompressed.
    // The io error is part of the message rather than a `source`, so that
    // printing the cause chain does not repeat it; the field stays public for
    // callers that want its kind.
    #[error("replay file {}: cannot read: {error}", path.display())]
    ReplayRead { path: PathBuf, error: io::Error },

    /// A data row is broken: the whole file is rejected, never a silent skip.
    /// `line` is 1-based and counts the header row, as an editor shows it.
    #[error("replay file {} line {line}: column {column}: {problem}", path.display())]
    ReplayRow {
        path: PathBuf,
        line: u64,
        column: &'static str,
        problem: String,
    },

    /// The file holds no data rows (it may hold a header).
    #[error("replay file {}: no data rows", path.display())]
    ReplayEmpty { path: PathBuf },

    /// No bar closes after it opens, so the bar interval cannot be measured.
    #[error(
        "replay file {}: no bar has close_time after open_time, so the interval is unknown",
        path.display()
    )]
    ReplayNoInterval { path: PathBuf },

    /// Two files hold candles of the same symbol for the same time.
    #[error(
        "replay files {} and {} both hold {symbol} candles for the same time; replay each period once",
        first.display(),
        second.display()
    )]
    ReplayOverlap {
        symbol: String,
        first: PathBuf,
        second: PathBuf,
    },

    /// The replay spec (`path` or `SYMBOL=path`) itself is malformed.
    #[error("replay spec {spec:?}: {problem}")]
    ReplaySpec { spec: String, problem: String },

    /// The spec gave no symbol and none could be read from the file name.
    #[error(
        "replay file {}: cannot infer the symbol from the file name; give it as SYMBOL=path",
        path.display()
    )]
    ReplaySymbolUnknown { path: PathBuf },

    /// Binance answered with its error object instead of klines.
    // `msg` is Binance's own sentence, quoted so its full stop is visibly theirs.
    #[error("binance refused the klines request: code {code}: {msg:?}")]
    KlinesApi { code: i64, msg: String },

    /// The klines reply is not JSON or not the expected shape.
    #[error("klines reply for {symbol}: {problem}")]
    KlinesMalformed { symbol: String, problem: String },

    /// The klines request failed on the way (connection, timeout, HTTP
    /// status). The reason never includes the URL's query.
    #[error("klines request failed: {reason}")]
    Http { reason: String },
}
