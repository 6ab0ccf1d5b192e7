// The plain Java client (org.apache.zookeeper.ZooKeeper 3.8) through every kind of request a
// real application makes: each create mode, versioned reads and writes, exists, getChildren2,
// delete, multi (a committed one and a failing one with its per-op results), digest auth with
// getACL/setACL, one-shot data/child/exist watches, a persistent recursive watch, getEphemerals,
// getAllChildrenNumber, whoAmI, sync and close. tests/real_clients.rs runs it against our server
// and Java's and compares the transcript with the same expected text.
//
// Arguments: <connect string>. Works under /jco, which must not exist yet.
//
// Output: one line per step, with no zxids, times or session ids in it: a Stat is printed as its
// versions, lengths and child count, and ephemeralOwner as `self` (this session), `0`,
// `container` (Long.MIN_VALUE) or `0x<hex>` (TTL nodes, whose owner encodes the TTL).
// Errors are printed as the KeeperException code name.
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class JavaClientOps {
    private static final List<ACL> OPEN = ZooDefs.Ids.OPEN_ACL_UNSAFE;
    private static final long EVENT_WAIT_S = 10;

    private static ZooKeeper zk;
    private static long session;

    interface Step {
        String run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        zk = connect(connect);
        ZooKeeper other = connect(connect);
        try {
            session = zk.getSessionId();
            out("connected timeout=" + zk.getSessionTimeout());
            creates();
            readsAndWrites();
            multis();
            acls(other);
            watches(other);
            sessionQueries();
            closing(other);
        } finally {
            zk.close();
            other.close();
        }
    }

    private static void creates() throws Exception {
        Stat st = new Stat();
        step("create persistent", () -> zk.create("/jco", b("root"), OPEN, CreateMode.PERSISTENT));
        step("create ephemeral", () -> zk.create("/jco/eph", b("e"), OPEN, CreateMode.EPHEMERAL, st)
                + " " + stat(st));
        step("create persistent_sequential",
                () -> zk.create("/jco/seq-", b("s"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
        step("create ephemeral_sequential", () -> zk.create("/jco/eseq-", b(""), OPEN,
                CreateMode.EPHEMERAL_SEQUENTIAL, st) + " " + stat(st));
        step("create container", () -> zk.create("/jco/cont", b("c"), OPEN, CreateMode.CONTAINER, st)
                + " " + stat(st));
        step("create persistent_with_ttl", () -> zk.create("/jco/ttl", b("t"), OPEN,
                CreateMode.PERSISTENT_WITH_TTL, st, 60000) + " " + stat(st));
        step("create persistent_sequential_with_ttl", () -> zk.create("/jco/tseq-", b("ts"), OPEN,
                CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, st, 5000) + " " + stat(st));
        step("create existing", () -> zk.create("/jco/eph", b(""), OPEN, CreateMode.PERSISTENT));
        step("create under ephemeral",
                () -> zk.create("/jco/eph/child", b(""), OPEN, CreateMode.PERSISTENT));
        step("create without parent",
                () -> zk.create("/jco/none/child", b(""), OPEN, CreateMode.PERSISTENT));
        step("create ttl 0", () -> zk.create("/jco/ttl0", b(""), OPEN,
                CreateMode.PERSISTENT_WITH_TTL, st, 0));
    }

    private static void readsAndWrites() throws Exception {
        Stat st = new Stat();
        step("getData /jco", () -> s(zk.getData("/jco", false, st)) + " " + stat(st));
        step("setData /jco version 0", () -> stat(zk.setData("/jco", b("root2"), 0)));
        step("setData /jco version 0 again", () -> stat(zk.setData("/jco", b("x"), 0)));
        step("setData /jco version -1", () -> stat(zk.setData("/jco", b("root3"), -1)));
        step("getData /jco", () -> s(zk.getData("/jco", false, st)) + " " + stat(st));
        step("getData missing", () -> s(zk.getData("/jco/missing", false, st)));
        step("exists /jco/eph", () -> stat(zk.exists("/jco/eph", false)));
        step("exists missing", () -> String.valueOf(zk.exists("/jco/missing", false)));
        step("getChildren2 /jco", () -> {
            List<String> kids = zk.getChildren("/jco", false, st);
            Collections.sort(kids);
            return kids + " " + stat(st);
        });
        step("getChildren missing", () -> String.valueOf(zk.getChildren("/jco/missing", false)));
        step("delete /jco/seq-0000000001 version 5", () -> {
            zk.delete("/jco/seq-0000000001", 5);
            return "ok";
        });
        step("delete /jco/seq-0000000001 version 0", () -> {
            zk.delete("/jco/seq-0000000001", 0);
            return "ok";
        });
        step("delete /jco/seq-0000000001 again", () -> {
            zk.delete("/jco/seq-0000000001", -1);
            return "ok";
        });
        step("delete /jco", () -> {
            zk.delete("/jco", -1);
            return "ok";
        });
        step("getData /jco after delete", () -> s(zk.getData("/jco", false, st)) + " " + stat(st));
    }

    private static void multis() throws Exception {
        step("multi", () -> results(zk.multi(Arrays.asList(
                Op.create("/jco/m", b("m"), OPEN, CreateMode.PERSISTENT),
                Op.create("/jco/m/c", b("c"), OPEN, CreateMode.EPHEMERAL),
                Op.setData("/jco/m", b("m2"), 0),
                Op.check("/jco/m", 1),
                Op.delete("/jco/m/c", 0),
                Op.create("/jco/m/s-", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL)))));
        step("getData /jco/m", () -> {
            Stat st = new Stat();
            return s(zk.getData("/jco/m", false, st)) + " " + stat(st);
        });
        try {
            zk.multi(Arrays.asList(
                    Op.create("/jco/m2", b(""), OPEN, CreateMode.PERSISTENT),
                    Op.setData("/jco/m", b("m3"), -1),
                    Op.check("/jco/m", 7),
                    Op.delete("/jco/m", -1)));
            out("failing multi: unexpected success");
        } catch (KeeperException e) {
            out("failing multi: " + e.code() + " path=" + e.getPath() + " results="
                    + results(e.getResults()));
        }
        step("exists /jco/m2 after failed multi", () -> String.valueOf(zk.exists("/jco/m2", false)));
        step("getData /jco/m after failed multi", () -> {
            Stat st = new Stat();
            return s(zk.getData("/jco/m", false, st)) + " " + stat(st);
        });
    }

    private static void acls(ZooKeeper other) throws Exception {
        zk.addAuthInfo("digest", b("alice:secret"));
        String digest = DigestAuthenticationProvider.generateDigest("alice:secret");
        out("digest alice:secret = " + digest);
        step("create /jco/secure creator_all",
                () -> zk.create("/jco/secure", b("s"), ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
        Stat st = new Stat();
        step("getACL /jco/secure", () -> acl(zk.getACL("/jco/secure", st)) + " " + stat(st));
        step("other getData /jco/secure", () -> s(other.getData("/jco/secure", false, null)));
        step("other getACL /jco/secure", () -> acl(other.getACL("/jco/secure", st)));
        List<ACL> readable = new ArrayList<>();
        readable.add(new ACL(ZooDefs.Perms.READ, ZooDefs.Ids.ANYONE_ID_UNSAFE));
        readable.add(new ACL(ZooDefs.Perms.ALL, new Id("digest", digest)));
        step("other setACL /jco/secure", () -> stat(other.setACL("/jco/secure", readable, -1)));
        step("setACL /jco/secure version 3", () -> stat(zk.setACL("/jco/secure", readable, 3)));
        step("setACL /jco/secure version 0", () -> stat(zk.setACL("/jco/secure", readable, 0)));
        step("getACL /jco/secure", () -> acl(zk.getACL("/jco/secure", st)) + " " + stat(st));
        step("other getData /jco/secure", () -> s(other.getData("/jco/secure", false, null)));
        step("other setData /jco/secure", () -> stat(other.setData("/jco/secure", b("o"), -1)));
        step("setData /jco/secure", () -> stat(zk.setData("/jco/secure", b("a"), -1)));
        step("create /jco/secure/kid (needs CREATE)", () -> zk.create("/jco/secure/kid", b(""),
                ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
        step("other create /jco/secure/kid2",
                () -> other.create("/jco/secure/kid2", b(""), OPEN, CreateMode.PERSISTENT));
        step("other create creator_all without auth",
                () -> other.create("/jco/noauth", b(""), ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
        step("whoAmI", () -> whoAmI(zk));
        step("other whoAmI", () -> whoAmI(other));
    }

    private static void watches(ZooKeeper other) throws Exception {
        BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
        Watcher w = q::add;
        step("getData /jco/eph with watch", () -> s(zk.getData("/jco/eph", w, null)));
        step("getChildren /jco/cont with watch", () -> String.valueOf(zk.getChildren("/jco/cont", w)));
        step("exists /jco/later with watch", () -> String.valueOf(zk.exists("/jco/later", w)));
        other.setData("/jco/eph", b("e2"), -1);
        step("data watch", () -> event(q));
        other.create("/jco/cont/kid", b(""), OPEN, CreateMode.PERSISTENT);
        step("child watch", () -> event(q));
        other.create("/jco/later", b(""), OPEN, CreateMode.PERSISTENT);
        step("exist watch", () -> event(q));
        // One-shot: these fire nothing more.
        other.setData("/jco/eph", b("e3"), -1);
        other.create("/jco/cont/kid2", b(""), OPEN, CreateMode.PERSISTENT);
        other.delete("/jco/later", -1);
        // A sync on the same connection orders the check after the writes' notifications.
        sync(zk, "/jco");
        step("no more one-shot events", () -> String.valueOf(q.poll()));

        BlockingQueue<WatchedEvent> rq = new LinkedBlockingQueue<>();
        step("create /jco/rec", () -> zk.create("/jco/rec", b(""), OPEN, CreateMode.PERSISTENT));
        step("addWatch /jco/rec persistent_recursive", () -> {
            zk.addWatch("/jco/rec", rq::add, AddWatchMode.PERSISTENT_RECURSIVE);
            return "ok";
        });
        other.create("/jco/rec/a", b(""), OPEN, CreateMode.PERSISTENT);
        other.create("/jco/rec/a/b", b(""), OPEN, CreateMode.PERSISTENT);
        other.setData("/jco/rec/a", b("x"), -1);
        other.delete("/jco/rec/a/b", -1);
        other.setData("/jco/rec", b("y"), -1);
        other.setData("/jco/eph", b("e4"), -1); // outside the watched tree
        for (int i = 0; i < 5; i++) {
            step("recursive watch", () -> event(rq));
        }
        sync(zk, "/jco");
        step("no more recursive events", () -> String.valueOf(rq.poll()));
        step("addWatch /jco/cont persistent", () -> {
            zk.addWatch("/jco/cont", rq::add, AddWatchMode.PERSISTENT);
            return "ok";
        });
        other.create("/jco/cont/kid3", b(""), OPEN, CreateMode.PERSISTENT);
        other.setData("/jco/cont", b("c2"), -1);
        other.setData("/jco/cont", b("c3"), -1);
        for (int i = 0; i < 3; i++) {
            step("persistent watch", () -> event(rq));
        }
    }

    private static void sessionQueries() throws Exception {
        step("getEphemerals", () -> sorted(zk.getEphemerals()));
        step("getEphemerals /jco/e", () -> sorted(zk.getEphemerals("/jco/e")));
        step("getEphemerals /nothing", () -> sorted(zk.getEphemerals("/nothing")));
        step("getAllChildrenNumber /jco", () -> String.valueOf(zk.getAllChildrenNumber("/jco")));
        step("getAllChildrenNumber /jco/cont", () -> String.valueOf(zk.getAllChildrenNumber("/jco/cont")));
        step("getAllChildrenNumber missing", () -> String.valueOf(zk.getAllChildrenNumber("/jco/missing")));
        step("sync /jco", () -> sync(zk, "/jco"));
        step("sync missing", () -> sync(zk, "/jco/missing"));
    }

    private static void closing(ZooKeeper other) throws Exception {
        zk.close();
        out("closed");
        step("other exists /jco/eph", () -> String.valueOf(other.exists("/jco/eph", false)));
        step("other getEphemerals", () -> sorted(other.getEphemerals()));
        step("other getChildren /jco", () -> sorted(other.getChildren("/jco", false)));
    }

    // --- helpers ---

    private static ZooKeeper connect(String connect) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper z = new ZooKeeper(connect, 10000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(20, TimeUnit.SECONDS)) {
            z.close();
            throw new IllegalStateException("not connected within 20 s");
        }
        return z;
    }

    private static void step(String name, Step body) {
        String result;
        try {
            result = body.run();
        } catch (KeeperException e) {
            result = e.code().toString();
        } catch (IllegalArgumentException e) {
            result = "local:IllegalArgumentException";
        } catch (Exception e) {
            result = "exception:" + e;
        }
        out(name + ": " + result);
    }

    private static void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String s(byte[] data) {
        return data == null ? "null" : "'" + new String(data, StandardCharsets.UTF_8) + "'";
    }

    private static String owner(long eo) {
        if (eo == 0) {
            return "0";
        }
        if (eo == session) {
            return "self";
        }
        if (eo == Long.MIN_VALUE) {
            return "container";
        }
        return String.format("0x%x", eo);
    }

    private static String stat(Stat st) {
        if (st == null) {
            return "null";
        }
        return "v=" + st.getVersion() + " cv=" + st.getCversion() + " av=" + st.getAversion()
                + " len=" + st.getDataLength() + " kids=" + st.getNumChildren()
                + " owner=" + owner(st.getEphemeralOwner())
                + (st.getCzxid() > 0 && st.getMzxid() >= st.getCzxid() && st.getPzxid() >= st.getCzxid()
                        && st.getCtime() > 0 && st.getMtime() >= st.getCtime() ? "" : " BAD-ZXIDS-OR-TIMES");
    }

    private static String acl(List<ACL> acl) {
        List<String> parts = new ArrayList<>();
        for (ACL a : acl) {
            parts.add(a.getId().getScheme() + ":" + a.getId().getId() + "=" + a.getPerms());
        }
        return parts.toString();
    }

    private static String results(List<OpResult> results) {
        List<String> parts = new ArrayList<>();
        for (OpResult r : results) {
            if (r instanceof OpResult.CreateResult) {
                OpResult.CreateResult c = (OpResult.CreateResult) r;
                parts.add("create " + c.getPath() + (c.getStat() == null ? "" : " " + stat(c.getStat())));
            } else if (r instanceof OpResult.SetDataResult) {
                parts.add("setData " + stat(((OpResult.SetDataResult) r).getStat()));
            } else if (r instanceof OpResult.CheckResult) {
                parts.add("check");
            } else if (r instanceof OpResult.DeleteResult) {
                parts.add("delete");
            } else if (r instanceof OpResult.ErrorResult) {
                parts.add("error " + KeeperException.Code.get(((OpResult.ErrorResult) r).getErr()));
            } else {
                parts.add(r.getClass().getSimpleName() + " type " + r.getType());
            }
        }
        return parts.toString();
    }

    private static String event(BlockingQueue<WatchedEvent> q) throws InterruptedException {
        WatchedEvent e = q.poll(EVENT_WAIT_S, TimeUnit.SECONDS);
        if (e == null) {
            return "no event within " + EVENT_WAIT_S + " s";
        }
        return e.getType() + " " + e.getPath() + " " + e.getState();
    }

    private static String sorted(List<String> list) {
        List<String> copy = new ArrayList<>(list);
        Collections.sort(copy);
        return copy.toString();
    }

    private static String whoAmI(ZooKeeper z) throws Exception {
        List<String> parts = new ArrayList<>();
        for (ClientInfo info : z.whoAmI()) {
            parts.add(info.getAuthScheme() + ":" + info.getUser());
        }
        // Java keeps a connection's ids in a hash set: the order is incidental.
        Collections.sort(parts);
        return parts.toString();
    }

    private static String sync(ZooKeeper z, String path) throws Exception {
        CompletableFuture<String> done = new CompletableFuture<>();
        z.sync(path, (rc, p, ctx) -> done.complete(KeeperException.Code.get(rc) + " " + p), null);
        return done.get(EVENT_WAIT_S, TimeUnit.SECONDS);
    }
}
