//! The accept loop of the AdminServer and of `/metrics`. Each connection is HTTP/1.1 on
//! hyper, with bounds that keep a bad or slow client from costing more than its own
//! connection:
//! - the request head must arrive within the idle timeout (`admin.idleTimeout`: a slow-loris
//!   client is cut off), and an idle keep-alive connection is closed after the same time, as
//!   Jetty does;
//! - a request head may hold at most [`MAX_HEAD_BYTES`];
//! - at most [`MAX_CONNECTIONS`] connections are served at once; more wait in the kernel's
//!   backlog.
//!
//! With TLS ([`Tls`]), every connection (`admin.forceHttps`) or those that open with a TLS
//! handshake (`admin.portUnification`) are served over TLS, with the client port's stores; a
//! verified client certificate's `x509` identity comes with each request ([`Transport`]).
//!
//! The client port is served by other tasks and never waits on any of this.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};
use zk_proto::data::Id;

use crate::tls::SecurePort;

/// The largest request head (request line and headers) read.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// TLS on a port: which connections get it.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The acceptor (the client port's stores).
    pub port: SecurePort,
    /// Plain HTTP is served too, to connections that do not open with a TLS handshake.
    pub unified: bool,
}

/// What the connection of a request is: its remote address and what its TLS client
/// certificate proves.
#[derive(Debug, Clone)]
pub struct Transport {
    /// The remote address (`ip` identities).
    pub peer: SocketAddr,
    /// The ids of a verified client certificate (`x509`, `super`); empty without one.
    pub certificate_ids: Vec<Id>,
}

/// Accepts connections until `stop` turns true.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    idle_timeout: Duration,
    tls: Option<Tls>,
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
                    warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let router = router.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                Some(tls) if !tls.unified || opens_with_tls(&stream).await => {
                    match tls.port.accept(stream).await {
                        Ok((stream, certificate_ids)) => {
                            let transport = Transport {
                                peer,
                                certificate_ids,
                            };
                            connection(stream, transport, router, idle_timeout, stop).await
                        }
                        Err(e) => debug!(%peer, error = %e, "TLS handshake failed"),
                    }
                }
                _ => {
                    let transport = Transport {
                        peer,
                        certificate_ids: Vec::new(),
                    };
                    connection(stream, transport, router, idle_timeout, stop).await
                }
            }
            drop(permit);
        });
    }
    debug!("HTTP listener stopped");
}

/// Whether the client's first byte starts a TLS handshake (waiting for it at most a while).
async fn opens_with_tls(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.peek(&mut first)).await,
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE
    )
}

/// Serves one connection until the client closes it, a timeout or the stop signal.
async fn connection<S>(
    stream: S,
    transport: Transport,
    router: Router,
    idle_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = transport.peer;
    let service = TowerToHyperService::new(router.layer(axum::Extension(transport)));
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
                debug!(%peer, error = %e, "HTTP connection closed");
            }
        }
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

/// Resolves once the server stops.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
