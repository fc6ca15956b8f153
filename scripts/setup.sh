#!/usr/bin/env bash
# Installs the Debian packages frugal's build, tests and benchmarks need. Idempotent and quiet when
# everything is present. Run as root (or with sudo) on Debian 12.
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh --models   also python3-torch & co. for models/make_models.py (heavy; not for CI)
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libdnnl-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
  libcmocka-dev zlib1g-dev libssl-dev libcjson-dev
)
if [[ "${1:-}" == "--models" ]]; then
  pkgs+=(python3-torch python3-torchvision python3-sklearn python3-numpy)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup.sh: missing packages (${missing[*]}) and not root; run as root" >&2; exit 1; fi
else SUDO=; fi
echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
