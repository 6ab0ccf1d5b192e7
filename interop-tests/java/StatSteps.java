// Runs a fixed script of ZooKeeper operations under a root path with the Java client and prints
// one line per step (and per read after it) with what came back: paths, Stat fields, data, ACLs,
// children and error codes. tests/client_parity.rs runs the same script with zk-client under
// another root on the same server and compares the two transcripts line by line.
//
// Arguments: <connect string> <root path> (the root must not exist yet).
//
// Output conventions (mirrored exactly by the Rust side):
// - paths are printed relative to the root, which is written `R` (`/java/p` -> `R/p`);
// - zxids are printed raw as `#<decimal>`; the comparison rewrites them relative to the first
//   zxid of the transcript;
// - `t=ok` when ctime > 0, ctime <= mtime and both fall within this run's time window;
// - `eo=self` for this session's ephemerals, `0`, or `other`;
// - data is printed as a quoted string, and null data as `null` (the Java client returns null
//   for null data; zk-client returns empty bytes: the comparison treats the two as equal);
// - errors are `err=<NAME>(<code>)`; client-side rejections (IllegalArgumentException) are
//   `err=local:IllegalArgumentException`.
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

public class StatSteps {
    // Slack around the run's window for ctime/mtime (same machine, same clock).
    private static final long TIME_SLACK_MS = 2000;
    private static final long TTL_MS = 3_600_000;

    private static ZooKeeper zk;
    private static String root;
    private static long windowStart;

    interface Body {
        String run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        root = args[1];
        windowStart = System.currentTimeMillis() - TIME_SLACK_MS;
        CountDownLatch connected = new CountDownLatch(1);
        zk = new ZooKeeper(connect, 10000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        try {
            if (!connected.await(20, TimeUnit.SECONDS)) {
                throw new IllegalStateException("not connected within 20 s");
            }
            script();
        } finally {
            zk.close();
        }
    }

    private static void script() throws Exception {
        final String R = root;
        List<ACL> all = ZooDefs.Ids.OPEN_ACL_UNSAFE;
        List<ACL> readAdmin = acl(ZooDefs.Perms.READ | ZooDefs.Perms.ADMIN);
        List<ACL> readOnly = acl(ZooDefs.Perms.READ);

        step("S01 create R persistent", () -> create(R, "root", all, CreateMode.PERSISTENT, -1));
        inspect(R);
        step("S02 create R/p persistent", () -> create(R + "/p", "p1", all, CreateMode.PERSISTENT, -1));
        inspect(R + "/p");
        inspect(R);
        step("S03 create R/e ephemeral", () -> create(R + "/e", "e", all, CreateMode.EPHEMERAL, -1));
        inspect(R + "/e");
        String[] seq = new String[1];
        step("S04 create R/s- persistent_sequential", () -> {
            Stat stat = new Stat();
            seq[0] = zk.create(R + "/s-", bytes("s"), all, CreateMode.PERSISTENT_SEQUENTIAL, stat);
            return "path=" + rel(seq[0]) + " " + stat(stat);
        });
        inspect(seq[0]);
        inspect(R);
        String[] eseq = new String[1];
        step("S05 create R/es- ephemeral_sequential", () -> {
            Stat stat = new Stat();
            eseq[0] = zk.create(R + "/es-", bytes("es"), all, CreateMode.EPHEMERAL_SEQUENTIAL, stat);
            return "path=" + rel(eseq[0]) + " " + stat(stat);
        });
        inspect(eseq[0]);
        step("S06 create R/c container", () -> create(R + "/c", "c", all, CreateMode.CONTAINER, -1));
        inspect(R + "/c");
        step("S07 create R/t persistent_with_ttl", () -> create(R + "/t", "t", all, CreateMode.PERSISTENT_WITH_TTL, TTL_MS));
        inspect(R + "/t");
        String[] tseq = new String[1];
        step("S08 create R/ts- persistent_sequential_with_ttl", () -> {
            Stat stat = new Stat();
            tseq[0] = zk.create(R + "/ts-", bytes("ts"), all, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, stat, TTL_MS);
            return "path=" + rel(tseq[0]) + " " + stat(stat);
        });
        inspect(tseq[0]);
        inspect(R);
        step("S09 create R/n persistent null-data", () -> create(R + "/n", null, all, CreateMode.PERSISTENT, -1));
        inspect(R + "/n");
        step("S10 create R/c/k1 persistent", () -> create(R + "/c/k1", "k1", all, CreateMode.PERSISTENT, -1));
        step("S11 create R/c/k2 ephemeral", () -> create(R + "/c/k2", "k2", all, CreateMode.EPHEMERAL, -1));
        inspect(R + "/c");
        String[] x = new String[2];
        for (int i = 0; i < 2; i++) {
            final int n = i;
            step("S12 create R/p/x- persistent_sequential (" + n + ")", () -> {
                Stat stat = new Stat();
                x[n] = zk.create(R + "/p/x-", bytes("x" + n), all, CreateMode.PERSISTENT_SEQUENTIAL, stat);
                return "path=" + rel(x[n]) + " " + stat(stat);
            });
        }
        inspect(R + "/p");

        step("S14 setData R/p v0", () -> stat(zk.setData(R + "/p", bytes("p2"), 0)));
        inspect(R + "/p");
        step("S15 setData R/p any", () -> stat(zk.setData(R + "/p", bytes("p3"), -1)));
        step("S16 setData R/p v7", () -> stat(zk.setData(R + "/p", bytes("bad"), 7)));
        inspect(R + "/p");
        step("S17 setData R/missing", () -> stat(zk.setData(R + "/missing", bytes(""), -1)));
        step("S18 setData R/n null-data v0", () -> stat(zk.setData(R + "/n", null, 0)));
        inspect(R + "/n");
        step("S19 setData R/t any", () -> stat(zk.setData(R + "/t", bytes("t2"), -1)));
        inspect(R + "/t");

        step("S20 delete R/p/x-0 v0", () -> delete(x[0], 0));
        inspect(R + "/p");
        step("S21 delete R/p/x-1 v5", () -> delete(x[1], 5));
        step("S22 delete R/p any", () -> delete(R + "/p", -1));
        step("S23 delete R/c/k1 any", () -> delete(R + "/c/k1", -1));
        step("S24 delete R/c/k2 v0", () -> delete(R + "/c/k2", 0));
        inspect(R + "/c");
        step("S25 delete R/missing", () -> delete(R + "/missing", -1));
        step("S26 delete R/s-N v0", () -> delete(seq[0], 0));
        inspect(R);

        step("S27 setACL R/p all v0", () -> stat(zk.setACL(R + "/p", all, 0)));
        inspect(R + "/p");
        step("S28 setACL R/p all v0 again", () -> stat(zk.setACL(R + "/p", all, 0)));
        step("S29 setACL R/p read+admin v1", () -> stat(zk.setACL(R + "/p", readAdmin, 1)));
        step("S30 setData R/p without write", () -> stat(zk.setData(R + "/p", bytes("x"), -1)));
        step("S31 setACL R/p read v2", () -> stat(zk.setACL(R + "/p", readOnly, 2)));
        step("S32 setACL R/p all v3 without admin", () -> stat(zk.setACL(R + "/p", all, 3)));
        inspect(R + "/p");
        step("S33 setACL R/t empty", () -> stat(zk.setACL(R + "/t", new ArrayList<>(), -1)));
        step("S34 setACL R/missing", () -> stat(zk.setACL(R + "/missing", all, -1)));

        step("S35 multi ok", () -> multi(Arrays.asList(
                Op.create(R + "/m", bytes("1"), all, CreateMode.PERSISTENT),
                Op.setData(R + "/m", bytes("2"), 0),
                Op.check(R + "/m", 1),
                Op.create(R + "/mc", bytes("mc"), all, CreateMode.CONTAINER),
                Op.create(R + "/ms-", bytes("ms"), all, CreateMode.PERSISTENT_SEQUENTIAL),
                Op.create(R + "/mt", bytes("mt"), all, CreateMode.PERSISTENT_WITH_TTL, TTL_MS),
                Op.delete(R + "/t", 1),
                Op.create(R + "/me", bytes("me"), all, CreateMode.EPHEMERAL))));
        inspect(R + "/m");
        inspect(R + "/mc");
        inspect(R + "/mt");
        inspect(R + "/me");
        inspect(R);
        step("S36 multi failing at 1", () -> multi(Arrays.asList(
                Op.create(R + "/m2", bytes(""), all, CreateMode.PERSISTENT),
                Op.delete(R + "/missing", -1),
                Op.setData(R + "/m", bytes("x"), -1))));
        inspect(R + "/m2");
        inspect(R + "/m");
        step("S37 multi failing at 0", () -> multi(Arrays.asList(
                Op.check(R + "/m", 0),
                Op.create(R + "/m3", bytes(""), all, CreateMode.PERSISTENT))));
        inspect(R);

        step("S38 create R exists", () -> create(R, "", all, CreateMode.PERSISTENT, -1));
        step("S39 create R/nope/x", () -> create(R + "/nope/x", "", all, CreateMode.PERSISTENT, -1));
        step("S40 create R/e/kid", () -> create(R + "/e/kid", "", all, CreateMode.PERSISTENT, -1));
        step("S41 create R/aa creator_all unauthenticated", () -> create(R + "/aa", "", ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT, -1));
        step("S42 create R/ea empty acl", () -> create(R + "/ea", "", new ArrayList<>(), CreateMode.PERSISTENT, -1));
        step("S43 create R/p/kid without create", () -> create(R + "/p/kid", "", all, CreateMode.PERSISTENT, -1));
        step("S44a create R/dup", () -> create(R + "/dup", "d", all, CreateMode.PERSISTENT, -1));
        step("S44b create R/dup again", () -> create(R + "/dup", "d", all, CreateMode.PERSISTENT, -1));

        inspect(R + "/missing");
        inspect(R + "/e");
        step("S45 getEphemerals R", () -> {
            List<String> eph = new ArrayList<>();
            for (String p : zk.getEphemerals(R)) {
                eph.add(rel(p));
            }
            Collections.sort(eph);
            return "ephemerals=" + eph;
        });
        step("S46 getAllChildrenNumber R", () -> "count=" + zk.getAllChildrenNumber(R));
        inspect(R);
        // Anchors absolute values: the Rust test reads this node with zk-client afterwards and
        // expects exactly these raw numbers.
        step("RAW R/m", () -> {
            Stat s = new Stat();
            zk.getData(R + "/m", false, s);
            return s.getCzxid() + "," + s.getMzxid() + "," + s.getCtime() + "," + s.getMtime() + ","
                    + s.getVersion() + "," + s.getCversion() + "," + s.getAversion() + ","
                    + s.getEphemeralOwner() + "," + s.getDataLength() + "," + s.getNumChildren()
                    + "," + s.getPzxid();
        });
        // Last, so that a difference in whether it reaches the server (and takes a zxid) does
        // not shift the zxids of other steps.
        step("S99 create R/t0 ttl 0", () -> create(R + "/t0", "", all, CreateMode.PERSISTENT_WITH_TTL, 0));
    }

    private static String create(String path, String data, List<ACL> acl, CreateMode mode, long ttl)
            throws Exception {
        Stat stat = new Stat();
        String created = mode.isTTL()
                ? zk.create(path, data == null ? null : bytes(data), acl, mode, stat, ttl)
                : zk.create(path, data == null ? null : bytes(data), acl, mode, stat);
        return "path=" + rel(created) + " " + stat(stat);
    }

    private static String delete(String path, int version) throws Exception {
        zk.delete(path, version);
        return "ok";
    }

    private static String multi(List<Op> ops) throws Exception {
        try {
            List<String> out = new ArrayList<>();
            for (OpResult r : zk.multi(ops)) {
                out.add(opResult(r));
            }
            return "results=[" + String.join(", ", out) + "]";
        } catch (KeeperException e) {
            List<OpResult> results = e.getResults();
            if (results == null) {
                throw e;
            }
            int at = -1;
            List<String> codes = new ArrayList<>();
            for (int i = 0; i < results.size(); i++) {
                OpResult r = results.get(i);
                int err = r instanceof OpResult.ErrorResult ? ((OpResult.ErrorResult) r).getErr() : 0;
                KeeperException.Code code = KeeperException.Code.get(err);
                codes.add(code.name());
                if (at < 0 && err != 0 && code != KeeperException.Code.RUNTIMEINCONSISTENCY) {
                    at = i;
                }
            }
            return "err=" + code(e.code()) + " at=" + at + " results=[" + String.join(", ", codes) + "]";
        }
    }

    private static String opResult(OpResult r) {
        if (r instanceof OpResult.CreateResult) {
            OpResult.CreateResult c = (OpResult.CreateResult) r;
            return "create(" + rel(c.getPath()) + (c.getStat() == null ? "" : " " + stat(c.getStat())) + ")";
        }
        if (r instanceof OpResult.SetDataResult) {
            return "setData(" + stat(((OpResult.SetDataResult) r).getStat()) + ")";
        }
        if (r instanceof OpResult.DeleteResult) {
            return "delete";
        }
        if (r instanceof OpResult.CheckResult) {
            return "check";
        }
        if (r instanceof OpResult.ErrorResult) {
            return "error(" + code(KeeperException.Code.get(((OpResult.ErrorResult) r).getErr())) + ")";
        }
        return "unknown(" + r.getClass().getSimpleName() + ")";
    }

    // Reads `path` four ways and prints each answer.
    private static void inspect(String path) {
        String p = rel(path);
        step("  getData " + p, () -> {
            Stat s = new Stat();
            byte[] data = zk.getData(path, false, s);
            return "data=" + (data == null ? "null" : quote(data)) + " " + stat(s);
        });
        step("  exists " + p, () -> {
            Stat s = zk.exists(path, false);
            return s == null ? "null" : stat(s);
        });
        step("  getChildren2 " + p, () -> {
            Stat s = new Stat();
            List<String> kids = new ArrayList<>(zk.getChildren(path, false, s));
            Collections.sort(kids);
            return "children=" + kids + " " + stat(s);
        });
        step("  getACL " + p, () -> {
            Stat s = new Stat();
            List<String> acl = new ArrayList<>();
            for (ACL a : zk.getACL(path, s)) {
                acl.add(a.getPerms() + ":" + a.getId().getScheme() + ":" + a.getId().getId());
            }
            return "acl=" + acl + " " + stat(s);
        });
    }

    private static void step(String label, Body body) {
        String result;
        try {
            result = body.run();
        } catch (KeeperException e) {
            result = "err=" + code(e.code());
        } catch (IllegalArgumentException e) {
            result = "err=local:IllegalArgumentException";
        } catch (Exception e) {
            result = "err=java:" + e;
        }
        System.out.println(label + " -> " + result);
    }

    private static String code(KeeperException.Code code) {
        return code.name() + "(" + code.intValue() + ")";
    }

    private static String stat(Stat s) {
        long now = System.currentTimeMillis() + TIME_SLACK_MS;
        boolean timesOk = s.getCtime() > 0 && s.getCtime() <= s.getMtime()
                && s.getCtime() >= windowStart && s.getMtime() <= now;
        String owner = s.getEphemeralOwner() == 0 ? "0"
                : s.getEphemeralOwner() == zk.getSessionId() ? "self" : "other";
        return "{cz=#" + s.getCzxid() + " mz=#" + s.getMzxid() + " pz=#" + s.getPzxid()
                + " t=" + (timesOk ? "ok" : "BAD(" + s.getCtime() + "," + s.getMtime() + ")")
                + " v=" + s.getVersion() + " cv=" + s.getCversion() + " av=" + s.getAversion()
                + " eo=" + owner + " dl=" + s.getDataLength() + " nc=" + s.getNumChildren() + "}";
    }

    private static String rel(String path) {
        if (path.equals(root)) {
            return "R";
        }
        if (path.startsWith(root + "/")) {
            return "R" + path.substring(root.length());
        }
        return path;
    }

    private static String quote(byte[] data) {
        return "\"" + new String(data, StandardCharsets.UTF_8) + "\"";
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static List<ACL> acl(int perms) {
        return Collections.singletonList(new ACL(perms, new Id("world", "anyone")));
    }
}
