//! Leader election laid out exactly as Apache Curator's `LeaderSelector`, so Rust and Java
//! participants can share one election and take turns leading.
//!
//! A `LeaderSelector` is an [`InterProcessMutex`](super::lock::Mutex) on the election path whose
//! lock nodes (`<path>/_c_<uuid>-lock-<seq>`) hold the participant id (UTF-8). Whoever holds
//! the lock leads: your `take_leadership` function is called with a [`Leadership`] and the
//! future it returns runs for as long as the leadership lasts. When that future returns, the
//! lock is released and the next participant in line leads; with
//! [`auto_requeue`](LeaderSelectorBuilder::auto_requeue) this participant queues again at the
//! back of the line (Curator's `autoRequeue()`), so participants take turns.
//!
//! # When leadership is lost
//!
//! Leadership ends early when the lock node goes (the session expired or was closed, or someone
//! deleted the node), when [`LeaderSelector::interrupt_leadership`] or
//! [`LeaderSelector::close`] is called, and, under the default [`ErrorPolicy::Standard`], as
//! soon as the connection is lost: the client cannot know whether its session, and so the lock,
//! will survive, and another participant leads as soon as it expires. Curator's recommended
//! `LeaderSelectorListenerAdapter` interrupts the leader's thread then; here the leader's future
//! is **dropped** (cancelled at its next `.await`; the selector waits until it is gone), and
//! only then is the lock released. With
//! [`cancel_on_loss(false)`](LeaderSelectorBuilder::cancel_on_loss) the future is only told,
//! through [`Leadership::lost`] and [`Leadership::is_held`], and must return by itself
//! (Curator's plain `LeaderSelectorListener`). [`Leadership::fence`] makes writes that apply
//! only while the lock node still exists.
//!
//! When the session ends the selector is finished ([`SelectorState::Lost`]): a [`Client`] is
//! one session, so a new client and selector are needed to take part again (Curator re-queues
//! in its framework's next session).
//!
//! # Differences from Curator
//!
//! - A connection loss while queued (not leading) keeps the place in line; Curator's adapter
//!   interrupts the queued attempt too, which leaves the line (and, with auto-requeue, joins at
//!   the back).
//! - [`LeaderSelector::leader`] returns `None` when nobody is in line (Curator returns a dummy
//!   participant) and looks again if the first node goes while it reads it.
//! - The participant id is always the node data (Curator writes the local IP address when no
//!   id is set).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::leader::Participant;
use super::lock::{LockGuard, Mutex};
use super::protected::delete_guaranteed;
use crate::stream::{FinalState, StateCast};
use crate::{Client, Error, ErrorKind, Op, OpResult, Result, SessionState};

/// How long to wait before queueing again after the server refused the lock node (`NoAuth` on
/// the election path, say), with auto-requeue on.
const REFUSED_PAUSE: Duration = Duration::from_secs(1);

/// How many times [`LeaderSelector::leader`] lists the line again when the first node goes
/// while it reads it.
const LEADER_LOOKUPS: usize = 3;

/// Which connection troubles end a leadership (Curator's `ConnectionStateErrorPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ErrorPolicy {
    /// Curator's `StandardConnectionStateErrorPolicy` (the default): losing the connection ends
    /// leadership at once, since the session may expire (and another participant lead) before
    /// the client hears of it.
    #[default]
    Standard,
    /// Curator's `SessionConnectionStateErrorPolicy`: only the end of the session (or of the
    /// lock node) does. Cut off longer than the session timeout, a leader goes on leading while
    /// another participant already leads, until it reconnects and hears of the expiry.
    SessionOnly,
}

/// Where a [`LeaderSelector`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SelectorState {
    /// In line for the lock.
    Queued,
    /// Holding the lock: the leader's future runs.
    Leading,
    /// Leadership is over (returned, lost, interrupted or closing); the lock node is being
    /// deleted, after the leader's future is gone (with `cancel_on_loss(false)` it may still be
    /// finishing).
    Releasing,
    /// Out of line: leadership ended without auto-requeue. [`LeaderSelector::requeue`] queues
    /// again.
    Idle,
    /// The session ended: the selector is finished. Final.
    Lost,
    /// [`LeaderSelector::close`] was called or the selector dropped. Final.
    Closed,
}

impl SelectorState {
    /// Whether the selector will never change state again.
    pub fn is_final(self) -> bool {
        matches!(self, SelectorState::Lost | SelectorState::Closed)
    }
}

/// What the selector task and the handle share.
#[derive(Debug)]
struct Shared {
    state: StateCast<SelectorState>,
    /// How many times [`LeaderSelector::interrupt_leadership`] was called. A leadership heeds
    /// only the calls made after it began, so a call that came too late for one leadership
    /// cannot end the next.
    interrupts: watch::Sender<u64>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            state: StateCast::new(SelectorState::Queued),
            interrupts: watch::channel(0).0,
        }
    }
}

impl FinalState for SelectorState {
    fn is_final(self) -> bool {
        SelectorState::is_final(self)
    }
}

/// What the handle tells the task.
#[derive(Debug)]
enum Command {
    /// Queue again (sent only after the state moved from `Idle` to `Queued`).
    Requeue,
    /// Leave the election.
    Close,
}

/// One leadership, handed to `take_leadership`: the lock is held while this is
/// [`is_held`](Self::is_held).
#[derive(Debug)]
pub struct Leadership {
    guard: Arc<LockGuard>,
    /// Set as soon as the selector knows this leadership is over.
    over: Arc<AtomicBool>,
    /// Set when the leader is told (or its future is gone).
    revoked: watch::Receiver<bool>,
}

impl Leadership {
    /// The lock node's path (`<election path>/_c_<uuid>-lock-<seq>`).
    pub fn node(&self) -> &str {
        self.guard.path()
    }

    /// Whether this participant still leads as far as the client knows: false once the lock
    /// node is gone, the session ended, the leadership was interrupted or the selector is
    /// closing, and (under [`ErrorPolicy::Standard`]) once the connection is lost.
    pub fn is_held(&self) -> bool {
        !self.over.load(Ordering::SeqCst) && self.guard.is_held()
    }

    /// Resolves when this leadership is over (see [`is_held`](Self::is_held)). With
    /// `cancel_on_loss(false)` this is how the leader learns it must stop. When the future is
    /// cancelled instead (the default on a loss; always on interrupt and close), this resolves
    /// only once it is gone: it is for work the leader handed elsewhere (with the `Leadership`
    /// in an `Arc`).
    pub async fn lost(&self) {
        let mut revoked = self.revoked.clone();
        // The sender goes away only after the leadership ended.
        let _ = revoked.wait_for(|revoked| *revoked).await;
    }

    /// Runs `ops` as one multi that applies only while the lock node exists (see
    /// [`LockGuard::fence`]); [`ErrorKind::LockLost`] without a round trip once this leadership is
    /// known to be over.
    pub async fn fence(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        if self.over.load(Ordering::SeqCst) {
            return Err(ErrorKind::LockLost.into());
        }
        self.guard.fence(ops).await
    }
}

/// Settings of a [`LeaderSelector`] before it starts; from [`LeaderSelector::builder`].
#[derive(Debug, Clone)]
pub struct LeaderSelectorBuilder {
    client: Client,
    mutex: Mutex,
    id: String,
    auto_requeue: bool,
    policy: ErrorPolicy,
    cancel_on_loss: bool,
}

impl LeaderSelectorBuilder {
    /// Whether to queue again each time a leadership ends (Curator's `autoRequeue()`); off by
    /// default: the selector leads once, then waits for [`LeaderSelector::requeue`].
    pub fn auto_requeue(mut self, auto_requeue: bool) -> LeaderSelectorBuilder {
        self.auto_requeue = auto_requeue;
        self
    }

    /// Which connection troubles end a leadership; [`ErrorPolicy::Standard`] by default.
    pub fn error_policy(mut self, policy: ErrorPolicy) -> LeaderSelectorBuilder {
        self.policy = policy;
        self
    }

    /// Whether a lost leadership drops the leader's future (true, the default: Curator's
    /// `LeaderSelectorListenerAdapter` interrupts the leader) or only tells it through
    /// [`Leadership::lost`] (Curator's plain listener). Interrupting and closing always drop it.
    pub fn cancel_on_loss(mut self, cancel_on_loss: bool) -> LeaderSelectorBuilder {
        self.cancel_on_loss = cancel_on_loss;
        self
    }

    /// Joins the election (Curator's `start()`): a background task queues for the lock and
    /// calls `take_leadership` each time it is acquired; the leadership lasts until the
    /// returned future does (or is lost, see the module docs). A panic in the leader's future
    /// ends that leadership like a return (Curator logs a leader's exception). Must be called
    /// within a tokio runtime.
    pub fn start<F, Fut>(self, take_leadership: F) -> LeaderSelector
    where
        F: FnMut(Leadership) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shared = Arc::new(Shared::new());
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let runner = Runner {
            client: self.client.clone(),
            mutex: self.mutex.clone(),
            shared: shared.clone(),
            auto_requeue: self.auto_requeue,
            policy: self.policy,
            cancel_on_loss: self.cancel_on_loss,
            take_leadership,
            commands,
            closing: false,
        };
        let task = tokio::spawn(runner.run());
        LeaderSelector {
            client: self.client,
            mutex: self.mutex,
            id: self.id,
            shared,
            commands: commands_tx,
            task: Some(task),
        }
    }
}

/// Curator's `LeaderSelector`: participants take turns holding leadership, in the order they
/// queued; each leadership lasts as long as the leader's future.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use std::time::Duration;
/// use zk_client::recipes::selector::LeaderSelector;
/// use zk_client::Client;
/// let client = Client::connect("127.0.0.1:2181").await?;
/// let selector = LeaderSelector::builder(&client, "/election/compactor", "worker-7")?
///     .auto_requeue(true)
///     .start(|leadership| async move {
///         println!("leading with {}", leadership.node());
///         // Dropped at an .await if leadership is lost; returning hands it on.
///         tokio::time::sleep(Duration::from_secs(30)).await;
///     });
/// let leader = selector.leader().await?;
/// println!("leader now: {:?}", leader.map(|p| p.id));
/// selector.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LeaderSelector {
    client: Client,
    mutex: Mutex,
    id: String,
    shared: Arc<Shared>,
    /// Dropping it (with the selector) tells the task to leave the election.
    commands: mpsc::UnboundedSender<Command>,
    task: Option<JoinHandle<Result<()>>>,
}

impl LeaderSelector {
    /// A selector for the election at `path` as participant `id` (stored in its lock nodes,
    /// Curator's `setId`). Fails only for an invalid path.
    pub fn builder(client: &Client, path: &str, id: &str) -> Result<LeaderSelectorBuilder> {
        Ok(LeaderSelectorBuilder {
            client: client.clone(),
            mutex: Mutex::new(client, path)?.with_data(id.as_bytes()),
            id: id.to_owned(),
            auto_requeue: false,
            policy: ErrorPolicy::default(),
            cancel_on_loss: true,
        })
    }

    /// This participant's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The election path.
    pub fn path(&self) -> &str {
        self.mutex.path()
    }

    /// The current state.
    pub fn state(&self) -> SelectorState {
        self.shared.state.get()
    }

    /// Whether this participant leads now (Curator's `hasLeadership`).
    pub fn has_leadership(&self) -> bool {
        self.state() == SelectorState::Leading
    }

    /// Every change of state from now on, starting with the current state; the stream ends
    /// after a final state. Skips nothing (unlike [`watch`](Self::watch)).
    pub fn changes(&self) -> crate::EventStream<SelectorState> {
        self.shared.state.changes()
    }

    /// The state as a `watch` channel: always the latest, intermediate states may be skipped.
    pub fn watch(&self) -> watch::Receiver<SelectorState> {
        self.shared.state.watch()
    }

    /// Queues again after a leadership ended without auto-requeue (Curator's `requeue()`):
    /// true if it was [`Idle`](SelectorState::Idle) and is now queued, false if it was queued
    /// or leading already, or is finished.
    pub fn requeue(&self) -> bool {
        let queued = self
            .shared
            .state
            .set_if(|s| s == SelectorState::Idle, SelectorState::Queued);
        queued && self.commands.send(Command::Requeue).is_ok()
    }

    /// Ends the current leadership, if this participant leads: the leader's future is dropped
    /// and the lock released (Curator's `interruptLeadership`). With auto-requeue the selector
    /// queues again. Does nothing while queued.
    pub fn interrupt_leadership(&self) {
        self.shared.interrupts.send_modify(|count| *count += 1);
    }

    /// The participants in line order, leader first, with their ids (Curator's
    /// `getParticipants`). Asks the server, so it may briefly disagree with
    /// [`has_leadership`](Self::has_leadership). As in Curator, only the first node listed is
    /// marked leader, even if it went before its data could be read (then nobody is).
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        let nodes = self.mutex.participant_nodes().await?;
        let reads: Vec<_> = nodes
            .iter()
            .map(|node| self.client.get_data(node))
            .collect();
        let mut found = Vec::with_capacity(nodes.len());
        for (index, (node, read)) in nodes.into_iter().zip(reads).enumerate() {
            match read.await {
                Ok((data, _stat)) => found.push(Participant {
                    id: String::from_utf8_lossy(&data).into_owned(),
                    is_leader: index == 0,
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

    /// The current leader (Curator's `getLeader`), `None` if nobody is in line.
    pub async fn leader(&self) -> Result<Option<Participant>> {
        for _ in 0..LEADER_LOOKUPS {
            let Some(node) = self.mutex.participant_nodes().await?.into_iter().next() else {
                return Ok(None);
            };
            match self.client.get_data(&node).await {
                Ok((data, _stat)) => {
                    return Ok(Some(Participant {
                        id: String::from_utf8_lossy(&data).into_owned(),
                        is_leader: true,
                        node,
                    }))
                }
                // The leader left while we read: look again.
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(ErrorKind::NoNode.into())
    }

    /// Leaves the election (Curator's `close()`): ends a leadership in progress (its future is
    /// dropped) and returns once its lock node is deleted, so leadership has passed on. A place
    /// in line is given up in the background. Dropping the selector does the same in the
    /// background. Fails only if the server refused the last release of a lock node (`NoAuth`,
    /// ...).
    pub async fn close(mut self) -> Result<()> {
        let _ = self.commands.send(Command::Close);
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

/// How a stay in line ended.
enum Queue {
    Acquired(LockGuard),
    /// The selector is closing.
    Closed,
    /// The session is over.
    Lost,
    /// The server refused the lock node.
    Refused(Error),
}

/// The selector's background task.
struct Runner<F> {
    client: Client,
    mutex: Mutex,
    shared: Arc<Shared>,
    auto_requeue: bool,
    policy: ErrorPolicy,
    cancel_on_loss: bool,
    take_leadership: F,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Close was asked for (or the handle dropped).
    closing: bool,
}

impl<F, Fut> Runner<F>
where
    F: FnMut(Leadership) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    /// The task: queue, lead, release, and again while auto-requeue says so. Returns the last
    /// release's outcome.
    async fn run(mut self) -> Result<()> {
        let mut result = Ok(());
        loop {
            self.shared.state.set(SelectorState::Queued);
            match self.queue().await {
                Queue::Acquired(guard) => {
                    result = self.lead(guard).await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, path = %self.mutex.path(), "leader selector could not release its lock node");
                    }
                }
                Queue::Closed | Queue::Lost => {}
                Queue::Refused(e) => {
                    tracing::warn!(error = %e, path = %self.mutex.path(), "leader selector cannot queue");
                    if self.auto_requeue {
                        self.pause(REFUSED_PAUSE).await;
                    }
                }
            }
            if self.closing {
                self.shared.state.set(SelectorState::Closed);
                return result;
            }
            if self.client.state().is_terminal() {
                self.shared.state.set(SelectorState::Lost);
                return result;
            }
            if !self.auto_requeue && !self.wait_requeue().await {
                self.shared.state.set(SelectorState::Closed);
                return result;
            }
        }
    }

    /// Waits in line (Curator's `mutex.acquire()`); Close ends the wait, other commands do not.
    async fn queue(&mut self) -> Queue {
        let acquire = self.mutex.acquire();
        tokio::pin!(acquire);
        loop {
            tokio::select! {
                acquired = &mut acquire => return match acquired {
                    Ok(guard) => Queue::Acquired(guard),
                    Err(_) if self.client.state().is_terminal() => Queue::Lost,
                    Err(e) => Queue::Refused(e),
                },
                command = self.commands.recv(), if !self.closing => {
                    if matches!(command, None | Some(Command::Close)) {
                        self.closing = true;
                        // Dropping the acquire gives up the place in line.
                        return Queue::Closed;
                    }
                }
            }
        }
    }

    /// One leadership: runs the leader's future until it returns or the leadership is lost,
    /// then releases the lock.
    async fn lead(&mut self, guard: LockGuard) -> Result<()> {
        let guard = Arc::new(guard);
        // Subscribed before the state is looked at, so no change is missed; a fresh stream,
        // so no stale change from before this leadership counts.
        let mut states = self.client.state_changes();
        let (revoke, revoked) = watch::channel(false);
        let over = Arc::new(AtomicBool::new(false));
        // Interrupts from before this leadership are seen already.
        let mut interrupts = self.shared.interrupts.subscribe();
        self.shared.state.set(SelectorState::Leading);
        let mut leader = tokio::spawn((self.take_leadership)(Leadership {
            guard: guard.clone(),
            over: over.clone(),
            revoked,
        }));
        let mut lost = !self.allows(self.client.state());
        let mut cancel = lost && self.cancel_on_loss;
        loop {
            if lost {
                over.store(true, Ordering::SeqCst);
                self.shared.state.set(SelectorState::Releasing);
            }
            if cancel {
                // Not told first: a future being cancelled must not get to run on the news.
                leader.abort();
            } else if lost && !*revoke.borrow() {
                revoke.send_replace(true);
            }
            tokio::select! {
                joined = &mut leader => {
                    if let Err(e) = joined {
                        if e.is_panic() {
                            tracing::error!(path = %self.mutex.path(), "the leader panicked");
                        }
                    }
                    break;
                }
                _ = guard.lost(), if !lost => {
                    lost = true;
                    cancel |= self.cancel_on_loss;
                }
                state = states.next(), if !lost => {
                    if !state.is_some_and(|s| self.allows(s)) {
                        lost = true;
                        cancel |= self.cancel_on_loss;
                    }
                }
                Ok(()) = interrupts.changed() => {
                    lost = true;
                    cancel = true;
                }
                command = self.commands.recv(), if !self.closing => match command {
                    None | Some(Command::Close) => {
                        self.closing = true;
                        lost = true;
                        cancel = true;
                    }
                    Some(Command::Requeue) => {}
                },
            }
        }
        // The leader's future is gone: now the lock may go.
        over.store(true, Ordering::SeqCst);
        revoke.send_replace(true);
        self.shared.state.set(SelectorState::Releasing);
        match Arc::try_unwrap(guard) {
            Ok(guard) => guard.release().await,
            // The leader kept its Leadership somewhere: delete the node under it.
            Err(guard) => delete_guaranteed(&self.client, guard.path()).await,
        }
    }

    /// Whether leadership survives the client being in `state`.
    fn allows(&self, state: SessionState) -> bool {
        match self.policy {
            ErrorPolicy::Standard => {
                state.is_connected() || matches!(state, SessionState::Connecting)
            }
            ErrorPolicy::SessionOnly => !state.is_terminal(),
        }
    }

    /// Waits out of line for [`Command::Requeue`]; false when closing instead.
    async fn wait_requeue(&mut self) -> bool {
        self.shared.state.set(SelectorState::Idle);
        let mut states = self.client.state_changes();
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Requeue) => return true,
                    None | Some(Command::Close) => {
                        self.closing = true;
                        return false;
                    }
                },
                state = states.next() => {
                    if state.is_none_or(|s| s.is_terminal()) {
                        // Final: requeue() can no longer succeed.
                        self.shared.state.set(SelectorState::Lost);
                        return false;
                    }
                }
            }
        }
    }

    /// Sleeps, unless asked to close meanwhile.
    async fn pause(&mut self, pause: Duration) {
        let sleep = tokio::time::sleep(pause);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                command = self.commands.recv(), if !self.closing => {
                    if matches!(command, None | Some(Command::Close)) {
                        self.closing = true;
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requeue_only_moves_an_idle_selector_and_final_states_stick() {
        let shared = Shared::new();
        let mut changes = shared.state.changes();
        let idle_to_queued = |s: &Shared| {
            s.state
                .set_if(|s| s == SelectorState::Idle, SelectorState::Queued)
        };
        assert!(!idle_to_queued(&shared), "queued already");
        shared.state.set(SelectorState::Leading);
        assert!(!idle_to_queued(&shared), "leading");
        shared.state.set(SelectorState::Releasing);
        shared.state.set(SelectorState::Idle);
        assert!(idle_to_queued(&shared));
        assert!(!idle_to_queued(&shared), "a second requeue finds it queued");
        shared.state.set(SelectorState::Lost);
        shared.state.set(SelectorState::Leading);
        shared.state.set(SelectorState::Idle);
        assert!(!idle_to_queued(&shared), "finished");
        let mut seen = Vec::new();
        while let Some(s) = changes.try_next() {
            seen.push(s);
        }
        use SelectorState::*;
        assert_eq!(seen, [Queued, Leading, Releasing, Idle, Queued, Lost]);
        assert_eq!(shared.state.get(), Lost);
    }
}
