#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 30) from the committed seed
# corpus, after replaying the saved crash inputs (fuzz/regressions/<target>/).
# A crash fails the script; the input is in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
bash scripts/setup.sh --fuzz
# Fuzzing builds with sanitizer flags: keep it out of the main build cache.
export CARGO_TARGET_DIR="${CARGO_FUZZ_TARGET_DIR:-$HOME/.cache/secours-fuzz-target}"
# cargo-fuzz needs nightly flags; stable accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list --fuzz-dir fuzz)
cargo fuzz build --fuzz-dir fuzz
summary=()
for t in $targets; do
  if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
    cargo fuzz run --fuzz-dir fuzz "$t" fuzz/regressions/"$t"/* -- -runs=0
  fi
  mkdir -p "fuzz/corpus/$t"
  log=$(mktemp)
  if ! cargo fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: target $t crashed" >&2
    exit 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | awk '{print $2}')
  summary+=("$t: ${runs:-?} executions in ${seconds}s")
  rm -f "$log"
done
echo "fuzz summary:"
printf '  %s\n' "${summary[@]}"
