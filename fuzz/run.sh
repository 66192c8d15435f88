#!/usr/bin/env bash
# fuzz/run.sh TARGET [SECONDS] — build one libFuzzer target (release, -sanitize=fuzzer,address) and run it
# on its seed corpus for SECONDS (default 60). The seeds in fuzz/corpus/TARGET are read only; inputs
# libFuzzer finds go to fuzz/work/corpus/TARGET (git-ignored, reused by the next run); a crash is written
# to fuzz/artifacts/TARGET/ (git-ignored) and the script exits non-zero.
# Targets: FuzzSMTPCommand FuzzMailPath FuzzDataDecoder FuzzPOP3Command FuzzConfig FuzzIMAPCommand FuzzMIMEParser
# FuzzSMTPSession FuzzPOP3Session (a dictionary in fuzz/dict/TARGET.dict is used when there is one).
#   fuzz/run.sh FuzzSMTPCommand 3600        # an hour
#   JOBS=2 fuzz/run.sh FuzzConfig 600        # two fuzzing processes in parallel
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
SECONDS_TO_RUN=${2:-60}
SCRATCH=${SCRATCH:-$HERE/../.build-fuzz}
cd "$HERE"
swift build -c release --scratch-path "$SCRATCH" --sanitize=fuzzer \
    -Xswiftc -sanitize=fuzzer,address --product "$TARGET" >&2
BIN="$SCRATCH/release/$TARGET"
# The order of the -sanitize flags decides whether coverage instrumentation is emitted: check it.
if [ "$(readelf -S "$BIN" | grep -c sancov)" -lt 1 ]; then
    echo "error: $BIN has no sancov sections (not coverage-instrumented)" >&2
    exit 2
fi
mkdir -p "work/corpus/$TARGET" "artifacts/$TARGET"
export SWIFT_BACKTRACE=enable=no
# TOMLKit 0.6.0 leaks a few hundred bytes per parse (TOMLTable(string:), table key iteration: found by
# LeakSanitizer here). Petrel parses its config only at start and on SIGHUP, so the leak is bounded; it is
# not counted as a finding for FuzzConfig, while crashes and memory errors still are.
EXTRA=()
if [ "$TARGET" = FuzzConfig ]; then
    EXTRA+=(-detect_leaks=0)
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
if [ -f "dict/$TARGET.dict" ]; then EXTRA+=(-dict="dict/$TARGET.dict"); fi
# Session targets: one session allocates more than it frees (caches, task and channel machinery that is
# reclaimed later), so libFuzzer's per-input leak check would scan the heap after nearly every input (about
# 50 ms each, 20 runs/s instead of a few hundred). They check for leaks at exit only (-detect_leaks=0 stops
# the per-input check, LeakSanitizer still runs when the process ends), with the suppressions file.
case "$TARGET" in
    FuzzSMTPSession|FuzzPOP3Session)
        EXTRA+=(-detect_leaks=0)
        export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$HERE/lsan-suppressions.txt" ;;
esac
exec "$BIN" "${EXTRA[@]}" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="artifacts/$TARGET/" ${JOBS:+-jobs=$JOBS -workers=$JOBS} \
    "work/corpus/$TARGET" "corpus/$TARGET"
