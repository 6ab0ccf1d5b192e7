//! Helpers shared by the tests that run the zk-server binary or its HTTP ports.
#![allow(dead_code)] // each test uses some of them

pub mod http;
pub mod process;
pub mod s3;
pub mod server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether a server on `port` answers `ruok` with `imok`.
pub fn ruok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = String::new();
    s.write_all(b"ruok").is_ok() && s.read_to_string(&mut answer).is_ok() && answer == "imok"
}
