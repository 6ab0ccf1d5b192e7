// zk-bench's twin on the official Java client: the same load, the same RESULT line.
//
// N sessions (ZooKeeper instances), each with one issuing thread that keeps M asynchronous
// requests outstanding (a Semaphore of M permits, released by the callback). Latency is taken
// with System.nanoTime from the call to the callback, recorded in microseconds in a log-linear
// histogram (3 significant digits, like zk-bench's HdrHistogram). Operations completing in the
// window after the warmup are counted; client CPU over the same window comes from
// /proc/self/stat (user and system ticks of 1/100 s), as zk-bench does.
//
// Arguments (as zk-bench): --server CS --sessions N --in-flight M --op get|set|create|exists|
// delete|mix --value-size BYTES --duration SECS [--warmup SECS] [--mix get=70,set=20,...]
// [--nodes K] [--delete-pool K] [--session-timeout MS] [--keep]
//
// Bench root /zk-bench-java-<pid>: n/<i> for get/set/exists, c/ for sequential creates,
// d/<session>-<i> for deletes; deleted at the end.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZKUtil;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class ZkBench {
    static final String[] KINDS = {"get", "set", "create", "exists", "delete"};
    static final int GET = 0, SET = 1, CREATE = 2, EXISTS = 3, DELETE = 4;

    // ---- configuration ----
    static String server;
    static int sessions = 1, inFlight = 1, valueSize = 100, nodes = 1000, sessionTimeoutMs = 30000;
    static int deletePool = -1;
    static double durationS = 10, warmupS = 1;
    static String op = "get";
    static String mixSpec = "get=70,set=20,create=5,delete=5";
    static int[] weights = new int[5];
    static boolean mix, keep;

    /** Log-linear histogram of microsecond values: exact below 2048, then 1024 sub-buckets
     *  per power of two (relative error below 0.1%). Not thread-safe. */
    static final class Hist {
        final long[] counts = new long[2048 + 54 * 1024];
        long total, max;
        double sum;

        static int index(long v) {
            if (v < 2048) return (int) v;
            int shift = 63 - Long.numberOfLeadingZeros(v) - 10;
            return 2048 + (shift - 1) * 1024 + (int) ((v >> shift) - 1024);
        }

        /** The highest value that falls in bucket i. */
        static long highest(int i) {
            if (i < 2048) return i;
            int shift = (i - 2048) / 1024 + 1;
            long sub = (i - 2048) % 1024 + 1024;
            return ((sub + 1) << shift) - 1;
        }

        void record(long v) {
            if (v < 1) v = 1;
            counts[index(v)]++;
            total++;
            sum += v;
            if (v > max) max = v;
        }

        void add(Hist o) {
            for (int i = 0; i < counts.length; i++) counts[i] += o.counts[i];
            total += o.total;
            sum += o.sum;
            max = Math.max(max, o.max);
        }

        long quantile(double q) {
            if (total == 0) return 0;
            long rank = Math.max(1, (long) Math.ceil(q * total));
            long seen = 0;
            for (int i = 0; i < counts.length; i++) {
                seen += counts[i];
                if (seen >= rank) return Math.min(highest(i), max);
            }
            return max;
        }
    }

    /** One session's load. Callbacks run on the session's event thread, the issuer on its own;
     *  the stats are read after the issuer has taken back every permit. */
    static final class Session implements Runnable {
        final ZooKeeper zk;
        final Semaphore permits;
        final ConcurrentLinkedQueue<String> deletable = new ConcurrentLinkedQueue<>();
        final Hist all = new Hist();
        final Hist[] byKind = new Hist[5];
        final long[] errors = new long[5];
        final List<String> firstErrors = new ArrayList<>();
        final long windowStart, windowEnd;
        final List<String> nodePaths;
        final String createPrefix;
        final byte[] value;
        volatile long lastDone;
        boolean exhausted;

        Session(ZooKeeper zk, List<String> nodePaths, String createPrefix, byte[] value,
                List<String> pool, long windowStart, long windowEnd) {
            this.zk = zk;
            this.permits = new Semaphore(inFlight);
            this.nodePaths = nodePaths;
            this.createPrefix = createPrefix;
            this.value = value;
            this.windowStart = windowStart;
            this.windowEnd = windowEnd;
            deletable.addAll(pool);
            for (int i = 0; i < 5; i++) byKind[i] = new Hist();
        }

        /** Called on the event thread when an operation completes. */
        void done(int kind, long start, int rc, String created) {
            long now = System.nanoTime();
            if (mix && kind == CREATE && created != null) deletable.add(created);
            if (now >= windowStart && now < windowEnd) {
                long us = (now - start) / 1000;
                all.record(us);
                byKind[kind].record(us);
                lastDone = now;
                if (rc != 0) {
                    errors[kind]++;
                    if (firstErrors.size() < 5) {
                        firstErrors.add(KINDS[kind] + " failed: " + KeeperException.Code.get(rc));
                    }
                }
            }
            permits.release();
        }

        int pick(ThreadLocalRandom rnd) {
            if (!mix) return Arrays.asList(KINDS).indexOf(op);
            int total = 0;
            for (int w : weights) total += w;
            int p = rnd.nextInt(total);
            for (int k = 0; k < 5; k++) {
                if (p < weights[k]) return k;
                p -= weights[k];
            }
            return GET;
        }

        @Override
        public void run() {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            AsyncCallback.DataCallback onGet = (rc, path, ctx, data, stat) ->
                    done(GET, (Long) ctx, rc, null);
            AsyncCallback.StatCallback onSet = (rc, path, ctx, stat) ->
                    done(SET, (Long) ctx, rc, null);
            AsyncCallback.StatCallback onExists = (rc, path, ctx, stat) ->
                    done(EXISTS, (Long) ctx, stat == null && rc == 0 ? -101 : rc, null);
            AsyncCallback.StringCallback onCreate = (rc, path, ctx, name) ->
                    done(CREATE, (Long) ctx, rc, name);
            AsyncCallback.VoidCallback onDelete = (rc, path, ctx) ->
                    done(DELETE, (Long) ctx, rc, null);
            try {
                while (true) {
                    permits.acquire();
                    if (System.nanoTime() >= windowEnd) {
                        permits.release();
                        break;
                    }
                    int kind = pick(rnd);
                    String victim = null;
                    if (kind == DELETE) {
                        victim = deletable.poll();
                        if (victim == null) {
                            if (mix) {
                                kind = CREATE;
                            } else {
                                exhausted = true;
                                permits.release();
                                break;
                            }
                        }
                    }
                    Long start = System.nanoTime();
                    switch (kind) {
                        case GET:
                            zk.getData(nodePaths.get(rnd.nextInt(nodePaths.size())), false, onGet, start);
                            break;
                        case SET:
                            zk.setData(nodePaths.get(rnd.nextInt(nodePaths.size())), value, -1, onSet, start);
                            break;
                        case EXISTS:
                            zk.exists(nodePaths.get(rnd.nextInt(nodePaths.size())), false, onExists, start);
                            break;
                        case CREATE:
                            zk.create(createPrefix, value, ZooDefs.Ids.OPEN_ACL_UNSAFE,
                                    CreateMode.PERSISTENT_SEQUENTIAL, onCreate, start);
                            break;
                        default:
                            zk.delete(victim, -1, onDelete, start);
                            break;
                    }
                }
                // Wait for everything outstanding.
                if (!permits.tryAcquire(inFlight, 60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("requests still outstanding after 60 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static double[] cpuTimes() {
        try {
            String stat = new String(Files.readAllBytes(Paths.get("/proc/self/stat")), StandardCharsets.US_ASCII);
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
            return new double[] {Long.parseLong(f[11]) / 100.0, Long.parseLong(f[12]) / 100.0};
        } catch (Exception e) {
            return new double[] {0, 0};
        }
    }

    static ZooKeeper connect() throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(server, sessionTimeoutMs, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
        });
        if (!connected.await(30, TimeUnit.SECONDS)) {
            zk.close();
            throw new IllegalStateException("not connected to " + server + " within 30 s");
        }
        return zk;
    }

    /** Creates every path, keeping up to 512 requests outstanding; fails on any error. */
    static void createAll(ZooKeeper zk, List<String> paths, byte[] data) throws Exception {
        Semaphore window = new Semaphore(512);
        AtomicReference<String> failure = new AtomicReference<>();
        AsyncCallback.StringCallback cb = (rc, path, ctx, name) -> {
            if (rc != 0) failure.compareAndSet(null, path + ": " + KeeperException.Code.get(rc));
            window.release();
        };
        for (String p : paths) {
            window.acquire();
            zk.create(p, data, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, cb, null);
        }
        window.acquire(512);
        if (failure.get() != null) throw new IllegalStateException("setup create failed: " + failure.get());
    }

    static void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                v = a.substring(eq + 1);
                a = a.substring(0, eq);
            }
            if (a.equals("--keep")) {
                keep = true;
                continue;
            }
            if (v == null) {
                if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value");
                v = args[++i];
            }
            switch (a) {
                case "--server": server = v; break;
                case "--sessions": sessions = Integer.parseInt(v); break;
                case "--in-flight": inFlight = Integer.parseInt(v); break;
                case "--op": op = v; break;
                case "--mix": mixSpec = v; break;
                case "--value-size": valueSize = Integer.parseInt(v); break;
                case "--duration": durationS = Double.parseDouble(v); break;
                case "--warmup": warmupS = Double.parseDouble(v); break;
                case "--nodes": nodes = Integer.parseInt(v); break;
                case "--delete-pool": deletePool = Integer.parseInt(v); break;
                case "--session-timeout": sessionTimeoutMs = Integer.parseInt(v); break;
                case "--threads": break; // zk-bench's runtime option; meaningless here
                default: throw new IllegalArgumentException("unknown argument " + a);
            }
        }
        if (server == null) throw new IllegalArgumentException("--server is required");
        mix = op.equals("mix");
        if (mix) {
            for (String part : mixSpec.split(",")) {
                String[] kv = part.split("=");
                int k = Arrays.asList(KINDS).indexOf(kv[0].trim());
                if (kv.length != 2 || k < 0) throw new IllegalArgumentException("bad --mix " + part);
                weights[k] = Integer.parseInt(kv[1].trim());
            }
        } else if (!Arrays.asList(KINDS).contains(op)) {
            throw new IllegalArgumentException("unknown --op " + op);
        }
        if (deletePool < 0) {
            deletePool = op.equals("delete") ? 100000 : (mix && weights[DELETE] > 0 ? 1000 : 0);
        }
    }

    public static void main(String[] args) throws Exception {
        parse(args);
        // Cleanup lists the children of c/, which a create run fills with many nodes.
        if (System.getProperty("jute.maxbuffer") == null) {
            System.setProperty("jute.maxbuffer", String.valueOf(256 << 20));
        }
        byte[] value = new byte[valueSize];
        Arrays.fill(value, (byte) 'x');
        ZooKeeper admin = connect();
        long pid = ProcessHandle.current().pid();
        String root = "/zk-bench-java-" + pid;
        for (int attempt = 1; ; attempt++) {
            try {
                admin.create(root, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
                break;
            } catch (KeeperException.NodeExistsException e) {
                if (attempt >= 100) throw e;
                root = "/zk-bench-java-" + pid + "-" + attempt;
            }
        }
        int exit = 0;
        try {
            for (String d : new String[] {"n", "c", "d"}) {
                admin.create(root + "/" + d, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            }
            List<String> nodePaths = new ArrayList<>();
            for (int i = 0; i < nodes; i++) nodePaths.add(root + "/n/" + i);
            boolean needsNodes = mix ? (weights[GET] + weights[SET] + weights[EXISTS] > 0)
                    : (op.equals("get") || op.equals("set") || op.equals("exists"));
            if (needsNodes) createAll(admin, nodePaths, value);
            List<List<String>> pools = new ArrayList<>();
            int per = (deletePool + sessions - 1) / sessions;
            List<String> allPool = new ArrayList<>();
            for (int s = 0; s < sessions; s++) {
                List<String> pool = new ArrayList<>();
                int n = Math.max(0, Math.min(per, deletePool - s * per));
                for (int i = 0; i < n; i++) pool.add(root + "/d/" + s + "-" + i);
                pools.add(pool);
                allPool.addAll(pool);
            }
            if (!allPool.isEmpty()) createAll(admin, allPool, value);

            List<ZooKeeper> clients = new ArrayList<>();
            for (int s = 0; s < sessions; s++) clients.add(connect());
            long windowStart = System.nanoTime() + (long) (warmupS * 1e9);
            long windowEnd = windowStart + (long) (durationS * 1e9);
            List<Session> runs = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            for (int s = 0; s < sessions; s++) {
                Session run = new Session(clients.get(s), nodePaths, root + "/c/s-", value,
                        pools.get(s), windowStart, windowEnd);
                runs.add(run);
                Thread t = new Thread(run, "bench-session-" + s);
                threads.add(t);
                t.start();
            }
            sleepUntil(windowStart);
            double[] cpu0 = cpuTimes();
            // The window closes at windowEnd, or earlier when every session stopped (delete
            // pool used up).
            for (Thread t : threads) {
                long leftMs = (windowEnd - System.nanoTime()) / 1_000_000;
                if (leftMs > 0) t.join(leftMs);
            }
            if (System.nanoTime() < windowEnd && threads.stream().anyMatch(Thread::isAlive)) {
                sleepUntil(windowEnd);
            }
            double[] cpu1 = cpuTimes();
            for (Thread t : threads) t.join();
            for (ZooKeeper zk : clients) zk.close();

            Hist all = new Hist();
            Hist[] byKind = new Hist[5];
            for (int k = 0; k < 5; k++) byKind[k] = new Hist();
            long[] errs = new long[5];
            List<String> firstErrors = new ArrayList<>();
            boolean exhausted = false;
            long lastDone = windowStart;
            for (Session r : runs) {
                all.add(r.all);
                for (int k = 0; k < 5; k++) {
                    byKind[k].add(r.byKind[k]);
                    errs[k] += r.errors[k];
                }
                for (String e : r.firstErrors) if (firstErrors.size() < 5) firstErrors.add(e);
                exhausted |= r.exhausted;
                lastDone = Math.max(lastDone, r.lastDone);
            }
            long errors = 0;
            for (long e : errs) errors += e;
            long ops = all.total - errors;
            double duration = ((exhausted ? lastDone : windowEnd) - windowStart) / 1e9;
            double opsPerS = duration > 0 ? ops / duration : 0;
            double user = cpu1[0] - cpu0[0], sys = cpu1[1] - cpu0[1];
            System.out.printf("java-bench: op=%s sessions=%d in_flight=%d value_size=%d root=%s%n",
                    op, sessions, inFlight, valueSize, root);
            System.out.printf("  %d ops, %d errors in %.2f s: %.1f ops/s%s%n", ops, errors, duration,
                    opsPerS, exhausted ? " (stopped early: delete pool used up)" : "");
            System.out.printf("  latency us: p50 %d p90 %d p99 %d p99.9 %d max %d mean %.1f%n",
                    all.quantile(0.5), all.quantile(0.9), all.quantile(0.99), all.quantile(0.999),
                    all.max, all.total > 0 ? all.sum / all.total : 0.0);
            System.out.printf("  client CPU: user %.2f s, sys %.2f s (%.1f us/op)%n", user, sys,
                    all.total > 0 ? (user + sys) * 1e6 / all.total : 0.0);
            if (mix) {
                for (int k = 0; k < 5; k++) {
                    if (byKind[k].total == 0 && weights[k] == 0) continue;
                    System.out.printf("  %6s: %d ops, %d errors, p50 %d us, p99 %d us%n", KINDS[k],
                            byKind[k].total - errs[k], errs[k], byKind[k].quantile(0.5),
                            byKind[k].quantile(0.99));
                }
            }
            for (String e : firstErrors) System.out.println("  error: " + e);
            System.out.printf("RESULT op=%s sessions=%d in_flight=%d value_size=%d ops=%d errors=%d "
                    + "duration_s=%.2f ops_per_s=%.1f p50_us=%d p99_us=%d p999_us=%d max_us=%d "
                    + "cpu_user_s=%.2f cpu_sys_s=%.2f client=java%n",
                    op, sessions, inFlight, valueSize, ops, errors, duration, opsPerS,
                    all.quantile(0.5), all.quantile(0.99), all.quantile(0.999), all.max, user, sys);
        } catch (Exception e) {
            e.printStackTrace();
            exit = 1;
        } finally {
            if (!keep) {
                try {
                    ZKUtil.deleteRecursive(admin, root, 1000);
                } catch (Exception e) {
                    System.err.println("java-bench: cleanup of " + root + " failed: " + e);
                }
            }
            admin.close();
        }
        System.out.flush();
        System.exit(exit);
    }

    static void sleepUntil(long deadline) throws InterruptedException {
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            TimeUnit.NANOSECONDS.sleep(left);
        }
    }
}
