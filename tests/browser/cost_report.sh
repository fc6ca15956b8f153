#!/usr/bin/env bash
# Browser test of `frugal cost --html`: cost_report.sh FRUGAL_BINARY
# Makes a 30-day FOCUS file with every kind of saving in it, renders the report with --requests, opens it
# in Debian's chromium (CHROMIUM, default /usr/bin/chromium) through playwright-core (cost_report.test.mjs).
# Screenshot: $FG_ARTIFACTS/cost_report.png (default: the binary's directory).
set -uo pipefail
F=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for need in node python3 "$CHROMIUM"; do
  command -v "$need" >/dev/null || { echo "$need is missing (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1; }
done
[[ -d "$here/node_modules/playwright-core" ]] ||
  { echo "tests/browser/node_modules is missing (scripts/setup.sh runs npm ci there)"; echo "0 passed, 1 failed"; exit 1; }
art=${FG_ARTIFACTS:-$(dirname "$F")}
mkdir -p "$art"
python3 - "$tmp/ml.csv" <<'PYEOF'
import csv, sys, datetime
w = csv.writer(open(sys.argv[1], 'w', newline=''))
w.writerow(['ProviderName','ServiceName','ServiceCategory','ResourceId','SkuMeter','BillingCurrency','ChargePeriodStart',
            'ChargePeriodEnd','ChargeCategory','PricingCategory','CommitmentDiscountStatus','BilledCost','EffectiveCost','Tags'])
t0 = datetime.datetime(2024, 3, 1)
def row(h, svc, cat, res, meter, cost, tags='{}', pricing='Standard', status=''):
    s = t0 + datetime.timedelta(hours=h)
    e = s + datetime.timedelta(hours=1)
    w.writerow(['AWS', svc, cat, res, meter, 'USD', s.strftime('%Y-%m-%dT%H:%M:%SZ'), e.strftime('%Y-%m-%dT%H:%M:%SZ'),
                'Usage', pricing, status, cost, cost, tags])
for h in range(30 * 24):
    day = h // 24
    row(h, 'Amazon EC2', 'Compute', 'i-train', 'BoxUsage:p4d.24xlarge', '%.2f' % (2.5 + day % 7 * 0.3), '{"ml-stage":"training"}')
    row(h, 'Amazon SageMaker', 'AI and Machine Learning', 'ep-1', 'Host:ml.g5.xlarge', '1.0', '{"ml-stage":"inference"}')
    row(h, 'Amazon S3', 'Storage', 'datasets', 'TimedStorage-ByteHrs', '0.25')
    row(h, 'AmazonCloudWatch', 'Management and Governance', 'logs <&> "quoted"', 'DataProcessing-Bytes', '0.1')
    row(h, 'Amazon S3', 'Networking', 'datasets', 'USE1-USW2-AWS-Out-Bytes', '0.04')
    row(h, 'Amazon EC2', 'Compute', 'ri-1', 'BoxUsage:m5.large', '0.2', pricing='Committed', status='Unused')
    if h % 5 == 0:
        row(h, 'Amazon EC2', 'Compute', 'eip-1', 'ElasticIP:IdleAddress', '0.005')
PYEOF
if ! "$F" cost --requests 1500000 --html "$tmp/report.html" "$tmp/ml.csv" >"$tmp/out.txt" 2>"$tmp/err"; then
  echo "FAIL frugal cost --html: $(cat "$tmp/err")"; echo "0 passed, 1 failed"; exit 1
fi
out=$(cd "$here" && node cost_report.test.mjs "$tmp/report.html" "$art/cost_report.png" 2>&1)
echo "$out"
res=$(grep '^RESULT ' <<<"$out" | tail -1)
p=$(awk '{print $2}' <<<"$res"); f=$(awk '{print $3}' <<<"$res")
[[ -n "$p" ]] || { p=0; f=1; }
echo "$p passed, $f failed"
[[ $f -eq 0 ]]
