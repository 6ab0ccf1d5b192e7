//! The client's one error type.

use zk_proto::ErrorCode;

/// Everything a client operation can fail with: each ZooKeeper error code the server sends, and
/// the client's own conditions (connection loss, expiry, close, timeout, bad input).
///
/// ```
/// use zk_client::{Error, ErrorCode};
/// let e = Error::from_code(ErrorCode::NoNode);
/// assert_eq!(e, Error::NoNode);
/// assert_eq!(e.code(), Some(ErrorCode::NoNode));
/// assert!(!e.is_retryable());
/// assert!(Error::ConnectionLoss.is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node does not exist.
    #[error("no node")]
    NoNode,
    /// The node already exists.
    #[error("node exists")]
    NodeExists,
    /// The expected version did not match.
    #[error("bad version")]
    BadVersion,
    /// The node has children.
    #[error("node not empty")]
    NotEmpty,
    /// The node's ACL denies the operation.
    #[error("not authorized")]
    NoAuth,
    /// Ephemeral nodes cannot have children.
    #[error("ephemeral nodes cannot have children")]
    NoChildrenForEphemerals,
    /// The ACL is invalid (empty, bad id, or `auth` without authentication).
    #[error("invalid ACL")]
    InvalidAcl,
    /// The server rejected the arguments (path, flags, TTL).
    #[error("bad arguments")]
    BadArguments,
    /// The server does not implement this (for example TTL nodes without extended types).
    #[error("unimplemented")]
    Unimplemented,
    /// Authentication failed; the session cannot be used any more.
    #[error("authentication failed")]
    AuthFailed,
    /// The session expired; a new client is needed.
    #[error("session expired")]
    SessionExpired,
    /// The connection was lost before the reply arrived; the operation may or may not have
    /// been applied.
    #[error("connection loss")]
    ConnectionLoss,
    /// The session moved to another server.
    #[error("session moved")]
    SessionMoved,
    /// A write was sent to a read-only server.
    #[error("server is read-only")]
    NotReadOnly,
    /// No watch of that kind exists for the path.
    #[error("no watcher")]
    NoWatcher,
    /// Reconfiguration is disabled on the server.
    #[error("reconfig disabled")]
    ReconfigDisabled,
    /// A multi failed: the operation at `index` failed with `code`; nothing was applied.
    #[error("multi failed at op {index}: {code}")]
    MultiFailed {
        /// Index of the first failing operation.
        index: usize,
        /// Its error.
        code: ErrorCode,
        /// Every operation's result code, as the server reported them.
        results: Vec<ErrorCode>,
    },
    /// Any other code the server sent.
    #[error("server error {0}")]
    Server(ErrorCode),
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// No connection could be established in time.
    #[error("timed out")]
    Timeout,
    /// The path is not a valid znode path; nothing was sent.
    #[error("{0}")]
    InvalidPath(String),
    /// An argument was rejected before sending (for example an empty multi).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The server sent bytes this client could not decode; the connection was dropped.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The TLS settings cannot be used (a store cannot be read, a setting is wrong).
    #[error("TLS: {0}")]
    Tls(String),
    /// A fenced write ([`crate::recipes::lock::LockGuard::fence`]) found the lock no longer
    /// held (its node is gone: the session expired or someone deleted it); nothing was
    /// applied.
    #[error("the lock is no longer held")]
    LockLost,
}

impl Error {
    /// The error for a server code (`None` is never returned for a non-OK code).
    pub fn from_code(code: ErrorCode) -> Self {
        match code {
            ErrorCode::NoNode => Error::NoNode,
            ErrorCode::NodeExists => Error::NodeExists,
            ErrorCode::BadVersion => Error::BadVersion,
            ErrorCode::NotEmpty => Error::NotEmpty,
            ErrorCode::NoAuth => Error::NoAuth,
            ErrorCode::NoChildrenForEphemerals => Error::NoChildrenForEphemerals,
            ErrorCode::InvalidAcl => Error::InvalidAcl,
            ErrorCode::BadArguments => Error::BadArguments,
            ErrorCode::Unimplemented => Error::Unimplemented,
            ErrorCode::AuthFailed => Error::AuthFailed,
            ErrorCode::SessionExpired => Error::SessionExpired,
            ErrorCode::ConnectionLoss => Error::ConnectionLoss,
            ErrorCode::SessionMoved => Error::SessionMoved,
            ErrorCode::NotReadOnly => Error::NotReadOnly,
            ErrorCode::NoWatcher => Error::NoWatcher,
            ErrorCode::ReconfigDisabled => Error::ReconfigDisabled,
            other => Error::Server(other),
        }
    }

    /// The ZooKeeper code this error stands for, if it has one.
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            Error::NoNode => ErrorCode::NoNode,
            Error::NodeExists => ErrorCode::NodeExists,
            Error::BadVersion => ErrorCode::BadVersion,
            Error::NotEmpty => ErrorCode::NotEmpty,
            Error::NoAuth => ErrorCode::NoAuth,
            Error::NoChildrenForEphemerals => ErrorCode::NoChildrenForEphemerals,
            Error::InvalidAcl => ErrorCode::InvalidAcl,
            Error::BadArguments => ErrorCode::BadArguments,
            Error::Unimplemented => ErrorCode::Unimplemented,
            Error::AuthFailed => ErrorCode::AuthFailed,
            Error::SessionExpired => ErrorCode::SessionExpired,
            Error::ConnectionLoss => ErrorCode::ConnectionLoss,
            Error::SessionMoved => ErrorCode::SessionMoved,
            Error::NotReadOnly => ErrorCode::NotReadOnly,
            Error::NoWatcher => ErrorCode::NoWatcher,
            Error::ReconfigDisabled => ErrorCode::ReconfigDisabled,
            Error::MultiFailed { code, .. } => *code,
            Error::Server(code) => *code,
            Error::Timeout => ErrorCode::OperationTimeout,
            Error::Closed
            | Error::InvalidPath(_)
            | Error::InvalidArgument(_)
            | Error::Protocol(_)
            | Error::Tls(_)
            | Error::LockLost => return None,
        })
    }

    /// Whether trying the same operation again may succeed: a lost connection, a timeout, a
    /// moved session or throttling. (A retried write may already have been applied.)
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::ConnectionLoss | Error::Timeout | Error::SessionMoved => true,
            Error::Server(code) => matches!(
                code,
                ErrorCode::OperationTimeout | ErrorCode::RequestTimeout | ErrorCode::ThrottledOp
            ),
            _ => false,
        }
    }
}

/// The result of a client operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_maps_back() {
        for code in ErrorCode::ALL {
            if code.is_ok() {
                continue;
            }
            assert_eq!(Error::from_code(*code).code(), Some(*code), "{code:?}");
        }
        assert_eq!(
            Error::from_code(ErrorCode::Unknown(-999)).code(),
            Some(ErrorCode::Unknown(-999))
        );
    }
}
