//! The Apache ZooKeeper wire protocol, shared by `zk-client` and `zk-server`.
//!
//! - [`jute`]: the binary encoding and the [`Jute`] trait every record implements;
//! - [`data`], [`proto`], [`txn`], [`quorum`]: the records of `zookeeper.jute`, grouped as there;
//! - [`message`]: whole requests and replies, decoded by opcode;
//! - [`types`]: opcodes, error codes, create modes, zxids and session ids;
//! - [`path`]: path validation exactly as Java does it, and sequential names;
//! - [`quota`]: the quota nodes and their `StatsTrack` text;
//! - [`frame`]: the tokio-util codec for length-prefixed frames, the handshake stage and
//!   four-letter words;
//! - [`storage`]: snapshot and transaction-log file layouts;
//! - [`sasl`]: the DIGEST-MD5 directive lists and digests of SASL authentication;
//! - [`time`]: the calendar arithmetic for printing record times as Java does.
//!
//! No sockets, files or clocks live here: only data and codecs.
//!
//! ```
//! use zk_proto::{Jute, data::Stat};
//! let stat = Stat { version: 3, ..Stat::default() };
//! let bytes = stat.to_jute_bytes();
//! assert_eq!(bytes.len(), 68);
//! assert_eq!(Stat::from_jute_bytes(&bytes).unwrap(), stat);
//! ```

pub mod data;
pub mod frame;
pub mod jute;
pub mod message;
pub mod path;
pub mod proto;
pub mod quorum;
pub mod quota;
pub mod sasl;
pub mod storage;
pub mod time;
pub mod txn;
pub mod types;

pub use jute::{DecodeError, Jute};
pub use types::{
    perms, xid, AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, OpCode, SessionId,
    WatcherType, Xid, Zxid,
};
