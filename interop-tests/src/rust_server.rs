//! Our own server, run in-process on its own thread and tokio runtime, on a free port, with a
//! temporary data directory; stopped on drop. And [`ServerUnderTest`], what a scenario needs
//! from either server.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::JavaZkServer;

/// What a scenario needs from the server it runs against (Java's or ours).
pub trait ServerUnderTest {
    /// `127.0.0.1:<port>`.
    fn connect_string(&self) -> String;
    /// The client address.
    fn addr(&self) -> SocketAddr;
    /// Sends a four-letter word and returns the answer.
    fn four_letter_word(&self, word: &str) -> io::Result<String>;
    /// Which server this is, for messages.
    fn kind(&self) -> &'static str;
}

impl ServerUnderTest for JavaZkServer {
    fn connect_string(&self) -> String {
        JavaZkServer::connect_string(self)
    }
    fn addr(&self) -> SocketAddr {
        JavaZkServer::addr(self)
    }
    fn four_letter_word(&self, word: &str) -> io::Result<String> {
        JavaZkServer::four_letter_word(self, word)
    }
    fn kind(&self) -> &'static str {
        "java"
    }
}

/// zk-server running inside the test process.
#[derive(Debug)]
pub struct RustZkServer {
    addr: SocketAddr,
    secure_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl RustZkServer {
    /// Starts a standalone server with tickTime 2000, `4lw.commands.whitelist=*` and the given
    /// extra zoo.cfg lines.
    pub fn start(extra_cfg: &[&str]) -> io::Result<RustZkServer> {
        Self::start_with_flags(extra_cfg, "")
    }

    /// Like [`start`](Self::start), with `-Dkey=value` system properties as `SERVER_JVMFLAGS`
    /// would give them (for example `-Dznode.container.checkIntervalMs=3600000`).
    pub fn start_with_flags(extra_cfg: &[&str], jvm_flags: &str) -> io::Result<RustZkServer> {
        let dir = tempfile::Builder::new()
            .prefix("zk-rs-rust-zk-")
            .tempdir()?;
        let mut text = format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n",
            dir.path().display()
        );
        for line in extra_cfg {
            text.push_str(line);
            text.push('\n');
        }
        let cfg = zk_server::config::Config::parse(&text, jvm_flags)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("zk-rs-server".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let tree = zk_server::tree::DataTree::new(cfg.extended_types_enabled());
                    match zk_server::runtime::start(
                        cfg,
                        tree,
                        Box::new(zk_server::storage::log::MemTxnLog::new()),
                    )
                    .await
                    {
                        Ok(server) => {
                            let _ =
                                addr_tx.send(Ok((server.local_addr(), server.secure_local_addr())));
                            let _ = stop_rx.await;
                            server.shutdown().await;
                        }
                        Err(e) => {
                            let _ = addr_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let (addr, secure_addr) = addr_rx
            .recv()
            .map_err(|_| io::Error::other("server thread ended before listening"))??;
        Ok(RustZkServer {
            addr,
            secure_addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        })
    }
}

impl RustZkServer {
    /// The TLS client port, when the configuration has `secureClientPort` (0 picks a free
    /// one).
    pub fn secure_addr(&self) -> Option<SocketAddr> {
        self.secure_addr
    }
}

impl ServerUnderTest for RustZkServer {
    fn connect_string(&self) -> String {
        self.addr.to_string()
    }
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn four_letter_word(&self, word: &str) -> io::Result<String> {
        crate::four_letter_word(self.addr, word)
    }
    fn kind(&self) -> &'static str {
        "zk-rs"
    }
}

impl Drop for RustZkServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
