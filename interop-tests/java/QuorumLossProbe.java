// The Java client's reference behaviour when its server loses the quorum, for
// tests/client_ensemble.rs: connect, wait until disconnected, issue exists("/") while
// disconnected and report how it ended and how long it took, then wait for the session to come
// back (or expire) and report that.
//
// Arguments: <connect string> <session timeout ms>. Output lines:
//   connected 0x<session id>
//   disconnected
//   exists during outage: <OK | KeeperException code name> after <ms> ms
//   recovered same session | recovered new session | expired
//   exists after recovery: <OK | code name>
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

public class QuorumLossProbe {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        int timeoutMs = Integer.parseInt(args[1]);
        BlockingQueue<Watcher.Event.KeeperState> states = new LinkedBlockingQueue<>();
        ZooKeeper zk = new ZooKeeper(connect, timeoutMs, event -> {
            if (event.getType() == Watcher.Event.EventType.None) {
                states.add(event.getState());
            }
        });
        try {
            await(states, Watcher.Event.KeeperState.SyncConnected, 30);
            long sid = zk.getSessionId();
            System.out.println("connected 0x" + Long.toHexString(sid));
            System.out.flush();
            await(states, Watcher.Event.KeeperState.Disconnected, 90);
            System.out.println("disconnected");
            System.out.flush();
            long t0 = System.nanoTime();
            String outcome = exists(zk);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.println("exists during outage: " + outcome + " after " + ms + " ms");
            System.out.flush();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (true) {
                long left = deadline - System.nanoTime();
                Watcher.Event.KeeperState s = states.poll(Math.max(left, 0), TimeUnit.NANOSECONDS);
                if (s == null) {
                    throw new IllegalStateException("neither reconnected nor expired within 90 s");
                }
                if (s == Watcher.Event.KeeperState.SyncConnected) {
                    System.out.println(zk.getSessionId() == sid ? "recovered same session" : "recovered new session");
                    break;
                }
                if (s == Watcher.Event.KeeperState.Expired) {
                    System.out.println("expired");
                    break;
                }
            }
            System.out.println("exists after recovery: " + exists(zk));
        } finally {
            zk.close();
        }
    }

    private static String exists(ZooKeeper zk) throws InterruptedException {
        try {
            zk.exists("/", false);
            return "OK";
        } catch (KeeperException e) {
            return e.code().name();
        }
    }

    private static void await(BlockingQueue<Watcher.Event.KeeperState> states,
            Watcher.Event.KeeperState wanted, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            long left = deadline - System.nanoTime();
            Watcher.Event.KeeperState s = states.poll(Math.max(left, 0), TimeUnit.NANOSECONDS);
            if (s == null) {
                throw new IllegalStateException("no " + wanted + " within " + seconds + " s");
            }
            if (s == wanted) {
                return;
            }
        }
    }
}
