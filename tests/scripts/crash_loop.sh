#!/usr/bin/env bash
# The crash-loop bench (issue 15, item 6): CYCLES (default 200) `kill -9` cycles of the release
# binary under HIS load while its inbox watcher applies the bank's receipts; after every kill the
# journal is checked (tests/crash_loop.rs). Prints the figures as a Markdown table row for
# RELIABILITY.md, with the machine it ran on.
#
#   tests/scripts/crash_loop.sh [CYCLES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles="${1:-200}"
seed="${2:-}"
cargo build --release --bin medsettle
summary="$(mktemp)"
trap 'rm -f "$summary"' EXIT
env CRASH_LOOP_CYCLES="$cycles" \
    ${seed:+CRASH_LOOP_SEED="$seed"} \
    MEDSETTLE_BIN="$PWD/target/release/medsettle" \
    CRASH_LOOP_SUMMARY="$summary" \
    cargo test --test crash_loop -- --nocapture
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(rustc --version)"
echo "command: tests/scripts/crash_loop.sh $cycles${seed:+ $seed}"
echo "| cycles | requests acknowledged | settlements | journal records | receipt files delivered again | receipt files applied (once each) | loop time | violations | seed |"
echo "|---|---|---|---|---|---|---|---|---|"
cat "$summary"
