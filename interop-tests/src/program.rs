//! Java drivers: compile once (cached by content hash), run with a timeout.

use crate::process::{self, Watched, PARENT_WATCH_CLASS, PARENT_WATCH_SOURCE};
use crate::{Error, JavaEnv, Result};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default limit for one driver run.
pub const PROGRAM_TIMEOUT: Duration = Duration::from_secs(60);

/// Limit for one `javac` run (the first compile on a busy 2-core machine takes seconds).
const COMPILE_TIMEOUT: Duration = Duration::from_secs(180);

/// Bumped when the compile layout changes, so old cache entries are not reused.
const CACHE_VERSION: &str = "zk-rs-interop-java-cache-v1";

/// Flags for driver JVMs: small heap, client logging at WARN (slf4j-simple writes to stderr).
const PROGRAM_JVM_FLAGS: &[&str] = &["-Xmx128m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"];

/// A small Java program compiled against the ZooKeeper client and Curator jars.
///
/// The source has no `package` line and its public class (the main class) is named as given.
/// Compiled classes are cached under the cache directory (see the crate docs) by a hash of the
/// source, the class name, the classpath and the `javac` path, so only the first test compiles.
///
/// Drivers run under the harness's parent watch: their stdin is reserved (end of file halts the
/// JVM), so pass input as arguments.
///
/// ```no_run
/// use interop_tests::JavaProgram;
/// let hello = JavaProgram::from_source(
///     "Hello",
///     "public class Hello { public static void main(String[] a) { System.out.println(a[0]); } }",
/// )?;
/// let out = hello.run(&["hi"])?.expect_success()?;
/// assert_eq!(out.stdout, "hi\n");
/// # Ok::<(), interop_tests::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct JavaProgram {
    /// The main class.
    class: String,
    /// Directory holding the compiled classes.
    classes_dir: PathBuf,
    env: &'static JavaEnv,
}

/// What a finished driver (Java or Python) printed, and how it exited.
#[derive(Debug, Clone)]
pub struct ProgramOutput {
    /// Which program this was (the Java main class, or the script's name).
    pub program: String,
    /// How the process ended.
    pub status: ExitStatus,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8): exceptions, and client logs (Java drivers log at WARN and
    /// above).
    pub stderr: String,
}

impl ProgramOutput {
    /// Whether the process exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// `self` if the process exited with status 0, else an error carrying both outputs.
    pub fn expect_success(self) -> Result<ProgramOutput> {
        if self.success() {
            return Ok(self);
        }
        Err(Error::Failed {
            what: format!("{} failed ({})", self.program, self.status),
            stdout: self.stdout,
            stderr: self.stderr,
        })
    }
}

impl JavaProgram {
    /// Compiles (or finds in the cache) `source`, whose public class is `class`.
    pub fn from_source(class: &str, source: &str) -> Result<JavaProgram> {
        let env = JavaEnv::get()?;
        // Compile the parent watch now too, so a run's timeout covers only the run.
        parent_watch_dir(env)?;
        let classes_dir = compile_cached(env, class, source, Some(&env.client_classpath))?;
        Ok(JavaProgram {
            class: class.to_owned(),
            classes_dir,
            env,
        })
    }

    /// Compiles a source file; the main class is the file stem. A relative path is taken from
    /// this crate's directory, so `JavaProgram::from_file("java/Driver.java")` finds
    /// `interop-tests/java/Driver.java`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<JavaProgram> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path.as_ref());
        let class = path
            .file_stem()
            .and_then(OsStr::to_str)
            .ok_or_else(|| {
                Error::io(
                    format!("no class name in {}", path.display()),
                    std::io::ErrorKind::InvalidInput.into(),
                )
            })?
            .to_owned();
        let source = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        JavaProgram::from_source(&class, &source)
    }

    /// The main class name.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// Directory holding the compiled classes.
    pub fn classes_dir(&self) -> &Path {
        &self.classes_dir
    }

    /// Runs the program to completion with [`PROGRAM_TIMEOUT`].
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<ProgramOutput> {
        self.run_timeout(args, PROGRAM_TIMEOUT)
    }

    /// Runs the program to completion; past `timeout` it is killed and the error shows what it
    /// had printed.
    pub fn run_timeout<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        timeout: Duration,
    ) -> Result<ProgramOutput> {
        self.spawn(args)?.wait_timeout(timeout)
    }

    /// Starts the program in the background (for drivers that run alongside the test). The
    /// process is killed when the handle is dropped.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<RunningProgram> {
        self.spawn_with_flags(&[], args)
    }

    /// Like [`JavaProgram::spawn`] with extra JVM flags (`-Dname=value`, ...).
    pub fn spawn_with_flags<S: AsRef<OsStr>>(
        &self,
        jvm_flags: &[String],
        args: &[S],
    ) -> Result<RunningProgram> {
        let watch_dir = parent_watch_dir(self.env)?;
        let mut classpath = OsString::from(self.classes_dir.as_os_str());
        classpath.push(":");
        classpath.push(&self.env.client_classpath);
        let mut flags: Vec<String> = PROGRAM_JVM_FLAGS.iter().map(|s| s.to_string()).collect();
        flags.extend(jvm_flags.iter().cloned());
        let mut command =
            process::java_command(&self.env.java, &watch_dir, &classpath, &flags, &self.class);
        command.args(args);
        RunningProgram::spawn(command, &self.class)
    }
}

/// A driver process started by the harness ([`JavaProgram::spawn`], [`crate::PythonScript::spawn`]),
/// with stdout and stderr captured to files. Dropping it kills the process.
#[derive(Debug)]
pub struct RunningProgram {
    what: String,
    child: Watched,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    /// Holds the capture files; removed on drop.
    dir: Option<tempfile::TempDir>,
}

impl RunningProgram {
    /// Starts any program the way the harness starts its drivers: stdout and stderr captured,
    /// stdin a pipe held open until the program is dropped (a parent watch), killed on drop.
    /// `what` names it in messages.
    pub fn spawn(command: Command, what: &str) -> Result<RunningProgram> {
        let dir = crate::temp_dir("zk-rs-java-run-")?;
        let stdout_path = dir.path().join("stdout");
        let stderr_path = dir.path().join("stderr");
        let create = |p: &Path| {
            File::create(p).map_err(|e| Error::io(format!("creating {}", p.display()), e))
        };
        let child = Watched::spawn(command, create(&stdout_path)?, create(&stderr_path)?, what)?;
        Ok(RunningProgram {
            what: what.to_owned(),
            child,
            stdout_path,
            stderr_path,
            dir: Some(dir),
        })
    }

    /// The OS process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the process has printed to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// What the process has printed to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// Waits until stdout contains `needle` (for drivers that announce readiness), failing if
    /// the process exits first or `timeout` passes.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout_so_far().contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                // It may have printed the needle just before exiting.
                if self.stdout_so_far().contains(needle) {
                    return Ok(());
                }
                return Err(Error::Failed {
                    what: format!("{} exited ({status}) before printing {needle:?}", self.what),
                    stdout: self.stdout_so_far(),
                    stderr: self.stderr_so_far(),
                });
            }
            if Instant::now() >= deadline {
                return Err(self.timeout_error(&format!("{needle:?} on stdout"), timeout));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// From async code: waits, without blocking the runtime, until a line of stdout satisfies
    /// `found` and returns it; past `timeout` the error shows what the process printed.
    /// `what` names the line for that message.
    pub async fn stdout_line(
        &self,
        what: &str,
        timeout: Duration,
        found: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.stdout_so_far().lines().find(|l| found(l)) {
                return Ok(line.to_owned());
            }
            if Instant::now() >= deadline {
                return Err(self.timeout_error(what, timeout));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// From async code: [`RunningProgram::wait_timeout`] on a blocking thread, then the output
    /// of a successful exit ([`ProgramOutput::expect_success`]).
    pub async fn finish(self, timeout: Duration) -> Result<ProgramOutput> {
        tokio::task::spawn_blocking(move || self.wait_timeout(timeout))
            .await
            .expect("the waiting thread does not panic")
            .and_then(ProgramOutput::expect_success)
    }

    /// Waits for the process to exit; past `timeout` it is killed and the error shows what it
    /// had printed.
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<ProgramOutput> {
        match self.child.wait_until(Instant::now() + timeout)? {
            Some(status) => Ok(self.output(status)),
            None => {
                let err = self.timeout_error("exit", timeout);
                let _ = self.child.kill();
                Err(err)
            }
        }
    }

    /// Kills the process (SIGKILL) and returns what it had printed.
    pub fn kill(mut self) -> Result<ProgramOutput> {
        let status = self.child.kill()?;
        Ok(self.output(status))
    }

    fn output(&self, status: ExitStatus) -> ProgramOutput {
        ProgramOutput {
            program: self.what.clone(),
            status,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
        }
    }

    fn timeout_error(&self, waiting_for: &str, timeout: Duration) -> Error {
        Error::Timeout {
            what: format!(
                "{} to print {waiting_for}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.what,
                process::text_tail(&self.stdout_so_far(), 40),
                process::text_tail(&self.stderr_so_far(), 40)
            ),
            after_ms: timeout.as_millis(),
        }
    }
}

impl Drop for RunningProgram {
    fn drop(&mut self) {
        let _ = self.child.kill();
        if let Some(dir) = self.dir.take() {
            crate::finish_temp_dir(dir);
        }
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// FNV-1a, 64 bits: a stable content hash for cache keys (not for security).
fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part.iter().chain(&[0xffu8]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// The directory compiled drivers are cached in: `ZK_INTEROP_CACHE_DIR`, else
/// `<target>/<profile>/interop-java-cache` next to the running test binary, else the system
/// temp dir.
fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("ZK_INTEROP_CACHE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(mut dir) = exe.parent().map(Path::to_path_buf) {
            if dir.file_name() == Some(OsStr::new("deps")) {
                dir.pop();
            }
            return dir.join("interop-java-cache");
        }
    }
    std::env::temp_dir().join("zk-rs-interop-java-cache")
}

/// Serialises compiles within one test binary (two cores: parallel javacs only slow each other).
static COMPILE_LOCK: Mutex<()> = Mutex::new(());

/// Compiles `source` (public class `class`) with `classpath`, returning the directory of its
/// classes; reuses an earlier compile of identical input.
fn compile_cached(
    env: &JavaEnv,
    class: &str,
    source: &str,
    classpath: Option<&OsString>,
) -> Result<PathBuf> {
    let classpath_bytes = classpath.map(|c| c.as_encoded_bytes()).unwrap_or_default();
    let key = fnv1a64(&[
        CACHE_VERSION.as_bytes(),
        class.as_bytes(),
        source.as_bytes(),
        classpath_bytes,
        env.javac.as_os_str().as_encoded_bytes(),
    ]);
    let root = cache_root();
    let final_dir = root.join(format!("{class}-{key:016x}"));
    let marker = final_dir.join(format!("{class}.class"));
    if marker.is_file() {
        return Ok(final_dir);
    }
    let _guard = COMPILE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if marker.is_file() {
        return Ok(final_dir);
    }
    std::fs::create_dir_all(&root)
        .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    // Compile in a private directory, then rename into place: another test binary may race us,
    // and a half-written cache entry must never be visible.
    let work = tempfile::Builder::new()
        .prefix(".compile-")
        .tempdir_in(&root)
        .map_err(|e| Error::io(format!("creating a directory in {}", root.display()), e))?;
    let src = work.path().join(format!("{class}.java"));
    std::fs::write(&src, source).map_err(|e| Error::io(format!("writing {}", src.display()), e))?;
    let out_dir = work.path().join("classes");
    let mut command = Command::new(&env.javac);
    command
        .arg("-nowarn")
        .arg("-encoding")
        .arg("UTF-8")
        .arg("-d")
        .arg(&out_dir);
    if let Some(cp) = classpath {
        command.arg("-cp").arg(cp);
    }
    command.arg(&src).current_dir(work.path());
    let result = run_captured(
        command,
        &format!("javac {class}"),
        COMPILE_TIMEOUT,
        work.path(),
    )?;
    if !result.success() {
        return Err(Error::Compile {
            class: class.to_owned(),
            stderr: format!("{}{}", result.stdout, result.stderr),
        });
    }
    match std::fs::rename(&out_dir, &final_dir) {
        Ok(()) => Ok(final_dir),
        Err(_) if marker.is_file() => Ok(final_dir), // another process won the race
        Err(e) => Err(Error::io(
            format!("moving compiled classes to {}", final_dir.display()),
            e,
        )),
    }
}

/// Runs a non-Java command to completion with captured output (files in `scratch`).
fn run_captured(
    mut command: Command,
    what: &str,
    timeout: Duration,
    scratch: &Path,
) -> Result<ProgramOutput> {
    let stdout_path = scratch.join("cmd.stdout");
    let stderr_path = scratch.join("cmd.stderr");
    let create =
        |p: &Path| File::create(p).map_err(|e| Error::io(format!("creating {}", p.display()), e));
    command
        .stdin(std::process::Stdio::null())
        .stdout(create(&stdout_path)?)
        .stderr(create(&stderr_path)?);
    let mut child = command
        .spawn()
        .map_err(|e| Error::io(format!("spawning {what}"), e))?;
    let status = match process::wait_until(&mut child, Instant::now() + timeout)? {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = process::wait_until(&mut child, Instant::now() + Duration::from_secs(10));
            return Err(Error::Timeout {
                what: format!("{what}\n{}", process::file_tail(&stderr_path, 40)),
                after_ms: timeout.as_millis(),
            });
        }
    };
    Ok(ProgramOutput {
        program: what.to_owned(),
        status,
        stdout: read_lossy(&stdout_path),
        stderr: read_lossy(&stderr_path),
    })
}

/// The directory holding the compiled parent watch class (compiling it on first use).
pub(crate) fn parent_watch_dir(env: &JavaEnv) -> Result<PathBuf> {
    compile_cached(env, PARENT_WATCH_CLASS, PARENT_WATCH_SOURCE, None)
}
