#!/usr/bin/env bash
# Runs the fuzz targets in turn (all, or those named), SECS seconds each
# (default 600), niced, with working corpora and artifacts under WORK
# (default /tmp/fuzz-work), seeded from corpus/<target>. Builds once first,
# then runs copies of the built binaries, so that editing the crate
# meanwhile changes nothing. A crash stops that target's run (see
# WORK/runs.log and WORK/artifacts/<target>/).
#   fuzz/run_all.sh [SECS] [WORK] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
work=${2:-/tmp/fuzz-work}
shift $(($# < 2 ? $# : 2))
targets=${*:-wire_frame event upgrade_response webhook jwt token_answer rest_error}
mkdir -p "$work/bin"
echo "== build of $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- .. || echo ' with local changes'): $(date -u +%FT%TZ)" >> "$work/runs.log"
nice -n 10 cargo +nightly fuzz build -O
for t in $targets; do
    cp "target/x86_64-unknown-linux-gnu/release/$t" "$work/bin/$t"
done
for t in $targets; do
    mkdir -p "$work/$t" "$work/artifacts/$t"
    echo "== $t: $(date -u +%FT%TZ)" >> "$work/runs.log"
    nice -n 10 "$work/bin/$t" "$work/$t" "corpus/$t" \
        -max_total_time="$secs" -artifact_prefix="$work/artifacts/$t/" \
        -print_final_stats=1 > "$work/$t.log" 2>&1 || echo "   $t exited $?" >> "$work/runs.log"
    tail -n 12 "$work/$t.log" | grep -E "stat::number_of_executed_units|stat::peak_rss|Done|SUMMARY|crash-|timeout-|oom-" >> "$work/runs.log" || true
done
echo "== done: $(date -u +%FT%TZ)" >> "$work/runs.log"
