#!/usr/bin/env bash
# End-to-end tests of `frugal cost`: every sample billing export (FOCUS 1.2 spec examples, the AWS CUR
# sample, the Azure EA sample, a gzip copy) against totals computed independently here with Python's csv
# and decimal modules; JSON keys, --top ordering, --by tag:KEY, --basis billed vs effective, --from/--to,
# mixed currencies, a malformed row (reported with file:line, skipped; --strict exits 1) and bad usage
# (exit 2); recommendations against savings computed here from the price table, --prices, --csv,
# --html, cost per 1k from --requests and from a saved /metrics scrape.
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

# 10. recommendations: a FOCUS file with one kind of evidence per resource, 30 days of hourly rows;
# the expected savings are computed here from the same price figures (deploy/cost/prices.txt)
$PY - "$tmp/ml.csv" <<'PYEOF'
import csv, sys, datetime
w = csv.writer(open(sys.argv[1], 'w', newline=''))
w.writerow(['ProviderName','ServiceName','ServiceCategory','ResourceId','SkuMeter','BillingCurrency','ChargePeriodStart',
            'ChargePeriodEnd','ChargeCategory','PricingCategory','CommitmentDiscountStatus','BilledCost','EffectiveCost','Tags'])
t0 = datetime.datetime(2024, 3, 1)
def row(h, svc, cat, res, meter, cost, tags='{}', pricing='Standard', status='', charge='Usage'):
    s = t0 + datetime.timedelta(hours=h)
    e = s + datetime.timedelta(hours=1)
    w.writerow(['AWS', svc, cat, res, meter, 'USD', s.strftime('%Y-%m-%dT%H:%M:%SZ'), e.strftime('%Y-%m-%dT%H:%M:%SZ'),
                charge, pricing, status, cost, cost, tags])
for h in range(30 * 24):
    row(h, 'Amazon EC2', 'Compute', 'i-train', 'BoxUsage:p4d.24xlarge', '2.5', '{"ml-stage":"training"}')
    row(h, 'Amazon EC2', 'Compute', 'i-spot', 'SpotUsage:p4d.24xlarge', '0.9', '{"ml-stage":"training"}', pricing='Dynamic')
    row(h, 'Amazon SageMaker', 'AI and Machine Learning', 'ep-1', 'Host:ml.g5.xlarge', '1.0' if h % 24 else '1.5', '{"ml-stage":"inference"}')
    row(h, 'Amazon S3', 'Storage', 'datasets', 'TimedStorage-ByteHrs', '0.25')
    row(h, 'Amazon S3', 'Storage', 'archive', 'TimedStorage-GlacierByteHrs', '0.05')
    row(h, 'AmazonCloudWatch', 'Management and Governance', 'logs', 'DataProcessing-Bytes', '0.1')
    row(h, 'Amazon S3', 'Networking', 'datasets', 'USE1-USW2-AWS-Out-Bytes', '0.04')
    row(h, 'Amazon EC2', 'Compute', 'ri-1', 'BoxUsage:m5.large', '0.2', pricing='Committed', status='Unused')
PYEOF
"$F" cost --json --requests 2000000 "$tmp/ml.csv" >"$tmp/ml.json" 2>"$tmp/err"
r=$($PY - "$tmp/ml.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
R = {x['kind']: x for x in j['recommendations']}
h = 720  # hours = 30 days; the period is 30 days, so a month is 30.4375/30 of it
m = 30.4375 / 30
want = {
  'spot': 2.5 * h * m * 0.65,
  'storage_tiering': 0.25 * h * m * 0.5 * (1 - 0.0125 / 0.023),
  'logs': 0.1 * h * m * 0.5,
  'egress': 0.04 * h * m * 0.8,
  'unused_commitment': 0.2 * h * m * 0.5,
  'commitment': 24.5 * 30.4375 * 0.28,   # steady floor: every day is 23 h at 1.0 + 1 h at 1.5 = 24.5
}
bad = [k for k in want if k not in R or abs(R[k]['monthly_saving'] - want[k]) > 1e-4 * want[k]]
extra = [k for k in R if k not in want]
ev = R.get('spot', {}).get('evidence', [{}])[0].get('resource_id')
order = all(j['recommendations'][i]['monthly_saving'] >= j['recommendations'][i+1]['monthly_saving'] for i in range(len(R)-1))
keys = all(all(k in x for k in ('kind','evidence','monthly_saving','assumption')) for x in j['recommendations'])
p1k = j['cost_per_1k']['billing_per_1k']
inf = [b['cost'] for b in j['buckets'] if b['bucket'] == 'inference'][0]
print(bad, extra, ev, order, keys, abs(p1k - inf * 1000 / 2e6) < 1e-9, round(j['period']['days'], 4))
PYEOF
)
[[ "$r" == "[] [] i-train True True True 30.0" ]] && ok "recommendations: every kind, savings as computed here, evidence, order, per 1k" ||
  bad "recommendations" "$r"
grep -q "spot_discount 0.65" "$tmp/ml.json" && ok "each recommendation names its price assumption" || bad "assumption text"
"$F" cost "$tmp/ml.csv" >"$tmp/ml.txt"
awk '/^Top 3/{a=NR} /^ML lifecycle/{b=NR} /^Recommendations/{c=NR} /^By service/{d=NR} END{exit !(a==1 && a<b && b<c && c<d)}' "$tmp/ml.txt" &&
  ok "text order: drivers, buckets, recommendations, breakdown" || bad "text order" "$(head -5 "$tmp/ml.txt")"
# --prices overrides one figure; bad price files exit 2 with file:line
printf 'spot_discount 0.5\n' >"$tmp/prices.txt"
r=$("$F" cost --json --prices "$tmp/prices.txt" "$tmp/ml.csv" | $PY -c "import json,sys; j=json.load(sys.stdin); print([round(x['monthly_saving'],4) for x in j['recommendations'] if x['kind']=='spot'][0], j['prices'].endswith('prices.txt'))")
want=$($PY -c "print(round(2.5*720*30.4375/30*0.5,4))")
[[ "$r" == "$want True" ]] && ok "--prices FILE overrides spot_discount" || bad "--prices" "$r want $want"
printf 'spot_discount 0.5\nspot_discont 2\n' >"$tmp/badprices.txt"
"$F" cost --prices "$tmp/badprices.txt" "$tmp/ml.csv" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc == 2 ]] && grep -q "badprices.txt:2: unknown price key" "$tmp/err" && ok "bad price file: exit 2 with file:line" || bad "bad prices" "rc $rc $(cat "$tmp/err")"

# 11. --csv and --html
"$F" cost --json --csv "$tmp/by.csv" --html "$tmp/report.html" "$AWS" >"$tmp/aws2.json" 2>"$tmp/err"
r=$($PY - "$tmp/by.csv" "$tmp/aws2.json" <<'PYEOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
j = json.load(open(sys.argv[2]))
want = [(x['provider'], x['service'], '%.6f' % x['cost']) for x in j['by_service']]
got = [(r['provider'], r['service'], r['cost']) for r in rows]
print(list(rows[0].keys()) == ['currency','provider','service','cost','share'], got == want, len(got))
PYEOF
)
[[ "$r" == "True True "* ]] && ok "--csv: the by-service table, same rows as the JSON ($r)" || bad "--csv" "$r"
"$F" cost --by tag:CostCenter --csv - "$AZ" >"$tmp/tag.csv"
head -1 "$tmp/tag.csv" | grep -q '^currency,tag:CostCenter,cost,share' && ok "--csv - with --by tag:KEY" || bad "--csv tag" "$(head -2 "$tmp/tag.csv")"
n=$(grep -o 'data-kind="[a-z]*" data-points="[1-9][0-9]*"' "$tmp/report.html" | wc -l)
[[ $n -ge 3 ]] && ! grep -qiE '<script|<link|src="http' "$tmp/report.html" && ok "--html: $n charts with data, nothing external" || bad "--html" "$n charts"
"$F" cost --html /nonexistent/dir/r.html "$AWS" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc == 2 && $(wc -l <"$tmp/err") == 1 ]] && ok "--html to an unwritable path: exit 2, one line" || bad "--html unwritable" "rc $rc $(cat "$tmp/err")"

# 12. --metrics: a saved scrape of a frugal server (requests, its own price x time estimate, idle share)
cat >"$tmp/scrape.txt" <<'EOF2'
# TYPE frugal_uptime_seconds gauge
frugal_uptime_seconds 3600
# TYPE frugal_price_per_hour_usd gauge
frugal_price_per_hour_usd 0.5
# TYPE frugal_cost_usd_total counter
frugal_cost_usd_total 0.5
# TYPE frugal_requests_total counter
frugal_requests_total{model="m",version="1",outcome="success"} 40000
frugal_requests_total{model="m",version="1",outcome="bad_request"} 10
frugal_requests_total{model="n",version="2",outcome="success"} 10000
# TYPE frugal_instance_busy_seconds_total counter
frugal_instance_busy_seconds_total{model="m",version="1",engine_instance="0"} 1800
frugal_instance_busy_seconds_total{model="m",version="1",engine_instance="1"} 360
EOF2
r=$("$F" cost --json --metrics "$tmp/scrape.txt" "$tmp/ml.csv" | $PY -c "
import json,sys; j=json.load(sys.stdin); k=j['cost_per_1k']; inf=[b['cost'] for b in j['buckets'] if b['bucket']=='inference'][0]
idle=[x for x in j['recommendations'] if x['kind']=='idle'][0]
print(k['requests'], round(k['server_estimate_per_1k_usd'],6), abs(k['billing_per_1k']-inf*1000/50000)<1e-9, round(k['server_idle_share'],3), abs(idle['monthly_saving']-inf*30.4375/30*0.7*0.5)<1e-6)")
[[ "$r" == "50000 0.01 True 0.7 True" ]] && ok "--metrics FILE: requests, server estimate, idle share -> idle saving" || bad "--metrics" "$r"
"$F" cost --metrics "$tmp/scrape.txt" "$tmp/ml.csv" | grep -q "^Cost per 1k requests (50000 requests served" && ok "--metrics: text section" || bad "--metrics text"
for args in "--metrics $tmp/missing.txt $AWS" "--metrics $AWS $AWS" "--metrics http://127.0.0.1:1 $AWS" "--requests 5 --metrics $tmp/scrape.txt $AWS" "--requests -3 $AWS" "--json --csv - $AWS"; do
  # shellcheck disable=SC2086
  "$F" cost $args >/dev/null 2>"$tmp/err"; rc=$?
  [[ $rc == 2 && $(wc -l <"$tmp/err") == 1 ]] && ok "exit 2: cost $args" || bad "exit 2: cost $args" "rc $rc $(cat "$tmp/err")"
done

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
