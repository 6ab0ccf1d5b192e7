//! The kazoo differential (issue 12): `python/kazoo_differential.py` runs the same seeded
//! scenario against the real Java 3.8 server and against zk-server (the real binary, so it can be
//! restarted on its data directory), with the encodings kazoo really sends: several digest
//! identities per session, creator ACLs (a null `auth` id), hundreds of children with colliding
//! Java hashes, recursive deletes that fail midway (in the server's children order), watches.
//! Both servers restart between the three phases (the second restart loads the startup snapshot
//! the first one wrote). Transcripts must be equal once zxids and session ids are renamed in order
//! of first appearance; children lists are compared in the order each server returned them.

use std::collections::HashMap;
use std::time::Duration;

use interop_tests::{JavaZkServer, PythonScript, RustZkServerProcess};

const PHASE_TIMEOUT: Duration = Duration::from_secs(180);

/// Renames every `Z(n)` and `S(n)` token to its rank of first appearance (0 stays 0), so the two
/// servers' zxids and session ids can be compared.
fn normalise(transcript: &str) -> String {
    let mut ranks: HashMap<(char, String), usize> = HashMap::new();
    let mut out = String::with_capacity(transcript.len());
    let mut rest = transcript;
    while let Some(at) = rest.find(['Z', 'S']) {
        let kind = rest.as_bytes()[at] as char;
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let token = after
            .strip_prefix('(')
            .and_then(|t| t.find(')').map(|end| &t[..end]))
            .filter(|v| v.parse::<i64>().is_ok());
        match token {
            Some(value) => {
                let renamed = if value == "0" {
                    "0".to_owned()
                } else {
                    let next = ranks.len() + 1;
                    let rank = *ranks.entry((kind, value.to_owned())).or_insert(next);
                    rank.to_string()
                };
                out.push(kind);
                out.push('(');
                out.push_str(&renamed);
                out.push(')');
                rest = &after[value.len() + 2..];
            }
            None => {
                out.push(kind);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `line` cut to about 200 characters around where it first differs from `other`.
fn around_first_difference(line: &str, other: &str) -> String {
    let at = line
        .char_indices()
        .zip(other.chars())
        .find(|((_, a), b)| a != b)
        .map_or(line.len().min(other.len()), |((i, _), _)| i);
    let start = line[..at]
        .char_indices()
        .rev()
        .nth(80)
        .map_or(0, |(i, _)| i);
    let shown: String = line[start..].chars().take(200).collect();
    let (head, tail) = (
        if start > 0 { "..." } else { "" },
        if shown.len() < line.len() - start {
            "..."
        } else {
            ""
        },
    );
    format!("{head}{shown}{tail}")
}

fn run_phase(script: &PythonScript, connect: &str, phase: u32, seed: u64, who: &str) -> String {
    let out = script
        .run_timeout(
            &[connect, &phase.to_string(), &seed.to_string()],
            PHASE_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("phase {phase} against {who}: {e}"));
    let stdout = out.stdout.clone();
    out.expect_success()
        .unwrap_or_else(|e| panic!("phase {phase} against {who}: {e}"));
    stdout
}

#[test]
fn kazoo_sees_the_same_as_on_java_across_restarts() {
    let seed: u64 = std::env::var("ZK_KAZOO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let script =
        PythonScript::from_file("python/kazoo_differential.py").unwrap_or_else(|e| panic!("{e}"));
    let mut java = JavaZkServer::builder()
        .jvm_flag("-Dzookeeper.forceSync=no")
        .start()
        .expect("start the Java ZooKeeper server");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let mut ours =
        RustZkServerProcess::start_standalone(dir.path(), &data, &[]).expect("start zk-server");

    let (mut java_all, mut ours_all) = (String::new(), String::new());
    for phase in 1..=3 {
        if phase > 1 {
            java.restart().expect("restart Java");
            ours.restart().expect("restart zk-server");
        }
        java_all += &format!("== phase {phase}\n");
        java_all += &run_phase(&script, &java.connect_string(), phase, seed, "java");
        ours_all += &format!("== phase {phase}\n");
        ours_all += &run_phase(&script, &ours.connect_string(), phase, seed, "zk-rs");
    }
    let (java_n, ours_n) = (normalise(&java_all), normalise(&ours_all));
    let java_lines: Vec<&str> = java_n.lines().collect();
    let ours_lines: Vec<&str> = ours_n.lines().collect();
    let differences: Vec<String> = (0..java_lines.len().max(ours_lines.len()))
        .filter(|&i| java_lines.get(i) != ours_lines.get(i))
        .take(10)
        .map(|i| {
            let (j, o) = (
                java_lines.get(i).copied().unwrap_or("<none>"),
                ours_lines.get(i).copied().unwrap_or("<none>"),
            );
            format!(
                "line {}:\n  java:  {}\n  zk-rs: {}",
                i + 1,
                around_first_difference(j, o),
                around_first_difference(o, j)
            )
        })
        .collect();
    eprintln!(
        "kazoo differential, seed {seed}: {} transcript lines, {} events, {} recursive-delete failures",
        java_lines.len(),
        java_lines.iter().filter(|l| l.contains(" event ")).count(),
        java_lines.iter().filter(|l| l.contains("recursive delete NoAuthError")).count(),
    );
    assert!(
        differences.is_empty(),
        "kazoo sees zk-server differ from Java 3.8 (seed {seed}; first differences):\n{}",
        differences.join("\n")
    );
    // The scenario must really reach what it is meant to test.
    assert!(
        java_n.contains("recursive delete NoAuthError"),
        "no midway failure:\n{java_n}"
    );
    assert!(java_n.contains("event"), "no watch events:\n{java_n}");
}

#[test]
fn normalise_renames_in_order_of_first_appearance() {
    assert_eq!(
        normalise("a Z(7) S(9) Z(3) Z(7) Z(0) S(0) ZZ(x) S(5"),
        "a Z(1) S(2) Z(3) Z(1) Z(0) S(0) ZZ(x) S(5"
    );
}
