#!/usr/bin/env bash
# The README's test command: every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/secours-target}"
exec cargo test --workspace --jobs 2 "$@"
