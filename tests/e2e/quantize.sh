#!/usr/bin/env bash
# End-to-end tests of `frugal quantize` and `frugal eval` on the committed digits models: dynamic and
# static (QDQ) quantization, the ops each writes, --keep-first-last / --exclude / --per-tensor, the
# calibration ranges, accuracy of the quantized models against the fp32 ones on the committed test set
# (drop <= 0.5 points, measured by frugal eval), eval's JSON and verdicts, data files as KServe v2 JSON
# requests, and bad usage.
# usage: quantize.sh FRUGAL_BINARY
set -u
F=$(realpath "${1:?usage: quantize.sh FRUGAL_BINARY}")
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [[ -n "${2:-}" ]] && echo "     $2"; }
M=models
X=$M/digits_test_x.npy; XI=$M/digits_test_x_img.npy; Y=$M/digits_test_y.npy
ops() { grep -ao "$2" "$1" | wc -l; }   # occurrences of an op type name in a model file

# 1. dynamic: DynamicQuantizeLinear + MatMulInteger / ConvInteger, weights int8, model smaller
"$F" quantize $M/digits_mlp.onnx "$tmp/mlp_dyn.onnx" >"$tmp/out" 2>&1 && grep -q "3 nodes quantized (0 MatMul, 3 Gemm, 0 Conv)" "$tmp/out" &&
  ok "dynamic mlp: 3 Gemm quantized" || bad "dynamic mlp" "$(cat "$tmp/out")"
[[ $(ops "$tmp/mlp_dyn.onnx" MatMulInteger) -ge 3 && $(ops "$tmp/mlp_dyn.onnx" DynamicQuantizeLinear) -ge 3 ]] &&
  ok "dynamic mlp writes MatMulInteger and DynamicQuantizeLinear" || bad "dynamic mlp ops"
s0=$(stat -c %s $M/digits_mlp.onnx); s1=$(stat -c %s "$tmp/mlp_dyn.onnx")
(( s1 * 3 < s0 )) && ok "dynamic mlp is under a third of the fp32 size ($s1 vs $s0 bytes)" || bad "size" "$s1 vs $s0"
"$F" quantize $M/digits_cnn.onnx "$tmp/cnn_dyn.onnx" >"$tmp/out" 2>&1 && grep -q "(0 MatMul, 1 Gemm, 2 Conv)" "$tmp/out" &&
  [[ $(ops "$tmp/cnn_dyn.onnx" ConvInteger) -ge 2 ]] && ok "dynamic cnn: 2 ConvInteger + 1 MatMulInteger" || bad "dynamic cnn" "$(cat "$tmp/out")"

# 2. static QDQ with calibration ranges
"$F" quantize --mode static --calib $X $M/digits_mlp.onnx "$tmp/mlp_qdq.onnx" >"$tmp/out" 2>&1 &&
  grep -q "input  *range \[0, 1\]" "$tmp/out" && ok "static mlp: the input's calibrated range is [0, 1]" || bad "static mlp" "$(cat "$tmp/out")"
[[ $(ops "$tmp/mlp_qdq.onnx" QuantizeLinear) -ge 3 && $(ops "$tmp/mlp_qdq.onnx" DequantizeLinear) -ge 6 ]] &&
  ok "static mlp writes Q/DQ pairs for activations and DQ for weights" || bad "static ops"
"$F" quantize --mode static --calib $XI --method percentile --percentile 99.9 $M/digits_cnn.onnx "$tmp/cnn_qdq.onnx" >"$tmp/out" 2>&1 &&
  ok "static cnn, percentile calibration" || bad "static cnn" "$(cat "$tmp/out")"
hi_mm=$("$F" quantize --mode static --calib $XI $M/digits_cnn.onnx "$tmp/x.onnx" | awk '/Flatten/ {print $NF}' | tr -d ']')
hi_pc=$(awk '/Flatten/ {print $NF}' "$tmp/out" | tr -d ']')
awk -v a="$hi_pc" -v b="$hi_mm" 'BEGIN{exit !(a < b)}' && ok "percentile clips the range below min/max ($hi_pc < $hi_mm)" || bad "percentile" "$hi_pc vs $hi_mm"

# residual blocks (models/blocks.onnx: Conv/Relu/Clip/Add/MaxPool): the Add whose second operand is a
# float tensor reads that tensor's Q/DQ form, so the residual runs on int8 operands; outputs still agree
"$F" quantize --mode static --calib $M/blocks_input.npy $M/blocks.onnx "$tmp/blocks_qdq.onnx" >"$tmp/out" 2>&1 &&
  grep -q "1 residual Add given int8 operands" "$tmp/out" && ok "static blocks: 1 residual Add given int8 operands" ||
  bad "static blocks" "$(cat "$tmp/out")"
"$F" eval $M/blocks.onnx "$tmp/blocks_qdq.onnx" --data $M/blocks_input.npy --repeat 5 --json 2>"$tmp/err" |
  python3 -c "import json,sys; m=json.load(sys.stdin)['models'][1]; sys.exit(0 if m['agreement'] == 1 and m['max_abs_diff'] < 0.06 else 1)" &&
  ok "static blocks: same top-1 as fp32 on both samples, max abs diff < 0.06 (logits within +-0.32)" ||
  bad "static blocks accuracy" "$(cat "$tmp/err")"

# 3. options
"$F" quantize --keep-first-last $M/digits_mlp.onnx "$tmp/k.onnx" >"$tmp/out" 2>&1 && grep -q "1 nodes quantized .* 2 left in float" "$tmp/out" &&
  ok "--keep-first-last leaves 2 of 3 in float" || bad "--keep-first-last" "$(cat "$tmp/out")"
first=$(grep -ao '/net/net.0/Gemm' $M/digits_mlp.onnx | head -1)
"$F" quantize --exclude "$first" $M/digits_mlp.onnx "$tmp/e.onnx" >"$tmp/out" 2>&1 && grep -q "2 nodes quantized" "$tmp/out" &&
  ok "--exclude NODE" || bad "--exclude" "$(cat "$tmp/out")"
"$F" quantize --per-tensor $M/digits_mlp.onnx "$tmp/t.onnx" >"$tmp/out" 2>&1 && grep -q "per-tensor" "$tmp/out" && ok "--per-tensor" || bad "--per-tensor"

# 4. accuracy: quantized vs fp32 on the committed test set, measured by frugal eval (drop <= 0.5 points)
acc() { "$F" eval "$1" "$2" --data "$3" --labels $Y --repeat 20 --json 2>"$tmp/eval.err" |
        python3 -c "import json,sys; m=json.load(sys.stdin)['models']; print('%.4f %.4f %s' % (m[0]['accuracy'], m[1]['accuracy'], m[1]['agreement']))"; }
for pair in "digits_mlp.onnx mlp_dyn.onnx $X" "digits_mlp.onnx mlp_qdq.onnx $X" "digits_cnn.onnx cnn_dyn.onnx $XI" "digits_cnn.onnx cnn_qdq.onnx $XI"; do
  set -- $pair
  r=$(acc $M/$1 "$tmp/$2" "$3")
  if [[ -z "$r" ]]; then bad "accuracy of $2" "$(cat "$tmp/eval.err")"; continue; fi
  read -r a0 a1 agree <<<"$r"
  awk -v a="$a0" -v b="$a1" 'BEGIN{exit !((a - b) * 100 <= 0.5)}' && ok "$2: accuracy $a1 vs fp32 $a0 (drop <= 0.5 points)" ||
    bad "$2 accuracy" "$a1 vs $a0"
done

# 5. eval: JSON keys, verdict, reshape of [N,64] data for the CNN, errors
"$F" eval $M/digits_mlp.onnx $M/digits_cnn.onnx --data $X --labels $Y --repeat 20 --json >"$tmp/e.json" 2>"$tmp/err"
r=$(python3 -c "
import json,sys; j=json.load(open(sys.argv[1])); m=j['models']
keys=all(k in m[1] for k in ('accuracy','agreement','max_abs_diff','batch1','batch32','size_bytes','verdict'))
print(keys, m[0]['verdict'], m[1]['batch32']['throughput_per_s']>0, m[1]['batch1']['cost_per_1k_usd']>0)" "$tmp/e.json")
[[ "$r" == "True baseline True True" ]] && ok "eval --json: keys, baseline, throughput, cost per 1k (CNN fed reshaped [N,64] data)" || bad "eval json" "$r $(cat "$tmp/err")"
"$F" eval $M/digits_mlp.onnx $M/digits_mlp.onnx --data $X --labels $Y --repeat 20 >"$tmp/e.txt" 2>&1
grep -q "verdict: " "$tmp/e.txt" && grep -q "accuracy +0.00 points" "$tmp/e.txt" && ok "eval text: deltas and a verdict" || bad "eval text" "$(cat "$tmp/e.txt")"
"$F" eval $M/digits_mlp.onnx $M/digits_mlp.onnx --data $X --labels $Y --repeat 20 --accuracy-budget 0 --json |
  python3 -c "import json,sys; v=json.load(sys.stdin)['models'][1]['verdict']; sys.exit(0 if v.startswith(('better','mixed','slower')) else 1)" &&
  ok "a model equal to the baseline is not called worse" || bad "verdict on equal models"

# 6. data files as KServe v2 infer requests in JSON (what a client sends to /v2/models/M/infer): the same
#    accuracy as from .npy, calibration from JSON, run --input from JSON; one tensor per file
python3 - "$X" "$Y" "$tmp" <<'PY'
import ast, json, struct, sys
def npy(path):  # the .npy v1 header and payload, without numpy (CI has none)
    b = open(path, 'rb').read(); hl = struct.unpack('<H', b[8:10])[0]; h = ast.literal_eval(b[10:10 + hl].decode())
    code = {'<f4': ('f', 'FP32'), '<i8': ('q', 'INT64'), '<i4': ('i', 'INT32')}[h['descr']]
    n = 1
    for d in h['shape']: n *= d
    return list(h['shape']), code[1], list(struct.unpack('<%d%s' % (n, code[0]), b[10 + hl:10 + hl + n * struct.calcsize(code[0])]))
x, y = npy(sys.argv[1]), npy(sys.argv[2])
req = lambda name, t: {"id": "data", "inputs": [{"name": name, "shape": t[0], "datatype": t[1], "data": t[2]}]}
json.dump(req("x", x), open(sys.argv[3] + '/x.json', 'w'))
json.dump(req("labels", y), open(sys.argv[3] + '/y.json', 'w'))
json.dump(req("input", (x[0][:0] + [1, x[0][1]], x[1], x[2][:x[0][1]])), open(sys.argv[3] + '/x1.json', 'w'))
two = req("x", x); two["inputs"].append(dict(two["inputs"][0], name="x2")); json.dump(two, open(sys.argv[3] + '/two.json', 'w'))
PY
a_npy=$(acc $M/digits_mlp.onnx "$tmp/mlp_dyn.onnx" $X)
a_json=$("$F" eval $M/digits_mlp.onnx "$tmp/mlp_dyn.onnx" --data "$tmp/x.json" --labels "$tmp/y.json" --repeat 20 --json 2>"$tmp/eval.err" |
         python3 -c "import json,sys; m=json.load(sys.stdin)['models']; print('%.4f %.4f %s' % (m[0]['accuracy'], m[1]['accuracy'], m[1]['agreement']))")
[[ -n "$a_json" && "$a_json" == "$a_npy" ]] && ok "eval --data/--labels as v2 JSON: same results as .npy ($a_json)" ||
  bad "eval with JSON data" "json '$a_json' npy '$a_npy' $(cat "$tmp/eval.err")"
"$F" quantize --mode static --calib "$tmp/x.json" $M/digits_mlp.onnx "$tmp/mlp_qdq_json.onnx" >/dev/null 2>&1 &&
  cmp -s "$tmp/mlp_qdq_json.onnx" "$tmp/mlp_qdq.onnx" && ok "quantize --calib v2 JSON writes the same model as --calib .npy" ||
  bad "quantize --calib JSON"
"$F" run $M/digits_mlp.onnx --input "input=$tmp/x1.json" --json >"$tmp/r.json" 2>"$tmp/err" &&
  python3 -c "import json,sys; o=json.load(open(sys.argv[1]))['outputs'][0]; sys.exit(0 if o['shape'][0] == 1 else 1)" "$tmp/r.json" &&
  ok "run --input NAME=request.json" || bad "run --input JSON" "$(cat "$tmp/err")"
printf '{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0]}]}' >"$tmp/short.json"
printf '{"inputs": [' >"$tmp/cut.json"
for f in two short cut; do
  "$F" eval $M/digits_mlp.onnx --data "$tmp/$f.json" >/dev/null 2>"$tmp/err"; rc=$?
  [[ $rc == 1 && $(wc -l <"$tmp/err") == 1 ]] && ok "exit 1, one line: --data $f.json ($(cut -c1-90 "$tmp/err"))" ||
    bad "bad JSON data $f" "rc $rc $(cat "$tmp/err")"
done

# 7. bad usage and bad input
for args in "quantize" "quantize $M/digits_mlp.onnx" "quantize --mode fast $M/digits_mlp.onnx $tmp/o.onnx" \
            "quantize --mode static $M/digits_mlp.onnx $tmp/o.onnx" "quantize --calib $X $M/digits_mlp.onnx $tmp/o.onnx" \
            "quantize --percentile 20 --mode static --calib $X $M/digits_mlp.onnx $tmp/o.onnx" \
            "eval $M/digits_mlp.onnx" "eval --data $X" "eval --repeat 0 --data $X $M/digits_mlp.onnx"; do
  # shellcheck disable=SC2086
  "$F" $args >/dev/null 2>"$tmp/err"; rc=$?
  [[ $rc == 2 && $(wc -l <"$tmp/err") == 1 ]] && ok "exit 2: $args" || bad "exit 2: $args" "rc $rc $(cat "$tmp/err")"
done
printf 'not a model' >"$tmp/junk.onnx"
for args in "quantize $tmp/junk.onnx $tmp/o.onnx" "quantize --exclude nope $M/digits_mlp.onnx $tmp/o.onnx" \
            "quantize $M/digits_mlp.onnx /nonexistent/dir/o.onnx" "quantize --mode static --calib $Y $M/digits_mlp.onnx $tmp/o.onnx" \
            "eval $M/digits_mlp.onnx --data $XI --labels $X" "eval $tmp/junk.onnx --data $X"; do
  # shellcheck disable=SC2086
  "$F" $args >/dev/null 2>"$tmp/err"; rc=$?
  [[ $rc == 1 && $(wc -l <"$tmp/err") == 1 ]] && ok "exit 1: $args" || bad "exit 1: $args" "rc $rc $(cat "$tmp/err")"
done

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
