#!/usr/bin/env bash
# End-to-end tests of `frugal run` and the command line: starts the real binary on the committed
# models and ONNX test data and checks outputs, files written, exit codes and error lines.
# usage: run_cli.sh FRUGAL_BINARY
set -u
F=${1:?usage: run_cli.sh FRUGAL_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models
T=/usr/share/libonnx-testdata/data/node
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok   $1"; }
bad()  { fail=$((fail + 1)); echo "FAIL $1"; [[ -n "${2:-}" ]] && echo "     $2"; }
check() { # name, command exit expectation (0|nonzero), grep pattern on stdout+stderr, command...
  local name=$1 want=$2 pat=$3; shift 3
  local out rc; out=$("$@" 2>&1); rc=$?
  if [[ $want == 0 && $rc -ne 0 ]] || [[ $want != 0 && $rc -eq 0 ]]; then bad "$name" "exit $rc: $out"; return; fi
  if [[ -n "$pat" ]] && ! grep -qE -- "$pat" <<<"$out"; then bad "$name" "no /$pat/ in: $out"; return; fi
  ok "$name"
}

check "version"            0 '^frugal [0-9]+\.[0-9]+\.[0-9]+$' "$F" --version
check "help lists run"     0 'run +run a model' "$F" --help
check "run --help"         0 'usage: frugal run MODEL.onnx' "$F" run --help
check "unknown command"    2 "unknown command 'nope'" "$F" nope
check "run without model"  2 'expected one MODEL.onnx' "$F" run
check "bad --batch"        2 '--batch needs an integer' "$F" run "$M/digits_mlp.onnx" --batch x
check "random inputs"      0 "output 0 'logits': float32 \[4,10\]" "$F" run "$M/digits_mlp.onnx" --batch 4 --repeat 3
check "file inputs"        0 "float32 \[360,10\]" "$F" run "$M/digits_cnn.onnx" --input "input=$M/digits_test_x_img.npy" --output "$tmp/cnn"
check "json output"        0 '"latency_ms":\{"p50":[0-9.]+' "$F" run "$M/digits_mlp.onnx" --json --repeat 2
[[ -s "$tmp/cnn/output_0.pb" ]] && ok "writes output_0.pb" || bad "writes output_0.pb"
check "missing model file" 1 'cannot open' "$F" run "$tmp/none.onnx"
printf 'not a model' >"$tmp/junk.onnx"
check "corrupt model"      1 'not a valid ONNX model' "$F" run "$tmp/junk.onnx"
head -c 20000 "$M/digits_mlp.onnx" >"$tmp/trunc.onnx"
check "truncated model"    1 'truncated or corrupt' "$F" run "$tmp/trunc.onnx"
check "unsupported op"     1 'unsupported op: NonZero' "$F" run "$T/test_nonzero_example/model.onnx"
check "unknown input name" 1 "no input named 'pixels'" "$F" run "$M/digits_mlp.onnx" --input "pixels=$M/digits_test_x.npy"
check "wrong input shape"  1 "input 'input' has shape \[360,1,8,8\]" "$F" run "$M/digits_mlp.onnx" --input "input=$M/digits_test_x_img.npy"
check "wrong input dtype"  1 "input 'input' is int64" "$F" run "$M/digits_mlp.onnx" --input "input=$M/digits_test_y.npy"
# outputs written by --output are ONNX TensorProtos that read back equal to ONNX's expected data
check "pb round trip"      0 "float32 \[3,4,5\]" "$F" run "$T/test_relu/model.onnx" --input "x=$T/test_relu/test_data_set_0/input_0.pb" --output "$tmp/relu"
if cmp -s <(tail -c 240 "$tmp/relu/output_0.pb") <(tail -c 240 "$T/test_relu/test_data_set_0/output_0.pb"); then
  ok "relu output bytes equal ONNX's"; else bad "relu output bytes equal ONNX's"; fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
