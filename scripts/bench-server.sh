#!/usr/bin/env bash
# Compares zk-server with the Apache ZooKeeper (Java) server under the same zk-bench load.
#
# Both servers run standalone on this machine, one at a time, with the same settings
# (tickTime 2000, forceSync=$FORCE_SYNC for both, default no). For each
# op in $OPS and in-flight count in $IN_FLIGHTS, zk-bench (release) runs $DURATION s after
# $WARMUP s of warmup against each server, alternating which goes first per round. RESULT
# lines go to $OUT/results.txt; a table of medians is printed at the end.
#
# Environment: OPS ("get set create"), IN_FLIGHTS ("1 64"), SESSIONS (1), VALUE_SIZE (100),
# DURATION (10), WARMUP (3), ROUNDS (1), FORCE_SYNC (no; yes = fsync before acknowledging, on
# both servers), ZK_JARS_DIR (/usr/share/java), OUT (target/bench-server).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPS=${OPS:-"get set create"}
IN_FLIGHTS=${IN_FLIGHTS:-"1 64"}
SESSIONS=${SESSIONS:-1}
VALUE_SIZE=${VALUE_SIZE:-100}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-1}
FORCE_SYNC=${FORCE_SYNC:-no}
JARS=${ZK_JARS_DIR:-/usr/share/java}
OUT=${OUT:-$ROOT/target/bench-server}

mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"

echo "== building zk-bench and zk-server (release)"
(cd "$ROOT" && cargo build --release -p zk-tools --bin zk-bench -p zk-server --bin zk-server -j2)
ZK_BENCH=$ROOT/target/release/zk-bench
ZK_SERVER=$ROOT/target/release/zk-server

# shellcheck source=bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
WORK=$(mktemp -d /tmp/zk-bench-servers-XXXXXX)
trap 'stop_server; rm -rf "$WORK"' EXIT

wait_ready() {
    local port=$1
    for _ in $(seq 1 200); do
        if python3 - "$port" <<'PY' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"ruok")
sys.exit(0 if s.recv(4) == b"imok" else 1)
PY
        sleep 0.1
    done
    echo "server on port $port did not answer ruok" >&2
    return 1
}

# start_server java|zk-rs -> sets SERVER_PID and PORT
start_server() {
    local kind=$1
    PORT=$(free_port)
    local dir=$WORK/$kind-$PORT
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$PORT
clientPortAddress=127.0.0.1
forceSync=$FORCE_SYNC
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
CFG
    if [[ $kind == java ]]; then
        java -Xms512m -Xmx1g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
            -cp "$ZK_JAVA_CP" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    else
        RUST_LOG=warn "$ZK_SERVER" "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    fi
    SERVER_PID=$!
    wait_ready "$PORT"
}

run_case() {
    local kind=$1 op=$2 inflight=$3
    start_server "$kind"
    # Unrecorded load first, so the Java server's JIT is warm.
    "$ZK_BENCH" --server "127.0.0.1:$PORT" --op mix --in-flight 16 --duration 3 --warmup 0 >/dev/null
    local line
    line=$("$ZK_BENCH" --server "127.0.0.1:$PORT" --op "$op" --in-flight "$inflight" \
        --sessions "$SESSIONS" --value-size "$VALUE_SIZE" --duration "$DURATION" --warmup "$WARMUP" |
        grep '^RESULT')
    echo "$line server=$kind" | tee -a "$RESULTS"
    stop_server
}

for round in $(seq 1 "$ROUNDS"); do
    for op in $OPS; do
        for inflight in $IN_FLIGHTS; do
            echo "== round $round: op=$op in_flight=$inflight"
            if ((round % 2 == 1)); then order="java zk-rs"; else order="zk-rs java"; fi
            for kind in $order; do run_case "$kind" "$op" "$inflight"; done
        done
    done
done

echo
echo "== medians over $ROUNDS round(s) (ops/s, p50/p99 us)"
python3 - "$RESULTS" <<'PY'
import re, sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    rows[(f["op"], int(f["in_flight"]), f["server"])].append(f)
print(f"{'op':8}{'inflight':>9}{'server':>8}{'ops/s':>11}{'p50':>8}{'p99':>8}{'p999':>8}")
for (op, inflight, server), fs in sorted(rows.items()):
    med = lambda k: statistics.median(float(x[k]) for x in fs)
    print(f"{op:8}{inflight:>9}{server:>8}{med('ops_per_s'):>11.0f}{med('p50_us'):>8.0f}{med('p99_us'):>8.0f}{med('p999_us'):>8.0f}")
PY
