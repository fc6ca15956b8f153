#!/usr/bin/env bash
# End-to-end tests of `frugal serve REPO_DIR`: a Triton-layout repository with config.pbtxt (unknown fields
# warn), auto-config, batching visible in the metrics, request splitting, queue-full and timeout 503s,
# repository index/load/unload, version switches under load (poll and explicit) with zero failed
# requests, and a SIGTERM drain that answers every admitted request.
# usage: repo.sh FRUGAL_BINARY
set -u
F=${1:?usage: repo.sh FRUGAL_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models
PY=/usr/bin/python3
tmp=$(mktemp -d)
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

# request bodies: 1 row, and 20 rows (rows alternate the digits 7 and 6 of digits_mlp.json)
$PY - "$M/digits_mlp.json" "$tmp" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1])); x = d["inputs"][0]["data"]
flat = [v for row in x for v in row] if isinstance(x[0], list) else x
r0, r1 = flat[:64], flat[64:128]
def body(rows, extra=None):
    b = {"inputs": [{"name": "input", "shape": [len(rows), 64], "datatype": "FP32", "data": [v for r in rows for v in r]}]}
    if extra: b.update(extra)
    return json.dumps(b)
open(sys.argv[2] + "/one.json", "w").write(body([r0]))
open(sys.argv[2] + "/twenty.json", "w").write(body([r0, r1] * 10))
open(sys.argv[2] + "/timeout.json", "w").write(body([r0], {"parameters": {"timeout": 1000}}))
open(sys.argv[2] + "/flat.json", "w").write(json.dumps(
    {"inputs": [{"name": "input", "shape": [64], "datatype": "FP32", "data": r0}]}))
PYEOF

R=$tmp/repo
mkdir -p "$R/digits/1" "$R/cnn/1" "$R/flat/1"
cp "$M/digits_mlp.onnx" "$R/digits/1/model.onnx"
cp "$M/digits_cnn.onnx" "$R/cnn/1/model.onnx"
cp "$M/digits_cnn.onnx" "$R/flat/1/model.onnx"
# Triton's densenet_onnx example style: no batching, request shapes reshaped for the model
cat >"$R/flat/config.pbtxt" <<'CFG'
name: "flat"
platform: "onnxruntime_onnx"
max_batch_size : 0
input [ { name: "input", data_type: TYPE_FP32, format: FORMAT_NCHW, dims: [ 64 ], reshape { shape: [ 1, 1, 8, 8 ] } } ]
output [ { name: "logits", data_type: TYPE_FP32, dims: [ 10 ], reshape { shape: [ 1, 10 ] }, label_filename: "labels.txt" } ]
CFG
cat >"$R/digits/config.pbtxt" <<'CFG'
# a Triton config, as Triton's model repository documentation writes them
name: "digits"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input", data_type: TYPE_FP32, dims: [ 64 ] } ]
output [ { name: "logits", data_type: TYPE_FP32, dims: [ 10 ] } ]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 100000
}
instance_group [ { count: 1, kind: KIND_CPU } ]
version_policy: { latest: { num_versions: 1 } }
optimization { execution_accelerators { cpu_execution_accelerator: [ { name: "openvino" } ] } }
model_transaction_policy { decoupled: false }
custom_knob: 3
CFG

if ! start_server r "$R" --poll-secs 1; then
  bad "repository server starts" "$(cat "$tmp/r.out" "$tmp/r.err")"; finish
fi
ok "repository server starts"
grep -q "(3 models, 3 versions)" "$tmp/r.out" && ok "three models loaded" || bad "three models loaded" "$(cat "$tmp/r.out")"
grep -q "field 'optimization'" "$tmp/r.err" && grep -q "field 'model_transaction_policy'" "$tmp/r.err" \
  && grep -q "unknown field 'custom_knob'" "$tmp/r.err" \
  && ok "unknown config fields are warnings naming them" || bad "unknown config fields warn" "$(cat "$tmp/r.err")"

req GET /v2/models/digits; expect "config model metadata" 200 '"versions":\["1"\].*"shape":\[-1,64\]'
req GET /v2/models/cnn;    expect "auto-config model metadata" 200 '"name":"cnn"'
req POST /v2/models/digits/infer --data-binary "@$tmp/one.json"
expect "infer on the configured model" 200 '"model_version":"1".*"shape":\[1,10\]'
req GET /v2/models/flat;   expect "metadata shows the config's request shapes" 200 '"shape":\[64\].*"shape":\[10\]'
req POST /v2/models/flat/infer --data-binary "@$tmp/flat.json"
if [[ $code == 200 ]] && $PY -c '
import json, sys
o = json.load(sys.stdin)["outputs"][0]; d = o["data"]
assert o["shape"] == [10], o["shape"]
assert d.index(max(d)) == 7, d
' <<<"$body" 2>"$tmp/pyerr"; then ok "config reshape: a [64] request runs as [1,1,8,8], answers [10] (argmax 7)"
else bad "config reshape" "$code ${body:0:300} $(cat "$tmp/pyerr")"; fi
req POST /v2/repository/index
expect "repository index" 200 '\{"name":"cnn","version":"1","state":"READY"\}.*\{"name":"digits","version":"1","state":"READY"\}.*\{"name":"flat","version":"1","state":"READY"\}'

# batching: 16 concurrent 1-row requests inside the 100 ms delay run as batches of more than one
for i in $(seq 16); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST --data-binary "@$tmp/one.json" "$U/v2/models/digits/infer" >"$tmp/b$i" &
done
wait $(jobs -p | grep -v "^$pid\$")
n200=$(cat "$tmp"/b* | grep -c '^200$')
batches=$(metric 'frugal_batches_total{model="digits",version="1"}')
items=$(metric 'frugal_batch_items_total{model="digits",version="1"}')
le1=$(metric 'frugal_batch_size_bucket{model="digits",version="1",le="1"}')
count=$(metric 'frugal_batch_size_count{model="digits",version="1"}')
if [[ $n200 -eq 16 && -n "$batches" ]] && $PY -c "import sys; b,i,l,c=map(float,sys.argv[1:]); sys.exit(0 if i>=17 and b<i and l<c else 1)" "$batches" "$items" "$le1" "$count"; then
  ok "concurrent requests form batches > 1 (batches $batches for $items items; histogram: $le1 of $count at size 1)"
else bad "concurrent requests form batches > 1" "200s: $n200, batches $batches, items $items, le=1 $le1, count $count"; fi

# splitting: 20 rows with max_batch_size 8 come back whole and in order
req POST /v2/models/digits/infer --data-binary "@$tmp/twenty.json"
if [[ $code == 200 ]] && $PY -c '
import json, sys
o = json.load(sys.stdin)["outputs"][0]; d = o["data"]
assert o["shape"] == [20, 10], o["shape"]
am = [d[i*10:(i+1)*10].index(max(d[i*10:(i+1)*10])) for i in range(20)]
assert am == [7, 6] * 10, am
' <<<"$body" 2>"$tmp/pyerr"; then ok "a 20-row request is split over batches of 8 and reassembled in order"
else bad "request splitting" "$code $(head -c 300 <<<"$body") $(cat "$tmp/pyerr")"; fi

# unload / load
req POST /v2/repository/models/cnn/unload; expect "unload" 200 ''
req GET /v2/models/cnn/ready;              expect "unloaded model is not ready (503)" 503 '"error"'
req POST /v2/models/cnn/infer --data-binary "@$tmp/one.json"; expect "infer on an unloaded model is 503" 503 'not ready'
req POST /v2/repository/index;             expect "index shows the unloaded model" 200 '"name":"cnn","state":"UNAVAILABLE","reason":"unloaded"'
req POST /v2/repository/models/cnn/load;   expect "load" 200 ''
req GET /v2/models/cnn/ready;              expect "reloaded model is ready" 200 '"ready":true'
req POST /v2/repository/models/nothing/load; expect "loading an unknown model is 404" 404 'no model'
req POST /v2/repository/models/..%2Fx/load;  expect "a path-like model name is 400" 400 'not a valid model name'
req GET /v2/repository/index;              expect "GET on the index is 405" 405 '"error"'
req POST /v2/models/digits/versions/7/infer --data-binary "@$tmp/one.json"; expect "unknown version is 404" 404 'no version 7'

# version switch under load: two clients send requests back to back while version 2 appears (picked up by
# polling) and version 3 is loaded explicitly; every request must succeed
drive() { # file: status and model_version of each response, until $tmp/stop exists
  while [[ ! -e "$tmp/stop" ]]; do
    curl -s -X POST --data-binary "@$tmp/one.json" -w ' %{http_code}\n' "$U/v2/models/digits/infer" \
      | sed -n 's/.*"model_version":"\([0-9]*\)".* \([0-9]*\)$/\2 v\1/p; /^ *[0-9]*$/p' >>"$1"
  done
}
drive "$tmp/load1" & d1=$!
drive "$tmp/load2" & d2=$!
sleep 0.5
mkdir "$R/digits/.2.tmp" && cp "$M/digits_mlp.onnx" "$R/digits/.2.tmp/model.onnx" && mv "$R/digits/.2.tmp" "$R/digits/2"
for _ in $(seq 100); do grep -q ' v2$' "$tmp/load1" 2>/dev/null && break; sleep 0.1; done
mkdir "$R/digits/.3.tmp" && cp "$M/digits_mlp.onnx" "$R/digits/.3.tmp/model.onnx" && mv "$R/digits/.3.tmp" "$R/digits/3"
req POST /v2/repository/models/digits/load; load_code=$code
sleep 0.5
touch "$tmp/stop"; wait $d1 $d2
total=$(cat "$tmp/load1" "$tmp/load2" | wc -l)
failed=$(cat "$tmp/load1" "$tmp/load2" | grep -vc '^200 v')
v2=$(cat "$tmp/load1" "$tmp/load2" | grep -c ' v2$'); v3=$(cat "$tmp/load1" "$tmp/load2" | grep -c ' v3$')
if [[ $load_code == 200 && $failed -eq 0 && $v2 -gt 0 && $v3 -gt 0 && $total -gt 20 ]]; then
  ok "version switch 1 -> 2 (poll) -> 3 (load) under load: $total requests, 0 failed ($v2 on v2, $v3 on v3)"
else bad "version switch under load" "load $load_code, total $total, failed $failed, v2 $v2, v3 $v3: $(grep -v '^200 v' "$tmp/load1" "$tmp/load2" | head -3)"; fi
req GET /v2/models/digits; expect "only the latest version stays loaded" 200 '"versions":\["3"\]'

stop_server
[[ "$rc" == 0 ]] && ok "SIGTERM exits 0" || bad "SIGTERM exits 0" "exit '$rc': $(tail -5 "$tmp/r.err")"

# queue policy on a single file: a 300 ms batching delay keeps the first request queued
if start_server q "$M/digits_mlp.onnx" --max-queue 1 --max-queue-delay-us 300000 --max-batch 8 --batch-delay fixed; then
  curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$tmp/one.json" "$U/v2/models/digits_mlp/infer" >"$tmp/first" &
  cpid=$!
  sleep 0.1
  req POST /v2/models/digits_mlp/infer --data-binary "@$tmp/one.json"; expect "queue full is 503 at once" 503 'queue'
  wait $cpid
  [[ $(cat "$tmp/first") == 200 ]] && ok "the queued request still succeeds" || bad "the queued request still succeeds" "$(cat "$tmp/first")"
  req POST /v2/models/digits_mlp/infer --data-binary "@$tmp/timeout.json"; expect "a 1 ms timeout in a 300 ms queue is 503" 503 'time'
  r=$(metric 'frugal_requests_total{model="digits_mlp",version="1",outcome="rejected",status="503"}')
  t=$(metric 'frugal_requests_total{model="digits_mlp",version="1",outcome="timeout",status="503"}')
  [[ "$r" == 1 && "$t" == 1 ]] && ok "rejected and timed-out requests are counted" || bad "rejected/timeout counted" "rejected '$r' timeout '$t'"
  stop_server
else bad "queue server starts" "$(cat "$tmp/q.err")"; fi

# SIGTERM drain: requests admitted before the signal are all answered
if start_server d "$M/digits_mlp.onnx" --max-queue-delay-us 400000 --max-batch 64 --batch-delay fixed; then
  for i in $(seq 12); do
    curl -s -o "$tmp/dr$i" -w '%{http_code}' -X POST --data-binary "@$tmp/one.json" "$U/v2/models/digits_mlp/infer" >"$tmp/ds$i" &
  done
  sleep 0.2
  stop_server
  wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null
  n=0; for i in $(seq 12); do [[ $(cat "$tmp/ds$i") == 200 ]] && grep -q '"shape":\[1,10\]' "$tmp/dr$i" && n=$((n + 1)); done
  [[ $n -eq 12 && "$rc" == 0 ]] && ok "SIGTERM answers all 12 queued requests and exits 0" || bad "SIGTERM drain" "$n of 12 answered, exit '$rc'"
else bad "drain server starts" "$(cat "$tmp/d.err")"; fi

# management safety: load/unload from a non-loopback address need the admin token
H=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -v '^127\.' | head -1)
if [[ -z "$H" ]]; then
  echo "skip management from a non-loopback address: this machine has no IPv4 address besides loopback"
elif start_server m "$M/digits_mlp.onnx" --host 0.0.0.0; then
  RU=${U/127.0.0.1/$H}
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST "$RU/v2/repository/models/digits_mlp/unload")
  [[ $code == 403 ]] && grep -q 'only from loopback' "$tmp/body" && ok "remote unload without --admin-token is 403" \
    || bad "remote unload without --admin-token is 403" "$code $(cat "$tmp/body")"
  req POST /v2/repository/models/digits_mlp/load; expect "loopback load needs no token" 200 ''
  stop_server
  FRUGAL_ADMIN_TOKEN=s3cret start_server m2 "$M/digits_mlp.onnx" --host 0.0.0.0
  RU=${U/127.0.0.1/$H}
  c1=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$RU/v2/repository/models/digits_mlp/unload")
  c2=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer nope' "$RU/v2/repository/models/digits_mlp/unload")
  c3=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer s3cret' "$RU/v2/repository/models/digits_mlp/unload")
  c4=$(curl -s -o /dev/null -w '%{http_code}' "$RU/v2/models/digits_mlp/ready")
  [[ "$c1 $c2 $c3 $c4" == "401 403 200 503" ]] && ok "admin token: none 401, wrong 403, right 200 (model unloaded)" \
    || bad "admin token" "got $c1 $c2 $c3 $c4, want 401 403 200 503"
  stop_server
else bad "management server starts" "$(cat "$tmp/m.err")"; fi

# a config error stops the server with the file, line and column
mkdir -p "$tmp/bad/m/1" && cp "$M/digits_mlp.onnx" "$tmp/bad/m/1/model.onnx"
printf 'name: "m"\nmax_batch_size: "eight"\n' >"$tmp/bad/m/config.pbtxt"
"$F" serve "$tmp/bad" --port 0 >"$tmp/bad.out" 2>"$tmp/bad.err"; brc=$?
[[ $brc -eq 1 ]] && grep -q 'config.pbtxt:2:' "$tmp/bad.err" && ok "a bad config.pbtxt fails the start with its line" \
  || bad "bad config fails the start" "exit $brc: $(cat "$tmp/bad.err")"

# SIGTERM while models load: loading stops after the current model, exit 0 (not after all 8 warmups)
for i in 1 2 3 4 5 6 7 8; do
  mkdir -p "$tmp/slow/m$i/1" && cp "$M/digits_cnn.onnx" "$tmp/slow/m$i/1/model.onnx"
  printf 'max_batch_size: 64
model_warmup [ { name: "slow" batch_size: 64 count: 3000 inputs { key: "input" value { data_type: TYPE_FP32 dims: [ 1, 8, 8 ] zero_data: true } } } ]
' \
    >"$tmp/slow/m$i/config.pbtxt"
done
"$F" serve "$tmp/slow" --port 0 >"$tmp/slow.out" 2>"$tmp/slow.err" & spid=$!; pids+=("$spid")
for _ in $(seq 100); do grep -q "model 'm1' version 1 is ready" "$tmp/slow.err" && break; sleep 0.05; done
kill -TERM "$spid"; wait "$spid"; src=$?
loaded=$(sed -n 's/.*stopped while loading models (\([0-9]*\) of 8 loaded).*/\1/p' "$tmp/slow.err")
[[ $src -eq 0 && -n "$loaded" && "$loaded" -lt 8 ]] && ! grep -q "ready on" "$tmp/slow.out" &&
  ok "SIGTERM during startup stops loading ($loaded of 8 models loaded), exit 0" || bad "SIGTERM during startup" "exit $src: $(tail -3 "$tmp/slow.err")"
finish
