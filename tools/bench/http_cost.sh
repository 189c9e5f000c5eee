#!/usr/bin/env bash
# HTTP cost per request (not a test), independent of the machine's load: user-space
# instructions per request (valgrind --tool=callgrind, counters zeroed after a warm-up) and
# system calls per request (strace -c -f), for spearlet's hot routes and the two references
# (nginx `return 200` in one process, the bare Beast server). Requests come from wrk for a
# fixed time; the count it reports is the divisor (wrk's in-flight overlap: < 20 requests).
# Wall-clock speed is http_bench.sh's job; these counts decide what a change saves.
# Usage: tools/bench/http_cost.sh [spearlet] [bare_beast_server]
# Env: DURATION (4s), ONLY (a regex: only the rows whose name matches)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
spearlet="$(realpath "${1:-$root/build/release/src/spearlet}")"
bare="$(realpath "${2:-$root/build/release/tools/bench/bare_beast_server}")"
duration="${DURATION:-4s}"
for tool in wrk nginx valgrind callgrind_control strace curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk nginx-light valgrind strace curl" >&2; exit 1; }
done
wasm_echo="$(dirname "$spearlet")/../share/spear-edge/functions/wasm/echo.wasm"
work="$(mktemp -d)"; server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }
printf 'wrk.method = "POST"\nwrk.body = "hello from wrk"\n' > "$work/post.lua"
printf '#!/bin/sh\ncat\n' > "$work/echo.sh"; chmod +x "$work/echo.sh"

# start KIND WRAPPER... : starts one server (spearlet, nginx or bare) under WRAPPER; sets port, server.
start() {
  local kind="$1"; shift
  port=$(free_port)
  case "$kind" in
  spearlet)
    cat > "$work/spear.json" <<JSON
{"http": {"address": "127.0.0.1", "port": $port},
 "functions": [{"name": "echo", "command": ["$work/echo.sh"]},
               {"name": "wecho", "runtime": "wasm", "module": "$wasm_echo", "max_concurrency": 64, "queue_depth": 1024}]}
JSON
    SPEAR_LOG_LEVEL=warn "$@" "$spearlet" --config "$work/spear.json" 2>>"$work/server.log" & ;;
  nginx)
    mkdir -p "$work/nginx"
    cat > "$work/nginx.conf" <<NGINX
master_process off; worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$port; location / { return 200 '{"status":"ok"}'; } } }
NGINX
    "$@" nginx -c "$work/nginx.conf" -p "$work/nginx" 2>>"$work/server.log" & ;;
  bare) "$@" "$bare" "$port" 2>>"$work/server.log" & ;;
  esac
  server=$!
  wait_port "$port"
}
# stop: the server itself (under strace: strace's child, after which strace writes its summary).
stop() {
  local kids; kids=$(ps --ppid "$server" -o pid= || true)
  kill -TERM ${kids:-$server} 2>/dev/null || true
  wait "$server" 2>/dev/null || true; server=""
}
load() { wrk -t1 -c20 -d"$duration" ${2:+-s "$2"} "$1" | awk '/requests in/ {print $1}'; }

# cost KIND PATH [script]: prints "instructions/request syscalls/request".
cost() {
  local kind="$1" path="$2" script="${3:-}" n ir calls target
  # callgrind: zero after a warm-up, load, dump.
  start "$kind" valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" --trace-children=no
  target="http://127.0.0.1:$port$path"
  [ "$path" = STATUS ] && target="http://127.0.0.1:$port/status/$(completed_id)"
  load "$target" "$script" >/dev/null
  callgrind_control -z "$server" >/dev/null 2>&1
  n=$(load "$target" "$script")
  callgrind_control -d "$server" >/dev/null 2>&1
  ir=$(cat "$work"/cg.*.* | awk '/^summary:/ {s+=$2} END {print s}')
  rm -f "$work"/cg.*; stop
  # strace: every system call of the server (and its children) during the load.
  start "$kind" strace -c -f -o "$work/strace.txt"
  target="http://127.0.0.1:$port$path"
  [ "$path" = STATUS ] && target="http://127.0.0.1:$port/status/$(completed_id)"
  local n2; n2=$(load "$target" "$script")   # start-up's few hundred calls count too (< 1 %)
  stop
  calls=$(awk '$NF=="total" {print $4}' "$work/strace.txt")
  echo "$ir $n $calls $n2"
}

completed_id() {
  curl -sf -D - -o /dev/null --data 'x' "http://127.0.0.1:$port/functions/echo/invoke" |
    awk -F': ' 'tolower($1)=="x-execution-id" {sub(/\r/,"",$2); print $2}'
}

printf '%-26s %14s %16s\n' measurement "instr/request" "syscalls/request"
row() {
  local name="$1"; shift
  [[ -n "${ONLY:-}" && ! "$name" =~ $ONLY ]] && return 0
  read -r ir n calls n2 < <(cost "$@")
  awk -v name="$name" -v ir="$ir" -v n="$n" -v c="$calls" -v n2="$n2" \
    'BEGIN {printf "%-26s %14.0f %16.2f\n", name, ir/n, c/n2}'
}
row "nginx return 200" nginx /
row "bare Beast" bare /
row "spearlet GET /health" spearlet /health
row "spearlet GET /nope (404)" spearlet /nope
row "spearlet GET /status/{id}" spearlet STATUS
row "spearlet async 202 (wasm)" spearlet "/functions/wecho/invoke?mode=async" "$work/post.lua"
