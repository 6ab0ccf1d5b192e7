//! [`Supervisor`]: a session that outlives expiry. A [`Client`] is one session, and after
//! `SessionExpired` every clone of it is dead; the supervisor opens a new one and runs again
//! what was registered with it (ephemeral members, watches, recipes), reporting the way
//! Curator's `ConnectionStateListener` does ([`ConnectionState`]).
//!
//! What is re-established is whatever runs through [`Supervisor::on_session`]: a function
//! called with each session's client, whose future is dropped when that session is lost.
//! [`Supervisor::add_watch`] and [`crate::recipes::group`] are built on it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::{
    AddWatchMode, Client, ClientBuilder, Error, ErrorKind, EventStream, Result, SessionState,
};
use crate::{EventType, KeeperState, RetryPolicy, WatchedEvent};

/// The supervised connection's state, as Curator's `ConnectionState` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// The first session is connected.
    Connected,
    /// The connection broke; the session may still live. Whatever depends on being the only
    /// holder (a lock, leadership) must pause: it cannot know whether it still holds.
    Suspended,
    /// Connected again: to the same session after [`ConnectionState::Suspended`], or to a new
    /// one after [`ConnectionState::Lost`] ([`Supervisor::sessions`] says which).
    Reconnected,
    /// The session is gone: the server expired it, or the connection stayed broken for the
    /// whole negotiated session timeout (then the server has expired it, or is about to, so
    /// the supervisor gives it up as Curator does). Its ephemerals and watches are gone; a new
    /// session is being opened.
    Lost,
    /// Connected to a read-only server (only with `read_only(true)`).
    ReadOnly,
}

impl ConnectionState {
    /// Whether requests can be sent in this state.
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            ConnectionState::Connected | ConnectionState::Reconnected | ConnectionState::ReadOnly
        )
    }
}

/// Maps one session's states to the supervisor's, and keeps the deadline after which a broken
/// connection counts as a lost session. No clock of its own: the caller passes `now`.
#[derive(Debug)]
struct SessionTracker {
    /// How long a session may stay disconnected before it is given up.
    session_timeout: Duration,
    /// Set while disconnected: when the session counts as lost.
    lost_at: Option<Instant>,
    /// Whether the last connection was to a read-only server.
    read_only: bool,
}

/// What a session state means to the supervisor.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Report this state (if it differs from the last one reported).
    Report(ConnectionState),
    /// The session is over: report `Lost` and open a new one.
    Lost,
    /// The session can never be replaced (authentication failed, or the client was closed).
    End(Error),
    /// Nothing to report.
    Nothing,
}

impl SessionTracker {
    fn new(session_timeout: Duration) -> Self {
        SessionTracker {
            session_timeout,
            lost_at: None,
            read_only: false,
        }
    }

    fn on_state(&mut self, state: SessionState, now: Instant) -> Verdict {
        match state {
            SessionState::Disconnected => {
                self.lost_at.get_or_insert(now + self.session_timeout);
                Verdict::Report(ConnectionState::Suspended)
            }
            SessionState::Connected | SessionState::SaslAuthenticated => {
                // The connection the session was opened on is already reported (Connected or
                // Reconnected); only a comeback is news.
                let comeback = self.lost_at.take().is_some() || self.read_only;
                self.read_only = false;
                if comeback {
                    Verdict::Report(ConnectionState::Reconnected)
                } else {
                    Verdict::Nothing
                }
            }
            SessionState::ConnectedReadOnly => {
                self.lost_at = None;
                self.read_only = true;
                Verdict::Report(ConnectionState::ReadOnly)
            }
            SessionState::Expired => Verdict::Lost,
            SessionState::AuthFailed => Verdict::End(ErrorKind::AuthFailed.into()),
            SessionState::Closed => Verdict::End(ErrorKind::Closed.into()),
            SessionState::Connecting => Verdict::Nothing,
        }
    }

    /// Whether the session has been disconnected for its whole timeout at `now`.
    fn timed_out(&self, now: Instant) -> bool {
        self.lost_at.is_some_and(|at| now >= at)
    }
}

/// One session handed to [`Supervisor::on_session`] work: its client and its number (1 for the
/// first session, one more for each that replaced a lost one).
#[derive(Debug, Clone)]
pub struct Session {
    /// The session's client.
    pub client: Client,
    /// 1, 2, ...: which session this is.
    pub generation: u64,
}

#[derive(Debug)]
struct Shared {
    /// The live session, `None` between a loss and the next session.
    session: watch::Sender<Option<Session>>,
    state: Mutex<StateListeners>,
    /// Why the supervisor stopped for good.
    ended: Mutex<Option<Error>>,
    closing: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct StateListeners {
    last: Option<ConnectionState>,
    listeners: Vec<mpsc::UnboundedSender<ConnectionState>>,
}

impl Shared {
    fn report(&self, state: ConnectionState) {
        let mut states = self.state.lock().expect("state lock");
        if states.last == Some(state) {
            return;
        }
        tracing::info!(?state, "supervised connection");
        states.last = Some(state);
        states.listeners.retain(|tx| tx.send(state).is_ok());
    }

    fn end(&self, error: Error) {
        self.ended.lock().expect("ended lock").get_or_insert(error);
        self.session.send_replace(None);
        // Dropping the senders ends every state stream.
        self.state.lock().expect("state lock").listeners.clear();
    }
}

/// Closes the supervisor when the last handle goes.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.closing.send_replace(true);
    }
}

/// A ZooKeeper connection that survives session expiry: it keeps one live [`Client`] and,
/// when that session is lost, opens a new one and re-runs the work registered with
/// [`Supervisor::on_session`]. Cheap to clone; dropping the last clone closes the session.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::{Client, ConnectionState, CreateOptions};
/// let supervisor = Client::builder("127.0.0.1:2181").supervised();
/// // Re-created in every new session, until `member` is dropped.
/// let member = supervisor.on_session(|session| async move {
///     let _ = session
///         .client
///         .create("/members/a", b"10.0.0.7", &CreateOptions::ephemeral())
///         .await;
/// });
/// let mut states = supervisor.states();
/// while let Some(state) = states.next().await {
///     if state == ConnectionState::Lost {
///         println!("session lost; a new one is on its way");
///     }
/// }
/// # drop(member);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Supervisor {
    handle: Arc<Handle>,
}

/// How long the supervisor waits between attempts to open a session: Curator's bounded
/// exponential backoff, never giving up.
const RECONNECT_BACKOFF_BASE: Duration = Duration::from_millis(100);
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(10);

impl ClientBuilder {
    /// A [`Supervisor`] opening sessions with these settings. A `resume_session` applies to the
    /// first session only: a lost session cannot come back. Starts connecting at once, in the
    /// background; needs a tokio runtime.
    pub fn supervised(self) -> Supervisor {
        Supervisor::start(self)
    }
}

impl Supervisor {
    /// Starts opening sessions with `builder`'s settings, in the background.
    pub fn start(builder: ClientBuilder) -> Supervisor {
        let (session, _) = watch::channel(None);
        let (closing, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            session,
            state: Mutex::new(StateListeners::default()),
            ended: Mutex::new(None),
            closing,
        });
        tokio::spawn(run(shared.clone(), builder));
        Supervisor {
            handle: Arc::new(Handle { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// The last state reported (`None` before the first session).
    pub fn state(&self) -> Option<ConnectionState> {
        self.shared().state.lock().expect("state lock").last
    }

    /// Every state from now on, starting with the current one if there is one. Ends when the
    /// supervisor is closed or stops for good ([`Supervisor::ended`]).
    pub fn states(&self) -> EventStream<ConnectionState> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut states = self.shared().state.lock().expect("state lock");
        let over = self.ended().is_some() || *self.shared().closing.borrow();
        if let Some(last) = states.last {
            let _ = tx.send(last);
        }
        if !over {
            states.listeners.push(tx);
        }
        EventStream::new(rx)
    }

    /// Why the supervisor stopped for good (`AuthFailed`, a connect string or TLS setting
    /// that cannot work, `Closed`), or `None` while it runs.
    pub fn ended(&self) -> Option<Error> {
        self.shared().ended.lock().expect("ended lock").clone()
    }

    /// The live session's client, if there is one now.
    pub fn current(&self) -> Option<Client> {
        self.shared()
            .session
            .borrow()
            .as_ref()
            .map(|s| s.client.clone())
    }

    /// The live session's client, waiting for one if the last was lost; fails only once the
    /// supervisor has stopped ([`Supervisor::ended`]).
    pub async fn client(&self) -> Result<Client> {
        let mut sessions = self.shared().session.subscribe();
        loop {
            if let Some(session) = sessions.borrow_and_update().as_ref() {
                return Ok(session.client.clone());
            }
            if let Some(e) = self.ended() {
                return Err(e);
            }
            if sessions.changed().await.is_err() {
                return Err(self.ended().unwrap_or(ErrorKind::Closed.into()));
            }
        }
    }

    /// Each session from now on: the live one first (if any), then every new one. Ends when
    /// the supervisor stops.
    pub fn sessions(&self) -> EventStream<Session> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut sessions = self.shared().session.subscribe();
        let mut closing = self.shared().closing.subscribe();
        tokio::spawn(async move {
            loop {
                let current = sessions.borrow_and_update().clone();
                if let Some(session) = current {
                    if tx.send(session).is_err() {
                        return;
                    }
                }
                tokio::select! {
                    changed = sessions.changed() => if changed.is_err() { return },
                    _ = closed(&mut closing) => return,
                    _ = tx.closed() => return,
                }
            }
        });
        EventStream::new(rx)
    }

    /// Runs `work` with every session, now (if one is live) and after each loss: the future
    /// it returns is dropped when its session is lost, and `work` is called again with the
    /// next session. A future that finishes is not called again for the same session.
    /// Dropping the returned [`SessionTask`] stops it.
    ///
    /// ```no_run
    /// # async fn demo(supervisor: zk_client::Supervisor) {
    /// use zk_client::CreateOptions;
    /// let task = supervisor.on_session(|session| async move {
    ///     println!("session {} is live", session.generation);
    ///     let _ = session.client.create("/workers/w1", b"", &CreateOptions::ephemeral()).await;
    /// });
    /// // ... later: stop re-creating it.
    /// drop(task);
    /// # }
    /// ```
    pub fn on_session<F, Fut>(&self, mut work: F) -> SessionTask
    where
        F: FnMut(Session) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut sessions = self.shared().session.subscribe();
        let mut closing = self.shared().closing.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let current = sessions.borrow_and_update().clone();
                if let Some(session) = current {
                    let generation = session.generation;
                    let run = work(session);
                    tokio::pin!(run);
                    // Run until done or until the session is replaced.
                    let replaced = async {
                        loop {
                            if sessions.changed().await.is_err() {
                                return;
                            }
                            let now = sessions.borrow().as_ref().map(|s| s.generation);
                            if now != Some(generation) {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        _ = &mut run => {}
                        _ = replaced => continue,
                        _ = closed(&mut closing) => return,
                    }
                }
                tokio::select! {
                    changed = sessions.changed() => if changed.is_err() { return },
                    _ = closed(&mut closing) => return,
                }
            }
        });
        SessionTask { task }
    }

    /// A persistent watch that outlives sessions: added again in each new session, with a
    /// resync marker ([`WatchedEvent::is_resync`]) after the first, because what changed
    /// between two sessions is not reported. The per-session end events (`Expired`) are not
    /// passed on; the stream ends when the supervisor stops or the watch cannot be added
    /// (`NoAuth`, a bad path).
    ///
    /// ```no_run
    /// # async fn demo(supervisor: zk_client::Supervisor) {
    /// use zk_client::AddWatchMode;
    /// let mut events = supervisor.add_watch("/config", AddWatchMode::PersistentRecursive);
    /// while let Some(event) = events.next().await {
    ///     if event.is_resync() {
    ///         // re-read everything under /config
    ///     }
    /// }
    /// # }
    /// ```
    pub fn add_watch(&self, path: &str, mode: AddWatchMode) -> EventStream<WatchedEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let refused = Arc::new(tokio::sync::Notify::new());
        let probe = tx.clone();
        let path = path.to_owned();
        let task = {
            let refused = refused.clone();
            self.on_session(move |session| {
                let (tx, path, refused) = (tx.clone(), path.clone(), refused.clone());
                async move {
                    if forward_watch(session, &path, mode, tx).await == WatchEnd::Refused {
                        refused.notify_one();
                    }
                }
            })
        };
        // The work lives while the stream is read; when the watch is refused, stopping it
        // drops the last senders, which ends the stream.
        tokio::spawn(async move {
            let mut task = task;
            tokio::select! {
                _ = probe.closed() => {}
                _ = refused.notified() => {}
                _ = &mut task.task => {}
            }
        });
        EventStream::new(rx)
    }

    /// Ends the session (its ephemerals go at once) and stops: every stream ends and
    /// [`Supervisor::ended`] says `Closed`.
    pub async fn close(&self) {
        self.shared().closing.send_replace(true);
        let mut sessions = self.shared().session.subscribe();
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            sessions.wait_for(|_| self.ended().is_some()),
        )
        .await;
    }
}

/// Why [`forward_watch`] returned.
#[derive(Debug, PartialEq, Eq)]
enum WatchEnd {
    /// The session ended, or nobody reads the events any more.
    SessionOrReader,
    /// The server refused the watch with an error no retry fixes.
    Refused,
}

/// Adds the watch in one session and forwards its events until the session ends.
async fn forward_watch(
    session: Session,
    path: &str,
    mode: AddWatchMode,
    tx: mpsc::UnboundedSender<WatchedEvent>,
) -> WatchEnd {
    let mut watcher = loop {
        match session.client.add_watch(path, mode).await {
            Ok(watcher) => break watcher,
            Err(e) if e.is_retryable() => {
                if session.client.wait_connected().await.is_err() {
                    return WatchEnd::SessionOrReader;
                }
            }
            Err(Error {
                kind: ErrorKind::SessionExpired | ErrorKind::Closed,
                ..
            }) => return WatchEnd::SessionOrReader,
            Err(e) => {
                tracing::warn!(path, %e, "supervised watch cannot be added");
                return WatchEnd::Refused;
            }
        }
    };
    if session.generation > 1 {
        let _ = tx.send(WatchedEvent {
            event_type: EventType::None,
            state: KeeperState::SyncConnected,
            path: path.to_owned(),
        });
    }
    while let Some(event) = watcher.next().await {
        let session_end = event.event_type == EventType::None
            && !matches!(
                event.state,
                KeeperState::SyncConnected | KeeperState::Disconnected
            );
        if session_end || tx.send(event).is_err() {
            return WatchEnd::SessionOrReader;
        }
    }
    WatchEnd::SessionOrReader
}

/// Work registered with [`Supervisor::on_session`]; dropping it stops the work (its current
/// future is dropped).
#[derive(Debug)]
pub struct SessionTask {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SessionTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The supervisor's loop: open a session, follow it until it is lost, repeat.
async fn run(shared: Arc<Shared>, builder: ClientBuilder) {
    let mut closing = shared.closing.subscribe();
    let backoff = RetryPolicy::ExponentialBackoff {
        base: RECONNECT_BACKOFF_BASE,
        max_retries: u32::MAX,
        max_sleep: RECONNECT_BACKOFF_MAX,
    };
    let mut generation = 0;
    let mut failures = 0u32;
    let started = Instant::now();
    // Only the first session can be a resumed one: a lost session stays lost.
    let mut builder = Some(builder);
    let fresh = builder.clone().map(ClientBuilder::fresh_session);
    loop {
        let connect = builder
            .take()
            .or_else(|| fresh.clone())
            .expect("settings")
            .connect();
        let client = tokio::select! {
            connected = connect => connected,
            _ = closed(&mut closing) => return shared.end(ErrorKind::Closed.into()),
        };
        let client = match client {
            Ok(client) => client,
            Err(e) if gives_up(&e) => {
                tracing::error!(%e, "supervisor cannot open a session; giving up");
                return shared.end(e);
            }
            Err(e) => {
                let sleep = backoff
                    .sleep_before(failures, started.elapsed(), crate::retry::random())
                    .unwrap_or(RECONNECT_BACKOFF_MAX);
                tracing::warn!(%e, sleep_ms = sleep.as_millis() as u64, "no session; trying again");
                failures = failures.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => continue,
                    _ = closed(&mut closing) => return shared.end(ErrorKind::Closed.into()),
                }
            }
        };
        failures = 0;
        generation += 1;
        let mut states = client.state_changes();
        let timeout_ms = client.session().negotiated_timeout_ms.max(1) as u64;
        let mut tracker = SessionTracker::new(Duration::from_millis(timeout_ms));
        shared.report(if generation == 1 {
            ConnectionState::Connected
        } else {
            ConnectionState::Reconnected
        });
        shared.session.send_replace(Some(Session {
            client: client.clone(),
            generation,
        }));
        // A state the client reached before `state_changes` subscribed.
        let mut pending = Some(client.state());
        let verdict = loop {
            let state = match pending.take() {
                Some(state) => Some(state),
                None => {
                    let lost_at = tracker.lost_at;
                    let timed_out = async {
                        match lost_at {
                            Some(at) => tokio::time::sleep_until(at.into()).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        state = states.next() => state,
                        _ = timed_out => None,
                        _ = closed(&mut closing) => {
                            let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
                            return shared.end(ErrorKind::Closed.into());
                        }
                    }
                }
            };
            let verdict = match state {
                Some(state) => tracker.on_state(state, Instant::now()),
                None if tracker.timed_out(Instant::now()) => Verdict::Lost,
                // The stream ended without a final state: the client is gone.
                None => Verdict::Lost,
            };
            match verdict {
                Verdict::Report(state) => shared.report(state),
                Verdict::Nothing => {}
                other => break other,
            }
        };
        shared.session.send_replace(None);
        match verdict {
            Verdict::End(e) if e != ErrorKind::Closed => return shared.end(e),
            // Closed by someone holding the client: open a new session as for a loss.
            _ => shared.report(ConnectionState::Lost),
        }
        // Give the old session up; if the server is reachable its ephemerals go at once.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), client.close()).await;
        });
    }
}

/// Resolves once `closing` is set, as the supervisor's and recipes' close flags are (the guard
/// `wait_for` returns is not `Send`, so it must not outlive this function in a spawned future).
pub(crate) async fn closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await;
}

/// Connect failures no retry can fix.
fn gives_up(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::AuthFailed
            | ErrorKind::Tls(_)
            | ErrorKind::InvalidArgument(_)
            | ErrorKind::InvalidPath(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disconnect_longer_than_the_session_timeout_loses_the_session() {
        let t0 = Instant::now();
        let mut tracker = SessionTracker::new(Duration::from_secs(4));
        assert_eq!(
            tracker.on_state(SessionState::Disconnected, t0),
            Verdict::Report(ConnectionState::Suspended)
        );
        // A second disconnect (a failed reconnect attempt) keeps the first deadline.
        tracker.on_state(SessionState::Disconnected, t0 + Duration::from_secs(3));
        assert!(!tracker.timed_out(t0 + Duration::from_millis(3999)));
        assert!(tracker.timed_out(t0 + Duration::from_secs(4)));
    }

    #[test]
    fn reconnecting_in_time_keeps_the_session() {
        let t0 = Instant::now();
        let mut tracker = SessionTracker::new(Duration::from_secs(4));
        // The connection the session came up on is not a reconnect.
        assert_eq!(
            tracker.on_state(SessionState::Connected, t0),
            Verdict::Nothing
        );
        tracker.on_state(SessionState::Disconnected, t0);
        assert_eq!(
            tracker.on_state(SessionState::Connected, t0 + Duration::from_secs(1)),
            Verdict::Report(ConnectionState::Reconnected)
        );
        assert!(!tracker.timed_out(t0 + Duration::from_secs(10)));
        tracker.on_state(SessionState::Disconnected, t0 + Duration::from_secs(20));
        assert!(!tracker.timed_out(t0 + Duration::from_secs(23)));
        assert!(tracker.timed_out(t0 + Duration::from_secs(24)));
    }

    #[test]
    fn final_states_lose_or_end_the_supervisor() {
        let now = Instant::now();
        let mut tracker = SessionTracker::new(Duration::from_secs(4));
        assert_eq!(tracker.on_state(SessionState::Expired, now), Verdict::Lost);
        assert_eq!(
            tracker.on_state(SessionState::AuthFailed, now),
            Verdict::End(ErrorKind::AuthFailed.into())
        );
        assert_eq!(
            tracker.on_state(SessionState::ConnectedReadOnly, now),
            Verdict::Report(ConnectionState::ReadOnly)
        );
        assert!(gives_up(&ErrorKind::AuthFailed.into()));
        assert!(!gives_up(&ErrorKind::Timeout.into()));
        assert!(!gives_up(&ErrorKind::ConnectionLoss.into()));
    }
}
