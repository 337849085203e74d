#!/usr/bin/env bash
# The README's test command: every test of the workspace. As root it also
# runs the tests that need root (the NAT lab in network namespaces) and starts
# PostgreSQL for the server's suite; without root cargo reports the NAT lab as
# ignored and the server tests print that they skipped PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/secours-target}"
extra=()
if [ "$(id -u)" -eq 0 ]; then
  extra=(--include-ignored)
  # The server's suite runs on SQLite and, with this set, on PostgreSQL too.
  SECOURS_TEST_POSTGRES="${SECOURS_TEST_POSTGRES:-$(bash scripts/postgres.sh)}"
  export SECOURS_TEST_POSTGRES
else
  echo "test: not root: the NAT lab tests will be reported as ignored, and the server" >&2
  echo "test: tests skip PostgreSQL unless SECOURS_TEST_POSTGRES names a server" >&2
fi
exec cargo test --workspace --jobs 2 "$@" -- "${extra[@]}"
