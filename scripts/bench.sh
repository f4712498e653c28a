#!/usr/bin/env bash
# Runs every measurement behind docs/BENCHMARKS.md, in one go:
#   1. the Python logging baseline from ../shared/bench (python-json-logger is
#      installed into a venv under target/ when it is missing);
#   2. the criterion benchmarks: `logging` (ours against json-subscriber and
#      tracing-subscriber's JSON formatter), `store` (one trade, decision and
#      holdings write on each database backend, synced as live trading has
#      it and not, as a replay has it) and `replay` (recording to each
#      backend);
#   3. the peak RSS of the release binary replaying the two 1m files, and of
#      the daemon idling on live market data pointed at a closed local port;
# then prints a summary. Takes about seven minutes on two cores once built.
#
# The PostgreSQL figures need a server at TRADEBOT_TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test, as for the tests); each benchmark
# works in a fresh schema and drops it. Without one they are skipped.
#
# Usage: scripts/bench.sh
# Environment: BENCH_PYTHON_EVENTS (default 200000), BENCH_IDLE_SECONDS (10),
# CARGO_TARGET_DIR (default target), TRADEBOT_TEST_DATABASE_URL.

set -euo pipefail

cd "$(dirname "$0")/.."
shared=$(cd .. && pwd)/shared
python_events=${BENCH_PYTHON_EVENTS:-200000}
idle_seconds=${BENCH_IDLE_SECONDS:-10}
target_dir=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

btc=$shared/data/binance-spot-BTCUSDT-1m-2020-01-01_2020-01-03.csv.gz
eth=$shared/data/binance-spot-ETHUSDT-1m-2022-08-14_2022-08-15.csv.gz

section() { printf '\n== %s\n' "$1"; }

# A Python that can import pythonjsonlogger, installing it into a venv under
# target/ when the system one cannot.
python_with_json_logger() {
    if python3 -c 'import pythonjsonlogger' 2>/dev/null; then
        echo python3
        return
    fi
    local venv=target/bench-venv
    if ! "$venv/bin/python" -c 'import pythonjsonlogger' 2>/dev/null; then
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet 'python-json-logger>=2.0.0' >&2
    fi
    echo "$venv/bin/python"
}

# Runs a command and writes its peak resident set size in KiB to $rss_kib.
# GNU time reports the largest RSS among the command and the children it
# waited for; without it, VmHWM is sampled from /proc until the command ends.
peak_rss() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$work/rss" "$@" || true
        rss_kib=$(tail -n 1 "$work/rss")
    else
        "$@" &
        local pid=$! hwm=0 now
        while kill -0 "$pid" 2>/dev/null; do
            now=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
            [ -n "$now" ] && hwm=$now
            sleep 0.02
        done
        wait "$pid" || true
        rss_kib=$hwm
    fi
}

section "Machine"
{
    echo "date:  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu:   $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores"
    echo "rustc: $(rustc --version)"
    echo "python: $(python3 --version 2>&1)"
} | tee "$work/machine.txt"

section "Python baseline (python-json-logger, stdout file + log file)"
if [ -f "$shared/bench/python_json_logging_baseline.py" ]; then
    python=$(python_with_json_logger)
    version=$("$python" -c 'import importlib.metadata as m; print(m.version("python-json-logger"))')
    echo "python-json-logger $version" >>"$work/machine.txt"
    "$python" -W ignore::DeprecationWarning "$shared/bench/python_json_logging_baseline.py" \
        "$python_events" "$work/python" | tee "$work/python.txt"
else
    echo "skipped: $shared/bench/python_json_logging_baseline.py not found" | tee "$work/python.txt"
fi

section "cargo bench"
# Named benches only: a plain `cargo bench` also builds the unit tests in the
# bench profile, which measures nothing more.
cargo bench --bench logging --bench store --bench replay 2>&1 | grep -v '^Benchmarking ' | tee "$work/cargo-bench.txt"

section "Peak RSS of the release binary"
cargo build --release --quiet --bin tradebot
rss_replay="skipped (kline files not found)"
if [ -f "$btc" ] && [ -f "$eth" ]; then
    start=$(date +%s.%N)
    TRADEBOT__HTTP__BIND=127.0.0.1:0 LOG_DIR="$work/replay-logs" SECRETS_DIR="$work/no-secrets" \
        TRADEBOT__DATABASE__SQLITE_PATH="$work/replay.db" \
        peak_rss "$target_dir/release/tradebot" --config-dir config run --replay "$btc" "$eth" \
        >"$work/replay-stdout.log"
    end=$(date +%s.%N)
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", (b - a) * 1000}')
    rss_replay="$rss_kib KiB (whole process run, ${wall} ms wall including start-up and CSV load)"
    grep -q '"message":"Replay finished"' "$work/replay-stdout.log" ||
        echo "warning: the replay run did not log \"Replay finished\"" >&2
fi
echo "replay of both 1m files: $rss_replay"

# Live market data pointed at a port nothing listens on: the poller retries
# with backoff, which is the daemon's idle state. Stopped with SIGTERM. Both
# runs bind the health endpoint to a free port so a busy 8080 cannot fail them,
# and record to a SQLite file of their own (the default backend) rather than
# data/tradebot.db.
TRADEBOT__MARKET_DATA__BASE_URL=http://127.0.0.1:9 TRADEBOT__HTTP__BIND=127.0.0.1:0 \
    LOG_DIR="$work/idle-logs" SECRETS_DIR="$work/no-secrets" \
    TRADEBOT__DATABASE__SQLITE_PATH="$work/idle.db" \
    peak_rss timeout -s TERM "$idle_seconds" "$target_dir/release/tradebot" --config-dir config \
    run >"$work/idle-stdout.log"
rss_idle="$rss_kib KiB over ${idle_seconds} s"
echo "daemon idling on live data (nothing listening): $rss_idle"

section "Summary"
cat "$work/machine.txt"
cat "$work/python.txt"
grep '^one replay' "$work/cargo-bench.txt" || true
python3 - "$(cd "$target_dir" && pwd)/criterion" <<'EOF'
import json, os, sys

root = sys.argv[1]

def mean_ns(group, name):
    """Criterion's headline estimate: the slope under linear sampling, the
    mean under flat sampling (which has no slope)."""
    path = os.path.join(root, group, name, "new", "estimates.json")
    try:
        with open(path) as f:
            estimates = json.load(f)
    except OSError:
        return None
    return (estimates.get("slope") or estimates["mean"])["point_estimate"]

print(f"{'per trade event (µs)':32} {'caller':>8} {'sustained':>10} {'span open+close':>16}")
for name in ("ours", "json_subscriber", "fmt_json"):
    row = [mean_ns(g, name) for g in
           ("trade_event_caller", "trade_event_sustained", "trade_span_caller")]
    cells = ["-" if v is None else f"{v / 1000:.2f}" for v in row]
    print(f"{name:32} {cells[0]:>8} {cells[1]:>10} {cells[2]:>16}")

# Durability::PowerLoss (live trading), then ProcessCrash (replays).
print(f"\n{'per write (ms)':34} {'sqlite':>8} {'postgres':>10}   process crash: {'sqlite':>8} {'postgres':>10}")
for name, label in (("trade", "trade: intent + result, 1 fill"),
                    ("decision", "decision"),
                    ("holdings", "holdings: 3 balances, 2 positions")):
    row = [mean_ns("store", f"{name}_{backend}{suffix}")
           for suffix in ("", "_process_crash") for backend in ("sqlite", "postgres")]
    cells = ["-" if v is None else f"{v / 1e6:.2f}" for v in row]
    print(f"{label:34} {cells[0]:>8} {cells[1]:>10}   {'':15}{cells[2]:>8} {cells[3]:>10}")

print()
for backend in ("sqlite", "postgres"):
    run = mean_ns("replay", f"run_loop_{backend}")
    if run is not None:
        print(f"replay loop, recording to {backend}: {run / 1e6:,.1f} ms for 7,200 candles"
              f" = {7200 / (run / 1e9):,.0f} candles/s")
load = mean_ns("replay", "load_csv")
if load is not None:
    print(f"CSV load + merge: {load / 1e6:.1f} ms")
EOF
echo "peak RSS, replay: $rss_replay"
echo "peak RSS, idle:   $rss_idle"
