#!/usr/bin/env bash
# Runs the whole test suite: the Swift unit and handler tests, then the interop tests that drive the
# real `petrel` binary over loopback with clients this project did not write (smtplib, poplib, swaks,
# mpop, openssl), then — when PETREL_FUZZ_SECONDS is set (CI sets 30) — a short libFuzzer run of every
# parser target (fuzz/run.sh; a crash fails the run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== swift build"
swift build --build-tests
echo "== swift test"
swift test --skip-build
echo "== interop tests (pytest)"
python3 -m pytest -q tests/interop "$@"

if [ "${PETREL_FUZZ_SECONDS:-0}" -gt 0 ]; then
    for target in FuzzSMTPCommand FuzzMailPath FuzzDataDecoder FuzzPOP3Command FuzzConfig FuzzSMTPSession FuzzPOP3Session; do
        echo "== fuzz $target for ${PETREL_FUZZ_SECONDS}s"
        ./fuzz/run.sh "$target" "$PETREL_FUZZ_SECONDS" 2>&1 | tail -n 12
    done
fi
