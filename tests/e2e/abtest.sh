#!/usr/bin/env bash
# End-to-end tests of A/B testing in `frugal serve`: a repository whose model `digits` has two versions
# (copies of the digits MLP), routed 50/50 by --abtest. Covers sticky routing by x-user-id, the
# X-Frugal-Variant and X-Frugal-Request-Id headers, explicit versions bypassing the test, the `variant`
# metric label, feedback accounting, the abtest report JSON, a rigged variant (wrong labels for B only)
# rolled back automatically with the evidence logged once, promotion and weights through the management
# call (token rules), the latency guardrail, and bad inputs (400/404/405/409 with JSON errors, bad flags).
# usage: abtest.sh FRUGAL_BINARY
set -u
F=${1:?usage: abtest.sh FRUGAL_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models
PY=/usr/bin/python3
tmp=$(mktemp -d)
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

# one row of digits_mlp.json (the MLP predicts class 7 for it), with and without a request id
$PY - "$M/digits_mlp.json" "$tmp" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1])); x = d["inputs"][0]["data"]
flat = [v for row in x for v in row] if isinstance(x[0], list) else x
b = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": flat[:64]}]}
open(sys.argv[2] + "/one.json", "w").write(json.dumps(b))
b["id"] = "my-request-42"
open(sys.argv[2] + "/with_id.json", "w").write(json.dumps(b))
PYEOF

R=$tmp/repo
mkdir -p "$R/digits/1" "$R/digits/2" "$R/plain/1"
cp "$M/digits_mlp.onnx" "$R/digits/1/model.onnx"
cp "$M/digits_mlp.onnx" "$R/digits/2/model.onnx"
cp "$M/digits_mlp.onnx" "$R/plain/1/model.onnx"
printf 'name: "digits"\nversion_policy: { all: {} }\n' >"$R/digits/config.pbtxt"

# infer_as USER [BODY]: POST /v2/models/digits/infer as x-user-id USER (none when empty); sets code,
# variant, rid (the response's X-Frugal-Variant and X-Frugal-Request-Id) and body
infer_as() {
  local user=$1 file=${2:-$tmp/one.json} hdr=()
  [[ -n "$user" ]] && hdr=(-H "x-user-id: $user")
  code=$(curl -s -o "$tmp/ibody" -D "$tmp/ihdr" -w '%{http_code}' -X POST "${hdr[@]}" --data-binary "@$file" \
    "$U/v2/models/digits/infer")
  body=$(cat "$tmp/ibody")
  variant=$(tr -d '\r' <"$tmp/ihdr" | sed -n 's/^[Xx]-[Ff]rugal-[Vv]ariant: //p')
  rid=$(tr -d '\r' <"$tmp/ihdr" | sed -n 's/^[Xx]-[Ff]rugal-[Rr]equest-[Ii]d: //p')
}
# jq-less JSON probe: jget EXPR evaluates a Python expression over the parsed $body as `d`
jget() { $PY -c 'import json,sys; d=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" <<<"$body"; }

if ! start_server ab "$R" --abtest digits=A@1:50,B@2:50 --abtest-min-feedback 10 --abtest-margin 0.05; then
  bad "A/B server starts" "$(cat "$tmp/ab.out" "$tmp/ab.err")"; finish
fi
ok "A/B server starts"
grep -q "A/B test 'digits': 2 variants, control 'A'" "$tmp/ab.err" && ok "the test is logged at start" \
  || bad "the test is logged at start" "$(cat "$tmp/ab.err")"

# stickiness: one user always gets one variant; many users see both
infer_as alice; first=$variant; same=1
[[ $code == 200 && -n "$first" ]] || bad "routed request answers with X-Frugal-Variant" "$code '$first' $body"
for _ in 1 2 3 4 5 6 7 8; do infer_as alice; [[ "$variant" == "$first" ]] || same=0; done
[[ $same == 1 ]] && ok "x-user-id is sticky (alice always gets $first)" || bad "x-user-id is sticky" "got $variant after $first"
seen_a=0; seen_b=0
for i in $(seq 40); do
  infer_as "user$i"
  [[ $variant == A ]] && seen_a=$((seen_a + 1)); [[ $variant == B ]] && seen_b=$((seen_b + 1))
done
[[ $seen_a -ge 8 && $seen_b -ge 8 && $((seen_a + seen_b)) -eq 40 ]] && ok "40 users split over A and B ($seen_a/$seen_b)" \
  || bad "users split over both variants" "A $seen_a, B $seen_b"
# the variant answers with its own version
infer_as user1; v1=$variant
want=$([[ $v1 == A ]] && echo 1 || echo 2)
grep -q "\"model_version\":\"$want\"" <<<"$body" && ok "variant $v1 is answered by version $want" \
  || bad "variant answers with its version" "$v1: $body"
# request ids: the body's id is echoed as X-Frugal-Request-Id; without one an id is generated
infer_as "" "$tmp/with_id.json"
[[ $rid == my-request-42 && -n "$variant" ]] && ok "X-Frugal-Request-Id echoes the request's id" \
  || bad "X-Frugal-Request-Id echoes the id" "'$rid' '$variant'"
infer_as ""; r1=$rid; infer_as ""; r2=$rid
[[ $r1 == frugal-* && $r2 == frugal-* && $r1 != "$r2" ]] && ok "requests without an id get a fresh one ($r1)" \
  || bad "generated request ids" "'$r1' '$r2'"
# an explicit version bypasses routing
code=$(curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -X POST -H 'x-user-id: alice' \
  --data-binary "@$tmp/one.json" "$U/v2/models/digits/versions/2/infer")
[[ $code == 200 ]] && grep -q '"model_version":"2"' "$tmp/body" && ! grep -qi 'x-frugal-variant' "$tmp/hdr" \
  && ok "an explicit version bypasses the test" || bad "explicit version bypasses" "$code $(cat "$tmp/hdr" "$tmp/body")"
# a model in no test is served as before, without the header
code=$(curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -X POST --data-binary "@$tmp/one.json" "$U/v2/models/plain/infer")
[[ $code == 200 ]] && ! grep -qi 'x-frugal-variant' "$tmp/hdr" && ok "a model in no test has no variant header" \
  || bad "untested model" "$code $(cat "$tmp/hdr")"

# metrics: every series of a variant's version carries its variant label; other versions none
curl -s "$U/metrics" >"$tmp/metrics"
na=$(awk 'index($0, "frugal_requests_total{model=\"digits\",version=\"1\",variant=\"A\",outcome=\"success\",status=\"200\"} ") == 1 {print $2}' "$tmp/metrics")
nb=$(awk 'index($0, "frugal_request_duration_seconds_count{model=\"digits\",version=\"2\",variant=\"B\"} ") == 1 {print $2}' "$tmp/metrics")
[[ -n "$na" && -n "$nb" && ${na%.*} -gt 0 && ${nb%.*} -gt 0 ]] && ok "request metrics carry the variant label (A $na, B $nb)" \
  || bad "variant label on request metrics" "A '$na' B '$nb'"
grep -q 'frugal_batch_items_total{model="digits",version="2",variant="B"}' "$tmp/metrics" \
  && grep -q 'frugal_requests_total{model="plain",version="1",outcome="success",status="200"}' "$tmp/metrics" \
  && ! grep -q 'variant=""' "$tmp/metrics" \
  && ok "batch metrics are labelled too; untested models have no variant label" \
  || bad "variant label scope" "$(grep -E 'batch_items_total|plain' "$tmp/metrics" | head)"
r=$(curl -s "$U/stats" | $PY -c "
import json,sys; d=json.load(sys.stdin); m={(x['name'],x['version']): x.get('variant') for x in d['models']}
print(m[('digits','1')], m[('digits','2')], m[('plain','1')])")
[[ "$r" == "A B None" ]] && ok "/stats names each version's variant (the dashboard shows it)" || bad "/stats variants" "$r"
nvar=$(grep -o 'variant="[^"]*"' "$tmp/metrics" | sort -u | wc -l)
[[ $nvar -eq 2 ]] && ok "the variant label has only the configured values" || bad "variant cardinality" "$nvar values"
grep -q 'frugal_abtest_weight{model="digits",variant="B"} 50' "$tmp/metrics" && ok "frugal_abtest_weight exported" \
  || bad "frugal_abtest_weight" "$(grep abtest_weight "$tmp/metrics")"
# Prometheus reads the exposition (promtool, when installed)
if command -v promtool >/dev/null; then
  promtool check metrics <"$tmp/metrics" >"$tmp/promtool.out" 2>&1; prc=$?
  # promtool exits 3 for lint warnings (naming advice), 1 for a parse error
  [[ $prc -ne 1 ]] && ok "promtool parses the exposition" || bad "promtool parses the exposition" "$(head "$tmp/promtool.out")"
fi

# feedback: predictions are collected first (12 of each variant), then correct labels (7, what the MLP
# predicts) go to A's and wrong ones (3) to B's; the guard acts at B's 10th feedback (--abtest-min-feedback)
a_ids=(); b_ids=()
for i in $(seq 300); do
  [[ ${#a_ids[@]} -ge 12 && ${#b_ids[@]} -ge 12 ]] && break
  infer_as "fb$i"
  [[ $variant == A && ${#a_ids[@]} -lt 12 ]] && a_ids+=("$rid")
  [[ $variant == B && ${#b_ids[@]} -lt 12 ]] && b_ids+=("$rid")
done
fb_ok=0
for id in "${a_ids[@]}"; do
  req POST /v2/models/digits/feedback -d "{\"id\":\"$id\",\"label\":7}"
  [[ $code == 200 ]] && grep -q '"variant":"A"' <<<"$body" && fb_ok=$((fb_ok + 1))
done
for id in "${b_ids[@]}"; do
  req POST /v2/models/digits/feedback -d "{\"id\":\"$id\",\"label\":3}"
  [[ $code == 200 ]] && grep -q '"variant":"B"' <<<"$body" && fb_ok=$((fb_ok + 1))
done
b_rid=${b_ids[0]:-}
[[ $fb_ok == 24 ]] && ok "24 feedbacks accepted, each naming its variant" || bad "feedback accepted" "$fb_ok of 24: $code $body"
req GET /v2/models/digits/abtest
if [[ $code == 200 ]] && [[ $(jget '(d["variants"][0]["feedback"], d["variants"][0]["correct"], d["variants"][1]["feedback"], d["variants"][1]["correct"])') == "(12, 12, 12, 0)" ]]; then
  ok "feedback accounting: A 12/12, B 0/12"
else bad "feedback accounting" "$body"; fi
[[ $(jget 'd["variants"][1]["rolled_back"], d["variants"][1]["rollback_reason"], d["variants"][1]["weight"]') == "(True, 'accuracy', 0)" ]] \
  && ok "the rigged variant B was rolled back (accuracy, weight 0)" || bad "B rolled back" "$body"
verdict=$(jget 'd["variants"][1]["vs_control"]["verdict"]')
[[ $verdict =~ ^"B is worse than A (p=" ]] && ok "verdict: $verdict" || bad "verdict" "$verdict"
printf '%s' "$body" >"$tmp/report.json"
$PY - "$tmp/report.json" >"$tmp/check.out" 2>&1 <<'PYEOF' && ok "report JSON: requests, latency, Wilson interval, z-test" || bad "report JSON" "$(cat "$tmp/check.out") $body"
import json, math, sys
d = json.load(open(sys.argv[1]))
assert d["model"] == "digits" and d["control"] == "A" and d["header"] == "x-user-id", d
a, b = d["variants"]
for v in (a, b):
    assert v["requests"] > 0 and v["window_requests"] > 0, v
    assert 0 < v["p50_ms"] <= v["p99_ms"], v
    assert v["cost_per_1k_usd"] == 0, v  # no --price-per-hour
# Wilson 95 % interval of 12/12 and 0/12, by hand: [n/(n+z^2), 1] and [0, z^2/(n+z^2)]
z2 = 1.959963984540054 ** 2
assert abs(a["accuracy_ci95"][0] - 12 / (12 + z2)) < 1e-5 and a["accuracy_ci95"][1] == 1, a
assert b["accuracy_ci95"][0] == 0 and abs(b["accuracy_ci95"][1] - z2 / (12 + z2)) < 1e-5, b
# pooled z-test: p = 0.5, se = sqrt(.25 * (2/12)), z = -1 / se
z = -1 / math.sqrt(0.25 * 2 / 12)
assert abs(b["vs_control"]["z"] - z) < 1e-4, b
assert abs(b["vs_control"]["p_value"] - math.erfc(abs(z) / math.sqrt(2))) < 1e-6, b
assert a["vs_control"] is None
PYEOF
n_logs=$(grep -c "variant 'B' rolled back (weight 0), accuracy: accuracy 0.0000 (0/10) vs control 'A' 1.0000 (12/12)" "$tmp/ab.err")
[[ $n_logs -eq 1 ]] && ok "the rollback is logged once, with the evidence" || bad "rollback logged once" "$n_logs: $(grep rolled "$tmp/ab.err")"
[[ $(metric 'frugal_abtest_rollbacks_total{model="digits",variant="B",reason="accuracy"}') == 1 ]] \
  && ok "frugal_abtest_rollbacks_total{reason=\"accuracy\"} is 1" || bad "rollback metric" "$(curl -s "$U/metrics" | grep rollbacks)"
[[ $(metric 'frugal_abtest_feedback_total{model="digits",variant="B"}') == 12 ]] \
  && [[ $(metric 'frugal_abtest_correct_total{model="digits",variant="A"}') == 12 ]] \
  && ok "frugal_abtest_feedback_total and _correct_total count them" \
  || bad "feedback metric" "$(curl -s "$U/metrics" | grep abtest_feedback)"
all_a=1
for i in $(seq 20); do infer_as "after$i"; [[ $variant == A ]] || all_a=0; done
[[ $all_a == 1 ]] && ok "after the rollback every user gets A" || bad "traffic after rollback" "a user got $variant"

# bad inputs
req POST /v2/models/digits/feedback -d '{"id":"no-such-request","label":1}'
expect "unknown id is 404 with a JSON error" 404 '"error":"no recent prediction'
req POST /v2/models/digits/feedback -d "{\"id\":\"$b_rid\",\"label\":3}"
expect "a second feedback for one request is 409" 409 '"error":"request .* already has feedback'
req POST /v2/models/digits/feedback -d '{"id":"x","label":'
expect "malformed feedback JSON is 400" 400 '"error":"feedback body is not JSON'
req POST /v2/models/digits/feedback -d '{"id":"x"}'
expect "feedback without label or score is 400" 400 '"error":"feedback needs exactly one of'
req POST /v2/models/digits/feedback -d '{"id":"x","score":7}'
expect "feedback with a score outside [0, 1] is 400" 400 '"error":'
req GET /v2/models/digits/feedback
expect "GET feedback is 405" 405 '"error":"method not allowed'
req GET /v2/models/plain/abtest
expect "a model without a test is 404" 404 '"error":"model .plain. has no A/B test'
req GET /v2/models/digits/versions/1/abtest
expect "abtest under a version is 404" 404 '"error":'
req POST /v2/models/digits/abtest -d '{"weights":{"C":1}}'
expect "weights for an unknown variant are 400" 400 '"error":"unknown variant .C.'
req POST /v2/models/digits/abtest -d '{"weights":{"A":0,"B":0}}'
expect "all-zero weights are 400" 400 '"error":"the weights add up to 0'
req POST /v2/models/digits/abtest -d 'nonsense'
expect "a malformed management body is 400" 400 '"error":"body is not JSON'
req DELETE /v2/models/digits/abtest
expect "DELETE abtest is 405" 405 '"error":'

# promotion and weights (management calls, from loopback)
req POST /v2/models/digits/abtest -d '{"promote":"B"}'
expect "promote B" 200 '"name":"B","target_model":"digits","target_version":2,"weight":100,"rolled_back":false'
all_b=1
for i in $(seq 20); do infer_as "promo$i"; [[ $variant == B ]] || all_b=0; done
[[ $all_b == 1 ]] && ok "after the promotion every user gets B" || bad "promotion routes everyone to B" "a user got $variant"
req POST /v2/models/digits/abtest -d '{"weights":{"A":90,"B":10}}'
expect "set weights 90/10" 200 '"name":"A".*"weight":90.*"name":"B".*"weight":10'
[[ $(metric 'frugal_abtest_weight{model="digits",variant="A"}') == 90 ]] && ok "weight gauge follows (90)" \
  || bad "weight gauge" "$(curl -s "$U/metrics" | grep abtest_weight)"
stop_server
[[ "$rc" == 0 ]] && ok "A/B server stops cleanly" || bad "A/B server stops cleanly" "exit '$rc': $(tail -5 "$tmp/ab.err")"

# cost per 1k from the price and busy-time shares
if start_server cost "$R" --abtest digits=A@1:50,B@2:50 --price-per-hour 3.6; then
  for i in $(seq 30); do infer_as "c$i"; done
  req GET /v2/models/digits/abtest
  [[ $(jget 'all(v["cost_per_1k_usd"] > 0 for v in d["variants"])') == True ]] && ok "cost per 1k of both variants > 0 with a price" \
    || bad "cost per 1k" "$body"
  stop_server; [[ "$rc" == 0 ]] || bad "cost server stops cleanly" "exit '$rc': $(tail -5 "$tmp/cost.err")"
else bad "cost server starts" "$(cat "$tmp/cost.err")"; fi

# latency guardrail: an SLO no request can meet (1 us) for 1 s rolls B back
if start_server slo "$R" --abtest digits=A@1:10,B@2:90 --abtest-slo-p99-ms 0.001 --abtest-slo-secs 1; then
  for i in $(seq 60); do infer_as "s$i"; done
  rolled=
  for _ in $(seq 100); do
    req GET /v2/models/digits/abtest
    [[ $(jget 'd["variants"][1]["rollback_reason"]') == latency ]] && { rolled=1; break; }
    sleep 0.1
  done
  [[ -n "$rolled" ]] && grep -q "variant 'B' rolled back (weight 0), latency: p99 .* over the SLO of 0.001 ms" "$tmp/slo.err" \
    && ok "p99 over the SLO for 1 s rolls B back (reason latency, logged)" || bad "latency guardrail" "$body $(grep rolled "$tmp/slo.err")"
  [[ $(jget 'd["variants"][0]["rolled_back"]') == False ]] && ok "the control is never rolled back" || bad "control rolled back" "$body"
  stop_server; [[ "$rc" == 0 ]] || bad "SLO server stops cleanly" "exit '$rc': $(tail -5 "$tmp/slo.err")"
else bad "SLO server starts" "$(cat "$tmp/slo.err")"; fi

# management safety: weights from a non-loopback address need the admin token; feedback does not
H=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -v '^127\.' | head -1)
if [[ -z "$H" ]]; then
  echo "skip A/B management from a non-loopback address: this machine has no IPv4 address besides loopback"
elif FRUGAL_ADMIN_TOKEN=s3cret start_server tok "$R" --host 0.0.0.0 --abtest digits=A@1:50,B@2:50; then
  RU=${U/127.0.0.1/$H}
  c1=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"promote":"B"}' "$RU/v2/models/digits/abtest")
  c2=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer nope' -d '{"promote":"B"}' "$RU/v2/models/digits/abtest")
  c3=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer s3cret' -d '{"promote":"B"}' "$RU/v2/models/digits/abtest")
  c4=$(curl -s -o /dev/null -w '%{http_code}' "$RU/v2/models/digits/abtest")
  [[ "$c1 $c2 $c3 $c4" == "401 403 200 200" ]] && ok "abtest management: no token 401, wrong 403, right 200; GET open" \
    || bad "abtest management token" "got $c1 $c2 $c3 $c4, want 401 403 200 200"
  stop_server; [[ "$rc" == 0 ]] || bad "token server stops cleanly" "exit '$rc': $(tail -5 "$tmp/tok.err")"
else bad "token server starts" "$(cat "$tmp/tok.err")"; fi

# bad flags and targets fail the start with one line naming the problem
"$F" serve "$R" --port 0 --abtest digits=1:50 >"$tmp/f1.out" 2>"$tmp/f1.err"; r1=$?
[[ $r1 -eq 2 ]] && grep -q 'needs at least 2 variants' "$tmp/f1.err" && ok "--abtest with one variant is a usage error" \
  || bad "one-variant flag" "exit $r1: $(cat "$tmp/f1.err")"
"$F" serve "$R" --port 0 --abtest digits=1:50,3:50 >"$tmp/f2.out" 2>"$tmp/f2.err"; r2=$?
[[ $r2 -eq 1 ]] && grep -q "variant 'v3' names model 'digits' version 3, which is not loaded" "$tmp/f2.err" \
  && ok "a variant naming a missing version fails the start" || bad "missing target" "exit $r2: $(cat "$tmp/f2.err")"
"$F" serve "$R" --port 0 --abtest digits=1:50,2:50 --abtest-margin 2 >"$tmp/f3.out" 2>"$tmp/f3.err"; r3=$?
[[ $r3 -eq 2 ]] && grep -q -- '--abtest-margin needs a number in 0..1' "$tmp/f3.err" && ok "a bad --abtest-margin is a usage error" \
  || bad "bad margin" "exit $r3: $(cat "$tmp/f3.err")"

# the same test from the repository's abtest.json (no flags), and from --abtest-file; bad files exit 2
cat >"$R/abtest.json" <<'EOF2'
{"header": "x-team", "min_feedback": 5,
 "tests": {"digits": [{"variant": "fp32", "target": 1, "weight": 80}, {"variant": "int8", "target": "2", "weight": 20}]}}
EOF2
if start_server abf "$R"; then
  grep -q "A/B test 'digits': 2 variants, control 'fp32'" "$tmp/abf.err" && ok "REPO/abtest.json configures the test" \
    || bad "abtest.json" "$(cat "$tmp/abf.err")"
  n_int8=0
  for i in $(seq 1 200); do
    v=$(curl -s -o /dev/null -D - -X POST -H "x-team: t$i" --data-binary "@$tmp/one.json" "$U/v2/models/digits/infer" |
        tr -d '\r' | sed -n 's/^[Xx]-[Ff]rugal-[Vv]ariant: //p')
    [[ "$v" == int8 ]] && n_int8=$((n_int8 + 1))
  done
  (( n_int8 >= 20 && n_int8 <= 60 )) && ok "its weights and header route: $n_int8 of 200 teams to int8 (20 %)" || bad "file weights" "$n_int8 of 200"
  stop_server
else bad "server with abtest.json starts" "$(cat "$tmp/abf.err")"; fi
rm "$R/abtest.json"
printf '{"tests": {"digits": [{"target": 1, "weight": 50}, {"target": 2, "weight": "half"}]}}' >"$tmp/bad1.json"
printf '{"tests": {}, "colour": 1}' >"$tmp/bad2.json"
printf '{"tests": {"digits": [' >"$tmp/bad3.json"
for b in bad1:'tests.digits\[1\] wants' bad2:'want an object with "tests"' bad3:'byte'; do
  f=${b%%:*}; want=${b#*:}
  "$F" serve "$R" --port 0 --abtest-file "$tmp/$f.json" >"$tmp/$f.out" 2>"$tmp/$f.err"; rb=$?
  [[ $rb -eq 2 && $(wc -l <"$tmp/$f.err") == 1 ]] && grep -q "$f.json: .*$want" "$tmp/$f.err" && ok "--abtest-file $f: exit 2, names the file and key" \
    || bad "--abtest-file $f" "exit $rb: $(cat "$tmp/$f.err")"
done
finish
