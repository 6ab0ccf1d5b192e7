//! Python drivers (kazoo) run with the system Python that Debian's `python3-kazoo` serves.

use crate::program::{ProgramOutput, RunningProgram, PROGRAM_TIMEOUT};
use crate::{Error, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The interpreter Debian installs `python3-kazoo` for. A `python3` found first on `PATH` (pyenv,
/// a virtualenv) usually lacks kazoo, so `PATH` is not searched.
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// Runs before the script: halts the interpreter when stdin reaches end of file, that is when
/// the test process that holds the pipe goes away (the same parent watch the Java drivers have).
/// It reads the raw descriptor: a daemon thread blocked inside `sys.stdin`'s buffered reader
/// makes interpreter shutdown abort. One line, so the script's line numbers are off by one only.
const PRELUDE: &str = "import os as _zkrs_os, threading as _zkrs_threading; \
_zkrs_threading.Thread(target=lambda: (all(iter(lambda: _zkrs_os.read(0, 4096), b'')), \
_zkrs_os._exit(143)), daemon=True, name='zk-rs-parent-watch').start()\n";

/// A Python 3 script run with the interpreter that has kazoo (`/usr/bin/python3`, or
/// `$ZK_PYTHON`). Arguments arrive in `sys.argv[1:]`; stdin is reserved for the parent watch.
///
/// ```no_run
/// use interop_tests::PythonScript;
/// let script = PythonScript::new(
///     "ls",
///     "import sys\nfrom kazoo.client import KazooClient\n\
///      zk = KazooClient(hosts=sys.argv[1]); zk.start(timeout=20)\n\
///      print(sorted(zk.get_children('/'))); zk.stop()\n",
/// )?;
/// let out = script.run(&["127.0.0.1:2181"])?.expect_success()?;
/// # Ok::<(), interop_tests::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PythonScript {
    name: String,
    source: String,
    python: &'static Path,
}

impl PythonScript {
    /// A script named `name` (for messages). Fails with [`Error::Missing`]
    /// when the interpreter or kazoo is missing.
    pub fn new(name: &str, source: &str) -> Result<PythonScript> {
        Ok(PythonScript {
            name: name.to_owned(),
            source: source.to_owned(),
            python: kazoo_python()?,
        })
    }

    /// Reads a script file; a relative path is taken from this crate's directory
    /// (`interop-tests/`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<PythonScript> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path.as_ref());
        let source = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        PythonScript::new(&name, &source)
    }

    /// Runs the script to completion with the default limit ([`PROGRAM_TIMEOUT`]).
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<ProgramOutput> {
        self.run_timeout(args, PROGRAM_TIMEOUT)
    }

    /// Runs the script to completion; past `timeout` it is killed.
    pub fn run_timeout<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        timeout: Duration,
    ) -> Result<ProgramOutput> {
        self.spawn(args)?.wait_timeout(timeout)
    }

    /// Starts the script in the background; dropping the handle kills it.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<RunningProgram> {
        let mut command = Command::new(self.python);
        command
            .arg("-u") // unbuffered, so `wait_for_stdout` sees lines as they are printed
            .arg("-c")
            .arg(format!("{PRELUDE}{}", self.source))
            .args(args);
        RunningProgram::spawn(command, &self.name)
    }
}

/// The interpreter, checked once for `import kazoo`.
fn kazoo_python() -> Result<&'static Path> {
    static PYTHON: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let python = std::env::var_os("ZK_PYTHON")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEBIAN_PYTHON));
        let check = Command::new(&python)
            .args(["-c", "import kazoo.client"])
            .stdin(std::process::Stdio::null())
            .output();
        match check {
            Ok(out) if out.status.success() => Ok(python),
            Ok(out) => Err(format!(
                "{} cannot import kazoo: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("cannot run {}: {e}", python.display())),
        }
    });
    match found {
        Ok(path) => Ok(path.as_path()),
        Err(detail) => Err(Error::Missing {
            what: "Python with kazoo".to_owned(),
            detail: format!("{detail}; set ZK_PYTHON to another interpreter"),
        }),
    }
}
