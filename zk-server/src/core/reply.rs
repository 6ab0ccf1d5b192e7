//! What the core sends: frame payloads (a large getData's data shared with the tree), replies,
//! the reply bodies of applied writes, and watch notifications.

use super::*;

/// A frame payload (without its length prefix), in up to three parts written one after the
/// other. A getData reply keeps the node's data as its own part, shared with the tree, so
/// replies queued for a client that reads slowly do not each hold a copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    parts: [Bytes; 3],
}

impl Payload {
    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Bytes; 3] {
        &self.parts
    }

    /// The payload as one buffer (copies when it has several parts).
    pub fn to_bytes(&self) -> Bytes {
        match &self.parts {
            [one, b, c] if b.is_empty() && c.is_empty() => one.clone(),
            parts => parts.concat().into(),
        }
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload {
            parts: [bytes, Bytes::new(), Bytes::new()],
        }
    }
}

/// Data at least this large is shared with the tree in a reply rather than copied.
pub(super) const SHARED_DATA_MIN: usize = 4096;

impl ServerCore {
    /// Sends the reply to request `xid` and accounts for it: the latencies (server,
    /// connection and `readlatency`/`updatelatency`), the reply size, the connection's last
    /// cxid and zxid. Requests older than `xid` that got no reply are forgotten with it.
    pub(super) fn send_answer(
        &mut self,
        out: &mut Vec<Action>,
        conn: ConnId,
        xid: i32,
        zxid: i64,
        payload: impl Into<Payload>,
    ) {
        let payload = payload.into();
        self.counters.packets_sent += 1;
        self.counters.response_sizes.add(payload.len() as i32);
        let now = self.clock_ms;
        let latency = self.conns.get_mut(&conn).and_then(|c| {
            c.stats.packets_sent += 1;
            c.answered(xid, zxid, now)
        });
        out.push(Action::Send { conn, payload });
        if let Some((latency, write)) = latency {
            self.counters.request_latency.add(latency);
            self.local_metrics.latency(write, latency);
        }
    }

    pub(super) fn send(
        &mut self,
        out: &mut Vec<Action>,
        conn: ConnId,
        payload: impl Into<Payload>,
    ) {
        self.counters.packets_sent += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.packets_sent += 1;
        }
        out.push(Action::Send {
            conn,
            payload: payload.into(),
        });
    }

    pub(super) fn reply(
        &mut self,
        out: &mut Vec<Action>,
        conn: ConnId,
        xid: i32,
        zxid: i64,
        err: ErrorCode,
        body: Option<ResponseBody>,
    ) {
        // An error reply carries no body.
        let body = match body {
            Some(body) if err.is_ok() => body,
            _ => ResponseBody::Empty,
        };
        if let ResponseBody::GetData(GetDataResponse {
            data: Some(data),
            stat,
        }) = &body
        {
            if data.len() >= SHARED_DATA_MIN {
                // The same bytes as Reply::write, with the data as a part of its own.
                let mut head = BytesMut::with_capacity(20);
                zk_proto::proto::ReplyHeader::new(xid, zxid, err).write(&mut head);
                head.extend_from_slice(&(data.len() as i32).to_be_bytes());
                let mut tail = BytesMut::with_capacity(80);
                stat.write(&mut tail);
                let payload = Payload {
                    parts: [head.freeze(), data.clone(), tail.freeze()],
                };
                self.send_answer(out, conn, xid, zxid, payload);
                return;
            }
        }
        let mut payload = BytesMut::with_capacity(64);
        Reply::new(xid, zxid, err, body).write(&mut payload);
        self.send_answer(out, conn, xid, zxid, payload.freeze());
    }
}

/// The reply of an applied write.
pub(super) fn write_response(
    request: &RequestBody,
    result: &ApplyResult,
) -> (ErrorCode, Option<ResponseBody>) {
    if let RequestBody::Multi(multi) = request {
        // A failed multi answers an error entry for every op: OK (rolled back) before the
        // failing one, its code, then RUNTIMEINCONSISTENCY, as Java's sub-results are errors.
        let failed = !result.err.is_ok();
        let results = multi
            .ops
            .iter()
            .zip(&result.multi)
            .map(|(op, r)| {
                if failed {
                    MultiResult::Error(r.err)
                } else {
                    multi_result(op, r)
                }
            })
            .collect();
        // A failed multi still answers OK in the header; the codes are per op.
        return (
            ErrorCode::Ok,
            Some(ResponseBody::Multi(MultiResponse { results })),
        );
    }
    if !result.err.is_ok() {
        return (result.err, None);
    }
    let path = result.path.clone().unwrap_or_default();
    let stat = result.stat.clone().unwrap_or_default();
    let body = match request.op() {
        OpCode::Create => ResponseBody::Create(CreateResponse { path }),
        OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
            ResponseBody::Create2(Create2Response { path, stat })
        }
        OpCode::SetData => ResponseBody::SetData(SetDataResponse { stat }),
        OpCode::SetAcl => ResponseBody::SetAcl(SetAclResponse { stat }),
        _ => return (ErrorCode::Ok, None),
    };
    (ErrorCode::Ok, Some(body))
}

/// The reply entry of one multi sub-op: creates answer their path (containers and TTL nodes
/// with a Stat too), deletes and checks nothing, setData the Stat; failures their code.
pub(super) fn multi_result(op: &MultiOp, r: &ApplyResult) -> MultiResult {
    if !r.err.is_ok() {
        return MultiResult::Error(r.err);
    }
    let path = r.path.clone().unwrap_or_default();
    let stat = r.stat.clone().unwrap_or_default();
    match op {
        MultiOp::Create(_) | MultiOp::Create2(_) => MultiResult::Create(CreateResponse { path }),
        MultiOp::CreateContainer(_) | MultiOp::CreateTtl(_) => {
            MultiResult::Create2(Create2Response { path, stat })
        }
        MultiOp::Delete(_) => MultiResult::Delete,
        MultiOp::SetData(_) => MultiResult::SetData(SetDataResponse { stat }),
        MultiOp::Check(_) => MultiResult::Check,
        MultiOp::GetData(_) | MultiOp::GetChildren(_) => {
            MultiResult::Error(ErrorCode::MarshallingError)
        }
    }
}

/// The frame payload of a watch notification.
pub(super) fn notification(zxid: i64, event: WatcherEvent) -> Bytes {
    let mut out = BytesMut::with_capacity(32 + event.path.len());
    zk_proto::message::Notification::new(zxid, event).write(&mut out);
    out.freeze()
}

/// Java's `lastOp` code of an answered operation (`cons`). The codes of the original
/// operations come from Java's FinalRequestProcessor; those of later opcodes follow its style.
pub(super) fn last_op_code(op: OpCode) -> &'static str {
    match op {
        OpCode::Ping => "PING",
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => "CREA",
        OpCode::Delete | OpCode::DeleteContainer => "DELE",
        OpCode::SetData => "SETD",
        OpCode::SetAcl => "SETA",
        OpCode::CloseSession => "CLOS",
        OpCode::Sync => "SYNC",
        OpCode::Exists => "EXIS",
        OpCode::GetData => "GETD",
        OpCode::SetWatches | OpCode::SetWatches2 => "SETW",
        OpCode::GetAcl => "GETA",
        OpCode::GetChildren | OpCode::GetChildren2 => "GETC",
        OpCode::Multi => "MULT",
        OpCode::MultiRead => "MLTR",
        OpCode::CheckWatches => "CHKW",
        OpCode::RemoveWatches => "REMW",
        OpCode::AddWatch => "ADDW",
        OpCode::GetEphemerals => "GETE",
        OpCode::GetAllChildrenNumber => "GETACN",
        OpCode::WhoAmI => "WHOAMI",
        OpCode::Auth => "AUTH",
        _ => "NA",
    }
}

#[cfg(test)]
mod reply_tests {
    use super::*;

    #[test]
    fn a_shared_get_data_reply_is_the_bytes_java_sends() {
        let mut core = ServerCore::new(CoreConfig::default(), DataTree::new(false), 0, 1);
        for len in [0, 10, SHARED_DATA_MIN - 1, SHARED_DATA_MIN, 100_000] {
            let data = Bytes::from(vec![7u8; len]);
            let stat = Stat {
                czxid: 5,
                data_length: len as i32,
                ..Stat::default()
            };
            let body = ResponseBody::GetData(GetDataResponse {
                data: Some(data.clone()),
                stat: stat.clone(),
            });
            let mut out = Vec::new();
            core.reply(&mut out, 3, 9, 0x42, ErrorCode::Ok, Some(body.clone()));
            let Some(Action::Send { payload, .. }) = out.pop() else {
                panic!("one send");
            };
            let mut expected = Vec::new();
            Reply::new(9, 0x42, ErrorCode::Ok, body).write(&mut expected);
            assert_eq!(&payload.to_bytes()[..], &expected[..], "len {len}");
            if len >= SHARED_DATA_MIN {
                // The data is the tree's buffer, not a copy.
                assert_eq!(payload.parts()[1].as_ptr(), data.as_ptr());
            }
        }
    }
}
