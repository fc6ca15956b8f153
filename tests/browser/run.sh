#!/usr/bin/env bash
# Browser test of the built-in dashboard: run.sh FRUGAL_BINARY
# Starts `frugal serve models/digits_mlp.onnx`, sends traffic with curl, checks the routes with curl, then
# drives Debian's chromium (CHROMIUM, default /usr/bin/chromium) with playwright-core through
# dashboard.test.mjs. Screenshot: $FG_ARTIFACTS/dashboard.png (default: the binary's directory).
# Needs node, chromium and tests/browser/node_modules (scripts/setup.sh installs all three).
set -uo pipefail
F=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
source "$root/tests/e2e/lib.sh"
traffic_pid=
trap 'kill "$traffic_pid" 2>/dev/null; cleanup' EXIT
cd "$root"

export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for need in node "$CHROMIUM"; do
  command -v "$need" >/dev/null || { echo "$need is missing (scripts/setup.sh installs it)"; exit 1; }
done
[[ -d "$here/node_modules/playwright-core" ]] ||
  { echo "tests/browser/node_modules is missing (scripts/setup.sh runs npm ci there)"; exit 1; }
art=${FG_ARTIFACTS:-$(dirname "$F")}
mkdir -p "$art"
shot=$art/dashboard.png
rm -f "$shot"

start_server page models/digits_mlp.onnx --cache-bytes 16M || { bad "server ready" "$(cat "$tmp/page.err")"; finish; }
ok "server ready on $U"

# bodies: the sample (repeated: cache hits) and a few variants (misses)
sample=models/digits_mlp.json
for i in 1 2 3 4 5; do
  sed "s/\"data\":\[0\.0,/\"data\":[0.$i,/" "$sample" >"$tmp/b$i.json"
done
infer() { curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            --data-binary @"$1" "$U/v2/models/digits_mlp/infer"; }
codes=
for i in $(seq 30); do codes+=$(infer "$sample")" "; done
for i in 1 2 3 4 5; do codes+=$(infer "$tmp/b$i.json")" "; done
[[ "$codes" =~ ^(200 )+$ ]] && ok "35 inferences answered 200" || bad "35 inferences answered 200" "$codes"

# routes
req GET / -D "$tmp/h"
loc=$(tr -d '\r' <"$tmp/h" | sed -n 's/^[Ll]ocation: //p')
[[ "$code" == 302 && "$loc" == /dashboard ]] && ok "GET / -> 302 /dashboard" || bad "GET / -> 302 /dashboard" "$code '$loc'"
req GET /dashboard -D "$tmp/h"
ct=$(tr -d '\r' <"$tmp/h" | sed -n 's/^[Cc]ontent-[Tt]ype: //p')
[[ "$code" == 200 && "$ct" == text/html* ]] && ok "GET /dashboard 200 $ct" || bad "GET /dashboard 200 text/html" "$code '$ct'"
cmp -s "$tmp/body" src/serve/page/dashboard.html && ok "served page = src/serve/page/dashboard.html" ||
  bad "served page = src/serve/page/dashboard.html" "run scripts/embed_page.sh"
head=$(curl -s -I -o /dev/null -w '%{http_code} %{size_download} %header{content-length}' "$U/dashboard")
[[ "$head" == "200 0 $(stat -c %s src/serve/page/dashboard.html)" ]] && ok "HEAD /dashboard 200, length, no body" ||
  bad "HEAD /dashboard 200, length, no body" "$head"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$U/")
[[ "$code" == 302 ]] && ok "HEAD / 302" || bad "HEAD / 302" "$code"
req POST /dashboard; expect "POST /dashboard 405" 405 'method not allowed'
req DELETE /; expect "DELETE / 405" 405 'method not allowed'
req GET /dashboard/x; expect "GET /dashboard/x 404" 404 'not found'
# (the SVG namespace name is an identifier, not a fetch)
ext=$(grep -oiE '(https?:)?//[a-z0-9-]+\.[a-z0-9.-]+[^"'\'' )]*' src/serve/page/dashboard.html | grep -v '^http://www.w3.org/2000/svg$')
if [[ -n "$ext" ]]; then
  bad "page loads nothing from elsewhere" "$(sort -u <<<"$ext" | tr '\n' ' ')"
else ok "page loads nothing from elsewhere"; fi

# traffic while the browser watches: mostly repeats (hits), some misses
( n=0; while kill -0 "$pid" 2>/dev/null; do
    n=$((n + 1)); infer "$sample" >/dev/null; infer "$tmp/b$((n % 5 + 1)).json" >/dev/null; sleep 0.05
  done ) &
traffic_pid=$!

out=$(cd "$here" && timeout 60 node dashboard.test.mjs "$U" "$shot" 2>&1); nrc=$?
echo "$out" | grep -v '^RESULT '
res=$(echo "$out" | sed -n 's/^RESULT //p')
if [[ -n "$res" ]]; then pass=$((pass + ${res% *})); fail=$((fail + ${res#* })); fi
[[ $nrc -eq 0 ]] || [[ -n "$res" && ${res#* } -gt 0 ]] || bad "node dashboard.test.mjs" "exit $nrc"
[[ -s "$shot" ]] && echo "screenshot: $shot"

kill "$traffic_pid" 2>/dev/null; wait "$traffic_pid" 2>/dev/null; traffic_pid=
others=$(curl -s "$U/metrics" | grep '^frugal_requests_total{' | grep -v 'outcome="success"' | grep -v ' 0$')
[[ -z "$others" ]] && ok "every inference succeeded ($(metric 'frugal_requests_total{model="digits_mlp",version="1",outcome="success",status="200"}'))" ||
  bad "every inference succeeded" "$others"
stop_server
[[ "$rc" == 0 ]] && ok "SIGTERM: server exits 0" || bad "SIGTERM: server exits 0" "rc '$rc': $(tail -3 "$tmp/page.err")"
finish
