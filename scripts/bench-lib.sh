# Shared by the bench-*.sh scripts (sourced, not run): the Java ZooKeeper classpath, a free
# port, and stopping the server a script started.
#
# Needs: JARS (the directory with the Debian jars). Uses: SERVER_PID.

# The Java server's and client's classpath (ZooKeeper, jute, slf4j with the simple binding).
ZK_JAVA_CP=$JARS/zookeeper.jar:$JARS/zookeeper-jute.jar:$JARS/slf4j-api.jar:$JARS/slf4j-simple.jar

# free_port: a loopback port nothing listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SERVER_PID=
# stop_server: SIGTERM to the server of SERVER_PID, if any, and wait for it.
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

# wait_ready PORT: until the server on PORT answers ruok (WAIT_READY_TRIES x 0.1 s, default 200).
wait_ready() {
    local port=$1
    for _ in $(seq 1 "${WAIT_READY_TRIES:-200}"); do
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
