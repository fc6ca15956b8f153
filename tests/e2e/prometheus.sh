#!/usr/bin/env bash
# End-to-end test of deploy/prometheus and deploy/grafana against the real binary and a real Prometheus:
# starts frugal on digits_mlp.onnx, drives it (repeated bodies for cache hits, a few 400s), runs Prometheus
# with deploy/prometheus/prometheus.yml (scrape and evaluation every 1 s, the target set to frugal's port,
# the repository's rule files), waits for several scrapes, then evaluates through /api/v1/query every
# recording rule's expression, every recorded series and every target of the Grafana dashboard ($model ->
# .*, $variant -> .*, $__rate_interval -> 1m): each must return data. Alert expressions are evaluated and
# reported (they are not expected to fire here); every rule must evaluate without error.
# usage: prometheus.sh FRUGAL_BINARY   (needs prometheus: scripts/setup.sh installs it)
set -u
F=${1:?usage: prometheus.sh FRUGAL_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models
P=$ROOT/deploy/prometheus
PY=/usr/bin/python3
tmp=$(mktemp -d)
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
command -v prometheus >/dev/null || { echo "prometheus is missing (scripts/setup.sh installs it)"; exit 1; }

if ! start_server s "$M/digits_mlp.onnx" --cache-bytes 16M --price-per-hour 0.085; then
  bad "server starts" "$(cat "$tmp/s.out" "$tmp/s.err")"; finish
fi
ok "server starts"
fpid=$pid
fport=${U##*:}

# Load for ~12 s: each round, on one connection, 10 bodies never sent before (misses: computed in batches),
# 9 copies of one body (hits once admitted) and one malformed body (400).
$PY - "$M/digits_mlp.json" "$tmp/u" 240 <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
for i in range(int(sys.argv[3])):
    d["inputs"][0]["data"][0] = 0.001 * (i + 1)
    open("%s%d.json" % (sys.argv[2], i), "w").write(json.dumps(d))
PYEOF
(
  for r in $(seq 0 23); do
    args=(-s -o /dev/null -X POST --data-binary "@$tmp/u$((r * 10)).json" "$U/v2/models/digits_mlp/infer")
    for i in $(seq 1 9); do
      args+=(--next -s -o /dev/null -X POST --data-binary "@$tmp/u$((r * 10 + i)).json" "$U/v2/models/digits_mlp/infer")
    done
    for _ in $(seq 9); do
      args+=(--next -s -o /dev/null -X POST --data-binary "@$M/digits_mlp.json" "$U/v2/models/digits_mlp/infer")
    done
    args+=(--next -s -o /dev/null -X POST -d '{not json' "$U/v2/models/digits_mlp/infer")
    curl "${args[@]}"
    sleep 0.5
  done
) &
load=$!
pids+=("$load")

# The repository's config, pointed at this server, every 1 s, with the rule files by absolute path.
pport=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e 's/^\(  *scrape_interval:\).*/\1 1s/' -e 's/^\(  *evaluation_interval:\).*/\1 1s/' \
    -e "s/localhost:8000/127.0.0.1:$fport/" -e "s|^\(  - \)\(frugal\.[a-z]*\.yml\)|\1$P/\2|" \
    "$P/prometheus.yml" >"$tmp/prometheus.yml"
if grep -q "127.0.0.1:$fport" "$tmp/prometheus.yml" && grep -q "$P/frugal.rules.yml" "$tmp/prometheus.yml" &&
   grep -q "$P/frugal.alerts.yml" "$tmp/prometheus.yml" && ! grep -q '15s' "$tmp/prometheus.yml"; then
  ok "config derived from deploy/prometheus/prometheus.yml"
else
  bad "config derived from deploy/prometheus/prometheus.yml" "$(cat "$tmp/prometheus.yml")"
fi
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$tmp/prom.log" 2>&1 &
ppid=$!
pids+=("$ppid")
PU=http://127.0.0.1:$pport

# Wait for the target to be up and scraped at least 5 times, and for the recording rules to have run.
q() { curl -s --get --data-urlencode "query=$1" "$PU/api/v1/query"; }
scrapes=0
for _ in $(seq 300); do
  kill -0 "$ppid" 2>/dev/null || break
  scrapes=$(q 'count_over_time(up{job="frugal"}[1m])' | $PY -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)
except Exception:
    print(0)' 2>/dev/null)
  [[ ${scrapes:-0} -ge 6 ]] && break
  sleep 0.1
done
if [[ ${scrapes:-0} -ge 6 ]]; then ok "prometheus scraped frugal $scrapes times"
else bad "prometheus scraped frugal several times" "$(tail -20 "$tmp/prom.log")"; finish; fi
health=$(curl -s "$PU/api/v1/targets" | $PY -c '
import json, sys
print(",".join(t["health"] for t in json.load(sys.stdin)["data"]["activeTargets"]))')
[[ "$health" == up ]] && ok "target health up" || bad "target health up" "health: $health"
up=$(q 'up{job="frugal"}' | $PY -c 'import json, sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])' 2>&1)
[[ "$up" == 1 ]] && ok "up == 1" || bad "up == 1" "$up"
wait "$load"
sleep 2   # a few more scrapes and rule evaluations after the last request

# Every rule loaded and evaluating without error; every expression of the rules and dashboard has data.
$PY - "$PU" "$P/frugal.rules.yml" "$P/frugal.alerts.yml" "$ROOT/deploy/grafana/frugal.json" "$tmp/counts" <<'PYEOF'
import json, re, sys, urllib.parse, urllib.request
pu, rules_f, alerts_f, dash_f, counts_f = sys.argv[1:]
passed = failed = 0
def ok(m):
    global passed; passed += 1; print("ok   " + m)
def bad(m, d=""):
    global failed; failed += 1; print("FAIL " + m + ("\n     " + d if d else ""))
def get(path, **params):
    url = pu + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)

def rules_of(path):
    """[(kind, name, expr)]; PyYAML when present, else the one-line `expr:` convention of the files."""
    try:
        import yaml
        doc = yaml.safe_load(open(path))
        return [("record", r["record"], r["expr"]) if "record" in r else ("alert", r["alert"], r["expr"])
                for g in doc["groups"] for r in g["rules"]]
    except ImportError:
        out, cur = [], None
        for line in open(path):
            m = re.match(r"\s*- (record|alert): (\S+)", line)
            if m: cur = m.groups()
            m = re.match(r"\s*expr: (.+)$", line)
            if m and cur: out.append((cur[0], cur[1], m.group(1).strip())); cur = None
        return out

def query(expr):
    d = get("/api/v1/query", query=expr)
    if d.get("status") != "success": raise RuntimeError(d.get("error", d))
    return d["data"]["result"]

def show(res):
    return ", ".join("%s=%s" % (",".join("%s=%s" % kv for kv in sorted(r["metric"].items()) if kv[0] not in
                                          ("job", "instance", "__name__")) or "-", r["value"][1])
                     for r in res[:4]) + (" ..." if len(res) > 4 else "")

def must_have_data(label, expr):
    """Data, and every value a number: NaN (0/0) only for the Redis cache level, not configured here."""
    try:
        res = query(expr)
    except Exception as e:
        bad(label, "%s: %s" % (expr, e)); return
    nan = [r for r in res if r["value"][1] in ("NaN", "+Inf", "-Inf") and r["metric"].get("level") != "redis"]
    if not res: bad(label, "no data: " + expr)
    elif nan: bad(label, "not a number: %s: %s" % (expr, show(nan)))
    else: ok("%s: %s" % (label, show(res)))

rules = rules_of(rules_f) + rules_of(alerts_f)
if len([r for r in rules if r[0] == "record"]) >= 20 and len([r for r in rules if r[0] == "alert"]) >= 7:
    ok("rule files parsed: %d recording, %d alerting" % (len([r for r in rules if r[0] == "record"]),
                                                        len([r for r in rules if r[0] == "alert"])))
else:
    bad("rule files parsed", str(rules))

# Loaded by Prometheus and evaluated without error.
loaded = {}
for g in get("/api/v1/rules")["data"]["groups"]:
    for r in g["rules"]:
        loaded[r["name"]] = r
for kind, name, _ in rules:
    r = loaded.get(name)
    if r is None: bad("rule %s loaded" % name)
    elif r.get("health") != "ok": bad("rule %s healthy" % name, "%s %s" % (r.get("health"), r.get("lastError")))
    else: ok("rule %s loaded, health ok" % name)

for kind, name, expr in rules:
    if kind == "record":
        must_have_data("expr of " + name, expr)
        must_have_data("series " + name, name)
for kind, name, expr in rules:
    if kind == "alert":   # reported only: nothing is expected to fire on a healthy server
        try: res = query(expr); print("info alert %s: %s" % (name, "firing condition true: " + show(res) if res else "not firing"))
        except Exception as e: bad("alert expr of " + name, str(e))

# Dashboard targets, with Grafana's variables replaced.
dash = json.load(open(dash_f))
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
def subst(e):
    e = re.sub(r'(\w+)=~?"\$model"', r'\1=~".*"', e)
    e = re.sub(r'(\w+)=~?"\$variant"', r'\1=~".*"', e)
    return e.replace("$__rate_interval", "1m")
n = 0
for p in panels(dash["panels"]):
    for t in p.get("targets", []):
        n += 1
        e = subst(t["expr"])
        if "$" in e: bad("dashboard %r %s: unreplaced variable" % (p["title"], t["refId"]), e); continue
        must_have_data("dashboard %r %s" % (p["title"], t["refId"]), e)
ok("dashboard has %d targets" % n) if n >= 20 else bad("dashboard has targets", str(n))
# Variables: label_values(frugal_requests_total, model) has values. The variant label does not exist yet
# (A/B comes later): its list is allowed to be empty, and every panel above already ran with $variant = .*.
vals = get("/api/v1/label/model/values", **{"match[]": "frugal_requests_total"})["data"]
ok("variable model: %s" % vals) if vals == ["digits_mlp"] else bad("variable model", str(vals))
vals = get("/api/v1/label/variant/values", **{"match[]": "frugal_requests_total"})["data"]
print("info variable variant: %s (allowed empty: frugal has no variant label yet)" % vals)
open(counts_f, "w").write("%d %d\n" % (passed, failed))
PYEOF
if [[ -s "$tmp/counts" ]]; then
  read -r p f <"$tmp/counts"; pass=$((pass + p)); fail=$((fail + f))
else
  bad "queries ran"
fi

# The load reached every path: computed batches, cache hits, 400s (from frugal's own counters).
for m in 'frugal_batches_total{model="digits_mlp",version="1"}' \
         'frugal_cache_hits_total{model="digits_mlp",level="local"}' \
         'frugal_requests_total{model="digits_mlp",version="1",outcome="bad_request",status="400"}'; do
  v=$(metric "$m")
  [[ -n "$v" && "$v" != 0 ]] && ok "load: $m = $v" || bad "load: $m" "value '$v'"
done

# Stop both with SIGTERM.
kill -TERM "$ppid"
prc=
for _ in $(seq 100); do
  if ! kill -0 "$ppid" 2>/dev/null; then wait "$ppid"; prc=$?; break; fi
  sleep 0.1
done
[[ "$prc" == 0 ]] && ok "prometheus stops on SIGTERM" || bad "prometheus stops on SIGTERM" "rc=$prc $(tail -5 "$tmp/prom.log")"
pid=$fpid
stop_server
[[ "$rc" == 0 ]] && ok "frugal stops on SIGTERM, exit 0" || bad "frugal stops on SIGTERM, exit 0" "rc=$rc"
finish
