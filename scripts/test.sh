#!/usr/bin/env bash
# The README's test command: every test of the workspace. As root it also
# runs the tests that need root (the NAT lab in network namespaces); without
# root cargo reports them as ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/secours-target}"
extra=()
if [ "$(id -u)" -eq 0 ]; then
  extra=(--include-ignored)
else
  echo "test: not root: the NAT lab tests will be reported as ignored" >&2
fi
exec cargo test --workspace --jobs 2 "$@" -- "${extra[@]}"
