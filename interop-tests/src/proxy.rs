//! A TCP proxy that a test can cut: while paused it drops every connection and refuses new ones,
//! so a client loses its server for as long as the test wants (for example past the session
//! timeout, to make the server expire the session).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A pausable proxy from a local port to `target`. Dropping it stops it.
///
/// ```no_run
/// # fn demo(target: std::net::SocketAddr) -> std::io::Result<()> {
/// let proxy = interop_tests::PausableProxy::start(target)?;
/// let connect_string = proxy.connect_string(); // give this to the client
/// proxy.pause();   // every connection is cut; new ones are closed at once
/// proxy.resume();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PausableProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
}

#[derive(Debug, Default)]
struct ProxyState {
    paused: AtomicBool,
    stopped: AtomicBool,
    /// Both ends of every live connection, so pausing can cut them.
    live: Mutex<Vec<TcpStream>>,
}

impl ProxyState {
    fn cut_all(&self) {
        for stream in self.live.lock().expect("proxy lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl PausableProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<PausableProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let state = Arc::new(ProxyState::default());
        let accept_state = state.clone();
        thread::spawn(move || accept_loop(listener, target, accept_state));
        Ok(PausableProxy { addr, state })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>` of the proxy.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// Cuts every connection and refuses new ones until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.state.paused.store(true, Ordering::SeqCst);
        self.state.cut_all();
    }

    /// Forwards again.
    pub fn resume(&self) {
        self.state.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for PausableProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.state.cut_all();
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, state: Arc<ProxyState>) {
    while !state.stopped.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                if state.paused.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
                    continue;
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                {
                    let mut live = state.live.lock().expect("proxy lock");
                    live.push(client.try_clone().expect("clone client"));
                    live.push(server.try_clone().expect("clone server"));
                }
                thread::spawn(move || pump(client, s2));
                thread::spawn(move || pump(server, c2));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Copies `from` to `to` until either side closes, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
