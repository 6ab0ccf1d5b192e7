// Curator's InterProcessMutex in a loop, for tests/recipes_lock.rs: contends with a Rust
// zk_client::recipes::lock::Mutex on the same path, and prints when it held the lock.
//
// Arguments: <connect string> <lock path> <iterations> <hold ms>.
//
// Output: `ready` once connected (it starts contending right after), then per iteration
// `interval <acquired ms> <releasing ms>`: System.currentTimeMillis() just after acquire()
// returned and just before release() was called, so the interval lies inside the time the lock
// node was first. Then `done`.
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.RetryNTimes;

public class CuratorLockLoop {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String path = args[1];
        int iterations = Integer.parseInt(args[2]);
        long holdMs = Long.parseLong(args[3]);
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
            InterProcessMutex mutex = new InterProcessMutex(c, path);
            System.out.println("ready");
            for (int i = 0; i < iterations; i++) {
                if (!mutex.acquire(30, TimeUnit.SECONDS)) {
                    System.out.println("timeout");
                    System.exit(1);
                }
                long acquired = System.currentTimeMillis();
                Thread.sleep(holdMs);
                long releasing = System.currentTimeMillis();
                System.out.println("interval " + acquired + " " + releasing);
                mutex.release();
            }
            System.out.println("done");
        } finally {
            c.close();
        }
    }
}
