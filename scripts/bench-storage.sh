#!/usr/bin/env bash
# Durability benchmark: zk-server against the Apache ZooKeeper (Java) server with fsync on for
# both (forceSync=yes), one at a time on this machine.
#
# For each server: a fresh data directory is filled with $NODES znodes of $VALUE_SIZE bytes by
# zk-bench (512 creates in flight, snapCount 100000, so snapshots are taken during the fill);
# the server is stopped and started again on the same directory. Reported per server:
#   fill      creates/s of the fill, and the server's RSS after it
#   restart   seconds from exec until a client reads the last node created, and RSS then
#   snapshot  the startup snapshot both servers take after loading: write time (from the
#             server's log) and file size; for Java a second restart with
#             -Dzookeeper.snapshot.compression.method=snappy gives the snappy size and time.
# zk-server writes lz4 (its default). Results go to $OUT/storage.txt.
#
# Environment: NODES (1000000), VALUE_SIZE (100), VALUES (repeat: every value is 'x' bytes, the
# best case for compression; random: incompressible bytes, the worst), SERVERS ("zk-rs java"), JAVA_HEAP (2g, -Xmx of the Java server),
# ZK_JARS_DIR (/usr/share/java), OUT (target/bench-storage), KEEP (unset: data dirs deleted).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${NODES:-1000000}
VALUE_SIZE=${VALUE_SIZE:-100}
VALUES=${VALUES:-repeat}
SERVERS=${SERVERS:-"zk-rs java"}
RANDOM_FLAG=
if [[ $VALUES == random ]]; then RANDOM_FLAG=--random-values; fi
JAVA_HEAP=${JAVA_HEAP:-2g}
JARS=${ZK_JARS_DIR:-/usr/share/java}
OUT=${OUT:-$ROOT/target/bench-storage}
mkdir -p "$OUT"
RESULTS=$OUT/storage.txt
: >"$RESULTS"

echo "== building zk-bench, zkcli and zk-server (release)"
(cd "$ROOT" && cargo build --release -j2 -p zk-tools --bin zk-bench --bin zkcli -p zk-server --bin zk-server)
ZK_BENCH=$ROOT/target/release/zk-bench
ZKCLI=$ROOT/target/release/zkcli
ZK_SERVER=$ROOT/target/release/zk-server

# shellcheck source=bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
WORK=$(mktemp -d /tmp/zk-bench-storage-XXXXXX)
cleanup() {
    stop_server
    if [[ -z ${KEEP:-} ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
now() { date +%s.%N; }

# start_server KIND DIR [JAVA_PROPS...]: sets SERVER_PID; PORT must be set.
start_server() {
    local kind=$1 dir=$2
    shift 2
    if [[ $kind == java ]]; then
        java -Xmx"$JAVA_HEAP" "$@" -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
            -cp "$ZK_JAVA_CP" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >>"$dir/server.log" 2>&1 &
    else
        RUST_LOG=info "$ZK_SERVER" "$dir/zoo.cfg" >>"$dir/server.log" 2>&1 &
    fi
    SERVER_PID=$!
}

# wait_readable PATH: polls (every 10 ms) until `exists PATH` succeeds on a new session, in raw
# protocol so that no client retry or backoff delays the moment the tree is served.
wait_readable() {
    python3 - "$PORT" "$1" <<'PY'
import socket, struct, sys, time
port, path = int(sys.argv[1]), sys.argv[2].encode()
def frame(b): return struct.pack(">i", len(b)) + b
def recv_frame(s):
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk: raise ConnectionError("closed")
        head += chunk
    n = struct.unpack(">i", head)[0]; body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk: raise ConnectionError("closed")
        body += chunk
    return body
deadline = time.time() + 120
while time.time() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(frame(struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + bytes(16) + b"\0"))
            recv_frame(s)
            s.sendall(frame(struct.pack(">ii", 1, 3) + struct.pack(">i", len(path)) + path + b"\0"))
            xid, zxid, err = struct.unpack(">iqi", recv_frame(s)[:16])
            s.sendall(frame(struct.pack(">ii", 2, -11)))
            if err == 0: sys.exit(0)
    except (OSError, ConnectionError, struct.error):
        pass
    time.sleep(0.01)
sys.exit("server never served " + sys.argv[2])
PY
}

# newest_snapshot DIR: the newest snapshot file's path.
newest_snapshot() { ls -t "$1"/data/version-2/snapshot.* | head -1; }

run_server() {
    local kind=$1
    PORT=$(free_port)
    local dir=$WORK/$kind
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$PORT
clientPortAddress=127.0.0.1
forceSync=yes
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
CFG
    echo "== $kind: filling $NODES nodes of $VALUE_SIZE bytes"
    start_server "$kind" "$dir"
    wait_readable /
    "$ZK_BENCH" --server "127.0.0.1:$PORT" --op get --nodes "$NODES" --value-size "$VALUE_SIZE" \
        --duration 1 --warmup 0 --keep $RANDOM_FLAG >"$dir/fill.txt"
    local fill_rate fill_rss t0 t1
    fill_rate=$(python3 -c "import re,sys; s=float(re.search(r'SETUP nodes=\d+ seconds=(\S+)', open(sys.argv[1]).read()).group(1)); print(round($NODES / s))" "$dir/fill.txt")
    fill_rss=$(rss_mb "$SERVER_PID")
    local last
    last=$("$ZKCLI" -server "127.0.0.1:$PORT" ls / | tr -d '[],' | tr ' ' '\n' | grep zk-bench | head -1)
    last="/$last/n/$((NODES - 1))"
    stop_server

    echo "== $kind: restarting on the filled directory"
    t0=$(now)
    start_server "$kind" "$dir"
    wait_readable "$last"
    t1=$(now)
    local restart_s restart_rss
    restart_s=$(python3 -c "print(round($t1 - $t0, 2))")
    sleep 1
    restart_rss=$(rss_mb "$SERVER_PID")
    stop_server
    local snap snap_ms
    snap=$(newest_snapshot "$dir")
    if [[ $kind == java ]]; then
        snap_ms=$(grep -o 'Snapshot taken in [0-9]* ms' "$dir/server.log" | tail -1 | grep -o '[0-9]*' || echo '?')
    else
        snap_ms=$(grep 'startup snapshot written' "$dir/server.log" | tail -1 | grep -o 'ms=[0-9]*' | cut -d= -f2 || echo '?')
    fi
    local line="RESULT server=$kind nodes=$NODES value_size=$VALUE_SIZE values=$VALUES fill_creates_per_s=$fill_rate fill_rss_mb=$fill_rss restart_s=$restart_s restart_rss_mb=$restart_rss snapshot_ms=$snap_ms snapshot_bytes=$(stat -c %s "$snap") snapshot_file=$(basename "$snap")"
    echo "$line" | tee -a "$RESULTS"

    if [[ $kind == java ]]; then
        echo "== java: restarting with snapshot compression snappy"
        start_server java "$dir" -Dzookeeper.snapshot.compression.method=snappy
        wait_readable "$last"
        stop_server
        snap=$(newest_snapshot "$dir")
        snap_ms=$(grep -o 'Snapshot taken in [0-9]* ms' "$dir/server.log" | tail -1 | grep -o '[0-9]*' || echo '?')
        line="RESULT server=java-snappy nodes=$NODES snapshot_ms=$snap_ms snapshot_bytes=$(stat -c %s "$snap") snapshot_file=$(basename "$snap")"
        echo "$line" | tee -a "$RESULTS"
    fi
}

for server in $SERVERS; do run_server "$server"; done
echo
cat "$RESULTS"
