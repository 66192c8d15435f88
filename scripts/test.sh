#!/usr/bin/env bash
# Runs the whole test suite: the Swift unit and handler tests, then the interop tests that drive the
# real `petrel` binary over loopback with clients this project did not write (smtplib, poplib, swaks,
# mpop, openssl), then — when PETREL_FUZZ_SECONDS is set (CI sets 30) — a short libFuzzer run of every
# parser target (fuzz/run.sh; a crash fails the run). The swift suite starts with the style check
# (`swift format lint --strict`, configured by .swift-format) and ends with the allocation-count check
# (bench/allocs.sh: heap allocations per SMTP message and POP3 RETR against recorded ceilings).
#
# It does its own set-up, on a fresh machine too:
# - Python packages: pinned in e2e/requirements.txt, installed into .venv-test/ (git-ignored), which is
#   reused while it matches that file and the python3 it was made with (a stamp in the venv), and made
#   anew otherwise. Nothing is pip-installed system-wide. Needs Python 3.11 or later.
# - Programs from the system (the table in e2e/peers.py: swaks, mpop, openssl, the IMAP clients
#   mbsync, offlineimap3, neomutt and fetchmail, SQLite's headers,
#   python3-venv): as root on Debian the missing ones are installed with apt-get. Otherwise the tests that
#   need a missing peer are skipped, and the run ends with one line naming them and the apt-get command
#   that installs them. Under CI=true a missing peer is an error, never a skip.
#
#   ./scripts/test.sh -k swaks -x           arguments go to pytest (the interop tests)
#   PETREL_SUITES="interop"                 run only these suites: swift (build + swift test), interop,
#                                           fresh-clone (e2e/fresh_clone; CI adds it). Default: swift interop
#   PETREL_BIN=path/petrel                  the binary the interop tests start (default .build/debug/petrel)
#   PETREL_TEST_JOBS=N                      interop tests in N parallel pytest-xdist workers (default 2; 0: serial)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-test
SUITES=${PETREL_SUITES:-swift interop}
for suite in $SUITES; do
    case "$suite" in
        swift | interop | fresh-clone) ;;
        *) echo "error: PETREL_SUITES: unknown suite '$suite' (swift, interop, fresh-clone)" >&2; exit 2 ;;
    esac
done
has_suite() { case " $SUITES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
ci=false
case "$(printf %s "${CI:-}" | tr '[:upper:]' '[:lower:]')" in true | 1 | yes) ci=true ;; esac
can_apt() { [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null; }
apt_install() {   # quiet: its output is shown only when it fails
    echo "== apt-get install $*"
    local log
    log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } \
        >"$log" 2>&1; then
        cat "$log" >&2
        echo "warning: apt-get install $* failed" >&2
    fi
    rm -f "$log"
}

# The interop run writes here the line naming the peers whose tests it skipped; printed last, whatever
# the outcome.
peer_report=$(mktemp)
trap 'if [ -s "$peer_report" ]; then cat "$peer_report"; fi; rm -f "$peer_report"' EXIT

# --- Python 3.11+ ---
if ! command -v python3 >/dev/null && can_apt; then
    apt_install python3 python3-venv
fi
if ! command -v python3 >/dev/null || ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: the tests need Python 3.11 or later as python3 (found: $(command -v python3 >/dev/null && python3 --version 2>&1 || echo none));" \
        "on Debian: apt-get install python3 python3-venv" >&2
    exit 1
fi

# --- Programs from the system (e2e/peers.py) ---
missing=$(python3 e2e/peers.py missing)
if [ -n "$missing" ] && can_apt; then
    # shellcheck disable=SC2046,SC2086  # one name, one package per word
    apt_install $(python3 e2e/peers.py apt $missing)
fi
missing_build=$(python3 e2e/peers.py missing build)
missing_test=$(python3 e2e/peers.py missing test)
if [ -n "$missing_build" ]; then
    # shellcheck disable=SC2086
    echo "error: missing $missing_build (e2e/peers.py); install: $(python3 e2e/peers.py hint $missing_build)" >&2
    exit 1
fi
if [ -n "$missing_test" ]; then
    # shellcheck disable=SC2086
    names=$missing_test hint=$(python3 e2e/peers.py hint $missing_test)
    if $ci; then
        echo "error: CI=true and test peers are missing: $names; a missing peer is an error under CI (install: $hint)" >&2
        exit 1
    fi
    echo "note: not installed: $names; the tests that need them will be skipped (install: $hint)"
fi

# --- The Python venv (e2e/requirements.txt) ---
stamp=$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest(), sys.version.split()[0], sys.executable)' e2e/requirements.txt)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/petrel-requirements.stamp" 2>/dev/null)" = "$stamp" ] &&
    "$VENV/bin/python" -c '' 2>/dev/null; then
    echo "== python venv $VENV: up to date with e2e/requirements.txt"
else
    echo "== python venv $VENV: installing e2e/requirements.txt (first run, or the file changed)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r e2e/requirements.txt
    printf '%s\n' "$stamp" >"$VENV/petrel-requirements.stamp"
fi

# --- Suites ---
if has_suite swift; then
    # The house style is .swift-format (swift-format ships with the Swift toolchain); a file that is not
    # formatted fails the run. Fix: swift format format -i -r Sources Tests fuzz/Sources
    if swift format --version >/dev/null 2>&1; then
        echo "== swift format lint (.swift-format)"
        swift format lint --strict --parallel -r Sources Tests fuzz/Sources
    elif $ci; then
        echo "error: CI=true and 'swift format' is not available (it ships with Swift 6 toolchains)" >&2
        exit 1
    else
        echo "note: 'swift format' is not available: the style check is skipped"
    fi
    echo "== swift build"
    swift build --build-tests
    echo "== swift test"
    swift test --skip-build
    # Heap allocations per SMTP message and POP3 RETR against recorded ceilings (issue 21): a count,
    # not a time, so load does not move it; ~10 s. Needs a C compiler for its LD_PRELOAD counter.
    if command -v cc >/dev/null; then
        echo "== allocation counts (bench/allocs.sh)"
        bench/allocs.sh
    else
        echo "note: no C compiler (cc): the allocation-count check (bench/allocs.sh) is skipped"
    fi
elif [ -z "${PETREL_BIN:-}" ] && { has_suite interop || has_suite fresh-clone; }; then
    echo "== swift build --product petrel (and the IMAP test harness)"
    swift build --product petrel
    swift build --product IMAPStdioHarness
fi
if has_suite interop; then
    echo "== interop tests (pytest)"
    PETREL_PEER_REPORT=$peer_report "$VENV/bin/python" -m pytest -q -n "${PETREL_TEST_JOBS:-2}" e2e/interop "$@"
fi
if has_suite fresh-clone; then
    echo "== fresh clone: the README's test command on a clean machine (e2e/fresh_clone)"
    "$VENV/bin/python" -m pytest -q e2e/fresh_clone
fi

if [ "${PETREL_FUZZ_SECONDS:-0}" -gt 0 ]; then
    for target in FuzzSMTPCommand FuzzMailPath FuzzDataDecoder FuzzPOP3Command FuzzConfig FuzzIMAPCommand FuzzMIMEParser FuzzSMTPSession FuzzPOP3Session; do
        echo "== fuzz $target for ${PETREL_FUZZ_SECONDS}s"
        fuzz_log=$(mktemp)
        if ./fuzz/run.sh "$target" "$PETREL_FUZZ_SECONDS" >"$fuzz_log" 2>&1; then
            tail -n 12 "$fuzz_log"
        else
            status=$?
            # The finding in full (the sanitizer's report with its stacks), not only the last lines.
            echo "error: fuzz/run.sh $target failed (exit $status); its report:" >&2
            if grep -q '^==[0-9]*==ERROR' "$fuzz_log"; then
                sed -n '/^==[0-9]*==ERROR/,$p' "$fuzz_log" | head -n 400 >&2
            else
                tail -n 100 "$fuzz_log" >&2
            fi
            rm -f "$fuzz_log"
            exit "$status"
        fi
        rm -f "$fuzz_log"
    done
fi
