#!/usr/bin/env bash
# bench/profile.sh [smtp|pop3] [COUNT] — run the release petrel under valgrind --tool=callgrind while
# smtp-source (or poplib) loads it, then print the top functions by inclusive and self cost.
# Output: bench/results/callgrind.<kind>.out (open with kcachegrind or callgrind_annotate).
# PROFILER=perf: `perf record -g` on the running server instead (valgrind 3.19 cannot run Swift 6
# binaries); for POP3 only the retrieval passes (PASSES of them, default 3) are recorded. Output:
# bench/results/perf.<kind>.data and perf.<kind>.{threads,dso,symbols,inclusive}.txt. SMTP load: SESSIONS (10)
# concurrent smtp-source sessions of SIZE (4096) octet messages; POP3: SIZE octet messages too.
# Bounded: COUNT messages (default 300 SMTP, 10 mailboxes x 100 for POP3), loopback only, 600 s cap.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/petrel_config.sh
KIND=${1:-smtp}
COUNT=${2:-300}
PETREL=${PETREL:-$PWD/.build-release/release/petrel}
W=/var/tmp/petrel-profile
rm -rf "$W"; mkdir -p "$W/data" bench/results
petrel_config "$W/data" 23025 23110 > "$W/petrel.toml"
"$PETREL" domain add bench.test --data-dir "$W/data" >/dev/null
for i in $(seq 1 10); do echo benchpass | "$PETREL" mailbox add "u$i@bench.test" --password-stdin --data-dir "$W/data" >/dev/null; done
PROFILER=${PROFILER:-callgrind}
if [ "$PROFILER" = perf ]; then
    OUT=bench/results/perf.$KIND.data
    "$PETREL" serve --config "$W/petrel.toml" 2>"$W/serve.log" &
    SPID=$!
    # A load that fails (set -e) must not leave the server or perf running on the bench's ports.
    trap 'kill -INT ${PERF:-} 2>/dev/null; kill -TERM $SPID 2>/dev/null; true' EXIT
    for _ in $(seq 1 1200); do (exec 3<>/dev/tcp/127.0.0.1/23025) 2>/dev/null && break; sleep 0.1; done
    if [ "$KIND" = smtp ]; then
        perf record -g -o "$OUT" -p "$SPID" 2>/dev/null &
        PERF=$!
        timeout 600 smtp-source -s "${SESSIONS:-10}" -m "$COUNT" -l "${SIZE:-4096}" -f loadgen@bench.test -t u1@bench.test inet:127.0.0.1:23025
    else
        for i in $(seq 1 10); do timeout 600 smtp-source -s 4 -m "$((COUNT / 10))" -l "${SIZE:-4096}" -f l@bench.test -t "u$i@bench.test" inet:127.0.0.1:23025; done
        perf record -g -o "$OUT" -p "$SPID" 2>/dev/null &
        PERF=$!
        sleep 0.5
        timeout 600 python3 - "${PASSES:-3}" <<'PY'
import poplib, multiprocessing, sys, time
def f(i):
    p = poplib.POP3("127.0.0.1", 23110, timeout=120); p.user(f"u{i}@bench.test"); p.pass_("benchpass")
    n, _ = p.stat()
    for k in range(1, n + 1): p.retr(k)
    p.quit()
    return n
with multiprocessing.Pool(10) as pool:
    for _ in range(int(sys.argv[1])):
        t = time.perf_counter(); n = sum(pool.map(f, range(1, 11)))
        print(f"{n} RETR in {time.perf_counter() - t:.2f} s: {n / (time.perf_counter() - t):.0f} msgs/s (under perf)")
PY
    fi
    kill -INT "$PERF"; wait "$PERF" || true
    kill -TERM "$SPID"; wait "$SPID" || true
    perf report -i "$OUT" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -20 > "bench/results/perf.$KIND.threads.txt" || true
    perf report -i "$OUT" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -20 > "bench/results/perf.$KIND.dso.txt" || true
    perf report -i "$OUT" --no-children --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 > "bench/results/perf.$KIND.symbols.txt" || true
    perf report -i "$OUT" --children --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -80 > "bench/results/perf.$KIND.inclusive.txt" || true
    echo "wrote $OUT and bench/results/perf.$KIND.{threads,dso,symbols,inclusive}.txt"
    exit 0
fi
OUT=bench/results/callgrind.$KIND.out
# Valgrind 3.19 gives up on the DWARF of Swift 6 binaries ("Possibly corrupted debuginfo file"):
# profile a copy without debug info (function symbols stay).
objcopy --strip-debug "$PETREL" "$W/petrel"
PETREL="$W/petrel"
valgrind --tool=callgrind --callgrind-out-file="$OUT" --separate-threads=no \
    "$PETREL" serve --config "$W/petrel.toml" 2>"$W/valgrind.log" &
VPID=$!
for _ in $(seq 1 1200); do (exec 3<>/dev/tcp/127.0.0.1/23025) 2>/dev/null && break; sleep 0.1; done
if [ "$KIND" = smtp ]; then
    timeout 600 smtp-source -s 10 -m "$COUNT" -l 4096 -f loadgen@bench.test -t u1@bench.test inet:127.0.0.1:23025
else
    for i in $(seq 1 10); do timeout 600 smtp-source -s 4 -m "$((COUNT / 10))" -l 4096 -f l@bench.test -t "u$i@bench.test" inet:127.0.0.1:23025; done
    callgrind_control -z "$VPID" >/dev/null 2>&1 || true     # profile only the retrieval
    timeout 600 python3 - <<'PY'
import poplib, multiprocessing
def f(i):
    p = poplib.POP3("127.0.0.1", 23110, timeout=120); p.user(f"u{i}@bench.test"); p.pass_("benchpass")
    n, _ = p.stat()
    for k in range(1, n + 1): p.retr(k)
    p.quit()
with multiprocessing.Pool(10) as pool: pool.map(f, range(1, 11))
PY
fi
kill -TERM "$VPID"; wait "$VPID" || true
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null | head -60 > "bench/results/callgrind.$KIND.inclusive.txt" || true
callgrind_annotate "$OUT" 2>/dev/null | head -60 > "bench/results/callgrind.$KIND.self.txt" || true
echo "wrote $OUT and bench/results/callgrind.$KIND.{inclusive,self}.txt"
