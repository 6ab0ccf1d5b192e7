//! zkcli against the real zkCli.sh (ZooKeeper 3.8, Debian's `/usr/share/zookeeper/bin/zkCli.sh`),
//! both talking to a real Java server.
//!
//! - Writes: the same shell script runs through both tools, each in its own subtree (`/java`,
//!   `/rust`); outputs are compared command by command after replacing the subtree name and the
//!   Stat fields that legitimately differ between two trees (zxids, times, session ids).
//! - Reads: both tools then read the same nodes, and the output must be identical byte for
//!   byte, Stat times included (printed in a non-UTC zone when tzdata is installed, to check the
//!   `Date.toString()` rendering).
//! - One-shot mode: output and exit status of single commands, errors on stderr.
//!
//! Each zkCli.sh session is one JVM start (about a second); the scripts keep their number small.
//! Set `ZKCLI_TEST_DUMP=1` to see every compared step.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interop_tests::JavaZkServer;

const ZKCLI_SH: &str = "/usr/share/zookeeper/bin/zkCli.sh";
const OURS: &str = env!("CARGO_BIN_EXE_zkcli");
/// Node whose data marks the end of a step on stdout.
const MARK: &str = "/zkcli-test-mark";
const MARK_DATA: &str = "@@MARK@@";
/// Missing node whose error marks the end of a step on stderr.
const NO_MARK: &str = "/zkcli-test-no-mark";
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The captured result of one process run.
#[derive(Debug, Clone, Default)]
struct Run {
    stdout: String,
    stderr: String,
    status: Option<i32>,
}

/// Which client runs a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Java,
    Ours,
}

/// The time zone both tools print Stat times in: a zone with an offset when tzdata is there, so
/// the comparison checks the zone handling too.
fn tz() -> &'static str {
    if Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
        "Europe/Paris"
    } else {
        "UTC"
    }
}

/// Runs `tool` with `args` (after `-server`), feeding `stdin`; bounded by [`RUN_TIMEOUT`].
fn run(tool: Tool, server: &str, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = match tool {
        Tool::Java => {
            assert!(
                Path::new(ZKCLI_SH).exists(),
                "{ZKCLI_SH} is missing: install the Debian zookeeper package (scripts/test.sh does)"
            );
            let mut cmd = Command::new(ZKCLI_SH);
            // Cheap JVM start; the client logs through slf4j-nop already.
            cmd.env(
                "CLIENT_JVMFLAGS",
                "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Xshare:auto",
            );
            cmd
        }
        Tool::Ours => Command::new(OURS),
    };
    cmd.env("TZ", tz())
        .arg("-server")
        .arg(server)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {tool:?}: {e}"));
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let text = text.to_owned();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout")));
    let err = reader(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the client") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{tool:?} {args:?} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut result = Run {
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        status: status.code(),
    };
    if tool == Tool::Java {
        result = strip_java_noise(result);
    }
    result
}

/// Removes zkCli.sh's banner, its session events (`WATCHER::` blocks of type `None`; node events
/// stay) and slf4j lines.
fn strip_java_noise(run: Run) -> Run {
    let lines: Vec<&str> = run.stdout.lines().collect();
    let mut stdout = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let session_event = lines[i..].len() >= 4
            && lines[i].is_empty()
            && lines[i + 1] == "WATCHER::"
            && lines[i + 2].is_empty()
            && lines[i + 3].starts_with("WatchedEvent state:")
            && lines[i + 3].contains(" type:None ");
        if session_event {
            i += 4;
            continue;
        }
        let l = lines[i];
        if !l.starts_with("Connecting to ")
            && l != "Welcome to ZooKeeper!"
            && !l.starts_with("JLine support is ")
        {
            stdout.push(l);
        }
        i += 1;
    }
    let stderr: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("SLF4J:"))
        .collect();
    Run {
        stdout: join_lines(&stdout),
        stderr: join_lines(&stderr),
        status: run.status,
    }
}

fn join_lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Takes the `WATCHER::` blocks out of `stdout` (each is a blank line, `WATCHER::`, a blank line
/// and the `WatchedEvent` line); returns the node events (session events are dropped).
fn take_watch_events(stdout: &str) -> (String, Vec<String>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut events = Vec::new();
    for line in stdout.lines() {
        if line == "WATCHER::" || line.starts_with("WatchedEvent state:") {
            if kept.last() == Some(&"") {
                kept.pop();
            }
            if line.starts_with("WatchedEvent") && !line.contains(" type:None ") {
                events.push(line.to_owned());
            }
            continue;
        }
        kept.push(line);
    }
    (join_lines(&kept), events)
}

/// One step of a script: its stdout and stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    command: String,
    stdout: String,
    stderr: String,
}

/// Runs `commands` as one interactive session of `tool`, with markers between them, and splits
/// the output per command. Returns the steps and the node watch events seen.
fn run_script(tool: Tool, server: &str, commands: &[String]) -> (Vec<Step>, Vec<String>) {
    let mut script = String::new();
    for c in commands {
        script.push_str(&format!("{c}\nget {MARK}\nget {NO_MARK}\n"));
    }
    let result = run(tool, server, &[], Some(&script));
    let (stdout, events) = take_watch_events(&result.stdout);
    let no_mark = format!("Node does not exist: {NO_MARK}");
    let outs = split_on(&stdout, MARK_DATA);
    let errs = split_on(&result.stderr, &no_mark);
    assert!(
        outs.len() > commands.len() && errs.len() > commands.len(),
        "{tool:?}: expected {} steps, got {} stdout and {} stderr parts\nstdout:\n{}\nstderr:\n{}",
        commands.len(),
        outs.len() - 1,
        errs.len() - 1,
        result.stdout,
        result.stderr
    );
    let steps = commands
        .iter()
        .zip(outs.into_iter().zip(errs))
        .map(|(c, (o, e))| Step {
            command: c.clone(),
            stdout: o,
            stderr: e,
        })
        .collect();
    (steps, events)
}

/// Splits text into the parts between lines equal to `marker`.
fn split_on(text: &str, marker: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    for line in text.lines() {
        if line == marker {
            parts.push(String::new());
        } else {
            let last = parts.last_mut().expect("one part");
            last.push_str(line);
            last.push('\n');
        }
    }
    parts
}

/// Makes the outputs of the two subtrees comparable: the subtree name, and the Stat fields that
/// differ between any two trees (zxids, times, session ids). Lists are sorted (zkCli.sh prints
/// getEphemerals unsorted).
fn normalise(text: &str, root: &str) -> String {
    let text = text.replace(root, "{R}");
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.split_once(" = ") {
            Some((k @ ("cZxid" | "mZxid" | "pZxid"), _)) => format!("{k} = <zxid>"),
            Some((k @ ("ctime" | "mtime"), _)) => format!("{k} = <time>"),
            Some(("ephemeralOwner", v)) if v != "0x0" => "ephemeralOwner = <session>".to_owned(),
            _ if line.starts_with('[') && line.ends_with(']') && line.len() > 2 => {
                let mut items: Vec<&str> = line[1..line.len() - 1].split(", ").collect();
                items.sort_unstable();
                format!("[{}]", items.join(", "))
            }
            _ => line.to_owned(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// zkCli.sh prints `Created /path` on stderr, zkcli on stdout: move it for the comparison.
fn created_to_stdout(step: &mut Step) {
    let (created, rest): (Vec<&str>, Vec<&str>) =
        step.stderr.lines().partition(|l| l.starts_with("Created "));
    if !created.is_empty() {
        step.stdout = join_lines(&created) + &step.stdout;
        step.stderr = join_lines(&rest);
    }
}

/// Collects mismatches so one run reports all of them.
#[derive(Debug, Default)]
struct Report {
    failures: Vec<String>,
    compared: usize,
}

impl Report {
    fn compare_steps(&mut self, what: &str, java: &[Step], ours: &[Step]) {
        assert_eq!(java.len(), ours.len());
        if std::env::var_os("ZKCLI_TEST_DUMP").is_some() {
            for s in ours {
                eprintln!("> {}\n{}{}", s.command, s.stdout, s.stderr);
            }
        }
        for (j, o) in java.iter().zip(ours) {
            self.compared += 1;
            if j.stdout != o.stdout || j.stderr != o.stderr {
                self.failures.push(format!(
                    "{what}: `{}` differs\n--- zkCli.sh stdout:\n{}--- zkcli stdout:\n{}\
                     --- zkCli.sh stderr:\n{}--- zkcli stderr:\n{}",
                    j.command, j.stdout, o.stdout, j.stderr, o.stderr
                ));
            }
        }
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.compared += 1;
        if !ok {
            self.failures.push(what());
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} comparisons failed:\n\n{}",
            self.failures.len(),
            self.compared,
            self.failures.join("\n\n")
        );
        eprintln!("{} comparisons with zkCli.sh matched", self.compared);
    }
}

/// The write script, run by each tool in its own subtree `{R}`.
fn write_script() -> Vec<&'static str> {
    vec![
        "create {R} root",
        "create {R}/plain hello",
        "create {R}/plain again",
        "create -e {R}/eph ephemeral-data",
        "create -s {R}/seq- one",
        "create -s {R}/seq- two",
        "create -e -s {R}/eseq- x",
        "create -c {R}/cont",
        "create {R}/cont/child c",
        "create -t 600000 {R}/ttl t",
        "create -s -t 600000 {R}/ttlseq- t",
        "create {R}/nope/child x",
        "create -c -e {R}/bad",
        "create -t 0 {R}/bad",
        "create -t x {R}/bad",
        "create -e -t 5 {R}/bad",
        "create -c -t 5 {R}/bad",
        "create {R}/eph/child x",
        "create {R}/bad/",
        "create {R}/ro data world:anyone:r",
        "set {R}/ro x",
        "create {R}/ro/child x",
        "create {R}/noauth x auth::cdrwa",
        "ls {R}",
        "ls -s {R}",
        "ls -R {R}",
        "ls -s -R {R}/cont",
        "get {R}/plain",
        "get -s {R}/plain",
        "get -s {R}/eph",
        "stat {R}/plain",
        "stat {R}/eph",
        "stat {R}/ttl",
        "set {R}/plain world",
        "set -s {R}/plain world2",
        "set -v 2 {R}/plain good",
        "set -v 99 {R}/plain bad",
        "set -s -v 3 {R}/plain \"two words\"",
        "get {R}/plain",
        "set {R}/plain",
        "delete -v 99 {R}/plain",
        "delete {R}/cont",
        "delete {R}/cont/child",
        "delete -v 4 {R}/plain",
        "delete {R}/plain",
        "get {R}/plain",
        "stat {R}/plain",
        "getAcl {R}/ro",
        "getAcl -s {R}/ro",
        "create {R}/acl x",
        "setAcl -s {R}/acl world:anyone:cdrwa,ip:127.0.0.1:r",
        "setAcl -v 5 {R}/acl world:anyone:r",
        "setAcl -v 1 {R}/acl world:anyone:cdra",
        "getAcl -s {R}/acl",
        "setAcl {R}/acl world:anyone:cdr",
        "setAcl {R}/acl world:anyone:cdrwa",
        "getAcl {R}/acl",
        "create {R}/tree t",
        "create {R}/tree/a a",
        "create {R}/tree/a/b b",
        "create {R}/tree/c c",
        "setAcl -R {R}/tree world:anyone:cdrwa,ip:127.0.0.1:cdrwa",
        "getAcl {R}/tree/a/b",
        "getAcl {R}/tree/c",
        "addauth digest alice:secret",
        "whoami",
        "create {R}/mine data auth::cdrwa",
        "getAcl {R}/mine",
        "get {R}/mine",
        "create {R}/bob d digest:bob:abc:cdrwa,world:anyone:r",
        "getAcl {R}/bob",
        "getEphemerals {R}",
        "getEphemerals {R}/eph",
        "sync {R}",
        "config",
        "config -s",
        "get -w {R}/tree",
        "set {R}/tree changed",
        "ls -w {R}/tree",
        "create {R}/tree/w x",
        "stat -w {R}/later",
        "create {R}/later x",
        "getAllChildrenNumber {R}/tree",
        "deleteall {R}/tree",
        "ls {R}",
        "ls {R}/",
        "getAcl bad",
        "create -s {R}/ slash",
        "deleteall /zkcli-test-missing",
        "sync /zkcli-test-missing",
        "getEphemerals /zkcli-test-missing",
        "ls /zkcli-test-missing",
        "get /zkcli-test-missing",
        "getAcl /zkcli-test-missing",
        "delete /zkcli-test-missing",
        "setAcl /zkcli-test-missing world:anyone:r",
        "get",
        "create",
        "set -x {R} y",
        "delete -v",
    ]
}

#[test]
fn zkcli_matches_zkcli_sh() {
    let started = Instant::now();
    let server = JavaZkServer::builder()
        .cfg("extendedTypesEnabled=true")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let cs = server.connect_string();
    let mut report = Report::default();

    // Markers for run_script, and the tools' fixtures.
    let setup = run(Tool::Ours, &cs, &["create", MARK, MARK_DATA], None);
    assert_eq!(setup.status, Some(0), "{setup:?}");

    // --- Writes, in parallel subtrees, through both interactive shells.
    let script = |root: &str| -> Vec<String> {
        write_script()
            .iter()
            .map(|c| c.replace("{R}", root))
            .collect()
    };
    let t = Instant::now();
    let (mut java_steps, java_events) = run_script(Tool::Java, &cs, &script("/java"));
    let java_time = t.elapsed();
    let t = Instant::now();
    let (our_steps, our_events) = run_script(Tool::Ours, &cs, &script("/rust"));
    let our_time = t.elapsed();
    for step in &mut java_steps {
        created_to_stdout(step);
        // zkCli.sh prints the InvalidACL exception's own text before its "Acl is not valid".
        step.stderr = join_lines(
            &step
                .stderr
                .lines()
                .filter(|l| !l.starts_with("KeeperErrorCode = InvalidACL"))
                .collect::<Vec<_>>(),
        );
    }
    let norm = |steps: &[Step], root: &str| -> Vec<Step> {
        steps
            .iter()
            .map(|s| Step {
                command: s.command.replace(root, "{R}"),
                stdout: normalise(&s.stdout, root),
                stderr: normalise(&s.stderr, root),
            })
            .collect()
    };
    report.compare_steps(
        "write script",
        &norm(&java_steps, "/java"),
        &norm(&our_steps, "/rust"),
    );
    let norm_events = |events: &[String], root: &str| -> Vec<String> {
        let mut e: Vec<String> = events.iter().map(|e| e.replace(root, "{R}")).collect();
        e.sort();
        e
    };
    let (je, oe) = (
        norm_events(&java_events, "/java"),
        norm_events(&our_events, "/rust"),
    );
    report.check(je == oe && je.len() == 3, || {
        format!("watch events differ:\nzkCli.sh: {je:#?}\nzkcli: {oe:#?}")
    });

    // --- Reads of the same nodes: identical output, times and zxids included.
    let reads: Vec<String> = [
        "ls -s /java",
        "ls -R /java",
        "ls -R /rust",
        "get -s /java/seq-0000000002",
        "get -s /rust/seq-0000000003",
        "stat /java/eph",
        "stat /java/ttlseq-0000000007",
        "stat /rust/cont",
        "getAcl -s /java/acl",
        "getAcl -s /rust/bob",
        "getAcl /rust/ro",
        "stat /",
        "getAcl -s /",
        "config -s",
        "ls -s /zookeeper",
        "get -s /zookeeper/quota",
        "whoami",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (java_reads, _) = run_script(Tool::Java, &cs, &reads);
    let (our_reads, _) = run_script(Tool::Ours, &cs, &reads);
    report.compare_steps("same-node reads", &java_reads, &our_reads);
    // Every read succeeds, but for ls -R, which stops at the auth-only node `mine`.
    for step in our_reads.iter().filter(|s| !s.command.starts_with("ls -R")) {
        report.check(step.stderr.is_empty(), || {
            format!("read `{}` failed: {}", step.command, step.stderr)
        });
    }

    // --- One-shot mode.
    // (The /rust subtree: the Java shell's ephemerals under /java expire during the test.)
    let rust_cs = format!("{cs}/rust");
    for (server, args) in [
        (&cs, &["ls", "/rust"][..]),
        (&cs, &["get", "-s", "/java/ttl"][..]),
        (&cs, &["get", "/zkcli-test-missing"][..]),
        (&rust_cs, &["ls", "-R", "/"][..]),
        (&rust_cs, &["get", "-s", "/ttl"][..]),
    ] {
        let j = run(Tool::Java, server, args, None);
        let o = run(Tool::Ours, server, args, None);
        report.check(
            j.stdout == o.stdout && j.stderr == o.stderr && j.status == o.status,
            || format!("one-shot {server} {args:?} differs:\nzkCli.sh: {j:#?}\nzkcli: {o:#?}"),
        );
    }
    // A missing node: non-zero status, the message on stderr, nothing on stdout.
    let missing = run(Tool::Ours, &cs, &["stat", "/zkcli-test-missing"], None);
    report.check(
        missing.status == Some(1)
            && missing.stdout.is_empty()
            && missing.stderr == "Node does not exist: /zkcli-test-missing\n",
        || format!("stat of a missing node: {missing:?}"),
    );
    // Created goes to stdout; a sequential name can be captured.
    let created = run(
        Tool::Ours,
        &cs,
        &["create", "-s", "/rust/oneshot-", "x"],
        None,
    );
    report.check(
        created.status == Some(0) && created.stdout.starts_with("Created /rust/oneshot-00000"),
        || format!("one-shot create: {created:?}"),
    );
    for (args, status, stderr) in [
        (
            &["set", "-v", "99", "/rust", "x"][..],
            1,
            "version No is not valid : /rust\n",
        ),
        (&["delete", "/rust"][..], 1, "Node not empty: /rust\n"),
        (
            &["create", "/rust", "x"][..],
            1,
            "Node already exists: /rust\n",
        ),
        (&["get"][..], 1, "get [-s] [-w] path\n"),
        (
            &["setAcl", "/rust", "bad"][..],
            1,
            "bad does not have the form scheme:id:perm\n",
        ),
        (&["frobnicate"][..], 127, "Command not found: frobnicate\n"),
    ] {
        let o = run(Tool::Ours, &cs, args, None);
        report.check(
            o.status == Some(status) && o.stdout.is_empty() && o.stderr.starts_with(stderr),
            || format!("one-shot {args:?}: expected status {status} and {stderr:?}, got {o:?}"),
        );
    }
    // Documented difference: null data (a node zkCli.sh created without data) reads as an empty
    // line, where zkCli.sh prints "null".
    run(Tool::Java, &cs, &["create", "/java/nodata"], None);
    let j = run(Tool::Java, &cs, &["get", "/java/nodata"], None);
    let o = run(Tool::Ours, &cs, &["get", "/java/nodata"], None);
    report.check(j.stdout == "null\n" && o.stdout == "\n", || {
        format!("null data: zkCli.sh {j:?}, zkcli {o:?}")
    });
    // Bad invocations of zkcli itself.
    let bad = run(Tool::Ours, &cs, &["-bogus"], None);
    report.check(bad.status == Some(2), || format!("-bogus: {bad:?}"));
    let unreachable = Command::new(OURS)
        .args(["-server", "127.0.0.1:1", "-timeout", "1000", "ls", "/"])
        .output()
        .expect("zkcli runs");
    report.check(
        unreachable.status.code() == Some(1) && !unreachable.stderr.is_empty(),
        || format!("unreachable server: {unreachable:?}"),
    );

    let mut timings = BTreeMap::new();
    timings.insert("zkCli.sh write script", java_time);
    timings.insert("zkcli write script", our_time);
    timings.insert("total", started.elapsed());
    eprintln!("timings: {timings:?}");
    report.finish();
}
