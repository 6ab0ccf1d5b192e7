//! Real ZooKeeper clients, unchanged, against our server (zk-server, run in-process): the plain
//! Java client (`java/JavaClientOps.java`), Curator 5.4 recipes (`java/CuratorRecipes.java`),
//! kazoo (`python/kazoo_recipes.py`) and the one-shot `zkCli.sh`.
//!
//! Each client runs a fixed script and prints a transcript with nothing run-dependent in it; the
//! test compares it line by line with the expected text below. Every test runs twice, in module
//! `zk_rs` against our server and in module `java_server` against the real Java server with the
//! same expectation, so the expectation itself is checked against the reference:
//! `cargo test -p interop-tests --test real_clients zk_rs` runs only ours.
//!
//! These need Java, the Debian ZooKeeper/Curator packages, zookeeper's `zkCli.sh` and
//! python3-kazoo: run `scripts/test.sh` on a fresh machine. A missing piece fails the test with a
//! message saying so.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interop_tests::{JavaProgram, JavaZkServer, PythonScript, RustZkServer, ServerUnderTest};

/// zoo.cfg lines for both servers (TTL nodes need extended types).
const CFG: &[&str] = &["extendedTypesEnabled=true"];

/// Limit for one driver run (each takes a second or two).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Debian's zkCli.sh.
const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// Limit for one zkCli.sh command (each takes about half a second).
const ZKCLI_TIMEOUT: Duration = Duration::from_secs(30);

fn rust_server() -> RustZkServer {
    RustZkServer::start(CFG).expect("start zk-server")
}

fn java_server() -> JavaZkServer {
    let mut builder = JavaZkServer::builder();
    for line in CFG {
        builder = builder.cfg(*line);
    }
    builder.start().unwrap_or_else(|e| panic!("{e}"))
}

/// Compares a transcript with the expected text line by line; on a mismatch the panic lists
/// every differing line, then the whole transcript and the client's stderr.
fn assert_transcript(
    client: &str,
    server: &dyn ServerUnderTest,
    expected: &str,
    actual: &str,
    stderr: &str,
) {
    let want: Vec<&str> = expected.lines().collect();
    let got: Vec<&str> = actual.lines().collect();
    let mut diffs = Vec::new();
    for i in 0..want.len().max(got.len()) {
        let (w, g) = (want.get(i), got.get(i));
        if w != g {
            diffs.push(format!(
                "line {}:\n  expected: {}\n  got:      {}",
                i + 1,
                w.unwrap_or(&"<none>"),
                g.unwrap_or(&"<none>")
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{client} against the {} server: {} line(s) differ from the expected transcript\n{}\n\
         --- transcript ---\n{actual}\n--- stderr ---\n{stderr}",
        server.kind(),
        diffs.len(),
        diffs.join("\n")
    );
}

fn run_java(file: &str, server: &dyn ServerUnderTest, expected: &str) {
    let program = JavaProgram::from_file(file).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let out = program
        .run_timeout(&[server.connect_string()], RUN_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{file} against {} ran in {} ms",
        server.kind(),
        started.elapsed().as_millis()
    );
    assert_transcript(file, server, expected, &out.stdout, &out.stderr);
    out.expect_success().unwrap_or_else(|e| panic!("{e}"));
}

fn run_python(file: &str, server: &dyn ServerUnderTest, expected: &str) {
    let script = PythonScript::from_file(file).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let out = script
        .run_timeout(&[server.connect_string()], RUN_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{file} against {} ran in {} ms",
        server.kind(),
        started.elapsed().as_millis()
    );
    assert_transcript(file, server, expected, &out.stdout, &out.stderr);
    out.expect_success().unwrap_or_else(|e| panic!("{e}"));
}

// ---------------------------------------------------------------------------------------------
// 1. The plain Java client.
// ---------------------------------------------------------------------------------------------

/// `JavaClientOps` under /jco. `owner=0` for containers and TTL nodes is right: Java's server
/// reports the owner of non-ephemeral special nodes to clients as 0.
const JAVA_CLIENT_OPS: &str = "\
connected timeout=10000
create persistent: /jco
create ephemeral: /jco/eph v=0 cv=0 av=0 len=1 kids=0 owner=self
create persistent_sequential: /jco/seq-0000000001
create ephemeral_sequential: /jco/eseq-0000000002 v=0 cv=0 av=0 len=0 kids=0 owner=self
create container: /jco/cont v=0 cv=0 av=0 len=1 kids=0 owner=0
create persistent_with_ttl: /jco/ttl v=0 cv=0 av=0 len=1 kids=0 owner=0
create persistent_sequential_with_ttl: /jco/tseq-0000000005 v=0 cv=0 av=0 len=2 kids=0 owner=0
create existing: NODEEXISTS
create under ephemeral: NOCHILDRENFOREPHEMERALS
create without parent: NONODE
create ttl 0: local:IllegalArgumentException
getData /jco: 'root' v=0 cv=6 av=0 len=4 kids=6 owner=0
setData /jco version 0: v=1 cv=6 av=0 len=5 kids=6 owner=0
setData /jco version 0 again: BADVERSION
setData /jco version -1: v=2 cv=6 av=0 len=5 kids=6 owner=0
getData /jco: 'root3' v=2 cv=6 av=0 len=5 kids=6 owner=0
getData missing: NONODE
exists /jco/eph: v=0 cv=0 av=0 len=1 kids=0 owner=self
exists missing: null
getChildren2 /jco: [cont, eph, eseq-0000000002, seq-0000000001, tseq-0000000005, ttl] v=2 cv=6 av=0 len=5 kids=6 owner=0
getChildren missing: NONODE
delete /jco/seq-0000000001 version 5: BADVERSION
delete /jco/seq-0000000001 version 0: ok
delete /jco/seq-0000000001 again: NONODE
delete /jco: NOTEMPTY
getData /jco after delete: 'root3' v=2 cv=7 av=0 len=5 kids=5 owner=0
multi: [create /jco/m, create /jco/m/c, setData v=1 cv=1 av=0 len=2 kids=1 owner=0, check, delete, create /jco/m/s-0000000001]
getData /jco/m: 'm2' v=1 cv=3 av=0 len=2 kids=1 owner=0
failing multi: BADVERSION path=null results=[error OK, error OK, error BADVERSION, error RUNTIMEINCONSISTENCY]
exists /jco/m2 after failed multi: null
getData /jco/m after failed multi: 'm2' v=1 cv=3 av=0 len=2 kids=1 owner=0
digest alice:secret = alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=
create /jco/secure creator_all: /jco/secure
getACL /jco/secure: [digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E==31] v=0 cv=0 av=0 len=1 kids=0 owner=0
other getData /jco/secure: NOAUTH
other getACL /jco/secure: NOAUTH
other setACL /jco/secure: NOAUTH
setACL /jco/secure version 3: BADVERSION
setACL /jco/secure version 0: v=0 cv=0 av=1 len=1 kids=0 owner=0
getACL /jco/secure: [world:anyone=1, digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E==31] v=0 cv=0 av=1 len=1 kids=0 owner=0
other getData /jco/secure: 's'
other setData /jco/secure: NOAUTH
setData /jco/secure: v=1 cv=0 av=1 len=1 kids=0 owner=0
create /jco/secure/kid (needs CREATE): /jco/secure/kid
other create /jco/secure/kid2: NOAUTH
other create creator_all without auth: INVALIDACL
whoAmI: [digest:alice, ip:127.0.0.1]
other whoAmI: [ip:127.0.0.1]
getData /jco/eph with watch: 'e'
getChildren /jco/cont with watch: []
exists /jco/later with watch: null
data watch: NodeDataChanged /jco/eph SyncConnected
child watch: NodeChildrenChanged /jco/cont SyncConnected
exist watch: NodeCreated /jco/later SyncConnected
no more one-shot events: null
create /jco/rec: /jco/rec
addWatch /jco/rec persistent_recursive: ok
recursive watch: NodeCreated /jco/rec/a SyncConnected
recursive watch: NodeCreated /jco/rec/a/b SyncConnected
recursive watch: NodeDataChanged /jco/rec/a SyncConnected
recursive watch: NodeDeleted /jco/rec/a/b SyncConnected
recursive watch: NodeDataChanged /jco/rec SyncConnected
no more recursive events: null
addWatch /jco/cont persistent: ok
persistent watch: NodeChildrenChanged /jco/cont SyncConnected
persistent watch: NodeDataChanged /jco/cont SyncConnected
persistent watch: NodeDataChanged /jco/cont SyncConnected
getEphemerals: [/jco/eph, /jco/eseq-0000000002]
getEphemerals /jco/e: [/jco/eph, /jco/eseq-0000000002]
getEphemerals /nothing: []
getAllChildrenNumber /jco: 14
getAllChildrenNumber /jco/cont: 3
getAllChildrenNumber missing: NONODE
sync /jco: OK /jco
sync missing: OK /jco/missing
closed
other exists /jco/eph: null
other getEphemerals: []
other getChildren /jco: [cont, m, rec, secure, tseq-0000000005, ttl]
";

fn java_client_ops(server: &dyn ServerUnderTest) {
    run_java("java/JavaClientOps.java", server, JAVA_CLIENT_OPS);
}

// ---------------------------------------------------------------------------------------------
// 2. Curator 5.4.
// ---------------------------------------------------------------------------------------------

/// `CuratorRecipes` under /cur. The mutex lines show client 2 queued (two participants) while
/// client 1 holds the lock and acquiring only after client 1 released it, with one holder at a
/// time; the latch lines show exactly one leader, then the other participant taking over.
const CURATOR_RECIPES: &str = "\
connected
protected ephemeral_sequential /cur/a/b/_c_<uuid>-node-0000000000 matches=true
protected persistent /cur/a/b/_c_<uuid>-plain matches=true
parent /cur owner=0 kids=1
parent /cur/a owner=0 kids=1
parent /cur/a/b owner=0 kids=2
data 'x' 'y'
children [_c_<uuid>-node-0000000000, _c_<uuid>-plain]
mutex client1 acquire true
mutex client2 acquire 200 ms while held false
mutex client1 reentrant acquire true
mutex client1 still holds true
mutex participants 2
mutex events [client2 waiting, client1 releasing, client2 acquired true holders=1, client2 released]
mutex client2 acquired after release true
mutex participants after 0
latch participants 2 leaders 1
latch leader agreed true
latch handed over true leaders 1 participants 1
latch nodes after close 0
cache initialized true
cache initial create /cur/cache 'root'
cache create /cur/cache/x '1'
cache change /cur/cache/x '1' -> '2'
cache create /cur/cache/x/y '3'
cache delete /cur/cache/x/y
cache delete /cur/cache/x
cache change /cur/cache 'root' -> 'root2'
cache size 1 'root2'
txn CREATE /cur/txn -> /cur/txn error=0
txn CREATE /cur/txn/e -> /cur/txn/e error=0
txn SET_DATA /cur/txn -> null version=1 error=0
txn CHECK /cur/txn -> null error=0
txn DELETE /cur/txn/e -> null error=0
txn CREATE /cur/txn/s- -> /cur/txn/s-0000000001 error=0
failing txn BADVERSION
failing txn left /cur/txn2 false /cur/txn version 1
done
";

fn curator_recipes(server: &dyn ServerUnderTest) {
    run_java("java/CuratorRecipes.java", server, CURATOR_RECIPES);
}

// ---------------------------------------------------------------------------------------------
// 3. kazoo.
// ---------------------------------------------------------------------------------------------

/// `kazoo_recipes.py` under /kz. kazoo reports the ops of a failed transaction before the
/// failing one as RolledBackError (Java's server answers them as error results with code 0).
const KAZOO_RECIPES: &str = "\
connected
create /kz
create ephemeral /kz/eph
create sequence /kz/seq-0000000001
create ephemeral sequence /kz/eseq-0000000002
create makepath /kz/a/b/c
create existing NodeExistsError
create under ephemeral NoChildrenForEphemeralsError
ensure_path True /kz/made/by/ensure
get /kz/eph b'e' v=0 cv=0 len=1 kids=0 owner is self True
get missing NoNodeError
set version 0 v=1 cv=0 len=2 kids=0
set version 0 again BadVersionError
set any version v=2 cv=0 len=2 kids=0
exists v=2 cv=0 len=2 kids=0 | None
get_children ['a', 'eph', 'eseq-0000000002', 'made', 'seq-0000000001']
get_children include_data 5 v=0 cv=5 len=4 kids=5
other sees ephemeral True
delete version 3 BadVersionError
delete None
delete again NoNodeError
delete not empty NotEmptyError
delete recursive None None
get_children after ['eph', 'eseq-0000000002', 'made']
lock a acquire True
lock b non-blocking acquire while held False
lock contenders ['client-a', 'client-b']
lock events ['b waiting', 'a releasing', 'b acquired True holders=1', 'b released']
lock b acquired after a released True
lock nodes left []
DataWatch initial data=None None event=None
DataWatch data=b'1' v=0 cv=0 len=1 kids=0 event=CREATED
DataWatch data=b'2' v=1 cv=0 len=1 kids=0 event=CHANGED
DataWatch data=None None event=DELETED
DataWatch data=b'3' v=0 cv=0 len=1 kids=0 event=CREATED
ChildrenWatch initial []
ChildrenWatch ['a']
ChildrenWatch ['a', 'b']
ChildrenWatch ['b']
transaction [\"'/kz/t'\", \"'/kz/t/e'\", 'stat(v=1 cv=1 len=2 kids=1)', 'True', 'True', \"'/kz/t/s-0000000001'\"]
failing transaction ['RolledBackError', 'RolledBackError', 'BadVersionError', 'RuntimeInconsistency']
after failing transaction None b't2' v=1 cv=3 len=2 kids=1
stopped
ephemerals gone None None
children ['lock', 'made', 't', 'w']
done
";

fn kazoo_recipes(server: &dyn ServerUnderTest) {
    run_python("python/kazoo_recipes.py", server, KAZOO_RECIPES);
}

/// kazoo's `Id('auth', '')` goes out with a null id (issue 12): Java never reads it.
const KAZOO_AUTH_ACL: &str = "\
create '/kzauth'
acl ([(31, 'digest', 'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=')], 0)
child '/kzauth/c'
anonymous get NoAuthError
anonymous create InvalidACLError
set_acls 1
acl ([(31, 'digest', 'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=')], 1)
delete None
done
";

fn kazoo_auth_acl(server: &dyn ServerUnderTest) {
    run_python("python/kazoo_auth_acl.py", server, KAZOO_AUTH_ACL);
}

// ---------------------------------------------------------------------------------------------
// 4. zkCli.sh, one command per run.
// ---------------------------------------------------------------------------------------------

/// The commands, in order, each run as `zkCli.sh -server 127.0.0.1:<port> <command>`.
const ZKCLI_COMMANDS: &[&[&str]] = &[
    &["create", "/cli", "hello"],
    &["create", "/cli/a", "x"],
    &["create", "/cli/a/b", "y"],
    &["create", "-s", "/cli/s-", "seq"],
    &["ls", "-R", "/cli"],
    &["set", "/cli", "world"],
    &["set", "-v", "0", "/cli", "again"],
    &["get", "-s", "/cli"],
    &["delete", "/cli/a"],
    &["deleteall", "/cli"],
    &["ls", "/"],
];

/// What the commands print, with zkCli's connection chatter and slf4j's warnings left out and
/// ctime/mtime values replaced by `<time>`. The zxids are exact: every command's new session is
/// a transaction, and none is closed (zkCli.sh exits without closing its session).
const ZKCLI_TRANSCRIPT: &str = "\
$ create /cli hello
exit 0
stderr: Created /cli
$ create /cli/a x
exit 0
stderr: Created /cli/a
$ create /cli/a/b y
exit 0
stderr: Created /cli/a/b
$ create -s /cli/s- seq
exit 0
stderr: Created /cli/s-0000000001
$ ls -R /cli
exit 0
/cli
/cli/a
/cli/s-0000000001
/cli/a/b
$ set /cli world
exit 0
$ set -v 0 /cli again
exit 1
stderr: version No is not valid : /cli
$ get -s /cli
exit 0
world
cZxid = 0x2
ctime = <time>
mZxid = 0xb
mtime = <time>
pZxid = 0x8
cversion = 2
dataVersion = 1
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 5
numChildren = 2
$ delete /cli/a
exit 1
stderr: Node not empty: /cli/a
$ deleteall /cli
exit 0
$ ls /
exit 0
[zookeeper]
";

/// Lines zkCli.sh prints for every command, whatever it does.
fn zkcli_noise(line: &str) -> bool {
    line.trim().is_empty()
        || line.starts_with("SLF4J:")
        || line.starts_with("Connecting to ")
        || line == "WATCHER::"
        || line == "WatchedEvent state:SyncConnected type:None path:null"
}

/// Runs one zkCli.sh command in its own process group (the script runs java as a child), killing
/// the group past [`ZKCLI_TIMEOUT`]. Returns the exit code, stdout and stderr.
fn zkcli(server: &dyn ServerUnderTest, args: &[&str]) -> (Option<i32>, String, String) {
    if !std::path::Path::new(ZKCLI).is_file() {
        panic!(
            "{ZKCLI} not found: the interop tests need the Debian package zookeeper; run \
             scripts/test.sh"
        );
    }
    let mut child = Command::new(ZKCLI)
        .arg("-server")
        .arg(server.connect_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {ZKCLI}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + ZKCLI_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for zkCli.sh") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // The group id is the script's pid (process_group(0)): this ends java too.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(status) => (status.code(), stdout, stderr),
        None => panic!(
            "zkCli.sh {args:?} did not finish within {ZKCLI_TIMEOUT:?}\n--- stdout ---\n{stdout}\n\
             --- stderr ---\n{stderr}"
        ),
    }
}

fn zkcli_commands(server: &dyn ServerUnderTest) {
    let started = Instant::now();
    let mut transcript = String::new();
    let mut all_stderr = String::new();
    for args in ZKCLI_COMMANDS {
        let (code, stdout, stderr) = zkcli(server, args);
        transcript.push_str(&format!("$ {}\n", args.join(" ")));
        transcript.push_str(&format!(
            "exit {}\n",
            code.map_or("signal".to_owned(), |c| c.to_string())
        ));
        for line in stdout.lines().filter(|l| !zkcli_noise(l)) {
            let line = match line.split_once(" = ") {
                Some((key @ ("ctime" | "mtime"), value)) if !value.is_empty() => {
                    format!("{key} = <time>")
                }
                _ => line.to_owned(),
            };
            transcript.push_str(&line);
            transcript.push('\n');
        }
        for line in stderr.lines().filter(|l| !zkcli_noise(l)) {
            transcript.push_str(&format!("stderr: {line}\n"));
        }
        all_stderr.push_str(&format!("$ {}\n{stderr}", args.join(" ")));
    }
    eprintln!(
        "{} zkCli.sh commands against {} ran in {} ms",
        ZKCLI_COMMANDS.len(),
        server.kind(),
        started.elapsed().as_millis()
    );
    assert_transcript(
        "zkCli.sh",
        server,
        ZKCLI_TRANSCRIPT,
        &transcript,
        &all_stderr,
    );
}

// ---------------------------------------------------------------------------------------------
// Each scenario against both servers.
// ---------------------------------------------------------------------------------------------

macro_rules! against_both_servers {
    ($($name:ident,)*) => {
        /// The clients against zk-server.
        mod zk_rs {
            $(
                #[test]
                fn $name() {
                    let server = super::rust_server();
                    super::$name(&server);
                }
            )*
        }

        /// The same clients and expectations against the real Java server.
        mod java_server {
            $(
                #[test]
                fn $name() {
                    let server = super::java_server();
                    super::$name(&server);
                }
            )*
        }
    };
}

against_both_servers! {
    java_client_ops,
    curator_recipes,
    kazoo_recipes,
    kazoo_auth_acl,
    zkcli_commands,
}
