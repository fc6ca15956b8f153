#!/usr/bin/env bash
# Installs the Debian packages frugal's build, tests and benchmarks need. Idempotent and quiet when
# everything is present. Run as root (or with sudo) on Debian 12.
#   scripts/setup.sh            build + test dependencies (chromium, Node.js and npm for tests/browser,
#                               whose playwright-core it installs with npm ci)
#   scripts/setup.sh --models   also python3-torch & co. for models/make_models.py (heavy; not for CI)
#   scripts/setup.sh --bench    also nginx (HTTP peer), then onnxruntime-node into bench/
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libdnnl-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
  libcmocka-dev zlib1g-dev libssl-dev libcjson-dev curl wrk prometheus libhiredis-dev redis-server
  chromium
)
# Node.js and npm (tests/browser, bench/) from Debian unless a node is already there (NodeSource's
# nodejs ships its own npm and conflicts with Debian's npm package)
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
bench=0
for arg in "$@"; do
  case "$arg" in
    --models) pkgs+=(python3-torch python3-torchvision python3-sklearn python3-numpy python3-onnx) ;;
    --bench) bench=1; pkgs+=(nginx-light) ;;
    *) echo "setup.sh: unknown option '$arg' (--models, --bench)" >&2; exit 2 ;;
  esac
done
# the peer for benchmarks: onnxruntime-node from npm (its install script only fetches GPU providers)
install_bench() {
  [[ $bench -eq 1 && ! -d "$(dirname "$0")/../bench/node_modules/onnxruntime-node" ]] || return 0
  (cd "$(dirname "$0")/../bench" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
}
# playwright-core for tests/browser (it drives Debian's chromium; it downloads no browser)
install_browser() {
  [[ ! -d "$(dirname "$0")/../tests/browser/node_modules/playwright-core" ]] || return 0
  (cd "$(dirname "$0")/../tests/browser" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
}

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then install_browser; install_bench; exit 0; fi

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup.sh: missing packages (${missing[*]}) and not root; run as root" >&2; exit 1; fi
else SUDO=; fi
echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_browser
install_bench
