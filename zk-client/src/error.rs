//! The client's one error type.

use zk_proto::ErrorCode;

/// What went wrong: each ZooKeeper error code the server sends, and the client's own conditions
/// (connection loss, expiry, close, timeout, bad input). An [`Error`] holds one, with the path
/// it concerned.
///
/// ```
/// use zk_client::{ErrorCode, ErrorKind};
/// let kind = ErrorKind::from_code(ErrorCode::NoNode);
/// assert_eq!(kind, ErrorKind::NoNode);
/// assert_eq!(kind.code(), Some(ErrorCode::NoNode));
/// assert!(!kind.is_retryable());
/// assert!(ErrorKind::ConnectionLoss.is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
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

impl ErrorKind {
    /// The error for a server code (`None` is never returned for a non-OK code).
    pub fn from_code(code: ErrorCode) -> ErrorKind {
        match code {
            ErrorCode::NoNode => ErrorKind::NoNode,
            ErrorCode::NodeExists => ErrorKind::NodeExists,
            ErrorCode::BadVersion => ErrorKind::BadVersion,
            ErrorCode::NotEmpty => ErrorKind::NotEmpty,
            ErrorCode::NoAuth => ErrorKind::NoAuth,
            ErrorCode::NoChildrenForEphemerals => ErrorKind::NoChildrenForEphemerals,
            ErrorCode::InvalidAcl => ErrorKind::InvalidAcl,
            ErrorCode::BadArguments => ErrorKind::BadArguments,
            ErrorCode::Unimplemented => ErrorKind::Unimplemented,
            ErrorCode::AuthFailed => ErrorKind::AuthFailed,
            ErrorCode::SessionExpired => ErrorKind::SessionExpired,
            ErrorCode::ConnectionLoss => ErrorKind::ConnectionLoss,
            ErrorCode::SessionMoved => ErrorKind::SessionMoved,
            ErrorCode::NotReadOnly => ErrorKind::NotReadOnly,
            ErrorCode::NoWatcher => ErrorKind::NoWatcher,
            ErrorCode::ReconfigDisabled => ErrorKind::ReconfigDisabled,
            other => ErrorKind::Server(other),
        }
    }

    /// The ZooKeeper code this error stands for, if it has one.
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            ErrorKind::NoNode => ErrorCode::NoNode,
            ErrorKind::NodeExists => ErrorCode::NodeExists,
            ErrorKind::BadVersion => ErrorCode::BadVersion,
            ErrorKind::NotEmpty => ErrorCode::NotEmpty,
            ErrorKind::NoAuth => ErrorCode::NoAuth,
            ErrorKind::NoChildrenForEphemerals => ErrorCode::NoChildrenForEphemerals,
            ErrorKind::InvalidAcl => ErrorCode::InvalidAcl,
            ErrorKind::BadArguments => ErrorCode::BadArguments,
            ErrorKind::Unimplemented => ErrorCode::Unimplemented,
            ErrorKind::AuthFailed => ErrorCode::AuthFailed,
            ErrorKind::SessionExpired => ErrorCode::SessionExpired,
            ErrorKind::ConnectionLoss => ErrorCode::ConnectionLoss,
            ErrorKind::SessionMoved => ErrorCode::SessionMoved,
            ErrorKind::NotReadOnly => ErrorCode::NotReadOnly,
            ErrorKind::NoWatcher => ErrorCode::NoWatcher,
            ErrorKind::ReconfigDisabled => ErrorCode::ReconfigDisabled,
            ErrorKind::MultiFailed { code, .. } => *code,
            ErrorKind::Server(code) => *code,
            ErrorKind::Timeout => ErrorCode::OperationTimeout,
            ErrorKind::Closed
            | ErrorKind::InvalidPath(_)
            | ErrorKind::InvalidArgument(_)
            | ErrorKind::Protocol(_)
            | ErrorKind::Tls(_)
            | ErrorKind::LockLost => return None,
        })
    }

    /// Whether trying the same operation again may succeed: a lost connection, a timeout, a
    /// moved session or throttling. (A retried write may already have been applied.)
    pub fn is_retryable(&self) -> bool {
        match self {
            ErrorKind::ConnectionLoss | ErrorKind::Timeout | ErrorKind::SessionMoved => true,
            ErrorKind::Server(code) => matches!(
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

/// A failed operation: what went wrong ([`kind`](Self::kind)), the path it concerned (as the
/// caller named it, relative to the chroot), and, for a failed connect, why each server could not
/// be reached. Its message reads like Java's `KeeperException` (`no node for /app/config`).
///
/// Match on the kind; compare with `==` against an [`ErrorKind`]:
///
/// ```
/// use zk_client::{Error, ErrorKind};
/// let e = Error::from(ErrorKind::NoNode).with_path("/app/config");
/// assert_eq!(e, ErrorKind::NoNode);
/// assert_eq!(e.path(), Some("/app/config"));
/// assert_eq!(e.to_string(), "no node for /app/config");
/// match e.kind() {
///     ErrorKind::NoNode => {}
///     other => panic!("unexpected {other}"),
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    pub(crate) kind: ErrorKind,
    // Boxed so the common case (`Result<T, Error>`) stays two words plus the kind.
    pub(crate) context: Option<Box<Context>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Context {
    path: Option<String>,
    hosts: Vec<HostAttempts>,
}

impl Error {
    /// The error for a server code.
    pub fn from_code(code: ErrorCode) -> Error {
        ErrorKind::from_code(code).into()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// What went wrong, without the context.
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// The path the failed operation named (relative to the chroot), if it named one. For a
    /// failed `multi`, the path of the operation that failed.
    pub fn path(&self) -> Option<&str> {
        self.context.as_ref()?.path.as_deref()
    }

    /// The error with `path` as its path (the path already set, if any, is kept).
    pub fn with_path(mut self, path: impl Into<String>) -> Error {
        let context = self.context.get_or_insert_with(Box::default);
        if context.path.is_none() {
            context.path = Some(path.into());
        }
        self
    }

    /// For a failed connect: each server tried before giving up, in connect-string order, with
    /// why its last attempt failed. Empty for other errors.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// let Err(e) = zk_client::Client::connect("127.0.0.1:1,127.0.0.1:2").await else { return };
    /// // "timed out; 127.0.0.1:1: connection refused (3 tries); 127.0.0.1:2: ..."
    /// eprintln!("{e}");
    /// for host in e.hosts() {
    ///     eprintln!("{}:{} -> {}", host.host, host.port, host.last_cause);
    /// }
    /// # }
    /// ```
    pub fn hosts(&self) -> &[HostAttempts] {
        self.context.as_ref().map_or(&[], |c| &c.hosts)
    }

    /// The error with the per-server report of a failed connect.
    pub(crate) fn with_hosts(mut self, hosts: Vec<HostAttempts>) -> Error {
        if !hosts.is_empty() {
            self.context.get_or_insert_with(Box::default).hosts = hosts;
        }
        self
    }

    /// The ZooKeeper code this error stands for, if it has one.
    pub fn code(&self) -> Option<ErrorCode> {
        self.kind.code()
    }

    /// Whether trying the same operation again may succeed ([`ErrorKind::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error {
            kind,
            context: None,
        }
    }
}

impl PartialEq<ErrorKind> for Error {
    fn eq(&self, kind: &ErrorKind) -> bool {
        self.kind == *kind
    }
}

/// The kind alone when there is no context (`NoNode`), else the fields that are set
/// (`Error { kind: NoNode, path: "/a" }`).
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(context) = &self.context else {
            return self.kind.fmt(f);
        };
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.kind);
        if let Some(path) = &context.path {
            s.field("path", path);
        }
        if !context.hosts.is_empty() {
            s.field("hosts", &context.hosts);
        }
        s.finish()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(path) = self.path() {
            write!(f, " for {path}")?;
        }
        for host in self.hosts() {
            write!(f, "; {host}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_maps_back() {
        for code in ErrorCode::ALL {
            if code.is_ok() {
                continue;
            }
            assert_eq!(ErrorKind::from_code(*code).code(), Some(*code), "{code:?}");
        }
        assert_eq!(
            ErrorKind::from_code(ErrorCode::Unknown(-999)).code(),
            Some(ErrorCode::Unknown(-999))
        );
    }

    #[test]
    fn the_message_names_the_path_and_each_host() {
        let e = Error::from(ErrorKind::Timeout).with_hosts(vec![HostAttempts {
            host: "::1".into(),
            port: 2181,
            attempts: 3,
            last_cause: ConnectCause::Refused,
        }]);
        assert_eq!(
            e.to_string(),
            "timed out; [::1]:2181: connection refused (3 tries)"
        );
        let e = Error::from(ErrorKind::NodeExists)
            .with_path("/a")
            .with_path("/b");
        assert_eq!(e.to_string(), "node exists for /a");
        assert_ne!(e, Error::from(ErrorKind::NodeExists));
        assert_eq!(e, ErrorKind::NodeExists);
        assert_eq!(e.hosts(), &[]);
        assert_eq!(
            format!("{e:?}"),
            r#"Error { kind: NodeExists, path: "/a" }"#
        );
        assert_eq!(format!("{:?}", Error::from(ErrorKind::Closed)), "Closed");
    }
}
