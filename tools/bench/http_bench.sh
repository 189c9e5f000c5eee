#!/usr/bin/env bash
# HTTP benchmark (not a test): spearlet against nginx, a bare Beast server and lighttpd CGI on
# loopback, in one run, pinned: every server on core 0 (`taskset -c 0`), wrk on core 1
# (`taskset -c 1 wrk -t1`), so the load generator never competes with the server measured.
# Rounds alternate the order of the servers; the summary gives medians, the spread (min-max)
# and the ratios "ours / nginx" and "ours / bare Beast".
#   GET /health                 spearlet   vs nginx `return 200` (1 worker) and bare Beast
#   GET /nope (404)             spearlet   (same references; and / our health)
#   GET /status/{id}            spearlet, a completed execution (same references)
#   POST ...?mode=async (202)   spearlet, a wasm echo guest: the accept's p99 (target < 1 ms)
#   sync invoke of a C echo     spearlet   vs lighttpd running the same program as CGI
# Build: cmake --build build/release --target spearlet bare_beast_server spear_wasm_guests
# Usage: tools/bench/http_bench.sh [spearlet] [bare_beast_server]
#   (defaults: build/release/src/spearlet, build/release/tools/bench/bare_beast_server)
# Env: ROUNDS (3), DURATION per measurement (5s), CONNECTIONS (20), SERVER_CPU (0), WRK_CPU (1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
spearlet="$(realpath "${1:-$root/build/release/src/spearlet}")"
bare="$(realpath "${2:-$root/build/release/tools/bench/bare_beast_server}")"
rounds="${ROUNDS:-3}"; duration="${DURATION:-5s}"; conns="${CONNECTIONS:-20}"
server_cpu="${SERVER_CPU:-0}"; wrk_cpu="${WRK_CPU:-1}"
for tool in wrk nginx lighttpd cc curl taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk nginx-light lighttpd gcc curl util-linux" >&2; exit 1; }
done
[ -x "$spearlet" ] || { echo "build spearlet first: cmake --build build/release --target spearlet" >&2; exit 1; }
[ -x "$bare" ] || { echo "cmake --build build/release --target bare_beast_server" >&2; exit 1; }
wasm_echo="$(dirname "$spearlet")/../share/spear-edge/functions/wasm/echo.wasm"
[ -f "$wasm_echo" ] || { echo "missing $wasm_echo: cmake --build build/release --target spear_wasm_guests" >&2; exit 1; }

work="$(mktemp -d)"; pids=(); mkdir "$work/m"   # m/NAME: one "rps p99_ms" line per round
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }

# The program both sides run: a CGI header then stdin copied to stdout.
cat > "$work/echo_cgi.c" <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char buf[4096]; ssize_t n;
    fputs("Content-Type: text/plain\r\n\r\n", stdout); fflush(stdout);
    while ((n = read(0, buf, sizeof buf)) > 0) if (write(1, buf, (size_t)n) != n) return 1;
    return 0;
}
C
cc -O2 -o "$work/echo.cgi" "$work/echo_cgi.c"

sp_port=$(free_port)
cat > "$work/spear.json" <<JSON
{"http": {"address": "127.0.0.1", "port": $sp_port, "max_connections": 1024},
 "limits": {"global_concurrency": 64},
 "functions": [
   {"name": "echo", "command": ["$work/echo.cgi"], "max_concurrency": 64, "queue_depth": 1024},
   {"name": "wecho", "runtime": "wasm", "module": "$wasm_echo", "max_concurrency": 64, "queue_depth": 1024}]}
JSON
SPEAR_LOG_LEVEL=warn taskset -c "$server_cpu" "$spearlet" --config "$work/spear.json" 2>"$work/spear.log" & pids+=($!)

ng_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 1024; }
http { access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$ng_port; location / { return 200 '{"status":"ok"}'; } } }
NGINX
taskset -c "$server_cpu" nginx -c "$work/nginx.conf" -p "$work/nginx" 2>/dev/null & pids+=($!)

bb_port=$(free_port)
taskset -c "$server_cpu" "$bare" "$bb_port" & pids+=($!)

lt_port=$(free_port)
mkdir -p "$work/www"; cp "$work/echo.cgi" "$work/www/echo.cgi"
cat > "$work/lighttpd.conf" <<LIGHTTPD
server.document-root = "$work/www"
server.port = $lt_port
server.bind = "127.0.0.1"
server.modules = ("mod_cgi")
server.max-connections = 1024
cgi.assign = (".cgi" => "")
LIGHTTPD
taskset -c "$server_cpu" lighttpd -D -f "$work/lighttpd.conf" 2>/dev/null & pids+=($!)

wait_port "$sp_port"; wait_port "$ng_port"; wait_port "$bb_port"; wait_port "$lt_port"
printf 'wrk.method = "POST"\nwrk.body = "hello from wrk"\n' > "$work/post.lua"
sp="http://127.0.0.1:$sp_port"

# measure NAME URL [script]: one wrk run; appends "rps p99_ms" to $work/m/NAME and prints it.
measure() {
  local out; out=$(taskset -c "$wrk_cpu" wrk -t1 -c"$conns" -d"$duration" --latency ${3:+-s "$3"} "$2")
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$rps $p99" >> "$work/m/$1"
  printf '  %-14s %10s req/s  p99 %7s ms%s\n' "$1" "$rps" "$p99" "${non2xx:+  ($non2xx non-2xx)}"
}

# A completed execution to read back (made per round: the async row fills the status table).
completed_id() {
  curl -sf -D - -o /dev/null --data 'x' "$sp/functions/echo/invoke" | awk -F': ' 'tolower($1)=="x-execution-id" {sub(/\r/,"",$2); print $2}'
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); servers on cpu $server_cpu, wrk -t1 -c$conns on cpu $wrk_cpu; $rounds rounds of $duration per measurement"
for r in $(seq "$rounds"); do
  echo "round $r"
  id=$(completed_id); [ -n "$id" ] || { echo "could not create an execution" >&2; exit 1; }
  # Even rounds run the references first, odd rounds spearlet first.
  if (( r % 2 )); then
    measure health "$sp/health"; measure nope "$sp/nope"; measure status "$sp/status/$id"
    measure nginx "http://127.0.0.1:$ng_port/"; measure bare_beast "http://127.0.0.1:$bb_port/"
    measure sync_invoke "$sp/functions/echo/invoke" "$work/post.lua"; measure lighttpd_cgi "http://127.0.0.1:$lt_port/echo.cgi" "$work/post.lua"
  else
    measure bare_beast "http://127.0.0.1:$bb_port/"; measure nginx "http://127.0.0.1:$ng_port/"
    measure status "$sp/status/$id"; measure nope "$sp/nope"; measure health "$sp/health"
    measure lighttpd_cgi "http://127.0.0.1:$lt_port/echo.cgi" "$work/post.lua"; measure sync_invoke "$sp/functions/echo/invoke" "$work/post.lua"
  fi
  measure async_accept "$sp/functions/wecho/invoke?mode=async" "$work/post.lua"
done

# med NAME COL -> median; spread NAME COL -> "min-max"
med() { awk -v c="$2" '{print $c}' "$work/m/$1" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
spread() { awk -v c="$2" '{print $c}' "$work/m/$1" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "-" hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }

echo
echo "medians over $rounds rounds (spread min-max)"
printf '%-14s %12s %22s %9s %18s\n' measurement "req/s" "spread" "p99 ms" "p99 spread"
for n in health nope status async_accept nginx bare_beast sync_invoke lighttpd_cgi; do
  printf '%-14s %12s %22s %9s %18s\n' "$n" "$(med $n 1)" "$(spread $n 1)" "$(med $n 2)" "$(spread $n 2)"
done
ng=$(med nginx 1); bb=$(med bare_beast 1); h=$(med health 1)
echo
for n in health nope status; do
  printf '%-8s ours/nginx %s   ours/bare Beast %s   /our health %s\n' "$n" \
    "$(ratio "$(med $n 1)" "$ng")" "$(ratio "$(med $n 1)" "$bb")" "$(ratio "$(med $n 1)" "$h")"
done
echo "bare Beast/nginx $(ratio "$bb" "$ng")"
echo "async 202 accept p99 $(med async_accept 2) ms (target < 1 ms)"
echo "sync invoke ours/lighttpd CGI $(ratio "$(med sync_invoke 1)" "$(med lighttpd_cgi 1)") (target >= 1.5x)"
echo "targets: health >= 0.9x nginx; nope and status >= 0.85x our health"
