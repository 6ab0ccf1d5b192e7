//! A serving side without clients: it holds the tree, applies commits, and on the leader
//! proposes txns its owner builds ([`MemoryPipeline::create`], ...). Tests and tools use it to
//! drive an ensemble and to look at each member's tree.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::oneshot;
use zk_proto::data::Acl;
use zk_proto::data::Id;
use zk_proto::quorum::LearnerRequest;
use zk_proto::txn::{
    CloseSessionTxn, CreateSessionTxn, CreateTxn, Txn, TxnDigest, TxnEntry, TxnHeader,
};
use zk_proto::{ErrorCode, OpCode};

use super::serving::{NodeRequests, Pipeline, ServeStart, ServingRole, TreeReply};
use crate::quorum::leader::LearnerId;
use crate::tree::DataTree;

/// Java's digest version (`DigestCalculator.DIGEST_VERSION`).
const DIGEST_VERSION: i32 = 2;

/// Why a txn was not proposed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Only an established leader proposes.
    #[error("not serving as the leader")]
    NotLeading,
    /// The node ended the serving period.
    #[error("the node no longer takes proposals")]
    Closed,
    /// The txn does not fit the tree (a create under a missing parent, ...).
    #[error("{0}")]
    Invalid(String),
}

/// The serving side of one member; clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryPipeline(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    serving: Option<Serving>,
    /// The tree as of the last stop (for a look after the role ended).
    last_tree: Option<DataTree>,
    /// Committed txns applied, over all serving periods.
    applied: u64,
}

#[derive(Debug)]
struct Serving {
    role: ServingRole,
    tree: DataTree,
    requests: NodeRequests,
    /// The leader: the tree with every proposal applied (for the next txn's checks and
    /// digest), the next zxid, and the proposals not committed yet.
    proposed_tree: DataTree,
    next_zxid: i64,
    pending: VecDeque<Arc<TxnEntry>>,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl MemoryPipeline {
    /// A pipeline that is not serving yet.
    pub fn new() -> MemoryPipeline {
        MemoryPipeline::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The role served, if serving.
    pub fn role(&self) -> Option<ServingRole> {
        self.inner().serving.as_ref().map(|s| s.role)
    }

    /// The committed tree: the one being served, else the one last handed back.
    pub fn tree(&self) -> Option<DataTree> {
        let inner = self.inner();
        match &inner.serving {
            Some(s) => Some(s.tree.clone()),
            None => inner.last_tree.clone(),
        }
    }

    /// Committed txns applied so far.
    pub fn applied(&self) -> u64 {
        self.inner().applied
    }

    /// The leader proposes a txn of `session` with the next zxid; returns that zxid.
    pub fn propose(
        &self,
        session: i64,
        cxid: i32,
        r#type: OpCode,
        txn: Txn,
    ) -> Result<i64, ProposeError> {
        let mut inner = self.inner();
        let s = inner.serving.as_mut().ok_or(ProposeError::NotLeading)?;
        if s.role != ServingRole::Leader {
            return Err(ProposeError::NotLeading);
        }
        let header = TxnHeader {
            client_id: session,
            cxid,
            zxid: s.next_zxid,
            time: wall_ms(),
            r#type,
        };
        let mut proposed_tree = s.proposed_tree.clone();
        let result = proposed_tree.apply(&header, &txn);
        if result.err != ErrorCode::Ok {
            return Err(ProposeError::Invalid(format!("{:?}", result.err)));
        }
        let entry = Arc::new(TxnEntry {
            header,
            txn,
            digest: Some(TxnDigest {
                version: DIGEST_VERSION,
                tree_digest: proposed_tree.digest(),
            }),
        });
        if !s.requests.propose(entry.clone()) {
            return Err(ProposeError::Closed);
        }
        s.proposed_tree = proposed_tree;
        s.next_zxid += 1;
        s.pending.push_back(entry);
        Ok(s.next_zxid - 1)
    }

    /// The leader proposes a createSession.
    pub fn create_session(&self, session: i64, timeout_ms: i32) -> Result<i64, ProposeError> {
        let txn = Txn::CreateSession(CreateSessionTxn {
            time_out: timeout_ms,
        });
        self.propose(session, 0, OpCode::CreateSession, txn)
    }

    /// The leader proposes the create of a persistent node open to everyone.
    pub fn create(&self, session: i64, path: &str, data: &[u8]) -> Result<i64, ProposeError> {
        let parent_c_version = {
            let inner = self.inner();
            let s = inner.serving.as_ref().ok_or(ProposeError::NotLeading)?;
            let parent = match path.rfind('/') {
                Some(0) => "/",
                Some(i) => &path[..i],
                None => return Err(ProposeError::Invalid(format!("bad path {path}"))),
            };
            let node = s
                .proposed_tree
                .node(parent)
                .ok_or_else(|| ProposeError::Invalid(format!("no parent for {path}")))?;
            node.stat.cversion + 1
        };
        let txn = Txn::Create(CreateTxn {
            path: path.to_owned(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_c_version,
        });
        self.propose(session, 1, OpCode::Create, txn)
    }
}

impl Pipeline for MemoryPipeline {
    /// Sessions opened and closed through a learner are proposed (so a learner's clients can
    /// connect and read); other forwarded requests are not served here.
    fn learner_request(
        &mut self,
        _learner: LearnerId,
        request: LearnerRequest,
        _authinfo: Option<Vec<Id>>,
    ) {
        let (session, cxid) = (request.session_id, request.cxid);
        let proposed = match request.r#type {
            OpCode::CreateSession => match request.body.get(..4) {
                Some(b) => {
                    let timeout_ms = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    let txn = Txn::CreateSession(CreateSessionTxn {
                        time_out: timeout_ms,
                    });
                    self.propose(session, cxid, OpCode::CreateSession, txn)
                }
                None => Err(ProposeError::Invalid(
                    "createSession without a timeout".into(),
                )),
            },
            OpCode::CloseSession => {
                let paths2_delete = MemoryPipeline::tree(self)
                    .map(|t| t.ephemerals_copy(session))
                    .unwrap_or_default();
                let txn = Txn::CloseSession(Some(CloseSessionTxn { paths2_delete }));
                self.propose(session, cxid, OpCode::CloseSession, txn)
            }
            other => Err(ProposeError::Invalid(format!(
                "{other:?} is not served here"
            ))),
        };
        if let Err(e) = proposed {
            tracing::warn!(session, "a learner's request was not proposed: {e}");
        }
    }

    fn serve(&mut self, start: ServeStart) {
        let mut inner = self.inner();
        inner.serving = Some(Serving {
            role: start.role,
            proposed_tree: start.tree.clone(),
            tree: start.tree,
            requests: start.requests,
            next_zxid: start.zxid + 1,
            pending: VecDeque::new(),
        });
    }

    fn commit_through(&mut self, zxid: i64) {
        let mut inner = self.inner();
        let Some(s) = inner.serving.as_mut() else {
            return;
        };
        let mut applied = 0;
        while s.pending.front().is_some_and(|e| e.header.zxid <= zxid) {
            let entry = s.pending.pop_front().expect("checked");
            s.tree.apply(&entry.header, &entry.txn);
            applied += 1;
        }
        inner.applied += applied;
    }

    fn apply(&mut self, entry: Arc<TxnEntry>) {
        let mut inner = self.inner();
        if let Some(s) = inner.serving.as_mut() {
            s.tree.apply(&entry.header, &entry.txn);
            inner.applied += 1;
        }
    }

    fn tree(&mut self) -> TreeReply {
        let (tx, rx) = oneshot::channel();
        if let Some(s) = &self.inner().serving {
            let _ = tx.send(s.tree.clone());
        }
        rx
    }

    fn stop(&mut self) -> TreeReply {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner();
        if let Some(s) = inner.serving.take() {
            inner.last_tree = Some(s.tree.clone());
            let _ = tx.send(s.tree);
        }
        rx
    }
}
