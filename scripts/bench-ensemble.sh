#!/usr/bin/env bash
# Benchmarks a 3-server ZooKeeper ensemble on this machine: Java 3.8 (ENSEMBLE_KIND=java) or
# zk-server (ENSEMBLE_KIND=zk-rs), every member on 127.0.0.1 with its own ports and data
# directory, tickTime $TICK_TIME, initLimit 10, syncLimit 5, forceSync=$FORCE_SYNC (default yes:
# fsync before acknowledging), the same zoo.cfg layout as interop-tests' Ensemble fixture.
#
# Phases ($PHASES, default all three):
#
# - throughput: for each op in $OPS and in-flight count in $IN_FLIGHTS, one zk-bench (release)
#   per member runs in parallel against that member ($SESSIONS sessions each, $IN_FLIGHT
#   requests in flight per session) for $DURATION s after $WARMUP s of warmup. zk-bench shuffles
#   a multi-host connect string like Java's client, so one process per member is what spreads
#   the sessions evenly. Reported: the sum of the members' ops/s and the highest of their p50
#   and p99 (each process has its own histogram; the highest p99 bounds the combined one from
#   above). Writes are forwarded to the leader by the followers, reads are served locally.
# - failover: interop-tests' failover_probe keeps $PROBE_WRITERS setData writers busy in one
#   session on the whole connect string. $KILLS times: wait for one leader with every other
#   member following, SIGKILL the leader, and tell the probe; the probe reports the time from
#   then to the first acknowledged write issued after the kill. The killed member is restarted
#   on its data directory and must rejoin before the next kill. Reported: median and max, and
#   the longest gap between two acknowledged writes over the whole phase.
# - snap: $NODES znodes of $VALUE_SIZE bytes are loaded (zk-bench's setup, through the leader),
#   then one follower is SIGKILLed, its data directory emptied except myid, and started again;
#   timed from the start command until its srvr says follower with the leader's Zxid (so the
#   process start is included; for Java the JVM start is ~1-2 s of it).
#
# RESULT lines go to $OUT/results.txt; a table is printed at the end. Member logs are under the
# work directory, kept when KEEP_WORK=1.
#
# Environment: ENSEMBLE_KIND (java), SIZE (3), PHASES ("throughput failover snap"),
# OPS ("set create get"), IN_FLIGHTS ("1 64"), SESSIONS (1 per member), VALUE_SIZE (100),
# DURATION (10), WARMUP (3), FORCE_SYNC (yes), TICK_TIME (2000), KILLS (20),
# PROBE_WRITERS (4), NODES (1000000), JOBS (cargo -j, 1), ZK_JARS_DIR (/usr/share/java),
# JAVA_HEAP (-Xms512m -Xmx2g), KEEP_WORK, OUT (target/bench-ensemble), EXTRA_CFG (zoo.cfg
# lines for every member; `{work}` is the work directory).
#
# ENSEMBLE_KIND=zk-rs runs three zk-server members (release build, or the binary ZK_SERVER_BIN
# names: to compare two builds in one sitting).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENSEMBLE_KIND=${ENSEMBLE_KIND:-java}
SIZE=${SIZE:-3}
PHASES=${PHASES:-"throughput failover snap"}
OPS=${OPS:-"set create get"}
IN_FLIGHTS=${IN_FLIGHTS:-"1 64"}
SESSIONS=${SESSIONS:-1}
VALUE_SIZE=${VALUE_SIZE:-100}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
FORCE_SYNC=${FORCE_SYNC:-yes}
TICK_TIME=${TICK_TIME:-2000}
KILLS=${KILLS:-20}
PROBE_WRITERS=${PROBE_WRITERS:-4}
NODES=${NODES:-1000000}
JOBS=${JOBS:-1}
JAVA_HEAP=${JAVA_HEAP:-"-Xms512m -Xmx2g"}
JARS=${ZK_JARS_DIR:-/usr/share/java}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$TARGET/bench-ensemble}

case $ENSEMBLE_KIND in
java | zk-rs) ;;
*)
    echo "ENSEMBLE_KIND must be java or zk-rs, not $ENSEMBLE_KIND" >&2
    exit 2
    ;;
esac

mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"

echo "== building zk-bench (release) and failover_probe (debug: it measures milliseconds)"
build=(cargo build --release -j"$JOBS" -p zk-tools --bin zk-bench)
if [[ $ENSEMBLE_KIND == zk-rs && -z ${ZK_SERVER_BIN:-} ]]; then
  build+=(-p zk-server --bin zk-server)
fi
(cd "$ROOT" && "${build[@]}")
(cd "$ROOT" && cargo build -j"$JOBS" -p interop-tests --bin failover_probe)
ZK_BENCH=$TARGET/release/zk-bench
ZK_SERVER=${ZK_SERVER_BIN:-$TARGET/release/zk-server}
PROBE=$TARGET/debug/failover_probe

# shellcheck source=bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
WORK=$(mktemp -d /tmp/zk-bench-ensemble-XXXXXX)

declare -a CPORT QPORT EPORT PID
PROBE_PID=
cleanup() {
    if [[ -n $PROBE_PID ]]; then kill -9 "$PROBE_PID" 2>/dev/null || true; fi
    for i in "${!PID[@]}"; do
        if [[ -n ${PID[$i]} ]]; then kill -9 "${PID[$i]}" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
    if [[ -n ${KEEP_WORK:-} ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Four-letter words and the waits built on them, with deadlines; any python3 will do.
FOURLW=$WORK/zk4lw.py
cat >"$FOURLW" <<'PY'
import socket, sys, time

def srvr(port):
    """(mode, zxid) from srvr, or None when the member does not answer or does not serve."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.settimeout(2)
        s.sendall(b"srvr")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        return None
    mode = zxid = None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            mode = line[6:].strip()
        elif line.startswith("Zxid: "):
            zxid = int(line[6:].strip(), 16)
    return (mode, zxid) if mode is not None and zxid is not None else None

def leader(ports):
    """Index of the one leader when every other member follows, else None."""
    states = [srvr(p) for p in ports]
    if any(s is None for s in states):
        return None
    leaders = [i for i, s in enumerate(states) if s[0] == "leader"]
    others_follow = all(s[0] in ("follower", "observer") for s in states if s[0] != "leader")
    return leaders[0] if len(leaders) == 1 and others_follow else None

def poll(timeout, what, f):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = f()
        if found is not None:
            return found
        time.sleep(0.01)
    sys.exit("timed out after %ss waiting for %s" % (timeout, what))

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "ready":  # PORT TIMEOUT: the member answers srvr with a Mode
    poll(float(args[1]), "port %s to serve" % args[0], lambda: srvr(int(args[0])))
elif cmd == "leader":  # TIMEOUT PORT...: prints the leader's index
    ports = [int(p) for p in args[1:]]
    print(poll(float(args[0]), "one leader, the rest following", lambda: leader(ports)))
elif cmd == "synced":  # T0 TIMEOUT PORT LEADER_PORT: prints seconds since T0 until PORT
    # follows with the leader's zxid
    t0, timeout, port, lport = float(args[0]), float(args[1]), int(args[2]), int(args[3])
    def synced():
        mine, theirs = srvr(port), srvr(lport)
        if mine and theirs and mine[0] == "follower" and mine[1] == theirs[1]:
            return time.time() - t0
        return None
    print("%.3f" % poll(timeout, "port %d to sync" % port, synced))
PY
fourlw() { python3 "$FOURLW" "$@"; }

# Ports for every member, all distinct.
used=" "
for i in $(seq 1 "$SIZE"); do
    for array in CPORT QPORT EPORT; do
        while true; do
            port=$(free_port)
            if [[ $used != *" $port "* ]]; then break; fi
        done
        used="$used$port "
        eval "$array[$i]=$port"
    done
done

member_dir() { echo "$WORK/zk$1"; }

write_config() {
    local i=$1 dir
    dir=$(member_dir "$i")
    mkdir -p "$dir/data"
    echo "$i" >"$dir/data/myid"
    {
        echo "tickTime=$TICK_TIME"
        echo "initLimit=10"
        echo "syncLimit=5"
        echo "dataDir=$dir/data"
        echo "clientPort=${CPORT[$i]}"
        echo "clientPortAddress=127.0.0.1"
        echo "admin.enableServer=false"
        echo "4lw.commands.whitelist=*"
        echo "standaloneEnabled=false"
        echo "forceSync=$FORCE_SYNC"
        echo "maxClientCnxns=0"
        # EXTRA_CFG: more zoo.cfg lines, `{work}` standing for the work directory (a shared
        # backup.target, say).
        if [[ -n ${EXTRA_CFG:-} ]]; then echo "${EXTRA_CFG//\{work\}/$WORK}"; fi
        for j in $(seq 1 "$SIZE"); do
            echo "server.$j=127.0.0.1:${QPORT[$j]}:${EPORT[$j]};127.0.0.1:${CPORT[$j]}"
        done
    } >"$dir/zoo.cfg"
}

# start_member I: starts member I (logs appended to its server.log); sets PID[I].
start_member() {
    local i=$1 dir
    dir=$(member_dir "$i")
    echo "=== bench-ensemble: start $(date +%T.%N)" >>"$dir/server.log"
    if [[ $ENSEMBLE_KIND == java ]]; then
        # shellcheck disable=SC2086 # JAVA_HEAP is a list of flags
        java $JAVA_HEAP -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
            -Dorg.slf4j.simpleLogger.showDateTime=true \
            -cp "$ZK_JAVA_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain \
            "$dir/zoo.cfg" >>"$dir/server.log" 2>&1 &
    else
        RUST_LOG=info "$ZK_SERVER" "$dir/zoo.cfg" >>"$dir/server.log" 2>&1 &
    fi
    PID[$i]=$!
}

kill_member() {
    local i=$1
    kill -9 "${PID[$i]}" 2>/dev/null || true
    wait "${PID[$i]}" 2>/dev/null || true
    PID[$i]=
}

client_ports() { for i in $(seq 1 "$SIZE"); do printf '%s ' "${CPORT[$i]}"; done; }
connect_string() {
    local cs=
    for i in $(seq 1 "$SIZE"); do cs="$cs${cs:+,}127.0.0.1:${CPORT[$i]}"; done
    echo "$cs"
}

# leader_member: waits (120 s) for one leader with the rest following; prints its number.
leader_member() {
    local index
    # shellcheck disable=SC2046 # one argument per port
    index=$(fourlw leader 120 $(client_ports))
    echo $((index + 1))
}

start_ensemble() {
    for i in $(seq 1 "$SIZE"); do write_config "$i"; done
    for i in $(seq 1 "$SIZE"); do start_member "$i"; done
    for i in $(seq 1 "$SIZE"); do fourlw ready "${CPORT[$i]}" 120; done
    LEADER=$(leader_member)
    echo "== $ENSEMBLE_KIND ensemble up: leader is member $LEADER ($(connect_string)); logs in $WORK"
}

# bench_all OP IN_FLIGHT [zk-bench flags...]: one zk-bench per member in parallel; prints the
# per-member RESULT lines.
bench_all() {
    local op=$1 inflight=$2
    shift 2
    local pids=()
    for i in $(seq 1 "$SIZE"); do
        "$ZK_BENCH" --server "127.0.0.1:${CPORT[$i]}" --op "$op" --in-flight "$inflight" \
            --sessions "$SESSIONS" --value-size "$VALUE_SIZE" "$@" >"$WORK/bench-$i.txt" 2>&1 &
        pids+=($!)
    done
    local failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    if ((failed)); then
        cat "$WORK"/bench-*.txt >&2
        echo "zk-bench failed" >&2
        return 1
    fi
    grep -h '^RESULT' "$WORK"/bench-*.txt
}

phase_throughput() {
    echo "== throughput: warming up (mix, 3 s, every member)"
    bench_all mix 16 --duration 3 --warmup 0 >/dev/null
    for op in $OPS; do
        for inflight in $IN_FLIGHTS; do
            bench_all "$op" "$inflight" --duration "$DURATION" --warmup "$WARMUP" >"$WORK/case.txt"
            python3 - "$WORK/case.txt" "$ENSEMBLE_KIND" "$SIZE" "$SESSIONS" <<'PY' | tee -a "$RESULTS"
import re, sys
case, kind, size, sessions = sys.argv[1:5]
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in open(case) if l.startswith("RESULT")]
total = sum(float(r["ops_per_s"]) for r in rows)
p50 = max(float(r["p50_us"]) for r in rows)
p99 = max(float(r["p99_us"]) for r in rows)
errors = sum(int(r["errors"]) for r in rows)
print(f"RESULT phase=throughput kind={kind} op={rows[0]['op']} in_flight={rows[0]['in_flight']} "
      f"members={size} sessions_per_member={sessions} ops_per_s={total:.1f} p50_us_max={p50:.0f} "
      f"p99_us_max={p99:.0f} errors={errors} "
      f"per_member_ops_per_s={','.join(str(round(float(r['ops_per_s']))) for r in rows)}")
PY
        done
    done
}

phase_failover() {
    echo "== failover: $KILLS leader kills under $PROBE_WRITERS writers (failover_probe)"
    coproc PROBE_PROC { exec "$PROBE" --server "$(connect_string)" --writers "$PROBE_WRITERS" 2>"$WORK/probe.err"; }
    PROBE_PID=$PROBE_PROC_PID
    local probe_out=${PROBE_PROC[0]} probe_in=${PROBE_PROC[1]} line
    read -r -t 60 line <&"$probe_out" || {
        cat "$WORK/probe.err" >&2
        return 1
    }
    [[ $line == READY ]] || {
        echo "failover_probe said $line" >&2
        return 1
    }
    for k in $(seq 1 "$KILLS"); do
        local leader
        leader=$(leader_member)
        sleep 0.5 # some steady writes before the kill
        kill -9 "${PID[$leader]}"
        echo "mark $k" >&"$probe_in"
        local ms=
        while read -r -t 120 line <&"$probe_out"; do
            if [[ $line == "RECOVERED label=$k "* ]]; then
                ms=${line##*ms=}
                break
            fi
        done
        if [[ -z $ms ]]; then
            echo "no acknowledged write within 120 s of kill $k" >&2
            cat "$WORK/probe.err" >&2
            return 1
        fi
        wait "${PID[$leader]}" 2>/dev/null || true
        PID[$leader]=
        echo "RESULT phase=failover kind=$ENSEMBLE_KIND kill=$k killed_member=$leader tick_ms=$TICK_TIME ms=$ms" |
            tee -a "$RESULTS"
        start_member "$leader"
        fourlw ready "${CPORT[$leader]}" 120
    done
    echo quit >&"$probe_in"
    read -r -t 30 line <&"$probe_out" || line="SUMMARY (none)"
    wait "$PROBE_PID" 2>/dev/null || true
    PROBE_PID=
    echo "RESULT phase=failover-summary kind=$ENSEMBLE_KIND ${line#SUMMARY }" | tee -a "$RESULTS"
}

phase_snap() {
    echo "== snap: loading $NODES nodes of $VALUE_SIZE bytes through the leader"
    local leader follower
    leader=$(leader_member)
    "$ZK_BENCH" --server "127.0.0.1:${CPORT[$leader]}" --op get --nodes "$NODES" \
        --value-size "$VALUE_SIZE" --duration 1 --warmup 0 --keep >"$WORK/fill.txt"
    grep '^SETUP' "$WORK/fill.txt"
    leader=$(leader_member)
    follower=$((leader % SIZE + 1))
    local dir
    dir=$(member_dir "$follower")
    kill_member "$follower"
    find "$dir/data" -mindepth 1 -maxdepth 1 ! -name myid -exec rm -rf {} +
    local lines_before t0 seconds
    lines_before=$(wc -l <"$dir/server.log")
    t0=$(date +%s.%N)
    start_member "$follower"
    seconds=$(fourlw synced "$t0" 600 "${CPORT[$follower]}" "${CPORT[$leader]}")
    # The snapshot the follower wrote once it had the leader's state: the size of what came.
    local snap_bytes sync_kind
    snap_bytes=$(find "$dir/data/version-2" -name 'snapshot.*' -printf '%T@ %s\n' 2>/dev/null |
        sort -n | tail -1 | cut -d' ' -f2)
    sync_kind=$(tail -n +"$((lines_before + 1))" "$dir/server.log" |
        grep -o -m1 'Getting a \(snapshot\|diff\) from' | awk '{print $3}' || true)
    echo "RESULT phase=snap kind=$ENSEMBLE_KIND nodes=$NODES value_size=$VALUE_SIZE seconds=$seconds sync=${sync_kind:-unknown} follower_snapshot_bytes=${snap_bytes:-0}" |
        tee -a "$RESULTS"
}

start_ensemble
for phase in $PHASES; do
    case $phase in
    throughput) phase_throughput ;;
    failover) phase_failover ;;
    snap) phase_snap ;;
    *)
        echo "unknown phase $phase" >&2
        exit 2
        ;;
    esac
done

echo
echo "== $ENSEMBLE_KIND ensemble of $SIZE, forceSync=$FORCE_SYNC, tickTime=$TICK_TIME"
python3 - "$RESULTS" <<'PY'
import re, sys, statistics
rows = [dict(re.findall(r"(\S+?)=(\S+)", l)) for l in open(sys.argv[1]) if l.startswith("RESULT")]
tp = [r for r in rows if r["phase"] == "throughput"]
if tp:
    print(f"{'op':8}{'inflight':>9}{'ops/s':>11}{'p50 us':>9}{'p99 us':>9}  (sum over members; worst member's p50/p99)")
    for r in tp:
        print(f"{r['op']:8}{r['in_flight']:>9}{float(r['ops_per_s']):>11.0f}{r['p50_us_max']:>9}{r['p99_us_max']:>9}")
fo = [float(r["ms"]) for r in rows if r["phase"] == "failover"]
if fo:
    print(f"failover: {len(fo)} leader kills, kill -> first acknowledged write: "
          f"median {statistics.median(fo):.0f} ms, max {max(fo):.0f} ms, min {min(fo):.0f} ms")
for r in rows:
    if r["phase"] == "failover-summary":
        print(f"failover probe: {r.get('acks')} writes acknowledged, {r.get('errors')} failed, "
              f"longest gap {r.get('longest_gap_ms')} ms")
    if r["phase"] == "snap":
        print(f"snap sync: {r['nodes']} nodes, wiped follower start -> synced {r['seconds']} s "
              f"(sync {r['sync']}, the follower's snapshot {int(r['follower_snapshot_bytes']) / 1e6:.1f} MB)")
PY
echo "RESULT lines: $RESULTS"
