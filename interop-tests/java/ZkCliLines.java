import org.apache.zookeeper.ZooKeeperMain;

/**
 * The real zkCli (ZooKeeperMain, the class behind zkCli.sh) running the command lines given as
 * arguments 1.. in one session against the server in argument 0. Before each command, and before
 * the final "close" (which ends the session, so none is left to expire), it prints a marker line
 * on stdout and on stderr, so each command's output can be told apart.
 */
public class ZkCliLines {
    static final String MARKER = "@@ZkCliLines@@ ";

    static void mark(String line) {
        System.out.println(MARKER + line);
        System.out.flush();
        System.err.println(MARKER + line);
        System.err.flush();
    }

    public static void main(String[] args) throws Exception {
        ZooKeeperMain cli = new ZooKeeperMain(new String[] {"-server", args[0], "-waitforconnection"});
        for (int i = 1; i < args.length; i++) {
            mark(args[i]);
            cli.executeLine(args[i]);
        }
        mark("close");
        cli.executeLine("close");
        System.exit(0);
    }
}
