#!/usr/bin/env bash
# End-to-end tests of `--precision fp32|bf16` on `frugal eval`, `frugal run` and `frugal serve`: bf16 keeps
# the digits MLP's accuracy within 0.5 points of fp32, says how many products ran in bf16, falls back to
# f32 where oneDNN has no bf16 kernel (forced with ONEDNN_MAX_CPU_ISA=AVX2), and bad values exit 2 with one
# line on stderr.
# usage: precision.sh FRUGAL_BINARY
set -u
F=${1:?usage: precision.sh FRUGAL_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models
X=$M/digits_test_x.npy
Y=$M/digits_test_y.npy
PY=/usr/bin/python3
tmp=$(mktemp -d)
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

# usage_error NAME ARGS...: exit status 2 and exactly one line on stderr naming --precision
usage_error() {
  local name=$1; shift
  "$F" "$@" >"$tmp/u.out" 2>"$tmp/u.err"; local rc=$?
  if [[ $rc -eq 2 && $(wc -l <"$tmp/u.err") -eq 1 ]] && grep -q -- "--precision is 'fp32' or 'bf16', got 'fp8'" "$tmp/u.err"; then
    ok "$name"
  else
    bad "$name" "exit $rc: $(cat "$tmp/u.err")"
  fi
}

# 1. eval: accuracy of bf16 within 0.5 points of fp32 on the committed test set
acc() { # precision: prints "accuracy precision" from eval --json
  "$F" eval "$M/digits_mlp.onnx" --precision "$1" --data "$X" --labels "$Y" --repeat 20 --json 2>"$tmp/eval.err" |
    $PY -c "import json,sys; d=json.load(sys.stdin); print('%.4f %s' % (d['models'][0]['accuracy'], d['precision']))"
}
r32=$(acc fp32); r16=$(acc bf16)
read -r a32 p32 <<<"$r32"; read -r a16 p16 <<<"$r16"
if [[ -z "$r32" || -z "$r16" ]]; then
  bad "eval --precision" "$(cat "$tmp/eval.err")"
elif [[ "$p32 $p16" == "fp32 bf16" ]] && awk -v a="$a32" -v b="$a16" 'BEGIN{d = (a - b) * 100; exit !(d <= 0.5 && d >= -0.5)}'; then
  ok "eval: bf16 accuracy $a16 vs fp32 $a32 (within 0.5 points)"
else
  bad "eval accuracy" "fp32 '$r32', bf16 '$r16'"
fi
"$F" eval "$M/digits_mlp.onnx" --precision bf16 --data "$X" --labels "$Y" --repeat 5 >"$tmp/e.txt" 2>&1 &&
  grep -q "1 thread, bf16," "$tmp/e.txt" && ok "eval text names the precision" || bad "eval text" "$(cat "$tmp/e.txt")"
usage_error "eval: bad --precision exits 2" eval "$M/digits_mlp.onnx" --precision fp8 --data "$X"

# 2. run: bf16 works and reports how many products ran in bf16 (the unit test compares the values)
"$F" run "$M/digits_mlp.onnx" --precision bf16 --input "input=$X" >"$tmp/r16.txt" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -qE '^precision bf16: [0-9]+ products in bf16, [0-9]+ kept in f32' "$tmp/r16.txt"; then
  ok "run --precision bf16: $(grep -oE '[0-9]+ products in bf16, [0-9]+ kept in f32' "$tmp/r16.txt")"
else
  bad "run --precision bf16" "exit $rc: $(cat "$tmp/r16.txt")"
fi
"$F" run "$M/digits_mlp.onnx" --precision fp32 --input "input=$X" >"$tmp/r32.txt" 2>&1 &&
  ! grep -q '^precision' "$tmp/r32.txt" && ok "run --precision fp32 (no bf16 line)" || bad "run --precision fp32" "$(cat "$tmp/r32.txt")"
"$F" run "$M/digits_mlp.onnx" --precision bf16 --batch 64 --json >"$tmp/r.json" 2>&1 &&
  $PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['precision'] == 'bf16' and d['nodes_bf16'] + d['nodes_bf16_fallback'] == 3" "$tmp/r.json" &&
  ok "run --json: precision and node counts" || bad "run --json" "$(cat "$tmp/r.json")"
usage_error "run: bad --precision exits 2" run "$M/digits_mlp.onnx" --precision fp8

# 3. fallback: without AVX-512 oneDNN has only reference bf16 kernels; every product then runs in f32 and
#    the result is bit-identical to an fp32 session's
ONEDNN_MAX_CPU_ISA=AVX2 "$F" run "$M/digits_mlp.onnx" --precision bf16 --input "input=$X" --output "$tmp/fb16" >"$tmp/fb.txt" 2>&1 &&
  ONEDNN_MAX_CPU_ISA=AVX2 "$F" run "$M/digits_mlp.onnx" --precision fp32 --input "input=$X" --output "$tmp/fb32" >/dev/null 2>&1 &&
  grep -q 'precision bf16: 0 products in bf16, 3 kept in f32' "$tmp/fb.txt" && cmp -s "$tmp/fb16/output_0.pb" "$tmp/fb32/output_0.pb" &&
  ok "fallback to f32 where oneDNN has no bf16 kernel: counted, same output as fp32" || bad "fallback" "$(cat "$tmp/fb.txt")"

# 4. serve: sessions in bf16, the load says what runs in bf16, inference answers; bad value exits 2
if start_server s "$M/digits_mlp.onnx" --precision bf16 --max-batch 8; then
  grep -qE "bf16 compute for [0-9]+ products" "$tmp/s.err" && ok "serve --precision bf16 logs its products" ||
    bad "serve log" "$(cat "$tmp/s.err")"
  req POST /v2/models/digits_mlp/infer --data-binary "@$M/digits_mlp.json"
  expect "serve --precision bf16 answers an inference" 200 '"logits"'
  stop_server
  [[ "$rc" == 0 ]] && ok "serve exits cleanly" || bad "serve exit" "rc '$rc'"
else
  bad "serve --precision bf16 starts" "$(cat "$tmp/s.out" "$tmp/s.err")"
fi
usage_error "serve: bad --precision exits 2" serve "$M/digits_mlp.onnx" --precision fp8

finish
