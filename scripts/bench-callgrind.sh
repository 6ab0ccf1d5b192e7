#!/usr/bin/env bash
# Instructions per request of a zk-server build, counted by callgrind: repeatable whatever else
# the machine does, so a few percent between two builds (or two settings) can be seen where the
# wall clock of a 2-core machine cannot.
#
#   scripts/bench-callgrind.sh <zk-server binary> [label]
#
# The server runs standalone under `valgrind --tool=callgrind` (forceSync=no, AdminServer off);
# zk-bench (release) loads it at $IN_FLIGHT in flight for $SHORT s and again, on a fresh server,
# for $LONG s. The difference of the two instruction totals divided by the difference of the
# ops is the cost of one more request, startup and setup cancelled out. One line per op:
#
#   RESULT label=<label> op=get ir_per_op=11138
#
# Environment: OPS ("get set"), IN_FLIGHT (64), SHORT (4), LONG (16), EXTRA_CFG (zoo.cfg lines
# added, e.g. the metricsProvider.* lines; `{dir}` stands for the run's own directory, e.g.
# `backup.target={dir}/archive`), SCRAPE (a URL curl fetches every second meanwhile).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:?usage: bench-callgrind.sh <zk-server binary> [label]}
LABEL=${2:-$(basename "$BIN")}
OPS=${OPS:-"get set"}
IN_FLIGHT=${IN_FLIGHT:-64}
SHORT=${SHORT:-4}
LONG=${LONG:-16}
EXTRA_CFG=${EXTRA_CFG:-}
SCRAPE=${SCRAPE:-}

(cd "$ROOT" && cargo build --release -q -p zk-tools --bin zk-bench -j2)
ZK_BENCH=$ROOT/target/release/zk-bench
JARS=${ZK_JARS_DIR:-/usr/share/java} # bench-lib.sh wants it (for Java; unused here)
# shellcheck source=bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

# run <op> <seconds> -> "<instructions> <ops>"
run() {
    local op=$1 seconds=$2 dir port pid scraper= result ir ops
    dir=$(mktemp -d /tmp/zk-callgrind-XXXXXX)
    port=$(free_port)
    cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
forceSync=no
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
${EXTRA_CFG//\{dir\}/$dir}
CFG
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
        "$BIN" "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    pid=$!
    # Under callgrind the server starts some fifty times slower.
    WAIT_READY_TRIES=1200 wait_ready "$port"
    if [[ -n $SCRAPE ]]; then
        (while sleep 1; do curl -s "$SCRAPE" >/dev/null || true; done) &
        scraper=$!
    fi
    result=$("$ZK_BENCH" --server "127.0.0.1:$port" --op "$op" --in-flight "$IN_FLIGHT" \
        --duration "$seconds" --warmup 0 | grep '^RESULT')
    if [[ -n $scraper ]]; then kill "$scraper" 2>/dev/null || true; fi
    kill -INT "$pid"
    wait "$pid" || true
    ir=$(callgrind_annotate "$dir/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    ops=$(sed -E 's/.* ops=([0-9]+) .*/\1/' <<<"$result")
    rm -rf "$dir"
    echo "$ir $ops"
}

for op in $OPS; do
    read -r ir_short ops_short < <(run "$op" "$SHORT")
    read -r ir_long ops_long < <(run "$op" "$LONG")
    echo "RESULT label=$LABEL op=$op ir_per_op=$(((ir_long - ir_short) / (ops_long - ops_short)))"
done
