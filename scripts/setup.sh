#!/usr/bin/env bash
# Installs what labkit needs on a fresh Debian machine. `--dev` adds the test tools,
# the JAX and PyTorch backends, and Debian's chromium for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=false
[[ "${1:-}" == "--dev" ]] && dev=true

python -m pip install --quiet --upgrade pip
if $dev; then
  python -m pip install --quiet -r requirements-dev.txt
  if ! command -v chromium >/dev/null 2>&1; then
    sudo_cmd=""
    [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
  fi
else
  python -m pip install --quiet -r requirements.txt
fi
