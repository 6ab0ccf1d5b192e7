//! The request pipeline of a quorum of one: a connection's requests in order (held behind its
//! pending writes), prep and propose (the txn applied to the speculative tree and logged),
//! and commit when the log reports it durable (the committed tree advances, events fire, the
//! reply goes out). See the ordering rules in the module docs of [`crate::core`].

use super::*;

/// A request frame as the connection task decodes it ([`decode_request`]): decoding is off
/// the core task, which only decides.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// The request header cannot be read: the connection closes.
    BadHeader(String),
    /// A decoded request; `nulls` lists where it sent nulls our records cannot hold (read as
    /// empty values, see `core/nulls.rs`).
    Decoded {
        /// The request's xid.
        xid: i32,
        /// The body.
        body: RequestBody,
        /// Null fields, when the plain decoding refused them.
        nulls: Option<Vec<zk_proto::jute::FieldPath>>,
        /// The body as the client sent it: a learner forwards it to the leader as is.
        raw: Bytes,
    },
    /// A body that cannot be decoded at all.
    Malformed {
        /// The request's xid.
        xid: i32,
        /// The opcode of the header.
        op: OpCode,
        /// What was wrong.
        error: String,
        /// The body as the client sent it.
        raw: Bytes,
    },
}

/// Decodes one request frame payload (header and body).
pub fn decode_request(payload: Bytes) -> ClientRequest {
    let mut input = &payload[..];
    let header = match RequestHeader::read(&mut input) {
        Ok(h) => h,
        Err(e) => return ClientRequest::BadHeader(e.to_string()),
    };
    let op = header.r#type;
    let raw = payload.slice(payload.len() - input.len()..);
    match RequestBody::decode(op, input) {
        Ok(body) => ClientRequest::Decoded {
            xid: header.xid,
            body,
            nulls: None,
            raw,
        },
        Err(e) => match RequestBody::decode_nulls(op, input) {
            Ok((body, nulls)) => ClientRequest::Decoded {
                xid: header.xid,
                body,
                nulls: Some(nulls),
                raw,
            },
            Err(_) => ClientRequest::Malformed {
                xid: header.xid,
                op,
                error: e.to_string(),
                raw,
            },
        },
    }
}

/// What is done when a proposed txn commits.
#[derive(Debug)]
pub(super) enum Completion {
    /// Answer a client's write: from the txn's result for `request`, or (`None`: an
    /// ErrorTxn) with its code alone.
    Reply {
        conn: ConnId,
        xid: i32,
        request: Option<RequestBody>,
    },
    /// Answer a new session's ConnectResponse.
    Connected {
        conn: ConnId,
        response: ConnectResponse,
    },
    /// A client closed its session: answer, then close the connection.
    SessionClosed { conn: ConnId, xid: i32 },
    /// A session expired: its connection, if any, closes.
    SessionExpired,
    /// The container sweep's deletes: nobody to answer.
    Nothing,
}

/// A txn proposed and logged, not yet committed.
#[derive(Debug)]
pub(super) struct Proposal {
    /// The txn as logged.
    entry: std::sync::Arc<TxnEntry>,
    completion: Completion,
}

impl ServerCore {
    pub(super) fn next_header(
        &mut self,
        session: i64,
        cxid: i32,
        op: OpCode,
        wall_ms: i64,
    ) -> TxnHeader {
        TxnHeader {
            client_id: session,
            cxid,
            zxid: self.last_proposed_zxid + 1,
            time: wall_ms,
            r#type: op,
        }
    }

    /// Proposes one txn: records what it changes for the prep of later writes (and the tree
    /// digest after it, which its log record carries, as Java's records do), asks the
    /// runtime to log it, and keeps what its commit must do.
    pub(super) fn propose(
        &mut self,
        header: TxnHeader,
        txn: Txn,
        out: &mut Vec<Action>,
        completion: Completion,
    ) {
        if self.role == Role::Learner {
            self.forward_proposal(&header, completion, out);
            return;
        }
        let zxid = header.zxid;
        debug_assert_eq!(
            zxid,
            self.last_proposed_zxid + 1,
            "zxids are proposed in order"
        );
        self.outstanding.propose(&self.tree, &header, &txn);
        let digest = (self.config.digest_enabled && header.r#type != OpCode::Error).then(|| {
            zk_proto::txn::TxnDigest {
                version: 2,
                tree_digest: self.outstanding.digest(&self.tree),
            }
        });
        let entry = std::sync::Arc::new(TxnEntry {
            header,
            txn,
            digest,
        });
        out.push(Action::Log(entry.clone()));
        if let Completion::Reply { conn, .. } = &completion {
            if let Some(c) = self.conns.get_mut(conn) {
                c.pending_writes += 1;
            }
        }
        self.pending.push_back(Proposal { entry, completion });
        self.last_proposed_zxid = zxid;
    }

    /// Every txn proposed up to `zxid` commits, in order: standalone, once the log made it
    /// durable; a leader, once a quorum acknowledged it. Returns the replies, events and closes that were waiting, then what
    /// the requests released behind them do (which may propose, and so log, more txns).
    pub fn commit_through(&mut self, zxid: i64, wall_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        let mut waiting = Vec::new();
        while self
            .pending
            .front()
            .is_some_and(|p| p.entry.header.zxid <= zxid)
        {
            let proposal = self.pending.pop_front().expect("checked");
            if self.role == Role::Proposer {
                // Java counts the leader's commits; a standalone server is its own leader.
                self.config
                    .metrics
                    .add(crate::metrics::Counter::CommitCount, 1);
            }
            if let Some(conn) = self.commit(proposal, &mut out) {
                if !waiting.contains(&conn) {
                    waiting.push(conn);
                }
            }
        }
        self.outstanding.committed(zxid);
        if self.pending.is_empty() {
            self.outstanding.clear_digest();
        }
        // Held requests go after the commits: a released write is prepped against every txn
        // proposed before it. A released read sees the writes of this flush, all committed
        // by then, and never a later write of its own connection (that one is held behind it).
        for conn in waiting {
            self.release(conn, wall_ms, &mut out);
        }
        out
    }

    /// Commits one proposal. Returns the connection whose held requests may now go on.
    fn commit(&mut self, proposal: Proposal, out: &mut Vec<Action>) -> Option<ConnId> {
        let Proposal { entry, completion } = proposal;
        debug_assert_eq!(
            entry.header.zxid,
            self.last_zxid + 1,
            "txns commit in zxid order"
        );
        self.finish(&entry, completion, out)
    }

    /// A committed txn: it is applied to the committed tree, its events fire, then what
    /// waited for it happens (a reply, a ConnectResponse, a close). Returns the connection
    /// whose held requests may now go on.
    pub(super) fn finish(
        &mut self,
        entry: &TxnEntry,
        completion: Completion,
        out: &mut Vec<Action>,
    ) -> Option<ConnId> {
        let zxid = entry.header.zxid;
        let session_id = entry.header.client_id;
        let result = self.tree.apply(&entry.header, &entry.txn);
        if result.err.is_ok() {
            record_writes(&mut self.local_metrics, &entry.txn);
        }
        if self.config.digest_enabled && zxid % DIGEST_LOG_INTERVAL == 0 {
            self.digest_log.push_back((zxid, self.tree.digest()));
            if self.digest_log.len() > DIGEST_LOG_LIMIT {
                self.digest_log.pop_front();
            }
        }
        if let Some(d) = &entry.digest {
            if d.tree_digest != self.tree.digest() {
                self.config
                    .metrics
                    .add(crate::metrics::Counter::DigestMismatchesCount, 1);
                // Java logs the same when a txn's digest disagrees with its tree.
                warn!(zxid = %format_args!("{zxid:#x}"), expected = d.tree_digest, actual = self.tree.digest(), "digest mismatch after applying a txn");
                debug_assert!(
                    false,
                    "the tree reached the digest its txn carries (zxid {zxid:#x})"
                );
            }
        }
        self.last_zxid = zxid;
        if let Txn::CloseSession(_) = entry.txn {
            // Whoever asked (or nobody here, for another server's client), it is gone.
            self.sessions.remove(session_id);
        }
        self.fire(&result, out);
        match completion {
            Completion::Reply { conn, xid, request } => {
                let c = self.conns.get_mut(&conn)?;
                c.pending_writes -= 1;
                // An ErrorTxn (a multi that threw in prep too) answers its code alone.
                let (err, body) = match &request {
                    Some(request) if entry.header.r#type != OpCode::Error => {
                        write_response(request, &result)
                    }
                    _ => (result.err, None),
                };
                self.reply(out, conn, xid, zxid, err, body);
                Some(conn)
            }
            Completion::Connected { conn, response } => {
                let c = self.conns.get_mut(&conn)?;
                c.establishing = false;
                self.send(out, conn, Bytes::from(response.to_jute_bytes()));
                Some(conn)
            }
            Completion::SessionClosed { conn, xid } => {
                self.sessions.remove(session_id);
                if self.conns.contains_key(&conn) {
                    self.reply(out, conn, xid, zxid, ErrorCode::Ok, None);
                    self.drop_conn(conn);
                    out.push(Action::Close { conn });
                }
                if let Some(other) = self.session_conns.remove(&session_id) {
                    self.drop_conn(other);
                    out.push(Action::Close { conn: other });
                }
                info!(conn, session = %format_args!("{session_id:#x}"), "session closed");
                None
            }
            Completion::SessionExpired => {
                self.sessions.remove(session_id);
                if let Some(conn) = self.session_conns.remove(&session_id) {
                    self.drop_conn(conn);
                    out.push(Action::Close { conn });
                }
                None
            }
            Completion::Nothing => None,
        }
    }

    /// Sends the watch events of an applied txn to the connections watching, if they may read
    /// the node (the CVE-2024-23944 rule of 3.8.4+/3.9.2+).
    pub(super) fn fire(&mut self, result: &ApplyResult, out: &mut Vec<Action>) {
        for (event, acl) in result.events.iter().zip(&result.event_acls) {
            self.fire_event(event, acl, result.zxid, out);
        }
    }

    pub(super) fn fire_event(
        &mut self,
        event: &TreeEvent,
        acl: &[Acl],
        zxid: i64,
        out: &mut Vec<Action>,
    ) {
        let fired = self.watches.trigger(event);
        for (conn, watcher_event) in fired {
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            if !self.config.skip_acl
                && self
                    .config
                    .providers
                    .check(acl, perms::READ, &c.auth_ids)
                    .is_err()
            {
                continue;
            }
            // 3.9 puts the firing txn's zxid in the header (3.8 sent -1).
            let payload = notification(zxid, watcher_event);
            self.send(out, conn, payload);
        }
    }

    /// One request from an established connection, decoded by [`decode_request`].
    pub fn request(
        &mut self,
        conn: ConnId,
        request: ClientRequest,
        now_ms: u64,
        wall_ms: i64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.counters.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            out.push(Action::Close { conn });
            return out;
        };
        c.stats.packets_received += 1;
        let session_id = c.session_id;
        let (xid, op) = match &request {
            ClientRequest::Decoded { xid, body, .. } => (*xid, body.op()),
            ClientRequest::Malformed { xid, op, .. } => (*xid, *op),
            ClientRequest::BadHeader(e) => {
                warn!(conn, error = %e, "malformed request header; closing");
                out.push(Action::Close { conn });
                return out;
            }
        };
        if c.in_flight.len() >= MAX_IN_FLIGHT {
            // Replies come in order; this many unanswered means the oldest never will be.
            c.in_flight.pop_front();
        }
        c.in_flight.push_back(InFlight {
            xid,
            arrived_ms: now_ms,
            write: op.is_write(),
        });
        if self.role == Role::Learner {
            if let Some(s) = self.sessions.get(session_id) {
                self.touched.insert(session_id, s.timeout_ms as i32);
            }
        }
        if !self.sessions.touch(session_id, now_ms) {
            // Java drops requests of a session that is gone or closing.
            debug!(conn, "request for a missing or closing session dropped");
            return out;
        }
        let c = self.conns.get_mut(&conn).expect("checked");
        if !c.held.is_empty() || c.must_wait(&request) {
            c.held.push_back(request);
            return out;
        }
        self.process(conn, request, wall_ms, &mut out);
        out
    }

    /// Serves the requests a connection held while earlier ones of it were pending, until one
    /// must wait again.
    pub(super) fn release(&mut self, conn: ConnId, wall_ms: i64, out: &mut Vec<Action>) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.held.front() {
                Some(next) if !c.must_wait(next) => {}
                _ => return,
            }
            let request = c.held.pop_front().expect("checked");
            self.process(conn, request, wall_ms, out);
        }
    }

    /// Serves one request whose turn has come.
    pub(super) fn process(
        &mut self,
        conn: ConnId,
        request: ClientRequest,
        wall_ms: i64,
        out: &mut Vec<Action>,
    ) {
        let (xid, op) = match &request {
            ClientRequest::Decoded { xid, body, .. } => (*xid, body.op()),
            ClientRequest::Malformed { xid, op, .. } => (*xid, *op),
            // Closed on arrival (`request`), never held.
            ClientRequest::BadHeader(_) => return,
        };
        if !self.enforce_authentication(conn, xid, op, out) {
            return;
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let c = c.view();
        let request = match self.role {
            Role::Learner => match self.learner_sync(conn, &c, request, out) {
                Some(request) => request,
                None => return,
            },
            Role::Proposer => request,
        };
        if self.role == Role::Learner {
            // What this request proposes goes to the leader as the client sent it.
            self.forwarding = match &request {
                ClientRequest::Decoded { raw, .. } | ClientRequest::Malformed { raw, .. } => {
                    Some((op, raw.clone()))
                }
                ClientRequest::BadHeader(_) => None,
            };
        }
        self.serve_request(conn, c, request, wall_ms, out);
        self.forwarding = None;
    }

    /// Serves one request, the standalone way (a learner's proposals go to the leader, see
    /// [`Self::propose`]; a leader serves its learners' requests here too).
    pub(super) fn serve_request(
        &mut self,
        conn: ConnId,
        c: Conn,
        request: ClientRequest,
        wall_ms: i64,
        out: &mut Vec<Action>,
    ) {
        let op = match &request {
            ClientRequest::Decoded { body, .. } => body.op(),
            ClientRequest::Malformed { op, .. } => *op,
            ClientRequest::BadHeader(_) => return,
        };
        match request {
            ClientRequest::BadHeader(_) => {}
            ClientRequest::Decoded {
                xid,
                body,
                nulls: Some(nulls),
                ..
            } => {
                // Nulls Java reads (and answers in its own way) where our records need values.
                self.request_with_nulls(conn, &c, xid, body, Nulls::new(nulls), out, wall_ms);
            }
            ClientRequest::Decoded {
                xid,
                body,
                nulls: None,
                ..
            } => {
                self.dispatch(conn, c, xid, body, out, wall_ms);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.stats.last_op = last_op_code(op);
                }
            }
            ClientRequest::Malformed { xid, op, error, .. } => {
                warn!(conn, %op, %error, "malformed request body");
                if matches!(op, OpCode::Auth | OpCode::Sasl) {
                    // Java parses these outside the pipeline and drops the connection.
                    out.push(Action::Close { conn });
                } else if op.is_write() && op != OpCode::Reconfig {
                    // Java parses a reconfig body before giving it a zxid; other writes fail
                    // in prep, after the zxid is taken: an ErrorTxn(MARSHALLINGERROR).
                    self.error_txn(conn, &c, xid, ErrorCode::MarshallingError, out, wall_ms);
                } else {
                    let last = self.last_zxid;
                    self.reply(out, conn, xid, last, ErrorCode::MarshallingError, None);
                }
            }
        }
    }

    /// A write that fails before its txn is built: an ErrorTxn takes the next zxid and
    /// answers the error when it commits.
    pub(super) fn error_txn(
        &mut self,
        conn: ConnId,
        c: &Conn,
        xid: i32,
        err: ErrorCode,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let header = self.next_header(c.session_id, xid, OpCode::Error, wall_ms);
        self.propose(
            header,
            Txn::Error(ErrorTxn { err: err.code() }),
            out,
            Completion::Reply {
                conn,
                xid,
                request: None,
            },
        );
    }

    pub(super) fn dispatch(
        &mut self,
        conn: ConnId,
        c: Conn,
        xid: i32,
        body: RequestBody,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let last = self.last_zxid;
        match body {
            RequestBody::Ping => self.reply(out, conn, xid::PING, last, ErrorCode::Ok, None),
            RequestBody::Auth(packet) => {
                let authenticated = self.config.providers.authenticate(
                    &packet.scheme,
                    &packet.auth,
                    self.config.super_digest.as_deref(),
                    &c.auth_ids,
                );
                match authenticated {
                    Ok(ids) => {
                        // The request's copy goes first, so the ids are changed in place
                        // (O(1) per auth) rather than copied.
                        drop(c);
                        let conn_state = self.conns.get_mut(&conn).expect("checked");
                        let auth_ids = std::sync::Arc::make_mut(&mut conn_state.auth_ids);
                        for id in ids {
                            auth_ids.add(id);
                        }
                        // The reply echoes the request's xid (-4 from every real client).
                        self.reply(out, conn, xid, 0, ErrorCode::Ok, None);
                    }
                    Err(code) => {
                        info!(conn, scheme = %packet.scheme, "authentication failed; closing");
                        self.reply(out, conn, xid, 0, code, None);
                        out.push(Action::Close { conn });
                    }
                }
            }
            RequestBody::CloseSession => {
                self.close_session(
                    c.session_id,
                    xid,
                    wall_ms,
                    out,
                    Completion::SessionClosed { conn, xid },
                );
            }
            RequestBody::Unknown { op, .. } => {
                info!(conn, %op, "unknown opcode; closing");
                self.reply(out, conn, xid, -1, ErrorCode::Unimplemented, None);
                out.push(Action::Close { conn });
            }
            // A top-level check is only valid inside multi (3.8.0 logged it and could not
            // restart): answer UNIMPLEMENTED and log nothing.
            RequestBody::Check(_) => {
                self.reply(out, conn, xid, last, ErrorCode::Unimplemented, None)
            }
            // Java reads the token's length before anything else: a null one throws, and the
            // connection is dropped without an answer.
            RequestBody::Sasl(r) if r.token.is_none() => out.push(Action::Close { conn }),
            RequestBody::Sasl(r) => {
                // The request's copy of the connection goes first, so its ids change in place.
                drop(c);
                self.sasl(conn, xid, r.token.as_deref().unwrap_or_default(), out)
            }
            body if virtual_tree::is_snapshot_now(&body) => {
                self.snapshot_now(conn, &c, xid, body, out, wall_ms)
            }
            body if body.op().is_write() => {
                self.write(conn, &c, xid, body, Nulls::NONE, out, wall_ms)
            }
            body => self.read(conn, &c, xid, body, out),
        }
    }

    /// One write, answered at its commit; `nulls` are the places a request sent null where our
    /// records need values.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write(
        &mut self,
        conn: ConnId,
        c: &Conn,
        xid: i32,
        body: RequestBody,
        nulls: &Nulls,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let op = body.op();
        let prep = Prep {
            tree: &self.tree,
            outstanding: &self.outstanding,
            config: &self.config,
            nulls,
        };
        let zxid = self.last_proposed_zxid + 1;
        let (header_op, txn) = match &body {
            RequestBody::Multi(multi) => (OpCode::Multi, prep.multi(c, multi, zxid)),
            // Only the container sweep deletes containers; a client asking for it would bypass
            // every ACL. Java fails it in prep, so it still takes a zxid.
            RequestBody::DeleteContainer(_) => (op, Err(ErrorCode::BadArguments)),
            other if virtual_tree::write_error(other).is_some() => {
                (op, Err(virtual_tree::write_error(other).expect("checked")))
            }
            other => (op, prep.prep(c, other)),
        };
        let txn = txn.and_then(|txn| self.check_txn_size(c.session_id, xid, txn));
        let (header_op, txn) = match txn {
            Ok(txn) => (header_op, txn),
            Err(code) => (OpCode::Error, Txn::Error(ErrorTxn { err: code.code() })),
        };
        let header = self.next_header(c.session_id, xid, header_op, wall_ms);
        let completion = Completion::Reply {
            conn,
            xid,
            request: Some(body),
        };
        self.propose(header, txn, out, completion);
    }

    /// Refuses a txn whose log record would be larger than the log reader accepts, before
    /// anything of it is applied or acknowledged (a multi of many creates, or ACLs that
    /// expand to many ids, can be far larger than its request). Java has no such check and
    /// then cannot restart.
    pub(super) fn check_txn_size(&mut self, session: i64, cxid: i32, txn: Txn) -> PrepResult {
        if !self.fits_one_record(&txn) {
            warn!(
                session = %format_args!("{session:#x}"),
                cxid,
                max = self.config.max_txn_bytes,
                "refusing a write whose txn would be too large to read back (jute.maxbuffer + zookeeper.jute.maxbuffer.extrasize)"
            );
            return Err(ErrorCode::BadArguments);
        }
        Ok(txn)
    }

    /// Whether `txn`'s log record (the txn with its header and digest) is no larger than the
    /// log reader accepts.
    pub(super) fn fits_one_record(&mut self, txn: &Txn) -> bool {
        self.scratch.clear();
        txn.write(&mut self.scratch);
        self.scratch.len() + TXN_RECORD_EXTRA <= self.config.max_txn_bytes
    }
}

/// Whether a request may be served before the pending writes of its connection: writes that
/// certainly take a zxid (their replies then come in zxid order), and auth and SASL, which
/// Java answers outside the pipeline. Anything else waits, so replies keep request order.
pub(super) fn overtakes(request: &ClientRequest) -> bool {
    match request {
        // The snapshot create is answered without a txn: it waits like a read.
        ClientRequest::Decoded {
            body, nulls: None, ..
        } if virtual_tree::is_snapshot_now(body) => false,
        ClientRequest::Decoded {
            body, nulls: None, ..
        } => body.op().is_write() || matches!(body.op(), OpCode::Auth | OpCode::Sasl),
        ClientRequest::Decoded { body, .. } => matches!(body.op(), OpCode::Auth),
        ClientRequest::Malformed { op, .. } => {
            (op.is_write() && *op != OpCode::Reconfig) || matches!(op, OpCode::Auth | OpCode::Sasl)
        }
        ClientRequest::BadHeader(_) => true,
    }
}

/// What a txn-log record holds besides the txn: its header (client id, cxid, zxid, time,
/// type) and the digest (version and value).
pub(super) const TXN_RECORD_EXTRA: usize = 8 + 4 + 8 + 8 + 4 + 4 + 8;

/// `write_per_namespace` of an applied txn: each create, setData and delete, as Java's
/// DataTree counts them (a multi's ops one by one).
fn record_writes(metrics: &mut crate::metrics::LocalMetrics, txn: &Txn) {
    match txn {
        Txn::Delete(t) => metrics.write(&t.path, 0),
        Txn::SetData(t) => metrics.write(&t.path, t.data.as_ref().map_or(0, |d| d.len())),
        Txn::Multi(m) => {
            for (_, sub) in m.decode_all().unwrap_or_default() {
                record_writes(metrics, &sub);
            }
        }
        other => {
            if let Some(create) = crate::tree::CreateParts::of(0, other) {
                metrics.write(create.path, create.data.as_ref().map_or(0, |d| d.len()));
            }
        }
    }
}
