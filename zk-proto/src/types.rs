//! ZooKeeper's numbered constants and identifiers: opcodes, error codes, create modes, watch
//! event types and states, permissions, and the `Zxid` / `SessionId` / `Xid` newtypes.
//!
//! The `int`-valued enums are lossless: a number with no name becomes `Unknown(n)` and converts
//! back to the same number, so a peer's newer code survives a round trip.

use crate::jute::{DecodeError, Jute};
use bytes::BufMut;
use std::fmt;

/// Declares an `i32`-coded enum with an `Unknown(i32)` catch-all, `From` conversions both ways,
/// a jute encoding as `int`, and a `name()` as ZooKeeper spells it.
macro_rules! int_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $value:expr => $text:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version does not know; kept so it survives a round trip.
            Unknown(i32),
        }

        impl $name {
            /// Every named value.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The number on the wire.
            pub const fn code(self) -> i32 {
                match self {
                    $($name::$variant => $value,)*
                    $name::Unknown(n) => n,
                }
            }

            /// The value for a wire number (`Unknown` when it has no name).
            pub const fn from_code(code: i32) -> Self {
                match code {
                    $(x if x == $value => $name::$variant,)*
                    n => $name::Unknown(n),
                }
            }

            /// The name ZooKeeper uses for this value (`"UNKNOWN"` for unknown ones).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Unknown(_) => "UNKNOWN",
                }
            }
        }

        /// Code 0, as in a freshly constructed Java record.
        impl Default for $name {
            fn default() -> Self {
                Self::from_code(0)
            }
        }

        impl From<i32> for $name {
            fn from(code: i32) -> Self {
                Self::from_code(code)
            }
        }

        impl From<$name> for i32 {
            fn from(value: $name) -> i32 {
                value.code()
            }
        }

        impl Jute for $name {
            fn write<B: BufMut>(&self, out: &mut B) {
                out.put_i32(self.code());
            }
            fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
                Ok(Self::from_code(i32::read(input)?))
            }
        }

        #[cfg(any(test, feature = "arbitrary"))]
        impl crate::jute::Arb for $name {
            fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
                Ok(Self::from_code(u.arbitrary()?))
            }
        }
    };
}

pub(crate) use int_enum;

int_enum! {
    /// Request types (`ZooDefs.OpCode`). Also the types of transactions in the log.
    pub enum OpCode {
        /// Marks a watch notification; never sent as a request.
        Notification = 0 => "notification",
        /// Create a node; the reply carries its path.
        Create = 1 => "create",
        /// Delete a node.
        Delete = 2 => "delete",
        /// Stat of a node, optionally leaving a watch.
        Exists = 3 => "exists",
        /// Data and Stat of a node.
        GetData = 4 => "getData",
        /// Replace the data of a node.
        SetData = 5 => "setData",
        /// ACL and Stat of a node.
        GetAcl = 6 => "getACL",
        /// Replace the ACL of a node.
        SetAcl = 7 => "setACL",
        /// Child names of a node.
        GetChildren = 8 => "getChildren",
        /// Catch up with the leader.
        Sync = 9 => "sync",
        /// Keep-alive, sent with xid -2.
        Ping = 11 => "ping",
        /// Child names and the Stat of a node.
        GetChildren2 = 12 => "getChildren2",
        /// Version check, only valid inside multi.
        Check = 13 => "check",
        /// Several writes applied atomically.
        Multi = 14 => "multi",
        /// Create a node; the reply carries its path and Stat.
        Create2 = 15 => "create2",
        /// Change the ensemble membership.
        Reconfig = 16 => "reconfig",
        /// Ask whether this connection has a watch (removes nothing on the server).
        CheckWatches = 17 => "checkWatches",
        /// Remove this connection's watches on a path.
        RemoveWatches = 18 => "removeWatches",
        /// Create a container node.
        CreateContainer = 19 => "createContainer",
        /// Delete an emptied container (internal; the body is the raw path).
        DeleteContainer = 20 => "deleteContainer",
        /// Create a node with a time to live.
        CreateTtl = 21 => "createTTL",
        /// Several reads answered together.
        MultiRead = 22 => "multiRead",
        /// Add authentication, sent with xid -4.
        Auth = 100 => "auth",
        /// Re-register watches after a reconnect.
        SetWatches = 101 => "setWatches",
        /// A SASL token exchange.
        Sasl = 102 => "sasl",
        /// The calling session's ephemeral nodes.
        GetEphemerals = 103 => "getEphemerals",
        /// The number of descendants of a node.
        GetAllChildrenNumber = 104 => "getAllChildrenNumber",
        /// Re-register watches, persistent ones included.
        SetWatches2 = 105 => "setWatches2",
        /// Add a persistent or persistent-recursive watch.
        AddWatch = 106 => "addWatch",
        /// The identities of this connection.
        WhoAmI = 107 => "whoAmI",
        /// Transaction type of a new session (the ConnectRequest creates it).
        CreateSession = -10 => "createSession",
        /// End the session.
        CloseSession = -11 => "closeSession",
        /// Transaction type of a write that failed while being prepared.
        Error = -1 => "error",
    }
}

int_enum! {
    /// Result codes (`KeeperException.Code`).
    pub enum ErrorCode {
        /// Success.
        Ok = 0 => "OK",
        /// Range marker for system errors.
        SystemError = -1 => "SYSTEMERROR",
        /// A multi sub-op after the one that failed.
        RuntimeInconsistency = -2 => "RUNTIMEINCONSISTENCY",
        /// Data inconsistency.
        DataInconsistency = -3 => "DATAINCONSISTENCY",
        /// The connection was lost (client side).
        ConnectionLoss = -4 => "CONNECTIONLOSS",
        /// The request bytes could not be decoded.
        MarshallingError = -5 => "MARSHALLINGERROR",
        /// Operation not implemented (unknown opcode, TTL without extended types).
        Unimplemented = -6 => "UNIMPLEMENTED",
        /// The operation timed out (client side).
        OperationTimeout = -7 => "OPERATIONTIMEOUT",
        /// Invalid arguments: bad path, flags or TTL.
        BadArguments = -8 => "BADARGUMENTS",
        /// Unknown session (internal).
        UnknownSession = -12 => "UNKNOWNSESSION",
        /// A reconfig could not reach a quorum of the new configuration.
        NewConfigNoQuorum = -13 => "NEWCONFIGNOQUORUM",
        /// Another reconfig is in progress.
        ReconfigInProgress = -14 => "RECONFIGINPROGRESS",
        /// Range marker for API errors.
        ApiError = -100 => "APIERROR",
        /// The node does not exist.
        NoNode = -101 => "NONODE",
        /// Not authorised by the node's ACL.
        NoAuth = -102 => "NOAUTH",
        /// The version does not match.
        BadVersion = -103 => "BADVERSION",
        /// Ephemeral nodes may not have children.
        NoChildrenForEphemerals = -108 => "NOCHILDRENFOREPHEMERALS",
        /// The node already exists.
        NodeExists = -110 => "NODEEXISTS",
        /// The node has children.
        NotEmpty = -111 => "NOTEMPTY",
        /// The session has expired.
        SessionExpired = -112 => "SESSIONEXPIRED",
        /// Invalid callback (client side).
        InvalidCallback = -113 => "INVALIDCALLBACK",
        /// Invalid ACL.
        InvalidAcl = -114 => "INVALIDACL",
        /// Authentication failed.
        AuthFailed = -115 => "AUTHFAILED",
        /// The session moved to another server.
        SessionMoved = -118 => "SESSIONMOVED",
        /// A write reached a read-only server.
        NotReadOnly = -119 => "NOTREADONLY",
        /// Ephemeral nodes need a global session.
        EphemeralOnLocalSession = -120 => "EPHEMERALONLOCALSESSION",
        /// No such watcher.
        NoWatcher = -121 => "NOWATCHER",
        /// The request timed out (client side).
        RequestTimeout = -122 => "REQUESTTIMEOUT",
        /// Reconfig is disabled.
        ReconfigDisabled = -123 => "RECONFIGDISABLED",
        /// The session was closed because it did not authenticate with SASL.
        SessionClosedRequireSaslAuth = -124 => "SESSIONCLOSEDREQUIRESASLAUTH",
        /// A hard quota was exceeded.
        QuotaExceeded = -125 => "QUOTAEXCEEDED",
        /// The request was throttled.
        ThrottledOp = -127 => "THROTTLEDOP",
    }
}

impl ErrorCode {
    /// Whether this is `Ok`.
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::Ok)
    }
}

impl OpCode {
    /// Whether requests of this type change the tree: they take a zxid (also when they fail),
    /// and in 3.9 their watch notifications carry it.
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            OpCode::Create
                | OpCode::Create2
                | OpCode::CreateContainer
                | OpCode::CreateTtl
                | OpCode::Delete
                | OpCode::DeleteContainer
                | OpCode::SetData
                | OpCode::SetAcl
                | OpCode::Multi
                | OpCode::Reconfig
                | OpCode::CloseSession
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

int_enum! {
    /// Watch event types (`Watcher.Event.EventType`).
    pub enum EventType {
        /// A session state change (client-generated).
        None = -1 => "None",
        /// The node was created.
        NodeCreated = 1 => "NodeCreated",
        /// The node was deleted.
        NodeDeleted = 2 => "NodeDeleted",
        /// The node's data changed.
        NodeDataChanged = 3 => "NodeDataChanged",
        /// The node's children changed.
        NodeChildrenChanged = 4 => "NodeChildrenChanged",
        /// A data watch was removed (client-generated).
        DataWatchRemoved = 5 => "DataWatchRemoved",
        /// A child watch was removed (client-generated).
        ChildWatchRemoved = 6 => "ChildWatchRemoved",
        /// A persistent watch was removed (client-generated).
        PersistentWatchRemoved = 7 => "PersistentWatchRemoved",
    }
}

int_enum! {
    /// Session states carried by watch events (`Watcher.Event.KeeperState`).
    pub enum KeeperState {
        /// Deprecated.
        UnknownState = -1 => "Unknown",
        /// Disconnected from the ensemble.
        Disconnected = 0 => "Disconnected",
        /// Deprecated.
        NoSyncConnected = 1 => "NoSyncConnected",
        /// Connected; the only state the server sends.
        SyncConnected = 3 => "SyncConnected",
        /// Authentication failed.
        AuthFailed = 4 => "AuthFailed",
        /// Connected to a read-only server.
        ConnectedReadOnly = 5 => "ConnectedReadOnly",
        /// SASL authentication succeeded.
        SaslAuthenticated = 6 => "SaslAuthenticated",
        /// The session expired.
        Expired = -112 => "Expired",
        /// The client was closed.
        Closed = 7 => "Closed",
    }
}

int_enum! {
    /// Which watches `checkWatches` / `removeWatches` address (`Watcher.WatcherType`).
    pub enum WatcherType {
        /// Child watches.
        Children = 1 => "Children",
        /// Data and exist watches.
        Data = 2 => "Data",
        /// Every kind.
        Any = 3 => "Any",
        /// Persistent watches (3.9+ servers).
        Persistent = 4 => "Persistent",
        /// Persistent recursive watches (3.9+ servers).
        PersistentRecursive = 5 => "PersistentRecursive",
    }
}

int_enum! {
    /// The `mode` of an `addWatch` request (`ZooDefs.AddWatchModes`).
    pub enum AddWatchMode {
        /// Fires for the node and its children list, and stays.
        Persistent = 0 => "PERSISTENT",
        /// Fires for the node and every descendant, and stays.
        PersistentRecursive = 1 => "PERSISTENT_RECURSIVE",
    }
}

/// How a node is created: the `flags` of a create request (`CreateMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateMode {
    /// A plain node (flag 0).
    Persistent,
    /// Deleted when its session ends (flag 1).
    Ephemeral,
    /// A counter suffix is appended to the name (flag 2).
    PersistentSequential,
    /// Ephemeral and sequential (flag 3).
    EphemeralSequential,
    /// Deleted by the server once it had children and has none left (flag 4).
    Container,
    /// Deleted once untouched for its TTL and childless (flag 5).
    PersistentWithTtl,
    /// Sequential with a TTL (flag 6).
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// Every mode, in flag order.
    pub const ALL: [CreateMode; 7] = [
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl,
        CreateMode::PersistentSequentialWithTtl,
    ];

    /// The `flags` value of this mode.
    pub const fn flags(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl => 5,
            CreateMode::PersistentSequentialWithTtl => 6,
        }
    }

    /// The mode for a `flags` value; `None` for flags the server answers with BADARGUMENTS.
    pub const fn from_flags(flags: i32) -> Option<Self> {
        match flags {
            0 => Some(CreateMode::Persistent),
            1 => Some(CreateMode::Ephemeral),
            2 => Some(CreateMode::PersistentSequential),
            3 => Some(CreateMode::EphemeralSequential),
            4 => Some(CreateMode::Container),
            5 => Some(CreateMode::PersistentWithTtl),
            6 => Some(CreateMode::PersistentSequentialWithTtl),
            _ => None,
        }
    }

    /// Whether the node ends with its session.
    pub const fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Whether a sequence suffix is appended.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Whether this is a container node.
    pub const fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }

    /// Whether the node has a TTL.
    pub const fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// The opcode the Java client uses for this mode: createContainer for containers, createTTL
    /// for TTL modes, else create2 when a Stat is wanted and create when not.
    pub const fn opcode(self, want_stat: bool) -> OpCode {
        match self {
            CreateMode::Container => OpCode::CreateContainer,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl => {
                OpCode::CreateTtl
            }
            _ if want_stat => OpCode::Create2,
            _ => OpCode::Create,
        }
    }
}

/// Permission bits of an ACL entry (`ZooDefs.Perms`).
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 1 << 1;
    /// Create children.
    pub const CREATE: i32 = 1 << 2;
    /// Delete children.
    pub const DELETE: i32 = 1 << 3;
    /// Set the ACL.
    pub const ADMIN: i32 = 1 << 4;
    /// Every permission.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// Special client xids (`ClientCnxn`).
pub mod xid {
    /// Watch notifications (server to client).
    pub const NOTIFICATION: i32 = -1;
    /// Pings, both ways.
    pub const PING: i32 = -2;
    /// Auth packets and their replies.
    pub const AUTH: i32 = -4;
    /// SetWatches as the C client sends it (the Java client uses a normal xid).
    pub const SET_WATCHES: i32 = -8;
}

/// A ZooKeeper transaction id: the epoch in the high 32 bits, a counter in the low 32.
///
/// ```
/// use zk_proto::Zxid;
/// let z = Zxid::new(2, 5);
/// assert_eq!((z.epoch(), z.counter()), (2, 5));
/// assert_eq!(z.to_string(), "0x200000005");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub i64);

impl Zxid {
    /// The zxid of `counter` in `epoch`.
    pub const fn new(epoch: u32, counter: u32) -> Self {
        Zxid(((epoch as i64) << 32) | counter as i64)
    }
    /// The leader epoch (high 32 bits).
    pub const fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// The counter within the epoch (low 32 bits).
    pub const fn counter(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A session id: the creating server's id in the top byte.
///
/// ```
/// use zk_proto::SessionId;
/// let s = SessionId(0x0100_007e_3c08_0000);
/// assert_eq!(s.server_id(), 1);
/// assert_eq!(s.to_string(), "0x100007e3c080000");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SessionId(pub i64);

impl SessionId {
    /// The id of the server that created the session.
    pub const fn server_id(self) -> u8 {
        (self.0 as u64 >> 56) as u8
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A client request id; replies carry the xid of their request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Xid(pub i32);

impl Xid {
    /// The xid after this one, as the Java client counts: from 1 up, wrapping back to 1 after
    /// `i32::MAX` so ordinary xids are never negative.
    pub const fn next(self) -> Xid {
        if self.0 == i32::MAX || self.0 < 0 {
            Xid(1)
        } else {
            Xid(self.0 + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_including_unknown_ones() {
        for code in -200..200 {
            assert_eq!(ErrorCode::from_code(code).code(), code);
            assert_eq!(OpCode::from_code(code).code(), code);
        }
        assert_eq!(ErrorCode::from_code(-101), ErrorCode::NoNode);
        assert_eq!(ErrorCode::from_code(-126), ErrorCode::Unknown(-126));
        assert_eq!(OpCode::from_code(106), OpCode::AddWatch);
        for op in OpCode::ALL {
            assert_eq!(
                OpCode::from_code(op.code()),
                *op,
                "duplicate code for {op:?}"
            );
        }
        for e in ErrorCode::ALL {
            assert_eq!(
                ErrorCode::from_code(e.code()),
                *e,
                "duplicate code for {e:?}"
            );
        }
    }

    #[test]
    fn create_modes_match_java_flags() {
        for mode in CreateMode::ALL {
            assert_eq!(CreateMode::from_flags(mode.flags()), Some(mode));
        }
        assert_eq!(CreateMode::from_flags(7), None);
        assert_eq!(CreateMode::from_flags(-1), None);
        assert_eq!(CreateMode::Container.opcode(false), OpCode::CreateContainer);
        assert_eq!(
            CreateMode::PersistentSequentialWithTtl.opcode(true),
            OpCode::CreateTtl
        );
        assert_eq!(
            CreateMode::EphemeralSequential.opcode(true),
            OpCode::Create2
        );
        assert_eq!(CreateMode::Ephemeral.opcode(false), OpCode::Create);
    }

    #[test]
    fn xids_wrap_to_one() {
        assert_eq!(Xid(0).next(), Xid(1));
        assert_eq!(Xid(41).next(), Xid(42));
        assert_eq!(Xid(i32::MAX).next(), Xid(1));
    }
}
