#!/usr/bin/env bash
# Stream benchmark (not a test): spearlet's WebSocket streaming on loopback, in one run.
#   1. Per-connection sessions (on a fresh spearlet): GET /stream, one InvokeFunctionRequest
#      per connection, against websocketd running the same program per connection, sequential
#      and CONCURRENCY at a time; prints sessions/s, lines/s and spearlet/websocketd ratios.
#   2. Fan-out: one execution writing numbered lines, each carrying its CLOCK_REALTIME write
#      time, watched through GET /executions/{id}/stream by 100 and then 1000 viewers that are
#      all attached before the first line (the writer waits for a gate file the client creates
#      once every viewer has its 101). Per viewer count: a paced stream (one line every
#      PACED_INTERVAL_US, 1 kHz by default) and a burst (BURST_LINES as fast as possible).
#      Each viewer computes receipt - write time per line; prints lines delivered per second
#      (all viewers together), p50/p99 of that delay, chunks dropped.
#   ROUNDS rounds of 1 and 2, alternating spearlet and websocketd, then a summary: the median
#   of each figure over the rounds with its spread (min-max).
#   3. The sequential spearlet sessions again, on the now warm spearlet (larger RSS).
# The servers (and the functions they start) are pinned to core SERVER_CORE (0), the client to
# CLIENT_CORE (1) with taskset; PIN=0 runs unpinned.
# Lines are counted, not messages: websocketd sends one message per line, spearlet one chunk
# per read of the function's stdout (often many lines). The client is
# tools/bench/stream_bench_client.c (one epoll loop, hand-parsed frames), cheaper than the
# server it measures; every phase prints server and client CPU seconds so this can be checked.
# Usage: tools/bench/stream_bench.sh [path/to/spearlet]   (default: build/release/src/spearlet)
# Env: ROUNDS (3), FANOUT_VIEWERS ("100 1000"), BURST_LINES (20000), PACED_LINES (2000),
#      PACED_INTERVAL_US (1000), LINE_BYTES (64), VIEWER_QUEUE (256, spearlet's default),
#      SEQ_SESSIONS (200), CONC_SESSIONS (600), CONCURRENCY (16), SESSION_LINES (1000),
#      PIN (1), SERVER_CORE (0), CLIENT_CORE (1), SESSIONS (1; 0 runs the fan-out alone).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
spearlet="${1:-$root/build/release/src/spearlet}"
viewer_counts="${FANOUT_VIEWERS:-100 1000}"
burst_lines="${BURST_LINES:-20000}"
paced_lines="${PACED_LINES:-2000}"; paced_interval="${PACED_INTERVAL_US:-1000}"
line_bytes="${LINE_BYTES:-64}"; viewer_queue="${VIEWER_QUEUE:-256}"
seq_sessions="${SEQ_SESSIONS:-200}"; conc_sessions="${CONC_SESSIONS:-600}"
concurrency="${CONCURRENCY:-16}"; session_lines="${SESSION_LINES:-1000}"
rounds="${ROUNDS:-3}"
session_concs="1 $concurrency"; [ "${SESSIONS:-1}" = 1 ] || session_concs=""
# Servers (spearlet, websocketd and the functions they start) on one core, the client on the
# other: unpinned, the client and the server fight for both cores and ratios swing run to run.
# PIN=0 runs unpinned.
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu="taskset -c ${SERVER_CORE:-0}"; client_cpu="taskset -c ${CLIENT_CORE:-1}"
else
  server_cpu=""; client_cpu=""
fi

for tool in cc curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install gcc curl" >&2; exit 1; }
done
if ! command -v websocketd >/dev/null; then
  echo "websocketd missing; running: apt-get install -y websocketd" >&2
  apt-get install -y websocketd >/dev/null || { apt-get update >/dev/null && apt-get install -y websocketd >/dev/null; }
fi
[ -x "$spearlet" ] || { echo "build spearlet first (tools/dev run, or cmake --build)" >&2; exit 1; }

# 1000 viewers + the spearlet side of them + sessions: ask for plenty of descriptors.
want_fds=16384; hard_fds=$(ulimit -Hn)
[ "$hard_fds" = unlimited ] || [ "$hard_fds" -ge "$want_fds" ] || want_fds=$hard_fds
ulimit -n "$want_fds"
[ "$(ulimit -n)" -ge 4096 ] || { echo "need ulimit -n >= 4096 (hard limit is $hard_fds)" >&2; exit 1; }

work="$(mktemp -d)"; pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The program both servers run: N lines "<seq> <CLOCK_REALTIME us> xxx...\n" of LINE_BYTES
# bytes, one write(2) each (as a line-buffered program does), optionally paced, optionally
# after a gate file appears. `lines --stdin` reads "N INTERVAL_US GATE" from stdin (spearlet
# functions take no per-request arguments); `lines N INTERVAL_US` is for per-session runs.
cat > "$work/lines.c" <<C
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char** argv) {
    unsigned long n = 0, interval = 0; char gate[4096] = "";
    if (argc == 2 && strcmp(argv[1], "--stdin") == 0) {
        char in[4300]; size_t len = 0; ssize_t r;
        while (len < sizeof in - 1 && (r = read(0, in + len, sizeof in - 1 - len)) > 0) len += (size_t)r;
        in[len] = 0;
        if (sscanf(in, "%lu %lu %4095s", &n, &interval, gate) < 2) return 2;
    } else if (argc == 3) {
        n = strtoul(argv[1], 0, 10); interval = strtoul(argv[2], 0, 10);
    } else return 2;
    struct timespec t, next;
    if (gate[0]) {
        for (int waited_us = 0; access(gate, F_OK) != 0; waited_us += 100) {
            if (waited_us > 60000000) return 3;
            usleep(100);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &next);
    char line[$line_bytes + 64];
    for (unsigned long i = 0; i < n; i++) {
        if (interval) {
            next.tv_nsec += (long)(interval * 1000);
            while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, 0);
        }
        clock_gettime(CLOCK_REALTIME, &t);
        int len = snprintf(line, sizeof line, "%lu %lld ", i,
                           (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000);
        while (len < $line_bytes - 1) line[len++] = 'x';
        line[len++] = '\n';
        if (write(1, line, (size_t)len) != len) return 1;
    }
    return 0;
}
C
cc -O2 -o "$work/lines" "$work/lines.c"
cc -O2 -std=c11 -o "$work/client" "$root/tools/bench/stream_bench_client.c"

cat > "$work/spear.json" <<JSON
{"http": {"address": "127.0.0.1", "port": 0, "max_connections": 10000},
 "stream": {"max_viewers_per_execution": 4096, "viewer_queue_messages": $viewer_queue},
 "limits": {"global_concurrency": 64},
 "functions": [
   {"name": "fan", "command": ["$work/lines", "--stdin"], "max_concurrency": 2, "queue_depth": 4,
    "timeout_ms": 120000},
   {"name": "lines", "command": ["$work/lines", "$session_lines", "0"], "max_concurrency": 64,
    "queue_depth": 1024, "timeout_ms": 60000}]}
JSON
$server_cpu "$spearlet" --config "$work/spear.json" 2>"$work/spear.log" & sp_pid=$!; pids+=("$sp_pid")
for _ in $(seq 200); do grep -q "serving HTTP on" "$work/spear.log" && break; sleep 0.05; done
sp_port=$(sed -n 's/.*serving HTTP on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$work/spear.log" | head -1)
[ -n "$sp_port" ] || { echo "spearlet did not start:" >&2; cat "$work/spear.log" >&2; exit 1; }

wsd_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$server_cpu websocketd --address=127.0.0.1 --port="$wsd_port" --loglevel=error \
  "$work/lines" "$session_lines" 0 >"$work/wsd.log" 2>&1 & wsd_pid=$!; pids+=("$wsd_pid")
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$wsd_port") 2>/dev/null && break; sleep 0.05; done

tck=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tck" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
children_cpu_of() { awk -v t="$tck" '{print ($16 + $17) / t}' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "machine: $(nproc) cores, load average $(load) at start; loopback; spearlet $spearlet"
echo "lines of $line_bytes bytes, one write(2) each; spearlet viewer_queue_messages=$viewer_queue"
echo

# Every measurement appends one line "PHASE|WHO|key=value ..." to $work/results; the summary
# at the end prints, per phase, the median over the rounds and the spread (min-max).
results="$work/results"; : >"$results"
record() { echo "$1|$2|$3 server_cpu_s=$4" >>"$results"; }

# fanout LABEL VIEWERS LINES INTERVAL_US
fanout() {
  local label=$1 viewers=$2 lines=$3 interval=$4 gate="$work/gate.$1.$2.$RANDOM" body id before out scpu
  body="{\"function_name\": \"fan\", \"execution_mode\": \"async\", \"input\": {\"data\": \"$lines $interval $gate\"}}"
  id=$(curl -sf -H 'Content-Type: application/json' -d "$body" \
         "http://127.0.0.1:$sp_port/functions/execute" |
       sed -n 's/.*"execution_id":"\([0-9a-f]*\)".*/\1/p' | head -1)
  [ -n "$id" ] || { echo "could not start the fan-out execution" >&2; exit 1; }
  before=$(cpu_of "$sp_pid")
  out=$($client_cpu "$work/client" fanout 127.0.0.1 "$sp_port" "$id" "$viewers" "$lines" "$gate" 60) || true
  scpu=$(awk -v a="$before" -v b="$(cpu_of "$sp_pid")" 'BEGIN {printf "%.2f", b - a}')
  echo "fan-out $label, $viewers viewers x $lines lines: $out server_cpu_s=$scpu"
  record "fan-out $label" "$viewers viewers" "$out received=$(field lines "$out")/$(field expected_lines "$out")" "$scpu"
}

# sessions LABEL KIND PORT PID COUNT CONCURRENCY
sessions() {
  local label=$1 kind=$2 port=$3 pid=$4 count=$5 conc=$6 before cbefore out scpu ccpu
  before=$(cpu_of "$pid"); cbefore=$(children_cpu_of "$pid")
  out=$($client_cpu "$work/client" sessions 127.0.0.1 "$port" "$kind" lines "$count" "$conc" \
          "$session_lines" 45) || true
  scpu=$(awk -v a="$before" -v b="$(cpu_of "$pid")" 'BEGIN {printf "%.2f", b - a}')
  ccpu=$(awk -v a="$cbefore" -v b="$(children_cpu_of "$pid")" 'BEGIN {printf "%.2f", b - a}')
  echo "sessions $label x$count, $conc at a time: $out server_cpu_s=$scpu" \
       "server_children_cpu_s=$ccpu server_rss_mb=$(rss_mb "$pid")"
  record "$label" "c=$conc" "$out received=$(( $(field done "$out") - $(field bad_sessions "$out") ))/$count" "$scpu"
}

# Rounds alternate the two servers (and the phases), so a change in the machine's load hits
# both sides of each ratio alike.
for round in $(seq "$rounds"); do
  echo "--- round $round of $rounds (load average $(load))"
  for conc in $session_concs; do
    count=$([ "$conc" = 1 ] && echo "$seq_sessions" || echo "$conc_sessions")
    sessions "spearlet /stream" spear "$sp_port" "$sp_pid" "$count" "$conc"
    sessions "websocketd" wsd "$wsd_port" "$wsd_pid" "$count" "$conc"
  done
  for v in $viewer_counts; do
    fanout "paced_${paced_interval}us" "$v" "$paced_lines" "$paced_interval"
    fanout burst "$v" "$burst_lines" 0
  done
done
echo
# The sequential sessions again on the now warm spearlet: its status table's output arena is in
# use and the fan-out left its heap grown; this row shows the steady state of a long-running
# appliance.
[ -z "$session_concs" ] || sessions "spearlet /stream, warm" spear "$sp_port" "$sp_pid" "$seq_sessions" 1

echo
echo "load average $(load) at the end; spearlet RSS $(rss_mb "$sp_pid") MB"
echo "medians over $rounds rounds (min-max in brackets); server pinned: '${server_cpu:-none}', client: '${client_cpu:-none}'"
/usr/bin/python3 - "$results" <<'PY'
import statistics, sys
rows = {}
order = []
for raw in open(sys.argv[1]):
    phase, who, kv = raw.rstrip("\n").split("|", 2)
    vals = dict(p.split("=", 1) for p in kv.split() if "=" in p)
    key = (phase, who)
    if key not in rows:
        rows[key] = []
        order.append(key)
    rows[key].append(vals)

def stat(runs, name, fmt="{:.0f}"):
    xs = [float(r[name]) for r in runs if name in r]
    if not xs:
        return "-"
    med = statistics.median(xs)
    if len(xs) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(xs))}-{fmt.format(max(xs))}]"

hdr = f"{'phase':<24} {'who':<14} {'sessions/s':>20} {'lines/s':>26} {'p50 ms':>22} {'p99 ms':>24} {'dropped':>8} {'received':>16} {'srv/cli cpu s':>14}"
print(hdr)
for key in order:
    runs = rows[key]
    print(f"{key[0]:<24} {key[1]:<14} {stat(runs, 'sessions_per_s', '{:.1f}'):>20} "
          f"{stat(runs, 'lines_per_s'):>26} {stat(runs, 'delay_p50_ms', '{:.2f}'):>22} "
          f"{stat(runs, 'delay_p99_ms', '{:.1f}'):>24} {stat(runs, 'dropped_chunks'):>8} "
          f"{runs[-1].get('received', '-'):>16} "
          f"{stat(runs, 'server_cpu_s', '{:.2f}')}/{stat(runs, 'client_cpu_s', '{:.2f}')}")

def med(key, name):
    xs = [float(r[name]) for r in rows.get(key, []) if name in r]
    return statistics.median(xs) if xs else 0.0

for key in order:
    if key[0] != "spearlet /stream":
        continue
    peer = ("websocketd", key[1])
    ratios = [float(a["sessions_per_s"]) / float(b["sessions_per_s"])
              for a, b in zip(rows[key], rows.get(peer, [])) if float(b.get("sessions_per_s", 0)) > 0]
    if ratios:
        print(f"sessions {key[1]}: spearlet/websocketd {med(key, 'sessions_per_s') / max(med(peer, 'sessions_per_s'), 1e-9):.2f}x "
              f"sessions/s (median of each); per round {min(ratios):.2f}x-{max(ratios):.2f}x")
PY
