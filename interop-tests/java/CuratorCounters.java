// Apache Curator's SharedCount and DistributedAtomicLong, driven by
// tests/recipes_config_counter.rs against the same nodes as zk-client's counter recipes.
//
// Usage (every mode prints one line per result and exits 0 on success):
//
//   shared-inc <connect> <path> <n> <go-path>
//       SharedCount(path, seed 0); prints "ready", waits until <go-path> exists, then adds 1
//       n times with Curator's getVersionedValue/trySetCount loop; prints "done lost=<races>".
//   atomic-inc <connect> <path> <n> <go-path>
//       DistributedAtomicLong(path); prints "ready", waits for <go-path>, then increment() n
//       times, repeating each until it succeeds; prints "done lost=<races>" (optimistic tries
//       beyond the first).
//   read <connect> <shared-path> <long-path>
//       prints "shared <count> version <version>" and "long <value>".
//   write <connect> <shared-path> <int> <long-path> <long>
//       SharedCount.setCount(int) and DistributedAtomicLong.forceSet(long); prints "written".
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.retry.RetryNTimes;

public class CuratorCounters {
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        CuratorFramework c = client(args[1]);
        try {
            switch (mode) {
                case "shared-inc":
                    sharedIncrements(c, args[2], Integer.parseInt(args[3]), args[4]);
                    break;
                case "atomic-inc":
                    atomicIncrements(c, args[2], Integer.parseInt(args[3]), args[4]);
                    break;
                case "read":
                    read(c, args[2], args[3]);
                    break;
                case "write":
                    write(c, args[2], Integer.parseInt(args[3]), args[4], Long.parseLong(args[5]));
                    break;
                default:
                    throw new IllegalArgumentException("unknown mode " + mode);
            }
        } finally {
            c.close();
        }
    }

    private static void sharedIncrements(CuratorFramework c, String path, int n, String go)
            throws Exception {
        SharedCount count = new SharedCount(c, path, 0);
        count.start();
        try {
            out("ready");
            waitFor(c, go);
            int lost = 0;
            for (int i = 0; i < n; i++) {
                while (true) {
                    VersionedValue<Integer> seen = count.getVersionedValue();
                    if (count.trySetCount(seen, seen.getValue() + 1)) {
                        break;
                    }
                    lost++;
                }
            }
            out("done lost=" + lost);
        } finally {
            count.close();
        }
    }

    private static void atomicIncrements(CuratorFramework c, String path, int n, String go)
            throws Exception {
        DistributedAtomicLong counter = new DistributedAtomicLong(c, path, new RetryNTimes(1000, 1));
        out("ready");
        waitFor(c, go);
        int lost = 0;
        for (int i = 0; i < n; i++) {
            AtomicValue<Long> result = counter.increment();
            lost += result.getStats().getOptimisticTries() - 1;
            while (!result.succeeded()) {
                result = counter.increment();
                lost += result.getStats().getOptimisticTries();
            }
        }
        out("done lost=" + lost);
    }

    private static void read(CuratorFramework c, String sharedPath, String longPath)
            throws Exception {
        SharedCount count = new SharedCount(c, sharedPath, 0);
        count.start();
        try {
            VersionedValue<Integer> seen = count.getVersionedValue();
            out("shared " + seen.getValue() + " version " + seen.getVersion());
        } finally {
            count.close();
        }
        AtomicValue<Long> value = new DistributedAtomicLong(c, longPath, new RetryNTimes(3, 10)).get();
        if (!value.succeeded()) {
            throw new IllegalStateException("DistributedAtomicLong.get() did not succeed");
        }
        out("long " + value.postValue());
    }

    private static void write(CuratorFramework c, String sharedPath, int shared, String longPath,
            long value) throws Exception {
        SharedCount count = new SharedCount(c, sharedPath, 0);
        count.start();
        try {
            count.setCount(shared);
        } finally {
            count.close();
        }
        new DistributedAtomicLong(c, longPath, new RetryNTimes(3, 10)).forceSet(value);
        out("written");
    }

    /** Polls until the node exists, so both sides start their increments together. */
    private static void waitFor(CuratorFramework c, String path) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (c.checkExists().forPath(path) == null) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException(path + " did not appear within 30 s");
            }
            Thread.sleep(2);
        }
    }

    private static CuratorFramework client(String connect) throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(15000)
                .connectionTimeoutMs(10000)
                .retryPolicy(new RetryNTimes(10, 100))
                .build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            c.close();
            throw new IllegalStateException("not connected within 20 s");
        }
        return c;
    }

    private static void out(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
