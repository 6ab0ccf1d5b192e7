#!/usr/bin/env bash
# The online restore (POST /commands/restore) on a large tree: how long each restore takes
# until its txns are committed, and what a client writing one request at a time sees
# meanwhile (its max latency is the stall the restore causes).
#
# zk-server (release, fsync on, no periodic snapshots) takes snapshot S0 of a nearly empty
# tree (only /probe), zk-bench creates nodes for $CREATE_SECS s, the snapshot command streams
# S1, and zk-bench sets data on 1000 new nodes for $SET_SECS s. Then, each while a kazoo
# client sets /probe one request at a time:
#   1. restore S1: the sets' nodes go back (a small change on a large tree);
#   2. restore S1 again: nothing differs (the cost of comparing the trees alone);
#   2b. the same while the client only reads /probe: no write comes between the comparison
#      made off the core and the restore, so the core serves on while the trees are compared;
#   3. restore S0: every created node is deleted;
#   4. restore S1: every node is created again.
# The Debian Java server (3.8) has no restore command; Java 3.9's swaps one server's memory
# without logging it, so there is no like-for-like Java figure.
#
# Environment: CREATE_SECS (10), SET_SECS (5), IN_FLIGHT (256), VALUE_SIZE (100),
# OUT (target/bench-online-restore).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CREATE_SECS=${CREATE_SECS:-10}
SET_SECS=${SET_SECS:-5}
IN_FLIGHT=${IN_FLIGHT:-256}
VALUE_SIZE=${VALUE_SIZE:-100}
JARS=${ZK_JARS_DIR:-/usr/share/java}
OUT=${OUT:-$ROOT/target/bench-online-restore}
mkdir -p "$OUT"

echo "== building (release)"
(cd "$ROOT" && cargo build --release -j2 -p zk-server --bin zk-server -p zk-tools --bin zk-bench --bin zkcli)
BIN=$ROOT/target/release
# shellcheck source=bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
WORK=$(mktemp -d /tmp/zk-bench-online-restore-XXXXXX)
trap 'stop_server; rm -rf "$WORK"' EXIT

PORT=$(free_port)
ADMIN=$(free_port)
mkdir -p "$WORK/data"
cat >"$WORK/zoo.cfg" <<CFG
tickTime=2000
dataDir=$WORK/data
clientPort=$PORT
clientPortAddress=127.0.0.1
snapCount=1000000000
snapshot.intervalMs=0
admin.serverAddress=127.0.0.1
admin.serverPort=$ADMIN
admin.rateLimiterIntervalInMS=0
4lw.commands.whitelist=*
CFG
RUST_LOG=warn "$BIN/zk-server" "$WORK/zoo.cfg" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_ready "$PORT"
AUTH="Authorization: digest bench:bench"
snapshot() { curl -sf -H "$AUTH" -o "$1" "http://127.0.0.1:$ADMIN/commands/snapshot"; }

"$BIN/zkcli" -server "127.0.0.1:$PORT" create /probe "" >/dev/null
snapshot "$WORK/s0"
echo "== creating nodes for $CREATE_SECS s"
"$BIN/zk-bench" --server "127.0.0.1:$PORT" --op create --in-flight "$IN_FLIGHT" \
    --value-size "$VALUE_SIZE" --duration "$CREATE_SECS" --warmup 0 --keep | grep '^RESULT'
snapshot "$WORK/s1"
echo "== setting data for $SET_SECS s"
"$BIN/zk-bench" --server "127.0.0.1:$PORT" --op set --nodes 1000 --in-flight "$IN_FLIGHT" \
    --value-size "$VALUE_SIZE" --duration "$SET_SECS" --warmup 0 --keep | grep '^RESULT'

# probe HOSTPORT STOPFILE OP: sets (OP=set) or reads (OP=get) /probe, one request in flight
# (kazoo), until STOPFILE exists; prints count, errors, p50/p99/max latency in ms.
probe() {
    /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import os, sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=60)
zk.start()
lat, errors = [], 0
while not os.path.exists(sys.argv[2]):
    t = time.monotonic()
    try:
        if sys.argv[3] == "set":
            zk.set("/probe", b"x")
        else:
            zk.get("/probe")
    except Exception:
        errors += 1
    lat.append((time.monotonic() - t) * 1000)
zk.stop()
lat.sort()
print(f"probe {sys.argv[3]}s={len(lat)} errors={errors} p50_ms={lat[len(lat)//2]:.1f} "
      f"p99_ms={lat[int(len(lat)*0.99)]:.1f} max_ms={lat[-1]:.1f}")
PY
}

# restore NAME FILE OP: POSTs FILE while the probe runs OP; prints the answer, the wall time
# and what the probe saw.
restore() {
    local name=$1 file=$2 op=$3
    rm -f "$WORK/stop"
    probe "127.0.0.1:$PORT" "$WORK/stop" "$op" >"$WORK/probe-$name.txt" 2>/dev/null &
    local prober=$!
    sleep 2
    local t0 t1
    t0=$(date +%s.%N)
    curl -sf -H "$AUTH" --data-binary "@$file" "http://127.0.0.1:$ADMIN/commands/restore" \
        >"$OUT/restore-$name.json"
    t1=$(date +%s.%N)
    sleep 1
    touch "$WORK/stop"
    wait "$prober"
    python3 - "$name" "$OUT/restore-$name.json" "$(echo "$t1 - $t0" | bc)" \
        "$(cat "$WORK/probe-$name.txt")" <<'PY'
import json, sys
name, answer, wall, probe = sys.argv[1], json.load(open(sys.argv[2])), float(sys.argv[3]), sys.argv[4]
print(f"{name}: image {answer['image_nodes']} nodes, {answer['txns']} txns "
      f"(deleted {answer['deleted']}, created {answer['created']}, data {answer['data_changed']}, "
      f"acl {answer['acl_changed']}); {wall:.2f} s wall incl. upload, {answer['elapsed_ms']} ms in "
      f"the server, compared {'in' if answer['compared_in_core'] else 'off'} the core; {probe}")
PY
}

echo "== restoring ($(du -h "$WORK/s1" | cut -f1) snapshot)"
{
    restore small-change "$WORK/s1" set
    restore no-change "$WORK/s1" set
    restore no-change-reads "$WORK/s1" get
    restore delete-all "$WORK/s0" set
    restore create-all "$WORK/s1" set
} | tee "$OUT/summary.txt"
