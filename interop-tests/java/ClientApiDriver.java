// The plain Java client (org.apache.zookeeper.ZooKeeper 3.8) running a list of small steps, for
// tests/client_api_java.rs: null node data as Java's client writes and reads it, what Java's
// client does under a chroot that does not exist, and what Curator's ProtectedUtils makes of a
// protected node name.
//
// Arguments: <connect string, chroot included if any> <step>...; each step is one argument with
// its words separated by spaces:
//   `create <path> <data>`  create a persistent node (`<data>`: `null`, `empty` or `text:<t>`)
//   `set <path> <data>`     setData with version -1
//   `get <path>`            getData
//   `exists <path>`         exists
//   `protected <path>`      Curator's ProtectedUtils on the path (no server involved)
//
// Output: one line per step: the step, ` -> `, and the outcome: `ok`, `null`, `empty`,
// `text:<t>`, `yes`, `no`, `error <KeeperException code name>`, or for `protected`
// `protected=<bool> id=<uuid or none> normalized=<path>`.
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.imps.ProtectedUtils;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class ClientApiDriver {
    public static void main(String[] args) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 10000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        try {
            if (!connected.await(20, TimeUnit.SECONDS)) {
                throw new IllegalStateException("not connected within 20 s");
            }
            for (int i = 1; i < args.length; i++) {
                System.out.println(args[i] + " -> " + run(zk, args[i].split(" ", 3)));
            }
        } finally {
            zk.close();
        }
    }

    private static String run(ZooKeeper zk, String[] step) throws Exception {
        try {
            switch (step[0]) {
                case "create":
                    zk.create(step[1], data(step[2]), ZooDefs.Ids.OPEN_ACL_UNSAFE,
                            CreateMode.PERSISTENT);
                    return "ok";
                case "set":
                    zk.setData(step[1], data(step[2]), -1);
                    return "ok";
                case "get":
                    return show(zk.getData(step[1], false, null));
                case "exists":
                    return zk.exists(step[1], false) == null ? "no" : "yes";
                case "protected":
                    String name = step[1].substring(step[1].lastIndexOf('/') + 1);
                    return "protected=" + ProtectedUtils.isProtectedZNode(name)
                            + " id=" + ProtectedUtils.extractProtectedId(name).orElse("none")
                            + " normalized=" + ProtectedUtils.normalizePath(step[1]);
                default:
                    throw new IllegalArgumentException("unknown step " + step[0]);
            }
        } catch (KeeperException e) {
            return "error " + e.code();
        }
    }

    private static byte[] data(String spec) {
        if (spec.equals("null")) {
            return null;
        }
        if (spec.equals("empty")) {
            return new byte[0];
        }
        if (spec.startsWith("text:")) {
            return spec.substring(5).getBytes(StandardCharsets.UTF_8);
        }
        throw new IllegalArgumentException("bad data " + spec);
    }

    private static String show(byte[] data) {
        if (data == null) {
            return "null";
        }
        if (data.length == 0) {
            return "empty";
        }
        return "text:" + new String(data, StandardCharsets.UTF_8);
    }
}
