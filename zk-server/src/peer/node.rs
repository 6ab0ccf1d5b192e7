//! One ensemble member over real sockets and a real data directory: Java's `QuorumPeer.run`
//! loop. Election, then LEADING, FOLLOWING or OBSERVING until the role ends, then election
//! again, until the node is stopped or halts.
//!
//! The node carries out the quorum cores' actions the way `crate::quorum::sim`'s `roles.rs`
//! spells out, with the election port ([`super::election_net`]), the quorum port
//! ([`super::quorum_net`]), Java's txn log and snapshot files, and the epoch files:
//!
//! - start: the data directories are recovered as the standalone server recovers them
//!   (snapshot, then the log), the epoch files read and reconciled;
//! - leading (`leading.rs`): the learner listener, the [`crate::quorum::leader::Leader`] core
//!   with the on-disk log as its DIFF history, SNAP bodies in Java's format, the leader's own
//!   proposals logged and flushed before its ACK counts;
//! - following / observing (`following.rs`): the dial with Java's retries, the
//!   [`crate::quorum::learner::Learner`] core; TRUNC cuts the log and reloads, SNAP replaces
//!   the tree, proposals are fsynced before they are ACKed;
//! - serving: the tree moves to the serving side ([`serving::Pipeline`]) and back when the role
//!   ends; the log always stays with the node (see `serving.rs`).
//!
//! Disk IO (appends, fsyncs, snapshots) runs on the node's task, as Java's peer thread and
//! sync processor block on it; a node's own task does nothing else meanwhile.

mod database;
mod flush;
mod following;
mod leading;
pub mod memory;
pub mod serving;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zk_proto::quorum::{PacketType, ServerState};

use crate::config::Config;
use crate::quorum::config::QuorumConfig;
use crate::quorum::election::Decision;
use crate::quorum::learner::LearnerRole;
use crate::storage::recovery::RecoveryError;
use crate::tree::DataTree;

use super::election_net::{ElectionNetConfig, ElectionService, LookError};
use database::Database;
use serving::{NodeRequest, Pipeline};

/// Why a node stopped on its own or did not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration does not describe an ensemble member.
    #[error("configuration: {0}")]
    Config(String),
    /// The data directory could not be recovered.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// The txn log, a snapshot or an epoch file failed: nothing more may be acknowledged.
    #[error("storage: {0}")]
    Storage(String),
    /// The election port could not be bound or its service stopped.
    #[error("election: {0}")]
    Election(String),
    /// The leader sent something Java stops the server for (`ServiceUtils.requestSystemExit`).
    #[error("halted (Java's exit code {exit_code}): {reason}")]
    Halt {
        /// Java's exit code.
        exit_code: i32,
        /// Why.
        reason: String,
    },
}

/// What a node is doing, for tests and the admin side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// LOOKING, LEADING, FOLLOWING or OBSERVING.
    pub state: ServerState,
    /// The leader of the current role.
    pub leader: Option<i64>,
    /// The serving side holds the tree (a quorum is synced).
    pub serving: bool,
    /// `currentEpoch`.
    pub current_epoch: i64,
    /// As a learner: the sync mode of every sync so far (DIFF, TRUNC or SNAP), oldest first.
    pub syncs: Vec<PacketType>,
    /// As a leader: txns sent to learners from the on-disk log (DIFFs older than the
    /// committed log).
    pub txns_sent_from_disk: u64,
}

/// A running ensemble member; dropping it stops the node (its sockets close soon after).
#[derive(Debug)]
pub struct QuorumNode {
    my_id: i64,
    status: watch::Receiver<NodeStatus>,
    cancel: CancellationToken,
    task: Option<JoinHandle<Result<(), NodeError>>>,
}

impl QuorumNode {
    /// Loads the data directory of `cfg`, binds the election port of `quorum`'s `myid` and
    /// starts the peer loop, serving through `pipeline`.
    pub async fn start(
        cfg: Config,
        quorum: QuorumConfig,
        pipeline: Box<dyn Pipeline>,
    ) -> Result<QuorumNode, NodeError> {
        Self::start_with_metrics(cfg, quorum, pipeline, crate::metrics::Metrics::new(false)).await
    }

    /// [`Self::start`], recording elections, syncs, proposals, fsyncs and snapshots in
    /// `metrics`.
    pub async fn start_with_metrics(
        cfg: Config,
        quorum: QuorumConfig,
        pipeline: Box<dyn Pipeline>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Result<QuorumNode, NodeError> {
        Self::start_with_archiver(cfg, quorum, pipeline, metrics, None).await
    }

    /// [`Self::start_with_metrics`] with a backup archiver, which archives while this member
    /// leads.
    pub async fn start_with_archiver(
        cfg: Config,
        quorum: QuorumConfig,
        pipeline: Box<dyn Pipeline>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        archiver: Option<crate::backup::archiver::ArchiverHandle>,
    ) -> Result<QuorumNode, NodeError> {
        let my_id = quorum
            .my_id
            .ok_or_else(|| NodeError::Config("myid file is missing".into()))?;
        if quorum.me().is_none() {
            return Err(NodeError::Config(format!(
                "server {my_id} is not in the server list"
            )));
        }
        let init_started = Instant::now();
        let mut db = Database::open(&cfg)?;
        metrics.record_since(crate::metrics::SummaryKind::DbInitTime, init_started);
        db.set_metrics(metrics.clone());
        db.archiver = archiver;
        db.set_config_node(quorum.verifier.to_config_text(), quorum.verifier.version);
        let election_cfg = ElectionNetConfig::from_quorum_config(&quorum)
            .ok_or_else(|| NodeError::Config("myid file is missing".into()))?;
        let election = ElectionService::start(election_cfg)
            .await
            .map_err(|e| NodeError::Election(format!("binding the election port: {e}")))?;
        let (status_tx, status) = watch::channel(NodeStatus {
            state: ServerState::Looking,
            leader: None,
            serving: false,
            current_epoch: db.current_epoch,
            syncs: Vec::new(),
            txns_sent_from_disk: 0,
        });
        let cancel = CancellationToken::new();
        let node = Node {
            my_id,
            cfg,
            quorum,
            db,
            election: Some(election),
            pipeline,
            status: status_tx,
            cancel: cancel.clone(),
            started: Instant::now(),
            metrics,
        };
        let task = tokio::spawn(node.run());
        Ok(QuorumNode {
            my_id,
            status,
            cancel,
            task: Some(task),
        })
    }

    /// This server's id.
    pub fn my_id(&self) -> i64 {
        self.my_id
    }

    /// The current status.
    pub fn status(&self) -> NodeStatus {
        self.status.borrow().clone()
    }

    /// A token that stops the node when cancelled (from another task than the one waiting).
    pub fn stop_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// A receiver of status changes.
    pub fn watch_status(&self) -> watch::Receiver<NodeStatus> {
        self.status.clone()
    }

    /// Stops the node (the serving side hands the tree back, the log is flushed, every socket
    /// closes) and waits until it has; an error it stopped with on its own before.
    pub async fn stop(mut self) -> Result<(), NodeError> {
        self.cancel.cancel();
        self.join().await
    }

    /// Waits until the node stops on its own (a halt or a storage failure).
    pub async fn wait(mut self) -> Result<(), NodeError> {
        self.join().await
    }

    async fn join(&mut self) -> Result<(), NodeError> {
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| NodeError::Storage(format!("the node task failed: {e}")))?,
            None => Ok(()),
        }
    }
}

impl Drop for QuorumNode {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The peer loop's state.
struct Node {
    my_id: i64,
    cfg: Config,
    quorum: QuorumConfig,
    db: Database,
    /// `None` only while the node shuts down.
    election: Option<ElectionService>,
    pipeline: Box<dyn Pipeline>,
    status: watch::Sender<NodeStatus>,
    cancel: CancellationToken,
    started: Instant,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// How often the cores are ticked: often enough for the leader's PINGs every `tickTime / 2`.
fn tick_period(tick_time_ms: u32) -> Duration {
    Duration::from_millis(u64::from(tick_time_ms / 4).max(5))
}

/// The next request of the serving side, if it is serving; pending otherwise.
async fn next_request(
    requests: &mut Option<mpsc::UnboundedReceiver<NodeRequest>>,
) -> Option<NodeRequest> {
    match requests {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Node {
    /// Milliseconds since the node started: the cores' clock.
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn set_status(&self, state: ServerState, leader: Option<i64>, serving: bool) {
        let current_epoch = self.db.current_epoch;
        self.status.send_modify(|s| {
            s.state = state;
            s.leader = leader;
            s.serving = serving;
            s.current_epoch = current_epoch;
        });
    }

    /// The archiver, when this member archives while leading (`backup.archiverId` unset or
    /// naming it).
    fn leader_archiver(&self) -> Option<&crate::backup::archiver::ArchiverHandle> {
        self.db
            .archiver
            .as_ref()
            .filter(|a| a.archives_when_leading(self.my_id))
    }

    /// The archiver, when `backup.archiverId` names this member: it archives while synced
    /// as a follower or observer.
    fn learner_archiver(&self) -> Option<&crate::backup::archiver::ArchiverHandle> {
        self.db
            .archiver
            .as_ref()
            .filter(|a| a.archives_when_learning(self.my_id))
    }

    fn election(&self) -> &ElectionService {
        self.election
            .as_ref()
            .expect("the election runs until shutdown")
    }

    async fn run(mut self) -> Result<(), NodeError> {
        let result = self.peer_loop().await;
        if let Err(e) = &result {
            warn!(sid = self.my_id, "the node stops: {e}");
        }
        // Whatever ended the loop, the tree comes back and the log is made durable.
        self.stop_serving().await;
        if let Err(e) = self.db.flush() {
            warn!(sid = self.my_id, "final log flush failed: {e}");
        }
        self.db.finish_snapshot();
        if let Some(archiver) = &self.db.archiver {
            archiver.close(Duration::from_secs(10)).await;
        }
        if let Some(election) = self.election.take() {
            election.stop().await;
        }
        self.set_status(ServerState::Looking, None, false);
        info!(sid = self.my_id, "node stopped");
        result
    }

    async fn peer_loop(&mut self) -> Result<(), NodeError> {
        loop {
            self.set_status(ServerState::Looking, None, false);
            let last_zxid = self.db.tree().last_processed_zxid();
            let current_epoch = self.db.current_epoch;
            let handle = self.election().handle();
            self.metrics.add(crate::metrics::Counter::LookingCount, 1);
            let looking_since = Instant::now();
            let decision = tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                d = handle.look_for_leader(last_zxid, current_epoch) => d,
            };
            let decision: Decision = match decision {
                Ok(d) => d,
                Err(LookError::Stopped) => {
                    return Err(NodeError::Election("the election service stopped".into()))
                }
                // No reconfig: the round goes on with the config this node has.
                Err(e @ (LookError::Superseded | LookError::NewerConfig { .. })) => {
                    warn!(sid = self.my_id, "election: {e}; looking again");
                    continue;
                }
            };
            self.metrics
                .record_since(crate::metrics::SummaryKind::ElectionTime, looking_since);
            info!(
                sid = self.my_id,
                state = ?decision.state,
                leader = decision.leader,
                zxid = %format_args!("{:#x}", decision.zxid),
                "election decided"
            );
            self.set_status(decision.state, Some(decision.leader), false);
            let role = match decision.state {
                ServerState::Leading => self.lead().await,
                ServerState::Following => self.follow(decision, LearnerRole::Follower).await,
                ServerState::Observing => self.follow(decision, LearnerRole::Observer).await,
                _ => Ok(()),
            };
            // Java's `shutdown` of the role's server: the tree comes back, the logged txns
            // it lacks are replayed onto it before the next vote.
            self.stop_serving().await;
            role?;
            self.db.fast_forward()?;
            if self.cancel.is_cancelled() {
                return Ok(());
            }
        }
    }

    /// Serving starts: the tree moves to the serving side.
    fn serve(
        &mut self,
        role: serving::ServingRole,
        epoch: i64,
        zxid: i64,
    ) -> mpsc::UnboundedReceiver<NodeRequest> {
        let mut tree = self.db.take_tree();
        if role == serving::ServingRole::Leader {
            // Java's `startZkServer`: the tree's last processed zxid becomes `epoch << 32`.
            tree.set_last_processed_zxid(zxid);
        }
        let zxid = tree.last_processed_zxid();
        let (requests, rx) = serving::NodeRequests::channel();
        let state = self.status.borrow().state;
        let leader = self.status.borrow().leader;
        self.pipeline.serve(serving::ServeStart {
            role,
            tree,
            epoch,
            zxid,
            requests,
            leader_id: leader,
        });
        self.set_status(state, leader, true);
        info!(sid = self.my_id, ?role, epoch, "serving");
        rx
    }

    /// Serving ends (if it had started): the tree comes back from the serving side. A serving
    /// side that lost it gets the node to reload it from the disk.
    async fn stop_serving(&mut self) {
        if self.db.has_tree() {
            return;
        }
        match self.pipeline.stop().await {
            Ok(tree) => self.db.put_tree(tree),
            Err(_) => {
                warn!(
                    sid = self.my_id,
                    "the serving side did not hand the tree back; reloading it from the disk"
                );
                if let Err(e) = self.db.reload() {
                    warn!(sid = self.my_id, "reloading failed: {e}");
                }
            }
        }
    }

    /// While serving: a snapshot in the background when `snapCount` txns were logged.
    async fn snapshot_if_due(&mut self) -> Result<(), NodeError> {
        if self.db.has_tree() || !self.db.snapshot_due()? {
            return Ok(());
        }
        let tree = self.current_tree().await?;
        self.db.snapshot_in_background(tree)
    }

    /// The tree as of every commit so far: the node's own, or a clone from the serving side.
    async fn current_tree(&mut self) -> Result<DataTree, NodeError> {
        if self.db.has_tree() {
            return Ok(self.db.tree().clone());
        }
        self.pipeline
            .tree()
            .await
            .map_err(|_| NodeError::Storage("the serving side did not hand out the tree".into()))
    }
}
