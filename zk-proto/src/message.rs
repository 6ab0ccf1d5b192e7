//! Whole client-protocol messages after the handshake, decoded by opcode.
//!
//! A frame payload (the bytes after the 4-byte length) is a header and, depending on the opcode,
//! one record:
//!
//! - client to server: [`Request`] = [`RequestHeader`] + [`RequestBody`];
//! - server to client: [`ServerMessage`], which is a watch [`Notification`] (xid -1), a ping reply
//!   (xid -2), an auth reply (xid -4), or a reply to a queued request. A reply body can only be
//!   decoded once the request's opcode is known, so [`ServerMessage::decode`] hands back the raw
//!   body and the client finishes with [`ResponseBody::decode`] (or [`Reply::decode`]) after
//!   looking the xid up in its pending queue.
//!
//! **Trailing bytes.** Java's server reads a request record from the front of the payload and
//! never checks that it used all of it (`ByteBufferInputStream.byteBuffer2Record`), and Java's
//! client does the same with reply records. The decoders here do likewise: bytes after the
//! record are ignored by [`Request::decode`], [`RequestBody::decode`], [`ResponseBody::decode`]
//! and [`ServerMessage::decode`]. [`Request::decode_exact`] is the strict form, for tests and
//! for callers that want to log sloppy peers. Inside a complete payload, running out of bytes is
//! [`DecodeError::Invalid`] (a truncated record), never `Incomplete`.
//!
//! ```
//! use zk_proto::{OpCode, message::{Request, RequestBody}, proto::GetDataRequest};
//! let request = Request::new(11, RequestBody::GetData(GetDataRequest { path: "/pr".into(), watch: true }));
//! let payload = request.encode();
//! assert_eq!(&payload[4..8], &4i32.to_be_bytes()); // the opcode
//! assert_eq!(Request::decode(&payload).unwrap(), request);
//! assert_eq!(request.header.r#type, OpCode::GetData);
//! ```

use crate::jute::{decode_java_utf8, DecodeError, FieldPath, FieldStep, Jute, NullLog};
use crate::proto::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, Create2Response,
    CreateRequest, CreateResponse, CreateTtlRequest, DeleteRequest, ErrorResponse, ExistsRequest,
    ExistsResponse, GetAclRequest, GetAclResponse, GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse, GetChildren2Request, GetChildren2Response, GetChildrenRequest,
    GetChildrenResponse, GetDataRequest, GetDataResponse, GetEphemeralsRequest,
    GetEphemeralsResponse, GetSaslRequest, MultiHeader, ReconfigRequest, RemoveWatchesRequest,
    ReplyHeader, RequestHeader, SetAclRequest, SetAclResponse, SetDataRequest, SetDataResponse,
    SetSaslResponse, SetWatches, SetWatches2, SyncRequest, SyncResponse, WatcherEvent,
    WhoAmIResponse,
};
use crate::types::{xid, ErrorCode, OpCode};
use bytes::{BufMut, Bytes};

// ---------------------------------------------------------------------------------------------
// multi and multiRead
// ---------------------------------------------------------------------------------------------

/// One sub-operation of a multi (writes) or multiRead (reads) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create (1).
    Create(CreateRequest),
    /// create2 (15).
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13): a version check that writes nothing.
    Check(CheckVersionRequest),
    /// getData (4), multiRead only.
    GetData(GetDataRequest),
    /// getChildren (8), multiRead only.
    GetChildren(GetChildrenRequest),
}

impl MultiOp {
    /// The opcode written in this sub-op's [`MultiHeader`].
    pub fn op(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }

    /// The path the sub-op addresses.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => &r.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
        }
    }

    /// Whether this is a read (allowed only in multiRead); every other sub-op is a write
    /// (allowed only in multi).
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }

    fn write_record<B: BufMut>(&self, out: &mut B) {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => r.write(out),
            MultiOp::CreateTtl(r) => r.write(out),
            MultiOp::Delete(r) => r.write(out),
            MultiOp::SetData(r) => r.write(out),
            MultiOp::Check(r) => r.write(out),
            MultiOp::GetData(r) => r.write(out),
            MultiOp::GetChildren(r) => r.write(out),
        }
    }

    fn read_record(
        op: OpCode,
        input: &mut &[u8],
        log: &mut Option<&mut NullLog>,
    ) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Create => MultiOp::Create(record(input, log)?),
            OpCode::Create2 => MultiOp::Create2(record(input, log)?),
            OpCode::CreateContainer => MultiOp::CreateContainer(record(input, log)?),
            OpCode::CreateTtl => MultiOp::CreateTtl(record(input, log)?),
            OpCode::Delete => MultiOp::Delete(record(input, log)?),
            OpCode::SetData => MultiOp::SetData(record(input, log)?),
            OpCode::Check => MultiOp::Check(record(input, log)?),
            OpCode::GetData => MultiOp::GetData(record(input, log)?),
            OpCode::GetChildren => MultiOp::GetChildren(record(input, log)?),
            other => {
                return Err(DecodeError::invalid(
                    "multi op",
                    format!("type {} cannot be a multi sub-op", other.code()),
                ))
            }
        })
    }
}

/// The body of a multi (14) or multiRead (22) request (Java's `MultiOperationRecord`).
///
/// On the wire, each sub-op is a [`MultiHeader`] `{type, done false, err -1}` and its record, and
/// the list ends with [`MultiHeader::END`]. As in Java, the list ends at the first header with
/// `done` set, and the `err` of request headers is not checked.
///
/// The [`Jute`] impl accepts any of the nine sub-op types; [`RequestBody::decode`] additionally
/// requires writes only under multi and reads only under multiRead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    /// The sub-operations, in order.
    pub ops: Vec<MultiOp>,
}

impl Jute for MultiRequest {
    fn write<B: BufMut>(&self, out: &mut B) {
        for op in &self.ops {
            MultiHeader::op(op.op()).write(out);
            op.write_record(out);
        }
        MultiHeader::END.write(out);
    }

    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Self::read_ops(input, &mut None)
    }

    /// Nulls inside sub-op `n` are recorded below `Index(n)`.
    fn read_nulls(input: &mut &[u8], log: &mut NullLog) -> Result<Self, DecodeError> {
        Self::read_ops(input, &mut Some(log))
    }
}

impl MultiRequest {
    fn read_ops(input: &mut &[u8], log: &mut Option<&mut NullLog>) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        loop {
            let header = MultiHeader::read(input)?;
            if header.done {
                return Ok(MultiRequest { ops });
            }
            let op = match log {
                None => MultiOp::read_record(header.r#type, input, &mut None)?,
                Some(log) => log.within(FieldStep::Index(ops.len()), |log| {
                    MultiOp::read_record(header.r#type, input, &mut Some(log))
                })?,
            };
            ops.push(op);
        }
    }
}

/// One record, read with [`Jute::read`], or with [`Jute::read_nulls`] when there is a log.
fn record<T: Jute>(input: &mut &[u8], log: &mut Option<&mut NullLog>) -> Result<T, DecodeError> {
    match log {
        None => T::read(input),
        Some(log) => T::read_nulls(input, log),
    }
}

impl MultiRequest {
    /// Checks that every sub-op may appear under `op`: writes under multi, reads under
    /// multiRead. A violation is what Java answers with MARSHALLINGERROR.
    pub fn check_kind(&self, op: OpCode) -> Result<(), DecodeError> {
        let want_read = op == OpCode::MultiRead;
        match self.ops.iter().find(|sub| sub.is_read() != want_read) {
            None => Ok(()),
            Some(sub) => Err(DecodeError::invalid(
                "multi op",
                format!("{} is not allowed in {}", sub.op().name(), op.name()),
            )),
        }
    }
}

/// One result of a multi or multiRead reply (Java's `OpResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// A create (1) succeeded.
    Create(CreateResponse),
    /// A create2, createContainer or createTTL succeeded (result type 15).
    Create2(Create2Response),
    /// A delete (2) succeeded; no record.
    Delete,
    /// A setData (5) succeeded.
    SetData(SetDataResponse),
    /// A check (13) succeeded; no record.
    Check,
    /// A multiRead getData (4) succeeded.
    GetData(GetDataResponse),
    /// A multiRead getChildren (8) succeeded.
    GetChildren(GetChildrenResponse),
    /// The sub-op failed, or (with `Ok`) would have succeeded in a multi that failed elsewhere.
    /// Result type -1 with an [`ErrorResponse`] record; the header's `err` is the same code.
    Error(ErrorCode),
}

impl MultiResult {
    /// The result type written in the [`MultiHeader`].
    pub fn op(&self) -> OpCode {
        match self {
            MultiResult::Create(_) => OpCode::Create,
            MultiResult::Create2(_) => OpCode::Create2,
            MultiResult::Delete => OpCode::Delete,
            MultiResult::SetData(_) => OpCode::SetData,
            MultiResult::Check => OpCode::Check,
            MultiResult::GetData(_) => OpCode::GetData,
            MultiResult::GetChildren(_) => OpCode::GetChildren,
            MultiResult::Error(_) => OpCode::Error,
        }
    }

    /// The result code: the error's code for [`MultiResult::Error`], else `Ok`.
    pub fn err(&self) -> ErrorCode {
        match self {
            MultiResult::Error(err) => *err,
            _ => ErrorCode::Ok,
        }
    }
}

/// The body of a multi or multiRead reply (Java's `MultiResponse`).
///
/// Each result is a [`MultiHeader`] `{type, done false, err}` and its record, then
/// [`MultiHeader::END`]. The header `err` is written as Java writes it (0, or the code of an error
/// result); when reading, an error result's code is taken from its [`ErrorResponse`] record, as
/// Java does, and the header `err` is not checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    /// One result per sub-op, in order.
    pub results: Vec<MultiResult>,
}

impl Jute for MultiResponse {
    fn write<B: BufMut>(&self, out: &mut B) {
        for result in &self.results {
            MultiHeader {
                r#type: result.op(),
                done: false,
                err: result.err().code(),
            }
            .write(out);
            match result {
                MultiResult::Create(r) => r.write(out),
                MultiResult::Create2(r) => r.write(out),
                MultiResult::SetData(r) => r.write(out),
                MultiResult::GetData(r) => r.write(out),
                MultiResult::GetChildren(r) => r.write(out),
                MultiResult::Error(err) => ErrorResponse { err: *err }.write(out),
                MultiResult::Delete | MultiResult::Check => {}
            }
        }
        MultiHeader::END.write(out);
    }

    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let header = MultiHeader::read(input)?;
            if header.done {
                return Ok(MultiResponse { results });
            }
            results.push(match header.r#type {
                OpCode::Create => MultiResult::Create(Jute::read(input)?),
                OpCode::Create2 => MultiResult::Create2(Jute::read(input)?),
                OpCode::Delete => MultiResult::Delete,
                OpCode::SetData => MultiResult::SetData(Jute::read(input)?),
                OpCode::Check => MultiResult::Check,
                OpCode::GetData => MultiResult::GetData(Jute::read(input)?),
                OpCode::GetChildren => MultiResult::GetChildren(Jute::read(input)?),
                OpCode::Error => MultiResult::Error(ErrorResponse::read(input)?.err),
                other => {
                    return Err(DecodeError::invalid(
                        "multi result",
                        format!("type {} cannot be a multi result", other.code()),
                    ))
                }
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// requests
// ---------------------------------------------------------------------------------------------

/// The record after a [`RequestHeader`], one variant per opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// create (1).
    Create(CreateRequest),
    /// create2 (15): create, and reply with the Stat too.
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// exists (3).
    Exists(ExistsRequest),
    /// getData (4).
    GetData(GetDataRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// getACL (6).
    GetAcl(GetAclRequest),
    /// setACL (7).
    SetAcl(SetAclRequest),
    /// getChildren (8).
    GetChildren(GetChildrenRequest),
    /// getChildren2 (12).
    GetChildren2(GetChildren2Request),
    /// sync (9).
    Sync(SyncRequest),
    /// ping (11), no body; sent with xid -2.
    Ping,
    /// A top-level check (13). Valid only inside multi: a 3.8.0 server crashes on it, so a server
    /// must answer it with an error and never log it, and a client must not send it.
    Check(CheckVersionRequest),
    /// multi (14): write sub-ops, applied atomically.
    Multi(MultiRequest),
    /// multiRead (22): getData/getChildren sub-ops, answered independently.
    MultiRead(MultiRequest),
    /// reconfig (16).
    Reconfig(ReconfigRequest),
    /// checkWatches (17).
    CheckWatches(CheckWatchesRequest),
    /// removeWatches (18).
    RemoveWatches(RemoveWatchesRequest),
    /// deleteContainer (20). The body is the raw UTF-8 path, not a jute string.
    DeleteContainer(String),
    /// auth (100), sent with xid -4.
    Auth(AuthPacket),
    /// setWatches (101).
    SetWatches(SetWatches),
    /// setWatches2 (105).
    SetWatches2(SetWatches2),
    /// sasl (102).
    Sasl(GetSaslRequest),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// whoAmI (107), no body.
    WhoAmI,
    /// closeSession (-11), no body.
    CloseSession,
    /// Any other opcode (including the txn-only ones such as createSession), with its body
    /// unparsed so a server can answer UNIMPLEMENTED.
    Unknown {
        /// The opcode from the header.
        op: OpCode,
        /// Every byte after the header.
        body: Bytes,
    },
}

impl RequestBody {
    /// The opcode that goes in the [`RequestHeader`] of this body.
    pub fn op(&self) -> OpCode {
        match self {
            RequestBody::Create(_) => OpCode::Create,
            RequestBody::Create2(_) => OpCode::Create2,
            RequestBody::CreateContainer(_) => OpCode::CreateContainer,
            RequestBody::CreateTtl(_) => OpCode::CreateTtl,
            RequestBody::Delete(_) => OpCode::Delete,
            RequestBody::Exists(_) => OpCode::Exists,
            RequestBody::GetData(_) => OpCode::GetData,
            RequestBody::SetData(_) => OpCode::SetData,
            RequestBody::GetAcl(_) => OpCode::GetAcl,
            RequestBody::SetAcl(_) => OpCode::SetAcl,
            RequestBody::GetChildren(_) => OpCode::GetChildren,
            RequestBody::GetChildren2(_) => OpCode::GetChildren2,
            RequestBody::Sync(_) => OpCode::Sync,
            RequestBody::Ping => OpCode::Ping,
            RequestBody::Check(_) => OpCode::Check,
            RequestBody::Multi(_) => OpCode::Multi,
            RequestBody::MultiRead(_) => OpCode::MultiRead,
            RequestBody::Reconfig(_) => OpCode::Reconfig,
            RequestBody::CheckWatches(_) => OpCode::CheckWatches,
            RequestBody::RemoveWatches(_) => OpCode::RemoveWatches,
            RequestBody::DeleteContainer(_) => OpCode::DeleteContainer,
            RequestBody::Auth(_) => OpCode::Auth,
            RequestBody::SetWatches(_) => OpCode::SetWatches,
            RequestBody::SetWatches2(_) => OpCode::SetWatches2,
            RequestBody::Sasl(_) => OpCode::Sasl,
            RequestBody::GetEphemerals(_) => OpCode::GetEphemerals,
            RequestBody::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            RequestBody::AddWatch(_) => OpCode::AddWatch,
            RequestBody::WhoAmI => OpCode::WhoAmI,
            RequestBody::CloseSession => OpCode::CloseSession,
            RequestBody::Unknown { op, .. } => *op,
        }
    }

    /// Decodes the body of a request of type `op` from the complete bytes after its header.
    /// Bytes after the record are ignored, as Java's server ignores them (see the module docs).
    /// A multi sub-op of the wrong kind (a read in multi, a write in multiRead) or of a type
    /// never allowed in a multi is [`DecodeError::Invalid`].
    pub fn decode(op: OpCode, body: &[u8]) -> Result<Self, DecodeError> {
        let mut input = body;
        Self::read_from(op, &mut input, &mut None).map_err(|e| e.complete_input("request body"))
    }

    /// Like [`RequestBody::decode`], but a null (-1) where the record type needs a value (a
    /// path, an ACL entry's scheme or id, a watch list or one of its entries, the auth scheme
    /// or data, ...) reads as the empty value, and the places of those nulls come back too (see
    /// [`Jute::read_nulls`]); inside a multi, below the sub-op's index. Java reads such nulls and
    /// reacts to each in its own way, so a server answers from both. Every other error is
    /// [`RequestBody::decode`]'s.
    ///
    /// ```
    /// use zk_proto::jute::{FieldPath, FieldStep};
    /// use zk_proto::{message::RequestBody, OpCode};
    /// // A sync whose path is null.
    /// let (body, nulls) = RequestBody::decode_nulls(OpCode::Sync, &(-1i32).to_be_bytes()).unwrap();
    /// assert_eq!(body, RequestBody::Sync(zk_proto::proto::SyncRequest { path: String::new() }));
    /// assert_eq!(nulls, vec![FieldPath::of(&[FieldStep::Field("path")])]);
    /// assert!(RequestBody::decode(OpCode::Sync, &(-1i32).to_be_bytes()).is_err());
    /// ```
    pub fn decode_nulls(op: OpCode, body: &[u8]) -> Result<(Self, Vec<FieldPath>), DecodeError> {
        let mut input = body;
        let mut log = NullLog::new();
        let body = Self::read_from(op, &mut input, &mut Some(&mut log))
            .map_err(|e| e.complete_input("request body"))?;
        Ok((body, log.into_nulls()))
    }

    /// Reads the body from the front of `input`; variants without a jute record (unknown ops,
    /// deleteContainer) take everything left. With a log, nulls are read as
    /// [`Jute::read_nulls`] reads them.
    fn read_from(
        op: OpCode,
        input: &mut &[u8],
        log: &mut Option<&mut NullLog>,
    ) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Create => RequestBody::Create(record(input, log)?),
            OpCode::Create2 => RequestBody::Create2(record(input, log)?),
            OpCode::CreateContainer => RequestBody::CreateContainer(record(input, log)?),
            OpCode::CreateTtl => RequestBody::CreateTtl(record(input, log)?),
            OpCode::Delete => RequestBody::Delete(record(input, log)?),
            OpCode::Exists => RequestBody::Exists(record(input, log)?),
            OpCode::GetData => RequestBody::GetData(record(input, log)?),
            OpCode::SetData => RequestBody::SetData(record(input, log)?),
            OpCode::GetAcl => RequestBody::GetAcl(record(input, log)?),
            OpCode::SetAcl => RequestBody::SetAcl(record(input, log)?),
            OpCode::GetChildren => RequestBody::GetChildren(record(input, log)?),
            OpCode::GetChildren2 => RequestBody::GetChildren2(record(input, log)?),
            OpCode::Sync => RequestBody::Sync(record(input, log)?),
            OpCode::Ping => RequestBody::Ping,
            OpCode::Check => RequestBody::Check(record(input, log)?),
            OpCode::Multi | OpCode::MultiRead => {
                let multi = record::<MultiRequest>(input, log)?;
                multi.check_kind(op)?;
                if op == OpCode::Multi {
                    RequestBody::Multi(multi)
                } else {
                    RequestBody::MultiRead(multi)
                }
            }
            OpCode::Reconfig => RequestBody::Reconfig(record(input, log)?),
            OpCode::CheckWatches => RequestBody::CheckWatches(record(input, log)?),
            OpCode::RemoveWatches => RequestBody::RemoveWatches(record(input, log)?),
            OpCode::DeleteContainer => {
                RequestBody::DeleteContainer(decode_java_utf8(std::mem::take(input)))
            }
            OpCode::Auth => RequestBody::Auth(record(input, log)?),
            OpCode::SetWatches => RequestBody::SetWatches(record(input, log)?),
            OpCode::SetWatches2 => RequestBody::SetWatches2(record(input, log)?),
            OpCode::Sasl => RequestBody::Sasl(record(input, log)?),
            OpCode::GetEphemerals => RequestBody::GetEphemerals(record(input, log)?),
            OpCode::GetAllChildrenNumber => RequestBody::GetAllChildrenNumber(record(input, log)?),
            OpCode::AddWatch => RequestBody::AddWatch(record(input, log)?),
            OpCode::WhoAmI => RequestBody::WhoAmI,
            OpCode::CloseSession => RequestBody::CloseSession,
            other => RequestBody::Unknown {
                op: other,
                body: Bytes::copy_from_slice(std::mem::take(input)),
            },
        })
    }

    /// Appends the body's encoding (nothing for ping, whoAmI and closeSession).
    pub fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            RequestBody::Create(r) | RequestBody::Create2(r) | RequestBody::CreateContainer(r) => {
                r.write(out)
            }
            RequestBody::CreateTtl(r) => r.write(out),
            RequestBody::Delete(r) => r.write(out),
            RequestBody::Exists(r) => r.write(out),
            RequestBody::GetData(r) => r.write(out),
            RequestBody::SetData(r) => r.write(out),
            RequestBody::GetAcl(r) => r.write(out),
            RequestBody::SetAcl(r) => r.write(out),
            RequestBody::GetChildren(r) => r.write(out),
            RequestBody::GetChildren2(r) => r.write(out),
            RequestBody::Sync(r) => r.write(out),
            RequestBody::Check(r) => r.write(out),
            RequestBody::Multi(r) | RequestBody::MultiRead(r) => r.write(out),
            RequestBody::Reconfig(r) => r.write(out),
            RequestBody::CheckWatches(r) => r.write(out),
            RequestBody::RemoveWatches(r) => r.write(out),
            RequestBody::DeleteContainer(path) => out.put_slice(path.as_bytes()),
            RequestBody::Auth(r) => r.write(out),
            RequestBody::SetWatches(r) => r.write(out),
            RequestBody::SetWatches2(r) => r.write(out),
            RequestBody::Sasl(r) => r.write(out),
            RequestBody::GetEphemerals(r) => r.write(out),
            RequestBody::GetAllChildrenNumber(r) => r.write(out),
            RequestBody::AddWatch(r) => r.write(out),
            RequestBody::Unknown { body, .. } => out.put_slice(body),
            RequestBody::Ping | RequestBody::WhoAmI | RequestBody::CloseSession => {}
        }
    }
}

/// A client request after the handshake: header and body.
///
/// `header.r#type` should equal `body.op()`; [`Request::new`] ensures it, and decoding always
/// produces it. [`Request::write`] writes the header as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The xid and opcode.
    pub header: RequestHeader,
    /// The opcode's record.
    pub body: RequestBody,
}

impl Request {
    /// Request `xid` carrying `body`, with the header's opcode taken from the body.
    pub fn new(xid: i32, body: RequestBody) -> Self {
        Request {
            header: RequestHeader::new(xid, body.op()),
            body,
        }
    }

    /// Decodes a whole frame payload (the bytes after the 4-byte length). Bytes after the body's
    /// record are ignored, as Java's server ignores them.
    ///
    /// A server that must answer a bad body with MARSHALLINGERROR needs the xid even when the
    /// body fails: read the [`RequestHeader`] first, then call [`RequestBody::decode`].
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with_rest(payload).map(|(request, _)| request)
    }

    /// Like [`Request::decode`], but bytes left after the body's record are
    /// [`DecodeError::Invalid`].
    pub fn decode_exact(payload: &[u8]) -> Result<Self, DecodeError> {
        let (request, rest) = Self::decode_with_rest(payload)?;
        if rest != 0 {
            return Err(DecodeError::invalid(
                "request",
                format!(
                    "{rest} bytes left after the {} record",
                    request.header.r#type.name()
                ),
            ));
        }
        Ok(request)
    }

    /// The request and how many bytes after its record were left unread.
    fn decode_with_rest(payload: &[u8]) -> Result<(Self, usize), DecodeError> {
        let mut input = payload;
        let header = RequestHeader::read(&mut input).map_err(|e| e.complete_input("request"))?;
        let body = RequestBody::read_from(header.r#type, &mut input, &mut None)
            .map_err(|e| e.complete_input("request body"))?;
        Ok((Request { header, body }, input.len()))
    }

    /// Appends the payload (header and body, without the length prefix).
    pub fn write<B: BufMut>(&self, out: &mut B) {
        self.header.write(out);
        self.body.write(out);
    }

    /// The payload as a new vector (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// replies
// ---------------------------------------------------------------------------------------------

/// The record after a successful [`ReplyHeader`], chosen by the request's opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    /// No record: an error reply, or an op whose success carries none (delete, ping, check,
    /// checkWatches, removeWatches, deleteContainer, auth, setWatches, setWatches2, closeSession).
    Empty,
    /// The reply to create.
    Create(CreateResponse),
    /// The reply to create2, createContainer and createTTL.
    Create2(Create2Response),
    /// The reply to exists.
    Exists(ExistsResponse),
    /// The reply to getData.
    GetData(GetDataResponse),
    /// The reply to setData.
    SetData(SetDataResponse),
    /// The reply to getACL.
    GetAcl(GetAclResponse),
    /// The reply to setACL.
    SetAcl(SetAclResponse),
    /// The reply to getChildren.
    GetChildren(GetChildrenResponse),
    /// The reply to getChildren2.
    GetChildren2(GetChildren2Response),
    /// The reply to sync.
    Sync(SyncResponse),
    /// The reply to multi and multiRead (the header err is 0 even when sub-ops failed).
    Multi(MultiResponse),
    /// The reply to reconfig: the new config and the Stat of `/zookeeper/config`.
    Reconfig(GetDataResponse),
    /// The reply to sasl.
    Sasl(SetSaslResponse),
    /// The reply to getEphemerals.
    GetEphemerals(GetEphemeralsResponse),
    /// The reply to getAllChildrenNumber.
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// The reply to addWatch: a 4-byte [`ErrorResponse`] (err 0).
    AddWatch(ErrorResponse),
    /// The reply to whoAmI.
    WhoAmI(WhoAmIResponse),
    /// A successful reply to an opcode this crate does not know: the body, unparsed.
    Unknown(Bytes),
}

impl ResponseBody {
    /// Decodes the complete body of a reply to a request of type `op` whose header carried
    /// `err`. When `err` is not `Ok` nothing is read (Java's client ignores such bodies) and the
    /// result is [`ResponseBody::Empty`]. Bytes after the record are ignored, as Java's client
    /// ignores them.
    pub fn decode(op: OpCode, err: ErrorCode, body: &[u8]) -> Result<Self, DecodeError> {
        if !err.is_ok() {
            return Ok(ResponseBody::Empty);
        }
        let mut input = body;
        Self::read_from(op, &mut input).map_err(|e| e.complete_input("response body"))
    }

    fn read_from(op: OpCode, input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Create => ResponseBody::Create(Jute::read(input)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                ResponseBody::Create2(Jute::read(input)?)
            }
            OpCode::Exists => ResponseBody::Exists(Jute::read(input)?),
            OpCode::GetData => ResponseBody::GetData(Jute::read(input)?),
            OpCode::SetData => ResponseBody::SetData(Jute::read(input)?),
            OpCode::GetAcl => ResponseBody::GetAcl(Jute::read(input)?),
            OpCode::SetAcl => ResponseBody::SetAcl(Jute::read(input)?),
            OpCode::GetChildren => ResponseBody::GetChildren(Jute::read(input)?),
            OpCode::GetChildren2 => ResponseBody::GetChildren2(Jute::read(input)?),
            OpCode::Sync => ResponseBody::Sync(Jute::read(input)?),
            OpCode::Multi | OpCode::MultiRead => ResponseBody::Multi(Jute::read(input)?),
            OpCode::Reconfig => ResponseBody::Reconfig(Jute::read(input)?),
            OpCode::Sasl => ResponseBody::Sasl(Jute::read(input)?),
            OpCode::GetEphemerals => ResponseBody::GetEphemerals(Jute::read(input)?),
            OpCode::GetAllChildrenNumber => ResponseBody::GetAllChildrenNumber(Jute::read(input)?),
            OpCode::AddWatch => ResponseBody::AddWatch(Jute::read(input)?),
            OpCode::WhoAmI => ResponseBody::WhoAmI(Jute::read(input)?),
            OpCode::Delete
            | OpCode::Ping
            | OpCode::Check
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::DeleteContainer
            | OpCode::Auth
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::CloseSession => ResponseBody::Empty,
            _ => ResponseBody::Unknown(Bytes::copy_from_slice(std::mem::take(input))),
        })
    }

    /// Appends the body's encoding (nothing for [`ResponseBody::Empty`]).
    pub fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            ResponseBody::Empty => {}
            ResponseBody::Create(r) => r.write(out),
            ResponseBody::Create2(r) => r.write(out),
            ResponseBody::Exists(r) => r.write(out),
            ResponseBody::GetData(r) | ResponseBody::Reconfig(r) => r.write(out),
            ResponseBody::SetData(r) => r.write(out),
            ResponseBody::GetAcl(r) => r.write(out),
            ResponseBody::SetAcl(r) => r.write(out),
            ResponseBody::GetChildren(r) => r.write(out),
            ResponseBody::GetChildren2(r) => r.write(out),
            ResponseBody::Sync(r) => r.write(out),
            ResponseBody::Multi(r) => r.write(out),
            ResponseBody::Sasl(r) => r.write(out),
            ResponseBody::GetEphemerals(r) => r.write(out),
            ResponseBody::GetAllChildrenNumber(r) => r.write(out),
            ResponseBody::AddWatch(r) => r.write(out),
            ResponseBody::WhoAmI(r) => r.write(out),
            ResponseBody::Unknown(bytes) => out.put_slice(bytes),
        }
    }
}

/// A reply to a request: header and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request's xid, the server's zxid and the result code.
    pub header: ReplyHeader,
    /// The response record ([`ResponseBody::Empty`] when `header.err` is not `Ok`).
    pub body: ResponseBody,
}

impl Reply {
    /// A reply to `xid` at `zxid` with result `err` and `body`.
    pub fn new(xid: i32, zxid: i64, err: ErrorCode, body: ResponseBody) -> Self {
        Reply {
            header: ReplyHeader::new(xid, zxid, err),
            body,
        }
    }

    /// Decodes a whole reply payload, given the opcode of the request it answers.
    pub fn decode(op: OpCode, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut input = payload;
        let header = ReplyHeader::read(&mut input).map_err(|e| e.complete_input("reply"))?;
        let body = ResponseBody::decode(op, header.err, input)?;
        Ok(Reply { header, body })
    }

    /// Appends the payload (header and body, without the length prefix).
    pub fn write<B: BufMut>(&self, out: &mut B) {
        self.header.write(out);
        self.body.write(out);
    }

    /// The payload as a new vector (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

/// A watch notification: a [`ReplyHeader`] with xid -1, then a [`WatcherEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// xid -1, err 0; zxid -1 from 3.8 servers, the firing txn's zxid from 3.9 on.
    pub header: ReplyHeader,
    /// What happened, and where.
    pub event: WatcherEvent,
}

impl Notification {
    /// A notification of `event`, carrying `zxid` in its header.
    pub fn new(zxid: i64, event: WatcherEvent) -> Self {
        Notification {
            header: ReplyHeader::new(xid::NOTIFICATION, zxid, ErrorCode::Ok),
            event,
        }
    }

    /// Appends the payload (without the length prefix).
    pub fn write<B: BufMut>(&self, out: &mut B) {
        self.header.write(out);
        self.event.write(out);
    }
}

/// A server-to-client payload after the handshake, split by xid as the Java client does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// xid -1: a watch event.
    Notification(Notification),
    /// xid -2: the reply to a ping (never queued; any body is ignored).
    Ping(ReplyHeader),
    /// xid -4: the reply to an auth packet (never queued; any body is ignored). An err of
    /// AUTHFAILED means the server is about to close the connection.
    Auth(ReplyHeader),
    /// Any other xid (-8 included): the reply to the request at the head of the pending queue.
    /// Decode `body` with [`ResponseBody::decode`] once the request's opcode is known.
    Reply {
        /// The reply header.
        header: ReplyHeader,
        /// The bytes after the header.
        body: Bytes,
    },
}

impl ServerMessage {
    /// Decodes a whole server payload (the bytes after the 4-byte length).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut input = payload;
        let header = ReplyHeader::read(&mut input).map_err(|e| e.complete_input("reply"))?;
        Ok(match header.xid {
            xid::NOTIFICATION => {
                let event =
                    WatcherEvent::read(&mut input).map_err(|e| e.complete_input("notification"))?;
                ServerMessage::Notification(Notification { header, event })
            }
            xid::PING => ServerMessage::Ping(header),
            xid::AUTH => ServerMessage::Auth(header),
            _ => ServerMessage::Reply {
                header,
                body: Bytes::copy_from_slice(input),
            },
        })
    }

    /// The header, whatever the kind.
    pub fn header(&self) -> &ReplyHeader {
        match self {
            ServerMessage::Notification(n) => &n.header,
            ServerMessage::Ping(h) | ServerMessage::Auth(h) => h,
            ServerMessage::Reply { header, .. } => header,
        }
    }

    /// Appends the payload (without the length prefix).
    pub fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            ServerMessage::Notification(n) => n.write(out),
            ServerMessage::Ping(h) | ServerMessage::Auth(h) => h.write(out),
            ServerMessage::Reply { header, body } => {
                header.write(out);
                out.put_slice(body);
            }
        }
    }

    /// The payload as a new vector (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// arbitrary values
// ---------------------------------------------------------------------------------------------

#[cfg(any(test, feature = "arbitrary"))]
mod arb {
    use super::*;
    use crate::jute::Arb;
    use arbitrary::{Result, Unstructured};

    fn arb_op(u: &mut Unstructured<'_>, read: bool) -> Result<MultiOp> {
        Ok(if read {
            match u.int_in_range(0..=1u8)? {
                0 => MultiOp::GetData(Arb::arb(u)?),
                _ => MultiOp::GetChildren(Arb::arb(u)?),
            }
        } else {
            match u.int_in_range(0..=6u8)? {
                0 => MultiOp::Create(Arb::arb(u)?),
                1 => MultiOp::Create2(Arb::arb(u)?),
                2 => MultiOp::CreateContainer(Arb::arb(u)?),
                3 => MultiOp::CreateTtl(Arb::arb(u)?),
                4 => MultiOp::Delete(Arb::arb(u)?),
                5 => MultiOp::SetData(Arb::arb(u)?),
                _ => MultiOp::Check(Arb::arb(u)?),
            }
        })
    }

    /// A multi of only writes (`read` false) or only reads (`read` true).
    pub(super) fn arb_multi(u: &mut Unstructured<'_>, read: bool) -> Result<MultiRequest> {
        let len = u.int_in_range(0..=4)?;
        let ops = (0..len).map(|_| arb_op(u, read)).collect::<Result<_>>()?;
        Ok(MultiRequest { ops })
    }

    impl Arb for MultiOp {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            let read = u.arbitrary()?;
            arb_op(u, read)
        }
    }

    /// Mixed reads and writes, which the [`Jute`] impl accepts (only [`RequestBody`] checks).
    impl Arb for MultiRequest {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(MultiRequest { ops: Arb::arb(u)? })
        }
    }

    impl Arb for MultiResult {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(match u.int_in_range(0..=7u8)? {
                0 => MultiResult::Create(Arb::arb(u)?),
                1 => MultiResult::Create2(Arb::arb(u)?),
                2 => MultiResult::Delete,
                3 => MultiResult::SetData(Arb::arb(u)?),
                4 => MultiResult::Check,
                5 => MultiResult::GetData(Arb::arb(u)?),
                6 => MultiResult::GetChildren(Arb::arb(u)?),
                _ => MultiResult::Error(Arb::arb(u)?),
            })
        }
    }

    impl Arb for MultiResponse {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(MultiResponse {
                results: Arb::arb(u)?,
            })
        }
    }

    /// Whether `op` decodes to [`RequestBody::Unknown`].
    fn is_unknown_request_op(op: OpCode) -> bool {
        matches!(
            RequestBody::read_from(op, &mut &[][..], &mut None),
            Ok(RequestBody::Unknown { .. })
        )
    }

    impl Arb for RequestBody {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(match u.int_in_range(0..=30u8)? {
                0 => RequestBody::Create(Arb::arb(u)?),
                1 => RequestBody::Create2(Arb::arb(u)?),
                2 => RequestBody::CreateContainer(Arb::arb(u)?),
                3 => RequestBody::CreateTtl(Arb::arb(u)?),
                4 => RequestBody::Delete(Arb::arb(u)?),
                5 => RequestBody::Exists(Arb::arb(u)?),
                6 => RequestBody::GetData(Arb::arb(u)?),
                7 => RequestBody::SetData(Arb::arb(u)?),
                8 => RequestBody::GetAcl(Arb::arb(u)?),
                9 => RequestBody::SetAcl(Arb::arb(u)?),
                10 => RequestBody::GetChildren(Arb::arb(u)?),
                11 => RequestBody::GetChildren2(Arb::arb(u)?),
                12 => RequestBody::Sync(Arb::arb(u)?),
                13 => RequestBody::Ping,
                14 => RequestBody::Check(Arb::arb(u)?),
                15 => RequestBody::Multi(arb_multi(u, false)?),
                16 => RequestBody::MultiRead(arb_multi(u, true)?),
                17 => RequestBody::Reconfig(Arb::arb(u)?),
                18 => RequestBody::CheckWatches(Arb::arb(u)?),
                19 => RequestBody::RemoveWatches(Arb::arb(u)?),
                20 => RequestBody::DeleteContainer(Arb::arb(u)?),
                21 => RequestBody::Auth(Arb::arb(u)?),
                22 => RequestBody::SetWatches(Arb::arb(u)?),
                23 => RequestBody::SetWatches2(Arb::arb(u)?),
                24 => RequestBody::Sasl(Arb::arb(u)?),
                25 => RequestBody::GetEphemerals(Arb::arb(u)?),
                26 => RequestBody::GetAllChildrenNumber(Arb::arb(u)?),
                27 => RequestBody::AddWatch(Arb::arb(u)?),
                28 => RequestBody::WhoAmI,
                29 => RequestBody::CloseSession,
                _ => {
                    let mut op = OpCode::arb(u)?;
                    if !is_unknown_request_op(op) {
                        op = OpCode::Unknown(999);
                    }
                    RequestBody::Unknown {
                        op,
                        body: Arb::arb(u)?,
                    }
                }
            })
        }
    }

    impl Arb for Request {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            let xid = i32::arb(u)?;
            Ok(Request::new(xid, RequestBody::arb(u)?))
        }
    }

    impl Arb for ResponseBody {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(match u.int_in_range(0..=18u8)? {
                0 => ResponseBody::Empty,
                1 => ResponseBody::Create(Arb::arb(u)?),
                2 => ResponseBody::Create2(Arb::arb(u)?),
                3 => ResponseBody::Exists(Arb::arb(u)?),
                4 => ResponseBody::GetData(Arb::arb(u)?),
                5 => ResponseBody::SetData(Arb::arb(u)?),
                6 => ResponseBody::GetAcl(Arb::arb(u)?),
                7 => ResponseBody::SetAcl(Arb::arb(u)?),
                8 => ResponseBody::GetChildren(Arb::arb(u)?),
                9 => ResponseBody::GetChildren2(Arb::arb(u)?),
                10 => ResponseBody::Sync(Arb::arb(u)?),
                11 => ResponseBody::Multi(Arb::arb(u)?),
                12 => ResponseBody::Reconfig(Arb::arb(u)?),
                13 => ResponseBody::Sasl(Arb::arb(u)?),
                14 => ResponseBody::GetEphemerals(Arb::arb(u)?),
                15 => ResponseBody::GetAllChildrenNumber(Arb::arb(u)?),
                16 => ResponseBody::AddWatch(Arb::arb(u)?),
                17 => ResponseBody::WhoAmI(Arb::arb(u)?),
                _ => ResponseBody::Unknown(Arb::arb(u)?),
            })
        }
    }

    impl Arb for Notification {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(Notification::new(i64::arb(u)?, Arb::arb(u)?))
        }
    }

    impl Arb for ServerMessage {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            let zxid = i64::arb(u)?;
            let err = ErrorCode::arb(u)?;
            Ok(match u.int_in_range(0..=3u8)? {
                0 => ServerMessage::Notification(Notification::arb(u)?),
                1 => ServerMessage::Ping(ReplyHeader::new(xid::PING, zxid, err)),
                2 => ServerMessage::Auth(ReplyHeader::new(xid::AUTH, zxid, err)),
                _ => {
                    let mut reply_xid = i32::arb(u)?;
                    if [xid::NOTIFICATION, xid::PING, xid::AUTH].contains(&reply_xid) {
                        reply_xid = 1;
                    }
                    ServerMessage::Reply {
                        header: ReplyHeader::new(reply_xid, zxid, err),
                        body: Arb::arb(u)?,
                    }
                }
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod multi_request_roundtrip {
    use super::*;
    crate::jute::roundtrip_property!(MultiRequest);
}

#[cfg(test)]
mod multi_response_roundtrip {
    use super::*;
    crate::jute::roundtrip_property!(MultiResponse);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Acl;
    use crate::jute::Arb;
    use crate::proto::ConnectRequest;
    use proptest::prelude::*;

    /// Every opcode with a name, plus some without.
    fn all_ops() -> Vec<OpCode> {
        let mut ops = OpCode::ALL.to_vec();
        ops.extend([
            OpCode::Unknown(999),
            OpCode::Unknown(-200),
            OpCode::Unknown(10),
        ]);
        ops
    }

    /// An opcode whose successful reply decodes to `body`'s variant.
    fn op_for(body: &ResponseBody) -> OpCode {
        match body {
            ResponseBody::Empty => OpCode::Delete,
            ResponseBody::Create(_) => OpCode::Create,
            ResponseBody::Create2(_) => OpCode::Create2,
            ResponseBody::Exists(_) => OpCode::Exists,
            ResponseBody::GetData(_) => OpCode::GetData,
            ResponseBody::SetData(_) => OpCode::SetData,
            ResponseBody::GetAcl(_) => OpCode::GetAcl,
            ResponseBody::SetAcl(_) => OpCode::SetAcl,
            ResponseBody::GetChildren(_) => OpCode::GetChildren,
            ResponseBody::GetChildren2(_) => OpCode::GetChildren2,
            ResponseBody::Sync(_) => OpCode::Sync,
            ResponseBody::Multi(_) => OpCode::Multi,
            ResponseBody::Reconfig(_) => OpCode::Reconfig,
            ResponseBody::Sasl(_) => OpCode::Sasl,
            ResponseBody::GetEphemerals(_) => OpCode::GetEphemerals,
            ResponseBody::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            ResponseBody::AddWatch(_) => OpCode::AddWatch,
            ResponseBody::WhoAmI(_) => OpCode::WhoAmI,
            ResponseBody::Unknown(_) => OpCode::Unknown(999),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn request_encode_then_decode_is_identity(seed in prop::collection::vec(any::<u8>(), 0..768)) {
            let mut u = arbitrary::Unstructured::new(&seed);
            if let Ok(request) = Request::arb(&mut u) {
                let payload = request.encode();
                prop_assert_eq!(Request::decode_exact(&payload), Ok(request.clone()));
                prop_assert_eq!(Request::decode(&payload), Ok(request));
            }
        }

        #[test]
        fn reply_encode_then_decode_is_identity(seed in prop::collection::vec(any::<u8>(), 0..768)) {
            let mut u = arbitrary::Unstructured::new(&seed);
            if let (Ok(xid), Ok(zxid), Ok(body)) = (i32::arb(&mut u), i64::arb(&mut u), ResponseBody::arb(&mut u)) {
                let reply = Reply::new(xid, zxid, ErrorCode::Ok, body);
                let payload = reply.encode();
                prop_assert_eq!(Reply::decode(op_for(&reply.body), &payload), Ok(reply));
            }
        }

        #[test]
        fn server_message_encode_then_decode_is_identity(seed in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut u = arbitrary::Unstructured::new(&seed);
            if let Ok(message) = ServerMessage::arb(&mut u) {
                prop_assert_eq!(ServerMessage::decode(&message.encode()), Ok(message));
            }
        }

        /// Without nulls, `decode_nulls` is `decode` and records nothing; on any bytes, when it
        /// records nothing its body is `decode`'s, and whenever it records a null or fails,
        /// `decode` fails.
        #[test]
        fn decode_nulls_agrees_with_decode(seed in prop::collection::vec(any::<u8>(), 0..768)) {
            let mut u = arbitrary::Unstructured::new(&seed);
            if let Ok(body) = RequestBody::arb(&mut u) {
                let mut bytes = Vec::new();
                body.write(&mut bytes);
                prop_assert_eq!(RequestBody::decode_nulls(body.op(), &bytes), Ok((body, Vec::new())));
            }
            for op in all_ops() {
                let strict = RequestBody::decode(op, &seed);
                match RequestBody::decode_nulls(op, &seed) {
                    Ok((body, nulls)) if nulls.is_empty() => prop_assert_eq!(strict, Ok(body)),
                    Ok(_) | Err(_) => prop_assert!(strict.is_err()),
                }
            }
        }

        #[test]
        fn request_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = Request::decode(&bytes);
            let _ = Request::decode_exact(&bytes);
        }

        #[test]
        fn request_bodies_of_every_opcode_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            for op in all_ops() {
                let _ = RequestBody::decode(op, &bytes);
            }
        }

        #[test]
        fn response_bodies_of_every_opcode_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            for op in all_ops() {
                let _ = ResponseBody::decode(op, ErrorCode::Ok, &bytes);
                prop_assert_eq!(ResponseBody::decode(op, ErrorCode::NoNode, &bytes), Ok(ResponseBody::Empty));
            }
        }

        #[test]
        fn server_message_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = ServerMessage::decode(&bytes);
        }

        /// Multi lists built of well-formed headers with random types and records.
        #[test]
        fn multi_decoders_never_panic(parts in prop::collection::vec((-3i32..30, any::<bool>(), prop::collection::vec(any::<u8>(), 0..40)), 0..6)) {
            let mut bytes = Vec::new();
            for (op, done, record) in &parts {
                MultiHeader { r#type: OpCode::from_code(*op), done: *done, err: -1 }.write(&mut bytes);
                bytes.extend_from_slice(record);
            }
            let _ = MultiRequest::from_jute_bytes(&bytes);
            let _ = MultiResponse::from_jute_bytes(&bytes);
            let _ = RequestBody::decode(OpCode::Multi, &bytes);
            let _ = RequestBody::decode(OpCode::MultiRead, &bytes);
            let _ = ResponseBody::decode(OpCode::MultiRead, ErrorCode::Ok, &bytes);
        }
    }

    fn create(path: &str) -> CreateRequest {
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: Some(Acl::open_unsafe()),
            flags: 0,
        }
    }

    #[test]
    fn multi_rejects_ops_of_the_wrong_kind() {
        let reads = MultiRequest {
            ops: vec![MultiOp::GetData(GetDataRequest {
                path: "/a".into(),
                watch: false,
            })],
        };
        let writes = MultiRequest {
            ops: vec![MultiOp::Create(create("/a"))],
        };
        let read_bytes = reads.to_jute_bytes();
        let write_bytes = writes.to_jute_bytes();
        assert_eq!(
            RequestBody::decode(OpCode::MultiRead, &read_bytes),
            Ok(RequestBody::MultiRead(reads))
        );
        assert_eq!(
            RequestBody::decode(OpCode::Multi, &write_bytes),
            Ok(RequestBody::Multi(writes))
        );
        assert!(matches!(
            RequestBody::decode(OpCode::Multi, &read_bytes),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            RequestBody::decode(OpCode::MultiRead, &write_bytes),
            Err(DecodeError::Invalid { .. })
        ));

        // A sub-op type that is never allowed (sync, 9).
        let mut bytes = MultiHeader::op(OpCode::Sync).to_jute_bytes();
        bytes.extend("/a".to_string().to_jute_bytes());
        bytes.extend(MultiHeader::END.to_jute_bytes());
        assert!(matches!(
            RequestBody::decode(OpCode::Multi, &bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn multi_without_end_marker_is_invalid_in_a_whole_payload() {
        let mut bytes = MultiRequest {
            ops: vec![MultiOp::Create(create("/a"))],
        }
        .to_jute_bytes();
        bytes.truncate(bytes.len() - 9);
        assert!(matches!(
            MultiRequest::from_jute_bytes(&bytes),
            Err(DecodeError::Incomplete { .. })
        ));
        assert!(matches!(
            RequestBody::decode(OpCode::Multi, &bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn multi_result_headers_carry_the_error_code() {
        let response = MultiResponse {
            results: vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::NoNode),
                MultiResult::Check,
            ],
        };
        let bytes = response.to_jute_bytes();
        // error(ok): header {-1, false, 0} + err 0
        assert_eq!(
            &bytes[..13],
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // error(-101): header err -101 and record err -101
        assert_eq!(&bytes[18..22], &(-101i32).to_be_bytes());
        assert_eq!(&bytes[22..26], &(-101i32).to_be_bytes());
        assert_eq!(MultiResponse::from_jute_bytes(&bytes), Ok(response));
    }

    #[test]
    fn trailing_bytes_are_ignored_unless_exact() {
        let mut payload = Request::new(
            3,
            RequestBody::Delete(DeleteRequest {
                path: "/a".into(),
                version: -1,
            }),
        )
        .encode();
        let request = Request::decode_exact(&payload).unwrap();
        payload.extend_from_slice(b"junk");
        assert_eq!(Request::decode(&payload), Ok(request));
        assert!(matches!(
            Request::decode_exact(&payload),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn truncated_bodies_are_invalid_not_incomplete() {
        let payload = Request::new(
            3,
            RequestBody::Sync(SyncRequest {
                path: "/abc".into(),
            }),
        )
        .encode();
        assert!(matches!(
            Request::decode(&payload[..payload.len() - 1]),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            Request::decode(&payload[..5]),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn unknown_ops_keep_their_body() {
        let mut payload = RequestHeader::new(7, OpCode::Unknown(999)).to_jute_bytes();
        payload.extend("/pr".to_string().to_jute_bytes());
        let request = Request::decode_exact(&payload).unwrap();
        assert_eq!(
            request.body,
            RequestBody::Unknown {
                op: OpCode::Unknown(999),
                body: Bytes::from_static(b"\0\0\0\x03/pr"),
            }
        );
        assert_eq!(request.encode(), payload);
        // createSession is a txn type, not a request.
        let payload = RequestHeader::new(1, OpCode::CreateSession).to_jute_bytes();
        assert!(matches!(
            Request::decode(&payload).unwrap().body,
            RequestBody::Unknown {
                op: OpCode::CreateSession,
                ..
            }
        ));
    }

    #[test]
    fn delete_container_body_is_the_raw_path() {
        let request = Request::new(9, RequestBody::DeleteContainer("/box".into()));
        let payload = request.encode();
        assert_eq!(&payload[8..], b"/box");
        assert_eq!(Request::decode_exact(&payload), Ok(request));
    }

    #[test]
    fn server_messages_split_by_xid() {
        let ping = ReplyHeader::new(xid::PING, 0x21, ErrorCode::Ok).to_jute_bytes();
        assert!(
            matches!(ServerMessage::decode(&ping), Ok(ServerMessage::Ping(h)) if h.zxid == 0x21)
        );
        let auth = ReplyHeader::new(xid::AUTH, 0, ErrorCode::AuthFailed).to_jute_bytes();
        assert!(
            matches!(ServerMessage::decode(&auth), Ok(ServerMessage::Auth(h)) if h.err == ErrorCode::AuthFailed)
        );
        let mut reply = ReplyHeader::new(xid::SET_WATCHES, 0x2f, ErrorCode::Ok).to_jute_bytes();
        reply.extend_from_slice(b"xyz");
        match ServerMessage::decode(&reply).unwrap() {
            ServerMessage::Reply { header, body } => {
                assert_eq!(header.xid, -8);
                assert_eq!(&body[..], b"xyz");
            }
            other => panic!("not a reply: {other:?}"),
        }
        // A notification must carry its event.
        let bare = ReplyHeader::new(xid::NOTIFICATION, -1, ErrorCode::Ok).to_jute_bytes();
        assert!(matches!(
            ServerMessage::decode(&bare),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn error_replies_have_no_body() {
        let reply = Reply::new(9, 0xa, ErrorCode::NodeExists, ResponseBody::Empty);
        let payload = reply.encode();
        assert_eq!(payload.len(), 16);
        assert_eq!(Reply::decode(OpCode::Create, &payload), Ok(reply));
    }

    #[test]
    fn add_watch_reply_is_a_four_byte_error_response() {
        let reply = Reply::new(
            45,
            0x1b,
            ErrorCode::Ok,
            ResponseBody::AddWatch(ErrorResponse::default()),
        );
        assert_eq!(reply.encode().len(), 20);
        assert_eq!(Reply::decode(OpCode::AddWatch, &reply.encode()), Ok(reply));
    }

    #[test]
    fn connect_request_is_not_a_request() {
        // A handshake frame must go to ConnectRequest; as a Request it reads as xid 0, op 0.
        let connect = ConnectRequest {
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
            ..ConnectRequest::default()
        }
        .to_jute_bytes();
        assert!(matches!(
            Request::decode(&connect).unwrap().body,
            RequestBody::Unknown {
                op: OpCode::Notification,
                ..
            }
        ));
    }

    fn null_places(op: OpCode, body: &[u8]) -> Vec<String> {
        let (_, nulls) = RequestBody::decode_nulls(op, body).expect("decodes with nulls");
        nulls.iter().map(ToString::to_string).collect()
    }

    const NULL: [u8; 4] = [0xff; 4];

    #[test]
    fn decode_nulls_names_every_place() {
        // create: a null path and a null id in the second ACL entry; null data is no null to
        // report (the field may be null).
        let mut b = Vec::new();
        b.extend(NULL);
        b.extend(NULL);
        Vec::<Acl>::new().write(&mut b);
        b.extend(0i32.to_be_bytes());
        assert_eq!(null_places(OpCode::Create, &b), ["path"]);
        let mut b = Vec::new();
        "/a".to_string().write(&mut b);
        b.extend(NULL);
        b.extend(2i32.to_be_bytes());
        Acl::open_unsafe()[0].write(&mut b);
        b.extend(31i32.to_be_bytes());
        "auth".to_string().write(&mut b);
        b.extend(NULL);
        b.extend(0i32.to_be_bytes());
        let (body, _) = RequestBody::decode_nulls(OpCode::Create, &b).unwrap();
        let RequestBody::Create(r) = body else {
            panic!("{body:?}")
        };
        assert_eq!(r.acl.unwrap()[1].id.id, "");
        assert_eq!(null_places(OpCode::Create, &b), ["acl[1].id.id"]);
        // a null ACL list is a null the field holds
        let mut b = Vec::new();
        "/a".to_string().write(&mut b);
        b.extend(NULL);
        b.extend(NULL);
        b.extend(0i32.to_be_bytes());
        assert!(null_places(OpCode::Create, &b).is_empty());
        // setWatches2: a null list and a null entry
        let mut b = Vec::new();
        b.extend(5i64.to_be_bytes());
        vec!["/x".to_string()].write(&mut b);
        b.extend(NULL);
        b.extend(1i32.to_be_bytes());
        b.extend(NULL);
        Vec::<String>::new().write(&mut b);
        Vec::<String>::new().write(&mut b);
        assert_eq!(
            null_places(OpCode::SetWatches2, &b),
            ["exist_watches", "child_watches[0]"]
        );
        // multi: the sub-op's index comes first
        let multi = MultiRequest {
            ops: vec![
                MultiOp::Check(CheckVersionRequest {
                    path: "/a".into(),
                    version: 1,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: "/b".into(),
                    version: 1,
                }),
            ],
        };
        let bytes = multi.to_jute_bytes();
        let at = bytes.windows(6).position(|w| w == b"\0\0\0\x02/b").unwrap();
        let mut b = bytes[..at].to_vec();
        b.extend(NULL);
        b.extend(&bytes[at + 6..]);
        assert_eq!(null_places(OpCode::Multi, &b), ["[1].path"]);
        assert!(RequestBody::decode(OpCode::Multi, &b).is_err());
        // auth: both fields
        let mut b = 0i32.to_be_bytes().to_vec();
        b.extend(NULL);
        b.extend(NULL);
        assert_eq!(null_places(OpCode::Auth, &b), ["scheme", "auth"]);
        // a truncated body is still an error
        assert!(RequestBody::decode_nulls(OpCode::Auth, &b[..6]).is_err());
    }
}
