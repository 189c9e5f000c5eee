#!/usr/bin/env bash
# HTTP benchmark (not a test): in one run, wrk against spearlet and its peers on loopback,
# printing requests/s, latency and our/peer ratios.
#   1. GET /health                      vs nginx `return 200` (1 worker)
#   2. sync invoke of an echo program   vs lighttpd running the same program as CGI
# Usage: tools/bench/http_bench.sh [path/to/spearlet]   (default: build/release/src/spearlet)
# Env: DURATION (default 10s), CONNECTIONS (20), THREADS (2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
spearlet="${1:-$root/build/release/src/spearlet}"
duration="${DURATION:-10s}"; conns="${CONNECTIONS:-20}"; threads="${THREADS:-2}"
for tool in wrk nginx lighttpd cc; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk nginx-light lighttpd gcc" >&2; exit 1; }
done
[ -x "$spearlet" ] || { echo "build spearlet first (tools/dev run, or cmake --build)" >&2; exit 1; }

work="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }

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
 "functions": [{"name": "echo", "command": ["$work/echo.cgi"], "max_concurrency": 64, "queue_depth": 1024}]}
JSON
SPEAR_LOG_LEVEL=warn "$spearlet" --config "$work/spear.json" 2>"$work/spear.log" & pids+=($!)

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
nginx -c "$work/nginx.conf" -p "$work/nginx" 2>/dev/null & pids+=($!)

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
lighttpd -D -f "$work/lighttpd.conf" & pids+=($!)

wait_port "$sp_port"; wait_port "$ng_port"; wait_port "$lt_port"
printf 'wrk.method = "POST"\nwrk.body = "hello from wrk"\n' > "$work/post.lua"

# run_wrk URL [script] -> prints "rps p99_ms"
run_wrk() {
  local out; out=$(wrk -t"$threads" -c"$conns" -d"$duration" --latency ${2:+-s "$2"} "$1")
  local rps p99; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); [ -n "$non2xx" ] && echo "  ($1: $non2xx non-2xx responses)" >&2
  echo "$rps ${p99:-?}"
}

echo "machine: $(nproc) cores; wrk -t$threads -c$conns -d$duration; loopback"
read -r h_rps h_p99 < <(run_wrk "http://127.0.0.1:$sp_port/health")
read -r n_rps n_p99 < <(run_wrk "http://127.0.0.1:$ng_port/")
echo "GET /health        spearlet: $h_rps req/s (p99 $h_p99 ms)   nginx return 200: $n_rps req/s (p99 $n_p99 ms)"
awk -v a="$h_rps" -v b="$n_rps" 'BEGIN {printf "  ratio spearlet/nginx: %.2fx (target >= 0.9x)\n", a/b}'

read -r s_rps s_p99 < <(run_wrk "http://127.0.0.1:$sp_port/functions/echo/invoke" "$work/post.lua")
read -r l_rps l_p99 < <(run_wrk "http://127.0.0.1:$lt_port/echo.cgi" "$work/post.lua")
echo "sync echo invoke   spearlet: $s_rps req/s (p99 $s_p99 ms)   lighttpd CGI: $l_rps req/s (p99 $l_p99 ms)"
awk -v a="$s_rps" -v b="$l_rps" 'BEGIN {printf "  ratio spearlet/lighttpd-cgi: %.2fx (target >= 1.5x)\n", a/b}'
