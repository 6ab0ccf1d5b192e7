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
# both servers), TRANSPORTS ("plain"; "plain tls" also measures TLS: zk-bench connects to a
# secureClientPort with a client certificate, both servers with the same PEM stores made
# here by openssl, Java with its NettyServerCnxnFactory), BASE_SERVER (a zk-server binary of
# an earlier commit, measured too on the plain port as "zk-rs-base", to show a regression in
# the same run), KINDS ("java zk-rs"; also "zk-rs-prom": this zk-server with Prometheus'
# /metrics on and scraped every second during the run, to measure what metrics cost;
# "zk-rs-archive": archiving to a directory with the default backup.maxLagMs=1000;
# "zk-rs-archive-sync": the same with backup.maxLagMs=0, replies waiting for the archive),
# ZK_JARS_DIR (/usr/share/java), OUT (target/bench-server).
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
TRANSPORTS=${TRANSPORTS:-plain}
KINDS=${KINDS:-"java zk-rs"}
BASE_SERVER=${BASE_SERVER:-}
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
SCRAPER_PID=
stop_scraper() {
    if [[ -n $SCRAPER_PID ]]; then
        kill "$SCRAPER_PID" 2>/dev/null || true
        wait "$SCRAPER_PID" 2>/dev/null || true
        SCRAPER_PID=
    fi
}
trap 'stop_scraper; stop_server; rm -rf "$WORK"' EXIT
# Netty (the Java server's TLS factory) needs the codec and resolver jars its manifest omits.
ZK_JAVA_CP=$ZK_JAVA_CP:$JARS/netty-codec.jar:$JARS/netty-resolver.jar

if [[ " $TRANSPORTS " == *" tls "* ]]; then
    # A throwaway CA, a server certificate for 127.0.0.1 and a client one, as PEM key stores.
    PKI=$WORK/pki
    mkdir -p "$PKI"
    (
        cd "$PKI"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
            -subj "/CN=bench CA" 2>/dev/null
        echo "subjectAltName=IP:127.0.0.1,DNS:localhost" >san.ext
        for name in server client; do
            openssl req -newkey rsa:2048 -nodes -keyout $name.key -out $name.csr \
                -subj "/CN=$name" 2>/dev/null
            openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -out $name.crt -days 2 -extfile san.ext 2>/dev/null
            openssl pkcs8 -topk8 -nocrypt -in $name.key -out $name.pk8
            cat $name.pk8 $name.crt >$name.pem
        done
    )
    TLS_FLAGS=(-Dzookeeper.client.secure=true "-Dzookeeper.ssl.trustStore.location=$PKI/ca.pem"
        "-Dzookeeper.ssl.keyStore.location=$PKI/client.pem")
fi

# start_server java|zk-rs plain|tls -> sets SERVER_PID, PORT and BENCH_PORT (the secure port
# with tls)
start_server() {
    local kind=$1 transport=$2
    PORT=$(free_port)
    BENCH_PORT=$PORT
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
    if [[ $transport == tls ]]; then
        BENCH_PORT=$(free_port)
        cat >>"$dir/zoo.cfg" <<CFG
secureClientPort=$BENCH_PORT
secureClientPortAddress=127.0.0.1
serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
ssl.keyStore.location=$PKI/server.pem
ssl.trustStore.location=$PKI/ca.pem
CFG
    fi
    local metrics_port=
    if [[ $kind == zk-rs-prom ]]; then
        metrics_port=$(free_port)
        cat >>"$dir/zoo.cfg" <<CFG
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
metricsProvider.httpHost=127.0.0.1
metricsProvider.httpPort=$metrics_port
CFG
    fi
    if [[ $kind == zk-rs-archive ]]; then
        echo "backup.target=$dir/archive" >>"$dir/zoo.cfg"
    elif [[ $kind == zk-rs-archive-sync ]]; then
        printf 'backup.target=%s\nbackup.maxLagMs=0\n' "$dir/archive" >>"$dir/zoo.cfg"
    fi
    if [[ $kind == java ]]; then
        java -Xms512m -Xmx1g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
            -cp "$ZK_JAVA_CP" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    elif [[ $kind == zk-rs-base ]]; then
        RUST_LOG=warn "$BASE_SERVER" "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    else
        RUST_LOG=warn "$ZK_SERVER" "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    fi
    SERVER_PID=$!
    wait_ready "$PORT"
    if [[ -n $metrics_port ]]; then
        (while sleep 1; do curl -s "http://127.0.0.1:$metrics_port/metrics" >/dev/null || true; done) &
        SCRAPER_PID=$!
    fi
}

run_case() {
    local kind=$1 op=$2 inflight=$3 transport=$4
    start_server "$kind" "$transport"
    local flags=()
    if [[ $transport == tls ]]; then flags=("${TLS_FLAGS[@]}"); fi
    # Unrecorded load first, so the Java server's JIT is warm.
    "$ZK_BENCH" --server "127.0.0.1:$BENCH_PORT" "${flags[@]}" --op mix --in-flight 16 \
        --duration 3 --warmup 0 >/dev/null
    local line
    line=$("$ZK_BENCH" --server "127.0.0.1:$BENCH_PORT" "${flags[@]}" --op "$op" \
        --in-flight "$inflight" --sessions "$SESSIONS" --value-size "$VALUE_SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" | grep '^RESULT')
    echo "$line server=$kind transport=$transport" | tee -a "$RESULTS"
    stop_scraper
    stop_server
}

for round in $(seq 1 "$ROUNDS"); do
    for op in $OPS; do
        for inflight in $IN_FLIGHTS; do
            echo "== round $round: op=$op in_flight=$inflight"
            # Alternate who goes first from round to round.
            if ((round % 2 == 1)); then order=$KINDS; else order=$(echo "$KINDS" | tr ' ' '\n' | tac | xargs); fi
            for transport in $TRANSPORTS; do
                kinds=$order
                if [[ -n $BASE_SERVER && $transport == plain ]]; then kinds="$order zk-rs-base"; fi
                for kind in $kinds; do run_case "$kind" "$op" "$inflight" "$transport"; done
            done
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
    rows[(f["op"], int(f["in_flight"]), f["server"], f.get("transport", "plain"))].append(f)
print(f"{'op':8}{'inflight':>9}{'server':>20}{'transport':>10}{'ops/s':>11}{'p50':>8}{'p99':>8}{'p999':>8}")
for (op, inflight, server, transport), fs in sorted(rows.items()):
    med = lambda k: statistics.median(float(x[k]) for x in fs)
    print(f"{op:8}{inflight:>9}{server:>20}{transport:>10}{med('ops_per_s'):>11.0f}{med('p50_us'):>8.0f}{med('p99_us'):>8.0f}{med('p999_us'):>8.0f}")
PY
