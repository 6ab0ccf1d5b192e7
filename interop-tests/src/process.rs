//! Child processes with deadlines: spawning Java under a parent watch, waiting with a timeout,
//! killing and reaping.

use crate::{Error, Result};
use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long reaping a SIGKILLed child may take before the harness gives up on it.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// JVM flags that keep start-up cheap on a small, busy machine.
pub(crate) const CHEAP_JVM_FLAGS: &[&str] = &[
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
];

/// A Java main class that halts the JVM when its stdin reaches end of file, then runs the real
/// main class (its first argument) with the remaining arguments. The harness keeps the write end
/// of the pipe, so when the test process dies for any reason, its JVMs follow.
pub(crate) const PARENT_WATCH_CLASS: &str = "ZkRsParentWatch";
pub(crate) const PARENT_WATCH_SOURCE: &str = r#"
public final class ZkRsParentWatch {
    public static void main(String[] args) throws Throwable {
        Thread watch = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // Drain; only end of file matters.
                }
            } catch (Throwable ignored) {
                // Treat a broken stdin like end of file.
            }
            Runtime.getRuntime().halt(143);
        }, "zk-rs-parent-watch");
        watch.setDaemon(true);
        watch.start();
        Class<?> main = Class.forName(args[0]);
        String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
        try {
            main.getMethod("main", String[].class).invoke(null, (Object) rest);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
"#;

/// A spawned child whose stdin pipe stays open until it is killed (see [`PARENT_WATCH_SOURCE`]).
#[derive(Debug)]
pub(crate) struct Watched {
    child: Child,
    /// Held open so the child's parent watch does not fire; dropped on kill.
    stdin: Option<ChildStdin>,
}

impl Watched {
    /// Spawns `command` with stdout and stderr sent to the given files and stdin a pipe.
    pub(crate) fn spawn(
        mut command: Command,
        stdout: File,
        stderr: File,
        what: &str,
    ) -> Result<Watched> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        let mut child = command
            .spawn()
            .map_err(|e| Error::io(format!("spawning {what}"), e))?;
        let stdin = child.stdin.take();
        Ok(Watched { child, stdin })
    }

    /// The OS process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited.
    pub(crate) fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|e| Error::io("polling a child process", e))
    }

    /// Waits until the child exits or `deadline` passes (then `None`; the child keeps running).
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        wait_until(&mut self.child, deadline)
    }

    /// SIGKILLs the child (if still running) and reaps it.
    pub(crate) fn kill(&mut self) -> Result<ExitStatus> {
        self.stdin = None;
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        // An error here means it exited between the poll and the kill; reaping tells.
        let _ = self.child.kill();
        match wait_until(&mut self.child, Instant::now() + REAP_TIMEOUT)? {
            Some(status) => Ok(status),
            None => Err(Error::Timeout {
                what: format!("reaping killed process {}", self.child.id()),
                after_ms: REAP_TIMEOUT.as_millis(),
            }),
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Polls `child` until it exits or `deadline` passes.
pub(crate) fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io("waiting for a child process", e))?
        {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// A `java` command line: cheap-start flags, then `extra_flags`, then the classpath (the parent
/// watch directory first) and `ZkRsParentWatch <main_class>`; arguments go after.
pub(crate) fn java_command(
    java: &Path,
    watch_dir: &Path,
    classpath: &OsString,
    extra_flags: &[String],
    main_class: &str,
) -> Command {
    let mut cp = OsString::from(watch_dir.as_os_str());
    if !classpath.is_empty() {
        cp.push(":");
        cp.push(classpath);
    }
    let mut command = Command::new(java);
    command
        .args(CHEAP_JVM_FLAGS)
        .args(extra_flags)
        .arg("-cp")
        .arg(cp)
        .arg(PARENT_WATCH_CLASS)
        .arg(main_class);
    command
}

/// The last `lines` lines of a text file (lossy UTF-8); a note if it cannot be read.
pub(crate) fn file_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => text_tail(&String::from_utf8_lossy(&bytes), lines),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The last `lines` lines of `text`.
pub(crate) fn text_tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut tail = all[start..].join("\n");
    if start > 0 {
        tail.insert_str(0, &format!("(... {start} earlier lines)\n"));
    }
    tail
}
