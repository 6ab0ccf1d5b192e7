//! The real zkCli: ZooKeeper 3.8's `ZooKeeperMain` (the class `zkCli.sh` runs) executing a list
//! of command lines in one JVM and one session (`java/ZkCliLines.java`), each command's output
//! kept apart. The session is closed at the end, so it takes a known zxid and never expires on
//! its own later.
//!
//! ```no_run
//! use interop_tests::{run_zkcli, JavaZkServer};
//! let server = JavaZkServer::start()?;
//! let steps = run_zkcli(&server.connect_string(), &["create /a x", "get /a"])?;
//! assert_eq!(steps[1].stdout, "x\n");
//! assert_eq!(steps[0].stderr, "Created /a\n");
//! # Ok::<(), interop_tests::Error>(())
//! ```

use crate::{JavaProgram, Result};

/// One command line and what zkCli printed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkCliStep {
    /// The command line.
    pub command: String,
    /// Its standard output (lines end with `\n`).
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `commands` through zkCli against `connect_string`, in order, in one session.
pub fn run_zkcli(connect_string: &str, commands: &[&str]) -> Result<Vec<ZkCliStep>> {
    let program = JavaProgram::from_source("ZkCliLines", include_str!("../java/ZkCliLines.java"))?;
    let mut args = vec![connect_string];
    args.extend_from_slice(commands);
    let out = program.run(&args)?.expect_success()?;
    let stdout = split_on_markers(&out.stdout, commands.len());
    let stderr = split_on_markers(&out.stderr, commands.len());
    Ok(commands
        .iter()
        .zip(stdout.into_iter().zip(stderr))
        .map(|(command, (stdout, stderr))| ZkCliStep {
            command: (*command).to_owned(),
            stdout,
            stderr,
        })
        .collect())
}

/// What the driver prints before each command (and before its final `close`).
const MARKER: &str = "@@ZkCliLines@@ ";

/// The text after each of the first `n` marker lines, up to the next marker (what comes before
/// the first, the connection chatter, and after the `n`th part, the closing, is dropped).
fn split_on_markers(text: &str, n: usize) -> Vec<String> {
    let mut parts: Vec<String> = Vec::with_capacity(n + 1);
    for line in text.lines() {
        if line.starts_with(MARKER) {
            parts.push(String::new());
        } else if let Some(part) = parts.last_mut() {
            part.push_str(line);
            part.push('\n');
        }
    }
    parts.resize(n, String::new());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_between_markers() {
        let text =
            "Connecting\n@@ZkCliLines@@ a\n1\n\n@@ZkCliLines@@ b\n@@ZkCliLines@@ close\nbye\n";
        assert_eq!(split_on_markers(text, 2), ["1\n\n", ""]);
        assert_eq!(split_on_markers("", 2), ["", ""]);
    }
}
