// Curator's LeaderSelector as one participant of an election, for
// tests/recipes_selector_semaphore.rs: shares the election with Rust
// zk_client::recipes::selector::LeaderSelector participants.
//
// Arguments: <connect string> <election path> <participant id> <leaderships> <hold ms>.
//
// The selector uses LeaderSelectorListenerAdapter (Curator's recommended listener: leadership is
// interrupted on SUSPENDED and LOST) and autoRequeue(). Each leadership prints, in order:
// `participants <id>:<is leader> ...` (getParticipants(), line order), `leader <id>`
// (getLeader()), then, after holding for <hold ms>, `interval <start ms> <end ms>`:
// System.currentTimeMillis() when takeLeadership was entered and when it is about to return,
// so the interval lies inside the time the lock node was first. After <leaderships>
// leaderships the selector is closed and `done` printed. `ready` is printed once started.
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.retry.RetryNTimes;

public class CuratorSelectorDriver {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String path = args[1];
        String id = args[2];
        int leaderships = Integer.parseInt(args[3]);
        long holdMs = Long.parseLong(args[4]);
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
        Semaphore ended = new Semaphore(0);
        // The listener asks its own selector for the participants.
        AtomicReference<LeaderSelector> self = new AtomicReference<>();
        LeaderSelector selector = new LeaderSelector(c, path, new LeaderSelectorListenerAdapter() {
            @Override
            public void takeLeadership(CuratorFramework client) throws Exception {
                long start = System.currentTimeMillis();
                try {
                    StringBuilder line = new StringBuilder("participants");
                    for (Participant p : self.get().getParticipants()) {
                        line.append(' ').append(p.getId()).append(':').append(p.isLeader());
                    }
                    System.out.println(line);
                    System.out.println("leader " + self.get().getLeader().getId());
                    Thread.sleep(holdMs);
                } finally {
                    System.out.println("interval " + start + " " + System.currentTimeMillis());
                    ended.release();
                }
            }
        });
        self.set(selector);
        selector.setId(id);
        selector.autoRequeue();
        try {
            selector.start();
            System.out.println("ready");
            if (!ended.tryAcquire(leaderships, 60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("fewer than " + leaderships + " leaderships in 60 s");
            }
            selector.close();
            System.out.println("done");
        } finally {
            c.close();
        }
    }
}
