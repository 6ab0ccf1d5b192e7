import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import org.apache.jute.BinaryInputArchive;
import org.apache.jute.BinaryOutputArchive;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.server.DataTree;

/**
 * Runs a script on ZooKeeper's own DataTree (the server's in-memory tree, no server around it)
 * and prints the children lists it asks for, so zk-server's tree can be compared with it.
 *
 * Usage: DataTreeOrder SCRIPT_FILE. The script (UTF-8) has one step per line:
 *   "c PATH"   createNode(PATH) (persistent, empty data, open ACL; the next zxid)
 *   "d PATH"   deleteNode(PATH) (the next zxid)
 *   "snap"     serialize the tree as a snapshot does and deserialize it into a new DataTree,
 *              as a restart does
 *   "ls PATH"  print "PATH<TAB>C1/C2/..." in getChildren order
 * A step that throws prints "! STEP: EXCEPTION".
 */
public class DataTreeOrder {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        List<String> script = Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8);
        DataTree tree = new DataTree();
        long zxid = 0;
        for (String step : script) {
            try {
                if (step.startsWith("c ")) {
                    zxid++;
                    tree.createNode(step.substring(2), new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, 0, -1, zxid, 0);
                } else if (step.startsWith("d ")) {
                    zxid++;
                    tree.deleteNode(step.substring(2), zxid);
                } else if (step.equals("snap")) {
                    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                    tree.serialize(BinaryOutputArchive.getArchive(bytes), "tree");
                    tree = new DataTree();
                    tree.deserialize(
                        BinaryInputArchive.getArchive(new ByteArrayInputStream(bytes.toByteArray())), "tree");
                } else if (step.startsWith("ls ")) {
                    String path = step.substring(3);
                    out.println(path + "\t" + String.join("/", tree.getChildren(path, null, null)));
                } else if (!step.isEmpty()) {
                    throw new IllegalArgumentException("unknown step");
                }
            } catch (Exception e) {
                out.println("! " + step + ": " + e);
            }
        }
        out.flush();
    }
}
