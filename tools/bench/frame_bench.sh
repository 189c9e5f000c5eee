#!/usr/bin/env bash
# Frame benchmark (not a test): sync invocations of one echo program over spearlet's frame
# transport (TCP, nanopb, spear-peer-style clients: tools/bench/frame_bench.c) and over HTTP
# (wrk, POST /functions/echo/invoke) against the same spearlet in the same run; prints round
# trips per second and p50/p99 latency for both. A second pair measures the transports alone
# (no process per call): frame Ping/pong against HTTP GET /health.
# Usage: tools/bench/frame_bench.sh [path/to/spearlet]   (default: build/release/src/spearlet)
# Env: DURATION seconds (default 10), CONNECTIONS (20), THREADS for wrk (2), INPUT (hello).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
spearlet="${1:-$root/build/release/src/spearlet}"
duration="${DURATION:-10}"; conns="${CONNECTIONS:-20}"; threads="${THREADS:-2}"
input="${INPUT:-hello}"
for tool in wrk cc protoc; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk gcc protobuf-compiler nanopb libnanopb-dev" >&2; exit 1; }
done
[ -x /usr/bin/protoc-gen-nanopb ] || { echo "missing protoc-gen-nanopb: apt-get install nanopb" >&2; exit 1; }
[ -x "$spearlet" ] || { echo "build spearlet first (tools/dev run, or cmake --build)" >&2; exit 1; }

work="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The program both transports run: stdin copied to stdout.
cat > "$work/echo.c" <<'C'
#include <unistd.h>
int main(void) {
    char buf[4096]; ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) if (write(1, buf, (size_t)n) != n) return 1;
    return 0;
}
C
cc -O2 -o "$work/echo" "$work/echo.c"

# The frame client, built the way a peer is: generated nanopb code + spear_frame.c.
protoc --plugin=protoc-gen-nanopb=/usr/bin/protoc-gen-nanopb -I"$root/proto" \
  --nanopb_out="$work" --nanopb_opt=-I"$root/proto" "$root/proto/spear_edge.proto"
cc -O2 -std=c99 -I"$work" -I"$root/tools/peer" -o "$work/frame_bench" \
  "$root/tools/bench/frame_bench.c" "$root/tools/peer/spear_frame.c" "$work/spear_edge.pb.c" \
  -l:libprotobuf-nanopb.a -lpthread

cat > "$work/spear.json" <<JSON
{"http": {"address": "127.0.0.1", "port": 0, "max_connections": 1024},
 "frame": {"tcp": {"enabled": true, "address": "127.0.0.1", "port": 0}, "max_outstanding": 8},
 "limits": {"global_concurrency": 64},
 "functions": [{"name": "echo", "command": ["$work/echo"], "max_concurrency": 64, "queue_depth": 1024}]}
JSON
"$spearlet" --config "$work/spear.json" 2>"$work/spear.log" & pids+=($!)
for _ in $(seq 200); do grep -q "serving HTTP on" "$work/spear.log" && break; sleep 0.05; done
http_port=$(sed -n 's/.*serving HTTP on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$work/spear.log" | head -1)
frame_port=$(sed -n 's/.*serving frames on tcp:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$work/spear.log" | head -1)
[ -n "$http_port" ] && [ -n "$frame_port" ] || { echo "spearlet did not start:" >&2; cat "$work/spear.log" >&2; exit 1; }
printf 'wrk.method = "POST"\nwrk.body = "%s"\n' "$input" > "$work/post.lua"

echo "machine: $(nproc) cores; $conns connections, ${duration}s each, loopback; sync echo of '$input'"
ms() { awk -v want="$1" '$1==want {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}'; }

# run_frames FUNCTION -> "rps p50 p99 errors"
run_frames() {
  local line; line=$("$work/frame_bench" 127.0.0.1 "$frame_port" "$conns" "$duration" "$1" "$input")
  for key in rps p50_ms p99_ms errors; do sed -n "s/.* $key=\([0-9.]*\).*/\1/p; s/^$key=\([0-9.]*\).*/\1/p" <<<" $line" | head -1; done | paste -sd' '
}
# run_wrk URL [script] -> "rps p50 p99 non2xx"
run_wrk() {
  local out; out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency ${2:+-s "$2"} "$1")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(ms "50%" <<<"$out") $(ms "99%" <<<"$out") $(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)"
}
row() { # label rps p50 p99 errors
  printf '%-24s %8.0f round trips/s  p50 %8.3f ms  p99 %8.3f ms  errors %s\n' "$1" "$2" "$3" "$4" "$5"
}

read -r f_rps f_p50 f_p99 f_err < <(run_frames echo)
read -r h_rps h_p50 h_p99 h_err < <(run_wrk "http://127.0.0.1:$http_port/functions/echo/invoke" "$work/post.lua")
row "sync echo, frames (TCP)" "$f_rps" "$f_p50" "$f_p99" "$f_err"
row "sync echo, HTTP" "$h_rps" "$h_p50" "$h_p99" "$h_err"
awk -v a="$f_rps" -v b="$h_rps" 'BEGIN {printf "  ratio frames/HTTP: %.2fx (each round trip is two frames)\n", a/b}'

read -r p_rps p_p50 p_p99 p_err < <(run_frames -ping)
read -r g_rps g_p50 g_p99 g_err < <(run_wrk "http://127.0.0.1:$http_port/health")
row "ping/pong, frames (TCP)" "$p_rps" "$p_p50" "$p_p99" "$p_err"
row "GET /health, HTTP" "$g_rps" "$g_p50" "$g_p99" "$g_err"
awk -v a="$p_rps" -v b="$g_rps" 'BEGIN {printf "  ratio frames/HTTP: %.2fx (transport alone)\n", a/b}'
