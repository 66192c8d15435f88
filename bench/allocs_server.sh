#!/usr/bin/env bash
# bench/allocs_server.sh [PETREL] — heap allocations per message of a `petrel serve` process (default: the
# release build, .build-release/release/petrel), counted by bench/alloccount.c preloaded into it, under
# load from clients this project did not write: smtp-source (SESSIONS sessions, default 10, one message
# per connection, SIZE 4096 and 65536) and Python's poplib (RETR of every message of one mailbox).
# Each figure is (count after − count before) / messages over a measured run that follows a warm-up run;
# the count is read with SIGUSR2 (the shim writes it to a file). Counts of a release build under load
# vary a little with how the group commit batches; bench/allocs.sh is the exact, CI-style guard. The
# server's CPU per unit (/proc/PID/stat, 10 ms ticks; the shim's counting included) is printed beside
# it: that one moves with the machine's load.
# The inbound SPF/DKIM/DMARC check is off (CHECK_INBOUND=true turns it on: then the DNS answers count).
# TRACE=smtp4096|smtp65536|pop3u1|pop3u2: the stacks of that measured run go to
# bench/results/allocs-server.trace (fold them: bench/alloc_callers.py TRACE COUNT). Loopback only; ~1 min.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/petrel_config.sh
PETREL=${1:-${PETREL:-$PWD/.build-release/release/petrel}}
COUNT=${COUNT:-2000}
SESSIONS=${SESSIONS:-10}
W=$(mktemp -d /var/tmp/petrel-allocs.XXXXXX)
mkdir -p "$W/data" bench/results
cc -O2 -Wall -shared -fPIC -o "$W/alloccount.so" bench/alloccount.c
petrel_config "$W/data" 24025 24110 > "$W/petrel.toml"
"$PETREL" domain add bench.test --data-dir "$W/data" >/dev/null
for i in 1 2 3; do echo benchpass | "$PETREL" mailbox add "u$i@bench.test" --password-stdin --data-dir "$W/data" >/dev/null; done
[ -n "${TRACE:-}" ] && export ALLOCCOUNT_TRACE=$PWD/bench/results/allocs-server.trace && rm -f "$ALLOCCOUNT_TRACE"
ALLOCCOUNT_DUMP="$W/count" LD_PRELOAD="$W/alloccount.so" "$PETREL" serve --config "$W/petrel.toml" 2>"$W/serve.log" &
SPID=$!
trap 'kill -TERM $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/24025) 2>/dev/null && break; sleep 0.1; done
count() {   # the server's allocations so far
    rm -f "$W/count"
    kill -USR2 "$SPID"
    for _ in $(seq 1 100); do [ -s "$W/count" ] && break; sleep 0.05; done
    cat "$W/count"
}
smtp() {   # SIZE RECIPIENT MESSAGES
    timeout 600 smtp-source -s "$SESSIONS" -m "$3" -l "$1" -f loadgen@bench.test -t "$2" inet:127.0.0.1:24025
}
cpu() { awk '{ print $14 + $15 }' "/proc/$SPID/stat"; }   # the server's user + system CPU, in ticks
TICK=$(getconf CLK_TCK)
report() {   # NAME COUNT_BEFORE COUNT_AFTER UNITS CPU_BEFORE CPU_AFTER
    awk -v a="$2" -v b="$3" -v n="$4" -v c0="$5" -v c1="$6" -v tick="$TICK" -v name="$1" 'BEGIN {
        printf "%-42s %8.1f allocations per unit, %6.3f ms server CPU per unit (%d units)\n", name, (b - a) / n, (c1 - c0) * 1000 / tick / n, n }'
}
for size in 4096 65536; do
    rcpt=u1@bench.test; [ $size = 65536 ] && rcpt=u2@bench.test
    smtp $size $rcpt 200
    [ "${TRACE:-}" = "smtp$size" ] && kill -USR1 $SPID
    c0=$(cpu); a=$(count); smtp $size $rcpt "$COUNT"; b=$(count); c1=$(cpu)
    [ "${TRACE:-}" = "smtp$size" ] && kill -USR1 $SPID
    report "smtp $size octets, $SESSIONS sessions, 1 msg/conn" "$a" "$b" "$COUNT" "$c0" "$c1"
done
retr() {   # USER [login]: RETR of every message in one session (or only log in); prints the number of messages
    python3 - "$@" <<'PY'
import poplib, sys
p = poplib.POP3("127.0.0.1", 24110, timeout=120); p.user(sys.argv[1]); p.pass_("benchpass")
n, _ = p.stat()
if len(sys.argv) < 3:
    for k in range(1, n + 1): p.retr(k)
p.quit(); print(n)
PY
}
for user in u1 u2; do
    retr $user@bench.test >/dev/null
    # one login (scrypt, on purpose slow) per pass: measured alone and taken out of the RETR figures
    c0=$(cpu); a=$(count); retr $user@bench.test login >/dev/null; b=$(count); c1=$(cpu)
    la=$((b - a)); lc=$((c1 - c0))
    report "pop3 login alone (USER/PASS/STAT/QUIT)" "$a" "$b" 1 "$c0" "$c1"
    [ "${TRACE:-}" = "pop3$user" ] && kill -USR1 $SPID
    c0=$(cpu); a=$(count); n=$(retr $user@bench.test); b=$(count); c1=$(cpu)
    [ "${TRACE:-}" = "pop3$user" ] && kill -USR1 $SPID
    report "pop3 RETR ($user: $([ $user = u1 ] && echo 4096 || echo 65536) octets), login taken out" "$a" "$((b - la))" "$n" "$c0" "$((c1 - lc))"
done
