// The Java client's SASL DIGEST-MD5 login, configured as users configure it: a JAAS file
// (-Djava.security.auth.login.config) whose Client section uses DigestLoginModule.
// Arguments: <connect string> <path> <create|read> <acl user>. Prints the connection events
// it sees, then what create/getData/getACL answer, one line each, for tests/sasl.rs to compare
// between the Java server and ours.
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

public class SaslLogin {
    public static void main(String[] args) throws Exception {
        List<KeeperState> events = new CopyOnWriteArrayList<>();
        ZooKeeper zk = new ZooKeeper(args[0], 10000, event -> {
            if (event.getType() == EventType.None) {
                events.add(event.getState());
            }
        });
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!events.contains(KeeperState.SaslAuthenticated)
                    && !events.contains(KeeperState.AuthFailed)
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            // Anything that would follow comes within a moment.
            Thread.sleep(300);
            System.out.println("events " + events);
            System.out.println("state " + zk.getState());
            String path = args[1];
            if (args[2].equals("create")) {
                List<ACL> acl = Collections.singletonList(
                        new ACL(ZooDefs.Perms.ALL, new Id("sasl", args[3])));
                System.out.println("create " + call(() -> zk.create(path,
                        "secret".getBytes(StandardCharsets.UTF_8), acl, CreateMode.PERSISTENT)));
            }
            System.out.println("getData " + call(() -> new String(zk.getData(path, false, new Stat()),
                    StandardCharsets.UTF_8)));
            System.out.println("getACL " + call(() -> zk.getACL(path, new Stat()).toString().replace('\n', ' ')));
        } finally {
            zk.close();
        }
    }

    interface Call {
        Object run() throws Exception;
    }

    static String call(Call c) {
        try {
            return "ok " + c.run();
        } catch (KeeperException e) {
            return "error " + e.code();
        } catch (Exception e) {
            return "exception " + e.getClass().getSimpleName();
        }
    }
}
