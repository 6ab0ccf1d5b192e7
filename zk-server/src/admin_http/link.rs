//! [`CoreLink`]: how the HTTP side asks the server core for its state. The core answers on its
//! own task, between client requests, as it answers four-letter words: the HTTP tasks never
//! touch the core's data.

use tokio::sync::{mpsc, oneshot};
use zk_proto::WatcherType;

use crate::admin::{Action, AdminSnapshot, ServerMode};
use crate::core::{Compared, OnlineRestore, RestoreRefused};
use crate::tree::DataTree;
use crate::watch::WatchMode;

/// A question for the core and where to send the answer.
#[derive(Debug)]
pub struct AdminCall {
    /// What is asked.
    pub ask: AdminAsk,
    /// Where the core sends the answer (dropped unanswered if the core stops).
    pub reply: oneshot::Sender<AdminReply>,
}

/// What the HTTP side can ask of the core.
#[derive(Debug)]
pub enum AdminAsk {
    /// Whether the server serves clients now, and in which role (cheap: for `/ready`).
    Serving,
    /// The state the commands print ([`AdminSnapshot::serving`] false while not serving).
    Snapshot,
    /// The gauges only (no connection, watch or session lists): for `/metrics`.
    Gauges,
    /// A reset or a trace mask, as `crst`, `srst` and `stmk` do.
    Perform(Action),
    /// The committed tree and its zxid (a cheap copy of a persistent structure).
    Tree,
    /// The sessions watching a path, with the kind of each watch.
    Watchers(String),
    /// Propose the txns that make the tree equal this image (the online restore), with the
    /// comparison made off the core, if any.
    Restore(Box<DataTree>, Option<Compared>),
    /// The last committed zxid.
    Committed,
}

/// The core's answer to an [`AdminAsk`].
#[derive(Debug)]
pub enum AdminReply {
    /// For [`AdminAsk::Serving`].
    Serving(bool, ServerMode),
    /// For [`AdminAsk::Snapshot`].
    Snapshot(Box<AdminSnapshot>),
    /// For [`AdminAsk::Perform`].
    Done,
    /// For [`AdminAsk::Tree`]: the last committed zxid and the tree.
    Tree(i64, Box<DataTree>),
    /// For [`AdminAsk::Watchers`]: (session id, table, mode), sorted.
    Watchers(Vec<(i64, WatcherType, WatchMode)>),
    /// For [`AdminAsk::Restore`]: what was proposed, or why nothing was.
    Restore(Result<OnlineRestore, RestoreRefused>),
    /// For [`AdminAsk::Committed`].
    Committed(i64),
    /// The server does not serve now (an ensemble member in election or sync): there is no
    /// tree to read.
    NotServing,
}

/// A handle on the running core for the HTTP side; cheap to clone.
#[derive(Debug, Clone)]
pub struct CoreLink {
    calls: mpsc::Sender<AdminCall>,
}

impl CoreLink {
    /// A link whose calls arrive on the returned receiver (the runtime forwards them to the
    /// core's input queue).
    pub fn new(queue: usize) -> (CoreLink, mpsc::Receiver<AdminCall>) {
        let (calls, rx) = mpsc::channel(queue.max(1));
        (CoreLink { calls }, rx)
    }

    async fn ask(&self, ask: AdminAsk) -> Option<AdminReply> {
        let (reply, answer) = oneshot::channel();
        self.calls.send(AdminCall { ask, reply }).await.ok()?;
        answer.await.ok()
    }

    /// Whether the server serves clients, and its role; `None` when it has stopped.
    pub async fn serving(&self) -> Option<(bool, ServerMode)> {
        match self.ask(AdminAsk::Serving).await? {
            AdminReply::Serving(serving, mode) => Some((serving, mode)),
            _ => None,
        }
    }

    /// The state the commands print; `None` when the server has stopped.
    pub async fn snapshot(&self) -> Option<AdminSnapshot> {
        match self.ask(AdminAsk::Snapshot).await? {
            AdminReply::Snapshot(s) => Some(*s),
            _ => None,
        }
    }

    /// The gauges' state (a [`AdminSnapshot`] without its lists); `None` when stopped.
    pub async fn gauges(&self) -> Option<AdminSnapshot> {
        match self.ask(AdminAsk::Gauges).await? {
            AdminReply::Snapshot(s) => Some(*s),
            _ => None,
        }
    }

    /// Performs a reset or sets the trace mask; false when the server has stopped.
    pub async fn perform(&self, action: Action) -> bool {
        matches!(
            self.ask(AdminAsk::Perform(action)).await,
            Some(AdminReply::Done)
        )
    }

    /// The committed tree and its zxid; `None` while the server does not serve.
    pub async fn tree(&self) -> Option<(i64, DataTree)> {
        match self.ask(AdminAsk::Tree).await? {
            AdminReply::Tree(zxid, tree) => Some((zxid, *tree)),
            _ => None,
        }
    }

    /// Who watches `path` (session id, table, mode); `None` while the server does not serve.
    pub async fn watchers(&self, path: &str) -> Option<Vec<(i64, WatcherType, WatchMode)>> {
        match self.ask(AdminAsk::Watchers(path.to_owned())).await? {
            AdminReply::Watchers(w) => Some(w),
            _ => None,
        }
    }

    /// Proposes the online restore of `image` (see [`crate::core::ServerCore::restore_online`]);
    /// `None` while the server does not serve.
    pub async fn restore(
        &self,
        image: DataTree,
        compared: Option<Compared>,
    ) -> Option<Result<OnlineRestore, RestoreRefused>> {
        match self
            .ask(AdminAsk::Restore(Box::new(image), compared))
            .await?
        {
            AdminReply::Restore(result) => Some(result),
            _ => None,
        }
    }

    /// The last committed zxid; `None` while the server does not serve.
    pub async fn committed(&self) -> Option<i64> {
        match self.ask(AdminAsk::Committed).await? {
            AdminReply::Committed(zxid) => Some(zxid),
            _ => None,
        }
    }
}
