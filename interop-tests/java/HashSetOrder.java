import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;

/**
 * Records how java.util.HashSet<String>, made as ZooKeeper's DataNode makes its children set
 * (new HashSet<String>(8)), orders its names after random adds and removes. zk-server's model of
 * that order (zk-server/src/tree/java_order.rs) replays the same script and must list the same
 * names in the same order at every checkpoint.
 *
 * Usage: HashSetOrder SEED SCENARIOS [SIZE]. Prints, in UTF-8, one line per step:
 *   "new"          a fresh set
 *   "+NAME"        set.add(NAME)
 *   "-NAME"        set.remove(NAME) (the name may be absent)
 *   "=N1/N2/..."   the set's iteration order ("=" alone when empty)
 * Names never contain '/', line breaks or lone surrogates, and are never empty.
 *
 * The checked-in fixture zk-server/tests/fixtures/java_hashset_order.txt is
 *   java interop-tests/java/HashSetOrder.java 1 8 > zk-server/tests/fixtures/java_hashset_order.txt
 * (interop-tests/tests/children_order.rs checks it is still what this program prints).
 */
public class HashSetOrder {
    static final String ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
    /** BMP characters on both sides of the surrogate range, and characters above U+FFFF. */
    static final int[] UNICODE = {
        0xe9, 0x3b1, 0x4e2d, 0x6587, 0xd7ff, 0xe000, 0xff21, 0xfffd, 0x1f600, 0x1f4a9, 0x10348, 0x2070e,
    };

    static Random rnd;
    static PrintStream out;

    public static void main(String[] args) throws Exception {
        long seed = Long.parseLong(args[0]);
        int scenarios = Integer.parseInt(args[1]);
        int size = args.length > 2 ? Integer.parseInt(args[2]) : 150;
        rnd = new Random(seed);
        out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        out.println("# java.util.HashSet<String>(8) iteration orders; HashSetOrder " + seed + " "
            + scenarios + (args.length > 2 ? " " + size : "") + " on Java "
            + System.getProperty("java.specification.version"));
        for (int s = 0; s < scenarios; s++) {
            List<String> pool;
            switch (s % 4) {
                case 0: pool = randomNames(size); break;
                case 1: pool = equalHashFamilies(size); break;
                case 2: pool = sameBinNames(size, 64 << rnd.nextInt(3)); break;
                default:
                    pool = new ArrayList<>(randomNames(size / 3));
                    pool.addAll(equalHashFamilies(size / 3));
                    pool.addAll(sameBinNames(size / 3, 64));
            }
            scenario(pool);
        }
        out.flush();
    }

    /** Grow, shrink, regrow, shrink to nothing: every resize, split, treeify and untreeify path. */
    static void scenario(List<String> pool) {
        HashSet<String> set = new HashSet<>(8);
        out.println("new");
        int n = pool.size();
        phase(set, pool, n, 0.9);
        phase(set, pool, n, 0.15);
        phase(set, pool, n / 2, 0.7);
        phase(set, pool, n, 0.05);
        phase(set, pool, n / 3, 0.8);
    }

    /** `steps` random operations, each an add with probability `addShare`, else a remove. */
    static void phase(HashSet<String> set, List<String> pool, int steps, double addShare) {
        List<String> present = new ArrayList<>(set);
        for (int i = 0; i < steps; i++) {
            if (rnd.nextDouble() < addShare || present.isEmpty()) {
                String name = pool.get(rnd.nextInt(pool.size()));
                out.println("+" + name);
                if (set.add(name)) {
                    present.add(name);
                }
            } else {
                // Mostly names that are there; sometimes one that may not be.
                String name = rnd.nextInt(10) == 0
                    ? pool.get(rnd.nextInt(pool.size()))
                    : present.get(rnd.nextInt(present.size()));
                out.println("-" + name);
                if (set.remove(name)) {
                    present.remove(name);
                }
            }
            if (rnd.nextInt(steps / 3 + 1) == 0) {
                order(set);
            }
        }
        order(set);
    }

    static void order(HashSet<String> set) {
        out.println("=" + String.join("/", set));
    }

    static List<String> randomNames(int count) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            StringBuilder b = new StringBuilder();
            int len = 1 + rnd.nextInt(12);
            for (int j = 0; j < len; j++) {
                if (rnd.nextInt(6) == 0) {
                    b.appendCodePoint(UNICODE[rnd.nextInt(UNICODE.length)]);
                } else {
                    b.append(ALNUM.charAt(rnd.nextInt(ALNUM.length())));
                }
            }
            names.add(b.toString());
        }
        return names;
    }

    /**
     * Names with equal hash codes: "Aa" and "BB" hash alike, so every string of k such blocks
     * does; a few families (different prefixes) share the table.
     */
    static List<String> equalHashFamilies(int count) {
        List<String> names = new ArrayList<>();
        String[] prefixes = {"", "lock-", "x", "\u00e9", "\ud83d\ude00"};
        while (names.size() < count) {
            String prefix = prefixes[rnd.nextInt(prefixes.length)];
            int blocks = 3 + rnd.nextInt(6);
            StringBuilder b = new StringBuilder(prefix);
            for (int j = 0; j < blocks; j++) {
                b.append(rnd.nextBoolean() ? "Aa" : "BB");
            }
            names.add(b.toString());
        }
        return names;
    }

    /**
     * Names of different hash codes that all fall in one bin of a `bins`-bin table (spread
     * hash equal in its low bits), so the bin becomes a tree ordered by hash, and splits into
     * two trees when the table doubles. Negative hash codes included.
     */
    static List<String> sameBinNames(int count, int bins) {
        List<String> names = new ArrayList<>();
        int target = rnd.nextInt(bins);
        while (names.size() < count) {
            StringBuilder b = new StringBuilder();
            int len = 4 + rnd.nextInt(6);
            for (int j = 0; j < len; j++) {
                b.append(ALNUM.charAt(rnd.nextInt(ALNUM.length())));
            }
            String name = b.toString();
            int h = name.hashCode();
            if (((h ^ (h >>> 16)) & (bins - 1)) == target) {
                names.add(name);
            }
        }
        return names;
    }
}
