# One phase of the kazoo differential (tests/kazoo_differential.rs): the same seeded scenario runs
# against the Java server and ours, with the encodings kazoo really sends, and prints a transcript
# of everything a kazoo user sees: results, exceptions, children in the server's order, data,
# ACLs, Stats and watch events. The test restarts both servers between phases and compares the
# transcripts after renaming zxids and session ids (printed as Z(..) and S(..)) in order of first
# appearance.
#
# Arguments: <connect string> <phase: 1, 2 or 3> <seed>. Works under /kzd.
import random
import sys
import threading

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.states import Callback
from kazoo.security import ACL, Id, Permissions, make_digest_acl

HOSTS, PHASE, SEED = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CREATOR_ALL = [ACL(Permissions.ALL, Id('auth', ''))]
# Anyone may read and create; only the creator may delete children or change anything else.
READ_CREATE_OPEN = [ACL(Permissions.READ | Permissions.CREATE, Id('world', 'anyone')),
                    ACL(Permissions.ALL, Id('auth', ''))]
rng = random.Random(SEED * 1000 + PHASE)


def out(*parts):
    print(*parts, flush=True)


class Session:
    """A kazoo client whose watch events are recorded in arrival order."""

    def __init__(self, name, *auths):
        self.name = name
        self.events = []
        self.zk = KazooClient(hosts=HOSTS, timeout=10.0)
        self.zk.start(timeout=20)
        for scheme, cred in auths:
            self.zk.add_auth(scheme, cred)

    def watch(self, event):
        self.events.append('%s %s' % (event.type, event.path))

    def flush(self):
        """Prints the events the server sent before the answer to a sync: the sync's reply
        follows them on the connection, and a marker queued behind them on kazoo's one callback
        thread runs after every watch callback they caused."""
        self.zk.sync('/')
        done = threading.Event()
        self.zk.handler.dispatch_callback(Callback('watch', done.set, ()))
        if not done.wait(20):
            raise RuntimeError('kazoo callback thread stalled')
        for e in self.events:
            out('  event', self.name, e)
        self.events.clear()


def stat(s):
    return ('czxid=Z(%d) mzxid=Z(%d) pzxid=Z(%d) version=%d cversion=%d aversion=%d '
            'owner=S(%d) len=%d children=%d' % (
                s.czxid, s.mzxid, s.pzxid, s.version, s.cversion, s.aversion,
                s.ephemeralOwner, s.dataLength, s.numChildren))


def acl_text(acls):
    return [(a.perms, a.id.scheme, a.id.id) for a in acls]


def attempt(fn):
    try:
        return repr(fn())
    except KazooException as e:
        return type(e).__name__


def step(session, what, fn):
    out(session.name, what, attempt(fn))
    for s in sessions:
        s.flush()


def dump(session, path):
    """The subtree in the server's order: what a user listing it sees."""
    try:
        data, s = session.zk.get(path)
        acls, _ = session.zk.get_acls(path)
        kids = session.zk.get_children(path)
    except KazooException as e:
        out('dump', path, type(e).__name__)
        return
    out('dump', path, repr(data), stat(s), acl_text(acls), kids)
    for k in kids:
        dump(session, path.rstrip('/') + '/' + k)


# Names of mixed lengths and alphabets, and groups whose Java String hashes are equal
# ("Aa" and "BB" hash alike, so every word of them does), so buckets collide.
def random_name():
    kind = rng.randrange(10)
    if kind == 0:
        return ''.join(rng.choice(('Aa', 'BB')) for _ in range(rng.randrange(1, 6)))
    if kind == 1:
        return 'n%d' % rng.randrange(100000)
    if kind == 2:
        return ''.join(rng.choice('äöüßé中文ü') for _ in range(rng.randrange(1, 4)))
    alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.'
    name = ''.join(rng.choice(alphabet) for _ in range(rng.randrange(1, 16)))
    # kazoo itself refuses '.' and '..' (ValueError) before anything reaches a server.
    return name if name not in ('.', '..') else name + 'x'


# alice holds two digest identities (alice, then bob); bob one; anon none.
alice = Session('alice', ('digest', 'alice:secret'), ('digest', 'bob:pw'))
bob = Session('bob', ('digest', 'bob:pw'))
anon = Session('anon')
sessions = [alice, bob, anon]

if PHASE == 1:
    step(alice, 'create /kzd', lambda: alice.zk.create('/kzd', b'root', acl=READ_CREATE_OPEN))
    out('acl /kzd', acl_text(alice.zk.get_acls('/kzd')[0]))
    step(bob, 'create /kzd/b', lambda: bob.zk.create('/kzd/b', b'', acl=CREATOR_ALL))
    step(alice, 'create /kzd/many', lambda: alice.zk.create('/kzd/many', b''))
    step(anon, 'creator acl without auth',
         lambda: anon.zk.create('/kzd/anon', b'', acl=CREATOR_ALL))
    step(alice, 'digest acl', lambda: alice.zk.create(
        '/kzd/dig', b'', acl=[make_digest_acl('carol', 'pw', all=True),
                              ACL(Permissions.READ, Id('world', 'anyone'))]))

# Each phase adds names (some locked behind alice's creator ACL, some with children of their
# own), watched by anon, then removes some by hand and one whole subtree by anon's recursive
# delete, which stops at the first locked node in the server's children order.
parent = '/kzd/many'
step(anon, 'watch children', lambda: len(anon.zk.get_children(parent, watch=anon.watch)))
names = []
for i in range(400):
    name = random_name()
    owner = alice if rng.randrange(4) == 0 else anon
    acl = READ_CREATE_OPEN if owner is alice else None
    try:
        owner.zk.create(parent + '/' + name, name.encode(), acl=acl)
        names.append(name)
        if rng.randrange(8) == 0:
            for j in range(rng.randrange(1, 4)):
                owner.zk.create('%s/%s/c%d' % (parent, name, j), b'')
    except KazooException as e:
        out('create', name, type(e).__name__)
for s in sessions:
    s.flush()
kids = anon.zk.get_children(parent)
out('children', len(kids), kids)
for name in rng.sample(names, min(60, len(names))):
    out('delete', name, attempt(lambda: alice.zk.delete(parent + '/' + name, recursive=True)))
for s in sessions:
    s.flush()
out('children', anon.zk.get_children(parent, watch=anon.watch))
step(anon, 'recursive delete', lambda: anon.zk.delete(parent, recursive=True))
out('children', anon.zk.get_children(parent))
step(anon, 'exists', lambda: anon.zk.exists(parent, watch=anon.watch) is not None)

# A session's ephemerals: closing it deletes them in the order of a copy of its HashSet in
# Java's DataTree, which anon's watches see. The copy is sized for what is left, so it can
# order them otherwise than the set: 45 made and 12 deleted (the set grew to 64 bins), and
# exactly 12 (the set has 16 bins, its copy 32).
def closing_session(base, count, deletes):
    eph = Session('eph')
    step(anon, 'create ' + base, lambda: anon.zk.create(base, b''))
    made = []
    while len(made) < count:
        name = random_name()
        try:
            eph.zk.create(base + '/' + name, b'', ephemeral=True)
            made.append(name)
        except KazooException as e:
            out('create ephemeral', name, type(e).__name__)
    for name in rng.sample(made, deletes):
        eph.zk.delete(base + '/' + name)
        made.remove(name)
    for name in made:
        anon.zk.exists(base + '/' + name, watch=anon.watch)
    out('ephemerals', anon.zk.get_children(base, watch=anon.watch))
    eph.zk.stop()
    eph.zk.close()
    for s in sessions:
        s.flush()
    out('after close', anon.zk.get_children(base))


closing_session('/kzeph%d' % PHASE, 45, 12)
closing_session('/kzeph%d-twelve' % PHASE, 12, 0)

if PHASE == 3:
    step(alice, 'recursive delete by owner', lambda: alice.zk.delete('/kzd', recursive=True))

dump(anon, '/')
for s in sessions:
    s.zk.stop()
    s.zk.close()
