#!/usr/bin/env bash
# Fuzz every decoder that reads bytes from outside, one target at a time, and record the
# figures in RELIABILITY.md ("Fuzzing").
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET | --runs N] [TARGET ...]
#
# --runs N: N executions per target, but at most MAX_TIME_S (default 720) seconds each
# (MAX_TIME_S_<target> for one target).
# Environment: RSS_LIMIT_MB (default 2048), TIMEOUT_S (default 10, per input), NO_BUILD=1.
#
# Default: 60 seconds per target, every target. For each target: build (once), fuzz from the
# saved corpus + the seeds of seed.py + the working corpus of earlier runs (tests/fuzz/work,
# git-ignored), one process (-jobs=1 -workers=1), with -rss_limit_mb (unbounded allocation)
# and -timeout (hangs); then minimize (-merge=1 into a fresh directory), cap at 300 files /
# 2 MB and save as tests/fuzz/corpus/<target>/, which `cargo test --test fuzz_corpora`
# replays. A crash, timeout or out-of-memory stops that target: libFuzzer writes the input to
# tests/fuzz/artifacts/<target>/ and the table counts it.
#
# Toolchain: stable Rust with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly flags), no
# sanitizer (-s none: the workspace forbids unsafe code), release with debug assertions and
# overflow checks (-O -a).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

mode=time
amount=60
if [[ $# -gt 0 ]]; then
  if [[ $1 == --runs ]]; then
    mode=runs
    amount=${2:?--runs needs a number}
    shift 2
  elif [[ $1 =~ ^[0-9]+$ ]]; then
    amount=$1
    shift
  fi
fi
all_targets=(nhsa upload_9101 bank_receipts trigger config legacy settlement_csv money)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")

RSS_LIMIT_MB=${RSS_LIMIT_MB:-2048}
TIMEOUT_S=${TIMEOUT_S:-10}
# With --runs: stop a slow target after this long anyway.
MAX_TIME_S=${MAX_TIME_S:-720}
CORPUS_FILES_MAX=300
CORPUS_BYTES_MAX=$((2 * 1024 * 1024))

export RUSTC_BOOTSTRAP=1
# A panic prints its backtrace (RUST_BACKTRACE), but error values do not capture one
# (anyhow and std::backtrace read RUST_LIB_BACKTRACE first): capturing on every refused input
# costs 20x the throughput.
export RUST_BACKTRACE=1 RUST_LIB_BACKTRACE=0
fuzz_flags=(--fuzz-dir tests/fuzz -O -a -s none)
# NO_BUILD=1: use the binaries of the last build (other engineers' edits would rebuild).
[[ -n ${NO_BUILD:-} ]] || cargo fuzz build "${fuzz_flags[@]}"
bin_dir="$here/target/x86_64-unknown-linux-gnu/release"

work="$here/work"
mkdir -p "$work/logs"
rm -rf "$work/seeds"
python3 "$here/seed.py" "$work/seeds" >/dev/null

results="$work/results.tsv"
: >"$results"
machine="$(nproc) CPUs, $(uname -m), $(uname -sr)"
started="$(date -u +%Y-%m-%dT%H:%MZ)"

for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  saved="$here/corpus/$t"
  artifacts="$here/artifacts/$t"
  mkdir -p "$corpus" "$saved" "$artifacts"
  list_artifacts() { find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) -printf '%f\n' | sort; }
  before=$(list_artifacts)
  if [[ $mode == runs ]]; then
    cap_var="MAX_TIME_S_$t"
    limit=(-runs="$amount" -max_total_time="${!cap_var:-$MAX_TIME_S}")
  else
    limit=(-max_total_time="$amount")
  fi
  log="$work/logs/$t.log"
  echo "== $t: ${limit[*]}" >&2
  t0=$(date +%s)
  set +e
  # The binary `cargo fuzz run` would start, started directly: other engineers edit the tree
  # while this runs, and `cargo fuzz run` would rebuild before every target.
  # -jobs=1 -workers=1: libFuzzer runs one child process and writes its output to
  # fuzz-0.log in the current directory (work/logs/), then copies it into our log.
  (cd "$work/logs" && "$bin_dir/$t" -artifact_prefix="$artifacts/" "$corpus" "$saved" "$work/seeds/$t" \
    -jobs=1 -workers=1 -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$TIMEOUT_S" \
    -print_final_stats=1 "${limit[@]}") >"$log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if [[ -z $execs ]]; then
    # stopped by a finding: the last status line
    execs=$(grep -o '^#[0-9]*' "$log" | tr -d '#' | tail -1)
  fi
  execs=${execs:-0}
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rss=${rss:+${rss} MB}
  new=$(comm -13 <(echo "$before") <(list_artifacts) | tr '\n' ' ')
  found=$(wc -w <<<"$new")

  # Minimize into a fresh directory, then cap.
  fresh="$work/merge/$t"
  rm -rf "$fresh"
  mkdir -p "$fresh"
  "$bin_dir/$t" -merge=1 -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$TIMEOUT_S" \
    "$fresh" "$saved" "$corpus" "$work/seeds/$t" >"$work/logs/$t.merge.log" 2>&1 || true
  python3 - "$fresh" "$CORPUS_FILES_MAX" "$CORPUS_BYTES_MAX" <<'EOF'
import os, sys
d, nmax, bmax = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
files = sorted((os.path.getsize(os.path.join(d, f)), f) for f in os.listdir(d))
total, keep = 0, set()
for size, f in files:  # smallest first: most features per byte
    if len(keep) < nmax and total + size <= bmax:
        keep.add(f)
        total += size
for _, f in files:
    if f not in keep:
        os.remove(os.path.join(d, f))
EOF
  if [[ -n "$(ls -A "$fresh")" ]]; then
    rm -rf "$saved"
    mv "$fresh" "$saved"
  fi
  nfiles=$(find "$saved" -type f | wc -l)
  nbytes=$(du -sb "$saved" | cut -f1)
  secs=$((t1 - t0))
  rate=$((execs / (secs > 0 ? secs : 1)))
  if [[ $found -gt 0 || ($rc -ne 0 && $execs -eq 0) ]]; then
    findings="$found: ${new:-exit $rc} (tests/fuzz/artifacts/$t/, log tests/fuzz/work/logs/$t.log)"
  else
    findings="none"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$started" "$execs" "$secs" "$rate" \
    "${cov:-?}" "${ft:-?}" "$nfiles files, $((nbytes / 1024)) KiB" "$findings" "${rss:-?}" \
    "$([[ $mode == runs ]] && echo "--runs $amount" || echo "$amount s")" >>"$results"
  echo "   $t: $execs executions in ${secs}s ($rate/s), cov $cov ft $ft, corpus $nfiles files, findings: $findings" >&2
done

python3 "$here/report.py" "$root/RELIABILITY.md" "$results" "$machine" \
  "tests/fuzz/run.sh $([[ $mode == runs ]] && echo "--runs $amount" || echo "$amount") ${*:-}"
