//! Tests of the replay reader: the real Binance files in `shared/data` when
//! present, and small files written to a temporary folder for each rule.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use flate2::Compression;
use flate2::write::GzEncoder;
use rust_decimal::Decimal;
use tempfile::TempDir;

use super::*;

const HEADER: &str = "open_time,open,high,low,close,volume,close_time,\
                      quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n";
const OUT_OF_ORDER: &str = "rows must be in time order without duplicates";
const ROW_1: &str = "1577836800000,7195.24,7196.25,7183.14,7186.68,51.64,1577836859999,0,1,0,0,0\n";
const ROW_2: &str = "1577836860000,7187.67,7188.06,7182.20,7184.03,7.24,1577836919999,0,1,0,0,0\n";

/// The shared real-data folder, or `None` (test skipped) when it is absent.
pub(super) fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"));
    if dir.is_dir() {
        Some(dir.to_path_buf())
    } else {
        eprintln!(
            "skipped: shared Binance data not found at {}",
            dir.display()
        );
        None
    }
}

pub(super) fn load_shared(name: &str) -> Option<ReplayFile> {
    let path = shared_data()?.join(name);
    Some(load_replay_file(path.to_str().unwrap()).unwrap_or_else(|err| panic!("{err}")))
}

/// Writes `contents` as `name` in a fresh temporary folder.
pub(super) fn write_file(name: &str, contents: &[u8]) -> (TempDir, String) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path.to_str().unwrap().to_owned())
}

fn gzip(contents: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(contents.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn load_error(name: &str, contents: &str) -> String {
    let (_dir, path) = write_file(name, contents.as_bytes());
    let err = load_replay_file(&path).expect_err("must be rejected");
    err.to_string().replace(&path, "<file>")
}

#[test]
fn btc_spot_1m_file_loads_4320_candles_with_symbol_from_name() {
    let Some(file) = load_shared("binance-spot-BTCUSDT-1m-2020-01-01_2020-01-03.csv.gz") else {
        return;
    };
    assert_eq!(file.symbol, "BTCUSDT");
    assert_eq!(file.candles.len(), 4_320);
    assert_eq!(file.interval_ms, 60_000);
    let first = &file.candles[0];
    assert_eq!(first.open.to_string(), "7195.24000000");
    assert_eq!(first.open_time_ms, 1_577_836_800_000);
    assert_eq!(first.close_time_ms, 1_577_836_859_999);
    assert_eq!(first.symbol, "BTCUSDT");
    assert_eq!(
        file.anomalies.gaps + file.anomalies.short_bars + file.anomalies.zero_volume,
        0
    );
}

#[test]
fn eth_spot_1m_file_loads_2880_candles() {
    let Some(file) = load_shared("binance-spot-ETHUSDT-1m-2022-08-14_2022-08-15.csv.gz") else {
        return;
    };
    assert_eq!(file.symbol, "ETHUSDT");
    assert_eq!(file.candles.len(), 2_880);
    assert_eq!(file.interval_ms, 60_000);
    assert_eq!(file.anomalies.gaps, 0);
}

#[test]
fn headerless_plain_csv_loads_and_counts_lines_from_one() {
    let (_dir, path) = write_file("BTCUSDT-1m.csv", format!("{ROW_1}{ROW_2}").as_bytes());
    let file = load_replay_file(&path).expect("loads");
    assert_eq!(file.candles.len(), 2);
    assert_eq!(file.candles[1].close, Decimal::from_str("7184.03").unwrap());

    let broken = format!("{ROW_1}{}", ROW_2.replace("7184.03", "x"));
    assert_eq!(
        load_error("BTCUSDT-1m.csv", &broken),
        "replay file <file> line 2: column close: invalid decimal \"x\""
    );
}

#[test]
fn microsecond_timestamps_become_milliseconds_row_by_row() {
    let micro_row = "1735689660000000,1,1,1,1,1,1735689719999999,0,1,0,0,0\n";
    let milli_row = "1735689720000,1,1,1,1,1,1735689779999,0,1,0,0,0\n";
    let (_dir, path) = write_file(
        "ETHUSDT-1m-2025-01-01.csv",
        format!("{HEADER}{micro_row}{milli_row}").as_bytes(),
    );
    let file = load_replay_file(&path).expect("loads");
    assert_eq!(file.candles[0].open_time_ms, 1_735_689_660_000);
    assert_eq!(file.candles[0].close_time_ms, 1_735_689_719_999);
    assert_eq!(file.candles[1].open_time_ms, 1_735_689_720_000);
    assert_eq!(file.interval_ms, 60_000);
}

#[test]
fn gzip_is_detected_by_magic_bytes_not_by_name() {
    let (_dir, path) = write_file("BTCUSDT-1m.csv", &gzip(&format!("{HEADER}{ROW_1}{ROW_2}")));
    assert_eq!(
        load_replay_file(&path)
            .expect("gzip named .csv loads")
            .candles
            .len(),
        2
    );

    let (_dir, path) = write_file("BTCUSDT-1m.csv.gz", format!("{ROW_1}{ROW_2}").as_bytes());
    assert_eq!(
        load_replay_file(&path)
            .expect("plain named .gz loads")
            .candles
            .len(),
        2
    );
}

#[test]
fn each_broken_row_names_its_line_and_column() {
    let cases = [
        (
            "1577836860000,1,1,1,1\n",
            "column volume: missing; the row has 5 columns, at least 7 are needed",
        ),
        (
            "15778368600x0,1,1,1,1,1,1577836919999\n",
            "column open_time: not an integer \"15778368600x0\"",
        ),
        (
            "1577836860000,1,1,1,1,1,\n",
            "column close_time: not an integer \"\"",
        ),
        (
            "1577836860000,1,1,1,abc,1,1577836919999\n",
            "column close: invalid decimal \"abc\"",
        ),
        (
            "1577836860000,1,1,-1,1,1,1577836919999\n",
            "column low: negative price \"-1\"",
        ),
        (
            "1577836860000,1,1,1,1,-0.5,1577836919999\n",
            "column volume: negative volume \"-0.5\"",
        ),
        (
            "1577836860000,1,1,2,1,1,1577836919999\n",
            "column high: high 1 is below low 2",
        ),
        (
            ROW_1,
            "column open_time: 1577836800000 is not after 1577836800000 on line 2; {order}",
        ),
        (
            "1577836740000,1,1,1,1,1,1577836799999\n",
            "column open_time: 1577836740000 is not after 1577836800000 on line 2; {order}",
        ),
    ];
    for (bad_row, expected) in cases {
        let expected = expected.replace("{order}", OUT_OF_ORDER);
        let contents = format!("{HEADER}{ROW_1}{bad_row}");
        assert_eq!(
            load_error("BTCUSDT-1m.csv", &contents),
            format!("replay file <file> line 3: {expected}")
        );
    }
}

#[test]
fn a_broken_first_row_is_reported_not_taken_for_a_header() {
    let contents = format!("17x,1,1,1,1,1,1577836799999\n{ROW_1}");
    assert_eq!(
        load_error("BTCUSDT-1m.csv", &contents),
        "replay file <file> line 1: column open_time: not an integer \"17x\""
    );
}

#[test]
fn truncated_gzip_is_a_read_error_not_a_short_file() {
    let rows: String = (0..2000)
        .map(|i| format!("{},1,1,1,1,1,{}\n", i * 60_000, i * 60_000 + 59_999))
        .collect();
    let compressed = gzip(&rows);
    let (_dir, path) = write_file("BTCUSDT-1m.csv.gz", &compressed[..compressed.len() / 2]);
    let message = load_replay_file(&path).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("replay file {path}: cannot read: ")),
        "{message}"
    );
}

#[test]
fn a_file_whose_bars_all_close_before_they_open_has_no_interval() {
    assert_eq!(
        load_error("BTCUSDT-1m.csv", "120000,1,1,1,1,1,60000\n"),
        "replay file <file>: no bar has close_time after open_time, so the interval is unknown"
    );
}

#[test]
fn empty_header_only_and_missing_files_are_errors() {
    assert_eq!(
        load_error("BTCUSDT-1m.csv", ""),
        "replay file <file>: no data rows"
    );
    assert_eq!(
        load_error("BTCUSDT-1m.csv", HEADER),
        "replay file <file>: no data rows"
    );
    let message = load_replay_file("/nonexistent/BTCUSDT-1m.csv")
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("replay file /nonexistent/BTCUSDT-1m.csv: cannot read: "),
        "{message}"
    );
}

#[test]
fn symbol_spec_overrides_the_file_name() {
    let (_dir, path) = write_file("klines.csv", format!("{HEADER}{ROW_1}").as_bytes());
    let file = load_replay_file(&format!("XRPUSDT={path}")).expect("loads");
    assert_eq!(file.symbol, "XRPUSDT");
    assert_eq!(file.path, PathBuf::from(&path));
    assert_eq!(file.candles[0].symbol, "XRPUSDT");

    let message = load_replay_file(&format!("xrpusdt={path}"))
        .unwrap_err()
        .to_string();
    assert!(
        message.ends_with("the symbol before = must be uppercase letters and digits"),
        "{message}"
    );
}

#[test]
fn symbol_inference_failure_names_the_file_and_suggests_a_spec() {
    let message = load_error("klines-1m.csv", &format!("{HEADER}{ROW_1}"));
    assert_eq!(
        message,
        "replay file <file>: cannot infer the symbol from the file name; give it as SYMBOL=path"
    );
}

#[test]
fn symbol_is_the_first_uppercase_token_ending_in_a_quote_asset() {
    let infer = |name: &str| infer_symbol(Path::new(name));
    assert_eq!(
        infer("binance-spot-BTCUSDT-1m-2020-01-01_2020-01-03.csv.gz").as_deref(),
        Some("BTCUSDT")
    );
    assert_eq!(
        infer("data/ETHUSDT-1m-2022-08-14.csv").as_deref(),
        Some("ETHUSDT")
    );
    assert_eq!(infer("1INCHUSDT_1h.csv").as_deref(), Some("1INCHUSDT"));
    assert_eq!(infer("SPOT-ETHBTC-1h.csv").as_deref(), Some("ETHBTC"));
    assert_eq!(infer("USDT-BTC-1m.csv"), None);
    assert_eq!(infer("FDUSD-1m.csv"), None);
    assert_eq!(infer("btcusdt-1m.csv"), None);
    assert_eq!(infer("BTCUSDT/klines.csv"), None);
}

#[test]
fn merge_orders_by_close_time_and_keeps_file_order_on_ties() {
    let candle = |symbol: &str, close_time_ms: i64| Candle {
        symbol: symbol.to_owned(),
        open_time_ms: close_time_ms - 59_999,
        close_time_ms,
        open: Decimal::ONE,
        high: Decimal::ONE,
        low: Decimal::ONE,
        close: Decimal::ONE,
        volume: Decimal::ONE,
    };
    let file = |symbol: &str, closes: &[i64]| ReplayFile {
        path: PathBuf::from(format!("{symbol}.csv")),
        symbol: symbol.to_owned(),
        interval_ms: 60_000,
        candles: closes.iter().map(|&close| candle(symbol, close)).collect(),
        anomalies: AnomalyCounts::default(),
    };
    let merged = merge_by_time(vec![
        file("ETHUSDT", &[119_999, 239_999]),
        file("BTCUSDT", &[59_999, 119_999, 179_999]),
    ]);
    let order: Vec<(&str, i64)> = merged
        .iter()
        .map(|c| (c.symbol.as_str(), c.close_time_ms))
        .collect();
    assert_eq!(
        order,
        [
            ("BTCUSDT", 59_999),
            ("ETHUSDT", 119_999),
            ("BTCUSDT", 119_999),
            ("BTCUSDT", 179_999),
            ("ETHUSDT", 239_999)
        ]
    );
}

#[test]
fn the_same_period_of_one_symbol_given_twice_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let rows = "1577836800000,7195.24,7196.25,7183.14,7186.68,51.642812,1577836859999,0,0,0,0,0\n\
                1577836860000,7187.67,7188.06,7182.44,7184.03,7.248148,1577836919999,0,0,0,0,0\n";
    let a = dir.path().join("BTCUSDT-a.csv");
    let b = dir.path().join("BTCUSDT-b.csv");
    std::fs::write(&a, rows).unwrap();
    std::fs::write(&b, rows).unwrap();
    let files = vec![
        load_replay_file(a.to_str().unwrap()).unwrap(),
        load_replay_file(b.to_str().unwrap()).unwrap(),
    ];
    let err = check_no_overlap(&files).unwrap_err().to_string();
    assert!(
        err.contains("BTCUSDT-a.csv") && err.contains("BTCUSDT-b.csv"),
        "{err}"
    );
    assert!(check_no_overlap(&files[..1]).is_ok());
}
