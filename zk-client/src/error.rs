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

/// Why the last attempt to reach one server of the connect string failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectCause {
    /// The host name did not resolve (the resolver's message).
    Unresolved(String),
    /// The connection was refused: nothing listens on the port.
    Refused,
    /// No session came back within the attempt's time (the session timeout split across the
    /// hosts, as Java's client splits it), or `connect` gave up while it was still waiting.
    TimedOut,
    /// The TLS handshake failed (the TLS library's message).
    Tls(String),
    /// The server closed the connection without answering the handshake: it is read-only and
    /// the client does not accept that, or it is behind the last zxid this session saw.
    Rejected,
    /// The server's answer could not be decoded.
    Protocol(String),
    /// Any other I/O error (host unreachable, connection reset, ...).
    Io(String),
}

impl std::fmt::Display for ConnectCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectCause::Unresolved(m) => write!(f, "does not resolve ({m})"),
            ConnectCause::Refused => f.write_str("connection refused"),
            ConnectCause::TimedOut => f.write_str("no answer in time"),
            ConnectCause::Tls(m) => write!(f, "TLS handshake failed ({m})"),
            ConnectCause::Rejected => f.write_str("closed without answering the handshake"),
            ConnectCause::Protocol(m) => write!(f, "unreadable answer ({m})"),
            ConnectCause::Io(m) => f.write_str(m),
        }
    }
}

/// What happened to the attempts on one server of the connect string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAttempts {
    /// The host, as the connect string names it.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How many attempts were made on it.
    pub attempts: u32,
    /// Why the last one failed.
    pub last_cause: ConnectCause,
}

impl std::fmt::Display for HostAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let tries = if self.attempts == 1 { "try" } else { "tries" };
        write!(
            f,
            "{host}:{}: {} ({} {tries})",
            self.port, self.last_cause, self.attempts
        )
    }
}

/// A failed [`ClientBuilder::connect_with_report`](crate::ClientBuilder::connect_with_report):
/// the error [`connect`](crate::ClientBuilder::connect) returns (`Timeout` when no server
/// answered in time), and, for each server tried, why its last attempt failed.
///
/// ```
/// use zk_client::{ConnectCause, ConnectError, Error, HostAttempts};
/// let failure = ConnectError {
///     error: Error::Timeout,
///     hosts: vec![HostAttempts {
///         host: "127.0.0.1".into(),
///         port: 2181,
///         attempts: 3,
///         last_cause: ConnectCause::Refused,
///     }],
/// };
/// assert_eq!(
///     failure.to_string(),
///     "timed out; 127.0.0.1:2181: connection refused (3 tries)"
/// );
/// // `?` turns it into the plain error.
/// assert_eq!(Error::from(failure), Error::Timeout);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// What `connect` returns.
    pub error: Error,
    /// Each server tried before giving up, in connect-string order, with its last failure.
    pub hosts: Vec<HostAttempts>,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        for host in &self.hosts {
            write!(f, "; {host}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<ConnectError> for Error {
    fn from(failure: ConnectError) -> Error {
        failure.error
    }
}

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
