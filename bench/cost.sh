#!/usr/bin/env bash
# bench/cost.sh - `frugal cost` vs pandas on a large synthetic FOCUS 1.2 export. Run by hand:
#
#   bench/cost.sh                                   # 1 GB file, 3 interleaved rounds
#   FRUGAL=build-gen/frugal ROUNDS=5 bench/cost.sh
#   FOCUS_FILE=/data/focus.csv bench/cost.sh        # reuse a file (kept; not deleted)
#
# What it does, in one run:
#   1. builds bench/focus_gen.c (unless $FOCUS_GEN names a binary) and writes, into a temp dir that is
#      deleted at exit, a $SIZE (1G) FOCUS 1.2 file (unless $FOCUS_FILE is given), a $SMALL (100M)
#      one and a 5M one, all with seed $SEED;
#   2. exactness: sums EffectiveCost of the 5M file with Python csv + decimal and checks that
#      `frugal cost --json` prints the same total (to its 6 decimals) with 0 skipped rows;
#   3. $ROUNDS times, interleaved: (a) `frugal cost --json BIG`, (b) the pandas peer on BIG,
#      (c) `frugal cost --json SMALL`, each pinned to CPU $CPU with taskset and measured with
#      /usr/bin/time -f '%e %M' (wall seconds, peak RSS);
#   4. prints a markdown table (medians over rounds), the ratio frugal/pandas in MB/s, whether the
#      totals agree, and whether frugal's peak RSS is flat between SMALL and BIG.
#
# The peer (pandas, Debian python3-pandas; installed with apt-get when missing and we are root):
#   read_csv(usecols = BillingCurrency, ProviderName, ServiceCategory, ServiceName, ResourceId,
#   BilledCost, EffectiveCost; costs as float64 - Decimal converters are far too slow, so the peer's
#   sums are binary floating point, frugal's exact), the whole file at once (the usual way), then:
#   cost = EffectiveCost, or BilledCost where that is missing; per currency: rows, sum of cost,
#   of BilledCost, of EffectiveCost; sums by (currency, ServiceCategory), by (currency,
#   ProviderName, ServiceName) sorted, by (currency, ProviderName, ServiceName, ResourceId) top 3.
#   It does NOT parse Tags JSON, timestamps, ChargeCategory/CommitmentDiscountStatus/
#   PricingCategory, SkuId/SkuMeter, nor apply the ML-lifecycle rules (frugal does all of that for
#   its buckets): those have no fair vectorised pandas equivalent, so the peer does less work.
#
# Environment: FRUGAL (build/frugal), FOCUS_GEN (built into the temp dir), FOCUS_FILE, SIZE (1G),
#   SMALL (100M), SEED (1), ROUNDS (3), CPU (0), PYTHON (/usr/bin/python3), CC (cc), TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FRUGAL=${FRUGAL:-$ROOT/build/frugal}
FOCUS_GEN=${FOCUS_GEN:-}
FOCUS_FILE=${FOCUS_FILE:-}
SIZE=${SIZE:-1G}
SMALL=${SMALL:-100M}
SEED=${SEED:-1}
ROUNDS=${ROUNDS:-3}
CPU=${CPU:-0}
PYTHON=${PYTHON:-/usr/bin/python3}

die() { echo "bench/cost.sh: $*" >&2; exit 2; }
[ -x "$FRUGAL" ] || die "no frugal at $FRUGAL (build it, or set FRUGAL=)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install -y time)"
command -v taskset >/dev/null || die "taskset missing (util-linux)"
if ! "$PYTHON" -c 'import pandas' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bench/cost.sh: installing python3-pandas" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pandas >&2
        PYTHON=/usr/bin/python3
    fi
    "$PYTHON" -c 'import pandas' || die "pandas missing for $PYTHON (apt-get install -y python3-pandas)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/frugal-cost-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

if [ -z "$FOCUS_GEN" ]; then
    ${CC:-cc} -std=c17 -O2 -Wall -Wextra -Werror -o "$TMP/focus_gen" "$ROOT/bench/focus_gen.c"
    FOCUS_GEN=$TMP/focus_gen
fi
if [ -z "$FOCUS_FILE" ]; then
    BIG=$TMP/focus-big.csv
    "$FOCUS_GEN" --bytes "$SIZE" --seed "$SEED" --out "$BIG"
else
    [ -r "$FOCUS_FILE" ] || die "cannot read $FOCUS_FILE"
    BIG=$FOCUS_FILE
fi
SMALLF=$TMP/focus-small.csv
"$FOCUS_GEN" --bytes "$SMALL" --seed "$SEED" --out "$SMALLF"
TINY=$TMP/focus-5m.csv
"$FOCUS_GEN" --bytes 5M --seed "$SEED" --out "$TINY"

# ---- the pandas peer ----
cat >"$TMP/peer.py" <<'EOF'
import json, sys
import pandas as pd

cols = ["BillingCurrency", "ProviderName", "ServiceCategory", "ServiceName", "ResourceId",
        "BilledCost", "EffectiveCost"]
df = pd.read_csv(sys.argv[1], usecols=cols,
                 dtype={"BilledCost": "float64", "EffectiveCost": "float64", "BillingCurrency": str,
                        "ProviderName": str, "ServiceCategory": str, "ServiceName": str, "ResourceId": str})
df["cost"] = df["EffectiveCost"].fillna(df["BilledCost"]).fillna(0.0)
cur = df.groupby("BillingCurrency", dropna=False).agg(
    rows=("cost", "size"), total=("cost", "sum"), billed=("BilledCost", "sum"),
    effective=("EffectiveCost", "sum"))
by_cat = df.groupby(["BillingCurrency", "ServiceCategory"], dropna=False)["cost"].sum()
by_svc = df.groupby(["BillingCurrency", "ProviderName", "ServiceName"], dropna=False)["cost"].sum()
by_svc = by_svc.sort_values(ascending=False)
drv = df.groupby(["BillingCurrency", "ProviderName", "ServiceName", "ResourceId"], dropna=False)["cost"].sum()
top = drv.sort_values(ascending=False).groupby(level=0, dropna=False).head(3)
main = cur["rows"].idxmax()
print(json.dumps({"rows": int(len(df)), "currency": str(main), "total": float(cur.loc[main, "total"]),
                  "billed_total": float(cur.loc[main, "billed"]),
                  "effective_total": float(cur.loc[main, "effective"]),
                  "n_by_category": int(len(by_cat)), "n_by_service": int(len(by_svc)),
                  "n_drivers": int(len(drv)),
                  "top_drivers": [[str(x) for x in k] + [float(v)] for k, v in top.items()]}))
EOF

# ---- exactness check: Python csv + decimal vs frugal, on the 5M file ----
cat >"$TMP/exact.py" <<'EOF'
import csv, json, sys
from decimal import Decimal, ROUND_HALF_EVEN
def dec(s):
    s = s.strip()
    return Decimal(0) if s == "" or s.upper() == "NULL" else Decimal(s)
tot, n = Decimal(0), 0
with open(sys.argv[1], newline="") as f:
    for row in csv.DictReader(f):
        n += 1
        e = row["EffectiveCost"].strip()  # frugal: EffectiveCost, or BilledCost where it is absent
        tot += dec(e) if e and e.upper() != "NULL" else dec(row["BilledCost"])
fr = json.load(open(sys.argv[2]))
q = tot.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
ok = fr["rows_read"] == n and fr["rows_skipped"] == 0 and Decimal(str(fr["total"])).quantize(Decimal("0.000001")) == q
print(f"exactness (5M file): {n} rows; Python decimal sum {tot} -> {q}; frugal {fr['total']:.6f}, "
      f"rows_read {fr['rows_read']}, rows_skipped {fr['rows_skipped']}: {'OK' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
EOF
"$FRUGAL" cost --json "$TINY" >"$TMP/tiny.json"
"$PYTHON" "$TMP/exact.py" "$TINY" "$TMP/tiny.json"

# ---- interleaved rounds ----
cat "$BIG" "$SMALLF" >/dev/null # page cache: every run reads from memory
measure() { # name file cmd... ; appends "name wall_s rss_kb" to $TMP/times
    local name=$1 out=$2
    shift 2
    /usr/bin/time -f '%e %M' -o "$TMP/t" taskset -c "$CPU" "$@" >"$out"
    echo "$name $(cat "$TMP/t")" >>"$TMP/times"
}
: >"$TMP/times"
for r in $(seq 1 "$ROUNDS"); do
    measure frugal_big "$TMP/frugal-big.json" "$FRUGAL" cost --json "$BIG"
    measure pandas_big "$TMP/pandas-big.json" "$PYTHON" "$TMP/peer.py" "$BIG"
    measure frugal_small "$TMP/frugal-small.json" "$FRUGAL" cost --json "$SMALLF"
    echo "round $r: $(tail -3 "$TMP/times" | tr '\n' ' ')" >&2
done

BIG_BYTES=$(stat -c %s "$BIG") SMALL_BYTES=$(stat -c %s "$SMALLF") ROUNDS=$ROUNDS CPU=$CPU \
    "$PYTHON" - "$TMP/times" "$TMP/frugal-big.json" "$TMP/pandas-big.json" "$TMP/frugal-small.json" <<'EOF'
import json, os, statistics, sys
times = {}
for line in open(sys.argv[1]):
    name, wall, rss = line.split()
    times.setdefault(name, []).append((float(wall), int(rss)))
fb, pb, fs = (json.load(open(p)) for p in sys.argv[2:5])
big, small = int(os.environ["BIG_BYTES"]), int(os.environ["SMALL_BYTES"])
def med(name, i):
    return statistics.median(t[i] for t in times[name])
rows = [("frugal cost --json", "big", big, "frugal_big", fb["rows_read"], fb["total"]),
        ("pandas peer", "big", big, "pandas_big", pb["rows"], pb["total"]),
        ("frugal cost --json", "small", small, "frugal_small", fs["rows_read"], fs["total"])]
print(f"| tool | file | MB | rows | wall s (median of {os.environ['ROUNDS']}) | MB/s | peak RSS MB | total (USD) |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
mbs = {}
for tool, f, size, key, n, total in rows:
    w, m = med(key, 0), med(key, 1)
    mbs[key] = size / 1e6 / w
    print(f"| {tool} | {f} | {size/1e6:,.0f} | {n:,} | {w:.2f} | {mbs[key]:,.1f} | {m/1024:,.1f} | {total:,.6f} |")
ratio = mbs["frugal_big"] / mbs["pandas_big"]
allw = {k: [t[0] for t in v] for k, v in times.items()}
print()
print(f"all wall times (s): " + "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v)}" for k, v in allw.items()))
print(f"ratio frugal/pandas (MB/s, big file): {ratio:.2f}x (goal >= 10x: {'met' if ratio >= 10 else 'NOT met'})")
d = abs(fb["total"] - pb["total"])
# float64 sums of ~1e6 values carry ~1e-12 relative error; frugal prints 6 decimals (+-5e-7)
ok_total = d <= 1e-9 * abs(fb["total"]) + 1e-6 and fb["rows_read"] == pb["rows"]
print(f"totals: frugal {fb['total']:.6f} (exact decimal, 6 decimals) vs pandas {pb['total']:.6f} (float64): "
      f"|diff| {d:.3g}, rows {fb['rows_read']} vs {pb['rows']}: {'agree' if ok_total else 'DISAGREE'}")
print(f"frugal rows skipped: big {fb['rows_skipped']}, small {fs['rows_skipped']}")
rb, rs = med("frugal_big", 1), med("frugal_small", 1)
flat = rb <= rs * 1.25 + 2048
print(f"frugal peak RSS: small {rs/1024:.1f} MB, big {rb/1024:.1f} MB ({big/small:.1f}x the bytes): "
      f"{'flat' if flat else 'NOT flat'}")
EOF
