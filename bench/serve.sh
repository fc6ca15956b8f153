#!/usr/bin/env bash
# Serving benchmarks of `frugal serve`, with wrk as the load generator and nginx as the HTTP peer.
#
#   bench/serve.sh [batching] [overhead] [overhead-image] [json-vs-binary] [cache] [ceiling]
#                                                                      (no argument: all sections)
#
#   batching        digits_mlp at saturation (1-row JSON requests, wrk -c 64): dynamic batching ON
#                   (--max-batch 32, several delays / instances / loops) vs OFF (--max-batch 0);
#                   req/s, p50, p99, the mean batch the server ran (GET /metrics), ratio ON/OFF.
#   overhead        (a) the server's saturated items/s vs `frugal run` at the batch size the server
#                   actually ran; (b) one closed-loop connection (wrk -c 1): request p50 vs
#                   `frugal run --batch 1` p50.
#   overhead-image  the same as overhead (a) where compute dominates: resnet18 binary requests at
#                   saturation (IMAGE_BATCH_SERVE, wrk -c IMAGE_BATCH_CONNS) vs `frugal run` at the
#                   server's mean batch with the same threads.
#   json-vs-binary  resnet18, one image: a JSON data-array body vs a binary tensor extension body.
#   cache           the response cache: (a) the hit path, identical 1-row requests answered from the
#                   cache, vs nginx's fixed reply; (b) a Zipf(1.0) stream over 10,000 distinct inputs
#                   and (c) unique inputs only, each with the cache on (--cache-bytes 64M, default
#                   admission) and off: req/s and the hit ratio read from /metrics.
#   ceiling         GET /v2/health/ready on frugal (--loops 2 and 1) vs nginx returning a fixed
#                   120-byte body (worker_processes 2 and 1), wrk -t 2 and -t 1, -c 64.
#
# Every figure is the median of ROUNDS rounds; within a round the peers run one after another
# (A B A B ...). Each run starts with a WARMUP wrk pass; any response that is not 2xx, a server that
# does not start or dies, or a wrk socket connect/timeout error fails the script. Servers are started
# and stopped here (frugal on port 0, nginx on a free loopback port as the current user, under a
# temporary prefix) and are always stopped on exit. Tables go to stdout and to
# RESULTS/serve-DATE.md, raw per-run rows to RESULTS/serve-DATE.tsv.
#
# Environment (defaults): FRUGAL=build/frugal DURATION=10s WARMUP=2s ROUNDS=3 RESULTS=bench/results
#   WRK=wrk NGINX=/usr/sbin/nginx PYTHON=/usr/bin/python3 (needs numpy, for the resnet18 bodies)
#   BATCH_WRK="-t 1 -c 64"          wrk threads/connections of `batching` and `overhead` (a)
#   OVERHEAD_SERVE="--instances 1 --threads 1 --max-batch 32 --max-queue-delay-us 1000"
#   ENGINE_THREADS=1 ENGINE_REPEAT=20000    `frugal run` of `overhead`
#   IMAGE_MODEL=models/bench/resnet18.onnx IMAGE_INPUT=models/bench/resnet18_input.npy
#   IMAGE_SERVE="--threads 2" IMAGE_CONNS="1 4" IMAGE_WARMUP=5s (each new batch size builds a plan)
#   CEIL_WRK_THREADS="2 1" CEIL_CONNS=64
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
cd "$ROOT"

FRUGAL=${FRUGAL:-build/frugal}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
RESULTS=${RESULTS:-$BENCH_DIR/results}
WRK=${WRK:-wrk}
NGINX=${NGINX:-/usr/sbin/nginx}
PYTHON=${PYTHON:-/usr/bin/python3}
BATCH_WRK=${BATCH_WRK:-"-t 1 -c 64"}
OVERHEAD_SERVE=${OVERHEAD_SERVE:-"--instances 1 --threads 1 --max-batch 32 --max-queue-delay-us 1000"}
ENGINE_THREADS=${ENGINE_THREADS:-1}
ENGINE_REPEAT=${ENGINE_REPEAT:-20000}
IMAGE_MODEL=${IMAGE_MODEL:-models/bench/resnet18.onnx}
IMAGE_INPUT=${IMAGE_INPUT:-models/bench/resnet18_input.npy}
IMAGE_SERVE=${IMAGE_SERVE:-"--threads 2"}
IMAGE_CONNS=${IMAGE_CONNS:-"1 4"}
IMAGE_WARMUP=${IMAGE_WARMUP:-5s}
IMAGE_BATCH_SERVE=${IMAGE_BATCH_SERVE:-"--instances 1 --threads 2 --max-batch 8"}
IMAGE_BATCH_CONNS=${IMAGE_BATCH_CONNS:-16}
CEIL_WRK_THREADS=${CEIL_WRK_THREADS:-"2 1"}
CEIL_CONNS=${CEIL_CONNS:-64}
DIGITS=models/digits_mlp.onnx
LUA=$BENCH_DIR/wrk/kserve.lua

# batching configurations: "label|frugal serve flags" (ON/OFF is read from --max-batch 0)
BATCH_CONFIGS=(
  "off i1|--instances 1 --threads 1 --max-batch 0"
  "off i2|--instances 2 --threads 1 --max-batch 0"
  "on i1 d500|--instances 1 --threads 1 --max-batch 32 --max-queue-delay-us 500"
  "on i1 d1000 fixed|--instances 1 --threads 1 --max-batch 32 --max-queue-delay-us 1000 --batch-delay fixed"
  "on i1 d2000|--instances 1 --threads 1 --max-batch 32 --max-queue-delay-us 2000"
  "on i2 d1000|--instances 2 --threads 1 --max-batch 32 --max-queue-delay-us 1000"
  "on i1 d1000 loops1|--loops 1 --instances 1 --threads 1 --max-batch 32 --max-queue-delay-us 1000"
)
# low-load configurations of `overhead` (b)
LOW_CONFIGS=(
  "off|--instances 1 --threads 1 --max-batch 0"
  "on d1000 fixed|--instances 1 --threads 1 --max-batch 32 --max-queue-delay-us 1000 --batch-delay fixed"
  "on d1000 adaptive|--instances 1 --threads 1 --max-batch 32 --max-queue-delay-us 1000 --batch-delay adaptive"
)

log() { echo "serve.sh: $*" >&2; }
die() { echo "serve.sh: FAIL: $*" >&2; exit 1; }

SECTIONS=()
for a in "$@"; do
  case "$a" in
    batching|overhead|overhead-image|json-vs-binary|cache|ceiling) SECTIONS+=("$a") ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve.sh: unknown section '$a' (batching, overhead, json-vs-binary, ceiling)" >&2; exit 2 ;;
  esac
done
[ ${#SECTIONS[@]} -eq 0 ] && SECTIONS=(batching overhead overhead-image json-vs-binary cache ceiling)

FRUGAL_BIN=$(cd "$ROOT" && realpath -e "$FRUGAL" 2>/dev/null) || die "frugal binary not found at $FRUGAL (set FRUGAL=...)"
command -v "$WRK" >/dev/null || die "wrk not found (set WRK=...)"
command -v curl >/dev/null || die "curl not found"

# ---------------------------------------------------------------------------------------------------
# processes: every server started here is recorded and stopped on exit

TMP=$(mktemp -d "${TMPDIR:-/tmp}/frugal-serve-bench.XXXXXX")
declare -A PIDS=() # name -> pid
stop_pid() {       # name: SIGTERM, wait up to 5 s, then SIGKILL
  local name=$1 pid=${PIDS[$1]:-} i
  [ -n "$pid" ] || return 0
  unset "PIDS[$name]"
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) did not stop on SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}
cleanup() {
  local n
  for n in "${!PIDS[@]}"; do stop_pid "$n" || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_frugal NAME MODEL FLAGS...: starts `frugal serve MODEL --port 0 FLAGS`, sets URL_<NAME>
start_frugal() {
  local name=$1 model=$2 i line
  shift 2
  : >"$TMP/$name.out" # truncated here: the child's own redirection may come after the first grep
  "$FRUGAL_BIN" serve "$model" --port 0 "$@" >>"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS[$name]=$!
  for ((i = 0; i < 600; i++)); do
    line=$(grep -m1 -o 'on http://[0-9.]*:[0-9]*' "$TMP/$name.out" 2>/dev/null || true)
    [ -n "$line" ] && break
    kill -0 "${PIDS[$name]}" 2>/dev/null ||
      die "frugal serve $model $* did not start: $(tail -c 400 "$TMP/$name.err")"
    sleep 0.1
  done
  [ -n "$line" ] || die "frugal serve $model $* printed no address within 60 s"
  printf -v "URL_${name//-/_}" '%s' "${line#on }"
  local url="${line#on }" code=""
  for ((i = 0; i < 20; i++)); do # a few tries: report what the failure was
    code=$(curl -s -o "$TMP/$name.ready" -w '%{http_code}' "$url/v2/health/ready" 2>&1) && [ "$code" = 200 ] && break
    log "frugal serve $model $*: GET $url/v2/health/ready: '$code' (try $((i + 1)))"
    sleep 0.1
  done
  [ "$code" = 200 ] || die "frugal serve $model $*: /v2/health/ready is not 200 ('$code'): $(tail -c 400 "$TMP/$name.err")"
}

# stop_frugal NAME: SIGTERM; the server must exit 0
stop_frugal() {
  local rc=0
  stop_pid "$1" || rc=$?
  [ $rc -eq 0 ] || die "frugal serve ($1) exited $rc: $(tail -c 400 "$TMP/$1.err")"
}

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_nginx NAME WORKERS: nginx with bench/nginx.conf under $TMP/NAME, sets URL_<NAME>
NGINX_BODY=$(printf '{"status":"ok","pad":"%s"}' "$(printf 'x%.0s' $(seq 1 96))")
[ ${#NGINX_BODY} -eq 120 ] || die "nginx body is ${#NGINX_BODY} bytes, not 120"
start_nginx() {
  local name=$1 workers=$2 port i pre=$TMP/$1
  [ -x "$NGINX" ] || die "nginx not found at $NGINX (set NGINX=...)"
  port=$(free_port)
  mkdir -p "$pre/tmp"
  sed -e "s/@WORKERS@/$workers/" -e "s/@PORT@/$port/" -e "s/@BODY@/$NGINX_BODY/" \
    "$BENCH_DIR/nginx.conf" >"$pre/nginx.conf"
  "$NGINX" -p "$pre/" -e "$pre/error.log" -c "$pre/nginx.conf" >"$pre/stdout" 2>&1 &
  PIDS[$name]=$!
  for ((i = 0; i < 100; i++)); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/" && break
    kill -0 "${PIDS[$name]}" 2>/dev/null || die "nginx did not start: $(tail -c 400 "$pre/error.log" "$pre/stdout" 2>/dev/null)"
    sleep 0.1
  done
  [ "$(curl -sf "http://127.0.0.1:$port/")" = "$NGINX_BODY" ] || die "nginx on port $port does not answer 200 with the body"
  printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
}

# ---------------------------------------------------------------------------------------------------
# measuring

load1() { cut -d' ' -f1 /proc/loadavg; }

# kv LINE KEY: the value of KEY=VALUE in LINE
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }

# run_wrk OUT DURATION URL WRKARGS [VAR=VALUE...]: one wrk run through kserve.lua; sets WRK_LINE.
# Fails on any non-2xx response, connect or timeout error, or a server that died.
run_wrk() {
  local out=$1 dur=$2 url=$3 args=$4
  shift 4
  # shellcheck disable=SC2086
  env "$@" "$WRK" $args -d "$dur" --latency -s "$LUA" "$url" >"$out" 2>&1 ||
    die "wrk failed ($url): $(tail -c 400 "$out")"
  WRK_LINE=$(grep -m1 '^WRK_RESULT' "$out") || die "wrk printed no result ($url): $(tail -c 400 "$out")"
  local non2xx connect timeout
  non2xx=$(kv "$WRK_LINE" non2xx); connect=$(kv "$WRK_LINE" connect); timeout=$(kv "$WRK_LINE" timeout)
  if [ "$non2xx" != 0 ] || grep -q 'Non-2xx or 3xx responses' "$out"; then
    die "$url: $non2xx responses were not 2xx: $(grep -A1 'Non-2xx' "$out" | tr '\n' ' ')"
  fi
  [ "$connect" = 0 ] && [ "$timeout" = 0 ] || die "$url: wrk socket errors: $(grep 'Socket errors' "$out")"
  [ "$(kv "$WRK_LINE" requests)" -gt 0 ] || die "$url: no request completed"
  local n
  for n in "${!PIDS[@]}"; do kill -0 "${PIDS[$n]}" 2>/dev/null || die "$n died during a wrk run"; done
}

# batch_stats URL: "SUM COUNT" of frugal_batch_size
batch_stats() {
  curl -sf "$1/metrics" | awk '/^frugal_batch_size_sum/ { s = $NF } /^frugal_batch_size_count/ { c = $NF }
    END { if (c == "") exit 1; print s + 0, c + 0 }' || die "$1/metrics has no frugal_batch_size"
}

# engine_p50 BATCH -> p50 ms of `frugal run digits_mlp --batch BATCH`
engine_p50() {
  local js
  js=$("$FRUGAL_BIN" run "$DIGITS" --batch "$1" --threads "$ENGINE_THREADS" --repeat "$ENGINE_REPEAT" \
         --warmup 200 --json 2>"$TMP/run.err") || die "frugal run failed: $(tail -c 300 "$TMP/run.err")"
  sed -n 's/.*"latency_ms":{"p50":\([0-9.eE+-]*\).*/\1/p' <<<"$js"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# col TSV TAG FIELD: median of column FIELD over rows whose first column is TAG
col() { awk -F'\t' -v t="$2" -v f="$3" '$1 == t { print $f }' "$1" | median; }
# lrange TSV TAG FIELD: "min–max" of a column (the load averages)
lrange() { awk -F'\t' -v t="$2" -v f="$3" '$1 == t { v = $f + 0; if (n++ == 0 || v < lo) lo = v; if (v > hi) hi = v }
  END { if (lo == hi) printf "%.2f", lo; else printf "%.2f–%.2f", lo, hi }' "$1"; }
fmt() { awk -v x="$1" -v d="${2:-0}" 'BEGIN { if (x == "") print "n/a"; else printf "%.*f", d, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
goal() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= g : v <= g; print ok ? "met" : "MISSED" }'; }

STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
REPORT=$RESULTS/serve-$STAMP.md
RAW=$RESULTS/serve-$STAMP.tsv
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
if [ -n "$(git -C "$ROOT" status --porcelain -- src include 2>/dev/null)" ]; then REV="$REV+dirty"; fi
{
  echo "# Serving benchmark $STAMP"
  echo
  echo "- machine: ${CPU:-unknown CPU}, $(nproc) CPUs, $(uname -sr); wrk, the servers and anything else share them"
  echo "- frugal: $FRUGAL_BIN (rev $REV); $("$WRK" -v 2>&1 | head -1 | cut -d' ' -f1-2); $("$NGINX" -v 2>&1 || true)"
  echo "- method: ROUNDS=$ROUNDS interleaved rounds, each run ${DURATION} after a ${WARMUP} warmup; medians over rounds;"
  echo "  load = 1-minute load average at the start of each run (min–max), which includes this benchmark's own previous run"
} >"$REPORT"
: >"$RAW"
out() { echo "$*"; echo "$*" >>"$REPORT"; }
raw() { (IFS=$'\t'; echo "$*") >>"$RAW"; }

# ---------------------------------------------------------------------------------------------------
# bodies

BODY1=$TMP/digits_1row.json
"$PYTHON" "$BENCH_DIR/serve_bodies.py" digits models/digits_mlp.json "$BODY1" || die "cannot write the 1-row body"

# ---------------------------------------------------------------------------------------------------

section_batching() {
  local tsv=$TMP/batching.tsv r cfg label flags s0 s1 l
  : >"$tsv"
  log "batching: ${#BATCH_CONFIGS[@]} configurations x $ROUNDS rounds, wrk $BATCH_WRK, $DURATION each"
  for ((r = 1; r <= ROUNDS; r++)); do
    for cfg in "${BATCH_CONFIGS[@]}"; do
      label=${cfg%%|*}; flags=${cfg#*|}
      # shellcheck disable=SC2086
      start_frugal srv "$DIGITS" $flags
      run_wrk "$TMP/w.out" "$WARMUP" "$URL_srv/v2/models/digits_mlp/infer" "$BATCH_WRK" BODY="$BODY1"
      s0=$(batch_stats "$URL_srv"); l=$(load1)
      run_wrk "$TMP/w.out" "$DURATION" "$URL_srv/v2/models/digits_mlp/infer" "$BATCH_WRK" BODY="$BODY1"
      s1=$(batch_stats "$URL_srv")
      stop_frugal srv
      local mb
      mb=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[2] - x[2]; print (n > 0 ? (y[1] - x[1]) / n : 0) }')
      raw batching "$label" "$r" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$(kv "$WRK_LINE" p99_us)" "$mb" "$l" "$flags"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" \
        "$(kv "$WRK_LINE" p99_us)" "$mb" "$l" >>"$tsv"
      log "batching round $r $label: $(kv "$WRK_LINE" rps) req/s, p50 $(kv "$WRK_LINE" p50_us) us, mean batch $mb, load $l"
    done
  done
  out
  out "## batching: digits_mlp, 1-row JSON requests, wrk $BATCH_WRK"
  out
  out "| config | frugal serve flags | req/s | p50 µs | p99 µs | mean batch | load |"
  out "|---|---|---:|---:|---:|---:|---:|"
  local best_on=0 best_off=0 best_on_l="" best_off_l="" rps
  for cfg in "${BATCH_CONFIGS[@]}"; do
    label=${cfg%%|*}; flags=${cfg#*|}
    rps=$(col "$tsv" "$label" 2)
    out "| $label | \`$flags\` | $(fmt "$rps") | $(fmt "$(col "$tsv" "$label" 3)") | $(fmt "$(col "$tsv" "$label" 4)") | $(fmt "$(col "$tsv" "$label" 5)" 1) | $(lrange "$tsv" "$label" 6) |"
    if [[ " $flags " == *" --max-batch 0 "* ]]; then
      awk -v a="$rps" -v b="$best_off" 'BEGIN { exit !(a > b) }' && { best_off=$rps; best_off_l=$label; }
    else
      awk -v a="$rps" -v b="$best_on" 'BEGIN { exit !(a > b) }' && { best_on=$rps; best_on_l=$label; }
    fi
  done
  local q
  q=$(ratio "$best_on" "$best_off")
  out
  out "Best ON ($best_on_l) / best OFF ($best_off_l): **$q×** req/s (goal ≥ 5: $(goal "$q" 5 ">="))."
}

section_overhead() {
  local tsv=$TMP/overhead.tsv r s0 s1 l mb b p cfg label flags
  : >"$tsv"
  log "overhead (a): frugal serve $OVERHEAD_SERVE at saturation vs frugal run at the server's batch size"
  for ((r = 1; r <= ROUNDS; r++)); do
    # shellcheck disable=SC2086
    start_frugal srv "$DIGITS" $OVERHEAD_SERVE
    run_wrk "$TMP/w.out" "$WARMUP" "$URL_srv/v2/models/digits_mlp/infer" "$BATCH_WRK" BODY="$BODY1"
    s0=$(batch_stats "$URL_srv"); l=$(load1)
    run_wrk "$TMP/w.out" "$DURATION" "$URL_srv/v2/models/digits_mlp/infer" "$BATCH_WRK" BODY="$BODY1"
    s1=$(batch_stats "$URL_srv")
    stop_frugal srv
    mb=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[2] - x[2]; print (n > 0 ? (y[1] - x[1]) / n : 0) }')
    printf 'server\t%s\t%s\t%s\n' "$(kv "$WRK_LINE" rps)" "$mb" "$l" >>"$tsv"
    raw overhead-server "$r" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$mb" "$l"
    b=$(awk -v m="$mb" 'BEGIN { b = int(m + 0.5); print b < 1 ? 1 : b }')
    l=$(load1)
    p=$(engine_p50 "$b")
    printf 'engine\t%s\t%s\t%s\n' "$(awk -v b="$b" -v p="$p" 'BEGIN { print b * 1000 / p }')" "$b" "$l" >>"$tsv"
    raw overhead-engine "$r" "$b" "$p" "$l"
    log "overhead round $r: server $(kv "$WRK_LINE" rps) items/s at mean batch $mb; engine batch $b p50 $p ms"
  done
  local srv eng q
  srv=$(col "$tsv" server 2); eng=$(col "$tsv" engine 2)
  q=$(ratio "$srv" "$eng")
  out
  out "## overhead (a): saturated server vs engine alone, digits_mlp"
  out
  out "| what | command | items/s | batch | load |"
  out "|---|---|---:|---:|---:|"
  out "| server | \`frugal serve $OVERHEAD_SERVE\`, wrk $BATCH_WRK, 1 row/request | $(fmt "$srv") | $(fmt "$(col "$tsv" server 3)" 1) (mean, /metrics) | $(lrange "$tsv" server 4) |"
  out "| engine | \`frugal run --batch B --threads $ENGINE_THREADS --repeat $ENGINE_REPEAT\`, B*1000/p50 | $(fmt "$eng") | $(fmt "$(col "$tsv" engine 3)") | $(lrange "$tsv" engine 4) |"
  out
  out "Server / engine: **$q** (goal ≥ 0.7: $(goal "$q" 0.7 ">="))."

  : >"$tsv"
  log "overhead (b): one connection (wrk -t 1 -c 1) vs frugal run --batch 1"
  for ((r = 1; r <= ROUNDS; r++)); do
    for cfg in "${LOW_CONFIGS[@]}"; do
      label=${cfg%%|*}; flags=${cfg#*|}
      # shellcheck disable=SC2086
      start_frugal srv "$DIGITS" $flags
      run_wrk "$TMP/w.out" "$WARMUP" "$URL_srv/v2/models/digits_mlp/infer" "-t 1 -c 1" BODY="$BODY1"
      l=$(load1)
      run_wrk "$TMP/w.out" "$DURATION" "$URL_srv/v2/models/digits_mlp/infer" "-t 1 -c 1" BODY="$BODY1"
      stop_frugal srv
      printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$(kv "$WRK_LINE" p50_us)" "$(kv "$WRK_LINE" p99_us)" "$(kv "$WRK_LINE" rps)" "$l" >>"$tsv"
      raw overhead-low "$label" "$r" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$(kv "$WRK_LINE" p99_us)" "$l"
    done
    l=$(load1)
    p=$(engine_p50 1)
    printf 'engine\t%s\t\t\t%s\n' "$(awk -v p="$p" 'BEGIN { print p * 1000 }')" "$l" >>"$tsv"
    raw overhead-low engine "$r" "$p" "$l"
    log "overhead (b) round $r: engine batch 1 p50 $p ms"
  done
  local e50 d
  e50=$(col "$tsv" engine 2)
  out
  out "## overhead (b): one closed-loop connection (wrk -t 1 -c 1), 1-row request, vs \`frugal run --batch 1\`"
  out
  out "| what | flags | p50 µs | p99 µs | req/s | p50 − engine p50 | load |"
  out "|---|---|---:|---:|---:|---:|---:|"
  for cfg in "${LOW_CONFIGS[@]}"; do
    label=${cfg%%|*}; flags=${cfg#*|}
    d=$(awk -v a="$(col "$tsv" "$label" 2)" -v b="$e50" 'BEGIN { printf "%.0f", a - b }')
    out "| server, batching $label | \`$flags\` | $(fmt "$(col "$tsv" "$label" 2)") | $(fmt "$(col "$tsv" "$label" 3)") | $(fmt "$(col "$tsv" "$label" 4)") | $d µs (goal ≤ 100: $(goal "$d" 100 "<=")) | $(lrange "$tsv" "$label" 5) |"
  done
  out "| engine | \`frugal run --batch 1 --threads $ENGINE_THREADS\` | $(fmt "$e50" 1) | | | | $(lrange "$tsv" engine 5) |"
}

section_overhead_image() {
  out
  out "## overhead-image: saturated server vs engine alone, $(basename "$IMAGE_MODEL" .onnx), binary tensors"
  out
  if [ ! -f "$IMAGE_MODEL" ]; then
    out "Skipped: $IMAGE_MODEL is missing (\`/usr/bin/python3 models/make_models.py --bench\` makes it)."
    return 0
  fi
  local tsv=$TMP/oimg.tsv r s0 s1 l mb b p js model name hl threads
  : >"$tsv"
  model=$(basename "$IMAGE_MODEL" .onnx)
  threads=$(sed -n 's/.*--threads \([0-9]*\).*/\1/p' <<<"$IMAGE_BATCH_SERVE"); threads=${threads:-1}
  for ((r = 1; r <= ROUNDS; r++)); do
    # shellcheck disable=SC2086
    start_frugal oi "$IMAGE_MODEL" $IMAGE_BATCH_SERVE
    name=$(curl -sf "$URL_oi/v2/models/$model" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["inputs"][0]["name"])') ||
      die "cannot read the input name from $URL_oi/v2/models/$model"
    hl=$("$PYTHON" "$BENCH_DIR/serve_bodies.py" image "$name" "$IMAGE_INPUT" "$TMP") || die "cannot write the image bodies"
    local args=(BODY="$TMP/image.bin" HDR_LEN="$hl" CONTENT_TYPE=application/octet-stream)
    run_wrk "$TMP/w.out" "$IMAGE_WARMUP" "$URL_oi/v2/models/$model/infer" "-t 1 -c $IMAGE_BATCH_CONNS" "${args[@]}"
    s0=$(batch_stats "$URL_oi"); l=$(load1)
    run_wrk "$TMP/w.out" "$DURATION" "$URL_oi/v2/models/$model/infer" "-t 1 -c $IMAGE_BATCH_CONNS" "${args[@]}"
    s1=$(batch_stats "$URL_oi")
    stop_frugal oi
    mb=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[2] - x[2]; print (n > 0 ? (y[1] - x[1]) / n : 0) }')
    printf 'server\t%s\t%s\t%s\n' "$(kv "$WRK_LINE" rps)" "$mb" "$l" >>"$tsv"
    raw overhead-image-server "$r" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$mb" "$l"
    b=$(awk -v m="$mb" 'BEGIN { b = int(m + 0.5); print b < 1 ? 1 : b }')
    l=$(load1)
    js=$("$FRUGAL_BIN" run "$IMAGE_MODEL" --batch "$b" --threads "$threads" --repeat 40 --warmup 3 --json 2>"$TMP/run.err") ||
      die "frugal run failed: $(tail -c 300 "$TMP/run.err")"
    p=$(sed -n 's/.*"latency_ms":{"p50":\([0-9.eE+-]*\).*/\1/p' <<<"$js")
    printf 'engine\t%s\t%s\t%s\n' "$(awk -v b="$b" -v p="$p" 'BEGIN { print b * 1000 / p }')" "$b" "$l" >>"$tsv"
    raw overhead-image-engine "$r" "$b" "$p" "$l"
    log "overhead-image round $r: server $(kv "$WRK_LINE" rps) items/s at mean batch $mb; engine batch $b p50 $p ms"
  done
  local srv eng q
  srv=$(col "$tsv" server 2); eng=$(col "$tsv" engine 2)
  q=$(ratio "$srv" "$eng")
  out "| what | command | images/s | batch | load |"
  out "|---|---|---:|---:|---:|"
  out "| server | \`frugal serve $IMAGE_MODEL $IMAGE_BATCH_SERVE\`, wrk -t 1 -c $IMAGE_BATCH_CONNS, binary body | $(fmt "$srv" 1) | $(fmt "$(col "$tsv" server 3)" 1) (mean, /metrics) | $(lrange "$tsv" server 4) |"
  out "| engine | \`frugal run --batch B --threads $threads\`, B*1000/p50 | $(fmt "$eng" 1) | $(fmt "$(col "$tsv" engine 3)") | $(lrange "$tsv" engine 4) |"
  out
  out "Server / engine: **$q** (goal ≥ 0.7: $(goal "$q" 0.7 ">="))."
}

section_json_vs_binary() {
  out
  out "## json-vs-binary: $(basename "$IMAGE_MODEL" .onnx), one image"
  out
  if [ ! -f "$IMAGE_MODEL" ]; then
    log "json-vs-binary: $IMAGE_MODEL is missing; skipped (make it with models/make_models.py --bench)"
    out "Skipped: $IMAGE_MODEL is missing (\`/usr/bin/python3 models/make_models.py --bench\` makes it)."
    return 0
  fi
  "$PYTHON" -c 'import numpy' 2>/dev/null || die "json-vs-binary needs numpy in $PYTHON (set PYTHON=...)"
  local tsv=$TMP/image.tsv name model hl r c kind
  : >"$tsv"
  model=$(basename "$IMAGE_MODEL" .onnx)
  # shellcheck disable=SC2086
  start_frugal img "$IMAGE_MODEL" $IMAGE_SERVE
  name=$(curl -sf "$URL_img/v2/models/$model" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["inputs"][0]["name"])') ||
    die "cannot read the input name from $URL_img/v2/models/$model"
  hl=$("$PYTHON" "$BENCH_DIR/serve_bodies.py" image "$name" "$IMAGE_INPUT" "$TMP") || die "cannot write the image bodies"
  # one request of each, checked by hand: 200, and the binary answer carries the binary output
  local code
  code=$(curl -s -o "$TMP/r.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "@$TMP/image.json" "$URL_img/v2/models/$model/infer")
  [ "$code" = 200 ] || die "JSON image request: HTTP $code: $(head -c 300 "$TMP/r.json")"
  code=$(curl -s -D "$TMP/r.hdr" -o "$TMP/r.bin" -w '%{http_code}' -H 'Content-Type: application/octet-stream' \
    -H "Inference-Header-Content-Length: $hl" --data-binary "@$TMP/image.bin" "$URL_img/v2/models/$model/infer")
  [ "$code" = 200 ] || die "binary image request: HTTP $code: $(head -c 300 "$TMP/r.bin")"
  grep -qi '^Inference-Header-Content-Length:' "$TMP/r.hdr" || die "binary image response has no Inference-Header-Content-Length"
  log "json-vs-binary: bodies $(stat -c %s "$TMP/image.json") and $(stat -c %s "$TMP/image.bin") bytes; $ROUNDS rounds"
  for ((r = 1; r <= ROUNDS; r++)); do
    for c in $IMAGE_CONNS; do
      for kind in json binary; do
        local args=(BODY="$TMP/image.json")
        [ $kind = binary ] && args=(BODY="$TMP/image.bin" HDR_LEN="$hl" CONTENT_TYPE=application/octet-stream)
        run_wrk "$TMP/w.out" "$IMAGE_WARMUP" "$URL_img/v2/models/$model/infer" "-t 1 -c $c" "${args[@]}"
        local l; l=$(load1)
        run_wrk "$TMP/w.out" "$DURATION" "$URL_img/v2/models/$model/infer" "-t 1 -c $c" "${args[@]}"
        printf '%s\t%s\t%s\t%s\t%s\n' "$kind c$c" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$(kv "$WRK_LINE" p99_us)" "$l" >>"$tsv"
        raw image "$kind" "c$c" "$r" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$(kv "$WRK_LINE" p99_us)" "$l"
        log "json-vs-binary round $r $kind c$c: $(kv "$WRK_LINE" rps) req/s, p50 $(kv "$WRK_LINE" p50_us) us"
      done
    done
  done
  stop_frugal img
  out "\`frugal serve $IMAGE_MODEL $IMAGE_SERVE\`; JSON body $(stat -c %s "$TMP/image.json") bytes (\`%.6g\` values), binary body $(stat -c %s "$TMP/image.bin") bytes (header $hl + 602112 raw, binary_data_output true)."
  out
  out "| body | wrk | req/s | p50 ms | p99 ms | load |"
  out "|---|---|---:|---:|---:|---:|"
  for c in $IMAGE_CONNS; do
    for kind in json binary; do
      out "| $kind | -t 1 -c $c | $(fmt "$(col "$tsv" "$kind c$c" 2)" 1) | $(fmt "$(awk -v x="$(col "$tsv" "$kind c$c" 3)" 'BEGIN { print x / 1000 }')" 2) | $(fmt "$(awk -v x="$(col "$tsv" "$kind c$c" 4)" 'BEGIN { print x / 1000 }')" 2) | $(lrange "$tsv" "$kind c$c" 5) |"
    done
  done
  out
  for c in $IMAGE_CONNS; do
    out "-c $c: binary/JSON req/s **$(ratio "$(col "$tsv" "binary c$c" 2)" "$(col "$tsv" "json c$c" 2)")×**, JSON p50 / binary p50 **$(ratio "$(col "$tsv" "json c$c" 3)" "$(col "$tsv" "binary c$c" 3)")×**."
  done
}

# cache_counts URL: "HITS MISSES" of the local cache
cache_counts() {
  curl -sf "$1/metrics" | awk '/^frugal_cache_hits_total\{.*level="local"/ { h = $NF }
    /^frugal_cache_misses_total\{.*level="local"/ { m = $NF } END { print h + 0, m + 0 }'
}

section_cache() {
  local tsv=$TMP/cache.tsv r l tmpl c0 c1 hr cfg label flags vary
  : >"$tsv"
  tmpl=$TMP/digits_template.json
  "$PYTHON" "$BENCH_DIR/serve_bodies.py" digits-template models/digits_mlp.json "$tmpl" || die "cannot write the template body"
  log "cache: hit path vs nginx, then zipf and unique inputs with the cache on and off; $ROUNDS rounds"
  for ((r = 1; r <= ROUNDS; r++)); do
    start_frugal ch "$DIGITS" --cache-bytes 64M --cache-admission all
    run_wrk "$TMP/w.out" "$WARMUP" "$URL_ch/v2/models/digits_mlp/infer" "-t 2 -c 64" BODY="$BODY1"
    l=$(load1)
    run_wrk "$TMP/w.out" "$DURATION" "$URL_ch/v2/models/digits_mlp/infer" "-t 2 -c 64" BODY="$BODY1"
    c1=$(cache_counts "$URL_ch")
    stop_frugal ch
    printf 'hit\t%s\t%s\t%s\t%s\n' "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$l" "$c1" >>"$tsv"
    start_nginx ng 2
    run_wrk "$TMP/w.out" "$WARMUP" "$URL_ng/" "-t 2 -c 64"
    l=$(load1)
    run_wrk "$TMP/w.out" "$DURATION" "$URL_ng/" "-t 2 -c 64"
    stop_pid ng || true
    printf 'nginx\t%s\t%s\t%s\n' "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$l" >>"$tsv"
    for vary in zipf:1.0:10000 unique; do
      for cfg in "on|--cache-bytes 64M" "off|"; do
        label="${vary%%:*} ${cfg%%|*}"; flags=${cfg#*|}
        # shellcheck disable=SC2086
        start_frugal cz "$DIGITS" $flags
        run_wrk "$TMP/w.out" "$WARMUP" "$URL_cz/v2/models/digits_mlp/infer" "$BATCH_WRK" BODY="$tmpl" VARY="$vary"
        c0=$(cache_counts "$URL_cz"); l=$(load1)
        run_wrk "$TMP/w.out" "$DURATION" "$URL_cz/v2/models/digits_mlp/infer" "$BATCH_WRK" BODY="$tmpl" VARY="$vary"
        c1=$(cache_counts "$URL_cz")
        stop_frugal cz
        hr=$(awk -v a="$c0" -v b="$c1" 'BEGIN { split(a, x, " "); split(b, y, " "); h = y[1] - x[1]; m = y[2] - x[2]; print (h + m > 0 ? h / (h + m) : 0) }')
        printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$l" "$hr" >>"$tsv"
        raw cache "$label" "$r" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$hr" "$l"
        log "cache round $r $label: $(kv "$WRK_LINE" rps) req/s, hit ratio $hr"
      done
    done
  done
  out
  out "## cache: the response cache (digits_mlp, 1-row JSON requests)"
  out
  out "| run | wrk | req/s | p50 µs | hit ratio | load |"
  out "|---|---|---:|---:|---:|---:|"
  out "| frugal, identical requests, \`--cache-bytes 64M --cache-admission all\` | -t 2 -c 64 | $(fmt "$(col "$tsv" hit 2)") | $(fmt "$(col "$tsv" hit 3)") | all hits | $(lrange "$tsv" hit 4) |"
  out "| nginx 2 workers, fixed 120-byte reply | -t 2 -c 64 | $(fmt "$(col "$tsv" nginx 2)") | $(fmt "$(col "$tsv" nginx 3)") | | $(lrange "$tsv" nginx 4) |"
  for label in "zipf on" "zipf off" "unique on" "unique off"; do
    out "| $label ($( [[ $label == zipf* ]] && echo 'Zipf s=1.0 over 10,000 inputs' || echo 'every input new')) | $BATCH_WRK | $(fmt "$(col "$tsv" "$label" 2)") | $(fmt "$(col "$tsv" "$label" 3)") | $(fmt "$(col "$tsv" "$label" 5)" 3) | $(lrange "$tsv" "$label" 4) |"
  done
  out
  out "Hit path / nginx: **$(ratio "$(col "$tsv" hit 2)" "$(col "$tsv" nginx 2)")** (goal ≥ 0.7: $(goal "$(ratio "$(col "$tsv" hit 2)" "$(col "$tsv" nginx 2)")" 0.7 ">="))."
  out "Zipf, cache on / off: **$(ratio "$(col "$tsv" "zipf on" 2)" "$(col "$tsv" "zipf off" 2)")×** req/s."
  out "Unique inputs, cache on / off: **$(ratio "$(col "$tsv" "unique on" 2)" "$(col "$tsv" "unique off" 2)")** (goal ≥ 0.95: $(goal "$(ratio "$(col "$tsv" "unique on" 2)" "$(col "$tsv" "unique off" 2)")" 0.95 ">="))."
}

section_ceiling() {
  local tsv=$TMP/ceil.tsv r t peer url l
  : >"$tsv"
  local peers=(frugal_l2 nginx_w2 frugal_l1 nginx_w1)
  start_frugal frugal_l2 "$DIGITS" --loops 2
  start_nginx nginx_w2 2
  start_frugal frugal_l1 "$DIGITS" --loops 1
  start_nginx nginx_w1 1
  log "ceiling: ${#peers[@]} servers x wrk -t {$CEIL_WRK_THREADS} -c $CEIL_CONNS x $ROUNDS rounds"
  for ((r = 1; r <= ROUNDS; r++)); do
    for t in $CEIL_WRK_THREADS; do
      for peer in "${peers[@]}"; do
        url=URL_$peer; url=${!url}
        [[ $peer == frugal* ]] && url=$url/v2/health/ready || url=$url/
        run_wrk "$TMP/w.out" "$WARMUP" "$url" "-t $t -c $CEIL_CONNS"
        l=$(load1)
        run_wrk "$TMP/w.out" "$DURATION" "$url" "-t $t -c $CEIL_CONNS"
        printf '%s\t%s\t%s\t%s\t%s\n' "$peer t$t" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$(kv "$WRK_LINE" p99_us)" "$l" >>"$tsv"
        raw ceiling "$peer" "t$t" "$r" "$(kv "$WRK_LINE" rps)" "$(kv "$WRK_LINE" p50_us)" "$(kv "$WRK_LINE" p99_us)" "$l"
        log "ceiling round $r $peer wrk -t $t: $(kv "$WRK_LINE" rps) req/s"
      done
    done
  done
  for peer in "${peers[@]}"; do
    if [[ $peer == frugal* ]]; then stop_frugal "$peer"; else stop_pid "$peer" || true; fi
  done
  out
  out "## ceiling: frugal GET /v2/health/ready vs nginx \`return 200\` (120-byte body), wrk -c $CEIL_CONNS"
  out
  out "| server | wrk | req/s | p50 µs | p99 µs | load |"
  out "|---|---|---:|---:|---:|---:|"
  local best_f=0 best_n=0 bf="" bn="" v
  for peer in "${peers[@]}"; do
    for t in $CEIL_WRK_THREADS; do
      v=$(col "$tsv" "$peer t$t" 2)
      out "| $peer | -t $t | $(fmt "$v") | $(fmt "$(col "$tsv" "$peer t$t" 3)") | $(fmt "$(col "$tsv" "$peer t$t" 4)") | $(lrange "$tsv" "$peer t$t" 5) |"
      if [[ $peer == frugal* ]]; then
        awk -v a="$v" -v b="$best_f" 'BEGIN { exit !(a > b) }' && { best_f=$v; bf="$peer, wrk -t $t"; }
      else
        awk -v a="$v" -v b="$best_n" 'BEGIN { exit !(a > b) }' && { best_n=$v; bn="$peer, wrk -t $t"; }
      fi
    done
  done
  out
  for t in $CEIL_WRK_THREADS; do
    out "wrk -t $t: frugal_l2/nginx_w2 $(ratio "$(col "$tsv" "frugal_l2 t$t" 2)" "$(col "$tsv" "nginx_w2 t$t" 2)"), frugal_l1/nginx_w1 $(ratio "$(col "$tsv" "frugal_l1 t$t" 2)" "$(col "$tsv" "nginx_w1 t$t" 2)")."
  done
  out "Best frugal ($bf) / best nginx ($bn): **$(ratio "$best_f" "$best_n")**."
}

for s in "${SECTIONS[@]}"; do
  case "$s" in
    batching) section_batching ;;
    overhead) section_overhead ;;
    overhead-image) section_overhead_image ;;
    cache) section_cache ;;
    json-vs-binary) section_json_vs_binary ;;
    ceiling) section_ceiling ;;
  esac
done
log "report: $REPORT (raw rows: $RAW)"
