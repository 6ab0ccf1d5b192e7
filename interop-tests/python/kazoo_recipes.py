# kazoo (Debian's python3-kazoo) through basic operations, a Lock two clients contend for,
# DataWatch and ChildrenWatch, and transactions. Run by tests/real_clients.rs against our server
# and Java's, with the same expected transcript.
#
# Arguments: <connect string>. Works under /kz, which must not exist yet.
#
# Output: one line per step, nothing run-dependent in it. Every wait is bounded.
import queue
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, ZookeeperError

WAIT_S = 10.0
HOSTS = sys.argv[1]


def out(*parts):
    print(*parts, flush=True)


def client():
    zk = KazooClient(hosts=HOSTS, timeout=10.0)
    zk.start(timeout=20)
    return zk


def attempt(fn):
    """fn()'s value, or the name of the kazoo exception it raised."""
    try:
        return fn()
    except (KazooException, ZookeeperError) as e:
        return type(e).__name__


def stat(st):
    if st is None:
        return "None"
    return "v=%d cv=%d len=%d kids=%d" % (st.version, st.cversion, st.dataLength, st.numChildren)


def result(r):
    if isinstance(r, Exception):
        return type(r).__name__
    if hasattr(r, "version") and hasattr(r, "czxid"):
        return "stat(%s)" % stat(r)
    return repr(r)


def basics(zk, other):
    out("create", zk.create("/kz", b"root"))
    out("create ephemeral", zk.create("/kz/eph", b"e", ephemeral=True))
    out("create sequence", zk.create("/kz/seq-", b"s", sequence=True))
    out("create ephemeral sequence", zk.create("/kz/eseq-", b"", ephemeral=True, sequence=True))
    out("create makepath", zk.create("/kz/a/b/c", b"deep", makepath=True))
    out("create existing", attempt(lambda: zk.create("/kz/eph", b"")))
    out("create under ephemeral", attempt(lambda: zk.create("/kz/eph/kid", b"")))
    out("ensure_path", zk.ensure_path("/kz/a/b/c"), zk.ensure_path("/kz/made/by/ensure"))
    data, st = zk.get("/kz/eph")
    out("get /kz/eph", data, stat(st), "owner is self", st.ephemeralOwner == zk.client_id[0])
    out("get missing", attempt(lambda: zk.get("/kz/missing")))
    out("set version 0", stat(zk.set("/kz/eph", b"e2", version=0)))
    out("set version 0 again", attempt(lambda: zk.set("/kz/eph", b"x", version=0)))
    out("set any version", stat(zk.set("/kz/eph", b"e3")))
    out("exists", stat(zk.exists("/kz/eph")), "|", stat(zk.exists("/kz/missing")))
    out("get_children", sorted(zk.get_children("/kz")))
    kids, st = zk.get_children("/kz", include_data=True)
    out("get_children include_data", len(kids), stat(st))
    out("other sees ephemeral", other.exists("/kz/eseq-0000000002") is not None)
    out("delete version 3", attempt(lambda: zk.delete("/kz/seq-0000000001", version=3)))
    # delete's return value differs between kazoo releases (2.8 answers True, later None):
    # print what the server did, the node gone.
    zk.delete("/kz/seq-0000000001")
    out("delete", zk.exists("/kz/seq-0000000001"))
    out("delete again", attempt(lambda: zk.delete("/kz/seq-0000000001")))
    out("delete not empty", attempt(lambda: zk.delete("/kz/a")))
    out("delete recursive", zk.delete("/kz/a", recursive=True), zk.exists("/kz/a"))
    out("get_children after", sorted(zk.get_children("/kz")))


def lock(zk, other):
    lock_a = zk.Lock("/kz/lock", "client-a")
    lock_b = other.Lock("/kz/lock", "client-b")
    out("lock a acquire", lock_a.acquire(timeout=WAIT_S))
    out("lock b non-blocking acquire while held", lock_b.acquire(blocking=False))
    events = []
    holders = [1]
    times = {}

    def contender():
        events.append("b waiting")
        ok = lock_b.acquire(timeout=20)
        times["b_acquired"] = time.monotonic()
        holders[0] += 1
        events.append("b acquired %s holders=%d" % (ok, holders[0]))
        holders[0] -= 1
        lock_b.release()
        events.append("b released")

    t = threading.Thread(target=contender, daemon=True)
    t.start()
    deadline = time.monotonic() + WAIT_S
    while len(lock_a.contenders()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    out("lock contenders", lock_a.contenders())
    time.sleep(0.3)  # b stays blocked while a holds the lock
    events.append("a releasing")
    holders[0] -= 1
    times["a_released"] = time.monotonic()
    lock_a.release()
    t.join(30)
    out("lock events", events)
    out("lock b acquired after a released", times.get("b_acquired", 0) >= times["a_released"])
    out("lock nodes left", zk.get_children("/kz/lock"))


def watches(zk, other):
    data_events = queue.Queue()
    child_events = queue.Queue()

    @zk.DataWatch("/kz/w")
    def on_data(data, st, event=None):
        data_events.put("data=%r %s event=%s" % (data, stat(st), event.type if event else None))

    def next_data():
        try:
            return data_events.get(timeout=WAIT_S)
        except queue.Empty:
            return "no DataWatch call within %s s" % WAIT_S

    out("DataWatch initial", next_data())
    other.create("/kz/w", b"1")
    out("DataWatch", next_data())
    other.set("/kz/w", b"2")
    out("DataWatch", next_data())
    other.delete("/kz/w")
    out("DataWatch", next_data())
    other.create("/kz/w", b"3")
    out("DataWatch", next_data())

    @zk.ChildrenWatch("/kz/w")
    def on_children(children):
        child_events.put(sorted(children))

    def next_children():
        try:
            return child_events.get(timeout=WAIT_S)
        except queue.Empty:
            return "no ChildrenWatch call within %s s" % WAIT_S

    out("ChildrenWatch initial", next_children())
    other.create("/kz/w/a", b"")
    out("ChildrenWatch", next_children())
    other.create("/kz/w/b", b"", ephemeral=True)
    out("ChildrenWatch", next_children())
    other.set("/kz/w/a", b"changed")  # not a child change: no call
    other.delete("/kz/w/a")
    out("ChildrenWatch", next_children())


def transactions(zk):
    t = zk.transaction()
    t.create("/kz/t", b"t")
    t.create("/kz/t/e", b"", ephemeral=True)
    t.set_data("/kz/t", b"t2", version=0)
    t.check("/kz/t", 1)
    t.delete("/kz/t/e")
    t.create("/kz/t/s-", b"", sequence=True)
    out("transaction", [result(r) for r in t.commit()])
    t = zk.transaction()
    t.create("/kz/t2", b"")
    t.set_data("/kz/t", b"t3")
    t.check("/kz/t", 9)
    t.delete("/kz/t")
    out("failing transaction", [result(r) for r in t.commit()])
    data, st = zk.get("/kz/t")
    out("after failing transaction", zk.exists("/kz/t2"), data, stat(st))


def main():
    zk = client()
    other = client()
    try:
        out("connected")
        basics(zk, other)
        lock(zk, other)
        watches(zk, other)
        transactions(zk)
        zk.stop()
        out("stopped")
        out("ephemerals gone", other.exists("/kz/eph"), other.exists("/kz/eseq-0000000002"))
        out("children", sorted(other.get_children("/kz")))
    finally:
        zk.stop()
        zk.close()
        other.stop()
        other.close()
    out("done")


main()
