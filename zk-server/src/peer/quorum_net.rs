//! The quorum port's transport (QUORUM.md 4): `QuorumPacket` records written back to back in
//! both directions, with no length prefix, and after a SNAP packet from the leader the raw
//! SNAP body.
//!
//! - Leader side: [`listen_for_learners`] accepts learner connections, names each with a
//!   [`LearnerId`] and reports `(LearnerId, LearnerEvent)`s: `Connected` (with the
//!   [`PacketSender`] for that learner), each `Packet`, then one `Closed` with the reason.
//! - Learner side: [`connect_to_leader`] dials with Java's `connectToLeader` retries and reports
//!   [`LeaderEvent`]s; a SNAP packet is followed by a `Snapshot` event holding the body.
//!
//! A connection runs one reader and one writer. The writer takes [`Outgoing`] items in order and
//! flushes whenever its queue runs dry (as Java's `LearnerHandler.sendPackets` does). A packet
//! whose data length is negative (other than -1, null) or above the bound (Java's
//! `BinaryInputArchive`: `jute.maxbuffer` + `zookeeper.jute.maxbuffer.extrasize`), a malformed
//! record, or a stream that ends inside one closes that connection with a `warn!` line and a
//! `Closed` event; the listener keeps accepting. Timeouts (`initLimit`, `syncLimit`) are the
//! cores' ticks, not socket options here.

mod codec;
mod snap_stream;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zk_proto::jute::Jute;
use zk_proto::quorum::{PacketType, QuorumPacket};
use zk_proto::storage::DEFAULT_MAX_TXN_LEN;

use self::codec::PacketReader;
use super::{millis, next_connection, Background};
use crate::quorum::leader::LearnerId;
use crate::tree::DataTree;

/// Java's default bound on a packet's data: `jute.maxbuffer` (0xfffff) plus
/// `zookeeper.jute.maxbuffer.extrasize` (which defaults to `jute.maxbuffer`).
pub const DEFAULT_MAX_DATA_LEN: usize = DEFAULT_MAX_TXN_LEN;

/// Java's pause between attempts to reach the leader (`zookeeper.leaderConnectDelayDuringRetryMs`,
/// 100 ms in 3.8's `Learner`). Followers often dial a new leader before it listens.
pub const LEADER_CONNECT_RETRY_DELAY_MS: u64 = 100;
/// Java's number of attempts to reach the leader.
pub const LEADER_CONNECT_TRIES: u32 = 5;

/// What a connection's writer sends, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A packet.
    Packet(QuorumPacket),
    /// Bytes written as they are: the SNAP body after a SNAP packet.
    Raw(Bytes),
    /// Flush now (the writer also flushes whenever it has nothing more queued).
    Flush,
}

/// The send side of one quorum connection; cloning it gives another handle to the same
/// connection. Sends fail (return `false`) once the connection closed. Dropping every handle
/// closes the connection once what was queued is written.
#[derive(Debug, Clone)]
pub struct PacketSender {
    queue: mpsc::UnboundedSender<Outgoing>,
    cancel: CancellationToken,
}

impl PacketSender {
    /// Queues a packet.
    pub fn send(&self, packet: QuorumPacket) -> bool {
        self.push(Outgoing::Packet(packet))
    }

    /// Queues raw bytes (the SNAP body).
    pub fn send_raw(&self, bytes: Bytes) -> bool {
        self.push(Outgoing::Raw(bytes))
    }

    /// Asks for a flush once what is queued before it is written.
    pub fn flush(&self) -> bool {
        self.push(Outgoing::Flush)
    }

    /// Queues an item.
    pub fn push(&self, item: Outgoing) -> bool {
        !self.cancel.is_cancelled() && self.queue.send(item).is_ok()
    }

    /// Closes the connection at once (what is still queued is dropped). The reader reports
    /// `Closed`.
    pub fn close(&self) {
        self.cancel.cancel();
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.cancel.is_cancelled() || self.queue.is_closed()
    }
}

/// What the leader hears from one learner connection.
#[derive(Debug)]
pub enum LearnerEvent {
    /// A learner connected; packets for it go through `sender`.
    Connected {
        /// The learner's address.
        peer: SocketAddr,
        /// Its send side.
        sender: PacketSender,
    },
    /// A packet arrived.
    Packet(QuorumPacket),
    /// The connection closed (the last event for this id).
    Closed(String),
}

/// What a learner hears from its leader.
#[derive(Debug)]
pub enum LeaderEvent {
    /// A packet arrived.
    Packet(QuorumPacket),
    /// The tree of the SNAP body that followed the last SNAP packet.
    Snapshot(Box<DataTree>),
    /// The connection closed (the last event).
    Closed(String),
}

/// Learner ids are unique in the process, across listeners and leaderships.
static NEXT_LEARNER_ID: AtomicU64 = AtomicU64::new(1);

/// Binds the quorum port: my quorum address, or the wildcard on its port with
/// `quorumListenOnAllIPs`.
pub async fn bind(host: &str, port: u16, listen_on_all_ips: bool) -> io::Result<TcpListener> {
    let host = if listen_on_all_ips { "0.0.0.0" } else { host };
    TcpListener::bind((host, port)).await
}

/// A running quorum-port listener; dropping it stops accepting and closes every learner
/// connection it accepted.
#[derive(Debug)]
pub struct LearnerListener {
    local_addr: Option<SocketAddr>,
    task: Background,
}

impl LearnerListener {
    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Stops accepting, closes every learner connection, and waits until they are closed.
    pub async fn stop(self) {
        self.task.stop().await;
    }
}

/// Accepts learners on `listener` (Java's `LearnerCnxAcceptor`), reporting every event of
/// every connection on `events` (the leader's queue: readers wait when it is full).
pub fn listen_for_learners(
    listener: TcpListener,
    max_data_len: usize,
    events: mpsc::Sender<(LearnerId, LearnerEvent)>,
) -> LearnerListener {
    let cancel = CancellationToken::new();
    let local_addr = listener.local_addr().ok();
    let accept = accept_learners(listener, max_data_len, events, cancel.clone());
    LearnerListener {
        local_addr,
        task: Background::spawn(cancel, accept),
    }
}

async fn accept_learners(
    listener: TcpListener,
    max_data_len: usize,
    events: mpsc::Sender<(LearnerId, LearnerEvent)>,
    cancel: CancellationToken,
) {
    let mut connections = JoinSet::new();
    while let Some((stream, peer)) =
        next_connection(&listener, &cancel, &mut connections, "quorum").await
    {
        let id = NEXT_LEARNER_ID.fetch_add(1, Ordering::Relaxed);
        let cancel = cancel.child_token();
        let (sender, outgoing) = packet_queue(cancel.clone());
        info!(learner = id, %peer, "quorum port: learner connected");
        let connected = LearnerEvent::Connected { peer, sender };
        if events.send((id, connected)).await.is_err() {
            break;
        }
        let (read_half, write_half) = stream.into_split();
        let events = events.clone();
        connections.spawn(async move {
            let read = read_from_learner(id, read_half, max_data_len, &events);
            let reason = run_connection(read, write_half, outgoing, &cancel).await;
            warn!(learner = id, %peer, "quorum port: learner connection closed: {reason}");
            let _ = events.send((id, LearnerEvent::Closed(reason))).await;
        });
    }
    // Dropping the set aborts the connections still running, closing their sockets.
    connections.shutdown().await;
}

/// The leader's reader of one learner: packets until the stream ends or breaks.
async fn read_from_learner(
    id: LearnerId,
    mut stream: OwnedReadHalf,
    max_data_len: usize,
    events: &mpsc::Sender<(LearnerId, LearnerEvent)>,
) -> String {
    let mut reader = PacketReader::new(max_data_len);
    loop {
        match reader.next_packet(&mut stream).await {
            Ok(Some(packet)) => {
                if events
                    .send((id, LearnerEvent::Packet(packet)))
                    .await
                    .is_err()
                {
                    return "the leader stopped listening".to_owned();
                }
            }
            Ok(None) => return "end of stream".to_owned(),
            Err(reason) => return reason,
        }
    }
}

/// How to reach the leader (Java's `Learner.connectToLeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConnectConfig {
    /// The time allowed for all attempts: `connectToLearnerMasterLimit` (or `initLimit`)
    /// times `tickTime`.
    pub connect_timeout_ms: u64,
    /// Attempts before giving up.
    pub tries: u32,
    /// The pause between attempts.
    pub retry_delay_ms: u64,
    /// The largest packet data accepted from the leader.
    pub max_data_len: usize,
    /// `zookeeper.extendedTypesEnabled`, for the tree of a SNAP body.
    pub extended_types: bool,
}

impl LeaderConnectConfig {
    /// Java's defaults within `connect_timeout_ms`.
    pub fn new(connect_timeout_ms: u64) -> Self {
        LeaderConnectConfig {
            connect_timeout_ms,
            tries: LEADER_CONNECT_TRIES,
            retry_delay_ms: LEADER_CONNECT_RETRY_DELAY_MS,
            max_data_len: DEFAULT_MAX_DATA_LEN,
            extended_types: false,
        }
    }
}

/// A learner's connection to its leader.
#[derive(Debug)]
pub struct LeaderConnection {
    /// The leader's address.
    pub peer: SocketAddr,
    /// Packets to the leader.
    pub sender: PacketSender,
}

/// Connects to the leader at `address` (`host:port`), retrying as Java does: up to `tries`
/// attempts `retry_delay_ms` apart, all within `connect_timeout_ms`. Then the connection's
/// packets (and SNAP bodies) arrive on `events`, ending with `Closed`.
pub async fn connect_to_leader(
    host: &str,
    port: u16,
    cfg: &LeaderConnectConfig,
    events: mpsc::Sender<LeaderEvent>,
) -> io::Result<LeaderConnection> {
    let stream = dial_leader(host, port, cfg).await?;
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr()?;
    let (sender, outgoing) = packet_queue(CancellationToken::new());
    let (read_half, write_half) = stream.into_split();
    let (max_data_len, extended_types) = (cfg.max_data_len, cfg.extended_types);
    let cancel = sender.cancel.clone();
    tokio::spawn(async move {
        let read = read_from_leader(read_half, max_data_len, extended_types, &events);
        let reason = run_connection(read, write_half, outgoing, &cancel).await;
        warn!(%peer, "quorum port: connection to the leader closed: {reason}");
        let _ = events.send(LeaderEvent::Closed(reason)).await;
    });
    Ok(LeaderConnection { peer, sender })
}

async fn dial_leader(host: &str, port: u16, cfg: &LeaderConnectConfig) -> io::Result<TcpStream> {
    let started = Instant::now();
    let limit = millis(cfg.connect_timeout_ms);
    let mut tries = 0;
    loop {
        let remaining = limit.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connectToLeader exceeded on retries",
            ));
        }
        let error = match tokio::time::timeout(remaining, TcpStream::connect((host, port))).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => e,
            Err(_) => io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        };
        tries += 1;
        let remaining = limit.saturating_sub(started.elapsed());
        if remaining <= millis(cfg.retry_delay_ms) || tries >= cfg.tries {
            warn!(host, port, tries, error = %error, "quorum port: giving up on the leader");
            return Err(error);
        }
        warn!(host, port, tries, error = %error, "quorum port: leader unreachable; retrying");
        tokio::time::sleep(millis(cfg.retry_delay_ms)).await;
    }
}

/// The learner's reader: packets, and after SNAP the SNAP body.
async fn read_from_leader(
    mut stream: OwnedReadHalf,
    max_data_len: usize,
    extended_types: bool,
    events: &mpsc::Sender<LeaderEvent>,
) -> String {
    let mut reader = PacketReader::new(max_data_len);
    loop {
        let packet = match reader.next_packet(&mut stream).await {
            Ok(Some(packet)) => packet,
            Ok(None) => return "end of stream".to_owned(),
            Err(reason) => return reason,
        };
        let snap = packet.r#type == PacketType::Snap;
        if events.send(LeaderEvent::Packet(packet)).await.is_err() {
            return "the learner stopped listening".to_owned();
        }
        if snap {
            let tree = match reader.snap_tree(&mut stream, extended_types).await {
                Ok(tree) => tree,
                Err(reason) => return reason,
            };
            if events
                .send(LeaderEvent::Snapshot(Box::new(tree)))
                .await
                .is_err()
            {
                return "the learner stopped listening".to_owned();
            }
        }
    }
}

fn packet_queue(cancel: CancellationToken) -> (PacketSender, mpsc::UnboundedReceiver<Outgoing>) {
    let (queue, outgoing) = mpsc::unbounded_channel();
    (PacketSender { queue, cancel }, outgoing)
}

/// Runs `read` and the writer until one ends, `cancel` fires, or every [`PacketSender`] is
/// dropped; the reason.
async fn run_connection(
    read: impl std::future::Future<Output = String>,
    write_half: OwnedWriteHalf,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
    cancel: &CancellationToken,
) -> String {
    let reason = tokio::select! {
        () = cancel.cancelled() => "closed by this server".to_owned(),
        reason = read => reason,
        reason = write(write_half, outgoing) => reason,
    };
    cancel.cancel();
    reason
}

/// The writer: items in order, a flush whenever the queue runs dry.
async fn write(stream: OwnedWriteHalf, mut outgoing: mpsc::UnboundedReceiver<Outgoing>) -> String {
    let mut out = BufWriter::with_capacity(64 * 1024, stream);
    let mut scratch = BytesMut::new();
    while let Some(mut item) = outgoing.recv().await {
        loop {
            let written = match item {
                Outgoing::Packet(packet) => {
                    scratch.clear();
                    packet.write(&mut scratch);
                    out.write_all(&scratch).await
                }
                Outgoing::Raw(bytes) => out.write_all(&bytes).await,
                Outgoing::Flush => out.flush().await,
            };
            if let Err(e) = written {
                return format!("write failed: {e}");
            }
            match outgoing.try_recv() {
                Ok(next) => item = next,
                Err(_) => break,
            }
        }
        if let Err(e) = out.flush().await {
            return format!("write failed: {e}");
        }
    }
    "every sender is gone".to_owned()
}
