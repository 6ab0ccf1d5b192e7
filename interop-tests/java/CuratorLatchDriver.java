// Curator's LeaderLatch as one participant of an election, for tests/recipes_lock.rs: shares
// the election with Rust zk_client::recipes::leader::LeaderLatch participants.
//
// Arguments: <connect string> <latch path> <participant id> <close signal path>.
//
// Output: `started` once the latch is started, then `leader <ms>` / `not-leader <ms>` from its
// listener as leadership changes. When a node appears at <close signal path> (the test's way
// to say "close now", since stdin is reserved) it prints `leader-id <id>` (the leader's
// participant id as Curator's getLeader() sees it) and `has-leadership <bool>`, closes the latch
// and prints `closed <ms>`.
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.retry.RetryNTimes;

public class CuratorLatchDriver {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String path = args[1];
        String id = args[2];
        String closeSignal = args[3];
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(10000)
                .connectionTimeoutMs(10000)
                .retryPolicy(new RetryNTimes(3, 200))
                .build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected within 20 s");
        }
        try {
            LeaderLatch latch = new LeaderLatch(c, path, id);
            latch.addListener(new LeaderLatchListener() {
                @Override
                public void isLeader() {
                    System.out.println("leader " + System.currentTimeMillis());
                }

                @Override
                public void notLeader() {
                    System.out.println("not-leader " + System.currentTimeMillis());
                }
            });
            latch.start();
            System.out.println("started");
            long deadline = System.currentTimeMillis() + 60_000;
            while (c.checkExists().forPath(closeSignal) == null) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("no close signal within 60 s");
                }
                Thread.sleep(20);
            }
            System.out.println("leader-id " + latch.getLeader().getId());
            System.out.println("has-leadership " + latch.hasLeadership());
            latch.close();
            System.out.println("closed " + System.currentTimeMillis());
        } finally {
            c.close();
        }
    }
}
