//! [`ServerProcess`]: the zk-server binary as a child process on a zoo.cfg, its output appended
//! to a log file; killed on drop, so a failing test leaves nothing behind.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running zk-server process.
pub struct ServerProcess(pub Child);

impl ServerProcess {
    /// Starts zk-server on `config` with `env` added, and waits until `port` answers `ruok`.
    pub fn start(config: &Path, port: u16, log: &Path, env: &[(&str, String)]) -> ServerProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_zk-server"));
        command
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (key, value) in env {
            command.env(key, value);
        }
        let server = ServerProcess(command.spawn().expect("start zk-server"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !super::ruok(port) {
            assert!(
                Instant::now() < deadline,
                "zk-server did not come up on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Starts zk-server on a zoo.cfg it writes in `dir`: a free client port on 127.0.0.1,
    /// `dir/data`, every four-letter word, no AdminServer, then `extra`; the log goes to
    /// `dir/zk-server.log`. Returns the process and the client port.
    pub fn start_in(dir: &Path, extra: &str, env: &[(&str, String)]) -> (ServerProcess, u16) {
        let port = super::free_port();
        let config = dir.join("zoo.cfg");
        std::fs::write(
            &config,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n{extra}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let server = ServerProcess::start(&config, port, &dir.join("zk-server.log"), env);
        (server, port)
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
