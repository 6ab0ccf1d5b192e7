#!/usr/bin/env bash
# Restore speed and archive size.
#
# zk-server (release, fsync off, no periodic snapshots, snapshots uncompressed so Java can read
# them) archives to a directory while zk-bench creates nodes for $CREATE_SECS s; a snapshot is
# then taken (create /zookeeper/snapshots/now) and zk-bench sets data for $SET_SECS s, so the
# archive holds a snapshot of ~N znodes and ~M txns after it. Then, one after the other:
#   - zk-backup restore --latest --format java (the snapshot plus the M txns, into a new dir);
#   - the Java server started on a copy of zk-server's data directory (the same snapshot and
#     the same txns in Java's log files), timed until it answers srvr with its last zxid;
#   - zk-server started on another copy, timed the same way.
# Sizes: the archive's segments (LZ4) against the same txns as Java log records (raw bytes)
# and against zk-server's log files on disk (Java's format, preallocated).
#
# Environment: CREATE_SECS (10), SET_SECS (10), IN_FLIGHT (256), VALUE_SIZE (100),
# ZK_JARS_DIR (/usr/share/java), OUT (target/bench-restore).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CREATE_SECS=${CREATE_SECS:-10}
SET_SECS=${SET_SECS:-10}
IN_FLIGHT=${IN_FLIGHT:-256}
VALUE_SIZE=${VALUE_SIZE:-100}
JARS=${ZK_JARS_DIR:-/usr/share/java}
OUT=${OUT:-$ROOT/target/bench-restore}
mkdir -p "$OUT"

echo "== building (release)"
(cd "$ROOT" && cargo build --release -j2 -p zk-server --bin zk-server --bin zk-backup \
    -p zk-tools --bin zk-bench --bin zkcli)
BIN=$ROOT/target/release
# shellcheck source=bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
WORK=$(mktemp -d /tmp/zk-bench-restore-XXXXXX)
trap 'stop_server; rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
# srvr_zxid PORT: the Zxid line of srvr, or nothing.
srvr_zxid() {
    python3 - "$1" <<'PY' 2>/dev/null || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(b"srvr")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
for line in data.decode().splitlines():
    if line.startswith("Zxid:"):
        print(line.split()[1])
PY
}
# wait_serving PORT ZXID: until srvr reports ZXID (600 s at most).
wait_serving() {
    for _ in $(seq 1 6000); do
        if [[ $(srvr_zxid "$1") == "$2" ]]; then return 0; fi
        sleep 0.1
    done
    echo "the server on $1 never reached $2" >&2
    return 1
}

PORT=$(free_port)
mkdir -p "$WORK/origin/data"
cat >"$WORK/origin/zoo.cfg" <<CFG
tickTime=2000
dataDir=$WORK/origin/data
clientPort=$PORT
clientPortAddress=127.0.0.1
forceSync=no
snapCount=1000000000
snapshot.intervalMs=0
snapshot.compression.method=none
admin.enableServer=false
4lw.commands.whitelist=*
backup.target=$WORK/archive
CFG
RUST_LOG=warn "$BIN/zk-server" "$WORK/origin/zoo.cfg" >"$WORK/origin/server.log" 2>&1 &
SERVER_PID=$!
wait_ready "$PORT"
echo "== creating nodes for $CREATE_SECS s"
"$BIN/zk-bench" --server "127.0.0.1:$PORT" --op create --in-flight "$IN_FLIGHT" \
    --value-size "$VALUE_SIZE" --duration "$CREATE_SECS" --warmup 0 --keep | grep '^RESULT'
"$BIN/zkcli" -server "127.0.0.1:$PORT" create /zookeeper/snapshots/now ""
sleep 2
echo "== setting data for $SET_SECS s"
"$BIN/zk-bench" --server "127.0.0.1:$PORT" --op set --nodes 1000 --in-flight "$IN_FLIGHT" \
    --value-size "$VALUE_SIZE" --duration "$SET_SECS" --warmup 0 --keep | grep '^RESULT'
LAST=$(srvr_zxid "$PORT")
echo "== waiting for the archive to reach $LAST"
for _ in $(seq 1 600); do
    TO=$("$BIN/zk-backup" list "$WORK/archive" --json | python3 -c \
        'import json,sys; w=json.load(sys.stdin)["windows"]; print(w[-1]["to_zxid"] if w else "")')
    if [[ $TO == "$LAST" ]]; then break; fi
    sleep 0.5
done
stop_server

echo "== zk-backup restore --latest --format java"
T0=$(now)
"$BIN/zk-backup" restore "$WORK/archive" --latest --format java --data-dir "$WORK/restored" --json \
    >"$OUT/restore.json"
T1=$(now)
RESTORE_S=$(echo "$T1 - $T0" | bc)
cat "$OUT/restore.json"

# The same snapshot and logs, for the Java server and for zk-server. Only the newest snapshot
# (the one taken above) and the logs after it matter; the startup snapshot is older.
for who in java zk-rs; do
    mkdir -p "$WORK/$who/data"
    cp -r "$WORK/origin/data/version-2" "$WORK/$who/data/"
done
JPORT=$(free_port)
cat >"$WORK/java/zoo.cfg" <<CFG
tickTime=2000
dataDir=$WORK/java/data
clientPort=$JPORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
CFG
ZK_JAVA_CP=$ZK_JAVA_CP
echo "== the Java server starting on the snapshot and the logs"
T0=$(now)
java -Xms2g -Xmx4g -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dzookeeper.snapshot.trust.empty=true \
    -cp "$ZK_JAVA_CP" org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/java/zoo.cfg" \
    >"$WORK/java/server.log" 2>&1 &
SERVER_PID=$!
wait_serving "$JPORT" "$LAST"
T1=$(now)
JAVA_S=$(echo "$T1 - $T0" | bc)
grep -E "txns loaded in|Snapshot loaded in" "$WORK/java/server.log" | tee "$OUT/java-load.txt" || true
stop_server

ZPORT=$(free_port)
sed -e "s|$WORK/origin|$WORK/zk-rs|g" -e "s|clientPort=$PORT|clientPort=$ZPORT|" \
    -e '/^backup.target/d' "$WORK/origin/zoo.cfg" >"$WORK/zk-rs/zoo.cfg"
echo "== zk-server starting on the snapshot and the logs"
T0=$(now)
RUST_LOG=info "$BIN/zk-server" "$WORK/zk-rs/zoo.cfg" >"$WORK/zk-rs/server.log" 2>&1 &
SERVER_PID=$!
wait_serving "$ZPORT" "$LAST"
T1=$(now)
ZKRS_S=$(echo "$T1 - $T0" | bc)
stop_server

"$BIN/zk-backup" list "$WORK/archive" --json >"$OUT/list.json"
LOG_FILES_BYTES=$(du -cb "$WORK/origin/data/version-2"/log.* | tail -1 | cut -f1)
python3 - "$OUT/list.json" "$OUT/restore.json" "$RESTORE_S" "$JAVA_S" "$ZKRS_S" "$LOG_FILES_BYTES" <<'PY' | tee "$OUT/summary.txt"
import json, sys
listing = json.load(open(sys.argv[1]))
restore = json.load(open(sys.argv[2]))
restore_s, java_s, zkrs_s = map(float, sys.argv[3:6])
log_files = int(sys.argv[6])
snap = max(listing["snapshots"], key=lambda s: int(s["first_zxid"], 16))
after = [m for m in listing["segments"] if int(m["last_zxid"], 16) > int(snap["first_zxid"], 16)]
txns = restore["txns_replayed"]
seg_txns = sum(m["txns"] for m in listing["segments"])
stored = sum(m["stored_bytes"] for m in listing["segments"])
raw = sum(m["raw_bytes"] for m in listing["segments"])
print(f"snapshot: {snap['nodes']} znodes, {snap['stored_bytes']} bytes stored (LZ4)")
print(f"replayed after it: {txns} txns ({len(after)} segments)")
print(f"zk-backup restore: {restore_s:.2f} s ({txns / restore_s:.0f} txns/s incl. the snapshot)")
print(f"Java server start on the same files, until serving the last zxid: {java_s:.2f} s")
print(f"zk-server start on the same files, until serving: {zkrs_s:.2f} s")
print(f"restore vs Java's start: {java_s / restore_s:.2f}x faster")
per_m = 1_000_000 / seg_txns
print(f"archive: {seg_txns} txns in {len(listing['segments'])} segments: {stored} bytes stored, "
      f"{raw} bytes as Java log records; per 1M txns {stored * per_m / 2**20:.1f} MiB vs "
      f"{raw * per_m / 2**20:.1f} MiB ({raw / stored:.2f}x smaller); "
      f"zk-server's log files on disk (preallocated): {log_files / 2**20:.1f} MiB")
PY
