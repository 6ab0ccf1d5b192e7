// Curator's InterProcessSemaphoreV2 in a loop, for tests/recipes_selector_semaphore.rs: shares
// a semaphore with Rust zk_client::recipes::semaphore::Semaphore holders.
//
// Arguments: <connect string> <semaphore path> <max leases> <threads> <rounds> <hold ms>.
//
// Each of <threads> threads has its own InterProcessSemaphoreV2 (node data `curator`) and, per
// round, acquires a lease, prints `seen <name>=<data> ...` (getParticipantNodes(), each node's
// data read back; nodes gone meanwhile are left out), holds it for <hold ms>, prints
// `interval <acquired ms> <releasing ms>` (System.currentTimeMillis() just after acquire()
// returned and just before the lease is returned) and returns it. `ready` is printed once
// connected, `done` when every thread finished.
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.KeeperException;

public class CuratorSemaphoreDriver {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String path = args[1];
        int maxLeases = Integer.parseInt(args[2]);
        int threads = Integer.parseInt(args[3]);
        int rounds = Integer.parseInt(args[4]);
        long holdMs = Long.parseLong(args[5]);
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
        AtomicBoolean failed = new AtomicBoolean(false);
        try {
            System.out.println("ready");
            List<Thread> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                Thread worker = new Thread(() -> {
                    try {
                        InterProcessSemaphoreV2 semaphore = new InterProcessSemaphoreV2(c, path, maxLeases);
                        semaphore.setNodeData("curator".getBytes(StandardCharsets.UTF_8));
                        for (int i = 0; i < rounds; i++) {
                            Lease lease = semaphore.acquire(30, TimeUnit.SECONDS);
                            if (lease == null) {
                                System.out.println("timeout");
                                failed.set(true);
                                return;
                            }
                            long acquired = System.currentTimeMillis();
                            StringBuilder seen = new StringBuilder("seen");
                            for (String name : semaphore.getParticipantNodes()) {
                                try {
                                    byte[] data = c.getData().forPath(ZKPaths.makePath(path, "leases", name));
                                    seen.append(' ').append(name).append('=')
                                            .append(new String(data, StandardCharsets.UTF_8));
                                } catch (KeeperException.NoNodeException gone) {
                                    // Returned between the listing and the read.
                                }
                            }
                            System.out.println(seen);
                            Thread.sleep(holdMs);
                            long releasing = System.currentTimeMillis();
                            System.out.println("interval " + acquired + " " + releasing);
                            semaphore.returnLease(lease);
                        }
                    } catch (Exception e) {
                        e.printStackTrace();
                        failed.set(true);
                    }
                });
                worker.start();
                workers.add(worker);
            }
            for (Thread worker : workers) {
                worker.join();
            }
            if (failed.get()) {
                System.exit(1);
            }
            System.out.println("done");
        } finally {
            c.close();
        }
    }
}
