#!/usr/bin/env bash
# Runs every fuzz target in turn, SECS seconds each (default 600), niced,
# with working corpora and artifacts under WORK (default /tmp/fuzz-work),
# seeded from corpus/<target>. Builds once first, then runs the built
# binaries, so that editing the crate meanwhile changes nothing.
#   fuzz/run_all.sh [SECS] [WORK]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
work=${2:-/tmp/fuzz-work}
targets="wire_frame event upgrade_response webhook jwt token_answer rest_error"
nice -n 10 cargo +nightly fuzz build -O
mkdir -p "$work/bin"
for t in $targets; do
    cp "target/x86_64-unknown-linux-gnu/release/$t" "$work/bin/$t"
done
echo "built from $(git rev-parse HEAD)$(git diff --quiet HEAD -- .. || echo ' (with local changes)')" > "$work/BUILD"
for t in $targets; do
    mkdir -p "$work/$t" "$work/artifacts/$t"
    echo "== $t: $(date -u +%FT%TZ)" >> "$work/runs.log"
    nice -n 10 "$work/bin/$t" "$work/$t" "corpus/$t" \
        -max_total_time="$secs" -artifact_prefix="$work/artifacts/$t/" \
        -print_final_stats=1 > "$work/$t.log" 2>&1 || echo "   $t exited $?" >> "$work/runs.log"
    tail -n 12 "$work/$t.log" | grep -E "stat::number_of_executed_units|stat::peak_rss|Done|SUMMARY|crash-|timeout-|oom-" >> "$work/runs.log" || true
done
echo "== all done: $(date -u +%FT%TZ)" >> "$work/runs.log"
