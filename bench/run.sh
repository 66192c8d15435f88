#!/usr/bin/env bash
# bench/run.sh — install the reference servers, build Petrel (release), run the side-by-side benchmark and
# the kill -9 crash test with bounded defaults, write results to bench/results/ and print the table.
#
#   bench/run.sh                 # everything, default sizes (≈ 15–25 min on 2 cores after the build)
#   bench/run.sh --quick         # reduced counts (2 reps, fewer messages), ≈ 6–8 min
#   BENCH_ARGS="--only smtp --reps 5" bench/run.sh     # extra arguments for bench/bench.py
#   BENCH_ARGS="--only smtp --stores sqlite,postgresql" bench/run.sh   # Petrel on PostgreSQL too
#   CRASH_KILLS=50 bench/run.sh  # more kill -9 cycles (default 20); CRASH_KILLS=0 skips the crash test
#
# Needs root (apt-get, /etc/postfix, /etc/dovecot, ulimit -n). Loopback only: Postfix 127.0.0.1:20025,
# Dovecot 127.0.0.1:20110, Petrel 127.0.0.1:21025/21110 (bench) and 22025/22110 (crash test).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

# 1. Reference servers and tools (Debian packages; the debconf line keeps postfix's installer quiet).
need=()
command -v smtp-source >/dev/null || need+=(postfix)
[ -x /usr/lib/dovecot/pop3 ] || need+=(dovecot-core dovecot-pop3d)   # dovecot-core alone (e.g. with imapd) has no pop3
command -v python3 >/dev/null || need+=(python3)
command -v pypy3 >/dev/null || need+=(pypy3)        # --pop3-modes pypy: poplib under PyPy
command -v cc >/dev/null || need+=(gcc libc6-dev)   # bench/slowsync.c (the slow-disk shim)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Peer configuration: bench/peers is a copy of shared/peers (CI also has ../shared/peers beside the clone).
PEERS="$ROOT/bench/peers"
"$PEERS/anchors.sh" install >/dev/null
"$PEERS/anchors.sh" stop >/dev/null 2>&1 || true

# 2. Petrel, release build in its own scratch path (never the default .build), optimised across modules
#    as the README's install builds it.
swift build -c release --scratch-path "$ROOT/.build-release" --product petrel -Xswiftc -cross-module-optimization
PETREL="$ROOT/.build-release/release/petrel"

# 3. Raise the descriptor limit for the 10k idle-connection test (bounded: at most 1,048,576).
# (bench.py also raises its own soft limit to the hard limit; here a root shell may lift the hard limit.)
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
sysctl -qw net.ipv4.ip_local_port_range="10240 65000" 2>/dev/null || true
sysctl -qw net.core.somaxconn=4096 2>/dev/null || true

mkdir -p bench/results
STAMP=$(date -u +%Y%m%d-%H%M%S)
ARGS=()
if [ "$QUICK" = 1 ]; then
    ARGS+=(--reps 2 --smtp-count-4k 1000 --smtp-count-64k 400 --pop3-per-user-4k 300 --pop3-per-user-64k 100
           --lat-count 600 --slow-count 1000)
fi
# shellcheck disable=SC2206
ARGS+=(${BENCH_ARGS:-})
python3 bench/bench.py --petrel "$PETREL" "${ARGS[@]}" 2> >(tee "bench/results/bench-$STAMP.log" >&2)
"$PEERS/anchors.sh" stop >/dev/null 2>&1 || true

KILLS=${CRASH_KILLS:-20}
if [ "$KILLS" -gt 0 ]; then
    python3 bench/crash_test.py --petrel "$PETREL" --kills "$KILLS" | tee "bench/results/crash-$STAMP.txt"
fi
