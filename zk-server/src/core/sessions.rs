//! Connections and sessions: the handshake (a new session is a createSession txn, a
//! re-attach is answered at once), disconnects, expiry and the container/TTL sweep, whose
//! closeSession and deleteContainer txns go through the pipeline like any write.

use super::*;

impl ServerCore {
    /// The handshake frame of a new connection; `transport_ids` are the ids its transport
    /// authenticated (a TLS client certificate's), which the connection holds before its `ip`.
    pub fn connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        payload: &[u8],
        transport_ids: Vec<Id>,
        now_ms: u64,
        wall_ms: i64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.counters.packets_received += 1;
        self.config
            .metrics
            .add(crate::metrics::Counter::ConnectionRequestCount, 1);
        let request = match ConnectRequest::read(&mut &payload[..]) {
            Ok(r) => r,
            Err(e) => {
                warn!(conn, error = %e, "malformed ConnectRequest; closing");
                out.push(Action::Close { conn });
                return out;
            }
        };
        if request.last_zxid_seen > self.last_zxid {
            // The client has seen a newer state than ours: it must find another server.
            info!(conn, client_zxid = %format_args!("{:#x}", request.last_zxid_seen), our_zxid = %format_args!("{:#x}", self.last_zxid), "refusing a client that is ahead of us");
            out.push(Action::Close { conn });
            return out;
        }
        let sent_read_only_byte = request.read_only.is_some();
        let timeout = negotiate_timeout(
            request.time_out,
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        let refuse = |core: &mut Self, out: &mut Vec<Action>| {
            let resp = ConnectResponse {
                protocol_version: 0,
                time_out: 0,
                session_id: 0,
                passwd: Bytes::from_static(&[0; 16]),
                read_only: sent_read_only_byte.then_some(false),
            };
            core.send(out, conn, Bytes::from(resp.to_jute_bytes()));
            out.push(Action::Close { conn });
        };
        // Java's TLS handshake adds the certificate's ids before the connect request adds `ip`.
        let mut auth_ids = acl::AuthIds::default();
        for id in transport_ids {
            auth_ids.add(id);
        }
        auth_ids.add(Id::new("ip", peer.ip().to_string()));
        let new_conn = |session_id: i64, establishing: bool, last_zxid: i64| Conn {
            session_id,
            auth_ids: std::sync::Arc::new(auth_ids),
            stats: ConnStats {
                peer: Some(peer),
                packets_received: 1,
                last_op: "SESS",
                last_cxid: 0,
                last_zxid,
                established_wall_ms: wall_ms,
                session_timeout_ms: timeout,
                ..ConnStats::default()
            },
            pending_writes: 0,
            establishing,
            held: std::collections::VecDeque::new(),
            in_flight: std::collections::VecDeque::new(),
        };
        // The answer to a session accepted (opened or re-attached).
        let accepted = |session_id: i64| ConnectResponse {
            protocol_version: 0,
            time_out: timeout,
            session_id,
            passwd: Bytes::copy_from_slice(&session_password(session_id)),
            read_only: sent_read_only_byte.then_some(false),
        };
        if request.session_id != 0 {
            let id = request.session_id;
            let valid = request.passwd[..] == session_password(id)[..]
                && self.sessions.get(id).is_some_and(|s| !s.closing);
            if !valid {
                info!(conn, session = %format_args!("{id:#x}"), "refusing to re-attach an invalid or expired session");
                refuse(self, &mut out);
                return out;
            }
            if self.role == Role::Learner {
                // The leader owns expiry: it decides whether the session is still valid
                // (Java's follower revalidates every global session with the leader).
                self.conns.insert(conn, new_conn(id, true, self.last_zxid));
                self.revalidating.insert(id, (conn, accepted(id)));
                out.push(Action::Revalidate {
                    session_id: id,
                    timeout_ms: timeout,
                });
                return out;
            }
            self.sessions.touch(id, now_ms);
            // A session has one connection: the previous one is closed.
            if let Some(old) = self.session_conns.insert(id, conn) {
                if old != conn {
                    self.drop_conn(old);
                    out.push(Action::Close { conn: old });
                }
            }
            info!(conn, session = %format_args!("{id:#x}"), timeout, "session re-attached");
            self.conns.insert(conn, new_conn(id, false, self.last_zxid));
            let resp = accepted(id);
            self.send(&mut out, conn, Bytes::from(resp.to_jute_bytes()));
        } else {
            // A new session is a createSession txn; the ConnectResponse waits for its commit.
            let id = self.sessions.next_session_id();
            if self.role == Role::Learner {
                // The leader logs it (the request carries the negotiated timeout); the
                // session is tracked here when its txn comes back committed.
                // Tracked here at once (a learner never expires it), so its requests wait
                // for the commit rather than being dropped.
                self.sessions.add(id, timeout as u32, now_ms);
                self.session_conns.insert(id, conn);
                let c = new_conn(id, true, self.last_zxid);
                self.conns.insert(conn, c.clone());
                info!(conn, session = %format_args!("{id:#x}"), timeout, "session opened through the leader");
                let response = accepted(id);
                let body = Bytes::copy_from_slice(&timeout.to_be_bytes());
                self.forward(
                    &c,
                    0,
                    OpCode::CreateSession,
                    body,
                    Completion::Connected { conn, response },
                    &mut out,
                );
                return out;
            }
            self.sessions.add(id, timeout as u32, now_ms);
            self.session_conns.insert(id, conn);
            self.conns
                .insert(conn, new_conn(id, true, self.last_proposed_zxid + 1));
            info!(conn, session = %format_args!("{id:#x}"), timeout, "session opened");
            let header = self.next_header(id, 0, OpCode::CreateSession, wall_ms);
            let response = accepted(id);
            self.propose(
                header,
                Txn::CreateSession(CreateSessionTxn { time_out: timeout }),
                &mut out,
                Completion::Connected { conn, response },
            );
        }
        out
    }

    /// The connection closed (by the client or the runtime): its watches go; its session
    /// stays until it expires or is closed. Its writes still commit; nothing is answered.
    pub fn disconnected(&mut self, conn: ConnId) {
        self.drop_conn(conn);
    }

    pub(super) fn drop_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.session_conns.get(&c.session_id) == Some(&conn) {
                self.session_conns.remove(&c.session_id);
            }
        }
        self.watches.remove_connection(conn);
        self.sasl_exchanges.remove(&conn);
    }

    /// Expires sessions whose time is up: each gets a closeSession txn; when it commits, its
    /// ephemerals go with their watch events and its connection (if any) is closed.
    pub fn tick(&mut self, now_ms: u64, wall_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        // Only the leader (or a standalone server) expires sessions and reaps containers;
        // a learner applies the txns those become.
        if self.role == Role::Learner {
            return out;
        }
        for id in self.sessions.expire(now_ms) {
            info!(session = %format_args!("{id:#x}"), "session expired");
            self.config
                .metrics
                .add(crate::metrics::Counter::StaleSessionsExpired, 1);
            self.close_session(id, 0, wall_ms, &mut out, Completion::SessionExpired);
        }
        if now_ms >= self.next_reap_ms {
            self.next_reap_ms = now_ms + self.config.container_check_interval_ms.max(1);
            self.reap(wall_ms, &mut out);
        }
        out
    }

    /// Java's ContainerManager: deletes containers that had children and have none left (or,
    /// with `container_max_never_used_ms`, never had any for that long) and TTL nodes without
    /// children untouched for longer than their TTL, each with a deleteContainer txn.
    pub(super) fn reap(&mut self, wall_ms: i64, out: &mut Vec<Action>) {
        let never_used_ms = self.config.container_max_never_used_ms as i64;
        let mut candidates: Vec<String> = Vec::new();
        for path in self.tree.containers() {
            let Some(node) = self.tree.node(path) else {
                continue;
            };
            if node.child_count() != 0 {
                continue;
            }
            let emptied = node.stat.cversion > 0;
            let never_used = never_used_ms > 0
                && node.stat.cversion == 0
                && wall_ms - node.stat.mtime >= never_used_ms;
            if emptied || never_used {
                candidates.push(path.clone());
            }
        }
        for path in self.tree.ttl_nodes() {
            let Some(node) = self.tree.node(path) else {
                continue;
            };
            if let OwnerKind::Ttl(ttl) =
                OwnerKind::of(node.stat.ephemeral_owner, self.config.extended_types)
            {
                if node.child_count() == 0 && ttl != 0 && wall_ms - node.stat.mtime > ttl {
                    candidates.push(path.clone());
                }
            }
        }
        candidates.sort();
        let system = Conn::system();
        for path in candidates {
            let body = RequestBody::DeleteContainer(path.clone());
            // Prepped like a client's request: against the txns in flight too.
            let prep = Prep {
                tree: &self.tree,
                outstanding: &self.outstanding,
                config: &self.config,
                nulls: Nulls::NONE,
            };
            let txn = match prep.prep(&system, &body) {
                Ok(txn) => txn,
                Err(code) => {
                    debug!(%path, %code, "container or TTL node no longer deletable");
                    continue;
                }
            };
            let header = self.next_header(0, 0, OpCode::DeleteContainer, wall_ms);
            info!(%path, "deleting an empty container or expired TTL node");
            self.propose(header, txn, out, Completion::Nothing);
        }
    }

    /// Proposes a session's closeSession txn; `complete` says what its commit does.
    pub(super) fn close_session(
        &mut self,
        id: i64,
        cxid: i32,
        wall_ms: i64,
        out: &mut Vec<Action>,
        complete: Completion,
    ) {
        self.sessions.set_closing(id);
        // The ephemerals as of every txn proposed, as Java's prep sees them.
        let paths = self.outstanding.ephemerals(&self.tree, id);
        let mut txn = Txn::CloseSession(Some(CloseSessionTxn {
            paths2_delete: paths,
        }));
        // A session cannot be refused its close. When its ephemerals do not fit one record,
        // the txn goes without the list, as Java writes it with closeSessionTxn.enabled=false:
        // replay then deletes the session's ephemerals from the tree, the same set.
        if !self.fits_one_record(&txn) {
            info!(session = %format_args!("{id:#x}"), "closeSession logged without its path list (too large for one record)");
            txn = Txn::CloseSession(None);
        }
        let header = self.next_header(id, cxid, OpCode::CloseSession, wall_ms);
        self.propose(header, txn, out, complete);
    }
}
