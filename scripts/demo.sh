#!/usr/bin/env bash
# The main job on the bundled model: starts `frugal serve` on models/digits_mlp.onnx, drives it for a few
# seconds with wrk (64 connections posting a 2-image KServe v2 request), stops it with SIGTERM and prints
# the KPI table the server writes on its way out (latency p50/p95/p99, throughput, batch efficiency, idle
# share, cost per 1k requests).
#   scripts/demo.sh                      # after scripts/setup.sh && scripts/build.sh
#   FRUGAL=build/frugal DURATION=10s PRICE=0.085 scripts/demo.sh
# PRICE is the machine's price per hour in USD (default: 0.085, an example figure for a 2-vCPU cloud VM;
# put your own).
set -euo pipefail
cd "$(dirname "$0")/.."
F=${FRUGAL:-build/frugal}
DURATION=${DURATION:-5s}
PRICE=${PRICE:-0.085}
command -v wrk >/dev/null || { echo "demo.sh: wrk is missing (scripts/setup.sh installs it)" >&2; exit 1; }
[[ -x "$F" ]] || { echo "demo.sh: $F is missing (run scripts/build.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
trap '[[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

: >"$tmp/out"
"$F" serve models/digits_mlp.onnx --port 0 --max-batch 32 --price-per-hour "$PRICE" >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=
for _ in $(seq 300); do
  url=$(sed -n 's|^frugal serve: ready on \(http://[^ ]*\) .*|\1|p' "$tmp/out")
  [[ -n "$url" ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$url" ]] || { echo "demo.sh: frugal serve did not start:" >&2; cat "$tmp/err" >&2; exit 1; }
head -1 "$tmp/out"

cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("models/digits_mlp.json", "rb"))
wrk.body = f:read("*a")
f:close()
LUA
echo "driving $url/v2/models/digits_mlp/infer for $DURATION with wrk (64 connections) ..."
wrk -t 1 -c 64 -d "$DURATION" -s "$tmp/post.lua" "$url/v2/models/digits_mlp/infer" >"$tmp/wrk"
grep -E "Requests/sec|Non-2xx|Socket errors" "$tmp/wrk" || true

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
if [[ $rc -ne 0 ]]; then echo "demo.sh: frugal serve exited $rc" >&2; cat "$tmp/err" >&2; exit 1; fi
sed -n '2,$p' "$tmp/out"
if grep -q "Non-2xx" "$tmp/wrk"; then echo "demo.sh: some requests failed" >&2; exit 1; fi
