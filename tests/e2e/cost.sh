#!/usr/bin/env bash
# End-to-end tests of `frugal cost`: every sample billing export (FOCUS 1.2 spec examples, the AWS CUR
# sample, the Azure EA sample, a gzip copy) against totals computed independently here with Python's csv
# and decimal modules; JSON keys, --top ordering, --by tag:KEY, --basis billed vs effective, --from/--to,
# mixed currencies, a malformed row (reported with file:line, skipped; --strict exits 1) and bad usage
# (exit 2).
# usage: cost.sh FRUGAL_BINARY   (data: $FG_BILLING_DATA, default /work/shared/data/billing)
set -u
F=${1:?usage: cost.sh FRUGAL_BINARY}
D=${FG_BILLING_DATA:-/work/shared/data/billing}
PY=/usr/bin/python3
tmp=$(mktemp -d)
pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [[ -n "${2:-}" ]] && echo "     $2"; }
trap 'rm -rf "$tmp"' EXIT
[[ -d $D ]] || { echo "no billing data at $D"; exit 1; }

AWS=$D/aws-cur/aws-cur1_sample-anonymous_focus-converters.csv
AZ=$D/azure/azure-ea-actualcost_small_finops-toolkit.csv
FOCUS=("$D"/focus-1.2-spec-examples/*.csv)

# expected FMT BASIS FILE... : the total, computed independently, 6 decimals (half-even)
expected() {
  $PY - "$@" <<'PYEOF'
import csv, gzip, sys
from decimal import Decimal, ROUND_HALF_EVEN
fmt, basis, files = sys.argv[1], sys.argv[2], sys.argv[3:]
def dec(s):
    s = (s or '').strip()
    return Decimal(0) if s == '' or s.lower() == 'null' else Decimal(s)
tot = Decimal(0)
for f in files:
    with (gzip.open if f.endswith('.gz') else open)(f, 'rt', newline='', encoding='utf-8-sig') as fh:
        for r in csv.DictReader(fh):
            if fmt == 'focus':
                b = dec(r['BilledCost'])
                e = dec(r['EffectiveCost']) if 'EffectiveCost' in r and (r['EffectiveCost'] or '').strip().lower() not in ('', 'null') else b
            elif fmt == 'aws':
                b = dec(r['lineItem/UnblendedCost'])
                t = r['lineItem/LineItemType']
                e = dec(r['reservation/EffectiveCost']) if t == 'DiscountedUsage' else \
                    dec(r['savingsPlan/SavingsPlanEffectiveCost']) if t == 'SavingsPlanCoveredUsage' else b
            else:
                b = e = dec(r['Cost'])
            tot += e if basis == 'effective' else b
print(tot.quantize(Decimal('0.000001'), rounding=ROUND_HALF_EVEN))
PYEOF
}
# jget FILE EXPR: evaluates a Python expression on the JSON object j
jget() { $PY -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

check_total() { # name fmt basis files...
  local name=$1 fmt=$2 basis=$3; shift 3
  local want got
  want=$(expected "$fmt" "$basis" "$@")
  if ! "$F" cost --json --basis "$basis" "$@" >"$tmp/out.json" 2>"$tmp/err"; then
    bad "$name: exit status" "$(cat "$tmp/err")"; return
  fi
  got=$($PY -c "import json,sys,decimal; j=json.load(open(sys.argv[1]),parse_float=decimal.Decimal); print(j['total'])" "$tmp/out.json")
  [[ "$got" == "$want" ]] && ok "$name: $basis total $got" || bad "$name: $basis total" "got $got want $want"
}

# 1. totals on every sample, both bases
for f in "${FOCUS[@]}"; do
  for b in effective billed; do check_total "focus $(basename "$f" .csv)" focus $b "$f"; done
done
check_total "focus, all examples at once" focus effective "${FOCUS[@]}"
check_total "aws cur" aws effective "$AWS"
check_total "aws cur" aws billed "$AWS"
check_total "azure" azure effective "$AZ"
gzip -c "$AWS" >"$tmp/aws.csv.gz"
check_total "aws cur gzip" aws effective "$tmp/aws.csv.gz"

# 2. JSON keys, rows, top drivers, by_service
"$F" cost --json "$AWS" >"$tmp/aws.json" 2>"$tmp/err"
r=$(jget "$tmp/aws.json" "all(k in j for k in ['currency','basis','rows_read','rows_used','rows_skipped','total','buckets','by_service','top_drivers','warnings'])")
[[ $r == True ]] && ok "json has the required keys" || bad "json keys" "$(head -c 300 "$tmp/aws.json")"
want_rows=$($PY -c "import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline=''))))" "$AWS")
r=$(jget "$tmp/aws.json" "(j['rows_read'], j['rows_used'], j['rows_skipped'], j['currency'])")
[[ $r == "($want_rows, $want_rows, 0, 'USD')" ]] && ok "rows read/used/skipped, currency" || bad "rows" "$r want $want_rows"
r=$(jget "$tmp/aws.json" "len(j['top_drivers'])==3 and all(j['top_drivers'][i]['cost']>=j['top_drivers'][i+1]['cost'] for i in range(2)) and all(0<=d['share']<=1 for d in j['top_drivers'])")
[[ $r == True ]] && ok "--top 3 (default): 3 drivers, largest first" || bad "top 3 order" "$(jget "$tmp/aws.json" "j['top_drivers']")"
r=$(jget "$tmp/aws.json" "abs(sum(x['cost'] for x in j['by_service'])-j['total'])<1e-6 and abs(sum(x['cost'] for x in j['buckets'])-j['total'])<1e-6")
[[ $r == True ]] && ok "by_service and buckets add up to the total" || bad "sums"
# the largest driver, computed independently (provider, product name, resource id)
want=$($PY - "$AWS" <<'PYEOF'
import csv, sys
from decimal import Decimal
from collections import defaultdict
s = defaultdict(Decimal)
for r in csv.DictReader(open(sys.argv[1], newline='')):
    s[(r['product/ProductName'] or r['lineItem/ProductCode'], r.get('lineItem/ResourceId', ''))] += Decimal(r['lineItem/UnblendedCost'] or 0)
k, v = max(s.items(), key=lambda kv: kv[1])
print(k[0], k[1], round(float(v), 6))
PYEOF
)
got=$(jget "$tmp/aws.json" "j['top_drivers'][0]['service'], j['top_drivers'][0]['resource_id'], round(j['top_drivers'][0]['cost'],6)" | tr -d "(),'")
[[ "$(echo $got)" == "$(echo $want)" ]] && ok "top driver matches Python's" || bad "top driver" "got $got want $want"
"$F" cost --top 5 --json "$AWS" >"$tmp/t5.json"
r=$(jget "$tmp/t5.json" "len(j['top_drivers'])")
[[ $r == 5 ]] && ok "--top 5" || bad "--top 5" "$r"
"$F" cost "$AWS" >"$tmp/aws.txt" 2>&1
head -1 "$tmp/aws.txt" | grep -q '^Top 3 cost drivers' && ok "text report starts with the top drivers" || bad "text first line" "$(head -1 "$tmp/aws.txt")"
grep -q 'Rows: .* read, .* used, 0 skipped' "$tmp/aws.txt" && grep -q 'ML lifecycle buckets' "$tmp/aws.txt" && ok "text report sections" || bad "text sections"

# 3. --by tag:KEY (Azure Tags column)
want=$($PY - "$AZ" <<'PYEOF'
import csv, sys, json
from decimal import Decimal
from collections import defaultdict
s = defaultdict(Decimal)
for r in csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8-sig')):
    t = r['Tags'].strip()
    tags = json.loads(t if t.startswith('{') else '{' + t + '}') if t else {}
    s[tags.get('CostCenter', '')] += Decimal(r['Cost'] or 0)
print(sorted((k, round(float(v), 6)) for k, v in s.items()))
PYEOF
)
"$F" cost --json --by tag:CostCenter "$AZ" >"$tmp/az.json" 2>"$tmp/err"
got=$(jget "$tmp/az.json" "sorted((x['key'], round(x['cost'], 6)) for x in j['by'])")
[[ "$got" == "$want" ]] && ok "--by tag:CostCenter matches Python" || bad "--by tag" "got $got want $want"
"$F" cost --by tag:CostCenter "$AZ" | grep -q '^By tag CostCenter' && ok "--by tag text table" || bad "--by tag text"

# 4. --basis billed vs effective differ on commitment examples
P=$D/focus-1.2-spec-examples/commitment_discount_usage_scenario_3.csv
e=$("$F" cost --json "$P" | $PY -c "import json,sys; print(json.load(sys.stdin)['total'])")
b=$("$F" cost --json --basis billed "$P" | $PY -c "import json,sys; print(json.load(sys.stdin)['total'])")
[[ "$e" != "$b" ]] && ok "effective ($e) and billed ($b) differ on a commitment example" || bad "basis" "$e $b"
r=$("$F" cost --json "$P" | $PY -c "import json,sys; j=json.load(sys.stdin); print([b['cost'] for b in j['buckets'] if b['bucket']=='commitment_waste'][0], any('differ' in w for w in j['warnings']))")
[[ $r == "0.25 True" ]] && ok "unused commitment is commitment_waste; basis warning" || bad "waste" "$r"

# 5. --from/--to
want=$($PY -c "
import csv,sys
n=sum(1 for r in csv.DictReader(open(sys.argv[1],newline='')) if '2023-11-02' <= r['lineItem/UsageStartDate'][:10] < '2023-11-04')
print(n)" "$AWS")
r=$("$F" cost --json --from 2023-11-02 --to 2023-11-04 "$AWS" | $PY -c "import json,sys; j=json.load(sys.stdin); print(j['rows_used'], j['rows_used']+j['rows_out_of_range']==j['rows_read'])")
[[ $r == "$want True" ]] && ok "--from/--to: $want rows used" || bad "--from/--to" "$r want $want"

# 6. mixed currencies are not added
printf 'ProviderName,ServiceName,ResourceId,BillingCurrency,ChargePeriodStart,BilledCost,EffectiveCost\nP,S,r1,USD,2024-01-01,1.5,1.5\nP,S,r2,EUR,2024-01-01,2.25,2.25\nP,S,r3,USD,2024-01-01,1,1\n' >"$tmp/mixed.csv"
r=$("$F" cost --json "$tmp/mixed.csv" | $PY -c "import json,sys; j=json.load(sys.stdin); print(j['currency'], j['total'], j['other_currencies'][0]['currency'], j['other_currencies'][0]['total'], any('currenc' in w for w in j['warnings']))")
[[ $r == "USD 2.5 EUR 2.25 True" ]] && ok "mixed currencies: per-currency totals and a warning" || bad "mixed currencies" "$r"

# 7. malformed row: reported with file:line, skipped; --strict exits 1
{ head -1 "$AWS"; sed -n 2,4p "$AWS"; sed -n 5p "$AWS" | $PY -c "
import csv,sys
r=next(csv.reader(sys.stdin)); h=next(csv.reader(open(sys.argv[1],newline='')))
r[h.index('lineItem/UnblendedCost')]='12abc'; csv.writer(sys.stdout,lineterminator='\n').writerow(r)" "$AWS"; sed -n 6,10p "$AWS"; } >"$tmp/bad.csv"
"$F" cost --json "$tmp/bad.csv" >"$tmp/bad.json" 2>"$tmp/bad.err"; rc=$?
r=$(jget "$tmp/bad.json" "j['rows_read'], j['rows_used'], j['rows_skipped']")
[[ $rc == 0 && $r == "9 8 1" ]] && ok "malformed row skipped and counted" || bad "malformed" "rc $rc $r"
grep -q "bad.csv:5" "$tmp/bad.err" && [[ $(wc -l <"$tmp/bad.err") == 1 ]] && ok "malformed row reported once with file:line" || bad "malformed message" "$(cat "$tmp/bad.err")"
"$F" cost --strict "$tmp/bad.csv" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc == 1 && $(wc -l <"$tmp/err") == 1 ]] && grep -q "bad.csv:5" "$tmp/err" && ok "--strict: exit 1, one line" || bad "--strict" "rc $rc $(cat "$tmp/err")"

# 8. rules: --rules FILE replaces the default set; a bad rules file exits 2 with its line
printf '# all storage\ndata_storage service *\n' >"$tmp/rules.txt"
r=$("$F" cost --json --rules "$tmp/rules.txt" "$AWS" | $PY -c "import json,sys; j=json.load(sys.stdin); print([b['cost'] for b in j['buckets'] if b['bucket']=='data_storage'][0]==j['total'])")
[[ $r == True ]] && ok "--rules FILE" || bad "--rules" "$r"
printf 'training sku x\nnope sku y\n' >"$tmp/badrules.txt"
"$F" cost --rules "$tmp/badrules.txt" "$AWS" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc == 2 ]] && grep -q "badrules.txt:2: unknown bucket" "$tmp/err" && ok "bad rules file: exit 2 with file:line" || bad "bad rules" "rc $rc $(cat "$tmp/err")"

# 9. bad usage exits 2 with one line on stderr
for args in "--bogus $AWS" "--basis list $AWS" "--top -1 $AWS" "--by colour $AWS" "--from yesterday $AWS" "" "$tmp/missing.csv" "--format nope $AWS" "--rules $tmp/missing.txt $AWS"; do
  # shellcheck disable=SC2086
  "$F" cost $args >/dev/null 2>"$tmp/err"; rc=$?
  [[ $rc == 2 && $(wc -l <"$tmp/err") == 1 ]] && ok "exit 2: cost $args" || bad "exit 2: cost $args" "rc $rc $(cat "$tmp/err")"
done
"$F" cost --help | grep -q '^usage: frugal cost' && ok "--help" || bad "--help"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
