// Apache Curator 5.4 (framework and recipes) through what applications use it for: protected
// creates with container parents, an InterProcessMutex two clients contend for, a LeaderLatch
// with two participants, a CuratorCache following a subtree, and transactions. Run by
// tests/real_clients.rs against our server and Java's, with the same expected transcript.
//
// Arguments: <connect string>. Works under /cur, which must not exist yet.
//
// Output: one line per step, with nothing run-dependent in it (protected names print their
// UUID as <uuid>; which latch wins the election is not printed, only that exactly one did).
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

public class CuratorRecipes {
    private static final long WAIT_S = 10;
    private static final String UUID_RE =
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        CuratorFramework c1 = client(connect);
        CuratorFramework c2 = client(connect);
        try {
            out("connected");
            protectedCreates(c1);
            mutex(c1, c2);
            leaderLatch(c1, c2);
            cache(c1, c2);
            transactions(c1);
        } finally {
            c1.close();
            c2.close();
        }
        out("done");
    }

    private static void protectedCreates(CuratorFramework c) throws Exception {
        String seq = c.create().creatingParentContainersIfNeeded().withProtection()
                .withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath("/cur/a/b/node-", b("x"));
        out("protected ephemeral_sequential " + uuidless(seq) + " matches="
                + seq.matches("/cur/a/b/_c_" + UUID_RE + "-node-0000000000"));
        String plain = c.create().creatingParentContainersIfNeeded().withProtection()
                .forPath("/cur/a/b/plain", b("y"));
        out("protected persistent " + uuidless(plain) + " matches="
                + plain.matches("/cur/a/b/_c_" + UUID_RE + "-plain"));
        // Parents made as containers (the owner a client sees for them is 0, as for any
        // non-ephemeral node); the data the protected nodes hold.
        for (String p : new String[] {"/cur", "/cur/a", "/cur/a/b"}) {
            Stat st = c.checkExists().forPath(p);
            out("parent " + p + " owner=" + st.getEphemeralOwner() + " kids=" + st.getNumChildren());
        }
        out("data " + s(c.getData().forPath(seq)) + " " + s(c.getData().forPath(plain)));
        List<String> kids = new ArrayList<>();
        for (String k : c.getChildren().forPath("/cur/a/b")) {
            kids.add(k.replaceAll(UUID_RE, "<uuid>"));
        }
        Collections.sort(kids);
        out("children " + kids);
    }

    private static void mutex(CuratorFramework c1, CuratorFramework c2) throws Exception {
        InterProcessMutex m1 = new InterProcessMutex(c1, "/cur/lock");
        InterProcessMutex m2 = new InterProcessMutex(c2, "/cur/lock");
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger holders = new AtomicInteger();
        AtomicLong released = new AtomicLong();
        AtomicLong acquired2 = new AtomicLong();

        out("mutex client1 acquire " + m1.acquire(WAIT_S, TimeUnit.SECONDS));
        holders.incrementAndGet();
        out("mutex client2 acquire 200 ms while held " + m2.acquire(200, TimeUnit.MILLISECONDS));
        out("mutex client1 reentrant acquire " + m1.acquire(WAIT_S, TimeUnit.SECONDS));
        m1.release();
        out("mutex client1 still holds " + m1.isAcquiredInThisProcess());

        Thread t = new Thread(() -> {
            try {
                events.add("client2 waiting");
                boolean ok = m2.acquire(20, TimeUnit.SECONDS);
                acquired2.set(System.nanoTime());
                events.add("client2 acquired " + ok + " holders=" + holders.incrementAndGet());
                holders.decrementAndGet();
                m2.release();
                events.add("client2 released");
            } catch (Exception e) {
                events.add("client2 failed " + e);
            }
        });
        t.start();
        // Client 2 is queued once the lock has two contenders.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (m1.getParticipantNodes().size() < 2 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        out("mutex participants " + m1.getParticipantNodes().size());
        Thread.sleep(300); // client 2 stays blocked while client 1 holds the lock
        events.add("client1 releasing");
        holders.decrementAndGet();
        released.set(System.nanoTime());
        m1.release();
        t.join(TimeUnit.SECONDS.toMillis(30));
        out("mutex events " + events);
        out("mutex client2 acquired after release " + (acquired2.get() >= released.get()));
        out("mutex participants after " + m1.getParticipantNodes().size());
    }

    private static void leaderLatch(CuratorFramework c1, CuratorFramework c2) throws Exception {
        LeaderLatch l1 = new LeaderLatch(c1, "/cur/leader", "p1");
        LeaderLatch l2 = new LeaderLatch(c2, "/cur/leader", "p2");
        l1.start();
        l2.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (System.nanoTime() < deadline
                && (leaders(l1, l2) != 1 || l1.getParticipants().size() != 2)) {
            Thread.sleep(10);
        }
        out("latch participants " + l1.getParticipants().size() + " leaders " + leaders(l1, l2));
        LeaderLatch leader = l1.hasLeadership() ? l1 : l2;
        LeaderLatch follower = leader == l1 ? l2 : l1;
        Participant reported = follower.getLeader();
        out("latch leader agreed " + (reported.isLeader() && reported.getId().equals(leader.getId())));
        leader.close();
        out("latch handed over " + follower.await(WAIT_S, TimeUnit.SECONDS) + " leaders "
                + (follower.hasLeadership() ? 1 : 0) + " participants " + follower.getParticipants().size());
        follower.close();
        // close() deletes the latch's node in the background.
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (!c1.getChildren().forPath("/cur/leader").isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        out("latch nodes after close " + c1.getChildren().forPath("/cur/leader").size());
    }

    private static int leaders(LeaderLatch a, LeaderLatch b) {
        return (a.hasLeadership() ? 1 : 0) + (b.hasLeadership() ? 1 : 0);
    }

    private static void cache(CuratorFramework c1, CuratorFramework c2) throws Exception {
        c1.create().creatingParentsIfNeeded().forPath("/cur/cache", b("root"));
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        CountDownLatch initialized = new CountDownLatch(1);
        CuratorCache cache = CuratorCache.build(c1, "/cur/cache");
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> events.add("create " + n.getPath() + " " + s(n.getData())))
                .forChanges((o, n) -> events.add("change " + n.getPath() + " " + s(o.getData())
                        + " -> " + s(n.getData())))
                .forDeletes(o -> events.add("delete " + o.getPath()))
                .forInitialized(initialized::countDown)
                .build());
        cache.start();
        try {
            out("cache initialized " + initialized.await(WAIT_S, TimeUnit.SECONDS));
            out("cache initial " + next(events));
            // One change at a time, each awaited, so the order is the server's.
            c2.create().forPath("/cur/cache/x", b("1"));
            out("cache " + next(events));
            c2.setData().forPath("/cur/cache/x", b("2"));
            out("cache " + next(events));
            c2.create().forPath("/cur/cache/x/y", b("3"));
            out("cache " + next(events));
            c2.delete().forPath("/cur/cache/x/y");
            out("cache " + next(events));
            c2.delete().forPath("/cur/cache/x");
            out("cache " + next(events));
            c2.setData().forPath("/cur/cache", b("root2"));
            out("cache " + next(events));
            out("cache size " + cache.size() + " " + s(cache.get("/cur/cache").map(ChildData::getData).orElse(null)));
        } finally {
            cache.close();
        }
    }

    private static void transactions(CuratorFramework c) throws Exception {
        List<CuratorTransactionResult> results = new ArrayList<>(c.transaction().forOperations(
                c.transactionOp().create().forPath("/cur/txn", b("t")),
                c.transactionOp().create().withMode(CreateMode.EPHEMERAL).forPath("/cur/txn/e", b("e")),
                c.transactionOp().setData().withVersion(0).forPath("/cur/txn", b("t2")),
                c.transactionOp().check().withVersion(1).forPath("/cur/txn"),
                c.transactionOp().delete().forPath("/cur/txn/e"),
                c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath("/cur/txn/s-", b(""))));
        for (CuratorTransactionResult r : results) {
            out("txn " + r.getType() + " " + r.getForPath() + " -> " + r.getResultPath()
                    + (r.getResultStat() == null ? "" : " version=" + r.getResultStat().getVersion())
                    + " error=" + r.getError());
        }
        try {
            c.transaction().forOperations(
                    c.transactionOp().create().forPath("/cur/txn2", b("")),
                    c.transactionOp().check().withVersion(9).forPath("/cur/txn"),
                    c.transactionOp().delete().forPath("/cur/txn"));
            out("failing txn: unexpected success");
        } catch (KeeperException e) {
            out("failing txn " + e.code());
        }
        out("failing txn left /cur/txn2 " + (c.checkExists().forPath("/cur/txn2") != null)
                + " /cur/txn version " + c.checkExists().forPath("/cur/txn").getVersion());
    }

    // --- helpers ---

    private static CuratorFramework client(String connect) throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(10000)
                .connectionTimeoutMs(10000)
                .retryPolicy(new RetryNTimes(3, 200))
                .build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            c.close();
            throw new IllegalStateException("not connected within 20 s");
        }
        return c;
    }

    private static String next(BlockingQueue<String> events) throws InterruptedException {
        String e = events.poll(WAIT_S, TimeUnit.SECONDS);
        return e == null ? "no event within " + WAIT_S + " s" : e;
    }

    private static String uuidless(String path) {
        return path.replaceAll(UUID_RE, "<uuid>");
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
}
