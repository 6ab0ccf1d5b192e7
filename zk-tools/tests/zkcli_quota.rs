//! zkcli's `setquota`, `listquota` and `delquota` against the real zkCli (ZooKeeper 3.8's
//! `ZooKeeperMain`): the same lines run by zkCli on one Java server and by zkcli on another Java
//! server and on zk-server, all with `zookeeper.enforceQuota=true`. The three transcripts must
//! match, zxids and quota texts included; the only difference allowed is zkcli's documented one
//! (`Created /path` on stdout, where zkCli prints it on stderr).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interop_tests::{run_zkcli, JavaZkServer, RustZkServer, ServerUnderTest, ZkCliStep};

const OURS: &str = env!("CARGO_BIN_EXE_zkcli");
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// A command that prints one line on stdout and changes nothing.
const OUT_MARK: &str = "version";
/// A missing node: reading it prints one line on stderr and changes nothing.
const ERR_MARK: &str = "/zkcli-quota-test-no-node";

const LINES: &[&str] = &[
    "create /a x",
    "create /a/b yy",
    "setquota -n 3 /a",
    "listquota /a",
    "get -s /zookeeper/quota/a/zookeeper_stats",
    "get -s /zookeeper/quota/a/zookeeper_limits",
    "create /a/c zzz",
    "create /a/d 1",
    "setquota -N 4 /a",
    "create /a/e 2",
    "create /a/f 3",
    "setquota -B 10 /a",
    "set /a/b 0123456789",
    "listquota /a",
    "create /g x",
    "setquota -n 2 /a/b",
    "setquota -n 2 /",
    "setquota -n 2 /nonexist",
    "setquota -n 2 /zookeeper/quota/a",
    "setquota -n 0 /g",
    "setquota -b -1 /g",
    "setquota -n x /g",
    "setquota -n 1 -b 2 /g",
    "setquota /g",
    "setquota -n 1",
    "setquota -n",
    "setquota -x 1 /g",
    "delquota -x /g",
    "setquota -b 0 /g",
    "listquota /g",
    "listquota /nonexist",
    "listquota a",
    "listquota /a/",
    "create /h",
    "create /h/i",
    "setquota -n 5 /h/i",
    "setquota -n 5 /h",
    "delquota -n /a",
    "listquota /a",
    "delquota -N /g",
    "delquota /g",
    "listquota /g",
    "ls -R /zookeeper/quota",
    "delquota /nonexist",
    "delquota -n -b /a",
    "delquota /h/i",
    "ls -R /zookeeper/quota",
    "get -s /zookeeper/quota/a/zookeeper_stats",
];

/// zkcli running `LINES` as one interactive session, each line's output apart.
fn run_ours(server: &str) -> Vec<ZkCliStep> {
    let mut script = String::new();
    for line in LINES {
        script.push_str(&format!("{line}\n{OUT_MARK}\nget {ERR_MARK}\n"));
    }
    let mut child = Command::new(OURS)
        .args(["-server", server])
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting zkcli");
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + RUN_TIMEOUT;
    while child.try_wait().expect("waiting for zkcli").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("zkcli did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let outs = split_after(&stdout, |l| l.starts_with("ZooKeeper CLI version: "));
    let errs = split_after(&stderr, |l| l == format!("Node does not exist: {ERR_MARK}"));
    assert!(
        outs.len() >= LINES.len() && errs.len() >= LINES.len(),
        "zkcli's output does not have a part per line:\n{stdout}\n{stderr}"
    );
    LINES
        .iter()
        .zip(outs.into_iter().zip(errs))
        .map(|(line, (stdout, stderr))| ZkCliStep {
            command: (*line).to_owned(),
            stdout,
            stderr,
        })
        .collect()
}

/// The text up to each line `is_mark` accepts.
fn split_after(text: &str, is_mark: impl Fn(&str) -> bool) -> Vec<String> {
    let mut parts = vec![String::new()];
    for line in text.lines() {
        if is_mark(line) {
            parts.push(String::new());
        } else {
            let part = parts.last_mut().expect("one part");
            part.push_str(line);
            part.push('\n');
        }
    }
    parts
}

/// One transcript; Stat times as `T`, and `Created` lines (stdout in zkcli, stderr in zkCli)
/// as `created:` lines.
fn transcript(steps: &[ZkCliStep]) -> String {
    let mut out = String::new();
    for step in steps {
        out.push_str(&format!("$ {}\n", step.command));
        let mut created = Vec::new();
        for line in step.stdout.lines() {
            match line.split_once(" = ") {
                Some((key @ ("ctime" | "mtime"), _)) => out.push_str(&format!("{key} = T\n")),
                _ if line.starts_with("Created /") => created.push(line),
                _ => out.push_str(&format!("{line}\n")),
            }
        }
        for line in step.stderr.lines() {
            if line.starts_with("Created /") {
                created.push(line);
            } else {
                out.push_str(&format!("stderr: {line}\n"));
            }
        }
        for line in created {
            out.push_str(&format!("created: {line}\n"));
        }
    }
    out
}

#[test]
fn quota_commands_match_zkcli() {
    let enforce = "-Dzookeeper.enforceQuota=true";
    let start_java = || {
        std::thread::spawn(move || {
            JavaZkServer::builder()
                .jvm_flag(enforce)
                .start()
                .unwrap_or_else(|e| panic!("{e}"))
        })
    };
    let (java_for_zkcli, java_for_ours) = (start_java(), start_java());
    let ours = RustZkServer::start_with_flags(&[], enforce).expect("start zk-server");
    let (java_for_zkcli, java_for_ours) = (
        java_for_zkcli.join().unwrap(),
        java_for_ours.join().unwrap(),
    );

    let reference = transcript(
        &run_zkcli(&java_for_zkcli.connect_string(), LINES).unwrap_or_else(|e| panic!("{e}")),
    );
    // The scenario does what it says.
    for expected in [
        "stderr: Quota has exceeded : /a/e",
        "[Warning]: the count quota you create is less than the existing count:4",
        "stderr: /h has a child /h/i which has a quota",
        "Output quota for /a count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=4",
        "Quota does not exist for /nonexist",
    ] {
        assert!(
            reference.contains(expected),
            "{expected:?} not in\n{reference}"
        );
    }
    for (name, server) in [
        ("a Java server", java_for_ours.connect_string()),
        ("zk-server", ours.addr().to_string()),
    ] {
        let got = transcript(&run_ours(&server));
        let (want, got): (Vec<&str>, Vec<&str>) =
            (reference.lines().collect(), got.lines().collect());
        let diffs: Vec<String> = (0..want.len().max(got.len()))
            .filter(|&i| want.get(i) != got.get(i))
            .map(|i| format!("line {i}: zkCli {:?} / zkcli {:?}", want.get(i), got.get(i)))
            .collect();
        assert!(
            diffs.is_empty(),
            "zkcli on {name} differs from zkCli on Java:\n{}\n--- zkcli's transcript ---\n{}",
            diffs.join("\n"),
            got.join("\n")
        );
    }
}
