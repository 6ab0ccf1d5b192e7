# kazoo's SASL DIGEST-MD5 logins, both ways kazoo 2.8 offers: the legacy
# auth_data=[("sasl", "user:password")] and sasl_options. Argument: the connect string.
# Prints one line per step for tests/sasl.rs to compare between the Java server and ours.
import sys
import warnings
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import ACL, Id, Permissions

warnings.simplefilter("ignore", DeprecationWarning)
hosts = sys.argv[1]


def client(**kwargs):
    zk = KazooClient(hosts=hosts, timeout=10, connection_retry={"max_tries": 0}, **kwargs)
    zk.start(timeout=15)
    return zk


def options(user, password):
    return {"mechanism": "DIGEST-MD5", "username": user, "password": password}


def step(name, fn):
    try:
        print(name, "ok", fn(), flush=True)
    except Exception as e:  # the exception's type is what a user sees
        print(name, "error", type(e).__name__, flush=True)


legacy = client(auth_data=[("sasl", "alice:alicepw")])
step("legacy create", lambda: legacy.create("/kz", b"secret", acl=[ACL(Permissions.ALL, Id("sasl", "alice"))]))
step("legacy get", lambda: legacy.get("/kz")[0])
step("legacy acl", lambda: [(a.perms, a.id.scheme, a.id.id) for a in legacy.get_acls("/kz")[0]])
legacy.stop()

alice = client(sasl_options=options("alice", "alicepw"))
step("options get", lambda: alice.get("/kz")[0])
step("options set", lambda: alice.set("/kz", b"changed").version)
alice.stop()

bob = client(sasl_options=options("bob", "bobpw"))
step("bob get", lambda: bob.get("/kz")[0])
step("bob create under", lambda: bob.create("/kz/child", b""))
bob.stop()



def refused(**kwargs):
    """A login the server refuses. kazoo marks the connection live before its SASL exchange,
    so start() either returns and the next request fails with AuthFailedError, or, when the
    failure comes first, times out: a race inside kazoo, seen with either server. Both are
    "refused"; anything else is printed as it is."""
    zk = KazooClient(hosts=hosts, timeout=10, connection_retry={"max_tries": 0}, **kwargs)
    try:
        zk.start(timeout=4)
    except Exception as e:
        return "refused" if type(e).__name__ == "KazooTimeoutError" else "start " + type(e).__name__
    try:
        zk.exists("/")
        seen = "exists ok"
    except Exception as e:
        seen = "refused" if type(e).__name__ == "AuthFailedError" else "exists " + type(e).__name__
    zk.stop()
    return seen


step("wrong password", lambda: refused(sasl_options=options("alice", "wrong")))
step("unknown user", lambda: refused(auth_data=[("sasl", "mallory:pw")]))
