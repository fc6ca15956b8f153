#!/usr/bin/env bash
# frugal bench vs wrk against nginx returning a fixed 120-byte body (bench/nginx.conf), run by hand:
#   bench/loadgen.sh            (FRUGAL=build/frugal WRK=wrk NGINX=/usr/sbin/nginx ROUNDS=5 DURATION=5)
# 1. Closed loop: wrk -t T -c C and frugal bench --threads T --concurrency C, interleaved rounds (wrk,
#    frugal, wrk, frugal, ...), each tool's req/s and CPU seconds (user+sys from /usr/bin/time); the
#    ratio of the medians, goal frugal >= 0.9 x wrk.
# 2. Open loop: frugal bench --rate RATE (default 20k) for DURATION: achieved rate vs target (goal
#    within 1 %), dropped, late, p99, CPU.
# nginx runs as the current user under a temporary prefix on a free loopback port and is stopped (by
# PID) at the end. Prints a Markdown block for bench/RESULTS.md. Not part of the test suite.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FRUGAL=${FRUGAL:-$ROOT/build/frugal}
WRK=${WRK:-wrk}
NGINX=${NGINX:-/usr/sbin/nginx}
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
THREADS=${THREADS:-1}
CONNS=${CONNS:-32}
NGINX_WORKERS=${NGINX_WORKERS:-1}
RATE=${RATE:-20000}
die() { echo "loadgen.sh: $*" >&2; exit 1; }
[ -x "$FRUGAL" ] || die "no frugal binary at $FRUGAL (set FRUGAL=...)"
command -v "$WRK" >/dev/null || die "wrk not found (apt-get install wrk)"
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
TMP=$(mktemp -d)
NGINX_PID=
cleanup() { [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
body=$(printf '{"status":"ok","pad":"%s"}' "$(printf 'x%.0s' $(seq 1 96))")
mkdir -p "$TMP/ng/tmp"
sed -e "s/@WORKERS@/$NGINX_WORKERS/" -e "s/@PORT@/$port/" -e "s/@BODY@/$body/" "$ROOT/bench/nginx.conf" >"$TMP/ng/nginx.conf"
"$NGINX" -p "$TMP/ng/" -e "$TMP/ng/error.log" -c "$TMP/ng/nginx.conf" >"$TMP/ng/stdout" 2>&1 &
NGINX_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
[ "$(curl -sf "http://127.0.0.1:$port/")" = "$body" ] || die "nginx does not answer on port $port"
URL=http://127.0.0.1:$port/

# timed OUT CMD...: runs CMD with its stdout in OUT, appends "cpu USER SYS" to OUT.cpu
timed() { local out=$1; shift; /usr/bin/time -f '%U %S' -o "$out.cpu" "$@" >"$out" 2>"$out.err"; }

echo "closed loop: $ROUNDS interleaved rounds of ${DURATION}s, $THREADS thread(s), $CONNS connections, nginx $NGINX_WORKERS worker(s)" >&2
: >"$TMP/wrk.tsv"; : >"$TMP/fb.tsv"
for r in $(seq "$ROUNDS"); do
  timed "$TMP/w" "$WRK" -t "$THREADS" -c "$CONNS" -d "${DURATION}s" "$URL"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/w")
  grep -q 'Non-2xx\|Socket errors' "$TMP/w" && die "wrk saw errors: $(cat "$TMP/w")"
  printf '%s\t%s\n' "$rps" "$(awk '{print $1 + $2}' "$TMP/w.cpu")" >>"$TMP/wrk.tsv"
  timed "$TMP/f" "$FRUGAL" bench "$URL" --threads "$THREADS" --concurrency "$CONNS" --duration "${DURATION}s" --quiet --json "$TMP/f.json"
  "$PYTHON" - "$TMP/f.json" "$TMP/f.cpu" >>"$TMP/fb.tsv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stages"][0]
assert s["error_count"] == 0, s["errors"]
u, y = open(sys.argv[2]).read().split()[:2]
print("%.2f\t%.2f" % (s["throughput_rps"], float(u) + float(y)))
PY
  echo "round $r: wrk $(tail -1 "$TMP/wrk.tsv" | cut -f1) req/s, frugal bench $(tail -1 "$TMP/fb.tsv" | cut -f1) req/s" >&2
done

echo "open loop: ${RATE}/s for ${DURATION}s" >&2
timed "$TMP/o" "$FRUGAL" bench "$URL" --rate "$RATE" --duration "${DURATION}s" --quiet --json "$TMP/o.json"

"$PYTHON" - "$TMP/wrk.tsv" "$TMP/fb.tsv" "$TMP/o.json" "$TMP/o.cpu" "$RATE" <<PY
import json, statistics as st, sys
w = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
f = [tuple(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
mw, mf = st.median(r for r, _ in w), st.median(r for r, _ in f)
print("Closed loop, $THREADS thread(s), $CONNS connections, ${DURATION} s per round, $ROUNDS rounds interleaved (wrk, frugal bench, ...):")
print()
print("| round | wrk req/s | wrk CPU s | frugal bench req/s | frugal bench CPU s |")
print("|---:|---:|---:|---:|---:|")
for i, (a, b) in enumerate(zip(w, f)):
    print("| %d | %.0f | %.2f | %.0f | %.2f |" % (i + 1, a[0], a[1], b[0], b[1]))
print("| **median** | **%.0f** | %.2f | **%.0f** | %.2f |" % (mw, st.median(c for _, c in w), mf, st.median(c for _, c in f)))
print()
print("- **Ratio frugal bench / wrk (medians): %.2f** (goal >= 0.9: %s)" % (mf / mw, "met" if mf / mw >= 0.9 else "NOT met"))
print("- CPU per 1k requests: wrk %.1f ms, frugal bench %.1f ms" % (1e6 * st.median(c / (r * $DURATION) for r, c in w), 1e6 * st.median(c / (r * $DURATION) for r, c in f)))
o = json.load(open(sys.argv[3])); s = o["stages"][0]
u, y = open(sys.argv[4]).read().split()[:2]
rate = float(sys.argv[5]); dev = (s["achieved_rps"] - rate) / rate
print("- Open loop at %.0f/s for %.1f s: achieved **%.1f/s (%+.2f %%; goal within 1 %%: %s)**, sent %d, dropped %d, late %d, "
      "connection cap %d, p50 %d us, p99 %d us (service p99 %d us), CPU %.2f s"
      % (rate, s["duration_s"], s["achieved_rps"], 100 * dev, "met" if abs(dev) <= 0.01 else "NOT met", s["sent"],
         s["dropped"], s["late"], o["config"]["max_connections"], s["latency_us"]["p50"] or 0, s["latency_us"]["p99"] or 0,
         s["service_us"]["p99"] or 0, float(u) + float(y)))
PY
