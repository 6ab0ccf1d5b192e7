// Curator's GroupMember as one member of a group, for tests/supervisor.rs: shares the group
// with Rust zk_client::recipes::group::GroupMember members.
//
// Arguments: <connect string> <group path> <member id> <payload> <close signal path>.
//
// Output: `started`, then `members <id>=<payload>,...` (sorted by id) every time the
// membership Curator's getCurrentMembers() reports changes (polled every 50 ms). When a node
// appears at <close signal path> it closes the member (deleting its node) and prints `closed`.
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.nodes.GroupMember;
import org.apache.curator.retry.RetryNTimes;

public class CuratorGroupMember {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String group = args[1];
        String id = args[2];
        byte[] payload = args[3].getBytes(StandardCharsets.UTF_8);
        String closeSignal = args[4];
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
        GroupMember member = new GroupMember(c, group, id, payload);
        member.start();
        System.out.println("started");
        String last = null;
        while (c.checkExists().forPath(closeSignal) == null) {
            Map<String, byte[]> sorted = new TreeMap<>(member.getCurrentMembers());
            StringBuilder line = new StringBuilder("members ");
            boolean first = true;
            for (Map.Entry<String, byte[]> e : sorted.entrySet()) {
                if (!first) {
                    line.append(',');
                }
                first = false;
                line.append(e.getKey()).append('=')
                        .append(new String(e.getValue(), StandardCharsets.UTF_8));
            }
            String now = line.toString();
            if (!now.equals(last)) {
                System.out.println(now);
                last = now;
            }
            Thread.sleep(50);
        }
        member.close();
        System.out.println("closed");
        c.close();
    }
}
