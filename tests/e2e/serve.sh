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
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

if ! start_server s "$M/digits_mlp.onnx"; then
  bad "server starts" "$(cat "$tmp/s.out" "$tmp/s.err")"; finish
fi
ok "server starts"

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

# Triton's binary tensor extension: the input as raw FP32 bytes after the JSON header, outputs as binary
$PY - "$M/digits_mlp.json" "$tmp/bin" <<'PYEOF'
import json, struct, sys
d = json.load(open(sys.argv[1])); x = d["inputs"][0]["data"]
flat = [v for row in x for v in row] if isinstance(x[0], list) else x
raw = struct.pack("<%df" % len(flat), *flat)
hdr = json.dumps({"inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32",
                              "parameters": {"binary_data_size": len(raw)}}],
                  "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()
open(sys.argv[2] + ".body", "wb").write(hdr + raw)
open(sys.argv[2] + ".hlen", "w").write(str(len(hdr)))
PYEOF
code=$(curl -s -D "$tmp/bin.rh" -o "$tmp/bin.out" -w '%{http_code}' -X POST --data-binary "@$tmp/bin.body" \
  -H "Inference-Header-Content-Length: $(cat "$tmp/bin.hlen")" -H 'Content-Type: application/octet-stream' \
  "$U/v2/models/digits_mlp/infer")
if [[ $code == 200 ]] && $PY - "$tmp/bin.out" "$tmp/bin.rh" <<'PYEOF' 2>"$tmp/pyerr"
import json, struct, sys
body = open(sys.argv[1], "rb").read()
h = [l.split(b":", 1)[1].strip() for l in open(sys.argv[2], "rb").read().splitlines()
     if l.lower().startswith(b"inference-header-content-length:")]
n = int(h[0]); meta = json.loads(body[:n]); o = meta["outputs"][0]
assert o["parameters"]["binary_data_size"] == 80 and len(body) == n + 80, (o, len(body), n)
v = struct.unpack("<20f", body[n:])
assert v[:10].index(max(v[:10])) == 7 and v[10:].index(max(v[10:])) == 6, v
PYEOF
then ok "binary tensors in and out (argmax 7 and 6)"; else bad "binary tensors in and out" "$code $(cat "$tmp/pyerr")"; fi

for i in $(seq 20); do
  curl -s -o "$tmp/c$i" -w '%{http_code}' -X POST --data-binary "@$M/digits_mlp.json" \
    "$U/v2/models/digits_mlp/infer" >"$tmp/s$i" &
done
wait $(jobs -p | grep -v "^$pid\$")
n_ok=0
for i in $(seq 20); do [[ "$(cat "$tmp/s$i")" == 200 ]] && grep -q '"shape":\[2,10\]' "$tmp/c$i" && n_ok=$((n_ok + 1)); done
[[ $n_ok -eq 20 ]] && ok "20 concurrent requests" || bad "20 concurrent requests" "$n_ok of 20 succeeded"

req GET /metrics
expect "metrics" 200 'frugal_requests_total\{model="digits_mlp",version="1",outcome="success",status="200"\} [1-9]'
grep -q 'frugal_request_duration_seconds_count' <<<"$body" && grep -q 'frugal_cost_usd_total' <<<"$body" \
  && ok "metrics has latency and cost" || bad "metrics has latency and cost"

# Prometheus's own linter (Debian package prometheus, installed by scripts/setup.sh)
curl -s "$U/metrics" >"$tmp/metrics.txt"
if promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.log" 2>&1; then ok "promtool check metrics accepts /metrics"
else bad "promtool check metrics accepts /metrics" "$(head -5 "$tmp/promtool.log")"; fi

stop_server
if [[ -z "$rc" ]]; then bad "SIGTERM exits within 10 s" "still running"
elif [[ $rc -ne 0 ]]; then bad "SIGTERM exits 0" "exit $rc: $(cat "$tmp/s.err")"
else ok "SIGTERM exits 0"; fi
grep -q '^digits_mlp v1 ' "$tmp/s.out" && ok "KPI table printed at exit" || bad "KPI table printed at exit" "$(cat "$tmp/s.out")"
finish
