// Curator's InterProcessReadWriteLock against a Rust zk_client::recipes::lock::ReadWriteLock on
// the same path, for tests/recipes_lock.rs. The test steps it with signal nodes (stdin is
// reserved): it waits for <signal dir>/1, then <signal dir>/2.
//
// Arguments: <connect string> <lock path> <signal dir>.
//
// Output: `write-held <ms>` once it holds the write lock; after signal 1, `write-releasing <ms>`
// just before releasing it; then `read-held <ms>` once it holds a read lock; after signal 2 it
// releases that, prints `write-waiting`, takes the write lock again and prints
// `write-held-again <ms>`; then `done`.
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.retry.RetryNTimes;

public class CuratorRwDriver {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String path = args[1];
        String signals = args[2];
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
            InterProcessReadWriteLock lock = new InterProcessReadWriteLock(c, path);
            if (!lock.writeLock().acquire(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("no write lock within 30 s");
            }
            System.out.println("write-held " + System.currentTimeMillis());
            awaitSignal(c, signals + "/1");
            System.out.println("write-releasing " + System.currentTimeMillis());
            lock.writeLock().release();
            if (!lock.readLock().acquire(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("no read lock within 30 s");
            }
            System.out.println("read-held " + System.currentTimeMillis());
            awaitSignal(c, signals + "/2");
            lock.readLock().release();
            System.out.println("write-waiting");
            if (!lock.writeLock().acquire(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("no second write lock within 30 s");
            }
            System.out.println("write-held-again " + System.currentTimeMillis());
            lock.writeLock().release();
            System.out.println("done");
        } finally {
            c.close();
        }
    }

    private static void awaitSignal(CuratorFramework c, String path) throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        while (c.checkExists().forPath(path) == null) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("no signal " + path + " within 60 s");
            }
            Thread.sleep(20);
        }
    }
}
