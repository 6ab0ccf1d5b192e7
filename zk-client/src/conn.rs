//! The connection task: the only place with sockets and timers. It tries the servers in
//! shuffled order, does the handshake, feeds frames to the [`Session`] and writes what the API
//! submits, pings when idle, and declares a connection dead when the server goes quiet.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep, timeout, Instant};
use tokio_util::codec::Framed;
use tracing::{debug, info, info_span, warn, Instrument};
use zk_proto::frame::{ClientCodec, ServerFrame};
use zk_proto::proto::{AuthPacket, RemoveWatchesRequest};
use zk_proto::KeeperState;
use zk_proto::{Jute, OpCode, WatcherType};

use crate::error::{ConnectCause, Error, ErrorKind, HostAttempts, Result};
use crate::session::{FrameOutcome, Session, SessionInfo, SessionState, Submission};
use crate::tls::Transport;

/// What the API asks of the connection task.
#[derive(Debug)]
pub(crate) enum Command {
    Submit(Submission),
    AddAuth {
        packet: AuthPacket,
        reply: oneshot::Sender<Result<()>>,
    },
    /// A persistent watch handle was dropped.
    RemovePersistent {
        server_path: String,
        id: u64,
    },
    Close {
        reply: oneshot::Sender<Result<()>>,
    },
}

/// State the connection task publishes to the API.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: watch::Sender<SessionState>,
    pub info: Mutex<SessionInfo>,
    pub listeners: Mutex<Vec<mpsc::UnboundedSender<SessionState>>>,
    /// Ids of persistent watch handles, unique across every clone of the session (rooted ones
    /// included), since the registry tells handles on one path apart by id.
    pub next_watch_id: AtomicU64,
    /// The failed connect attempts since the last successful one.
    pub attempts: Mutex<AttemptLog>,
}

impl Shared {
    pub(crate) fn new(state: watch::Sender<SessionState>, hosts: &[(String, u16)]) -> Self {
        Shared {
            state,
            info: Mutex::new(SessionInfo::default()),
            listeners: Mutex::new(Vec::new()),
            next_watch_id: AtomicU64::new(1),
            attempts: Mutex::new(AttemptLog::new(hosts)),
        }
    }

    /// Publishes a state. The listener lock is held across both updates so a listener that
    /// subscribes concurrently sees each change exactly once: either in `state` or as an event.
    fn set_state(&self, state: SessionState) {
        let mut listeners = self.listeners.lock().expect("listener lock");
        self.state.send_replace(state);
        listeners.retain(|tx| tx.send(state).is_ok());
    }
}

/// Per server of the connect string (in its order): failed attempts since the last successful
/// connection and the last one's cause, and which server is being tried right now.
#[derive(Debug)]
pub(crate) struct AttemptLog {
    hosts: Vec<(String, u16, u32, Option<ConnectCause>)>,
    trying: Option<usize>,
}

impl AttemptLog {
    fn new(hosts: &[(String, u16)]) -> Self {
        AttemptLog {
            hosts: hosts
                .iter()
                .map(|(h, p)| (h.clone(), *p, 0, None))
                .collect(),
            trying: None,
        }
    }

    fn index(&self, host: &str, port: u16) -> Option<usize> {
        self.hosts
            .iter()
            .position(|(h, p, _, _)| h == host && *p == port)
    }

    fn start(&mut self, host: &str, port: u16) {
        self.trying = self.index(host, port);
    }

    fn failed(&mut self, host: &str, port: u16, cause: ConnectCause) {
        self.trying = None;
        if let Some(i) = self.index(host, port) {
            self.hosts[i].2 += 1;
            self.hosts[i].3 = Some(cause);
        }
    }

    fn connected(&mut self) {
        self.trying = None;
        for entry in &mut self.hosts {
            entry.2 = 0;
            entry.3 = None;
        }
    }

    /// Every server tried, with its last cause. A server that has not answered its first
    /// attempt yet counts as timed out: whoever asks has stopped waiting.
    pub(crate) fn report(&self) -> Vec<HostAttempts> {
        self.hosts
            .iter()
            .enumerate()
            .filter_map(|(i, (host, port, attempts, cause))| {
                let (attempts, last_cause) = match (cause, self.trying == Some(i)) {
                    (Some(cause), _) => (*attempts, cause.clone()),
                    (None, true) => (1, ConnectCause::TimedOut),
                    (None, false) => return None,
                };
                Some(HostAttempts {
                    host: host.clone(),
                    port: *port,
                    attempts,
                    last_cause,
                })
            })
            .collect()
    }
}

/// How the connection task was configured.
#[derive(Debug, Clone)]
pub(crate) struct ConnConfig {
    pub hosts: Vec<(String, u16)>,
    pub requested_timeout: Duration,
    pub max_frame_len: usize,
    /// The SASL login run on every connection before anything else.
    pub sasl: Option<crate::sasl::SaslLogin>,
    /// TLS for every connection, when configured.
    pub tls: Option<Arc<zk_tls::rustls::ClientConfig>>,
}

pub(crate) struct Driver {
    config: ConnConfig,
    session: Session,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Requests submitted while no connection is up.
    queued: VecDeque<Submission>,
    /// Index into `config.hosts` (already shuffled) of the next server to try.
    next_host: usize,
    /// Set once close() was called: who to tell when the session is over.
    closing: Option<oneshot::Sender<Result<()>>>,
    /// Whether this connection's SASL login succeeded (published after the connected state).
    sasl_authenticated: bool,
    /// Persistent watchers were told of a disconnect: the next connection tells them to
    /// re-read (the resync marker).
    resync_due: bool,
}

/// Why a connected period ended.
enum Ended {
    /// The connection broke; try again.
    Lost,
    /// The session is over in this state.
    Terminal(SessionState),
}

impl Driver {
    pub(crate) fn new(
        mut config: ConnConfig,
        session: Session,
        shared: Arc<Shared>,
        commands: mpsc::UnboundedReceiver<Command>,
        seed: u64,
    ) -> Self {
        shuffle(&mut config.hosts, seed);
        Driver {
            config,
            session,
            shared,
            commands,
            queued: VecDeque::new(),
            next_host: 0,
            closing: None,
            sasl_authenticated: false,
            resync_due: false,
        }
    }

    pub(crate) async fn run(mut self) {
        let span = info_span!("zk_session", session_id = tracing::field::Empty);
        async move {
            let mut recorded_session_id = None;
            let end_state = loop {
                let (mut framed, connected_state) = match self.connect().await {
                    Ok(connected) => connected,
                    Err(state) => break state,
                };
                if let Some(login) = self.config.sasl.clone() {
                    let wait = Duration::from_millis(
                        self.session.info().negotiated_timeout_ms.max(1) as u64 * 2 / 3,
                    );
                    match crate::sasl::login(&mut framed, &mut self.session, &login, wait).await {
                        crate::sasl::LoginOutcome::Authenticated => self.sasl_authenticated = true,
                        crate::sasl::LoginOutcome::Failed => break SessionState::AuthFailed,
                        // Nothing was published for this connection: just try again.
                        crate::sasl::LoginOutcome::Lost => {
                            self.session.on_connection_lost();
                            continue;
                        }
                    }
                }
                let session_id = self.session.info().session_id;
                if recorded_session_id != Some(session_id) {
                    tracing::Span::current().record(
                        "session_id",
                        tracing::field::display(format_args!("{session_id:#x}")),
                    );
                    recorded_session_id = Some(session_id);
                }
                match self.serve(framed, connected_state).await {
                    Ended::Lost => {
                        self.session.on_connection_lost();
                        if self.closing.is_some() {
                            break SessionState::Closed;
                        }
                        self.shared.set_state(SessionState::Disconnected);
                        self.session
                            .tell_persistent_watches(KeeperState::Disconnected);
                        self.resync_due = true;
                        info!("disconnected; trying the servers again");
                    }
                    Ended::Terminal(state) => break state,
                }
            };
            self.finish(end_state);
        }
        .instrument(span)
        .await
    }

    /// Ends the session: everything waiting fails, the state becomes final.
    fn finish(&mut self, state: SessionState) {
        info!(?state, "session over");
        self.session.terminate(state);
        let err = state.terminal_error().unwrap_or(ErrorKind::Closed.into());
        for sub in self.queued.drain(..) {
            if let Some(reply) = sub.reply {
                let _ = reply.send(Err(err.clone()));
            }
        }
        self.commands.close();
        while let Ok(cmd) = self.commands.try_recv() {
            fail_command(cmd, &err);
        }
        self.shared.set_state(state);
        self.shared.listeners.lock().expect("listener lock").clear();
        if let Some(reply) = self.closing.take() {
            let _ = reply.send(Ok(()));
        }
    }

    /// Fails every request queued while disconnected with `err`.
    fn fail_queued(&mut self, err: &Error) {
        for sub in self.queued.drain(..) {
            if let Some(reply) = sub.reply {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }

    /// Handles a command while no connection is up. Returns a terminal state if it ends the
    /// session.
    fn command_while_disconnected(&mut self, cmd: Option<Command>) -> Option<SessionState> {
        match cmd {
            // Every Client handle is gone: nobody can use the session any more.
            None => Some(SessionState::Closed),
            Some(Command::Submit(sub)) => {
                self.queued.push_back(sub);
                None
            }
            Some(Command::AddAuth { packet, reply }) => {
                self.session.add_auth(packet, reply, false);
                None
            }
            Some(Command::RemovePersistent { server_path, id }) => {
                self.session.watches.remove_persistent(&server_path, id);
                None
            }
            Some(Command::Close { reply }) => {
                self.closing = Some(reply);
                Some(SessionState::Closed)
            }
        }
    }

    /// Tries servers until one accepts the session. `Err` carries the terminal state when the
    /// session ended meanwhile (expired, closed).
    async fn connect(
        &mut self,
    ) -> Result<(Framed<Transport, ClientCodec>, SessionState), SessionState> {
        let host_count = self.config.hosts.len().max(1) as u32;
        let mut failed_in_a_row = 0u32;
        loop {
            let (host, port) = self.config.hosts[self.next_host].clone();
            self.next_host = (self.next_host + 1) % self.config.hosts.len();
            // Java gives each attempt the session timeout split across the hosts.
            let negotiated = self.session.info().negotiated_timeout_ms;
            let session_timeout = if negotiated > 0 {
                Duration::from_millis(negotiated as u64)
            } else {
                self.config.requested_timeout
            };
            let attempt_timeout = (session_timeout / host_count).max(Duration::from_millis(500));
            let request = Bytes::from(self.session.connect_request().to_jute_bytes());
            self.log_attempt(|log| log.start(&host, port));
            let attempt = timeout(
                attempt_timeout,
                handshake(
                    host.clone(),
                    port,
                    request,
                    self.config.max_frame_len,
                    self.config.tls.clone(),
                ),
            );
            tokio::pin!(attempt);
            let outcome = loop {
                tokio::select! {
                    biased;
                    cmd = self.commands.recv() => {
                        if let Some(state) = self.command_while_disconnected(cmd) {
                            return Err(state);
                        }
                    }
                    outcome = &mut attempt => break outcome,
                }
            };
            let outcome = match outcome {
                Ok(Ok((framed, payload))) => match self.session.on_connect_response(&payload) {
                    Ok(state) => Ok((framed, state)),
                    Err(Error {
                        kind: ErrorKind::SessionExpired,
                        ..
                    }) => {
                        warn!(%host, port, "server says the session expired");
                        return Err(SessionState::Expired);
                    }
                    Err(e) => Err(ConnectCause::Protocol(e.to_string())),
                },
                Ok(Err(cause)) => Err(cause),
                Err(_) => Err(ConnectCause::TimedOut),
            };
            match outcome {
                Ok((framed, state)) => {
                    info!(%host, port, ?state, "connected");
                    self.log_attempt(AttemptLog::connected);
                    return Ok((framed, state));
                }
                Err(cause) => {
                    debug!(%host, port, %cause, "connect attempt failed");
                    self.log_attempt(|log| log.failed(&host, port, cause));
                }
            }
            // As Java's ClientCnxn.cleanup() after a failed attempt: requests made while
            // disconnected fail with ConnectionLoss instead of waiting for a server to return.
            self.fail_queued(&ErrorKind::ConnectionLoss.into());
            failed_in_a_row += 1;
            if failed_in_a_row % host_count == 0 {
                // A whole round failed: back off a little before the next one.
                let rounds = (failed_in_a_row / host_count).min(6);
                let pause = Duration::from_millis(25 << rounds).min(Duration::from_secs(1));
                let wake = sleep(pause);
                tokio::pin!(wake);
                loop {
                    tokio::select! {
                        biased;
                        cmd = self.commands.recv() => {
                            if let Some(state) = self.command_while_disconnected(cmd) {
                                return Err(state);
                            }
                        }
                        _ = &mut wake => break,
                    }
                }
            }
        }
    }

    fn log_attempt(&self, f: impl FnOnce(&mut AttemptLog)) {
        f(&mut self.shared.attempts.lock().expect("attempt log lock"));
    }

    /// Runs one connection until it breaks or the session ends.
    async fn serve(
        &mut self,
        mut framed: Framed<Transport, ClientCodec>,
        connected_state: SessionState,
    ) -> Ended {
        for frame in self.session.prime() {
            if framed.feed(frame).await.is_err() {
                return Ended::Lost;
            }
        }
        while let Some(sub) = self.queued.pop_front() {
            let frame = self.session.submit(sub);
            if framed.feed(frame).await.is_err() {
                return Ended::Lost;
            }
        }
        if framed.flush().await.is_err() {
            return Ended::Lost;
        }
        *self.shared.info.lock().expect("info lock") = self.session.info().clone();
        self.shared.set_state(connected_state);
        if std::mem::take(&mut self.resync_due) {
            // After the SetWatches: what changed while disconnected was not delivered.
            self.session
                .tell_persistent_watches(KeeperState::SyncConnected);
        }
        if std::mem::take(&mut self.sasl_authenticated) {
            self.shared.set_state(SessionState::SaslAuthenticated);
        }

        let negotiated =
            Duration::from_millis(self.session.info().negotiated_timeout_ms.max(1) as u64);
        // Java: read timeout 2/3 of the session timeout; ping after a third of it idle.
        let read_timeout = negotiated * 2 / 3;
        let ping_interval = negotiated / 3;
        let mut last_sent = Instant::now();
        let mut last_received = Instant::now();
        let mut published_zxid = self.session.info().last_zxid_seen;
        // Both timers are lazy: when one fires it re-arms from the latest activity, so frames
        // and writes cost no timer work.
        let ping_timer = sleep(ping_interval);
        let read_timer = sleep(read_timeout);
        tokio::pin!(ping_timer, read_timer);
        loop {
            tokio::select! {
                biased;
                frame = framed.next() => {
                    let payload = match frame {
                        Some(Ok(ServerFrame::Reply(p))) => p,
                        Some(Ok(ServerFrame::ConnectResponse(_))) => unreachable!("codec yields it once"),
                        Some(Err(e)) => {
                            warn!(error = %e, "bad frame from server; reconnecting");
                            return Ended::Lost;
                        }
                        None => return Ended::Lost,
                    };
                    last_received = Instant::now();
                    match self.session.on_frame(&payload) {
                        Ok(FrameOutcome::Continue) => {}
                        Ok(FrameOutcome::Closed) => return Ended::Terminal(SessionState::Closed),
                        Err(Error { kind: ErrorKind::AuthFailed, .. }) => return Ended::Terminal(SessionState::AuthFailed),
                        Err(e) => {
                            warn!(error = %e, "protocol error; reconnecting");
                            return Ended::Lost;
                        }
                    }
                    let zxid = self.session.info().last_zxid_seen;
                    if zxid != published_zxid {
                        self.shared.info.lock().expect("info lock").last_zxid_seen = zxid;
                        published_zxid = zxid;
                    }
                }
                // Once closing, new commands wait for `finish`, which fails them with Closed.
                cmd = self.commands.recv(), if self.closing.is_none() => {
                    let mut next = cmd;
                    // Write everything already waiting, then flush once: pipelining.
                    loop {
                        if self.command_while_connected(next, &mut framed).await.is_err() {
                            return Ended::Lost;
                        }
                        if self.closing.is_some() {
                            break;
                        }
                        match self.commands.try_recv() {
                            Ok(cmd) => next = Some(cmd),
                            Err(_) => break,
                        }
                    }
                    if framed.flush().await.is_err() {
                        return Ended::Lost;
                    }
                    last_sent = Instant::now();
                }
                () = &mut ping_timer => {
                    let due = last_sent + ping_interval;
                    if due > Instant::now() {
                        ping_timer.as_mut().reset(due);
                        continue;
                    }
                    if framed.send(Session::ping_payload()).await.is_err() {
                        return Ended::Lost;
                    }
                    last_sent = Instant::now();
                    ping_timer.as_mut().reset(last_sent + ping_interval);
                }
                () = &mut read_timer => {
                    let due = last_received + read_timeout;
                    if due > Instant::now() {
                        read_timer.as_mut().reset(due);
                        continue;
                    }
                    warn!(?read_timeout, "nothing heard from the server; reconnecting");
                    return Ended::Lost;
                }
            }
        }
    }

    /// Writes one command's frames (without flushing); `Err` when the socket failed.
    async fn command_while_connected(
        &mut self,
        cmd: Option<Command>,
        framed: &mut Framed<Transport, ClientCodec>,
    ) -> std::result::Result<(), ()> {
        let frame = match cmd {
            None => {
                // Every handle dropped: end the session politely so ephemerals go now.
                let (tx, _rx) = oneshot::channel();
                self.closing = Some(tx);
                self.close_frame()
            }
            Some(Command::Submit(sub)) => Some(self.session.submit(sub)),
            Some(Command::AddAuth { packet, reply }) => self.session.add_auth(packet, reply, true),
            Some(Command::RemovePersistent { server_path, id }) => {
                if self.session.watches.remove_persistent(&server_path, id) {
                    let body = RemoveWatchesRequest {
                        path: server_path,
                        r#type: WatcherType::Any,
                    };
                    Some(self.session.submit(Submission {
                        op: OpCode::RemoveWatches,
                        body: body.to_jute_bytes().into(),
                        watch: None,
                        reply: None,
                    }))
                } else {
                    None
                }
            }
            Some(Command::Close { reply }) => {
                self.closing = Some(reply);
                self.close_frame()
            }
        };
        if let Some(frame) = frame {
            framed.feed(frame).await.map_err(|_| ())?;
        }
        Ok(())
    }

    fn close_frame(&mut self) -> Option<Bytes> {
        Some(self.session.submit(Submission {
            op: OpCode::CloseSession,
            body: Bytes::new(),
            watch: None,
            reply: None,
        }))
    }
}

/// Opens a connection and exchanges ConnectRequest/ConnectResponse; returns the response
/// payload for the session to judge, or why the server could not be reached.
async fn handshake(
    host: String,
    port: u16,
    request: Bytes,
    max_frame_len: usize,
    tls: Option<Arc<zk_tls::rustls::ClientConfig>>,
) -> Result<(Framed<Transport, ClientCodec>, Bytes), ConnectCause> {
    // Resolved on its own first, so a name that does not resolve is told apart from a
    // refused connection (an IP literal is parsed, not looked up).
    let addresses = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| ConnectCause::Unresolved(e.to_string()))?;
    if addresses.count() == 0 {
        return Err(ConnectCause::Unresolved("no address".to_owned()));
    }
    let stream = Transport::connect(&host, port, tls.as_ref())
        .await
        .map_err(|e| connect_cause(&e, tls.is_some()))?;
    let mut framed = Framed::new(stream, ClientCodec::new(max_frame_len));
    framed
        .send(request)
        .await
        .map_err(|e| ConnectCause::Io(e.to_string()))?;
    match framed.next().await {
        Some(Ok(ServerFrame::ConnectResponse(payload))) => Ok((framed, payload)),
        Some(Ok(ServerFrame::Reply(_))) => Err(ConnectCause::Protocol(
            "a reply before the handshake's answer".to_owned(),
        )),
        Some(Err(e)) => Err(ConnectCause::Protocol(e.to_string())),
        // Closed without an answer: our lastZxidSeen is ahead of this server, or it is
        // read-only and we are not; try another.
        None => Err(ConnectCause::Rejected),
    }
}

/// Classifies a failed connect (TCP, then TLS when configured).
fn connect_cause(e: &std::io::Error, tls: bool) -> ConnectCause {
    use std::io::ErrorKind;
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<zk_tls::rustls::Error>());
    if let Some(tls_error) = rustls_error {
        return ConnectCause::Tls(tls_error.to_string());
    }
    match e.kind() {
        ErrorKind::ConnectionRefused => ConnectCause::Refused,
        ErrorKind::TimedOut => ConnectCause::TimedOut,
        // A TCP connection that fails this way was up: the TLS handshake broke (a plain
        // server closing on a ClientHello, a bad server name).
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::InvalidData
        | ErrorKind::InvalidInput
            if tls =>
        {
            ConnectCause::Tls(e.to_string())
        }
        _ => ConnectCause::Io(e.to_string()),
    }
}

fn fail_command(cmd: Command, err: &Error) {
    match cmd {
        Command::Submit(sub) => {
            if let Some(reply) = sub.reply {
                let _ = reply.send(Err(err.clone()));
            }
        }
        Command::AddAuth { reply, .. } => {
            let _ = reply.send(Err(err.clone()));
        }
        Command::Close { reply } => {
            let _ = reply.send(Ok(()));
        }
        Command::RemovePersistent { .. } => {}
    }
}

/// Fisher-Yates with a small xorshift generator: hosts are tried in a random order, as Java's
/// StaticHostProvider does, so clients spread over the ensemble.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<(String, u16)> {
        vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]
    }

    #[test]
    fn the_attempt_log_reports_each_host_tried_with_its_last_cause() {
        let mut log = AttemptLog::new(&hosts());
        assert!(log.report().is_empty(), "nothing tried yet");
        log.start("b", 2);
        log.failed("b", 2, ConnectCause::Refused);
        log.start("a", 1);
        log.failed("a", 1, ConnectCause::Unresolved("no such host".into()));
        log.start("b", 2);
        log.failed("b", 2, ConnectCause::TimedOut);
        // In connect-string order; `c` is being tried for the first time: it has not
        // answered, as far as whoever asks is concerned.
        log.start("c", 3);
        let report = log.report();
        let summary: Vec<_> = report
            .iter()
            .map(|h| (h.host.as_str(), h.attempts, h.last_cause.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("a", 1, ConnectCause::Unresolved("no such host".into())),
                ("b", 2, ConnectCause::TimedOut),
                ("c", 1, ConnectCause::TimedOut),
            ]
        );
        // A host being tried again keeps its last known cause.
        log.failed("c", 3, ConnectCause::Rejected);
        log.start("c", 3);
        assert_eq!(log.report()[2].last_cause, ConnectCause::Rejected);
        // A connection clears the log: the next failures are counted afresh.
        log.connected();
        assert!(log.report().is_empty());
    }

    #[test]
    fn connect_errors_are_classified() {
        use std::io::{Error as IoError, ErrorKind};
        let refused = IoError::from(ErrorKind::ConnectionRefused);
        assert_eq!(connect_cause(&refused, false), ConnectCause::Refused);
        assert_eq!(connect_cause(&refused, true), ConnectCause::Refused);
        let tls = IoError::new(
            ErrorKind::InvalidData,
            zk_tls::rustls::Error::InvalidCertificate(
                zk_tls::rustls::CertificateError::UnknownIssuer,
            ),
        );
        assert!(matches!(connect_cause(&tls, true), ConnectCause::Tls(_)));
        let eof = IoError::from(ErrorKind::UnexpectedEof);
        assert!(matches!(connect_cause(&eof, true), ConnectCause::Tls(_)));
        assert!(matches!(connect_cause(&eof, false), ConnectCause::Io(_)));
        let unreachable = IoError::other("no route to host");
        assert_eq!(
            connect_cause(&unreachable, true),
            ConnectCause::Io("no route to host".into())
        );
    }
}
