// zk-recipe-bench's twin on Curator: the same recipes' throughput and latency, the same RESULT
// lines (scripts/bench-recipes.sh runs both against one server, one after the other).
//
// --recipe lock: --contenders sessions (CuratorFramework instances), each a thread with its own
// InterProcessMutex on one path, acquire() and release() in a loop. --recipe semaphore: the
// same with InterProcessSemaphoreV2(--max-leases), acquire() and Lease.close(). Cycles ending in
// the window of --duration s after --warmup s are counted; the latency of every acquire ending
// in it is recorded. As a sanity check, holders in this process are counted from acquire to
// release: more than the recipe allows (1, or --max-leases) fails the run; the most seen at
// once is max_holders (it catches grossly overlapping grants, not every one).
// --recipe latch: two sessions, each with a LeaderLatch on one path; the leader calls close(),
// the time until the other one's await() returns is one hand-over; the closed participant
// joins again with a new LeaderLatch (a closed one cannot restart).
// Hand-overs during --warmup s are not recorded, then --handovers are.
//
// Arguments (as zk-recipe-bench): --server CS --recipe lock|semaphore|latch [--contenders N]
// [--max-leases N] [--duration SECS] [--warmup SECS] [--handovers N] [--settle-ms MS]
// [--session-timeout MS] [--server-pid PID]
//
// CPU (user, system) is this JVM's over the window, from /proc/self/stat, and with --server-pid
// the server's from /proc/<pid>/stat. Percentiles are nearest-rank over every sample. The bench
// root /zk-recipe-bench-java-<pid> is deleted at the end.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.RetryNTimes;

public class CuratorRecipeBench {
    // How long one acquire or hand-over may take before the run is called failed (as Rust's).
    static final long STEP_TIMEOUT_S = 30;

    static String server;
    static String recipe;
    static int contenders = 1, maxLeases = 2, handovers = 200, sessionTimeoutMs = 30000;
    static double durationS = 10, warmupS = 3;
    static long settleMs = 20;
    static long serverPid = -1;

    /** A growable list of longs (latency samples in microseconds). */
    static final class Samples {
        long[] values = new long[1024];
        int size;

        void add(long v) {
            if (size == values.length) values = Arrays.copyOf(values, size * 2);
            values[size++] = v;
        }

        void addAll(Samples o) {
            for (int i = 0; i < o.size; i++) add(o.values[i]);
        }

        /** p50_us=.. p99_us=.. max_us=.. (nearest rank), sorting the samples. */
        String fields() {
            long[] sorted = Arrays.copyOf(values, size);
            Arrays.sort(sorted);
            return "p50_us=" + percentile(sorted, 50) + " p99_us=" + percentile(sorted, 99)
                    + " max_us=" + (size == 0 ? 0 : sorted[size - 1]);
        }

        static long percentile(long[] sorted, double p) {
            if (sorted.length == 0) return 0;
            int rank = (int) Math.ceil(p / 100.0 * sorted.length);
            return sorted[Math.max(1, Math.min(rank, sorted.length)) - 1];
        }
    }

    /** {utime, stime} seconds of /proc/<pid>/stat, or null. */
    static double[] cpuTimes(String pid) {
        try {
            String stat = new String(Files.readAllBytes(Paths.get("/proc/" + pid + "/stat")),
                    StandardCharsets.US_ASCII);
            // Fields after the command name (which may hold spaces) start at the last ')'.
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
            return new double[] {Long.parseLong(f[11]) / 100.0, Long.parseLong(f[12]) / 100.0};
        } catch (Exception e) {
            return null;
        }
    }

    /** This JVM's and the server's CPU at one moment. */
    static final class CpuSample {
        final double[] self = cpuTimes("self");
        final double[] server = serverPid > 0 ? cpuTimes(Long.toString(serverPid)) : null;

        String fieldsUntil(CpuSample end) {
            String serverCpu = server != null && end.server != null
                    ? String.format("%.2f", end.server[0] + end.server[1] - server[0] - server[1])
                    : "-";
            double user = self == null ? 0 : end.self[0] - self[0];
            double sys = self == null ? 0 : end.self[1] - self[1];
            return String.format("cpu_user_s=%.2f cpu_sys_s=%.2f server_cpu_s=%s", user, sys,
                    serverCpu);
        }
    }

    static CuratorFramework connect() throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(server)
                .sessionTimeoutMs(sessionTimeoutMs)
                .connectionTimeoutMs(10000)
                .retryPolicy(new RetryNTimes(3, 200))
                .build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected to " + server + " within 20 s");
        }
        return c;
    }

    /** One acquire and release; returns System.nanoTime() when the acquire returned. */
    interface Cycle {
        long run() throws Exception;
    }

    // Holders of the lock or a lease in this process right now, and the most seen at once:
    // checked against what the recipe allows, so a run that broke mutual exclusion fails.
    static final AtomicInteger holdersNow = new AtomicInteger();
    static final AtomicInteger holdersMost = new AtomicInteger();

    /** Counts one holder from when its acquire returned until its release starts. */
    static void hold(int limit) {
        int holders = holdersNow.incrementAndGet();
        holdersMost.accumulateAndGet(holders, Math::max);
        Thread.yield();
        holdersNow.decrementAndGet();
        if (holders > limit) {
            throw new IllegalStateException(holders + " holders at once, at most " + limit
                    + " allowed");
        }
    }

    static Cycle cycleFor(CuratorFramework c, String path) {
        if (recipe.equals("lock")) {
            InterProcessMutex mutex = new InterProcessMutex(c, path);
            return () -> {
                if (!mutex.acquire(STEP_TIMEOUT_S, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("no lock within " + STEP_TIMEOUT_S + " s");
                }
                long acquired = System.nanoTime();
                try {
                    hold(1);
                } finally {
                    mutex.release();
                }
                return acquired;
            };
        }
        InterProcessSemaphoreV2 semaphore = new InterProcessSemaphoreV2(c, path, maxLeases);
        return () -> {
            Lease lease = semaphore.acquire(STEP_TIMEOUT_S, TimeUnit.SECONDS);
            if (lease == null) {
                throw new IllegalStateException("no lease within " + STEP_TIMEOUT_S + " s");
            }
            long acquired = System.nanoTime();
            try {
                hold(maxLeases);
            } finally {
                lease.close();
            }
            return acquired;
        };
    }

    /** Lock or semaphore: cycles per second and acquire latency of `contenders` sessions. */
    static String benchCycles(String root) throws Exception {
        String path = root + "/" + recipe;
        List<CuratorFramework> clients = new ArrayList<>();
        for (int i = 0; i < contenders; i++) clients.add(connect());
        long windowStart = System.nanoTime() + (long) (warmupS * 1e9);
        long windowEnd = windowStart + (long) (durationS * 1e9);
        long[] cycles = new long[contenders];
        Samples[] acquireUs = new Samples[contenders];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < contenders; i++) {
            final int index = i;
            Cycle cycle = cycleFor(clients.get(i), path);
            acquireUs[i] = new Samples();
            Thread t = new Thread(() -> {
                try {
                    while (failure.get() == null) {
                        long began = System.nanoTime();
                        if (began >= windowEnd) break;
                        long acquired = cycle.run();
                        long done = System.nanoTime();
                        if (acquired >= windowStart && acquired < windowEnd) {
                            acquireUs[index].add((acquired - began) / 1000);
                        }
                        if (done >= windowStart && done < windowEnd) cycles[index]++;
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "contender-" + i);
            threads.add(t);
        }
        for (Thread t : threads) t.start();
        sleepUntil(windowStart);
        CpuSample cpuStart = new CpuSample();
        sleepUntil(windowEnd);
        CpuSample cpuEnd = new CpuSample();
        for (Thread t : threads) t.join();
        for (CuratorFramework c : clients) c.close();
        if (failure.get() != null) throw new Exception("cycle failed", failure.get());
        long total = 0;
        Samples all = new Samples();
        for (int i = 0; i < contenders; i++) {
            total += cycles[i];
            all.addAll(acquireUs[i]);
        }
        return String.format("cycles=%d duration_s=%.2f cycles_per_s=%.1f max_holders=%d %s %s",
                total, durationS, total / durationS, holdersMost.get(), all.fields(),
                cpuStart.fieldsUntil(cpuEnd));
    }

    static void sleepUntil(long nanoTime) throws InterruptedException {
        long left;
        while ((left = nanoTime - System.nanoTime()) > 0) {
            TimeUnit.NANOSECONDS.sleep(left);
        }
    }

    /** Starts a latch and waits until its node exists (Curator has no "waiting" state). */
    static LeaderLatch join(CuratorFramework c, String path, String id) throws Exception {
        LeaderLatch latch = new LeaderLatch(c, path, id);
        latch.start();
        long deadline = System.nanoTime() + STEP_TIMEOUT_S * 1_000_000_000L;
        while (latch.getOurPath() == null) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("latch " + id + " has no node within "
                        + STEP_TIMEOUT_S + " s");
            }
            Thread.sleep(1);
        }
        return latch;
    }

    static void awaitLeader(LeaderLatch latch) throws Exception {
        if (!latch.await(STEP_TIMEOUT_S, TimeUnit.SECONDS)) {
            throw new IllegalStateException("latch " + latch.getId() + " not leader within "
                    + STEP_TIMEOUT_S + " s");
        }
    }

    /** Leader hand-over between two participants, each on its own session. */
    static String benchLatch(String root) throws Exception {
        String path = root + "/latch";
        CuratorFramework[] clients = {connect(), connect()};
        String[] ids = {"p0", "p1"};
        LeaderLatch[] latches = new LeaderLatch[2];
        latches[0] = join(clients[0], path, ids[0]);
        awaitLeader(latches[0]);
        latches[1] = join(clients[1], path, ids[1]);
        int leader = 0;
        long warmupEnd = System.nanoTime() + (long) (warmupS * 1e9);
        Samples handoverUs = new Samples();
        CpuSample cpuStart = null;
        long recordingStart = 0;
        while (handoverUs.size < handovers) {
            // Let the participant that joined last settle (its watch on the leader is set).
            Thread.sleep(settleMs);
            boolean recording = System.nanoTime() >= warmupEnd;
            if (recording && cpuStart == null) {
                cpuStart = new CpuSample();
                recordingStart = System.nanoTime();
            }
            int follower = 1 - leader;
            long began = System.nanoTime();
            latches[leader].close();
            awaitLeader(latches[follower]);
            long took = System.nanoTime() - began;
            if (recording) handoverUs.add(took / 1000);
            latches[leader] = join(clients[leader], path, ids[leader]);
            leader = follower;
        }
        CpuSample cpuEnd = new CpuSample();
        double elapsedS = (System.nanoTime() - recordingStart) / 1e9;
        for (LeaderLatch latch : latches) latch.close();
        for (CuratorFramework c : clients) c.close();
        long sum = 0;
        for (int i = 0; i < handoverUs.size; i++) sum += handoverUs.values[i];
        return String.format("handovers=%d duration_s=%.2f %s mean_us=%d %s", handoverUs.size,
                elapsedS, handoverUs.fields(), sum / handoverUs.size, cpuStart.fieldsUntil(cpuEnd));
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < args.length; i += 2) {
            String flag = args[i];
            if (i + 1 >= args.length) throw new IllegalArgumentException(flag + " needs a value");
            String v = args[i + 1];
            switch (flag) {
                case "--server": server = v; break;
                case "--recipe": recipe = v; break;
                case "--contenders": contenders = Integer.parseInt(v); break;
                case "--max-leases": maxLeases = Integer.parseInt(v); break;
                case "--duration": durationS = Double.parseDouble(v); break;
                case "--warmup": warmupS = Double.parseDouble(v); break;
                case "--handovers": handovers = Integer.parseInt(v); break;
                case "--settle-ms": settleMs = Long.parseLong(v); break;
                case "--session-timeout": sessionTimeoutMs = Integer.parseInt(v); break;
                case "--server-pid": serverPid = Long.parseLong(v); break;
                // zk-recipe-bench's tokio option; meaningless here.
                case "--threads": break;
                default: throw new IllegalArgumentException("unknown option " + flag);
            }
        }
        if (server == null) throw new IllegalArgumentException("--server is required");
        if (!Arrays.asList("lock", "semaphore", "latch").contains(recipe)) {
            throw new IllegalArgumentException("--recipe: lock, semaphore or latch, not " + recipe);
        }
        if (contenders < 1 || handovers < 1 || durationS <= 0 || maxLeases < 1) {
            throw new IllegalArgumentException(
                    "--contenders, --handovers, --duration and --max-leases must be positive");
        }
        if (recipe.equals("latch")) contenders = 2;
        String root = "/zk-recipe-bench-java-" + ProcessHandle.current().pid();
        String fields;
        try {
            fields = recipe.equals("latch") ? benchLatch(root) : benchCycles(root);
        } finally {
            // The recipes' parents are containers the server would reap by itself; deleting
            // them now leaves the next run a clean tree.
            try (CuratorFramework admin = connect()) {
                if (admin.checkExists().forPath(root) != null) {
                    admin.delete().deletingChildrenIfNeeded().forPath(root);
                }
            } catch (Exception e) {
                System.err.println("cleanup of " + root + " failed: " + e);
            }
        }
        System.out.println("RESULT recipe=" + recipe + " client=curator contenders=" + contenders
                + " max_leases=" + (recipe.equals("semaphore") ? maxLeases : 0) + " " + fields);
        // Curator's and ZooKeeper's non-daemon threads are closed, but exit promptly anyway.
        System.exit(0);
    }
}
