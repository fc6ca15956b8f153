#!/usr/bin/env bash
# bench/int8_goals.sh - the speed goals of frugal's int8 and bf16 paths, measured in one go, one thread:
#   resnet18 static int8 >= 3x its fp32 at batch 32, bert_mini dynamic int8 >= 2x fp32 at batch 32, and
#   bf16 against fp32 on both. The fp32 and int8 (or bf16) runs alternate round by round and each ratio
#   is the median of the per-round ratios, which cancels most of a shared machine's drift. Prints the
#   CPU's AMX/AVX512-BF16 flags first: the 3x and bf16 goals assume AMX (bench/RESULTS.md).
#   (frugal against ONNX Runtime on the same int8 models: bench/quant.sh.)
#
#   FRUGAL=build/frugal ROUNDS=7 BATCH=32 bench/int8_goals.sh
#   CALIB=FILE.npy   calibration inputs for resnet18 (default: its committed input, one image)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRUGAL=${FRUGAL:-$ROOT/build/frugal}
ROUNDS=${ROUNDS:-7}
BATCH=${BATCH:-32}
cd "$ROOT" || exit 2
[ -x "$FRUGAL" ] || { echo "int8_goals.sh: no frugal binary at $FRUGAL (scripts/build.sh)" >&2; exit 2; }
for m in models/bench/resnet18.onnx models/bench/bert_mini.onnx; do
  [ -f "$m" ] || { echo "int8_goals.sh: $m is missing (models/make_models.py --bench)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
have() { [[ " $flags " == *" $1 "* ]] && echo yes || echo no; }
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cpus;" \
     "avx512_vnni $(have avx512_vnni), avx512_bf16 $(have avx512_bf16), amx_int8 $(have amx_int8), amx_bf16 $(have amx_bf16)"
[ -x build/bench/peak ] && build/bench/peak 3 | tail -1

"$FRUGAL" quantize --mode static --calib "${CALIB:-models/bench/resnet18_input.npy}" models/bench/resnet18.onnx \
  "$work/r18_int8.onnx" >"$work/q.log" 2>&1 || { echo "int8_goals.sh: quantizing resnet18 failed:" >&2; cat "$work/q.log" >&2; exit 1; }
"$FRUGAL" quantize models/bench/bert_mini.onnx "$work/bert_int8.onnx" >"$work/q.log" 2>&1 ||
  { echo "int8_goals.sh: quantizing bert_mini failed:" >&2; cat "$work/q.log" >&2; exit 1; }

# p50 in ms of one `frugal run` (3 timed runs after a warmup); extra args after the batch
p50() {
  local model=$1 batch=$2; shift 2
  "$FRUGAL" run "$model" --threads 1 --batch "$batch" --repeat 3 --json "$@" 2>/dev/null |
    python3 -c "import json,sys; print(json.load(sys.stdin)['latency_ms']['p50'])" 2>/dev/null || echo nan
}

# ratio NAME LABEL GOAL FP32_MODEL OTHER_MODEL [OTHER_ARGS]: alternating rounds, median per-round ratio
ratio() {
  local name=$1 label=$2 goal=$3 base=$4 other=$5 oargs=${6:-} out=""
  for _ in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2086
    out="$out $(p50 "$base" "$BATCH"):$(p50 "$other" "$BATCH" $oargs)"
  done
  # shellcheck disable=SC2086  # one argument per round
  python3 - "$name" "$label" "$goal" $out <<'PY'
import statistics, sys
name, label, goal = sys.argv[1], sys.argv[2], float(sys.argv[3])
p = [tuple(map(float, x.split(':'))) for x in sys.argv[4:]]
p = [(a, b) for a, b in p if a == a and b == b and b > 0]
if not p:
    print(f"{name}: no run finished"); sys.exit(0)
r = statistics.median(a / b for a, b in p)
fa, fb = statistics.median(a for a, b in p), statistics.median(b for a, b in p)
verdict = "" if goal <= 0 else ("  goal >= %.1fx: met" % goal if r >= goal else "  goal >= %.1fx: NOT met" % goal)
print(f"{name}: fp32 {fa:.1f} ms, {label} {fb:.1f} ms, speed-up {r:.2f}x (median of {len(p)} rounds){verdict}")
PY
}

echo "batch $BATCH, one thread, $ROUNDS alternating rounds"
ratio "resnet18 int8 static vs fp32" int8 3 models/bench/resnet18.onnx "$work/r18_int8.onnx"
ratio "bert_mini int8 dynamic vs fp32" int8 2 models/bench/bert_mini.onnx "$work/bert_int8.onnx"
ratio "resnet18 bf16 vs fp32" bf16 0 models/bench/resnet18.onnx models/bench/resnet18.onnx "--precision bf16"
ratio "bert_mini bf16 vs fp32" bf16 0 models/bench/bert_mini.onnx models/bench/bert_mini.onnx "--precision bf16"
