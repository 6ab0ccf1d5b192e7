//! The task that owns the [`Election`] core: it turns socket events, commands and the timer
//! into core calls, and the core's [`Action`]s into queued frames and dials.

use std::collections::BTreeMap;
use std::future::pending;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use zk_proto::quorum::{write_election_frame, Notification};

use super::conn::{self, ConnId, Event, Events, Link, Outbox};
use super::{Command, ElectionNetConfig, ElectionStatus, LookError};
use crate::peer::millis;
use crate::quorum::cnx::{self, ObserverIds};
use crate::quorum::election::{Action, Decision, Election};

/// One peer's send queue and connection.
#[derive(Debug, Default)]
struct Peer {
    outbox: Arc<Outbox>,
    /// The live connection and what stops it.
    conn: Option<(ConnId, CancellationToken)>,
    /// A dial to the peer is under way.
    dialing: bool,
}

struct Service {
    core: Election,
    my_id: i64,
    /// Voters other than me: a broadcast's recipients.
    voters: Vec<i64>,
    /// Election addresses from the config, by sid.
    addresses: BTreeMap<i64, Vec<String>>,
    peers: BTreeMap<i64, Peer>,
    next_conn: ConnId,
    started: Instant,
    initial_message: Bytes,
    cnx_timeout_ms: u64,
    events: Events,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    pending: Option<oneshot::Sender<Result<Decision, LookError>>>,
}

/// Runs the election port until `cancel` fires or every handle is gone.
pub(super) async fn run(
    cfg: ElectionNetConfig,
    listeners: Vec<TcpListener>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    cancel: CancellationToken,
) {
    let (events, mut event_rx) = mpsc::unbounded_channel();
    let my_addresses = cfg.election_addresses(cfg.my_id);
    let addresses = cfg
        .verifier
        .members()
        .iter()
        .filter(|m| m.id != cfg.my_id)
        .map(|m| (m.id, cfg.election_addresses(m.id)))
        .collect();
    let mut service = Service {
        core: cfg.election(),
        my_id: cfg.my_id,
        voters: cfg
            .verifier
            .voting_members()
            .map(|m| m.id)
            .filter(|&id| id != cfg.my_id)
            .collect(),
        addresses,
        peers: BTreeMap::new(),
        next_conn: 0,
        started: Instant::now(),
        initial_message: cnx::initial_message(cfg.my_id, &my_addresses, cfg.multi_address)
            .to_bytes()
            .into(),
        cnx_timeout_ms: cfg.cnx_timeout_ms,
        events: events.clone(),
        cancel: cancel.clone(),
        tasks: JoinSet::new(),
        pending: None,
    };
    let observer_ids = Arc::new(Mutex::new(ObserverIds::default()));
    for listener in listeners {
        if let Ok(addr) = listener.local_addr() {
            info!(my_id = cfg.my_id, %addr, "election port listening");
        }
        service.tasks.spawn(conn::listen(
            listener,
            cfg.my_id,
            observer_ids.clone(),
            millis(cfg.socket_timeout_ms),
            events.clone(),
            cancel.child_token(),
        ));
    }
    loop {
        let deadline = service
            .core
            .next_deadline_ms()
            .map(|ms| service.started + millis(ms));
        tokio::select! {
            () = cancel.cancelled() => break,
            command = commands.recv() => match command {
                Some(command) => service.command(command),
                None => break,
            },
            Some(event) = event_rx.recv() => service.event(event),
            () = sleep_until(deadline) => {
                let actions = service.core.on_tick(service.now_ms());
                service.perform(actions);
            }
            Some(_) = service.tasks.join_next(), if !service.tasks.is_empty() => {}
        }
    }
    cancel.cancel();
    // Closes every socket before `ElectionService::stop` returns.
    service.tasks.shutdown().await;
    debug!(my_id = service.my_id, "election service stopped");
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => pending().await,
    }
}

impl Service {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Look {
                last_logged_zxid,
                current_epoch,
                reply,
            } => {
                if let Some(old) = self.pending.replace(reply) {
                    let _ = old.send(Err(LookError::Superseded));
                }
                let now = self.now_ms();
                let actions = self
                    .core
                    .look_for_leader(now, last_logged_zxid, current_epoch);
                self.perform(actions);
            }
            Command::UpdateVote(epoch) => self.core.update_election_vote(epoch),
            Command::Status(reply) => {
                let status = ElectionStatus {
                    state: self.core.state(),
                    current_vote: self.core.current_vote(),
                    logical_clock: self.core.logical_clock(),
                    connected: self
                        .peers
                        .iter()
                        .filter(|(_, p)| p.conn.is_some())
                        .map(|(&sid, _)| sid)
                        .collect(),
                };
                let _ = reply.send(status);
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Accepted {
                sid,
                stream,
                leftover,
            } => self.install(sid, stream, leftover),
            Event::ConnectBack { sid, addresses } => {
                // The peer dialled me, so its side of any old connection is likely gone.
                self.close(sid);
                let addresses = (!addresses.is_empty()).then_some(addresses);
                self.connect_one(sid, addresses);
            }
            Event::Dialed { sid, stream } => {
                self.peers.entry(sid).or_default().dialing = false;
                if let Some(stream) = stream {
                    self.install(sid, stream, BytesMut::new());
                }
            }
            Event::Received { sid, notification } => {
                let now = self.now_ms();
                let actions = self.core.on_notification(now, sid, &notification);
                self.perform(actions);
            }
            Event::Closed { sid, conn } => {
                let peer = self.peers.entry(sid).or_default();
                if peer.conn.as_ref().is_some_and(|(id, _)| *id == conn) {
                    peer.conn = None;
                    self.core.peer_disconnected(sid);
                }
            }
        }
    }

    fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { to, notification } => self.queue(to, &notification),
                Action::Broadcast { notification } => {
                    for to in self.voters.clone() {
                        self.queue(to, &notification);
                    }
                }
                Action::ConnectAll => {
                    let sids: Vec<i64> = self.peers.keys().copied().collect();
                    for sid in sids {
                        self.connect_one(sid, None);
                    }
                }
                Action::Decided(decision) => {
                    info!(
                        my_id = self.my_id,
                        leader = decision.leader,
                        state = ?decision.state,
                        round = decision.election_epoch,
                        "election decided"
                    );
                    if let Some(reply) = self.pending.take() {
                        let _ = reply.send(Ok(decision));
                    }
                }
                Action::NewerConfig { from, config } => {
                    warn!(
                        my_id = self.my_id,
                        from, "election: peer has a newer config"
                    );
                    if let Some(reply) = self.pending.take() {
                        let _ = reply.send(Err(LookError::NewerConfig { from, config }));
                    }
                }
            }
        }
    }

    /// `toSend`: queue for `to`, and connect if there is no connection.
    fn queue(&mut self, to: i64, notification: &Notification) {
        let body = notification.to_bytes();
        let mut frame = Vec::with_capacity(4 + body.len());
        write_election_frame(&mut frame, &body);
        let peer = self.peers.entry(to).or_default();
        peer.outbox.push(frame.into());
        if peer.conn.is_none() {
            self.connect_one(to, None);
        }
    }

    /// `connectOne`: dial `sid` unless connected or dialling, at `addresses` or else at its
    /// config address (an unknown sid without addresses is not dialled).
    fn connect_one(&mut self, sid: i64, addresses: Option<Vec<String>>) {
        let peer = self.peers.entry(sid).or_default();
        if peer.conn.is_some() || peer.dialing {
            return;
        }
        let addresses = match addresses {
            Some(a) => a,
            None => self.addresses.get(&sid).cloned().unwrap_or_default(),
        };
        if addresses.is_empty() {
            debug!(
                my_id = self.my_id,
                sid, "election port: no address for server {sid}"
            );
            return;
        }
        peer.dialing = true;
        let dial = conn::dial(
            self.my_id,
            sid,
            addresses,
            self.initial_message.clone(),
            millis(self.cnx_timeout_ms),
            self.events.clone(),
        );
        self.tasks.spawn(dial);
    }

    /// A connection to `sid` is up: it replaces any older one.
    fn install(&mut self, sid: i64, stream: TcpStream, leftover: BytesMut) {
        self.close(sid);
        self.next_conn += 1;
        let conn = self.next_conn;
        let token = self.cancel.child_token();
        let peer = self.peers.entry(sid).or_default();
        let link = Link {
            my_id: self.my_id,
            sid,
            conn,
        };
        let task = conn::run_connection(
            link,
            stream,
            leftover,
            peer.outbox.clone(),
            self.events.clone(),
            token.clone(),
        );
        peer.conn = Some((conn, token));
        self.tasks.spawn(task);
        self.core.peer_connected(sid);
    }

    /// Stops the connection to `sid`, if any.
    fn close(&mut self, sid: i64) {
        if let Some((_, token)) = self.peers.get_mut(&sid).and_then(|p| p.conn.take()) {
            token.cancel();
            self.core.peer_disconnected(sid);
        }
    }
}
