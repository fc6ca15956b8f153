# Shared helpers of the end-to-end tests (sourced). Needs F (the frugal binary) and tmp (a scratch dir).
pass=0; fail=0
pids=()
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [[ -n "${2:-}" ]] && echo "     $2"; }
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; exit $?; }
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$tmp"; }
command -v curl >/dev/null || { echo "curl is missing (scripts/setup.sh installs it)"; exit 1; }

# start_server NAME ARGS...: runs `frugal serve ARGS --port 0`, waits for its ready line; sets pid and U
# (base URL); output in $tmp/NAME.out and .err. Returns 1 if it did not become ready in 30 s.
start_server() {
  local name=$1; shift
  "$F" serve "$@" --port 0 >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  pids+=("$pid")
  local port=
  for _ in $(seq 300); do
    port=$(sed -n 's|^frugal serve: ready on http://[0-9.]*:\([0-9][0-9]*\) .*|\1|p' "$tmp/$name.out")
    [[ -n "$port" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  U=http://127.0.0.1:$port
  [[ -n "$port" ]]
}

# stop_server: SIGTERM, waits up to 10 s; sets rc (exit status, or empty when it did not exit).
stop_server() {
  kill -TERM "$pid"
  rc=
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; rc=$?; break; fi
    sleep 0.1
  done
}

req() { # method path [curl args...]: sets code and body
  local m=$1 p=$2; shift 2
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" "$@" "$U$p"); body=$(cat "$tmp/body")
}
expect() { # name, status, grep -E pattern on body
  if [[ "$code" != "$2" ]]; then bad "$1" "status $code: ${body:0:300}"; return; fi
  if [[ -n "$3" ]] && ! grep -qE -- "$3" <<<"$body"; then bad "$1" "no /$3/ in: ${body:0:300}"; return; fi
  ok "$1"
}
# metric NAME_AND_LABELS: prints the value of one series from GET /metrics (empty when absent)
metric() {
  curl -s "$U/metrics" | awk -v k="$1" 'index($0, k " ") == 1 { print $2 }'
}
