#!/usr/bin/env bash
# Checks of deploy/prometheus/: both scrape configs (with the rule files they load), both rule files, and
# the promtool unit tests (tests/prometheus/*.test.yml: every recording rule's value, every alert firing
# above its threshold and silent below). usage: run.sh   (needs promtool: Debian package prometheus)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=$ROOT/deploy/prometheus
pass=0; fail=0
command -v promtool >/dev/null || { echo "promtool is missing (apt-get install prometheus)"; echo "0 passed, 1 failed"; exit 1; }
check() { # name, command...
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then pass=$((pass + 1)); echo "ok   $name"
  else fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/     /' <<<"$out"; fi
}
# Configs name their rule files relatively; Prometheus and promtool resolve them next to the config.
check "check config prometheus.yml" promtool check config "$P/prometheus.yml"
check "check config prometheus-replicas.yml" promtool check config "$P/prometheus-replicas.yml"
check "check rules frugal.rules.yml" promtool check rules "$P/frugal.rules.yml"
check "check rules frugal.alerts.yml" promtool check rules "$P/frugal.alerts.yml"
# Test files name the rule files relative to themselves; promtool resolves them from the test file's dir.
for t in "$ROOT"/tests/prometheus/*.test.yml; do
  check "test rules $(basename "$t")" promtool test rules "$t"
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
