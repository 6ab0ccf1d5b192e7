//! What operations take and return: create options, node data (null included), and the
//! writes and reads of a multi with their results.

use bytes::Bytes;
use zk_proto::data::{Acl, Stat};
use zk_proto::CreateMode;

use crate::error::{Error, ErrorKind, Result};
#[cfg(doc)]
use crate::Client;

/// The node that holds the ensemble's dynamic configuration (never under a chroot).
pub const CONFIG_NODE: &str = "/zookeeper/config";

/// The largest TTL the server accepts, in ms (Java's `EphemeralType.TTL.maxValue()`).
const MAX_TTL_MS: i64 = (1 << 40) - 1;

/// How to create a node: mode, ACL and, for TTL modes, the time to live.
///
/// ```
/// use zk_client::{perms, Acl, CreateMode, CreateOptions, Id};
/// let opts = CreateOptions::ttl(60_000);
/// assert_eq!((opts.mode, opts.ttl_ms), (CreateMode::PersistentWithTtl, Some(60_000)));
/// assert_eq!(opts.acl, Acl::open_unsafe());
/// let members = CreateOptions::ephemeral_sequential()
///     .with_acl(vec![Acl::new(perms::ALL, Id::new("sasl", "alice"))]);
/// assert_eq!(members.mode, CreateMode::EphemeralSequential);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// The create mode.
    pub mode: CreateMode,
    /// The ACL; `OPEN_ACL_UNSAFE` by default.
    pub acl: Vec<Acl>,
    /// Time to live in ms, required for the TTL modes.
    pub ttl_ms: Option<i64>,
}

impl CreateOptions {
    /// Options for `mode` with an open ACL.
    pub fn new(mode: CreateMode) -> Self {
        CreateOptions {
            mode,
            acl: Acl::open_unsafe(),
            ttl_ms: None,
        }
    }

    /// Persistent with an open ACL.
    pub fn persistent() -> Self {
        Self::new(CreateMode::Persistent)
    }

    /// Ephemeral with an open ACL.
    pub fn ephemeral() -> Self {
        Self::new(CreateMode::Ephemeral)
    }

    /// Persistent with a sequence number appended to the name, open ACL.
    pub fn persistent_sequential() -> Self {
        Self::new(CreateMode::PersistentSequential)
    }

    /// Ephemeral with a sequence number appended to the name, open ACL.
    pub fn ephemeral_sequential() -> Self {
        Self::new(CreateMode::EphemeralSequential)
    }

    /// A container (deleted by the server once its last child is gone), open ACL.
    pub fn container() -> Self {
        Self::new(CreateMode::Container)
    }

    /// Persistent, deleted by the server when it has had no children and no change for
    /// `ttl_ms` (the server needs `extendedTypesEnabled=true`), open ACL.
    pub fn ttl(ttl_ms: i64) -> Self {
        Self::new(CreateMode::PersistentWithTtl).with_ttl(ttl_ms)
    }

    /// Replaces the ACL.
    pub fn with_acl(mut self, acl: Vec<Acl>) -> Self {
        self.acl = acl;
        self
    }

    /// Sets the TTL (TTL modes only).
    pub fn with_ttl(mut self, ttl_ms: i64) -> Self {
        self.ttl_ms = Some(ttl_ms);
        self
    }

    /// Checks what Java's client checks before sending.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.acl.is_empty() {
            return Err(ErrorKind::InvalidAcl.into());
        }
        match (self.mode.is_ttl(), self.ttl_ms) {
            (true, None) => Err(ErrorKind::InvalidArgument("TTL modes need a ttl".into()).into()),
            // Java's EphemeralType.TTL.toEphemeralOwner: 1 ..= 2^40 - 1 ms, checked locally.
            (true, Some(ttl)) if !(1..=MAX_TTL_MS).contains(&ttl) => {
                Err(ErrorKind::InvalidArgument(format!(
                    "ttl must be positive and cannot be larger than: {MAX_TTL_MS}"
                ))
                .into())
            }
            (false, Some(_)) => {
                Err(ErrorKind::InvalidArgument("a ttl needs a TTL create mode".into()).into())
            }
            _ => Ok(()),
        }
    }
}

/// A node's data as written: bytes (possibly none) or null.
///
/// ZooKeeper tells the two apart. Java's client can create a node or set its data with `null`
/// (on the wire, a buffer of length -1), and `getData` then answers `null` where it answers an
/// empty array for empty data; `Stat::data_length` is 0 for both. [`Client::create`] and
/// [`Client::set_data`] take anything that converts into `NodeData`: byte strings, slices,
/// `Vec<u8>`, `Bytes`, `&str`, and for null [`NodeData::Null`] or an `Option<&[u8]>` that is
/// `None`. [`Client::get_data_nullable`] reads null back as `None`.
///
/// ```
/// use zk_client::NodeData;
/// assert_eq!(NodeData::from(b"v1").as_bytes(), Some(&b"v1"[..]));
/// assert_eq!(NodeData::from("v1"), NodeData::from(b"v1".to_vec()));
/// assert!(NodeData::from(None::<&[u8]>).is_null());
/// assert!(!NodeData::from(b"").is_null(), "empty is not null");
/// assert_eq!(NodeData::Null.as_bytes(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeData {
    /// Null (Java's `null`): no data at all.
    Null,
    /// These bytes (possibly none).
    Bytes(Bytes),
}

impl NodeData {
    /// The bytes, or `None` for null.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            NodeData::Null => None,
            NodeData::Bytes(bytes) => Some(bytes),
        }
    }

    /// Whether this is null.
    pub fn is_null(&self) -> bool {
        *self == NodeData::Null
    }

    /// The bytes, or `None` for null.
    pub fn into_option(self) -> Option<Bytes> {
        match self {
            NodeData::Null => None,
            NodeData::Bytes(bytes) => Some(bytes),
        }
    }
}

impl From<&[u8]> for NodeData {
    fn from(data: &[u8]) -> Self {
        NodeData::Bytes(Bytes::copy_from_slice(data))
    }
}

impl<const N: usize> From<&[u8; N]> for NodeData {
    fn from(data: &[u8; N]) -> Self {
        NodeData::Bytes(Bytes::copy_from_slice(data))
    }
}

impl From<&Vec<u8>> for NodeData {
    fn from(data: &Vec<u8>) -> Self {
        NodeData::Bytes(Bytes::copy_from_slice(data))
    }
}

impl From<Vec<u8>> for NodeData {
    fn from(data: Vec<u8>) -> Self {
        NodeData::Bytes(data.into())
    }
}

impl From<Bytes> for NodeData {
    fn from(data: Bytes) -> Self {
        NodeData::Bytes(data)
    }
}

impl From<&Bytes> for NodeData {
    fn from(data: &Bytes) -> Self {
        NodeData::Bytes(data.clone())
    }
}

impl From<&str> for NodeData {
    fn from(data: &str) -> Self {
        NodeData::Bytes(Bytes::copy_from_slice(data.as_bytes()))
    }
}

/// `None` is null. (Only this one `Option` converts, so a bare `None` needs no annotation.)
impl From<Option<&[u8]>> for NodeData {
    fn from(data: Option<&[u8]>) -> Self {
        data.map_or(NodeData::Null, NodeData::from)
    }
}

impl From<NodeData> for Option<Bytes> {
    fn from(data: NodeData) -> Self {
        data.into_option()
    }
}

/// One write of a [`Client::multi`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create a node.
    Create {
        /// Path (sequential modes get a suffix).
        path: String,
        /// Data ([`NodeData::Null`] for Java's null).
        data: NodeData,
        /// Mode, ACL, TTL.
        options: CreateOptions,
    },
    /// Delete a node (`version` `None` = any).
    Delete {
        /// Path.
        path: String,
        /// Expected version.
        version: Option<i32>,
    },
    /// Replace a node's data (`version` `None` = any).
    SetData {
        /// Path.
        path: String,
        /// New data ([`NodeData::Null`] for Java's null).
        data: NodeData,
        /// Expected version.
        version: Option<i32>,
    },
    /// Fail the multi unless the node has this version.
    Check {
        /// Path.
        path: String,
        /// Required version.
        version: i32,
    },
}

impl Op {
    /// The path the op names (as given, relative to the chroot).
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. } => path,
        }
    }
}

/// The result of one [`Op`] of a successful multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// The created node's path (client-relative) and, for containers and TTL nodes, its Stat.
    Create {
        /// The path, with any sequential suffix.
        path: String,
        /// The Stat when the server returns one (createContainer, createTTL).
        stat: Option<Stat>,
    },
    /// The node was deleted.
    Delete,
    /// The node's new Stat.
    SetData(Stat),
    /// The check passed.
    Check,
}

/// One read of a [`Client::multi_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    /// A node's data and Stat.
    GetData(String),
    /// A node's child names.
    GetChildren(String),
}

impl ReadOp {
    /// The path the read names (as given, relative to the chroot).
    pub fn path(&self) -> &str {
        match self {
            ReadOp::GetData(path) | ReadOp::GetChildren(path) => path,
        }
    }
}

/// The result of one [`ReadOp`]; each succeeds or fails on its own (a failed one's error
/// names its path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    /// Data and Stat.
    Data(Bytes, Stat),
    /// Child names.
    Children(Vec<String>),
    /// This read failed.
    Error(Error),
}
