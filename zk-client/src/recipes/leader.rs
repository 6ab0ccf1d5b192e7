//! Leader election laid out exactly as Apache Curator's `LeaderLatch`, so Rust and Java
//! participants can share one election.
//!
//! Each participant creates an ephemeral-sequential node `<path>/_c_<uuid>-latch-<seq>`
//! (protected, under container parents) holding its participant id (UTF-8). The participant
//! whose node sorts first (by the text after the last `latch-`) leads; every other one watches
//! its immediate predecessor with a getData watch and looks again when it goes. Closing a latch
//! deletes its node, so leadership passes to the next in line.
//!
//! # Connection loss and session expiry
//!
//! Like Curator with its default error policy, a latch that loses its connection stops calling
//! itself leader ([`LatchState::Suspended`]): it cannot know whether its session, and so its
//! node, will survive. When the client reconnects with the session intact it looks again and
//! leads again if its node is still first.
//!
//! When the session ends (expired, or the client closed) the node is gone and the latch reports
//! [`LatchState::Lost`]; it is finished then. Curator would create a new node in its
//! framework's new session; a [`Client`] is one session, so here that is what
//! [`SupervisedLatch`] does: on a [`Supervisor`](crate::Supervisor), it runs a latch in every
//! session.
//!
//! # Differences from Curator
//!
//! - Curator's leader does not notice its own node being deleted by someone else; this latch
//!   keeps a watch on its own node while leading and re-joins (at the back of the line) if the
//!   node goes.
//! - Operations that fail with ConnectionLoss are retried once the client is connected again,
//!   for as long as the session lives.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use zk_proto::EventType;

use super::protected::{
    join, node_name, sort_children, validate_dir, wait_connected, PendingNode, ProtectedCreate,
};
use crate::stream::{FinalState, StateCast};

mod supervised;
use crate::{Client, Error, ErrorKind, OneshotWatcher, Result, SessionState};
pub use supervised::SupervisedLatch;

/// Curator's `LeaderLatch.LOCK_NAME`.
const LATCH_NAME: &str = "latch-";

/// How long to wait before looking again after the server refused to show the election.
const REFUSED_READ_PAUSE: Duration = Duration::from_secs(1);

/// Where a [`LeaderLatch`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LatchState {
    /// Joining: the node is being created.
    Starting,
    /// In the election, not the leader.
    Waiting,
    /// The leader.
    Leader,
    /// The connection is lost: leadership is uncertain, so not the leader. Ends when the client
    /// reconnects (then `Leader` or `Waiting` again) or the session ends (`Lost`).
    Suspended,
    /// The session ended (expired or the client was closed), so the node is gone, or the server
    /// refused to create a new one: the latch is finished. Final.
    Lost,
    /// [`LeaderLatch::close`] was called (or the latch dropped). Final.
    Closed,
}

impl LatchState {
    /// Whether the latch will never change state again.
    pub fn is_final(self) -> bool {
        matches!(self, LatchState::Lost | LatchState::Closed)
    }
}

/// A participant of an election as its node says: its id (the node's data) and whether it
/// leads (its node is first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The participant id (the node's data as UTF-8, lossy).
    pub id: String,
    /// Whether this participant's node is first.
    pub is_leader: bool,
    /// The participant's node path.
    pub node: String,
}

/// What the latch task and the handles share.
#[derive(Debug)]
struct Shared {
    state: StateCast<LatchState>,
    node: StdMutex<Option<String>>,
}

impl FinalState for LatchState {
    fn is_final(self) -> bool {
        LatchState::is_final(self)
    }
}

/// Curator's `LeaderLatch`: joins an election on a path; the participant whose node is first
/// leads until it closes or its session ends.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::recipes::leader::{LatchState, LeaderLatch};
/// use zk_client::Client;
/// let client = Client::connect("127.0.0.1:2181").await?;
/// let latch = LeaderLatch::start(&client, "/election/scheduler", "worker-7").await?;
/// let mut changes = latch.changes();
/// while let Some(state) = changes.next().await {
///     match state {
///         LatchState::Leader => println!("leading"),
///         LatchState::Lost => break, // the session is over: make a new client and latch
///         other => println!("not leading ({other:?})"),
///     }
/// }
/// latch.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LeaderLatch {
    client: Client,
    path: String,
    id: String,
    shared: Arc<Shared>,
    /// Tells the task to leave the election; dropping it does too.
    close: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
}

impl LeaderLatch {
    /// Joins the election at `path` as participant `id`: creates the node (and container
    /// parents), then follows the election in a background task. Returns once the node exists;
    /// [`state`](Self::state) is `Leader` or `Waiting` soon after. Fails for an invalid path or
    /// when the session ends first.
    pub async fn start(client: &Client, path: &str, id: &str) -> Result<LeaderLatch> {
        validate_dir(path)?;
        let shared = Arc::new(Shared {
            state: StateCast::new(LatchState::Starting),
            node: StdMutex::new(None),
        });
        // Cancelled or failed half-way, the start must not leave a node in the line.
        let mut pending = PendingNode::new(client, ProtectedCreate::new(path, LATCH_NAME));
        let node = pending.create.create(client, id.as_bytes()).await?;
        pending.keep();
        let create = pending.create.clone();
        *shared.node.lock().expect("latch node") = Some(node.clone());
        let (close_tx, close_rx) = oneshot::channel();
        let election = Election {
            client: client.clone(),
            dir: path.to_owned(),
            id: id.to_owned(),
            shared: shared.clone(),
        };
        let task = tokio::spawn(election.run(node, create, close_rx));
        Ok(LeaderLatch {
            client: client.clone(),
            path: path.to_owned(),
            id: id.to_owned(),
            shared,
            close: Some(close_tx),
            task: Some(task),
        })
    }

    /// This participant's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The election path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current state.
    pub fn state(&self) -> LatchState {
        self.shared.state.get()
    }

    /// Whether this participant leads now (Curator's `hasLeadership`).
    pub fn is_leader(&self) -> bool {
        self.state() == LatchState::Leader
    }

    /// This participant's node path, while it has one.
    pub fn node(&self) -> Option<String> {
        self.shared.node.lock().expect("latch node").clone()
    }

    /// Every change of state from now on, starting with the current state; the stream ends
    /// after a final state (`Lost`, `Closed`). Unlike [`watch`](Self::watch) it skips nothing,
    /// so a leader that lost and regained leadership sees both.
    pub fn changes(&self) -> crate::EventStream<LatchState> {
        self.shared.state.changes()
    }

    /// The state as a `watch` channel: always the latest state, intermediate ones may be
    /// skipped.
    pub fn watch(&self) -> watch::Receiver<LatchState> {
        self.shared.state.watch()
    }

    /// Waits until this participant leads (`Ok`), or the latch ends (`Err(SessionExpired)`
    /// after `Lost`, `Err(Closed)` after `Closed`). Curator's `await`.
    pub async fn wait_leader(&self) -> Result<()> {
        wait_leader_on(&self.shared.state, || {
            self.client
                .state()
                .terminal_error()
                .unwrap_or(ErrorKind::SessionExpired.into())
        })
        .await
    }

    /// The participants in line order, leader first, with their ids (Curator's
    /// `getParticipants`). Asks the server, so it may briefly disagree with
    /// [`is_leader`](Self::is_leader).
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        participants(&self.client, &self.path).await
    }

    /// The current leader, if the election has participants (Curator's `getLeader`).
    pub async fn leader(&self) -> Result<Option<Participant>> {
        Ok(self.participants().await?.into_iter().find(|p| p.is_leader))
    }

    /// Leaves the election: deletes the node and returns once it is gone, so leadership has
    /// passed on when this returns. A connection loss is waited out; if the session is over the
    /// node is gone already. Dropping the future (or the latch) finishes this in the background.
    pub async fn close(mut self) -> Result<()> {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for LeaderLatch {
    fn drop(&mut self) {
        // Dropping the sender tells the task to leave the election; it runs on by itself.
        self.close.take();
    }
}

/// Waits on `state` until it is `Leader` (`Ok`) or final: `lost()` after `Lost`, `Closed`
/// after `Closed`.
async fn wait_leader_on(state: &StateCast<LatchState>, lost: impl FnOnce() -> Error) -> Result<()> {
    let end = state
        .watch()
        .wait_for(|s| *s == LatchState::Leader || s.is_final())
        .await
        .map(|s| *s)
        .unwrap_or(LatchState::Closed);
    match end {
        LatchState::Leader => Ok(()),
        LatchState::Lost => Err(lost()),
        _ => Err(ErrorKind::Closed.into()),
    }
}

/// The participants of the election at `dir`, leader first.
async fn participants(client: &Client, dir: &str) -> Result<Vec<Participant>> {
    let mut children = match client.get_children(dir).await {
        Ok(children) => children,
        Err(Error {
            kind: ErrorKind::NoNode,
            ..
        }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    sort_children(&mut children, LATCH_NAME);
    let mut found = Vec::with_capacity(children.len());
    for name in children {
        let node = join(dir, &name);
        match client.get_data(&node).await {
            Ok((data, _stat)) => found.push(Participant {
                id: String::from_utf8_lossy(&data).into_owned(),
                is_leader: found.is_empty(),
                node,
            }),
            // Left between the listing and the read.
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// The background task of one latch.
struct Election {
    client: Client,
    dir: String,
    id: String,
    shared: Arc<Shared>,
}

/// What the task waits for after a look at the children.
enum Next {
    /// Look again now.
    Recheck,
    /// Wait for this watch (or a session change), then look again.
    Wait(OneshotWatcher),
    /// The connection is lost: wait for it (or the end of the session).
    Reconnect,
    /// The server refused a read: wait a while, then look again.
    Pause,
    /// Our node is gone: make a new one.
    Rejoin,
    /// The session is over.
    Lost,
}

/// What the task waits for before the next look.
enum Wait {
    /// The watch to fire (or the session state to change).
    Watch(OneshotWatcher),
    /// The client to be connected again.
    Reconnect,
    /// A pause, then the connection.
    Pause,
}

impl Election {
    async fn run(
        self,
        node: String,
        create: ProtectedCreate,
        mut close: oneshot::Receiver<()>,
    ) -> Result<()> {
        let mut states = self.client.state_changes();
        let mut node = Some(node);
        let mut create = create;
        loop {
            let step = async {
                match &node {
                    Some(node) => self.check(node).await,
                    None => Next::Rejoin,
                }
            };
            let next = tokio::select! {
                _ = &mut close => break,
                next = step => next,
            };
            let wait = match next {
                Next::Recheck => continue,
                Next::Lost => {
                    self.shared.state.set(LatchState::Lost);
                    return Ok(());
                }
                Next::Rejoin => {
                    // Curator's reset(): a new node with a new protected id.
                    create = ProtectedCreate::new(&self.dir, LATCH_NAME);
                    *self.shared.node.lock().expect("latch node") = None;
                    let created = tokio::select! {
                        _ = &mut close => break,
                        created = create.create(&self.client, self.id.as_bytes()) => created,
                    };
                    match created {
                        Ok(path) => {
                            *self.shared.node.lock().expect("latch node") = Some(path.clone());
                            node = Some(path);
                            continue;
                        }
                        Err(_) => {
                            // Only the end of the session (or a refusal) stops a create.
                            self.shared.state.set(LatchState::Lost);
                            return Ok(());
                        }
                    }
                }
                Next::Reconnect => Wait::Reconnect,
                Next::Pause => Wait::Pause,
                Next::Wait(watcher) => Wait::Watch(watcher),
            };
            if !matches!(wait, Wait::Watch(_)) {
                self.shared.state.set(LatchState::Suspended);
            }
            let waited = tokio::select! {
                _ = &mut close => break,
                lost = self.wait(wait, &mut states) => lost,
            };
            if waited {
                self.shared.state.set(LatchState::Lost);
                return Ok(());
            }
        }
        // Closing: leave the election, whatever state the node is in.
        self.shared.state.set(LatchState::Closed);
        let known = node.clone();
        create.remove(&self.client, known.as_deref()).await?;
        *self.shared.node.lock().expect("latch node") = None;
        Ok(())
    }

    /// One look at the children (Curator's `checkLeadership`).
    async fn check(&self, node: &str) -> Next {
        let mut children = match self.client.get_children(&self.dir).await {
            Ok(children) => children,
            // The directory is gone, so our node is too.
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => return Next::Rejoin,
            Err(e) => return self.on_error(e),
        };
        sort_children(&mut children, LATCH_NAME);
        let ours = node_name(node);
        let Some(index) = children.iter().position(|c| c == ours) else {
            return Next::Rejoin;
        };
        // Leader: watch our own node, to notice it deleted. Otherwise: watch the predecessor.
        let watched = if index == 0 {
            node.to_owned()
        } else {
            join(&self.dir, &children[index - 1])
        };
        match self.client.get_data_watch(&watched).await {
            Ok((_data, _stat, watcher)) => {
                self.shared.state.set(if index == 0 {
                    LatchState::Leader
                } else {
                    LatchState::Waiting
                });
                Next::Wait(watcher)
            }
            // Our own node vanished: rejoin. The predecessor vanished: look again.
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) if index == 0 => Next::Rejoin,
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => Next::Recheck,
            Err(e) => self.on_error(e),
        }
    }

    fn on_error(&self, err: Error) -> Next {
        match err.kind() {
            ErrorKind::SessionExpired | ErrorKind::Closed | ErrorKind::AuthFailed => Next::Lost,
            ErrorKind::ConnectionLoss => Next::Reconnect,
            // A throttled request, a refusal (NoAuth on the directory): leadership cannot be
            // told, so not leader; look again in a while.
            _ => {
                tracing::warn!(error = %err, dir = %self.dir, "leader latch cannot read the election");
                Next::Pause
            }
        }
    }

    /// Waits as `wait` says; returns true when the session is over.
    async fn wait(&self, wait: Wait, states: &mut crate::EventStream<SessionState>) -> bool {
        let watcher = match wait {
            Wait::Reconnect => return wait_connected(&self.client).await.is_err(),
            Wait::Pause => {
                tokio::time::sleep(REFUSED_READ_PAUSE).await;
                return wait_connected(&self.client).await.is_err();
            }
            Wait::Watch(watcher) => watcher,
        };
        tokio::pin!(watcher);
        loop {
            tokio::select! {
                event = &mut watcher => {
                    // Whatever fired (a delete, a data change, the end of the session), look
                    // again; only an ended session ends the latch.
                    return event.event_type == EventType::None && self.client.state().is_terminal();
                }
                state = states.next() => match state {
                    None => return true,
                    Some(s) if s.is_terminal() => return true,
                    Some(SessionState::Disconnected) => self.shared.state.set(LatchState::Suspended),
                    // Reconnected: the watch was re-registered, but look again anyway
                    // (Curator's RECONNECTED handling), since we reported Suspended.
                    Some(s) if s.is_connected() => return false,
                    Some(_) => {}
                },
            }
        }
    }
}
