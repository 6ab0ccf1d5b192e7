//! The AdminServer's accept loop. Each connection is HTTP/1.1 on hyper, with bounds that keep
//! a bad or slow client from costing more than its own connection:
//! - the request head must arrive within `admin.idleTimeout` (a slow-loris client is cut off),
//!   and an idle keep-alive connection is closed after the same time, as Jetty does;
//! - a request head may hold at most [`MAX_HEAD_BYTES`];
//! - at most [`MAX_CONNECTIONS`] connections are served at once; more wait in the kernel's
//!   backlog.
//!
//! The client port is served by other tasks and never waits on any of this.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

use std::time::Duration;

/// The largest request head (request line and headers) read.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;

/// Accepts connections until `stop` turns true.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    idle_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("never closed"),
            _ = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    warn!(error = %e, "AdminServer accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            connection(stream, peer, router, idle_timeout, stop).await;
            drop(permit);
        });
    }
    debug!("AdminServer stopped");
}

/// Serves one connection until the client closes it, a timeout or the stop signal.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    idle_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(router.layer(axum::Extension(Peer(peer))));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                debug!(%peer, error = %e, "AdminServer connection closed");
            }
        }
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), conn).await;
        }
    }
}

/// Resolves once the server stops.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The remote address of the request's connection (for `ip` identities).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);
