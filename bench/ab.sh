#!/usr/bin/env bash
# bench/ab.sh OLD NEW [COUNT] [SIZE] [SESSIONS] — two petrel binaries under the same SMTP load, alternated
# REPS times (default 3): server CPU per accepted message, context switches per message (perf stat) and
# msgs/s, one line per run. For a change whose effect is smaller than the machine's run-to-run noise
# (±10 %): only alternated pairs of the same load show it. REUSE=1: session reuse (smtp-source -d).
# Loopback only (127.0.0.1:23025), COUNT messages per run (default 4000, at most 100000), 600 s cap per run.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/petrel_config.sh
OLD=$1; NEW=$2; COUNT=${3:-4000}; SIZE=${4:-4096}; SESSIONS=${5:-10}
[ "$COUNT" -le 100000 ] || { echo "COUNT at most 100000" >&2; exit 2; }
command -v smtp-source >/dev/null || { echo "needs smtp-source (Debian postfix)" >&2; exit 2; }
command -v perf >/dev/null || { echo "needs perf (Debian linux-perf)" >&2; exit 2; }
W=/var/tmp/petrel-ab
FLAG=""; [ "${REUSE:-0}" = 1 ] && FLAG=-d
# A run that fails (set -e) must not leave a server on the port.
trap 'pkill -f "serve --config $W/petrel.toml" 2>/dev/null; true' EXIT
run() { # BIN → one result line
    local bin=$1 spid pp t0 t1
    rm -rf "$W"; mkdir -p "$W/data"
    petrel_config "$W/data" 23025 > "$W/petrel.toml"
    "$bin" domain add bench.test --data-dir "$W/data" >/dev/null
    echo benchpass | "$bin" mailbox add u1@bench.test --password-stdin --data-dir "$W/data" >/dev/null
    "$bin" serve --config "$W/petrel.toml" 2>"$W/serve.log" &
    spid=$!
    for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/23025) 2>/dev/null && break; sleep 0.1; done
    timeout 600 smtp-source -s "$SESSIONS" -m 200 -l "$SIZE" -f l@bench.test -t u1@bench.test inet:127.0.0.1:23025 # warm-up
    perf stat -x, -e context-switches,task-clock -p "$spid" -o "$W/stat.csv" &
    pp=$!; sleep 0.3
    t0=$(date +%s.%N)
    timeout 600 smtp-source $FLAG -s "$SESSIONS" -m "$COUNT" -l "$SIZE" -f l@bench.test -t u1@bench.test inet:127.0.0.1:23025
    t1=$(date +%s.%N)
    kill -INT "$pp"; wait "$pp" || true
    kill -TERM "$spid"; wait "$spid" || true
    python3 - "$COUNT" "$t0" "$t1" "$W/stat.csv" "$bin" <<'PY'
import sys
n = int(sys.argv[1]); elapsed = float(sys.argv[3]) - float(sys.argv[2]); v = {}
for line in open(sys.argv[4]):
    p = line.strip().split(",")
    if len(p) > 3 and p[0].replace(".", "").isdigit():
        v[p[2]] = float(p[0])
print(f"{sys.argv[5]:40s} {n / elapsed:7.0f} msgs/s  cs/msg {v['context-switches'] / n:5.2f}  cpu ms/msg {v['task-clock'] / n:6.3f}")
PY
}
echo "$COUNT messages of $SIZE octets, $SESSIONS sessions, $([ -n "$FLAG" ] && echo "session reuse" || echo "one message per connection")"
for _ in $(seq 1 "${REPS:-3}"); do run "$OLD"; run "$NEW"; done
