#!/usr/bin/env bash
# bench/allocs.sh [--trace] — the allocation-count guard of issue 21: heap allocations per accepted SMTP
# message (4 KiB and 64 KiB, one per connection and several per session) and per POP3 RETR (4 KiB,
# 64 KiB), through a real server on loopback with the SQLite store (group commit and fsync included).
# Builds bench/alloccount.c (an LD_PRELOAD counter), then runs Tests/PetrelServerTests/
# AllocationCountTests alone with it preloaded; the tests fail when a count passes its ceiling
# (AllocationCounter.ceilings). Needs `swift build --build-tests` first (debug build; the ceilings are
# for it). Takes ~10 s; scripts/test.sh runs it after the Swift suite.
#
# --trace PHASE (smtp-4k-per-connection, smtp-64k-per-connection, smtp-4k-session-reuse, pop3-retr-4k,
# pop3-retr-64k): also writes the call stack of every allocation counted in that phase
# (bench/results/allocs.trace) and folds them into a table of callers per unit
# (bench/results/allocs.callers.txt, by bench/alloc_callers.py).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
SHIM=bench/results/alloccount.so
cc -O2 -Wall -shared -fPIC -o "$SHIM" bench/alloccount.c
if [ "${1:-}" = --trace ]; then
    rm -f bench/results/allocs.trace
    export PETREL_ALLOC_TRACE=$PWD/bench/results/allocs.trace PETREL_ALLOC_TRACE_PHASE=${2:?--trace PHASE}
fi
# The test bundle directly (not `swift test`, whose own driver would load the shim too).
BUNDLE=$(find .build/debug/ -maxdepth 1 -name '*PackageTests.xctest' | head -1)
[ -n "$BUNDLE" ] || { echo "error: no test bundle; run swift build --build-tests" >&2; exit 1; }
LD_PRELOAD=$PWD/$SHIM "$BUNDLE" --testing-library swift-testing --filter AllocationCountTests 2>&1 |
    tee bench/results/allocs.txt | grep -E 'allocations per unit|passed|failed|Expectation|error' || true
grep -q 'allocations per unit' bench/results/allocs.txt || { echo "error: no counts (see bench/results/allocs.txt)" >&2; exit 1; }
if grep -qE 'Test run with .* failed|Expectation failed' bench/results/allocs.txt; then
    exit 1
fi
if [ -n "${PETREL_ALLOC_TRACE:-}" ]; then
    case "$PETREL_ALLOC_TRACE_PHASE" in smtp-4k-session-reuse) units=100 ;; pop3-*) units=48 ;; *) units=40 ;; esac
    python3 bench/alloc_callers.py bench/results/allocs.trace "$units" 60 > bench/results/allocs.callers.txt
    echo "callers: bench/results/allocs.callers.txt"
fi
