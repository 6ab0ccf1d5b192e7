#!/usr/bin/env bash
# Compares zk-client (zk-bench, release build) with the official Java client (ZkBench.java, the
# asynchronous API) against ONE Apache ZooKeeper (Java) server started here with forceSync=no.
#
# For each op in $OPS and each in-flight count in $IN_FLIGHTS, both clients run the same load
# (1 session by default, 100-byte values, $DURATION s measured after $WARMUP s of warmup),
# alternately (each case: zk-rs then Java in odd rounds, Java then zk-rs in even ones),
# $ROUNDS times. Every RESULT line goes to
# $OUT/results.txt and a table is printed at the end.
#
# Note: the server and the client share this machine's cores; client CPU is what the client
# process used during the measured window (from /proc/self/stat, 10 ms ticks), which is also
# CPU the server could not use.
#
# Environment: OPS ("get set"), IN_FLIGHTS ("1 64"), SESSIONS (1), VALUE_SIZE (100),
# DURATION (10), WARMUP (3), ROUNDS (1), SERVER_WARMUP (10 s of unrecorded load on the fresh
# server first), ZK_THREADS (zk-bench --threads, 0 = single-threaded
# tokio runtime), PORT (a free one), ZK_JARS_DIR (/usr/share/java), OUT (target/bench-client),
# SERVER (use this running server instead of starting one), JAVA_OPTS (driver JVM flags).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPS=${OPS:-"get set"}
IN_FLIGHTS=${IN_FLIGHTS:-"1 64"}
SESSIONS=${SESSIONS:-1}
VALUE_SIZE=${VALUE_SIZE:-100}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-1}
ZK_THREADS=${ZK_THREADS:-0}
SERVER_WARMUP=${SERVER_WARMUP:-10}
JARS=${ZK_JARS_DIR:-/usr/share/java}
OUT=${OUT:-$ROOT/target/bench-client}
JAVA_OPTS=${JAVA_OPTS:-"-Xms256m -Xmx512m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn"}

mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"

echo "== building zk-bench (release)"
(cd "$ROOT" && cargo build --release -p zk-tools --bin zk-bench -j2)
ZK_BENCH=$ROOT/target/release/zk-bench

echo "== compiling ZkBench.java"
# shellcheck source=bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
CLIENT_CP=$ZK_JAVA_CP
rm -rf "$OUT/classes"
mkdir -p "$OUT/classes"
javac -nowarn -d "$OUT/classes" -cp "$CLIENT_CP" "$ROOT/interop-tests/java/ZkBench.java"

DATA_DIR=
cleanup() {
    stop_server
    if [[ -n $DATA_DIR ]]; then rm -rf "$DATA_DIR"; fi
}
trap cleanup EXIT

if [[ -z ${SERVER:-} ]]; then
    PORT=${PORT:-$(free_port)}
    DATA_DIR=$(mktemp -d /tmp/zk-bench-server-XXXXXX)
    cat >"$DATA_DIR/zoo.cfg" <<EOF
tickTime=2000
dataDir=$DATA_DIR/data
clientPort=$PORT
clientPortAddress=127.0.0.1
forceSync=no
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
jute.maxbuffer=268435456
EOF
    mkdir -p "$DATA_DIR/data"
    echo "== starting ZooKeeper on 127.0.0.1:$PORT (log $DATA_DIR/server.log)"
    java -Xms512m -Xmx1g -Djute.maxbuffer=268435456 \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$ZK_JAVA_CP" \
        org.apache.zookeeper.server.ZooKeeperServerMain "$DATA_DIR/zoo.cfg" \
        >"$DATA_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    ready=
    for _ in $(seq 1 300); do
        answer=$( (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf ruok >&3 && timeout 5 cat <&3) 2>/dev/null || true)
        if [[ $answer == imok ]]; then
            ready=1
            break
        fi
        sleep 0.1
    done
    if [[ -z $ready ]]; then
        echo "ZooKeeper did not start:" >&2
        tail -30 "$DATA_DIR/server.log" >&2
        exit 1
    fi
    SERVER=127.0.0.1:$PORT
fi
echo "== server $SERVER"

run_case() { # client op in_flight round
    local client=$1 op=$2 inflight=$3 round=$4 log
    log=$OUT/$client-$op-$inflight-r$round.log
    local args=(--server "$SERVER" --sessions "$SESSIONS" --in-flight "$inflight" --op "$op"
        --value-size "$VALUE_SIZE" --duration "$DURATION" --warmup "$WARMUP")
    if [[ $client == zk-rs ]]; then
        "$ZK_BENCH" "${args[@]}" --threads "$ZK_THREADS" >"$log" 2>&1
    else
        # shellcheck disable=SC2086
        java $JAVA_OPTS -cp "$OUT/classes:$CLIENT_CP" ZkBench "${args[@]}" >"$log" 2>&1
    fi
    sed -n '/^RESULT /p' "$log" | tee -a "$RESULTS"
}

if ((SERVER_WARMUP > 0)); then
    # A cold server (interpreted, then JIT-compiling) would handicap whichever client runs first.
    echo "== warming up the server for ${SERVER_WARMUP} s (not recorded)"
    "$ZK_BENCH" --server "$SERVER" --op mix --in-flight 16 --duration "$SERVER_WARMUP" \
        --warmup 0 >"$OUT/server-warmup.log" 2>&1
fi

for round in $(seq 1 "$ROUNDS"); do
    # Alternate who goes first (zk-rs first in odd rounds, Java first in even ones).
    if ((round % 2 == 1)); then order="zk-rs java"; else order="java zk-rs"; fi
    for op in $OPS; do
        for inflight in $IN_FLIGHTS; do
            echo "== round $round: op=$op in_flight=$inflight"
            for client in $order; do
                run_case "$client" "$op" "$inflight" "$round"
            done
        done
    done
done

echo
echo "== results ($RESULTS; server and client share $(nproc) cores)"
python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        rows.append(dict(w.split("=", 1) for w in line.split()[1:] if "=" in w))
for r in rows:
    r["cpu_s"] = float(r["cpu_user_s"]) + float(r["cpu_sys_s"])
    r["cpu_us_op"] = r["cpu_s"] * 1e6 / max(1, int(r["ops"]))
cols = ["ops_per_s", "p50_us", "p99_us", "p999_us", "cpu_user_s", "cpu_sys_s", "cpu_s", "cpu_us_op"]
head = "%-6s %-4s %9s " + " ".join(["%10s"] * len(cols))
def fmt(col, v):
    v = float(v)
    return "%.2f" % v if col.startswith("cpu") else "%.1f" % v if col == "ops_per_s" else "%.0f" % v
print("every run:")
print(head % (("client", "op", "in_flight") + tuple(cols)))
for r in rows:
    print(head % ((r["client"], r["op"], r["in_flight"]) + tuple(fmt(c, r[c]) for c in cols)))
keys = []
for r in rows:
    k = (r["op"], int(r["in_flight"]), r["client"])
    if k not in keys:
        keys.append(k)
print("\nmedian per case (%d run(s) each):" % max(
    sum(1 for r in rows if (r["op"], int(r["in_flight"]), r["client"]) == k) for k in keys))
print(head % (("client", "op", "in_flight") + tuple(cols)))
for op, inflight, client in sorted(keys, key=lambda k: (k[0], k[1], k[2] != "zk-rs")):
    sel = [r for r in rows if (r["op"], int(r["in_flight"]), r["client"]) == (op, inflight, client)]
    med = [statistics.median(float(r[c]) for r in sel) for c in cols]
    print(head % ((client, op, inflight) + tuple(fmt(c, m) for m, c in zip(med, cols))))
PY
