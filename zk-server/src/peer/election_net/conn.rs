//! The sockets of the election port: accepting (the initial message and [`cnx::accept`]),
//! dialling ([`cnx::initial_message`], [`cnx::keeps_initiated`]), and one reader plus one writer
//! per live connection. These tasks decide nothing: they report [`Event`]s to the service.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use zk_proto::quorum::{
    read_election_frame, split_host_port, InitialMessage, Notification,
    MAX_INITIAL_MESSAGE_ADDR_LEN,
};
use zk_proto::DecodeError;

use crate::peer::next_connection;
use crate::quorum::cnx::{self, AcceptDecision, ObserverIds, PeerOutbox};

/// The service's name for one live connection.
pub(super) type ConnId = u64;

/// What the socket tasks tell the service.
#[derive(Debug)]
pub(super) enum Event {
    /// A higher sid connected and its connection is kept; `leftover`: bytes read past the
    /// initial message.
    Accepted {
        sid: i64,
        stream: TcpStream,
        leftover: BytesMut,
    },
    /// A lower sid connected: its socket is closed; connect to it (at `addresses` if any).
    ConnectBack { sid: i64, addresses: Vec<String> },
    /// A dial ended: `Some` when the connection is up and mine to keep.
    Dialed { sid: i64, stream: Option<TcpStream> },
    /// A notification arrived.
    Received {
        sid: i64,
        notification: Notification,
    },
    /// Connection `conn` to `sid` closed.
    Closed { sid: i64, conn: ConnId },
}

pub(super) type Events = mpsc::UnboundedSender<Event>;

/// A peer's send side, shared by the service (which pushes) and the writer of its current
/// connection (which takes): Java's `queueSendMap` entry plus `lastMessageSent`.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    queue: Mutex<PeerOutbox<Bytes>>,
    wake: Notify,
}

impl Outbox {
    /// Queues a frame, replacing an unsent one.
    pub(super) fn push(&self, frame: Bytes) {
        self.lock().push(frame);
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PeerOutbox<Bytes>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Accepts election connections until cancelled (Java's `Listener`; one task per accepted
/// socket reads its initial message, so a silent peer holds up nobody else).
pub(super) async fn listen(
    listener: TcpListener,
    my_id: i64,
    observer_ids: Arc<Mutex<ObserverIds>>,
    handshake_timeout: Duration,
    events: Events,
    cancel: CancellationToken,
) {
    let mut handshakes = JoinSet::new();
    while let Some((stream, peer)) =
        next_connection(&listener, &cancel, &mut handshakes, "election").await
    {
        handshakes.spawn(handshake(
            stream,
            peer,
            my_id,
            observer_ids.clone(),
            handshake_timeout,
            events.clone(),
        ));
    }
}

/// Reads an accepted connection's initial message and judges it (`handleConnection`).
async fn handshake(
    mut stream: TcpStream,
    peer: SocketAddr,
    my_id: i64,
    observer_ids: Arc<Mutex<ObserverIds>>,
    timeout: Duration,
    events: Events,
) {
    let mut buf = BytesMut::with_capacity(64);
    let read = tokio::time::timeout(timeout, read_initial_message(&mut stream, &mut buf)).await;
    let consumed = match read {
        Err(_) => {
            warn!(my_id, %peer, "election port: no initial message within {timeout:?}; closing");
            return;
        }
        Ok(Err(e)) => {
            warn!(my_id, %peer, error = %e, "election port: reading the initial message failed; closing");
            return;
        }
        // A complete message, or the whole stream when it ended early or is malformed:
        // `accept` says what is wrong with it.
        Ok(Ok(consumed)) => consumed,
    };
    let decision = {
        let mut ids = observer_ids.lock().unwrap_or_else(PoisonError::into_inner);
        cnx::accept(my_id, &buf[..consumed], &mut ids)
    };
    match decision {
        AcceptDecision::Reject(reason) => {
            warn!(my_id, %peer, "election port: {reason}; closing");
        }
        AcceptDecision::OwnId => {
            warn!(my_id, %peer, "election port: a connection claims my own id (a config error?); closing");
        }
        AcceptDecision::ConnectBack { sid, addresses } => {
            debug!(my_id, sid, %peer, "election port: lower sid connected; connecting back");
            drop(stream);
            let _ = events.send(Event::ConnectBack { sid, addresses });
        }
        AcceptDecision::Keep { sid } => {
            info!(my_id, sid, %peer, "election port: connection from server {sid} kept");
            buf.advance(consumed);
            let _ = events.send(Event::Accepted {
                sid,
                stream,
                leftover: buf,
            });
        }
    }
}

/// Reads until `buf` holds a whole initial message, the stream ends, or the message is known
/// to be malformed; returns how many bytes of `buf` to judge.
async fn read_initial_message(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> std::io::Result<usize> {
    // Protocol, sid, length, address text: nothing longer is valid.
    const MAX_LEN: usize = 8 + 8 + 4 + MAX_INITIAL_MESSAGE_ADDR_LEN;
    loop {
        let mut rest = &buf[..];
        match InitialMessage::read(&mut rest) {
            Ok(_) => return Ok(buf.len() - rest.len()),
            Err(DecodeError::Incomplete { .. }) if buf.len() < MAX_LEN => {}
            Err(_) => return Ok(buf.len()),
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(buf.len());
        }
    }
}

/// Connects to `sid` (`connectOne` + `startConnection`): the first of `addresses` that answers
/// within `timeout` gets my initial message; the socket is reported only if mine to keep.
pub(super) async fn dial(
    my_id: i64,
    sid: i64,
    addresses: Vec<String>,
    initial_message: Bytes,
    timeout: Duration,
    events: Events,
) {
    let mut kept = None;
    for address in &addresses {
        let Some((host, port)) = split_host_port(address) else {
            warn!(my_id, sid, address, "election port: bad address; skipped");
            continue;
        };
        let mut stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                warn!(my_id, sid, address, error = %e, "election port: cannot open channel");
                continue;
            }
            Err(_) => {
                warn!(
                    my_id,
                    sid, address, "election port: connect timed out after {timeout:?}"
                );
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Err(e) = stream.write_all(&initial_message).await {
            warn!(my_id, sid, address, error = %e, "election port: sending the initial message failed");
            continue;
        }
        if cnx::keeps_initiated(my_id, sid) {
            debug!(
                my_id,
                sid, address, "election port: connected; keeping the connection"
            );
            kept = Some(stream);
        } else {
            // The higher sid connects back; closing tells it to.
            debug!(
                my_id,
                sid, address, "election port: smaller sid, dropping my connection"
            );
        }
        break;
    }
    let _ = events.send(Event::Dialed { sid, stream: kept });
}

/// Which connection a task serves.
#[derive(Debug, Clone, Copy)]
pub(super) struct Link {
    pub my_id: i64,
    pub sid: i64,
    pub conn: ConnId,
}

/// Runs a live connection until it breaks or `cancel` fires, then reports it closed.
pub(super) async fn run_connection(
    link: Link,
    stream: TcpStream,
    leftover: BytesMut,
    outbox: Arc<Outbox>,
    events: Events,
    cancel: CancellationToken,
) {
    let Link { my_id, sid, conn } = link;
    let (read_half, write_half) = stream.into_split();
    let why = tokio::select! {
        () = cancel.cancelled() => None,
        why = read_frames(my_id, sid, read_half, leftover, &events) => Some(why),
        why = write_frames(write_half, &outbox) => Some(why),
    };
    if let Some(why) = why {
        warn!(my_id, sid, "election connection closed: {why}");
    }
    let _ = events.send(Event::Closed { sid, conn });
}

/// Java's `RecvWorker`: frames of 1..=512 KiB until the stream ends or breaks; a frame
/// outside that closes the connection. A frame that is no notification is dropped (Java's
/// `WorkerReceiver` logs and skips it) and the connection stays.
async fn read_frames(
    my_id: i64,
    sid: i64,
    mut stream: OwnedReadHalf,
    mut buf: BytesMut,
    events: &Events,
) -> String {
    loop {
        let mut rest = &buf[..];
        match read_election_frame(&mut rest) {
            Ok(body) => {
                match Notification::parse(body) {
                    Ok(notification) => {
                        let _ = events.send(Event::Received { sid, notification });
                    }
                    Err(e) => {
                        warn!(my_id, sid, error = %e, "election port: bad notification dropped")
                    }
                }
                let consumed = buf.len() - rest.len();
                buf.advance(consumed);
                continue;
            }
            Err(DecodeError::Incomplete { needed }) => buf.reserve(needed),
            Err(e) => return e.to_string(),
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) if buf.is_empty() => return "end of stream".to_owned(),
            Ok(0) => return format!("end of stream inside a frame ({} bytes)", buf.len()),
            Ok(_) => {}
            Err(e) => return e.to_string(),
        }
    }
}

/// Java's `SendWorker`: first the queued message, else the last one sent again; then whatever
/// gets queued, newest only.
async fn write_frames(mut stream: OwnedWriteHalf, outbox: &Outbox) -> String {
    let first = outbox.lock().on_connected();
    let mut next = first;
    loop {
        if let Some(frame) = next {
            if let Err(e) = stream.write_all(&frame).await {
                return format!("write failed: {e}");
            }
        }
        next = outbox.lock().take();
        if next.is_none() {
            outbox.wake.notified().await;
            next = outbox.lock().take();
        }
    }
}
