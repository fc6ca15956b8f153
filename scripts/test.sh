#!/usr/bin/env bash
# Runs every test: installs what is missing, then builds and runs the whole suite twice, as a release
# build and as an ASan+UBSan build, then runs each libFuzzer target briefly. Ends with one line
# "N passed, N failed" that counts ctest tests over both builds plus the fuzz runs.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
jobs=$(nproc)
pass=0; fail=0

run_suite() { # name builddir cmake-args...
  local name=$1 dir=$2; shift 2
  echo "== $name: build"
  if ! { cmake -S . -B "$dir" -G Ninja "$@" >/dev/null && ninja -C "$dir" >"$dir.buildlog" 2>&1; }; then
    cat "$dir.buildlog" 2>/dev/null | tail -40
    echo "== $name: build failed"; fail=$((fail + 1)); return
  fi
  echo "== $name: test"
  local log; log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" 2>&1 | tee "$log"
  local line total nfail
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1)
  if [[ -z "$line" ]]; then echo "== $name: ctest printed no summary"; fail=$((fail + 1)); rm -f "$log"; return; fi
  nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  pass=$((pass + total - nfail)); fail=$((fail + nfail))
  rm -f "$log"
}

run_suite release build -DCMAKE_BUILD_TYPE=RelWithDebInfo
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite "asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=Debug -DFG_SANITIZE=ON

# libFuzzer targets, a short run each on their seed corpus (CI smoke; long campaigns are run by hand)
echo "== fuzz: build"
if CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFG_FUZZ=ON -DFG_TESTS=OFF >/dev/null &&
   ninja -C build-fuzz >build-fuzz.buildlog 2>&1; then
  for f in build-fuzz/tests/fuzz/fuzz_*; do
    [[ -x "$f" ]] || continue
    t=$(basename "$f"); corpus=tests/fuzz/corpus/${t#fuzz_}
    work=$(mktemp -d); cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    # fixed seed and run count: CI stays deterministic; longer campaigns: FUZZ_RUNS=-1 FUZZ_SECONDS=600
    if ASAN_OPTIONS=allocator_may_return_null=1 "$f" -seed=1 -runs="${FUZZ_RUNS:-5000}" \
         -max_total_time="${FUZZ_SECONDS:-120}" -rss_limit_mb=4096 -timeout=20 "$work" >"$work.log" 2>&1; then
      echo "fuzz $t: ok ($(grep -c . "$work.log") log lines)"; pass=$((pass + 1))
    else
      tail -30 "$work.log"; echo "fuzz $t: FAILED"; fail=$((fail + 1))
    fi
    rm -rf "$work" "$work.log"
  done
else
  tail -40 build-fuzz.buildlog; echo "fuzz: build failed"; fail=$((fail + 1))
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
