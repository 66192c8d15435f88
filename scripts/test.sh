#!/usr/bin/env bash
# Runs the whole test suite: the Swift unit and handler tests, then the interop tests that drive the
# real `petrel` binary over loopback with clients this project did not write (smtplib, poplib, swaks, mpop).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== swift build"
swift build --build-tests
echo "== swift test"
swift test --skip-build
echo "== interop tests (pytest)"
python3 -m pytest -q tests/interop "$@"
