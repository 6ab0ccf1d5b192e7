//! Protocol records (`org.apache.zookeeper.proto` in `zookeeper.jute`): the handshake, the request
//! and reply headers, and the request and response record of every client operation.
//!
//! These are the building blocks; [`crate::message`] puts them together into whole requests and
//! replies chosen by opcode.
//!
//! Nullability follows what Java can put on the wire: znode data (`CreateRequest.data`,
//! `SetDataRequest.data`, `GetDataResponse.data`), SASL tokens, the three strings of a reconfig
//! and the prefix of `getEphemerals` may be null, so they are `Option`s. Every other string,
//! buffer and vector is required, and reading `-1` for it is [`DecodeError::Invalid`].
//!
//! ```
//! use zk_proto::{Jute, OpCode, proto::{GetDataRequest, RequestHeader}};
//! let header = RequestHeader::new(11, OpCode::GetData);
//! let body = GetDataRequest { path: "/pr".into(), watch: false };
//! let mut bytes = header.to_jute_bytes();
//! body.write(&mut bytes);
//! assert_eq!(bytes, b"\0\0\0\x0b\0\0\0\x04\0\0\0\x03/pr\0");
//! ```

use crate::data::{Acl, ClientInfo, Stat};
use crate::jute::{jute_record, DecodeError, Jute};
use crate::types::{AddWatchMode, ErrorCode, EventType, KeeperState, OpCode, WatcherType};
use bytes::{BufMut, Bytes};

/// The handshake's first frame, client to server (no [`RequestHeader`] in front).
///
/// The trailing `readOnly` byte came with 3.4: an older client ends the record after `passwd`.
/// Decoding therefore reads `read_only` only if bytes remain after the five fields, which is
/// right only on a complete frame payload: never call [`Jute::read`] on a partial stream buffer.
/// Bytes after the `readOnly` byte are left unread, as Java leaves them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// The highest zxid the client has seen (0 on a first connect).
    pub last_zxid_seen: i64,
    /// The session timeout the client asks for, in ms.
    pub time_out: i32,
    /// 0 for a new session, else the session to re-attach.
    pub session_id: i64,
    /// 16 zero bytes for a new session, else the session's password. A null password (-1)
    /// reads as empty, as Java's server treats it; it re-encodes as length 0.
    pub passwd: Bytes,
    /// Whether the client accepts a read-only server; `None` when an old client left the byte out.
    pub read_only: Option<bool>,
}

/// The handshake's reply, server to client (no [`ReplyHeader`] in front).
///
/// A server sends the trailing `readOnly` byte only when the request carried one, so `read_only`
/// is `None` exactly for old clients. Decoding has the same caveat as [`ConnectRequest`]: use it
/// on a complete frame payload only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// The negotiated session timeout in ms; 0 when the session is invalid or expired.
    pub time_out: i32,
    /// The session id; 0 when the session is invalid or expired.
    pub session_id: i64,
    /// The session password (16 bytes; zeros when the session is invalid or expired).
    pub passwd: Bytes,
    /// Whether the server is read-only; `None` in the reply to an old client.
    pub read_only: Option<bool>,
}

/// Reads the optional trailing `readOnly` boolean: absent only when no byte is left.
fn read_optional_bool(input: &mut &[u8]) -> Result<Option<bool>, DecodeError> {
    if input.is_empty() {
        Ok(None)
    } else {
        bool::read(input).map(Some)
    }
}

impl Jute for ConnectRequest {
    fn write<B: BufMut>(&self, out: &mut B) {
        self.protocol_version.write(out);
        self.last_zxid_seen.write(out);
        self.time_out.write(out);
        self.session_id.write(out);
        self.passwd.write(out);
        if let Some(read_only) = self.read_only {
            read_only.write(out);
        }
    }

    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(ConnectRequest {
            protocol_version: i32::read(input)?,
            last_zxid_seen: i64::read(input)?,
            time_out: i32::read(input)?,
            session_id: i64::read(input)?,
            // Java reads a null password (-1) as null and treats it like an empty one.
            passwd: Option::<Bytes>::read(input)?.unwrap_or_default(),
            read_only: read_optional_bool(input)?,
        })
    }
}

impl Jute for ConnectResponse {
    fn write<B: BufMut>(&self, out: &mut B) {
        self.protocol_version.write(out);
        self.time_out.write(out);
        self.session_id.write(out);
        self.passwd.write(out);
        if let Some(read_only) = self.read_only {
            read_only.write(out);
        }
    }

    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(ConnectResponse {
            protocol_version: i32::read(input)?,
            time_out: i32::read(input)?,
            session_id: i64::read(input)?,
            passwd: Bytes::read(input)?,
            read_only: read_optional_bool(input)?,
        })
    }
}

#[cfg(any(test, feature = "arbitrary"))]
mod arb_connect {
    use super::{ConnectRequest, ConnectResponse};
    use crate::jute::Arb;
    use arbitrary::{Result, Unstructured};
    use bytes::Bytes;

    impl Arb for ConnectRequest {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(ConnectRequest {
                protocol_version: i32::arb(u)?,
                last_zxid_seen: i64::arb(u)?,
                time_out: i32::arb(u)?,
                session_id: i64::arb(u)?,
                passwd: Bytes::arb(u)?,
                read_only: Option::<bool>::arb(u)?,
            })
        }
    }

    impl Arb for ConnectResponse {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(ConnectResponse {
                protocol_version: i32::arb(u)?,
                time_out: i32::arb(u)?,
                session_id: i64::arb(u)?,
                passwd: Bytes::arb(u)?,
                read_only: Option::<bool>::arb(u)?,
            })
        }
    }
}

jute_record! {
    /// The header in front of every request after the handshake.
    pub struct RequestHeader {
        /// The request id, echoed by the reply. Special values are in [`crate::xid`].
        pub xid: i32,
        /// The opcode, which decides the record that follows.
        pub r#type: OpCode,
    }
}

jute_record! {
    /// The header in front of every server frame after the handshake (replies and notifications).
    pub struct ReplyHeader {
        /// The xid of the request answered; -1 for a notification.
        pub xid: i32,
        /// The server's last processed zxid (-1 on notifications from 3.8 servers).
        pub zxid: i64,
        /// The result; a response record follows only when this is `Ok`.
        pub err: ErrorCode,
    }
}

jute_record! {
    /// The header before each sub-op (and each result) of a multi, and the end marker.
    pub struct MultiHeader {
        /// The sub-op's opcode, `error` (-1) for an error result or the end marker.
        pub r#type: OpCode,
        /// True only on the end marker.
        pub done: bool,
        /// -1 on request sub-ops; on results, 0 or the error code of an error result.
        pub err: i32,
    }
}

jute_record! {
    /// An `auth` request (opcode 100, xid -4): adds an identity to the connection.
    pub struct AuthPacket {
        /// Always 0.
        pub r#type: i32,
        /// The scheme, for example `digest`.
        pub scheme: String,
        /// The credentials in the scheme's syntax, for example UTF-8 `user:password`.
        pub auth: Bytes,
    }
}

jute_record! {
    /// The body of a watch notification (xid -1).
    pub struct WatcherEvent {
        /// What happened; servers send only `NodeCreated` to `NodeChildrenChanged`.
        pub r#type: EventType,
        /// The session state; servers send only `SyncConnected`.
        pub state: KeeperState,
        /// The server path of the node.
        pub path: String,
    }
}

jute_record! {
    /// Re-registers one-shot watches after a reconnect (opcode 101).
    pub struct SetWatches {
        /// The client's last seen zxid; changes after it fire at once.
        pub relative_zxid: i64,
        /// Paths with a data watch (from getData).
        pub data_watches: Vec<String>,
        /// Paths with an exist watch (from exists).
        pub exist_watches: Vec<String>,
        /// Paths with a child watch (from getChildren).
        pub child_watches: Vec<String>,
    }
}

jute_record! {
    /// Re-registers watches after a reconnect, persistent ones included (opcode 105).
    pub struct SetWatches2 {
        /// The client's last seen zxid; changes after it fire at once.
        pub relative_zxid: i64,
        /// Paths with a data watch (from getData).
        pub data_watches: Vec<String>,
        /// Paths with an exist watch (from exists).
        pub exist_watches: Vec<String>,
        /// Paths with a child watch (from getChildren).
        pub child_watches: Vec<String>,
        /// Paths with a persistent watch.
        pub persistent_watches: Vec<String>,
        /// Paths with a persistent recursive watch.
        pub persistent_recursive_watches: Vec<String>,
    }
}

/// The same watches, with no persistent ones (a server treats both requests alike).
impl From<SetWatches> for SetWatches2 {
    fn from(r: SetWatches) -> Self {
        SetWatches2 {
            relative_zxid: r.relative_zxid,
            data_watches: r.data_watches,
            exist_watches: r.exist_watches,
            child_watches: r.child_watches,
            persistent_watches: Vec::new(),
            persistent_recursive_watches: Vec::new(),
        }
    }
}

jute_record! {
    /// Creates a node (opcodes create, create2 and createContainer).
    pub struct CreateRequest {
        /// The node's path (for sequential modes, the prefix of the name).
        pub path: String,
        /// The initial data; may be null.
        pub data: Option<Bytes>,
        /// The node's ACL; null (`None`) is a list Java's servers refuse with INVALIDACL, like an
        /// empty one.
        pub acl: Option<Vec<Acl>>,
        /// The [`crate::CreateMode`] flags.
        pub flags: i32,
    }
}

jute_record! {
    /// Creates a node with a time to live (opcode createTTL; Java's `CreateTTLRequest`).
    pub struct CreateTtlRequest {
        /// The node's path (for sequential modes, the prefix of the name).
        pub path: String,
        /// The initial data; may be null.
        pub data: Option<Bytes>,
        /// The node's ACL; null (`None`) is a list Java's servers refuse with INVALIDACL, like an
        /// empty one.
        pub acl: Option<Vec<Acl>>,
        /// The [`crate::CreateMode`] flags (5 or 6).
        pub flags: i32,
        /// The time to live in ms, `1..2^40`.
        pub ttl: i64,
    }
}

jute_record! {
    /// Deletes a node.
    pub struct DeleteRequest {
        /// The node's path.
        pub path: String,
        /// The expected data version; -1 for any.
        pub version: i32,
    }
}

jute_record! {
    /// Asks for a node's Stat, optionally leaving an exist watch (even on a missing node).
    pub struct ExistsRequest {
        /// The node's path.
        pub path: String,
        /// Whether to leave a watch.
        pub watch: bool,
    }
}

jute_record! {
    /// Asks for a node's data and Stat.
    pub struct GetDataRequest {
        /// The node's path.
        pub path: String,
        /// Whether to leave a data watch.
        pub watch: bool,
    }
}

jute_record! {
    /// Asks for a node's child names.
    pub struct GetChildrenRequest {
        /// The node's path.
        pub path: String,
        /// Whether to leave a child watch.
        pub watch: bool,
    }
}

jute_record! {
    /// Asks for a node's child names and Stat.
    pub struct GetChildren2Request {
        /// The node's path.
        pub path: String,
        /// Whether to leave a child watch.
        pub watch: bool,
    }
}

jute_record! {
    /// Replaces a node's data.
    pub struct SetDataRequest {
        /// The node's path.
        pub path: String,
        /// The new data; may be null.
        pub data: Option<Bytes>,
        /// The expected data version; -1 for any.
        pub version: i32,
    }
}

jute_record! {
    /// Asks for a node's ACL and Stat (Java's `GetACLRequest`).
    pub struct GetAclRequest {
        /// The node's path.
        pub path: String,
    }
}

jute_record! {
    /// Replaces a node's ACL (Java's `SetACLRequest`).
    pub struct SetAclRequest {
        /// The node's path.
        pub path: String,
        /// The new ACL; null (`None`) is refused with INVALIDACL, like an empty list.
        pub acl: Option<Vec<Acl>>,
        /// The expected ACL version (`aversion`); -1 for any.
        pub version: i32,
    }
}

jute_record! {
    /// Asks the server to catch up with the leader.
    pub struct SyncRequest {
        /// The path, echoed by the reply.
        pub path: String,
    }
}

jute_record! {
    /// The reply to a sync.
    pub struct SyncResponse {
        /// The path of the request.
        pub path: String,
    }
}

jute_record! {
    /// A version check; valid only as a multi sub-op.
    pub struct CheckVersionRequest {
        /// The node's path.
        pub path: String,
        /// The expected data version; -1 for any.
        pub version: i32,
    }
}

jute_record! {
    /// Changes the ensemble membership: either incrementally (joining/leaving) or as a whole list.
    pub struct ReconfigRequest {
        /// Comma-separated servers to add; may be null.
        pub joining_servers: Option<String>,
        /// Comma-separated server ids to remove; may be null.
        pub leaving_servers: Option<String>,
        /// The complete new membership; may be null.
        pub new_members: Option<String>,
        /// The expected current config version; -1 skips the check.
        pub cur_config_id: i64,
    }
}

jute_record! {
    /// Asks whether this connection has a watch of a type on a path (removes nothing).
    pub struct CheckWatchesRequest {
        /// The node's path.
        pub path: String,
        /// Which watches.
        pub r#type: WatcherType,
    }
}

jute_record! {
    /// Removes this connection's watches of a type on a path.
    pub struct RemoveWatchesRequest {
        /// The node's path.
        pub path: String,
        /// Which watches.
        pub r#type: WatcherType,
    }
}

jute_record! {
    /// Adds a persistent or persistent-recursive watch.
    pub struct AddWatchRequest {
        /// The node's path (the node need not exist).
        pub path: String,
        /// The kind of watch.
        pub mode: AddWatchMode,
    }
}

jute_record! {
    /// Asks for the calling session's ephemeral nodes.
    pub struct GetEphemeralsRequest {
        /// Only paths starting with this string; null, `""` or `/` mean all.
        pub prefix_path: Option<String>,
    }
}

jute_record! {
    /// Asks for the number of descendants of a node.
    pub struct GetAllChildrenNumberRequest {
        /// The node's path.
        pub path: String,
    }
}

jute_record! {
    /// A SASL token from the client (opcode sasl; Java's `GetSASLRequest`).
    pub struct GetSaslRequest {
        /// The token; may be null.
        pub token: Option<Bytes>,
    }
}

jute_record! {
    /// A SASL token (Java's `SetSASLRequest`; defined in the schema, not used by an opcode).
    pub struct SetSaslRequest {
        /// The token; may be null.
        pub token: Option<Bytes>,
    }
}

jute_record! {
    /// The server's SASL token in reply to a sasl request (Java's `SetSASLResponse`).
    pub struct SetSaslResponse {
        /// The token; null when the exchange is complete and nothing more is to be said.
        pub token: Option<Bytes>,
    }
}

jute_record! {
    /// The reply to create.
    pub struct CreateResponse {
        /// The created path (with the sequence suffix, if any).
        pub path: String,
    }
}

jute_record! {
    /// The reply to create2, createContainer and createTTL.
    pub struct Create2Response {
        /// The created path (with the sequence suffix, if any).
        pub path: String,
        /// The new node's Stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// The reply to exists on an existing node.
    pub struct ExistsResponse {
        /// The node's Stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// The reply to setData.
    pub struct SetDataResponse {
        /// The node's Stat after the change.
        pub stat: Stat,
    }
}

jute_record! {
    /// The reply to setACL (Java's `SetACLResponse`).
    pub struct SetAclResponse {
        /// The node's Stat after the change.
        pub stat: Stat,
    }
}

jute_record! {
    /// The reply to getData (and to reconfig, with the new config).
    pub struct GetDataResponse {
        /// The data; null when the node was created with null data.
        pub data: Option<Bytes>,
        /// The node's Stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// The reply to getChildren.
    pub struct GetChildrenResponse {
        /// Child names (not full paths), in no particular order.
        pub children: Vec<String>,
    }
}

jute_record! {
    /// The reply to getChildren2.
    pub struct GetChildren2Response {
        /// Child names (not full paths), in no particular order.
        pub children: Vec<String>,
        /// The node's Stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// The reply to getACL (Java's `GetACLResponse`).
    pub struct GetAclResponse {
        /// The node's ACL (digest ids masked as `user:x` without ADMIN).
        pub acl: Vec<Acl>,
        /// The node's Stat.
        pub stat: Stat,
    }
}

jute_record! {
    /// The reply to getEphemerals.
    pub struct GetEphemeralsResponse {
        /// Full paths of the session's ephemeral nodes.
        pub ephemerals: Vec<String>,
    }
}

jute_record! {
    /// The reply to getAllChildrenNumber.
    pub struct GetAllChildrenNumberResponse {
        /// The number of descendants at any depth, the node itself excluded.
        pub total_number: i32,
    }
}

jute_record! {
    /// The reply to whoAmI.
    pub struct WhoAmIResponse {
        /// The connection's identities.
        pub client_info: Vec<ClientInfo>,
    }
}

jute_record! {
    /// An error result inside a multi reply, and the 4-byte body of an addWatch reply.
    pub struct ErrorResponse {
        /// The result code.
        pub err: ErrorCode,
    }
}

impl RequestHeader {
    /// A header for request `xid` of type `op`.
    pub const fn new(xid: i32, op: OpCode) -> Self {
        RequestHeader { xid, r#type: op }
    }
}

impl ReplyHeader {
    /// A header answering `xid` at `zxid` with `err`.
    pub const fn new(xid: i32, zxid: i64, err: ErrorCode) -> Self {
        ReplyHeader { xid, zxid, err }
    }
}

impl MultiHeader {
    /// The marker after the last sub-op or result: `{type -1, done true, err -1}`.
    pub const END: MultiHeader = MultiHeader {
        r#type: OpCode::Error,
        done: true,
        err: -1,
    };

    /// The header Java writes before a request sub-op: `{type op, done false, err -1}`.
    pub const fn op(op: OpCode) -> Self {
        MultiHeader {
            r#type: op,
            done: false,
            err: -1,
        }
    }
}

impl AuthPacket {
    /// An auth packet for `scheme` with credentials `auth` (type 0, as every client sends).
    pub fn new(scheme: impl Into<String>, auth: impl Into<Bytes>) -> Self {
        AuthPacket {
            r#type: 0,
            scheme: scheme.into(),
            auth: auth.into(),
        }
    }
}

#[cfg(test)]
mod connect_request_roundtrip {
    use super::*;
    crate::jute::roundtrip_property!(ConnectRequest);
}

#[cfg(test)]
mod connect_response_roundtrip {
    use super::*;
    crate::jute::roundtrip_property!(ConnectResponse);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_request_bytes(read_only: Option<u8>) -> Vec<u8> {
        let mut bytes = vec![0u8; 4 + 8];
        bytes.extend_from_slice(&6000i32.to_be_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&16i32.to_be_bytes());
        bytes.extend_from_slice(&[0; 16]);
        bytes.extend(read_only);
        bytes
    }

    #[test]
    fn connect_request_read_only_byte_is_optional() {
        let old = ConnectRequest::from_jute_bytes(&connect_request_bytes(None)).unwrap();
        assert_eq!(old.read_only, None);
        assert_eq!(old.time_out, 6000);
        assert_eq!(old.to_jute_bytes().len(), 44);

        let new = ConnectRequest::from_jute_bytes(&connect_request_bytes(Some(1))).unwrap();
        assert_eq!(new.read_only, Some(true));
        assert_eq!(new.to_jute_bytes().len(), 45);
    }

    #[test]
    fn connect_request_truncated_before_passwd_end_is_incomplete() {
        let bytes = connect_request_bytes(None);
        assert!(matches!(
            ConnectRequest::from_jute_bytes(&bytes[..40]),
            Err(DecodeError::Incomplete { .. })
        ));
    }

    #[test]
    fn connect_response_mirrors_the_optional_byte() {
        let response = ConnectResponse {
            time_out: 4000,
            session_id: 0x0100_007e_3c08_0006,
            passwd: Bytes::from_static(&[7; 16]),
            read_only: None,
            ..ConnectResponse::default()
        };
        assert_eq!(response.to_jute_bytes().len(), 36);
        let with_byte = ConnectResponse {
            read_only: Some(false),
            ..response.clone()
        };
        assert_eq!(with_byte.to_jute_bytes().len(), 37);
        assert_eq!(
            ConnectResponse::from_jute_bytes(&response.to_jute_bytes()),
            Ok(response)
        );
    }

    #[test]
    fn multi_end_marker_bytes() {
        assert_eq!(
            MultiHeader::END.to_jute_bytes(),
            [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn null_data_is_kept_distinct_from_empty() {
        let request = SetDataRequest {
            path: "/a".into(),
            data: None,
            version: -1,
        };
        let bytes = request.to_jute_bytes();
        assert_eq!(&bytes[6..10], &[0xff; 4]);
        assert_eq!(SetDataRequest::from_jute_bytes(&bytes), Ok(request));
    }

    #[test]
    fn required_fields_reject_null() {
        // A null path (length -1) cannot be a DeleteRequest.
        let mut bytes = (-1i32).to_jute_bytes();
        bytes.extend_from_slice(&[0; 4]);
        assert!(matches!(
            DeleteRequest::from_jute_bytes(&bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }
}
