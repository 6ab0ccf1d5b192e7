//! [`HttpServer`]: a durable zk-server in-process with its AdminServer (and whatever `extra`
//! zoo.cfg lines add, e.g. `/metrics`) on free loopback ports; stopped on drop.

use std::net::SocketAddr;
use std::time::Duration;

use zk_client::Client;
use zk_server::config::Config;
use zk_server::server::{self, RunOptions, RunningServer};

/// A running server and its data directory.
pub struct HttpServer {
    running: Option<RunningServer>,
    dir: tempfile::TempDir,
}

impl HttpServer {
    /// Starts one with the AdminServer on 127.0.0.1, every four-letter word, and `extra`.
    pub async fn start(extra: &str) -> HttpServer {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n\
             admin.serverAddress=127.0.0.1\nadmin.serverPort=0\n4lw.commands.whitelist=*\n{extra}",
            dir.path().display()
        );
        let running = server::start(Config::parse(&text, "").unwrap(), RunOptions::default())
            .await
            .expect("start");
        HttpServer {
            running: Some(running),
            dir,
        }
    }

    /// The server.
    pub fn running(&self) -> &RunningServer {
        self.running.as_ref().unwrap()
    }

    /// The AdminServer's address.
    pub fn admin(&self) -> SocketAddr {
        self.running().admin_addr().expect("AdminServer running")
    }

    /// The client port's address.
    pub fn client_addr(&self) -> SocketAddr {
        self.running().local_addr()
    }

    /// `dataDir`.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A session on the client port.
    pub async fn client(&self) -> Client {
        Client::builder(self.client_addr().to_string())
            .session_timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect")
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stopper().stop();
        }
    }
}
