// Creates a node with the Java ZooKeeper client and prints what getData returns.
// Arguments: <connect string> <path> <data>. Used by tests/smoke.rs.
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class HelloZk {
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
            String path = zk.create(args[1], args[2].getBytes(StandardCharsets.UTF_8),
                    ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            Stat stat = new Stat();
            byte[] data = zk.getData(path, false, stat);
            System.out.println("created " + path);
            System.out.println("data " + new String(data, StandardCharsets.UTF_8));
            System.out.println("version " + stat.getVersion());
        } finally {
            zk.close();
        }
    }
}
