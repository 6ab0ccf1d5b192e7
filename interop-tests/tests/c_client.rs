//! The ZooKeeper C client (Debian's `cli_mt`, from zookeeper-bin, built on libzookeeper-mt) against
//! the real Java 3.8 server and ours, one batch command (`cli_mt -c`) per process: the C client's
//! own encodings (its null buffers, create modes, ls2, sync, the config node) must be
//! answered the same. Output is compared after renaming zxids in order of first appearance and
//! dropping what is run-dependent (timings, session ids, times of day).

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use interop_tests::{JavaZkServer, RunningProgram, RustZkServer, ServerUnderTest};

const CLI_MT: &str = "/usr/lib/zookeeper/bin/cli_mt";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// Each runs in a fresh session (the ephemeral is gone by the next command). `exists`, `wexists`
/// and `myid` are left out: in batch mode cli_mt never exits after them, whatever the server.
const COMMANDS: &[&str] = &[
    "create /cc",
    "create /cc/plain",
    "create +s /cc/seq-",
    "create +s /cc/seq-",
    "create +e /cc/eph",
    "create +c /cc/container",
    "create2 /cc/two",
    "create /cc/plain",
    "create /missing/child",
    "set /cc some-data",
    "set /cc/none x",
    "get /cc",
    "get /cc/none",
    "ls /cc",
    "ls2 /cc",
    "sync /cc",
    "delete /cc",
    "delete /cc/plain",
    "delete /cc/plain",
    "get /zookeeper/config",
    "ls /zookeeper",
    "config",
    "od",
];

/// Runs one batch command; returns stdout and stderr, killed past [`COMMAND_TIMEOUT`].
fn cli_mt(server: &dyn ServerUnderTest, command: &str) -> String {
    assert!(
        std::path::Path::new(CLI_MT).is_file(),
        "{CLI_MT} not found: the interop tests need the Debian package zookeeper-bin; run scripts/test.sh"
    );
    let mut cli = Command::new(CLI_MT);
    cli.args(["-h", &server.connect_string(), "-c", command]);
    let out = RunningProgram::spawn(cli, &format!("cli_mt -c '{command}'"))
        .and_then(|running| running.wait_timeout(COMMAND_TIMEOUT))
        .unwrap_or_else(|e| panic!("cli_mt -c '{command}' against {}: {e}", server.kind()));
    out.stdout + &out.stderr
}

/// Drops run-dependent lines, renames zxids (`czxid=f`) in order of first appearance.
fn normalise(transcript: &str, zxids: &mut HashMap<String, usize>) -> String {
    let mut out = String::new();
    // cli_mt prints the session event from its watcher thread and the command's lines from
    // the main thread: their interleaving is a thread race, so session events go first.
    let mut session_events = String::new();
    for line in transcript.lines() {
        let line = line.trim_end();
        if line.starts_with("Watcher SESSION_EVENT") {
            session_events.push_str(line);
            session_events.push('\n');
            continue;
        }
        if line.is_empty()
            || line.contains("time = ")
            || line.starts_with("Got a new session id")
            || line.contains("ctime = ")
            || line.contains("mtime=")
            || line.contains("ZOO_INFO")
            || line.contains("ZOO_DEBUG")
        {
            continue;
        }
        let line = match line.split_once("zxid=") {
            Some((head, zxid)) => {
                let next = zxids.len() + 1;
                format!(
                    "{head}zxid=Z{}",
                    zxids.entry(zxid.to_owned()).or_insert(next)
                )
            }
            None => line.to_owned(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    session_events + &out
}

#[test]
fn the_c_client_sees_the_same_as_on_java() {
    let ours = RustZkServer::start(&[]).expect("start zk-server");
    let java = JavaZkServer::start().expect("start the Java ZooKeeper server");
    let (mut java_zxids, mut our_zxids) = (HashMap::new(), HashMap::new());
    let mut differences = Vec::new();
    for command in COMMANDS {
        let expected = normalise(&cli_mt(&java, command), &mut java_zxids);
        let actual = normalise(&cli_mt(&ours, command), &mut our_zxids);
        if expected != actual {
            differences.push(format!(
                "cli_mt -c '{command}':\n--- java\n{expected}--- zk-rs\n{actual}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "the C client sees zk-server differ from Java 3.8:\n{}",
        differences.join("\n")
    );
}

#[test]
fn normalise_renames_zxids_and_drops_run_dependent_lines() {
    let mut zxids = HashMap::new();
    let text = "Got a new session id: 0x1\n\tczxid=f\n\tmzxid=1b\n\tpzxid=f\ntime = 3 msec\n";
    assert_eq!(
        normalise(text, &mut zxids),
        "\tczxid=Z1\n\tmzxid=Z2\n\tpzxid=Z1\n"
    );
    // Wherever the watcher thread's line landed, it comes first.
    let early = "Watcher SESSION_EVENT state = CONNECTED_STATE\nCreating [/a]\n";
    let late = "Creating [/a]\nWatcher SESSION_EVENT state = CONNECTED_STATE\n";
    assert_eq!(normalise(early, &mut zxids), normalise(late, &mut zxids));
}
