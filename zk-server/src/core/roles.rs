//! The core in an ensemble. A leader is a proposer like a standalone server, whose txns commit
//! when a quorum acknowledged them ([`ServerCore::commit_through`]), and who also preps the
//! requests its learners forward ([`ServerCore::forwarded`]). A learner (follower or observer)
//! preps nothing: writes and session opens and closes go to the leader ([`Action::Forward`]),
//! and what the leader committed comes back through [`ServerCore::apply_committed`], which
//! answers the learner's own clients (Java's `CommitProcessor` matching a committed request
//! to the session's next pending one by cxid).

use zk_proto::quorum::LearnerRequest;

use super::*;

/// How a server's writes are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Standalone, or the leader of an ensemble: this server preps, proposes and logs txns,
    /// and [`ServerCore::commit_through`] commits them (standalone: once durable; a leader:
    /// once a quorum acknowledged them).
    Proposer,
    /// A follower or observer: see the module docs of `core/roles.rs`.
    Learner,
}

/// The connection a leader serves a learner's forwarded request on (never a real one).
const FORWARDED_CONN: ConnId = ConnId::MAX;

/// A learner's request waiting for the leader's commit of its txn.
#[derive(Debug)]
pub(super) struct Forwarded {
    pub(super) cxid: i32,
    pub(super) completion: Completion,
}

impl ServerCore {
    /// This core's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Serves as `role` in an ensemble epoch that starts at `epoch_zxid` (`newEpoch << 32`,
    /// the zxid of NEWLEADER): the next txn is `epoch_zxid + 1`. Call before any client
    /// connects.
    pub fn start_epoch(&mut self, role: Role, epoch_zxid: i64) {
        debug_assert!(self.pending.is_empty() && self.conns.is_empty());
        self.role = role;
        self.last_zxid = epoch_zxid.max(self.last_zxid);
        self.last_proposed_zxid = self.last_zxid;
    }

    /// Forwards a learner's write to the leader; its answer waits for the commit.
    pub(super) fn forward(
        &mut self,
        c: &Conn,
        cxid: i32,
        op: OpCode,
        raw: Bytes,
        completion: Completion,
        out: &mut Vec<Action>,
    ) {
        if let Completion::Reply { conn, .. } = &completion {
            if let Some(c) = self.conns.get_mut(conn) {
                c.pending_writes += 1;
            }
        }
        self.forwarded
            .entry(c.session_id)
            .or_default()
            .push_back(Forwarded { cxid, completion });
        out.push(Action::Forward {
            request: LearnerRequest {
                session_id: c.session_id,
                cxid,
                r#type: op,
                body: raw,
            },
            auth_ids: c.auth_ids.to_vec(),
        });
    }

    /// On a learner, a `sync` goes to the leader, which answers it once this server has every
    /// commit the leader had then ([`Self::sync_done`]). Returns any other request, to serve.
    pub(super) fn learner_sync(
        &mut self,
        conn: ConnId,
        c: &Conn,
        request: ClientRequest,
        out: &mut Vec<Action>,
    ) -> Option<ClientRequest> {
        match request {
            ClientRequest::Decoded {
                xid,
                body: RequestBody::Sync(r),
                raw,
                nulls: None,
            } => {
                if let Some(state) = self.conns.get_mut(&conn) {
                    state.pending_writes += 1;
                }
                self.pending_syncs
                    .push_back((c.session_id, xid, conn, r.path.clone()));
                out.push(Action::Forward {
                    request: LearnerRequest {
                        session_id: c.session_id,
                        cxid: xid,
                        r#type: OpCode::Sync,
                        body: raw,
                    },
                    auth_ids: c.auth_ids.to_vec(),
                });
                None
            }
            other => Some(other),
        }
    }

    /// On a learner, serving a client request came to a txn: the request goes to the leader
    /// instead, as the client sent it (Java's `FollowerRequestProcessor` forwards every such
    /// request), and the leader's prep decides (nulls and malformed bodies included, in the
    /// same code). Its answer waits for the commit.
    pub(super) fn forward_proposal(
        &mut self,
        header: &TxnHeader,
        completion: Completion,
        out: &mut Vec<Action>,
    ) {
        let Some((op, raw)) = self.forwarding.take() else {
            warn!(zxid = %format_args!("{:#x}", header.zxid), op = %header.r#type, "a learner cannot propose; dropped");
            return;
        };
        let conn = match &completion {
            Completion::Reply { conn, .. } | Completion::SessionClosed { conn, .. } => *conn,
            _ => {
                warn!(op = %header.r#type, "a learner's txn without a client; dropped");
                return;
            }
        };
        let Some(c) = self.conns.get(&conn).map(Conn::view) else {
            return;
        };
        self.forward(&c, header.cxid, op, raw, completion, out);
    }

    /// The leader answered this learner's oldest forwarded `sync` (of `session_id`, `cxid`):
    /// the client gets its answer, after every commit that came before.
    pub fn sync_done(&mut self, session_id: i64, cxid: i32, wall_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(at) = self
            .pending_syncs
            .iter()
            .position(|(s, x, _, _)| *s == session_id && *x == cxid)
        else {
            return out;
        };
        let (_, xid, conn, path) = self.pending_syncs.remove(at).expect("found");
        let Some(c) = self.conns.get_mut(&conn) else {
            return out;
        };
        c.pending_writes -= 1;
        let last = self.last_zxid;
        let body = ResponseBody::Sync(SyncResponse { path });
        self.reply(&mut out, conn, xid, last, ErrorCode::Ok, Some(body));
        self.release(conn, wall_ms, &mut out);
        out
    }

    /// A learner applies a txn the leader committed (in zxid order): its events fire, and if
    /// it is this server's client's request, the client gets its answer.
    pub fn apply_committed(&mut self, entry: &TxnEntry, now_ms: u64, wall_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        let session = entry.header.client_id;
        let completion = match self.forwarded.get_mut(&session) {
            Some(queue) if queue.front().is_some_and(|f| f.cxid == entry.header.cxid) => {
                let done = queue.pop_front().expect("checked").completion;
                if queue.is_empty() {
                    self.forwarded.remove(&session);
                }
                done
            }
            // Another server's client, or a session the leader expired: a session closed
            // elsewhere takes its connection here, if any, with it.
            _ if matches!(entry.txn, Txn::CloseSession(_)) => Completion::SessionExpired,
            _ => Completion::Nothing,
        };
        match &entry.txn {
            Txn::CreateSession(t) if self.sessions.get(session).is_none() => {
                self.sessions.add(session, t.time_out.max(0) as u32, now_ms);
            }
            _ => {}
        }
        let conn = self.finish(entry, completion, &mut out);
        if let Some(conn) = conn {
            self.release(conn, wall_ms, &mut out);
        }
        out
    }

    /// The leader preps a request a learner forwarded, with the client's ids (`auth_ids`);
    /// the learner answers its client when the txn commits, so nothing is answered here.
    pub fn forwarded(
        &mut self,
        request: &LearnerRequest,
        auth_ids: &[Id],
        now_ms: u64,
        wall_ms: i64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let session = request.session_id;
        let mut ids = acl::AuthIds::default();
        for id in auth_ids {
            ids.add(id.clone());
        }
        let c = Conn {
            session_id: session,
            auth_ids: std::sync::Arc::new(ids),
            stats: ConnStats::default(),
            pending_writes: 0,
            establishing: false,
            held: std::collections::VecDeque::new(),
            in_flight: std::collections::VecDeque::new(),
        };
        let cxid = request.cxid;
        match request.r#type {
            OpCode::CreateSession => {
                // The body is the negotiated timeout (Java's follower sends it as one int).
                let timeout = request
                    .body
                    .get(..4)
                    .map_or(0, |b| i32::from_be_bytes(b.try_into().expect("4 bytes")));
                self.sessions.add(session, timeout.max(0) as u32, now_ms);
                let header = self.next_header(session, cxid, OpCode::CreateSession, wall_ms);
                self.propose(
                    header,
                    Txn::CreateSession(CreateSessionTxn { time_out: timeout }),
                    &mut out,
                    Completion::Nothing,
                );
            }
            OpCode::CloseSession => {
                self.close_session(session, cxid, wall_ms, &mut out, Completion::Nothing);
            }
            // The leader core answers a sync (`Leader::sync_reached`); it is no txn.
            OpCode::Sync => {
                warn!(session = %format_args!("{session:#x}"), cxid, "a forwarded sync reached the pipeline; ignored");
            }
            op => {
                // Java's prep checks the session first: gone or closing is SESSIONEXPIRED.
                if !self.sessions.touch(session, now_ms) {
                    self.propose_error(session, cxid, ErrorCode::SessionExpired, &mut out, wall_ms);
                    return out;
                }
                // Served as a client of this server would be, on a connection of its own
                // that is gone again before anything could be sent to it: the learner
                // answers when the txn commits.
                let mut frame = Vec::with_capacity(8 + request.body.len());
                frame.extend_from_slice(&cxid.to_be_bytes());
                frame.extend_from_slice(&op.code().to_be_bytes());
                frame.extend_from_slice(&request.body);
                self.conns.insert(FORWARDED_CONN, c.clone());
                let proposed_before = self.last_proposed_zxid;
                self.serve_request(
                    FORWARDED_CONN,
                    c,
                    decode_request(Bytes::from(frame)),
                    wall_ms,
                    &mut out,
                );
                self.conns.remove(&FORWARDED_CONN);
                out.retain(|a| !matches!(a, Action::Send { conn, .. } | Action::Close { conn } if *conn == FORWARDED_CONN));
                if self.last_proposed_zxid == proposed_before {
                    warn!(session = %format_args!("{session:#x}"), cxid, %op, "a forwarded request that proposes nothing; its learner gets no answer");
                }
            }
        }
        out
    }

    /// An ErrorTxn that nobody here answers (the learner that forwarded it does).
    fn propose_error(
        &mut self,
        session: i64,
        cxid: i32,
        err: ErrorCode,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let header = self.next_header(session, cxid, OpCode::Error, wall_ms);
        self.propose(
            header,
            Txn::Error(ErrorTxn { err: err.code() }),
            out,
            Completion::Nothing,
        );
    }

    /// Sessions a leader's learners saw activity on (their PINGs): they stay alive.
    pub fn touch_sessions(&mut self, sessions: &[(i64, i32)], now_ms: u64) {
        for &(id, _) in sessions {
            self.sessions.touch(id, now_ms);
        }
    }

    /// The sessions this learner's clients used since the last call, with their timeouts,
    /// for the leader (`Learner::touch_session`; the next PING carries them).
    pub fn take_touched_sessions(&mut self) -> Vec<(i64, i32)> {
        std::mem::take(&mut self.touched).into_iter().collect()
    }

    /// Whether a session may re-attach here (a leader answering a learner's REVALIDATE):
    /// it exists and is not closing.
    pub fn session_is_valid(&mut self, session_id: i64, now_ms: u64) -> bool {
        // A touch is refused exactly for a missing or closing session.
        self.sessions.touch(session_id, now_ms)
    }

    /// The leader's answer to this learner's REVALIDATE of a re-attaching session.
    pub fn revalidated(&mut self, session_id: i64, valid: bool, wall_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        let Some((conn, response)) = self.revalidating.remove(&session_id) else {
            return out;
        };
        if !self.conns.contains_key(&conn) {
            return out;
        }
        if valid {
            if let Some(old) = self.session_conns.insert(session_id, conn) {
                if old != conn {
                    self.drop_conn(old);
                    out.push(Action::Close { conn: old });
                }
            }
            self.send(&mut out, conn, Bytes::from(response.to_jute_bytes()));
            if let Some(c) = self.conns.get_mut(&conn) {
                c.establishing = false;
            }
            self.release(conn, wall_ms, &mut out);
        } else {
            info!(conn, session = %format_args!("{session_id:#x}"), "the leader refused the session; closing");
            let refusal = ConnectResponse {
                protocol_version: 0,
                time_out: 0,
                session_id: 0,
                passwd: Bytes::from_static(&[0; 16]),
                read_only: response.read_only,
            };
            self.send(&mut out, conn, Bytes::from(refusal.to_jute_bytes()));
            self.drop_conn(conn);
            out.push(Action::Close { conn });
        }
        out
    }
}
