#!/usr/bin/env bash
# bench/quant.sh - int8 against fp32 in frugal, and frugal against ONNX Runtime on the same int8 models.
# Run by hand (needs bench/node_modules: scripts/setup.sh --bench, and models/bench/*.onnx):
#
#   bench/quant.sh                      # resnet18, mobilenet_v2, bert_mini, digits_mlp, digits_cnn
#   FRUGAL=build/frugal THREADS=1 BATCHES="1 32" bench/quant.sh models/bench/resnet18.onnx
#   MODES=static bench/quant.sh           # only the static QDQ variants (MODES="dynamic static" default)
#   CALIB=/tmp/r18_64.npy MODES=static bench/quant.sh models/bench/resnet18.onnx   # other calibration data
#
# For each fp32 model: `frugal quantize` writes a dynamic int8 model and (for float inputs) a static QDQ
# model calibrated on the model's committed input (models/bench/NAME_input.npy, or the digits test
# set); then bench/engine.sh runs the fp32 and the int8 models through frugal and ORT, interleaved, and
# checks frugal's outputs against ORT's on each. Last, one table: items/s of each variant in both
# engines, int8 / fp32 within frugal, and frugal / ORT on the same int8 model.
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
FRUGAL=${FRUGAL:-$ROOT/build/frugal}
export FRUGAL THREADS=${THREADS:-1} BATCHES=${BATCHES:-"1 32"} ROUND_S=${ROUND_S:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(models/bench/resnet18.onnx models/bench/mobilenet_v2.onnx models/bench/bert_mini.onnx
                                   models/digits_mlp.onnx models/digits_cnn.onnx)
cd "$ROOT"
list=()
for m in "${MODELS[@]}"; do
  [ -f "$m" ] || { echo "quant.sh: $m is missing (models/make_models.py --bench)" >&2; continue; }
  name=$(basename "$m" .onnx)
  calib=models/bench/${name}_input.npy
  case "$name" in digits_mlp) calib=models/digits_test_x.npy ;; digits_cnn) calib=models/digits_test_x_img.npy ;; esac
  list+=("$m")
  for mode in ${MODES:-dynamic static}; do
    # static QDQ needs float calibration inputs (bert_mini's are token ids: quantize says so and skips)
    args=(--mode "$mode")
    [ "$mode" = static ] && args+=(--calib "${CALIB:-$calib}")
    if "$FRUGAL" quantize "${args[@]}" "$m" "$work/${name}_int8_$mode.onnx" >&2; then
      list+=("$work/${name}_int8_$mode.onnx")
    fi
  done
done
"$BENCH_DIR/engine.sh" "${list[@]}" | tee "$work/table.md"
# | model | threads | batch | frugal items/s | ORT items/s | ratio | max rel err | max abs err |
echo
echo "| model | threads | batch | variant | frugal items/s | int8 / fp32 (frugal) | ORT items/s | frugal / ORT |"
echo "|---|---:|---:|---|---:|---:|---:|---:|"
awk -F'|' '
  function trim(s) { gsub(/^ +| +$/, "", s); return s }
  /^\| *[^ -]/ && $5 ~ /[0-9]/ {
    m = trim($2); t = trim($3); b = trim($4); f = trim($5); o = trim($6); r = trim($7)
    v = "fp32"; base = m
    if (m ~ /_int8_dynamic/) { v = "int8 dynamic"; sub(/_int8_dynamic.*/, "", base) }
    else if (m ~ /_int8_static/) { v = "int8 static"; sub(/_int8_static.*/, "", base) }
    sub(/\.onnx$/, "", base); sub(/.*\//, "", base)
    key = base "/" t "/" b
    if (v == "fp32") fp[key] = f
    rows[++n] = base "|" t "|" b "|" v "|" f "|" o "|" r "|" key
  }
  END {
    for (i = 1; i <= n; i++) {
      split(rows[i], x, "|")
      sp = (x[4] != "fp32" && fp[x[8]] > 0) ? sprintf("%.2f", x[5] / fp[x[8]]) : "-"
      printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", x[1], x[2], x[3], x[4], x[5], sp, x[6], x[7]
    }
  }' "$work/table.md"
