#!/usr/bin/env bash
# Compares zk-client's recipes (zk-recipe-bench, release build) with Curator's
# (CuratorRecipeBench.java, Debian's Curator 5.4) against the SAME server in the same run.
#
# For each server kind in $KINDS (java: Apache ZooKeeper 3.8; zk-rs: zk-server, release), one
# standalone server is started here (forceSync=no, tickTime 2000), warmed up with
# $SERVER_WARMUP s of unrecorded zk-bench load, then every case runs against it, Rust then
# Curator in odd rounds, Curator then Rust in even ones, never at the same time:
#
# 1. lock: N sessions in one process (N in $CONTENDERS), each with its own Mutex /
#    InterProcessMutex on one path, acquire+release in a loop for $DURATION s after $WARMUP s:
#    cycles/s and the acquire latency (p50/p99; with N contenders it includes waiting for the
#    N-1 others, the lock being fair).
# 2. latch: two sessions, each with a LeaderLatch; the leader closes its latch and the time
#    until the other one leads is one hand-over (median, p99); the closed one joins again and
#    the next hand-over starts $SETTLE_MS ms later. Hand-overs in the first $WARMUP s are not
#    recorded, then $HANDOVERS are.
# 3. semaphore: as the lock, with Semaphore / InterProcessSemaphoreV2 of $MAX_LEASES leases.
#
# RESULT lines (see zk-tools/src/bin/zk-recipe-bench.rs) go to $OUT/results.txt, with the
# server kind appended; logs to $OUT/*.log. A table of medians over the rounds is printed at the
# end with ratios Rust/Curator (cycles/s: above 1 is Rust faster; latencies: below 1 is).
#
# Note: the server, the bench process and anything else running share the machine's cores
# (2 here), so the numbers are under CPU contention, for Rust and Curator alike. Each RESULT line
# carries the bench process's CPU (cpu_user_s, cpu_sys_s) and the server's
# (server_cpu_s) over the measured window: CPU the client used is CPU the server could not.
#
# Environment: KINDS ("java zk-rs"), RECIPES ("lock latch semaphore"), CONTENDERS ("1 10"),
# MAX_LEASES (2), DURATION (10), WARMUP (5; the bench JVM JIT-compiles Curator meanwhile),
# HANDOVERS (200), SETTLE_MS (20), ROUNDS (1), SERVER_WARMUP (3), ZK_THREADS (zk-recipe-bench
# --threads, 0 = single-threaded tokio runtime), ZK_JARS_DIR (/usr/share/java),
# OUT (target/bench-recipes), JAVA_OPTS (the bench JVM's flags). The defaults take about
# 6 minutes after the build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KINDS=${KINDS:-"java zk-rs"}
RECIPES=${RECIPES:-"lock latch semaphore"}
CONTENDERS=${CONTENDERS:-"1 10"}
MAX_LEASES=${MAX_LEASES:-2}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-5}
HANDOVERS=${HANDOVERS:-200}
SETTLE_MS=${SETTLE_MS:-20}
ROUNDS=${ROUNDS:-1}
SERVER_WARMUP=${SERVER_WARMUP:-3}
ZK_THREADS=${ZK_THREADS:-0}
JARS=${ZK_JARS_DIR:-/usr/share/java}
OUT=${OUT:-$ROOT/target/bench-recipes}
JAVA_OPTS=${JAVA_OPTS:-"-Xms256m -Xmx512m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn"}

mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"

echo "== building zk-recipe-bench, zk-bench and zk-server (release)"
(cd "$ROOT" && cargo build --release -j2 -p zk-tools --bin zk-recipe-bench --bin zk-bench \
    -p zk-server --bin zk-server)
RECIPE_BENCH=$ROOT/target/release/zk-recipe-bench
ZK_BENCH=$ROOT/target/release/zk-bench
ZK_SERVER=$ROOT/target/release/zk-server

# shellcheck source=bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
# The Curator jars' manifests bring guava and the rest.
CLIENT_CP=$ZK_JAVA_CP:$JARS/curator-client.jar:$JARS/curator-framework.jar:$JARS/curator-recipes.jar

echo "== compiling CuratorRecipeBench.java"
rm -rf "$OUT/classes"
mkdir -p "$OUT/classes"
javac -nowarn -d "$OUT/classes" -cp "$CLIENT_CP" "$ROOT/interop-tests/java/CuratorRecipeBench.java"

WORK=$(mktemp -d /tmp/zk-bench-recipes-XXXXXX)
trap 'stop_server; rm -rf "$WORK"' EXIT

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
forceSync=no
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
CFG
    if [[ $kind == java ]]; then
        java -Xms512m -Xmx1g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$ZK_JAVA_CP" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    else
        RUST_LOG=warn "$ZK_SERVER" "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    fi
    SERVER_PID=$!
    wait_ready "$PORT"
}

# run_case server client recipe contenders round
run_case() {
    local kind=$1 client=$2 recipe=$3 contenders=$4 round=$5
    local log=$OUT/$kind-$client-$recipe-$contenders-r$round.log
    local args=(--server "127.0.0.1:$PORT" --recipe "$recipe" --contenders "$contenders"
        --max-leases "$MAX_LEASES" --duration "$DURATION" --warmup "$WARMUP"
        --handovers "$HANDOVERS" --settle-ms "$SETTLE_MS" --server-pid "$SERVER_PID")
    local rc=0
    if [[ $client == zk-rs ]]; then
        "$RECIPE_BENCH" "${args[@]}" --threads "$ZK_THREADS" >"$log" 2>&1 || rc=$?
    else
        # shellcheck disable=SC2086
        java $JAVA_OPTS -cp "$OUT/classes:$CLIENT_CP" CuratorRecipeBench "${args[@]}" \
            >"$log" 2>&1 || rc=$?
    fi
    if ((rc != 0)) || ! grep -q '^RESULT ' "$log"; then
        echo "!! $client $recipe contenders=$contenders on $kind failed (exit $rc):" >&2
        tail -20 "$log" >&2
        return 1
    fi
    echo "$(grep '^RESULT ' "$log") server=$kind" | tee -a "$RESULTS"
}

for kind in $KINDS; do
    start_server "$kind"
    echo "== server $kind on 127.0.0.1:$PORT (pid $SERVER_PID)"
    if ((SERVER_WARMUP > 0)); then
        # A cold Java server (interpreted, then JIT-compiling) would handicap the first client.
        "$ZK_BENCH" --server "127.0.0.1:$PORT" --op mix --in-flight 16 \
            --duration "$SERVER_WARMUP" --warmup 0 >"$OUT/$kind-server-warmup.log" 2>&1
    fi
    for round in $(seq 1 "$ROUNDS"); do
        if ((round % 2 == 1)); then order="zk-rs curator"; else order="curator zk-rs"; fi
        for recipe in $RECIPES; do
            counts=$CONTENDERS
            if [[ $recipe == latch ]]; then counts=2; fi
            for contenders in $counts; do
                echo "== $kind round $round: $recipe contenders=$contenders"
                for client in $order; do
                    run_case "$kind" "$client" "$recipe" "$contenders" "$round"
                done
            done
        done
    done
    stop_server
done

echo
echo "== medians over $ROUNDS round(s) ($RESULTS; server and clients share $(nproc) cores)"
python3 - "$RESULTS" <<'PY'
import collections, re, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    rows[(f["server"], f["recipe"], int(f["contenders"]), f["client"])].append(f)
NAN = float("nan")

def med(fs, key, scale=1.0):
    values = [float(f[key]) * scale for f in fs if f.get(key, "-") != "-"]
    return statistics.median(values) if values else NAN

def cpu_ms(fs, who, count_key):
    """Median CPU ms per cycle or hand-over: the bench process's, or the server's."""
    per = []
    for f in fs:
        cpu = (float(f["cpu_user_s"]) + float(f["cpu_sys_s"]) if who == "client"
               else float(f["server_cpu_s"]) if f["server_cpu_s"] != "-" else None)
        if cpu is not None:
            per.append(1000 * cpu / max(1, int(f[count_key])))
    return statistics.median(per) if per else NAN

def ratio(a, b):
    return a / b if b else NAN

order = {"lock": 0, "semaphore": 1, "latch": 2}
cases = sorted({k[:3] for k in rows}, key=lambda k: (k[0], order[k[1]], k[2]))
pair = lambda case: (rows.get(case + ("zk-rs",), []), rows.get(case + ("curator",), []))

print("lock / semaphore: acquire+release cycles/s; acquire latency ms; CPU ms per cycle of the")
print("bench process (cpu) and of the server (srv) over the window; rs = zk-rs, cur = Curator")
head = "%-6s %-9s %3s | %7s %7s %6s | %6s %6s %6s %6s | %5s %5s %5s %5s"
line = "%-6s %-9s %3d | %7.0f %7.0f %6.2f | %6.2f %6.2f %6.2f %6.2f | %5.2f %5.2f %5.2f %5.2f"
print(head % ("server", "recipe", "n", "rs/s", "cur/s", "rs/cur", "rs p50", "cr p50",
              "rs p99", "cr p99", "cpu", "cpu", "srv", "srv"))
print(head % ("", "", "", "", "", "", "", "", "", "", "rs", "cur", "rs", "cur"))
for case in cases:
    if case[1] == "latch":
        continue
    rs, cur = pair(case)
    r, c = med(rs, "cycles_per_s"), med(cur, "cycles_per_s")
    print(line % (case + (r, c, ratio(r, c),
                          med(rs, "p50_us", 1e-3), med(cur, "p50_us", 1e-3),
                          med(rs, "p99_us", 1e-3), med(cur, "p99_us", 1e-3),
                          cpu_ms(rs, "client", "cycles"), cpu_ms(cur, "client", "cycles"),
                          cpu_ms(rs, "server", "cycles"), cpu_ms(cur, "server", "cycles"))))
print()
print("latch: leader hand-over (close -> the other one leads), ms")
head = "%-6s | %6s %6s %6s | %6s %6s %6s | %7s %7s"
line = "%-6s | %6.2f %6.2f %6.2f | %6.2f %6.2f %6.2f | %7.2f %7.2f"
print(head % ("server", "rs p50", "cr p50", "rs/cur", "rs p99", "cr p99", "rs/cur", "rs mean",
              "cr mean"))
for case in cases:
    if case[1] != "latch":
        continue
    rs, cur = pair(case)
    r50, c50 = med(rs, "p50_us", 1e-3), med(cur, "p50_us", 1e-3)
    r99, c99 = med(rs, "p99_us", 1e-3), med(cur, "p99_us", 1e-3)
    print(line % (case[0], r50, c50, ratio(r50, c50), r99, c99, ratio(r99, c99),
                  med(rs, "mean_us", 1e-3), med(cur, "mean_us", 1e-3)))
PY
