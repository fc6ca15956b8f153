#!/usr/bin/env bash
# End-to-end tests of the response cache: local hits, key canonicalization across JSON spellings,
# admission, TTL, purge, and Redis as a shared second level with a real redis-server: a second server
# sees the first one's results, killing Redis fails no request, Redis coming back is used again.
# usage: cache.sh FRUGAL_BINARY
set -u
F=${1:?usage: cache.sh FRUGAL_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models
PY=/usr/bin/python3
tmp=$(mktemp -d)
. "$(dirname "$0")/lib.sh"
redis_pid=
trap 'cleanup; [[ -n "$redis_pid" ]] && kill -KILL "$redis_pid" 2>/dev/null' EXIT
command -v redis-server >/dev/null || { echo "redis-server is missing (scripts/setup.sh installs it)"; finish; }

# bodies: the same 1-row input written three ways (flat, nested with whitespace and keys reordered, and
# integers spelled as floats), and inputs numbered N for unique requests
$PY - "$M/digits_mlp.json" "$tmp" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1])); x = d["inputs"][0]["data"]
flat = [v for row in x for v in row] if isinstance(x[0], list) else x
r0 = flat[:64]
open(sys.argv[2] + "/a.json", "w").write(json.dumps(
    {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": r0}]}))
open(sys.argv[2] + "/a2.json", "w").write(
    '{ "inputs" : [ { "datatype" : "FP32", "data" : [ ' + json.dumps([r0])[1:-1].replace(",", " ,\n ")
    + ' ], "shape" : [ 1 , 64 ], "name" : "input" } ] , "id": "other" }')
open(sys.argv[2] + "/a3.json", "w").write(
    '{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":['
    + ",".join(("%.1f" % v) if float(v).is_integer() else repr(v) for v in r0) + ']}]}')
for n in range(200):
    row = list(r0); row[0] = float(n) + 0.5
    open(sys.argv[2] + "/u%d.json" % n, "w").write(json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}]}))
PYEOF

hit() { # URL BODY: prints the X-Frugal-Cache header value (or the HTTP status when not 200)
  local out; out=$(curl -s -D - -o "$tmp/hb" -X POST --data-binary "@$2" "$1/v2/models/digits_mlp/infer")
  local st; st=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' <<<"$out")
  if [[ "$st" != 200 ]]; then echo "status-$st"; return; fi
  sed -n 's/^X-Frugal-Cache: \([a-z-]*\).*/\1/Ip' <<<"$out" | tr -d '\r'
}

# ---- local cache, admission all, TTL 2 s
if ! start_server a "$M/digits_mlp.onnx" --cache-bytes 16M --cache-admission all --cache-ttl 2; then
  bad "cached server starts" "$(cat "$tmp/a.err")"; finish
fi
L=$U
r1=$(hit "$L" "$tmp/a.json"); r2=$(hit "$L" "$tmp/a.json")
[[ "$r1 $r2" == "miss hit-local" ]] && ok "first request computes, the second is a local hit" || bad "miss then hit" "$r1 $r2"
cp "$tmp/hb" "$tmp/hit.json"
r3=$(hit "$L" "$tmp/a2.json"); r4=$(hit "$L" "$tmp/a3.json")
[[ "$r3 $r4" == "hit-local hit-local" ]] && ok "the same tensor in other JSON spellings (nesting, whitespace, key order, 1.0) hits" \
  || bad "key canonicalization" "$r3 $r4"
grep -q '"id":"other"' "$tmp/hb" 2>/dev/null || true
r5=$(curl -s -X POST --data-binary "@$tmp/a2.json" "$L/v2/models/digits_mlp/infer")
grep -q '"id":"other"' <<<"$r5" && ok "a hit echoes its own request id" || bad "a hit echoes its own request id" "$r5"
sleep 2.5
r6=$(hit "$L" "$tmp/a.json")
[[ "$r6" == miss ]] && ok "an entry expires after --cache-ttl" || bad "TTL" "$r6"
req POST /v2/models/digits_mlp/cache/purge; expect "purge (decoded and raw-body entries)" 200 '"purged":[1-9]'
r7=$(hit "$L" "$tmp/a.json")
[[ "$r7" == miss ]] && ok "purged entries are gone" || bad "purge" "$r7"
req POST /v2/models/nope/cache/purge; expect "purging an unknown model is 404" 404 'no model'
n=$(metric 'frugal_cache_hits_total{model="digits_mlp",level="local"}')
[[ "$n" == 4 ]] && ok "hits are counted (4)" || bad "hits counted" "$n"
curl -s "$U/metrics" >"$tmp/m.txt"
promtool check metrics <"$tmp/m.txt" >"$tmp/pt.log" 2>&1 && ok "promtool accepts the cache metrics" || bad "promtool" "$(head -3 "$tmp/pt.log")"
stop_server

# ---- second-hit admission (the default): a one-off input is not stored
start_server b "$M/digits_mlp.onnx" --cache-bytes 16M || bad "second-hit server starts" "$(cat "$tmp/b.err")"
s1=$(hit "$U" "$tmp/a.json"); s2=$(hit "$U" "$tmp/a.json"); s3=$(hit "$U" "$tmp/a.json")
[[ "$s1 $s2 $s3" == "miss miss hit-local" ]] && ok "second-hit admission stores a result the second time" || bad "second-hit" "$s1 $s2 $s3"
rej=$(metric 'frugal_cache_admission_rejects_total{model="digits_mlp",level="local"}')
[[ "$rej" == 2 ]] && ok "the first sighting is counted as an admission reject (decoded and raw-body keys)" || bad "admission reject counted" "$rej"
stop_server

# ---- a version switch and an unload drop the model's entries
mkdir -p "$tmp/repo/digits_mlp/1" && cp "$M/digits_mlp.onnx" "$tmp/repo/digits_mlp/1/model.onnx"
if start_server v "$tmp/repo" --cache-bytes 16M --cache-admission all; then
  hit "$U" "$tmp/a.json" >/dev/null; v1=$(hit "$U" "$tmp/a.json")
  e1=$(metric 'frugal_cache_entries{model="digits_mlp",level="local"}')
  mkdir "$tmp/repo/digits_mlp/2" && cp "$M/digits_mlp.onnx" "$tmp/repo/digits_mlp/2/model.onnx"
  req POST /v2/repository/models/digits_mlp/load
  e2=$(metric 'frugal_cache_entries{model="digits_mlp",level="local"}')
  v2=$(hit "$U" "$tmp/a.json"); grep -q '"model_version":"2"' "$tmp/hb" && ver=2 || ver=?
  [[ "$v1" == hit-local && "$e1" -ge 1 && "$e2" == 0 && "$v2" == miss && $ver == 2 ]] \
    && ok "a version switch drops the model's entries; version 2 computes afresh" || bad "switch drops entries" "$v1 $e1 -> $e2 $v2 v$ver"
  # the same version number reloaded with a changed file: its old answers must not be served
  hit "$U" "$tmp/a.json" >/dev/null; w1=$(hit "$U" "$tmp/a.json"); cp "$tmp/hb" "$tmp/before.json"
  $PY - "$tmp/repo/digits_mlp/2/model.onnx" <<'PYEOF'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
i = len(b) // 2          # inside the weights' raw data: the protobuf stays valid, one weight changes
b[i] ^= 0x40
open(p + ".tmp", "wb").write(b)
PYEOF
  mv "$tmp/repo/digits_mlp/2/model.onnx.tmp" "$tmp/repo/digits_mlp/2/model.onnx"
  req POST /v2/repository/models/digits_mlp/load
  w2=$(hit "$U" "$tmp/a.json")
  [[ "$w1" == hit-local && "$w2" == miss ]] && ok "a version reloaded from a changed file does not serve the old file's answers" \
    || bad "reload with a changed file" "$w1 then $w2"
  hit "$U" "$tmp/a.json" >/dev/null
  e2b=$(metric 'frugal_cache_entries{model="digits_mlp",level="local"}')
  req POST /v2/repository/models/digits_mlp/unload
  e3=$(metric 'frugal_cache_entries{model="digits_mlp",level="local"}')
  [[ "$e2b" -ge 1 && "$e3" == 0 ]] && ok "unload drops the model's entries ($e2b -> 0)" || bad "unload drops entries" "$e2b -> $e3"
  stop_server
else bad "repository cache server starts" "$(cat "$tmp/v.err")"; fi

# ---- Redis shared by two servers
rport=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_redis() {
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
  return 1
}
start_redis || bad "redis-server starts" "$(tail -3 "$tmp/redis.log")"
R=redis://127.0.0.1:$rport
start_server r1 "$M/digits_mlp.onnx" --cache-bytes 16M --cache-admission all --cache-redis "$R"; U1=$U; P1=$pid
start_server r2 "$M/digits_mlp.onnx" --cache-bytes 16M --cache-admission all --cache-redis "$R"; U2=$U; P2=$pid
t1=$(hit "$U1" "$tmp/a.json"); sleep 0.2
t2=$(hit "$U2" "$tmp/a.json"); t3=$(hit "$U2" "$tmp/a.json")
[[ "$t1 $t2 $t3" == "miss hit-redis hit-local" ]] && ok "a second server answers from the first one's result in Redis, then locally" \
  || bad "shared Redis" "$t1 $t2 $t3"
n=$(redis-cli -p "$rport" --scan --pattern 'frugal:v*' | wc -l)
[[ $n -ge 1 ]] && ok "results are stored under the versioned key prefix ($n keys)" || bad "Redis keys" "$n"
# a foreign value under the same key is a miss, never an answer
k=$(redis-cli -p "$rport" --scan --pattern 'frugal:v*' | head -1)
redis-cli -p "$rport" set "$k" "not a frugal value" >/dev/null
start_server r3 "$M/digits_mlp.onnx" --cache-bytes 16M --cache-admission all --cache-redis "$R"; U3=$U
t4=$(hit "$U3" "$tmp/a.json")
[[ "$t4" == miss ]] && ok "a corrupt Redis value is a miss" || bad "corrupt value" "$t4"
pid=$P1
# kill Redis while requests flow: none fails
: >"$tmp/during"
for n in $(seq 0 59); do hit "$U1" "$tmp/u$n.json" >>"$tmp/during"; [[ $n == 20 ]] && kill -KILL "$redis_pid"; done
redis_pid=
bad_n=$(grep -vc -E '^(miss|hit-local|hit-redis)$' "$tmp/during")
[[ $bad_n -eq 0 ]] && ok "killing Redis mid-run fails no request (60 requests)" || bad "Redis down" "$bad_n failed: $(grep -v -E '^(miss|hit)' "$tmp/during" | head -3)"
e=$(curl -s "$U1/metrics" | awk '/^frugal_cache_errors_total\{model="digits_mlp",level="redis"\}/ { print $2 }')
[[ -n "$e" && "$e" != 0 ]] && ok "Redis errors are counted ($e)" || bad "Redis errors counted" "'$e'"
# Redis comes back: used again
start_redis || bad "redis-server restarts" "$(tail -3 "$tmp/redis.log")"
back=
for n in $(seq 100 160); do
  hit "$U1" "$tmp/u$n.json" >/dev/null; sleep 0.2
  if [[ $(hit "$U2" "$tmp/u$n.json") == hit-redis ]]; then back=$n; break; fi
done
[[ -n "$back" ]] && ok "after Redis restarts, results flow through it again (request u$back)" || bad "Redis reconnect" "no hit-redis within 60 tries"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
pids=()

# ---- a Redis that wants a password: from the URL, or from FRUGAL_REDIS_PASSWORD (kept out of ps)
kill -TERM "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --requirepass 's3cr@t' >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$rport" -a 's3cr@t' --no-auth-warning ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
start_server a1 "$M/digits_mlp.onnx" --cache-bytes 16M --cache-admission all --cache-redis "redis://:s3cr%40t@127.0.0.1:$rport"; U1=$U
FRUGAL_REDIS_PASSWORD='s3cr@t' start_server a2 "$M/digits_mlp.onnx" --cache-bytes 16M --cache-admission all --cache-redis "redis://127.0.0.1:$rport"; U2=$U
t1=$(hit "$U1" "$tmp/a.json"); sleep 0.2; t2=$(hit "$U2" "$tmp/a.json")
[[ "$t1 $t2" == "miss hit-redis" ]] && ok "password Redis: AUTH from the URL (percent-encoded) and from FRUGAL_REDIS_PASSWORD" || bad "Redis AUTH" "$t1 $t2"
! grep -q 's3cr' "$tmp/a1.err" "$tmp/a2.err" && ok "the password appears in no log" || bad "password in a log"
start_server a3 "$M/digits_mlp.onnx" --cache-bytes 16M --cache-admission all --cache-redis "redis://:wrong@127.0.0.1:$rport"; U3=$U
t3=$(hit "$U3" "$tmp/a.json"); sleep 0.5
[[ "$t3" == miss ]] && grep -q "AUTH" "$tmp/a3.err" && ! grep -q wrong "$tmp/a3.err" && ok "a wrong password: Redis marked down with the AUTH error, requests still answered" ||
  bad "wrong password" "$t3 $(grep -i redis "$tmp/a3.err" | head -2)"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
pids=()
kill -TERM "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; redis_pid=
finish
