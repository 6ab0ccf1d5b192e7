# kazoo writes an empty string as a null ustring (-1), so ACL(ALL, Id('auth', '')), the usual
# "creator gets everything" ACL, reaches the server with a null id. Java reads the null and never
# looks at an auth entry's id. Run by tests/real_clients.rs against our server and Java's, with
# the same expected transcript.
#
# Arguments: <connect string>. Works under /kzauth, which must not exist yet.
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import ACL, Id, Permissions

HOSTS = sys.argv[1]
AUTH_ALL = [ACL(Permissions.ALL, Id('auth', ''))]


def out(*parts):
    print(*parts, flush=True)


def client():
    zk = KazooClient(hosts=HOSTS, timeout=10.0)
    zk.start(timeout=20)
    return zk


def attempt(fn):
    try:
        return repr(fn())
    except KazooException as e:
        return type(e).__name__


def acls(zk, path):
    found, stat = zk.get_acls(path)
    return [(a.perms, a.id.scheme, a.id.id) for a in found], stat.aversion


alice = client()
alice.add_auth('digest', 'alice:secret')
anonymous = client()

out('create', attempt(lambda: alice.create('/kzauth', b'x', acl=AUTH_ALL)))
out('acl', acls(alice, '/kzauth'))
out('child', attempt(lambda: alice.create('/kzauth/c', b'', acl=AUTH_ALL)))
out('anonymous get', attempt(lambda: anonymous.get('/kzauth')[0]))
out('anonymous create', attempt(lambda: anonymous.create('/kzanon', b'', acl=AUTH_ALL)))
out('set_acls', attempt(lambda: alice.set_acls('/kzauth', AUTH_ALL, version=0).aversion))
out('acl', acls(alice, '/kzauth'))
out('delete', attempt(lambda: alice.delete('/kzauth', recursive=True)))
alice.stop()
anonymous.stop()
out('done')
