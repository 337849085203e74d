#!/usr/bin/env bash
# The README's demo command: a whole support session between the real
# programs (server, console, applet), each its own process on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/secours-target}"
exec cargo run --quiet --bin secours -- demo "$@"
