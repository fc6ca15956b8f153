#!/usr/bin/env bash
# End-to-end tests of `frugal doctor`: real servers driven into each condition the checklist knows
# (queue-bound p99, queue full, bad requests, cache thrash, idle cost, no traffic, moderate healthy
# traffic), checked by doctor's exit status and finding ids; saved scrapes (--from/--to) give the same
# findings as the live run over them; warmup, compute-bound p99 and small batches (which these tiny models
# cannot show in seconds) are checked on synthetic scrapes; unreachable URLs, https, non-frugal text and
# missing files exit 2.
# usage: doctor.sh FRUGAL_BINARY
set -u
F=${1:?usage: doctor.sh FRUGAL_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models
PY=/usr/bin/python3
tmp=$(mktemp -d)
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

# request bodies: one row of digits_mlp.json, and 400 distinct rows for the cache
$PY - "$M/digits_mlp.json" "$tmp" <<'PYEOF'
import json, os, sys
d = json.load(open(sys.argv[1])); x = d["inputs"][0]["data"]
flat = [v for row in x for v in row] if isinstance(x[0], list) else x
r0 = flat[:64]
def body(row):
    return json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}]})
open(sys.argv[2] + "/one.json", "w").write(body(r0))
open(sys.argv[2] + "/cnn.json", "w").write(json.dumps(
    {"inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": r0}]}))
os.mkdir(sys.argv[2] + "/u")
for i in range(400):
    open("%s/u/%d.json" % (sys.argv[2], i), "w").write(body([float(i)] + r0[1:]))
PYEOF

INFER=/v2/models/digits_mlp/infer

# load SECS PAR BODY: PAR curl loops posting BODY (a file, or "distinct" for u/N.json in turn) for SECS
load() {
  local secs=$1 par=$2 b=$3 end
  end=$(($(date +%s%N) + secs * 1000000000))
  for p in $(seq "$par"); do
    (n=$((p * 1000)); while (($(date +%s%N) < end)); do
       f=$b; [[ $b == distinct ]] && f=$tmp/u/$((n % 400)).json
       curl -s -o /dev/null -X POST --data-binary "@$f" "$U$INFER"; n=$((n + 1))
     done) &
  done
  wait $(jobs -p | grep -v -x -e "$pid" -e "${dpid:-x}") 2>/dev/null
}

# doctor_during NAME SECS LOADARGS... -- DOCTORARGS...: doctor over a 3 s interval while load runs;
# sets drc (exit status) and ids (finding ids, space-separated, from --json)
doctor_during() {
  local name=$1; shift
  local la=()
  while [[ $1 != -- ]]; do la+=("$1"); shift; done; shift
  "$F" doctor "$U" --interval 3 --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.derr" &
  dpid=$!
  sleep 0.3
  load "${la[@]}"
  wait "$dpid"; drc=$?; dpid=
  ids=$(finding_ids "$tmp/$name.json")
}
finding_ids() {
  $PY -c 'import json,sys; print(" ".join(f["id"] for f in json.load(open(sys.argv[1]))["findings"]))' "$1" 2>/dev/null
}
has() { [[ " $ids " == *" $1 "* ]]; }
check() { # name, expected exit status, finding id that must be there (or "")
  if [[ "$drc" == "$2" ]] && { [[ -z "$3" ]] || has "$3"; }; then ok "$1 (exit $drc${ids:+, findings: $ids})"
  else bad "$1" "exit $drc, findings '$ids': $(head -c 600 "$tmp/$4.json" "$tmp/$4.derr" 2>/dev/null)"; fi
}

# --- usage errors and unreadable sources: exit 2, one line on stderr
"$F" doctor http://127.0.0.1:1 --interval 0.1 2>"$tmp/e1"; drc=$?
[[ $drc == 2 && $(wc -l <"$tmp/e1") == 1 ]] && grep -q "cannot connect" "$tmp/e1" && ok "unreachable URL exits 2" || bad "unreachable URL" "exit $drc: $(cat "$tmp/e1")"
"$F" doctor https://127.0.0.1:8000 2>"$tmp/e2"; drc=$?
[[ $drc == 2 ]] && grep -q "https is not supported" "$tmp/e2" && ok "https exits 2 naming it" || bad "https" "exit $drc: $(cat "$tmp/e2")"
"$F" doctor "not a url" 2>"$tmp/e3"; drc=$?
[[ $drc == 2 ]] && ok "a bad URL exits 2" || bad "bad URL" "exit $drc"
printf 'hello world\nfoo 1\n' >"$tmp/junk1"; cp "$tmp/junk1" "$tmp/junk2"
"$F" doctor --from "$tmp/junk1" --to "$tmp/junk2" 2>"$tmp/e4"; drc=$?
[[ $drc == 2 ]] && grep -q "not frugal's metrics" "$tmp/e4" && ok "another program's metrics exit 2" || bad "not frugal" "exit $drc: $(cat "$tmp/e4")"
"$F" doctor --from "$tmp/missing" --to "$tmp/junk2" 2>"$tmp/e5"; drc=$?
[[ $drc == 2 ]] && grep -q "missing" "$tmp/e5" && ok "a missing file exits 2" || bad "missing file" "exit $drc: $(cat "$tmp/e5")"

# --- healthy-ish: moderate traffic, adaptive batching, one instance, no price
if start_server h "$M/digits_mlp.onnx"; then
  doctor_during healthy 2 2 "$tmp/one.json" --
  check "moderate traffic is healthy" 0 "" healthy
  "$F" doctor "$U" --interval 0.5 >"$tmp/text" 2>&1; drc=$?
  [[ $drc == 0 ]] && grep -q "no traffic" "$tmp/text" && grep -q "model digits_mlp version 1" "$tmp/text" \
    && ok "no traffic is said, not a finding" || bad "no traffic" "exit $drc: $(cat "$tmp/text")"
  stop_server
else bad "server h starts" "$(cat "$tmp/h.err")"; fi

# --- p99 over the SLO with the queue dominating: a 200 ms fixed batching delay
if start_server q "$M/digits_mlp.onnx" --max-queue-delay-us 200000 --batch-delay fixed --max-batch 64; then
  doctor_during queue 2 3 "$tmp/one.json" -- --slo-p99-ms 50
  check "a long fixed queue delay is a queue_p99 finding" 1 queue_p99 queue
  has compute_p99 && bad "queue-bound p99 is not called compute-bound" "$ids"
  stop_server
else bad "server q starts" "$(cat "$tmp/q.err")"; fi

# --- queue full: max-queue 1 behind a 200 ms delay, 6 clients
if start_server r "$M/digits_mlp.onnx" --max-queue 1 --max-queue-delay-us 200000 --batch-delay fixed --max-batch 64; then
  doctor_during rejected 2 6 "$tmp/one.json" --
  check "a full queue is a rejected finding" 1 rejected rejected
  stop_server
else bad "server r starts" "$(cat "$tmp/r.err")"; fi

# --- bad requests; the same scrapes saved to files give the same findings
if start_server b "$M/digits_mlp.onnx"; then
  curl -s "$U/metrics" >"$tmp/s1.prom"
  echo '{"inputs": []}' >"$tmp/bad.json"
  doctor_during badreq 2 2 "$tmp/bad.json" --
  curl -s "$U/metrics" >"$tmp/s2.prom"
  check "400s are a bad_request finding" 1 bad_request badreq
  live=$ids
  "$F" doctor --from "$tmp/s1.prom" --to "$tmp/s2.prom" --json >"$tmp/fromto.json"; drc=$?
  ids=$(finding_ids "$tmp/fromto.json")
  [[ $drc == 1 && "$ids" == "$live" ]] && ok "--from/--to on saved scrapes finds the same ($ids)" \
    || bad "--from/--to" "exit $drc, '$ids' vs live '$live'"
  iv=$($PY -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["interval_s"]))' "$tmp/fromto.json")
  [[ "$iv" -ge 3 && "$iv" -le 5 ]] && ok "--from/--to takes the interval from uptime (${iv} s)" || bad "from/to interval" "$iv"
  "$F" doctor --from "$tmp/s1.prom" --to "$tmp/s2.prom" >"$tmp/fromto.txt"; drc=$?
  [[ $drc == 1 ]] && grep -q "evidence: .*bad_request" "$tmp/fromto.txt" && grep -q "change: " "$tmp/fromto.txt" \
    && ok "the text report names evidence and a change" || bad "text report" "$(cat "$tmp/fromto.txt")"
  "$F" doctor --from "$tmp/s2.prom" --to "$tmp/s1.prom" 2>"$tmp/e6"; drc=$?
  [[ $drc == 2 ]] && grep -q "restarted" "$tmp/e6" && ok "scrapes in the wrong order exit 2" || bad "reversed scrapes" "exit $drc: $(cat "$tmp/e6")"
  stop_server
else bad "server b starts" "$(cat "$tmp/b.err")"; fi

# --- cache thrash: a 4 KiB cache (about 15 entries) that admits everything, 400 distinct inputs in turn
if start_server c "$M/digits_mlp.onnx" --cache-bytes 4K --cache-admission all; then
  doctor_during cache 2 2 distinct --
  check "a tiny cache with distinct inputs is a cache_thrash finding" 1 cache_thrash cache
  stop_server
else bad "server c starts" "$(cat "$tmp/c.err")"; fi

# --- idle cost: two instances and a price; no traffic first, then a trickle
if start_server i "$M/digits_mlp.onnx" --instances 2 --price-per-hour 2; then
  "$F" doctor "$U" --interval 0.5 --json >"$tmp/idle0.json"; drc=$?; ids=$(finding_ids "$tmp/idle0.json")
  [[ $drc == 0 && -z "$ids" ]] && grep -q '"no_traffic":true' "$tmp/idle0.json" \
    && ok "no traffic on two paid instances: no_traffic, exit 0" || bad "idle no traffic" "exit $drc: $(head -c 400 "$tmp/idle0.json")"
  "$F" doctor "$U" --interval 2 --json --budget-per-1k 0.001 >"$tmp/idle.json" &
  dpid=$!
  for _ in 1 2 3 4 5; do curl -s -o /dev/null -X POST --data-binary "@$tmp/one.json" "$U$INFER"; sleep 0.2; done
  wait $dpid; drc=$?; dpid=; ids=$(finding_ids "$tmp/idle.json")
  check "a trickle on two paid instances is an idle_cost finding" 1 idle_cost idle
  has over_budget && ok "cost per 1k over --budget-per-1k is an over_budget finding" || bad "over_budget" "$ids"
  stop_server
else bad "server i starts" "$(cat "$tmp/i.err")"; fi

# --- conditions these small models cannot produce in a few seconds, on synthetic scrapes (--from/--to):
# warmup (slow requests before the first scrape only), compute-bound p99, small batches under load
synth() { # NAME, then python keyword overrides: writes $tmp/NAME.1 and $tmp/NAME.2
  $PY - "$tmp/$1" "${2:-}" <<'PYEOF'
import sys
bounds = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
def scrape(up, cpu, req, lat, q, c, batches, items, cap):
    L = 'model="m",version="1"'
    out = ["# TYPE frugal_uptime_seconds gauge", "frugal_uptime_seconds %g" % up,
           "frugal_process_cpu_seconds_total %g" % cpu, "frugal_cost_usd_total 0",
           'frugal_requests_total{%s,outcome="success",status="200"} %d' % (L, req)]
    cum = 0
    for b in bounds:
        cum += lat.get(b, 0)
        out.append('frugal_request_duration_seconds_bucket{%s,le="%s"} %d' % (L, b, cum))
    out += ["frugal_request_duration_seconds_sum{%s} %g" % (L, sum(float(b if b != "+Inf" else 9) * n for b, n in lat.items())),
            "frugal_request_duration_seconds_count{%s} %d" % (L, req),
            "frugal_queue_duration_seconds_sum{%s} %g" % (L, q), "frugal_queue_duration_seconds_count{%s} %d" % (L, req),
            "frugal_compute_duration_seconds_sum{%s} %g" % (L, c), "frugal_compute_duration_seconds_count{%s} %d" % (L, req),
            "frugal_batch_size_sum{%s} %d" % (L, items), "frugal_batch_size_count{%s} %d" % (L, batches),
            "frugal_batches_total{%s} %d" % (L, batches), "frugal_batch_items_total{%s} %d" % (L, items),
            "frugal_batch_capacity_items_total{%s} %d" % (L, cap),
            'frugal_instance_busy_seconds_total{%s,engine_instance="0"} %g' % (L, c), "frugal_queue_depth{%s} 0" % L]
    return "\n".join(out) + "\n"
kind = sys.argv[2]
if kind == "warmup":   # one 0.5-1 s request before the first scrape, 100 fast ones after
    a = scrape(3, 0.1, 1, {"1": 1}, 0.0, 0.7, 1, 1, 8)
    b = scrape(6, 0.2, 101, {"1": 1, "0.0005": 100}, 0.001, 0.71, 101, 101, 808)
elif kind == "compute":  # 100 requests of 300-500 ms, nearly all compute
    a = scrape(100, 1, 0, {}, 0, 0, 0, 0, 0)
    b = scrape(103, 2.5, 100, {"0.5": 100}, 0.5, 40, 100, 100, 800)
else:                  # 1000 requests in 3 s at 5 ms, each waiting 4 ms, batches of one, max batch 1
    a = scrape(100, 1, 0, {}, 0, 0, 0, 0, 0)
    b = scrape(103, 1.3, 1000, {"0.005": 1000}, 4.0, 1.0, 1000, 1000, 1000)
open(sys.argv[1] + ".1", "w").write(a); open(sys.argv[1] + ".2", "w").write(b)
PYEOF
}
for c in "warmup warmup" "compute compute_p99" "smallbatch small_batches"; do
  set -- $c
  synth "$1" "$1"
  "$F" doctor --from "$tmp/$1.1" --to "$tmp/$1.2" --json >"$tmp/$1.json" 2>"$tmp/$1.derr"; drc=$?
  ids=$(finding_ids "$tmp/$1.json")
  check "synthetic scrapes: $2" 1 "$2" "$1"
done

finish
