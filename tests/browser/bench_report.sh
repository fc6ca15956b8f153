#!/usr/bin/env bash
# Browser test of frugal bench's HTML report: bench_report.sh FRUGAL_BINARY
# Re-renders the committed results fixture (fixtures/bench-results.json: 3 open-loop stages with server
# data and thresholds) with `frugal bench --report FILE --html OUT`, then opens the file in Debian's
# chromium (CHROMIUM, default /usr/bin/chromium) with playwright-core through bench_report.test.mjs.
# Screenshot: $FG_ARTIFACTS/bench_report.png (default: the binary's directory).
# Needs node, chromium and tests/browser/node_modules (scripts/setup.sh installs all three).
set -uo pipefail
F=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
source "$root/tests/e2e/lib.sh"
trap cleanup EXIT
cd "$root"

export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for need in node "$CHROMIUM"; do
  command -v "$need" >/dev/null || { echo "$need is missing (scripts/setup.sh installs it)"; exit 1; }
done
[[ -d "$here/node_modules/playwright-core" ]] ||
  { echo "tests/browser/node_modules is missing (scripts/setup.sh runs npm ci there)"; exit 1; }
art=${FG_ARTIFACTS:-$(dirname "$F")}
mkdir -p "$art"
shot=$art/bench_report.png
rm -f "$shot"

fixture=$here/fixtures/bench-results.json
html=$tmp/report.html
"$F" bench --report "$fixture" --html "$html" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [[ $rc -eq 0 && -s "$html" ]]; then
  ok "frugal bench --report FILE --html OUT renders the saved results"
else
  bad "frugal bench --report FILE --html OUT renders the saved results" "exit $rc: $(head -3 "$tmp/err")"
  finish
fi
head -c 15 "$html" | grep -q '^<!doctype html>' && ok "report is an HTML document" ||
  bad "report is an HTML document" "$(head -c 80 "$html")"
# (the SVG namespace name is an identifier, not a fetch)
ext=$(grep -oiE '(https?:)?//[a-z0-9-]+\.[a-z0-9.-]+[^"'\'' )<]*' "$html" | grep -v '^http://www.w3.org/2000/svg$' |
      grep -v '^http://127.0.0.1:8000$')
if [[ -n "$ext" ]]; then
  bad "report loads nothing from elsewhere" "$(sort -u <<<"$ext" | tr '\n' ' ')"
else ok "report loads nothing from elsewhere"; fi

# a file that is not a results document is refused with a reason
echo '{"stage": []}' >"$tmp/not-results.json"
"$F" bench --report "$tmp/not-results.json" --html "$tmp/bad.html" >"$tmp/out2" 2>"$tmp/err2"; rc=$?
if [[ $rc -ne 0 ]] && grep -q 'stages' "$tmp/err2"; then
  ok "--report on a non-results file fails naming the problem"
else
  bad "--report on a non-results file fails naming the problem" "exit $rc: $(head -3 "$tmp/err2")"
fi

out=$(cd "$here" && timeout 60 node bench_report.test.mjs "$html" "$shot" 2>&1); nrc=$?
echo "$out" | grep -v '^RESULT '
res=$(echo "$out" | sed -n 's/^RESULT //p')
if [[ -n "$res" ]]; then pass=$((pass + ${res% *})); fail=$((fail + ${res#* })); fi
[[ $nrc -eq 0 ]] || [[ -n "$res" && ${res#* } -gt 0 ]] || bad "node bench_report.test.mjs" "exit $nrc"
[[ -s "$shot" ]] && echo "screenshot: $shot"
finish
