#!/usr/bin/env bash
# Measures the HTTP API and the kill switch behind the "HTTP API and the kill
# switch" section of docs/BENCHMARKS.md, with the load coming from a second
# process over loopback:
#   1. GET /health and GET /api/v1/status on the daemon with wrk (-t1, at 16
#      and 64 connections, each run twice): requests per second, p50, p99;
#   2. the kill switch on the daemon itself: the round trip of a signed
#      POST …/kill-switch/activate and …/deactivate, back to back (python3's
#      http.client over one kept-alive connection, signed with hmac/hashlib);
#   3. the kill switch across processes: `tradebot dashboard` beside the
#      daemon on the same SQLite file; each flip is sent to the dashboard and
#      timed from the dashboard's response to the `timestamp` of the daemon's
#      "Kill switch activated; no new orders" (or "… deactivated; trading
#      resumes") log line, once with the default kill_switch.poll_interval_ms
#      (500) and once with 100 on both processes.
# Before each measurement it waits until the 1-minute load average is below
# BENCH_MAX_LOAD (other work shares the machine), at most BENCH_LOAD_WAIT_S,
# and records the load it measured at; during each wrk run it also records the
# CPU the daemon, wrk and everything else used (from /proc), since the load
# average cannot say whether other work started during the run. The processes
# run as a user would run them: `tradebot run --mode paper` in a temporary
# working folder, market data pointed at a closed local port (so it runs
# offline and only retries), a kill_switch_secret file in a temporary
# SECRETS_DIR; all are stopped with SIGTERM and the temporary folder is
# removed at the end. It prints a summary with the tables.
#
# Usage: scripts/bench-http.sh   (about 13 minutes after the build, most of it
# waiting for the load average to fall after each wrk run)
# Needs: wrk (Debian: apt-get install -y wrk), python3, a Rust toolchain.
# Environment: CARGO_TARGET_DIR (default target), BENCH_HTTP_DURATION (wrk
# seconds, 10), BENCH_HTTP_CONNECTIONS ("16 64"), BENCH_HTTP_RUNS (2),
# BENCH_KS_ROUNDS (activate+deactivate pairs on the daemon, 50),
# BENCH_KS_CROSS_ROUNDS (pairs through the dashboard, 20), BENCH_MAX_LOAD (1.0),
# BENCH_LOAD_WAIT_S (600), BENCH_HTTP_KEEP=1 keeps the temporary folder (logs,
# raw wrk output) and prints where it is.

set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
duration=${BENCH_HTTP_DURATION:-10}
connections=${BENCH_HTTP_CONNECTIONS:-16 64}
runs=${BENCH_HTTP_RUNS:-2}
ks_rounds=${BENCH_KS_ROUNDS:-50}
cross_rounds=${BENCH_KS_CROSS_ROUNDS:-20}
max_load=${BENCH_MAX_LOAD:-1.0}
load_wait=${BENCH_LOAD_WAIT_S:-600}
keep=${BENCH_HTTP_KEEP:-0}
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$repo/$target_dir ;; esac
bin=$target_dir/release/tradebot

for tool in wrk python3 cargo; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench-http: $tool is needed (wrk on Debian: apt-get install -y wrk)" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
daemon_pid='' dashboard_pid=''
results=$work/results.jsonl
: >"$results"

section() { printf '\n== %s\n' "$1"; }

# Stops a process we started with SIGTERM and waits up to 15 s for it (then
# SIGKILL). Sets $stopped_rc to its exit code.
stop_proc() {
    local pid=$1 name=$2 i state
    stopped_rc=''
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 150); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
        [ "$state" = Z ] || [ "$state" = gone ] && break
        sleep 0.1
    done
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
    if [ "$state" != Z ] && [ "$state" != gone ]; then
        echo "bench-http: $name ($pid) still running 15 s after SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    stopped_rc=0
    wait "$pid" 2>/dev/null || stopped_rc=$?
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_proc "$dashboard_pid" dashboard || true
    stop_proc "$daemon_pid" daemon || true
    if [ "$keep" = 1 ]; then
        echo "bench-http: kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until the 1-minute load average is below $max_load, at most
# $load_wait seconds, and sets $quiet_load to the load it ended at.
wait_quiet() {
    local waited=0 load
    while :; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if awk -v l="$load" -v m="$max_load" 'BEGIN { exit !(l < m) }'; then
            break
        fi
        if [ "$waited" -ge "$load_wait" ]; then
            echo "bench-http: load still $load after ${load_wait} s; measuring anyway" >&2
            break
        fi
        if [ $((waited % 60)) -eq 0 ]; then
            echo "  waiting for a quiet machine: 1-min load $load (want < $max_load)" >&2
        fi
        sleep 5
        waited=$((waited + 5))
    done
    quiet_load=$load
}

# The environment every process gets (set once $work exists): offline market
# data, the temporary secrets, the repository's config; nothing inherited that
# would point the processes at another database, log format or secret.
base_env=()
set_base_env() {
    base_env=(-u DATABASE_URL -u DB_HOST -u DB_PORT -u DB_USER -u DB_NAME
        -u LOG_LEVEL -u LOG_FORMAT -u KILL_SWITCH_SECRET -u KILL_SWITCH_SECRET_FILE
        TRADEBOT__MARKET_DATA__BASE_URL=http://127.0.0.1:9
        "SECRETS_DIR=$work/secrets" "TRADEBOT_CONFIG_DIR=$repo/config")
}

# Starts `tradebot <args>` in folder $dir with extra VAR=value settings, waits
# for its "HTTP server listening" line and sets $started_pid and $started_addr.
# Usage: start_proc NAME DIR [VAR=value…] -- ARGS…
start_proc() {
    local name=$1 dir=$2 i
    shift 2
    local -a vars=()
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    mkdir -p "$dir"
    (cd "$dir" && exec env "${base_env[@]}" "${vars[@]}" "$bin" "$@") \
        >"$work/$name.stdout" 2>"$work/$name.stderr" &
    started_pid=$!
    started_addr=''
    for i in $(seq 300); do
        started_addr=$(python3 - "$work/$name.stdout" <<'EOF'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    if rec.get("message") == "HTTP server listening":
        print(rec["addr"])
        break
EOF
)
        [ -n "$started_addr" ] && return 0
        if ! kill -0 "$started_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "bench-http: $name did not start listening; its output:" >&2
    tail -n 20 "$work/$name.stdout" "$work/$name.stderr" >&2 || true
    exit 1
}

cat >"$work/wrk_parse.py" <<'EOF'
# Turns one wrk --latency report into a JSON line of results.
import json, re, sys

label, conns, run, load, path = sys.argv[1:6]
text = open(path).read()

def ms(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

def latency(pct):
    m = re.search(r"^\s+%s%%\s+(\S+)" % pct, text, re.M)
    return ms(m.group(1)) if m else None

rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
total = re.search(r"(\d+) requests in", text)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
sock = re.search(r"Socket errors: (.*)", text)
print(json.dumps({
    "kind": "wrk", "label": label, "connections": int(conns), "run": int(run),
    "load": float(load), "rps": float(rps.group(1)) if rps else None,
    "requests": int(total.group(1)) if total else None,
    "p50_ms": latency(50), "p90_ms": latency(90), "p99_ms": latency(99),
    "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    "socket_errors": sock.group(1).strip() if sock else "",
    **json.load(open(path + ".cpu")),
}))
EOF

cat >"$work/wrk_run.py" <<'EOF'
# Runs wrk (argv[3:]) with its report to argv[2], and writes to argv[2].cpu
# the CPU used during the run, in cores: by the daemon (pid argv[1]), by wrk,
# and the user time of everything else (other work on the machine), plus the
# hypervisor's steal time. Kernel time spent on loopback networking is not
# always charged to a process, so only user time is counted for the others.
import json, os, subprocess, sys, time

pid, out, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
tick = os.sysconf("SC_CLK_TCK")

def machine():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return f[0] + f[1], f[7]  # user + nice, steal

def proc(p):
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]), int(f[12])  # utime, stime

u0, st0 = machine()
du0, ds0 = proc(pid)
t0 = time.monotonic()
with open(out, "w") as report:
    child = subprocess.Popen(cmd, stdout=report)
    _, status, usage = os.wait4(child.pid, 0)
elapsed = time.monotonic() - t0
u1, st1 = machine()
du1, ds1 = proc(pid)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(f"wrk failed: {open(out).read()}")
cores = lambda ticks: ticks / tick / elapsed
others_user = (u1 - u0) - (du1 - du0) - usage.ru_utime * tick
json.dump({
    "daemon_cpu": cores((du1 - du0) + (ds1 - ds0)),
    "wrk_cpu": (usage.ru_utime + usage.ru_stime) / elapsed,
    "others_user_cpu": max(0.0, cores(others_user)),
    "steal_cpu": cores(st1 - st0),
}, open(out + ".cpu", "w"))
EOF

cat >"$work/kill_switch.py" <<'EOF'
# Signed kill-switch flips, timed. Signature as the README documents:
# base64(HMAC-SHA256(secret, "<action>\n<timestamp>\n<body>")).
#   direct URL SECRET ROUNDS LOAD LABEL
#       activate then deactivate on URL, back to back, one kept-alive
#       connection; times each round trip (3 warm-up pairs not counted).
#   cross URL SECRET ROUNDS LOAD LABEL DAEMON_STDOUT POLL_MS
#       flips through URL (the dashboard) and times from its response to the
#       timestamp of the daemon's log line for the same request id. Each flip
#       starts after a random pause of 0..POLL_MS, so it lands at a random
#       point of the daemon's poll cycle instead of right after a poll.
import base64, hashlib, hmac, http.client, json, random, sys, time
from datetime import datetime, timezone
from urllib.parse import urlsplit

mode, url, secret_path, rounds, load, label = sys.argv[1:7]
rounds = int(rounds)
secret = open(secret_path, "rb").read().rstrip(b"\r\n")
host = urlsplit(url)
conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
serial = 0

def flip(action, request_id):
    global serial
    serial += 1
    body = json.dumps({"reason": f"bench-http {label} {action} {serial} {time.time_ns()}"}).encode()
    ts = str(int(time.time()))
    mac = hmac.new(secret, f"{action}\n{ts}\n".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-Kill-Switch-Timestamp": ts,
        "X-Kill-Switch-Signature": base64.b64encode(mac.digest()).decode(),
        "X-Request-ID": request_id,
    }
    start = time.perf_counter()
    conn.request("POST", f"/api/v1/safety/kill-switch/{action}", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    rtt_ms = (time.perf_counter() - start) * 1000.0
    answered = time.time()
    if resp.status != 200:
        sys.exit(f"{action}: HTTP {resp.status}: {data[:300]!r}")
    reply = json.loads(data)
    if reply.get("changed") is not True or reply.get("durable") is False:
        sys.exit(f"{action}: unexpected answer {reply}")
    return rtt_ms, answered

def stats(values):
    values = sorted(values)
    def pct(p):  # nearest rank
        return values[max(0, -(-len(values) * p // 100) - 1)]
    return {"n": len(values), "p50_ms": pct(50), "p95_ms": pct(95),
            "max_ms": values[-1], "min_ms": values[0],
            "mean_ms": sum(values) / len(values)}

if mode == "direct":
    for i in range(3):
        flip("activate", f"bench-warm-a{i}")
        flip("deactivate", f"bench-warm-d{i}")
    act, deact = [], []
    for i in range(rounds):
        act.append(flip("activate", f"bench-direct-a{i}")[0])
        deact.append(flip("deactivate", f"bench-direct-d{i}")[0])
    for name, values in (("activate", act), ("deactivate", deact)):
        print(json.dumps({"kind": "ks_direct", "label": label, "action": name,
                          "load": float(load), **stats(values)}))
    sys.exit(0)

log_path, poll_ms = sys.argv[7], int(sys.argv[8])
log = open(log_path, "rb")
log.seek(0, 2)
pending = b""

def parse_ts(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()

def wait_for(message, request_id, timeout=10.0):
    global pending
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = log.readline()
        if not chunk:
            time.sleep(0.001)
            continue
        pending += chunk
        if not pending.endswith(b"\n"):
            continue
        line, pending = pending, b""
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("message") == message and rec.get("request_id") == request_id:
            return rec, time.time()
    sys.exit(f"the daemon did not log {message!r} for {request_id} within {timeout} s")

delays = {"activate": [], "deactivate": []}
seen = {"activate": [], "deactivate": []}
rtts = {"activate": [], "deactivate": []}
messages = {"activate": "Kill switch activated; no new orders",
            "deactivate": "Kill switch deactivated; trading resumes"}
run_id = time.time_ns()
for i in range(rounds):
    for action in ("activate", "deactivate"):
        time.sleep(random.uniform(0, poll_ms / 1000.0))
        request_id = f"bench-cross-{run_id}-{action[0]}{i}"
        rtt_ms, answered = flip(action, request_id)
        rec, saw = wait_for(messages[action], request_id)
        delays[action].append((parse_ts(rec["timestamp"]) - answered) * 1000.0)
        seen[action].append((saw - answered) * 1000.0)
        rtts[action].append(rtt_ms)
for action in ("activate", "deactivate"):
    print(json.dumps({"kind": "ks_cross", "label": label, "action": action,
                      "poll_ms": poll_ms, "load": float(load), **stats(delays[action]),
                      "seen": stats(seen[action]), "dashboard_rtt": stats(rtts[action])}))
EOF

section "Machine"
{
    echo "date:  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu:   $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores"
    echo "rustc: $(rustc --version)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' + uncommitted changes in src/Cargo')"
    echo "wrk:   $(wrk -v 2>&1 | head -n 1)"
    echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
} | tee "$work/machine.txt"

section "Build (release, target dir $target_dir)"
CARGO_TARGET_DIR=$target_dir cargo build --release

section "Setup"
mkdir -p "$work/secrets" "$work/daemon" "$work/dashboard"
chmod 700 "$work/secrets"
(umask 077 && python3 -c 'import secrets, sys; sys.stdout.write(secrets.token_urlsafe(48))' \
    >"$work/secrets/kill_switch_secret")
secret=$work/secrets/kill_switch_secret
db=$work/daemon/data/tradebot.db
set_base_env

# The daemon and the dashboard, with kill_switch.poll_interval_ms = $1 (empty:
# the configured default). Port 0: the kernel picks free ports, and the
# "HTTP server listening" line says which.
start_pair() {
    local -a poll=()
    [ -n "$1" ] && poll=("TRADEBOT__KILL_SWITCH__POLL_INTERVAL_MS=$1")
    start_proc daemon "$work/daemon" "LOG_DIR=$work/daemon-logs" \
        TRADEBOT__HTTP__BIND=127.0.0.1:0 "${poll[@]}" -- run --mode paper
    daemon_pid=$started_pid daemon_addr=$started_addr
    echo "daemon:    pid $daemon_pid on $daemon_addr${1:+, poll ${1} ms}"
    if [ "${2:-}" = with-dashboard ]; then
        start_proc dashboard "$work/dashboard" "LOG_DIR=$work/dashboard-logs" \
            TRADEBOT__DASHBOARD__BIND=127.0.0.1:0 "TRADEBOT__DATABASE__SQLITE_PATH=$db" \
            "${poll[@]}" -- dashboard
        dashboard_pid=$started_pid dashboard_addr=$started_addr
        echo "dashboard: pid $dashboard_pid on $dashboard_addr"
    fi
}

stop_pair() {
    if [ -n "$dashboard_pid" ]; then
        stop_proc "$dashboard_pid" dashboard
        echo "dashboard exited $stopped_rc after SIGTERM"
        echo "{\"kind\":\"exit\",\"name\":\"dashboard\",\"rc\":$stopped_rc}" >>"$results"
    fi
    dashboard_pid=''
    stop_proc "$daemon_pid" daemon
    echo "daemon exited $stopped_rc after SIGTERM"
    echo "{\"kind\":\"exit\",\"name\":\"daemon\",\"rc\":$stopped_rc}" >>"$results"
    daemon_pid=''
    # Keep this run's lines for the summary; the next run starts fresh files.
    cat "$work/daemon.stdout" >>"$work/daemon.all"
    [ -f "$work/dashboard.stdout" ] && cat "$work/dashboard.stdout" >>"$work/dashboard.all"
    rm -f "$work/dashboard.stdout"
}

start_pair ''

section "wrk on the daemon: ${duration} s per run, 1 thread, --latency"
for path in /health /api/v1/status; do
    for c in $connections; do
        for run in $(seq "$runs"); do
            wait_quiet
            out=$work/wrk-${path//\//_}-c$c-r$run.txt
            python3 "$work/wrk_run.py" "$daemon_pid" "$out" \
                wrk -t1 -c"$c" -d"${duration}s" --latency "http://$daemon_addr$path"
            python3 "$work/wrk_parse.py" "GET $path" "$c" "$run" "$quiet_load" "$out" \
                | tee -a "$results"
        done
    done
done

section "Log lines the daemon's writer dropped (GET /metrics)"
python3 - "$daemon_addr" <<'EOF' | tee "$work/dropped.txt"
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics").read().decode()
print(next((l for l in text.splitlines() if "log_lines_dropped" in l and not l.startswith("#")),
           "no log_lines_dropped metric"))
EOF

section "Kill switch on the daemon: $ks_rounds activate + deactivate pairs"
wait_quiet
python3 "$work/kill_switch.py" direct "http://$daemon_addr" "$secret" "$ks_rounds" \
    "$quiet_load" daemon | tee -a "$results"
stop_pair

for poll in 500 100; do
    section "Kill switch through the dashboard, poll_interval_ms $poll: $cross_rounds pairs"
    if [ "$poll" = 500 ]; then start_pair '' with-dashboard; else start_pair "$poll" with-dashboard; fi
    wait_quiet
    python3 "$work/kill_switch.py" cross "http://$dashboard_addr" "$secret" "$cross_rounds" \
        "$quiet_load" "poll $poll" "$work/daemon.stdout" "$poll" | tee -a "$results"
    stop_pair
done

section "Summary"
cat "$work/machine.txt"
python3 - "$results" "$work/daemon.all" "$work/dashboard.all" "$(cat "$work/dropped.txt")" <<'EOF'
import collections, json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]

def f(v, nd=2):
    return "—" if v is None else f"{v:,.{nd}f}"

print("\nHTTP throughput and latency (wrk -t1, loopback):\n")
print("| request | connections | run | 1-min load before | requests/s | p50 ms | p99 ms | CPU during the run (cores): daemon / wrk / others' user / steal | non-2xx | socket errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["kind"] == "wrk":
        print(f"| `{r['label']}` | {r['connections']} | {r['run']} | {r['load']:.2f} | "
              f"{f(r['rps'], 0)} | {f(r['p50_ms'], 3)} | {f(r['p99_ms'], 3)} | "
              f"{r['daemon_cpu']:.2f} / {r['wrk_cpu']:.2f} / {r['others_user_cpu']:.2f} / {r['steal_cpu']:.2f} | "
              f"{r['non_2xx']} | {r['socket_errors'] or 'none'} |")

print("\nKill switch (ms):\n")
print("| measure | 1-min load before | n | p50 | p95 | max |")
print("|---|---|---|---|---|---|")
for r in rows:
    if r["kind"] == "ks_direct":
        print(f"| daemon: signed `POST …/{r['action']}` round trip | {r['load']:.2f} | {r['n']} | "
              f"{f(r['p50_ms'])} | {f(r['p95_ms'])} | {f(r['max_ms'])} |")
for r in rows:
    if r["kind"] == "ks_cross":
        print(f"| dashboard `{r['action']}` response → daemon's log line, poll {r['poll_ms']} ms | "
              f"{r['load']:.2f} | {r['n']} | {f(r['p50_ms'])} | {f(r['p95_ms'])} | {f(r['max_ms'])} |")
for r in rows:
    if r["kind"] == "ks_cross":
        d = r["dashboard_rtt"]
        print(f"| dashboard: signed `POST …/{r['action']}` round trip, poll {r['poll_ms']} ms | "
              f"{r['load']:.2f} | {d['n']} | {f(d['p50_ms'])} | {f(d['p95_ms'])} | {f(d['max_ms'])} |")
for r in rows:
    if r["kind"] == "ks_cross":
        s = r["seen"]
        print(f"(poll {r['poll_ms']} ms, {r['action']}: min {f(r['min_ms'])} ms from the log timestamp; "
              f"the script read the line p50 {f(s['p50_ms'])} / max {f(s['max_ms'])} ms after the response)")

print("\nExit codes after SIGTERM:", ", ".join(f"{r['name']} {r['rc']}" for r in rows if r["kind"] == "exit"))
print("Daemon log writer:", sys.argv[4])
for name, path in (("daemon", sys.argv[2]), ("dashboard", sys.argv[3])):
    counts = collections.Counter()
    try:
        for line in open(path, errors="replace"):
            try:
                rec = json.loads(line)
            except ValueError:
                counts[("not JSON", line.strip()[:80])] += 1
                continue
            if rec.get("level") in ("WARN", "ERROR"):
                counts[(rec["level"], rec.get("message"))] += 1
    except FileNotFoundError:
        continue
    print(f"{name}: WARN/ERROR lines by message:")
    for (level, message), n in counts.most_common():
        print(f"  {n:6d}  {level}  {message}")
EOF
