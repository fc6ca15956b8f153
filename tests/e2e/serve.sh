#!/usr/bin/env bash
# End-to-end tests of `frugal serve`: starts the real binary on digits_mlp.onnx on a free port and checks
# the KServe v2 routes, inference results, errors, concurrency, /metrics and a clean SIGTERM shutdown.
# usage: serve.sh FRUGAL_BINARY
set -u
F=${1:?usage: serve.sh FRUGAL_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models
PY=/usr/bin/python3
tmp=$(mktemp -d)
pid=
cleanup() { [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok   $1"; }
bad()  { fail=$((fail + 1)); echo "FAIL $1"; [[ -n "${2:-}" ]] && echo "     $2"; }
command -v curl >/dev/null || { echo "curl is missing (scripts/setup.sh installs it)"; exit 1; }

"$F" serve "$M/digits_mlp.onnx" --port 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n '1s|^frugal serve: model digits_mlp on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$tmp/out")
  [[ -n "$port" ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$port" ]]; then
  bad "server starts" "$(cat "$tmp/out" "$tmp/err")"; echo "$pass passed, $fail failed"; exit 1
fi
ok "server starts on port $port"
U=http://127.0.0.1:$port

req() { # method path [curl args...]: sets code and body
  local m=$1 p=$2; shift 2
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" "$@" "$U$p"); body=$(cat "$tmp/body")
}
expect() { # name, status, grep pattern on body
  if [[ "$code" != "$2" ]]; then bad "$1" "status $code: $body"; return; fi
  if [[ -n "$3" ]] && ! grep -qE -- "$3" <<<"$body"; then bad "$1" "no /$3/ in: $body"; return; fi
  ok "$1"
}

req GET /v2/health/live;  expect "health live" 200 ''
req GET /v2/health/ready; expect "health ready" 200 ''
req GET /v2;              expect "server metadata" 200 '"frugal"'
req GET /v2/models/digits_mlp; expect "model metadata" 200 '"name":"input"'
req GET /v2/models/digits_mlp/versions/1; expect "model version metadata" 200 '"logits"'
req GET /v2/models/digits_mlp/ready; expect "model ready" 200 ''

req POST /v2/models/digits_mlp/infer --data-binary "@$M/digits_mlp.json"
expect "infer" 200 '"logits"'
if $PY -c '
import json, sys
o = json.load(sys.stdin)["outputs"][0]
assert o["name"] == "logits" and o["shape"] == [2, 10], o["shape"]
d = o["data"]; r0, r1 = d[:10], d[10:]
assert r0.index(max(r0)) == 7 and r1.index(max(r1)) == 6, (r0, r1)
' <<<"$body" 2>"$tmp/pyerr"; then ok "infer shape [2,10], argmax 7 and 6"; else bad "infer shape [2,10], argmax 7 and 6" "$(cat "$tmp/pyerr")"; fi

req POST /v2/models/digits_mlp/versions/1/infer --data-binary "@$M/digits_mlp.json"
expect "infer on version 1" 200 '"shape":\[2,10\]'
req POST /v2/models/digits_mlp/infer -d '{not json'
expect "bad body is 400" 400 '"error"'
req POST /v2/models/digits_mlp/infer -d '{"inputs":[{"name":"pixels","shape":[1,64],"datatype":"FP32","data":[0]}]}'
expect "wrong input is 400" 400 '"error"'
req POST /v2/models/nope/infer --data-binary "@$M/digits_mlp.json"
expect "unknown model is 404" 404 '"error"'
req GET /v2/nothing-here; expect "unknown route is 404" 404 '"error"'
req GET /v2/models/digits_mlp/infer; expect "GET infer is 405" 405 '"error"'

for i in $(seq 20); do
  curl -s -o "$tmp/c$i" -w '%{http_code}' -X POST --data-binary "@$M/digits_mlp.json" \
    "$U/v2/models/digits_mlp/infer" >"$tmp/s$i" &
done
wait $(jobs -p | grep -v "^$pid\$")
n_ok=0
for i in $(seq 20); do [[ "$(cat "$tmp/s$i")" == 200 ]] && grep -q '"shape":\[2,10\]' "$tmp/c$i" && n_ok=$((n_ok + 1)); done
[[ $n_ok -eq 20 ]] && ok "20 concurrent requests" || bad "20 concurrent requests" "$n_ok of 20 succeeded"

req GET /metrics
expect "metrics" 200 'frugal_requests_total\{model="digits_mlp",version="1",status="200"\} [1-9]'
grep -q 'frugal_request_duration_seconds_count' <<<"$body" && grep -q 'frugal_cost_usd_total' <<<"$body" \
  && ok "metrics has latency and cost" || bad "metrics has latency and cost"

kill -TERM "$pid"
rc=
for _ in $(seq 50); do
  if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; rc=$?; break; fi
  sleep 0.1
done
if [[ -z "$rc" ]]; then bad "SIGTERM exits within 5 s" "still running"
elif [[ $rc -ne 0 ]]; then bad "SIGTERM exits 0" "exit $rc: $(cat "$tmp/err")"
else ok "SIGTERM exits 0"; fi
pid=

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
