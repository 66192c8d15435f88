"""bench/pg_compare.py BASE NEW REPS COUNT SESSIONS [SIZE] [WHO] — two Petrel binaries on PostgreSQL
(before/after a change) beside NEW on SQLite and Postfix, alternating in rotating order so that all of
them meet the same machine load; bench.py's own runners and PostgreSQL cluster set-up (fsync and
synchronous_commit on). SESSIONS: comma list; SIZE: octets (4096); WHO: comma list of base_pg, new_pg,
new_sqlite, postfix. Prints every run and the medians; bounded (COUNT messages per run, 600 s each)."""
import sys, os, json, time, statistics
from pathlib import Path
HERE = Path(__file__).resolve().parent
os.environ.setdefault("PETREL_BENCH_WORK", "/var/tmp/petrel-pg-compare")
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e" / "interop"))
import bench as B
from pg_cluster import PostgresCluster
base, new, reps, count, sessions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
size = int(sys.argv[6]) if len(sys.argv) > 6 else 4096
who_list = sys.argv[7].split(",") if len(sys.argv) > 7 else ["base_pg", "new_pg", "new_sqlite", "postfix"]
B.WORK.mkdir(parents=True, exist_ok=True)
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
pg = PostgresCluster().start()
servers = {}
for name, binary, store in (("base_pg", base, "pg"), ("new_pg", new, "pg"), ("new_sqlite", new, "sqlite")):
    p = B.Petrel(binary)
    if store == "pg":
        p.pg = pg
    servers[name] = p
anchors = B.Anchors()
if "postfix" in who_list:
    anchors.start()
res = {}
try:
    print("pgbench commits/s:", B.pg_commit_rate(pg), flush=True)
    for s in [int(x) for x in sessions.split(",")]:
        for rep in range(reps):
            order = who_list[rep % len(who_list):] + who_list[:rep % len(who_list)]
            for who in order:
                if who == "postfix":
                    r = B.smtp_run_postfix(anchors, s, count, size, 600)
                else:
                    r = B.smtp_run_petrel(servers[who], s, count, size, 600)
                res.setdefault(f"s{s}", {}).setdefault(who, []).append(r)
                print(f"s{s} rep{rep} {who}: " + json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
finally:
    for p in servers.values():
        p.stop()
    pg.stop()
    if "postfix" in who_list:
        anchors.stop()
print("SUMMARY (median msgs/s, cpu ms/msg petrel, db cpu ms/msg, msgs per wal sync, transactions)")
for k, v in res.items():
    for who, runs in v.items():
        med = lambda f: statistics.median([r[f] for r in runs if f in r]) if any(f in r for r in runs) else None
        print(k, who, "rate", [round(r["rate"]) for r in runs], "median", round(med("rate")), "cpu", med("cpu_ms_per_msg") and round(med("cpu_ms_per_msg"), 2),
              "db_cpu", med("db_cpu_ms_per_msg") and round(med("db_cpu_ms_per_msg"), 2), "per_sync", med("msgs_per_wal_sync") and round(med("msgs_per_wal_sync"), 1),
              "tx", med("transactions"))
(B.WORK / f"pg-compare-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(res, indent=1))
