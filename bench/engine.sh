#!/usr/bin/env bash
# Engine benchmark: frugal vs ONNX Runtime (onnxruntime-node, CPU EP).
#
#   bench/engine.sh [--ort-only] [MODEL.onnx ...]
#
# For each model x threads x batch: generate inputs once (ort_run.js writes
# them as .npy), probe both engines to size a round to ~ROUND_S seconds, run
# ROUNDS rounds interleaved (frugal, ORT, frugal, ORT, ...), take the median
# items/s of each engine, compare frugal's outputs with ORT's, and print one
# markdown table row. The table also goes to bench/results/engine-DATE.md.
#
# Environment (defaults): FRUGAL=build/frugal THREADS="1 2" BATCHES="1 8 32"
#   ROUNDS=3 ROUND_S=2 PROBE_REPEAT=3 WARMUP=2 MIN_REPEAT=3 MAX_REPEAT=100000
#   TOL=1e-4 RESULTS=bench/results KEEP_WORK=0
#   DIMS="" (e.g. DIMS="sequence=128": values for symbolic non-batch input
#   dims, passed to ort_run.js as --dim; frugal sees them via the .npy shapes)
#   ORT_SPIN=1 (0: turn off the spinning of ORT's intra-op thread pool)
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
CALLER_PWD=$PWD

THREADS=${THREADS:-"1 2"}
BATCHES=${BATCHES:-"1 8 32"}
ROUNDS=${ROUNDS:-3}
ROUND_S=${ROUND_S:-2}
PROBE_REPEAT=${PROBE_REPEAT:-3}
WARMUP=${WARMUP:-2}
MIN_REPEAT=${MIN_REPEAT:-3}
MAX_REPEAT=${MAX_REPEAT:-100000}
TOL=${TOL:-1e-4}
RESULTS=${RESULTS:-$BENCH_DIR/results}
KEEP_WORK=${KEEP_WORK:-0}
ORT_SPIN=${ORT_SPIN:-1}
ORT_ARGS=()
[ "$ORT_SPIN" = 0 ] && ORT_ARGS+=(--no-spin)
for dv in ${DIMS:-}; do ORT_ARGS+=(--dim "$dv"); done
DEFAULT_MODELS=(models/bench/resnet18.onnx models/bench/mobilenet_v2.onnx models/bench/bert_mini.onnx
                models/digits_mlp.onnx models/digits_cnn.onnx)

ORT_ONLY=0
MODELS=()
for a in "$@"; do
  case "$a" in
    --ort-only) ORT_ONLY=1 ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "engine.sh: unknown option $a" >&2; exit 2 ;;
    *) MODELS+=("$a") ;;
  esac
done
[ ${#MODELS[@]} -eq 0 ] && MODELS=("${DEFAULT_MODELS[@]}")

log() { echo "engine.sh: $*" >&2; }

# A path as given (relative to the caller's cwd), else relative to the repo root.
resolve() {
  case "$1" in
    /*) echo "$1" ;;
    *) if [ -e "$CALLER_PWD/$1" ]; then echo "$CALLER_PWD/$1"; else echo "$ROOT/$1"; fi ;;
  esac
}

# jget FILE EXPR: evaluate a JS expression over the JSON object j read from FILE
# (the last line of the file that parses as JSON).
jget() {
  node -e '
    const fs = require("fs");
    const lines = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").reverse();
    let j; for (const l of lines) { try { j = JSON.parse(l); break; } catch (_) {} }
    if (j === undefined) process.exit(1);
    const v = new Function("j", "return (" + process.argv[2] + ")")(j);
    if (v !== undefined && v !== null) console.log(typeof v === "object" ? JSON.stringify(v) : v);
  ' "$1" "$2"
}

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END { if (NR==0) exit 1; if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

# repeat count so that one round lasts about ROUND_S seconds, given the probe's
# fastest run in ms (min, not p50: a probe that hit a stall must not shrink the round)
repeat_for() {
  awk -v p="$1" -v s="$ROUND_S" -v lo="$MIN_REPEAT" -v hi="$MAX_REPEAT" \
    'BEGIN { r = (p > 0) ? int(s * 1000 / p + 0.999) : hi; if (r < lo) r = lo; if (r > hi) r = hi; print r }'
}

fmt_num() { awk -v x="$1" 'BEGIN { if (x == "" || x !~ /^[-+0-9.eE]+$/) print "n/a"; else printf "%.1f", x }'; }

FRUGAL_BIN=$(resolve "${FRUGAL:-build/frugal}")
if [ "$ORT_ONLY" = 0 ] && [ ! -x "$FRUGAL_BIN" ]; then
  log "frugal CLI not found at $FRUGAL_BIN (set FRUGAL=...); measuring ONNX Runtime only"
  ORT_ONLY=1
fi
if [ ! -d "$BENCH_DIR/node_modules/onnxruntime-node" ]; then
  log "onnxruntime-node is not installed; run: (cd bench && npm ci --ignore-scripts)"
  exit 2
fi

STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
REPORT="$RESULTS/engine-$STAMP.md"
RAW="$RESULTS/engine-$STAMP.jsonl"
WORK="$RESULTS/work-$STAMP"
mkdir -p "$WORK"
: >"$RAW"

ORT_VERSION=$(node -p 'require(process.argv[1] + "/node_modules/onnxruntime-node/package.json").version' "$BENCH_DIR" 2>/dev/null || echo unknown)
FRUGAL_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
if [ -n "$(git -C "$ROOT" status --porcelain -- src 2>/dev/null)" ]; then FRUGAL_REV="$FRUGAL_REV+dirty"; fi
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
NOTES=()
HEADER="| model | threads | batch | frugal items/s | ORT items/s | ratio | max rel err | max abs err |
|---|---:|---:|---:|---:|---:|---:|---:|"

{
  echo "# Engine benchmark $STAMP"
  echo
  echo "- machine: ${CPU:-unknown CPU}, $(nproc) CPUs, $(uname -sr)"
  echo "- frugal: ${FRUGAL_BIN} (rev $FRUGAL_REV)$([ "$ORT_ONLY" = 1 ] && echo ' — not run (ORT only)')"
  echo "- peer: onnxruntime-node $ORT_VERSION (CPU EP, node $(node --version)), intra-op threads = T, inter-op 1, graph opt 'all', sequential, spinning $([ "$ORT_SPIN" = 0 ] && echo off || echo on)"
  echo "- method: $ROUNDS interleaved rounds per engine (frugal, ORT, frugal, ORT, ...), each ~${ROUND_S}s after $WARMUP warmups;"
  echo "  items/s = batch * 1000 / p50 latency (ms) per round, median over rounds; ratio = frugal / ORT (>1: frugal faster)"
  echo "- accuracy: max rel err = max|frugal-ORT| / max(max|ORT|, 1e-6) over all outputs, tolerance $TOL"
  echo
  echo "$HEADER"
} >"$REPORT"
echo "$HEADER"

row() { # model threads batch frugal ort ratio rel abs
  local r="| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 |"
  echo "$r"
  echo "$r" >>"$REPORT"
}

# run_ort MODEL BATCH THREADS REPEAT WARMUP INDIR OUTDIR JSONOUT [extra args]
run_ort() {
  local model=$1 b=$2 t=$3 r=$4 w=$5 ind=$6 outd=$7 js=$8
  shift 8
  node "$BENCH_DIR/ort_run.js" "$model" --batch "$b" --threads "$t" --repeat "$r" --warmup "$w" \
    --inputs "$ind" ${outd:+--outputs "$outd"} --json "${ORT_ARGS[@]}" "$@" >"$js" 2>"$js.err"
}

# run_frugal MODEL BATCH THREADS REPEAT WARMUP OUTDIR JSONOUT   (uses INPUT_ARGS)
run_frugal() {
  local model=$1 b=$2 t=$3 r=$4 w=$5 outd=$6 js=$7
  "$FRUGAL_BIN" run "$model" "${INPUT_ARGS[@]}" --batch "$b" --threads "$t" --repeat "$r" --warmup "$w" \
    --output "$outd" --json >"$js" 2>"$js.err"
}

items_per_s() { # JSON BATCH -> items/s from latency_ms.p50
  jget "$1" "j.latency_ms && j.latency_ms.p50 > 0 ? $2 * 1000 / j.latency_ms.p50 : undefined"
}

errtail() { tail -c 300 "$1" 2>/dev/null | tr '\n' ' ' | sed 's/ *$//'; }

for model_arg in "${MODELS[@]}"; do
  model=$(resolve "$model_arg")
  mname=$(basename "$model" .onnx)
  if [ ! -f "$model" ]; then
    log "skipping $model_arg: not found"
    NOTES+=("skipped $model_arg: not found")
    continue
  fi
  for b in $BATCHES; do
    ind="$WORK/$mname/b$b/inputs"
    mkdir -p "$ind"
    # generate inputs once for this model and batch (also checks the batch is runnable)
    run_ort "$model" "$b" 1 1 0 "$ind" "" "$WORK/$mname/b$b/gen.json"
    rc=$?
    if [ $rc -ne 0 ]; then
      msg=$(errtail "$WORK/$mname/b$b/gen.json.err")
      log "$mname batch $b: ORT cannot run it: $msg"
      NOTES+=("$mname batch $b: $msg")
      for t in $THREADS; do row "$mname" "$t" "$b" "n/a" "n/a" "n/a" "n/a" "n/a"; done
      continue
    fi
    INPUT_ARGS=()
    while IFS=$'\t' read -r iname ifile; do
      INPUT_ARGS+=(--input "$iname=$ifile")
    done < <(jget "$WORK/$mname/b$b/gen.json" 'j.inputs.map(x => x.name + "\t" + x.file).join("\n")')

    for t in $THREADS; do
      d="$WORK/$mname/b$b/t$t"
      mkdir -p "$d"
      log "$mname threads $t batch $b: probing"
      ort_ok=1; fr_ok=1; ort_rep=""; fr_rep=""
      if run_ort "$model" "$b" "$t" "$PROBE_REPEAT" 1 "$ind" "" "$d/ort-probe.json"; then
        ort_rep=$(repeat_for "$(jget "$d/ort-probe.json" 'j.latency_ms.min || j.latency_ms.p50')")
      else
        ort_ok=0; NOTES+=("$mname t$t b$b: ORT failed: $(errtail "$d/ort-probe.json.err")")
      fi
      if [ "$ORT_ONLY" = 0 ]; then
        if run_frugal "$model" "$b" "$t" "$PROBE_REPEAT" 1 "$d/frugal-out" "$d/frugal-probe.json" \
           && p=$(jget "$d/frugal-probe.json" 'j.latency_ms.min || j.latency_ms.p50'); then
          fr_rep=$(repeat_for "$p")
        else
          fr_ok=0; NOTES+=("$mname t$t b$b: frugal failed: $(errtail "$d/frugal-probe.json.err")")
        fi
      else
        fr_ok=0
      fi
      log "$mname threads $t batch $b: $ROUNDS rounds (repeat: frugal ${fr_rep:-n/a}, ORT ${ort_rep:-n/a})"
      fr_list=(); ort_list=()
      for ((round = 1; round <= ROUNDS; round++)); do
        if [ $fr_ok = 1 ]; then
          if run_frugal "$model" "$b" "$t" "$fr_rep" "$WARMUP" "$d/frugal-out" "$d/frugal-$round.json"; then
            v=$(items_per_s "$d/frugal-$round.json" "$b") && fr_list+=("$v")
            jget "$d/frugal-$round.json" "({engine:'frugal', model:'$mname', threads:$t, batch:$b, round:$round, repeat:$fr_rep, latency_ms:j.latency_ms})" >>"$RAW"
          else
            fr_ok=0; NOTES+=("$mname t$t b$b: frugal failed in round $round: $(errtail "$d/frugal-$round.json.err")")
          fi
        fi
        if [ $ort_ok = 1 ]; then
          if run_ort "$model" "$b" "$t" "$ort_rep" "$WARMUP" "$ind" "$d/ort-out" "$d/ort-$round.json"; then
            v=$(items_per_s "$d/ort-$round.json" "$b") && ort_list+=("$v")
            jget "$d/ort-$round.json" "({engine:'ort', model:'$mname', threads:$t, batch:$b, round:$round, repeat:$ort_rep, latency_ms:j.latency_ms})" >>"$RAW"
          else
            ort_ok=0; NOTES+=("$mname t$t b$b: ORT failed in round $round: $(errtail "$d/ort-$round.json.err")")
          fi
        fi
      done
      fr_med=""; ort_med=""
      [ $fr_ok = 1 ] && [ ${#fr_list[@]} -gt 0 ] && fr_med=$(printf '%s\n' "${fr_list[@]}" | median)
      [ $ort_ok = 1 ] && [ ${#ort_list[@]} -gt 0 ] && ort_med=$(printf '%s\n' "${ort_list[@]}" | median)
      ratio="n/a"; rel="n/a"; abs="n/a"
      if [ -n "$fr_med" ] && [ -n "$ort_med" ]; then
        ratio=$(awk -v a="$fr_med" -v b="$ort_med" 'BEGIN { printf "%.3g", a / b }')
        last="$d/frugal-$ROUNDS.json"
        node "$BENCH_DIR/compare.js" "$d/frugal-out" "$d/ort-out" --frugal-json "$last" --tol "$TOL" --json \
          >"$d/compare.json" 2>"$d/compare.json.err"
        crc=$?
        if [ $crc -le 1 ] && [ -s "$d/compare.json" ]; then
          rel=$(jget "$d/compare.json" 'Number(j.max_rel).toExponential(2)')
          abs=$(jget "$d/compare.json" 'Number(j.max_abs).toExponential(2)')
          if [ $crc -ne 0 ]; then
            rel="$rel FAIL"
            NOTES+=("$mname t$t b$b: outputs differ: $(jget "$d/compare.json" 'j.outputs.filter(o => !o.ok).map(o => o.name + ": " + (o.error || ("max_rel " + o.max_rel))).join("; ")')")
          fi
        else
          rel="ERR"; NOTES+=("$mname t$t b$b: compare failed: $(errtail "$d/compare.json.err")")
        fi
        jget "$d/compare.json" "({engine:'compare', model:'$mname', threads:$t, batch:$b, ok:j.ok, max_rel:j.max_rel, max_abs:j.max_abs})" >>"$RAW" 2>/dev/null
      fi
      frs=$(fmt_num "$fr_med"); ors=$(fmt_num "$ort_med")
      [ "$ORT_ONLY" = 0 ] && [ -z "$fr_med" ] && frs="ERR"
      [ -z "$ort_med" ] && ors="ERR"
      row "$mname" "$t" "$b" "$frs" "$ors" "$ratio" "$rel" "$abs"
    done
  done
done

{
  echo
  if [ ${#NOTES[@]} -gt 0 ]; then
    echo "Notes:"
    echo
    for n in "${NOTES[@]}"; do echo "- $n"; done
    echo
  fi
  echo "Raw per-round latencies: $(basename "$RAW")"
} >>"$REPORT"
for n in "${NOTES[@]}"; do log "note: $n"; done
[ "$KEEP_WORK" = 1 ] || rm -rf "$WORK"
log "report: $REPORT"
