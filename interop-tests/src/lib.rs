//! Harness for running the real Apache ZooKeeper (Java) next to zk-rs.
//!
//! The tests in this crate put the real thing on the other side of the wire:
//!
//! - [`JavaZkServer`]: the Debian ZooKeeper 3.8 server in a temporary data directory on a free
//!   loopback port, ready once it answers `ruok` with `imok` and reports a serving `Mode:`;
//!   [`JavaEnsemble`] runs several of them as one quorum.
//! - [`Ensemble`]: a quorum whose members are Java servers or zk-server (mixed allowed), with
//!   kill, pause, restart and wipe controls, leader and sync waits, and a whole-tree comparison
//!   across members ([`tree_diff`]).
//! - [`JavaProgram`]: a small Java driver (a source string, or a file under
//!   `interop-tests/java/`) compiled once against the ZooKeeper client and Curator jars and run
//!   with arguments and a timeout.
//! - [`run_zkcli`]: the real zkCli (`ZooKeeperMain`) running command lines in one session, the
//!   output of each kept apart.
//! - [`PythonScript`]: a kazoo driver run with `/usr/bin/python3` (where Debian's
//!   `python3-kazoo` lives) and a timeout.
//! - [`four_letter_word`]: sends a four-letter word (`ruok`, `srvr`, `mntr`, ...) and returns the
//!   text the server wrote before closing.
//!
//! # Finding Java and the jars
//!
//! See [`JavaEnv`]. By default the Debian layout is used (`/usr/share/java/zookeeper.jar` and
//! friends, installed by `scripts/test.sh`); these environment variables override it:
//!
//! | variable | meaning |
//! |---|---|
//! | `ZK_JAVA_CLASSPATH` | the whole classpath for servers and drivers (ZooKeeper, jute, Curator, an slf4j binding); skips jar discovery |
//! | `ZK_JARS_DIR` | directory holding the Debian-named jars instead of `/usr/share/java` |
//! | `ZK_JAVA_HOME`, then `JAVA_HOME` | the JDK whose `bin/java` and `bin/javac` are used (else `PATH`) |
//! | `ZK_PYTHON` | the Python interpreter with kazoo instead of `/usr/bin/python3` |
//! | `ZK_INTEROP_CACHE_DIR` | where compiled drivers are cached (default: next to the test binary under `target/`) |
//! | `ZK_INTEROP_KEEP_DIRS` | when set, server and driver temp directories are kept (their paths are printed) |
//!
//! When Java, a jar or kazoo is missing, every constructor returns [`Error::Missing`] whose
//! message says to run `scripts/test.sh`; tests fail with it rather than silently skip.
//!
//! # Timeouts
//!
//! Every wait here is bounded: server start, compilation, driver runs, four-letter words and
//! process shutdown all take a deadline, so a broken peer fails a test instead of hanging it.
//! Java children also watch their stdin and halt when this process goes away, so a killed test
//! run does not leave JVMs behind.

pub mod admin_http;
pub mod differential;
pub mod ensemble;
mod fourlw;
mod java;
pub mod pki;
mod process;
mod program;
mod proxy;
mod python;
mod rng;
mod rust_process;
mod rust_server;
mod server;
pub mod tree_diff;
mod zkcli;

pub use ensemble::{
    Ensemble, EnsembleBuilder, MemberKind, Mode, ServerStatus, ENSEMBLE_START_TIMEOUT,
};
pub use fourlw::{four_letter_word, four_letter_word_timeout, FOUR_LETTER_WORD_TIMEOUT};
pub use java::JavaEnv;
pub use pki::TestPki;
pub use program::{JavaProgram, ProgramOutput, RunningProgram, PROGRAM_TIMEOUT};
pub use proxy::PausableProxy;
pub use python::PythonScript;
pub use rng::Rng;
pub use rust_process::RustZkServerProcess;
pub use rust_server::{RustZkServer, ServerUnderTest};
pub use server::{
    free_port, JavaEnsemble, JavaZkServer, JavaZkServerBuilder, ServerAddr, SERVER_START_TIMEOUT,
};
pub use zkcli::{run_zkcli, ZkCliStep};

use std::path::{Path, PathBuf};

/// Why the harness could not do what a test asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Java, javac, a ZooKeeper/Curator jar, or Python with kazoo is not installed.
    #[error(
        "{what} not found ({detail}). The interop tests need the Debian packages zookeeper, \
         zookeeper-bin, libcurator-recipes-java and python3-kazoo plus a JDK: run scripts/test.sh \
         (it installs them), or point ZK_JAVA_CLASSPATH / ZK_JAVA_HOME / ZK_PYTHON at your own \
         copies"
    )]
    Missing {
        /// What is missing.
        what: String,
        /// Where it was looked for.
        detail: String,
    },
    /// An IO operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A deadline passed.
    #[error("timed out after {after_ms} ms: {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long the harness waited.
        after_ms: u128,
    },
    /// The Java server did not come up.
    #[error(
        "Java ZooKeeper server failed to start: {reason}\n--- server log ({log}) tail ---\n{tail}"
    )]
    ServerStart {
        /// What went wrong.
        reason: String,
        /// Path of the server log.
        log: PathBuf,
        /// The last lines of the server log.
        tail: String,
    },
    /// A process ended badly (non-zero exit, or exit before it said what was awaited).
    #[error("{what}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")]
    Failed {
        /// What failed and how.
        what: String,
        /// What it printed on stdout.
        stdout: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// javac rejected a driver.
    #[error("javac failed for {class}:\n{stderr}")]
    Compile {
        /// The main class being compiled.
        class: String,
        /// What javac printed.
        stderr: String,
    },
}

/// The harness's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Whether `ZK_INTEROP_KEEP_DIRS` asks to keep temporary directories.
pub(crate) fn keep_dirs() -> bool {
    std::env::var_os("ZK_INTEROP_KEEP_DIRS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A new temporary directory with a recognisable name prefix.
pub(crate) fn temp_dir(prefix: &str) -> Result<tempfile::TempDir> {
    temp_dir_in(None, prefix)
}

/// [`temp_dir`] under `parent` (else the system's temporary directory).
pub(crate) fn temp_dir_in(parent: Option<&Path>, prefix: &str) -> Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    match parent {
        Some(parent) => builder.tempdir_in(parent),
        None => builder.tempdir(),
    }
    .map_err(|e| Error::io("creating a temporary directory", e))
}

/// Consumes a temp dir: kept on disk (path printed) when `ZK_INTEROP_KEEP_DIRS` is set, else
/// removed.
pub(crate) fn finish_temp_dir(dir: tempfile::TempDir) {
    if keep_dirs() {
        let path = dir.keep();
        eprintln!("interop-tests: kept {}", path.display());
    }
}

/// Runs each named `async fn(&dyn ServerUnderTest)` of the calling test file twice: in module
/// `zk_rs` against zk-server (in-process) and in module `java_server` against the real Java
/// server, each test on its own fresh server, printing how long it took.
///
/// ```text
/// async fn creates_a_node(server: &dyn interop_tests::ServerUnderTest) { /* ... */ }
/// interop_tests::against_both_servers! { creates_a_node, }
/// ```
#[macro_export]
macro_rules! against_both_servers {
    ($($name:ident,)*) => {
        /// Against zk-server, in-process.
        mod zk_rs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let server = $crate::RustZkServer::start(&[]).expect("start zk-server");
                    let started = std::time::Instant::now();
                    super::$name(&server).await;
                    eprintln!(
                        "{} against zk-rs: {} ms",
                        stringify!($name),
                        started.elapsed().as_millis()
                    );
                }
            )*
        }

        /// Against the real Java server.
        mod java_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let server = $crate::JavaZkServer::builder()
                        .start()
                        .unwrap_or_else(|e| panic!("{e}"));
                    let started = std::time::Instant::now();
                    super::$name(&server).await;
                    eprintln!(
                        "{} against java: {} ms",
                        stringify!($name),
                        started.elapsed().as_millis()
                    );
                }
            )*
        }
    };
}
