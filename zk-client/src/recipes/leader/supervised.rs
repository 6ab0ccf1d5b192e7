//! [`SupervisedLatch`]: a [`LeaderLatch`] that outlives sessions, as Curator's does on a
//! framework that reconnects: after the session is lost it joins the election again in the
//! supervisor's next session (at the back of the line, as Curator's does after `LOST`).

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{LatchState, LeaderLatch, Participant};
use crate::recipes::protected::validate_dir;
use crate::stream::StateCast;
use crate::supervisor::closed;
use crate::{Error, ErrorKind, EventStream, Result, Session, SessionTask, Supervisor};

/// How long [`SupervisedLatch::close`] waits for the live session's latch to leave.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// A leader election that goes on from session to session on a [`Supervisor`]: in each session
/// it runs a [`LeaderLatch`] (Curator's layout) at the same path with the same id. It is
/// `Starting` until the first session's latch has its node, then `Waiting` or `Leader`. While a
/// session's connection is lost, and between sessions, it is
/// [`Suspended`](LatchState::Suspended) (not the leader); in the next session it is `Starting`,
/// then `Waiting` or `Leader` again. It is [`Lost`](LatchState::Lost) only when the
/// supervisor stops for good or the server refuses the latch (`NoAuth`, say), and
/// [`Closed`](LatchState::Closed) after [`close`](Self::close).
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::recipes::leader::{LatchState, SupervisedLatch};
/// use zk_client::Client;
/// let supervisor = Client::builder("127.0.0.1:2181").supervised();
/// let latch = SupervisedLatch::start(&supervisor, "/election/scheduler", "worker-7")?;
/// let mut changes = latch.changes();
/// while let Some(state) = changes.next().await {
///     match state {
///         LatchState::Leader => println!("leading"),
///         other if other.is_final() => break,
///         // Suspended while a session is lost; back in the line in the next one.
///         other => println!("not leading ({other:?})"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SupervisedLatch {
    supervisor: Supervisor,
    path: String,
    id: String,
    shared: Arc<Shared>,
    task: Option<SessionTask>,
}

#[derive(Debug)]
struct Shared {
    state: StateCast<LatchState>,
    /// Set by `close`: the live session's latch leaves the election.
    closing: watch::Sender<bool>,
    /// Why the latch is `Lost`, when the server refused it.
    refused: StdMutex<Option<Error>>,
}

impl SupervisedLatch {
    /// Joins the election at `path` as participant `id`, now if a session is live and in every
    /// session after. Fails only for an invalid path; needs a tokio runtime.
    pub fn start(supervisor: &Supervisor, path: &str, id: &str) -> Result<SupervisedLatch> {
        validate_dir(path)?;
        let shared = Arc::new(Shared {
            state: StateCast::new(LatchState::Starting),
            closing: watch::channel(false).0,
            refused: StdMutex::new(None),
        });
        let task = {
            let (shared, path, id) = (shared.clone(), path.to_owned(), id.to_owned());
            supervisor.on_session(move |session| {
                run_in_session(session, shared.clone(), path.clone(), id.clone())
            })
        };
        // The supervisor stopping for good ends the election.
        let mut states = supervisor.states();
        let watcher = shared.clone();
        let mut closing = shared.closing.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = async { while states.next().await.is_some() {} } => {
                    watcher.state.set(LatchState::Lost);
                }
                _ = closed(&mut closing) => {}
            }
        });
        Ok(SupervisedLatch {
            supervisor: supervisor.clone(),
            path: path.to_owned(),
            id: id.to_owned(),
            shared,
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

    /// Whether this participant leads now.
    pub fn is_leader(&self) -> bool {
        self.state() == LatchState::Leader
    }

    /// Every change of state from now on, across sessions, starting with the current one; ends
    /// after `Lost` or `Closed`.
    pub fn changes(&self) -> EventStream<LatchState> {
        self.shared.state.changes()
    }

    /// Waits until this participant leads, in whichever session; fails once the latch is
    /// over (`Closed`, or why it was lost).
    pub async fn wait_leader(&self) -> Result<()> {
        super::wait_leader_on(&self.shared.state, || self.lost_error()).await
    }

    fn lost_error(&self) -> Error {
        let refused = self.shared.refused.lock().expect("refusal").clone();
        refused
            .or_else(|| self.supervisor.ended())
            .unwrap_or(ErrorKind::Closed.into())
    }

    /// The participants in line order, leader first, as the live session reads them.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        let client = self.supervisor.client().await?;
        super::participants(&client, &self.path).await
    }

    /// Leaves the election: the live session's node is deleted (leadership passes on) before
    /// this returns, and no later session joins again.
    pub async fn close(mut self) {
        self.shared.closing.send_replace(true);
        let mut state = self.shared.state.watch();
        // With a live latch, its task deletes the node and reports Closed.
        let _ = tokio::time::timeout(CLOSE_WAIT, state.wait_for(|s| s.is_final())).await;
        self.shared.state.set(LatchState::Closed);
        self.task.take();
    }
}

impl Drop for SupervisedLatch {
    fn drop(&mut self) {
        // Stops the per-session work; a latch it was running is dropped, which deletes its
        // node in the background.
        self.shared.closing.send_replace(true);
        self.shared.state.set(LatchState::Closed);
    }
}

/// The election in one session: a latch whose states are passed on until the session ends
/// (then `Suspended` until the next), the server refuses it, or the handle closes.
async fn run_in_session(session: Session, shared: Arc<Shared>, path: String, id: String) {
    let mut closing = shared.closing.subscribe();
    if *closing.borrow_and_update() || shared.state.get().is_final() {
        return;
    }
    shared.state.set(LatchState::Starting);
    let started = tokio::select! {
        started = LeaderLatch::start(&session.client, &path, &id) => started,
        _ = closed(&mut closing) => return,
    };
    let latch = match started {
        Ok(latch) => latch,
        Err(e) if session_over(&e) => {
            shared.state.set(LatchState::Suspended);
            return;
        }
        Err(e) => {
            tracing::error!(%path, %id, error = %e, "the server refuses the election");
            *shared.refused.lock().expect("refusal") = Some(e);
            shared.state.set(LatchState::Lost);
            return;
        }
    };
    let mut changes = latch.changes();
    loop {
        tokio::select! {
            state = changes.next() => match state {
                // The session is over: not leader until the next one.
                Some(state) if state.is_final() => {
                    shared.state.set(LatchState::Suspended);
                    return;
                }
                Some(state) => shared.state.set(state),
                None => return,
            },
            _ = closed(&mut closing) => {
                if let Err(e) = latch.close().await {
                    tracing::warn!(%path, %id, error = %e, "could not leave the election");
                }
                shared.state.set(LatchState::Closed);
                return;
            }
        }
    }
}

/// Errors that end a session's latch without saying anything about the next session's.
fn session_over(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::SessionExpired | ErrorKind::Closed | ErrorKind::ConnectionLoss
    ) || e.is_retryable()
}
