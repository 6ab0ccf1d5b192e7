// Curator's queues, for tests/recipes_queue.rs: produces into or consumes from the queues a Rust
// zk_client::recipes::queue::DistributedQueue shares. Items are UTF-8 strings.
//
// Arguments: <connect string> <command> [-- <command>]..., each command run in turn on one
// Curator client:
//
//   put <path> <item>...                   DistributedQueue.put; an item `multi:a,b,c` is one
//                                          putMulti of a, b and c
//   put-priority <path> <item>=<prio>...   DistributedPriorityQueue.put(item, prio)
//   put-simple <path> <item>...            SimpleDistributedQueue.offer
//   consume <path> <count> [<lock path>]   a DistributedQueue consumer (with QueueBuilder.lockPath
//                                          if given) until <count> items arrived
//   consume-priority <path> <count>        the same with a DistributedPriorityQueue
//   consume-until <path> <stop node> [<lock path>]
//                                          a DistributedQueue consumer until <stop node> exists
//   take-simple <path> <count>             SimpleDistributedQueue.take, <count> times
//
// Output: `ready` once connected; a consumer prints `consuming` once started, then
// `item <item>` for each item in the order its QueueConsumer got them; each command ends with
// `end <command>`; then `done`.
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.queue.DistributedPriorityQueue;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.MultiItem;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.queue.SimpleDistributedQueue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;

public class CuratorQueueDriver {
    static final long WAIT_SECONDS = 30;

    static final QueueSerializer<String> UTF8 = new QueueSerializer<String>() {
        public byte[] serialize(String item) {
            return item.getBytes(StandardCharsets.UTF_8);
        }

        public String deserialize(byte[] bytes) {
            return new String(bytes, StandardCharsets.UTF_8);
        }
    };

    /// Prints each item and counts down.
    static QueueConsumer<String> printer(CountDownLatch arrived) {
        return new QueueConsumer<String>() {
            public void consumeMessage(String item) {
                System.out.println("item " + item);
                arrived.countDown();
            }

            public void stateChanged(CuratorFramework client, ConnectionState state) {}
        };
    }

    public static void main(String[] args) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(args[0])
                .sessionTimeoutMs(10000)
                .connectionTimeoutMs(10000)
                .retryPolicy(new RetryNTimes(3, 200))
                .build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected within 20 s");
        }
        try {
            System.out.println("ready");
            List<String> command = new ArrayList<>();
            for (String arg : Arrays.asList(args).subList(1, args.length)) {
                if (arg.equals("--")) {
                    run(c, command);
                    command.clear();
                } else {
                    command.add(arg);
                }
            }
            run(c, command);
            System.out.println("done");
        } finally {
            c.close();
        }
    }

    static void run(CuratorFramework c, List<String> command) throws Exception {
        String name = command.get(0);
        String path = command.get(1);
        List<String> rest = command.subList(2, command.size());
        switch (name) {
            case "put": {
                DistributedQueue<String> queue = QueueBuilder.builder(c, null, UTF8, path)
                        .putInBackground(false)
                        .buildQueue();
                queue.start();
                for (String item : rest) {
                    if (item.startsWith("multi:")) {
                        final List<String> items =
                                new ArrayList<>(Arrays.asList(item.substring(6).split(",")));
                        queue.putMulti(new MultiItem<String>() {
                            public String nextItem() {
                                return items.isEmpty() ? null : items.remove(0);
                            }
                        });
                    } else {
                        queue.put(item);
                    }
                }
                queue.close();
                break;
            }
            case "put-priority": {
                DistributedPriorityQueue<String> queue = QueueBuilder.builder(c, null, UTF8, path)
                        .putInBackground(false)
                        .buildPriorityQueue(0);
                queue.start();
                for (String item : rest) {
                    int eq = item.lastIndexOf('=');
                    queue.put(item.substring(0, eq), Integer.parseInt(item.substring(eq + 1)));
                }
                queue.close();
                break;
            }
            case "put-simple": {
                SimpleDistributedQueue queue = new SimpleDistributedQueue(c, path);
                for (String item : rest) {
                    queue.offer(item.getBytes(StandardCharsets.UTF_8));
                }
                break;
            }
            case "consume":
            case "consume-priority": {
                int count = Integer.parseInt(rest.get(0));
                CountDownLatch arrived = new CountDownLatch(count);
                QueueBuilder<String> builder = QueueBuilder.builder(c, printer(arrived), UTF8, path);
                if (rest.size() > 1) {
                    builder = builder.lockPath(rest.get(1));
                }
                java.io.Closeable queue;
                if (name.equals("consume")) {
                    DistributedQueue<String> q = builder.buildQueue();
                    q.start();
                    queue = q;
                } else {
                    DistributedPriorityQueue<String> q = builder.buildPriorityQueue(0);
                    q.start();
                    queue = q;
                }
                System.out.println("consuming");
                boolean all = arrived.await(WAIT_SECONDS, TimeUnit.SECONDS);
                queue.close();
                if (!all) {
                    System.out.println("timeout");
                    System.exit(1);
                }
                break;
            }
            case "consume-until": {
                String stop = rest.get(0);
                QueueBuilder<String> builder =
                        QueueBuilder.builder(c, printer(new CountDownLatch(0)), UTF8, path);
                if (rest.size() > 1) {
                    builder = builder.lockPath(rest.get(1));
                }
                DistributedQueue<String> queue = builder.buildQueue();
                queue.start();
                System.out.println("consuming");
                long deadline = System.currentTimeMillis() + WAIT_SECONDS * 1000;
                while (c.checkExists().forPath(stop) == null) {
                    if (System.currentTimeMillis() > deadline) {
                        System.out.println("timeout");
                        System.exit(1);
                    }
                    Thread.sleep(20);
                }
                queue.close();
                break;
            }
            case "take-simple": {
                SimpleDistributedQueue queue = new SimpleDistributedQueue(c, path);
                int count = Integer.parseInt(rest.get(0));
                for (int i = 0; i < count; i++) {
                    byte[] item = queue.poll(WAIT_SECONDS, TimeUnit.SECONDS);
                    if (item == null) {
                        System.out.println("timeout");
                        System.exit(1);
                    }
                    System.out.println("item " + new String(item, StandardCharsets.UTF_8));
                }
                break;
            }
            default:
                throw new IllegalArgumentException("unknown command " + name);
        }
        System.out.println("end " + name);
    }
}
