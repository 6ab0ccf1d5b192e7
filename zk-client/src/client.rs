//! The public API: [`Client`] and its builder, operations, multi.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use zk_proto::data::{Acl, ClientInfo, Stat};
use zk_proto::message::{MultiOp, MultiRequest, MultiResponse, MultiResult};
use zk_proto::path::{validate_create_path, validate_path};
use zk_proto::proto::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, Create2Response, CreateRequest,
    CreateResponse, CreateTtlRequest, DeleteRequest, ExistsRequest, GetAclRequest, GetAclResponse,
    GetAllChildrenNumberRequest, GetAllChildrenNumberResponse, GetChildren2Request,
    GetChildren2Response, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    GetEphemeralsRequest, GetEphemeralsResponse, RemoveWatchesRequest, SetAclRequest,
    SetAclResponse, SetDataRequest, SetDataResponse, SyncRequest, WhoAmIResponse,
};
use zk_proto::{AddWatchMode, CreateMode, ErrorCode, Jute, OpCode, WatcherType};

use crate::conn::{Command, ConnConfig, Driver, Shared};
use crate::connect_string::ConnectString;
use crate::error::{Error, Result};
use crate::session::{
    add_chroot, strip_chroot, RawReply, Session, SessionInfo, SessionState, Submission,
    WatchRequest,
};
use crate::tls::TlsOptions;
use crate::watch::{OneshotKind, OneshotWatcher, PersistentWatcher};

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
    fn validate(&self) -> Result<()> {
        if self.acl.is_empty() {
            return Err(Error::InvalidAcl);
        }
        match (self.mode.is_ttl(), self.ttl_ms) {
            (true, None) => Err(Error::InvalidArgument("TTL modes need a ttl".into())),
            // Java's EphemeralType.TTL.toEphemeralOwner: 1 ..= 2^40 - 1 ms, checked locally.
            (true, Some(ttl)) if !(1..=MAX_TTL_MS).contains(&ttl) => Err(Error::InvalidArgument(
                format!("ttl must be positive and cannot be larger than: {MAX_TTL_MS}"),
            )),
            (false, Some(_)) => Err(Error::InvalidArgument(
                "a ttl needs a TTL create mode".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// One write of a [`Client::multi`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create a node.
    Create {
        /// Path (sequential modes get a suffix).
        path: String,
        /// Data.
        data: Vec<u8>,
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
        /// New data.
        data: Vec<u8>,
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

/// The result of one [`ReadOp`]; each succeeds or fails on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    /// Data and Stat.
    Data(Bytes, Stat),
    /// Child names.
    Children(Vec<String>),
    /// This read failed.
    Error(Error),
}

/// Configures and connects a [`Client`].
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use std::time::Duration;
/// let client = zk_client::Client::builder("127.0.0.1:2181/app")
///     .session_timeout(Duration::from_secs(10))
///     .auth("digest", b"alice:secret".to_vec())
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    connect_string: String,
    session_timeout: Duration,
    connect_timeout: Option<Duration>,
    read_only: bool,
    auth: Vec<(String, Vec<u8>)>,
    resume: Option<(i64, Bytes)>,
    max_frame_len: usize,
    sasl: Option<crate::sasl::SaslLogin>,
    tls: Option<TlsOptions>,
}

impl ClientBuilder {
    /// The session timeout to ask for (the server clamps it; default 10 s).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long `connect` waits for the first session (default: the session timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Accept read-only servers (those that lost their quorum).
    pub fn read_only(mut self, allowed: bool) -> Self {
        self.read_only = allowed;
        self
    }

    /// Authenticate with `scheme` (for example `digest` with `user:password`) on every
    /// connection.
    pub fn auth(mut self, scheme: impl Into<String>, auth: Vec<u8>) -> Self {
        self.auth.push((scheme.into(), auth));
        self
    }

    /// Log in with SASL DIGEST-MD5 as `username` on every connection, before anything else is
    /// sent, as the Java client does with a JAAS `Client` section holding
    /// `org.apache.zookeeper.server.auth.DigestLoginModule required username="..."
    /// password="...";`. The server must list the user in its JAAS `Server` section; the
    /// connection then holds the id `sasl:username`.
    ///
    /// Each successful login publishes [`SessionState::SaslAuthenticated`] after the connected
    /// state. A refused login (wrong password, unknown user, a server without SASL) ends the
    /// session in [`SessionState::AuthFailed`]: `connect` fails with
    /// [`Error::AuthFailed`](crate::Error::AuthFailed), or, after a reconnect, every request
    /// does.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// use zk_client::{Client, CreateOptions, SessionState};
    /// use zk_client::{Acl, Id};
    /// let client = Client::builder("127.0.0.1:2181")
    ///     .sasl_digest("alice", "alice-secret")
    ///     .connect()
    ///     .await?;
    /// assert_eq!(client.state(), SessionState::SaslAuthenticated);
    /// let only_alice = vec![Acl::new(zk_client::perms::ALL, Id::new("sasl", "alice"))];
    /// client
    ///     .create("/mine", b"x", &CreateOptions::persistent().with_acl(only_alice))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn sasl_digest(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.sasl = Some(crate::sasl::SaslLogin {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// Re-attach to an existing session instead of creating one.
    pub fn resume_session(mut self, session_id: i64, password: Bytes) -> Self {
        self.resume = Some((session_id, password));
        self
    }

    /// Connect with TLS (to servers' `secureClientPort`), as the Java client with
    /// `zookeeper.client.secure=true`.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// use zk_client::{Client, StoreSpec, TlsOptions};
    /// let client = Client::builder("127.0.0.1:2281")
    ///     .tls(
    ///         TlsOptions::new()
    ///             .trust_store(StoreSpec::new("ca.pem"))
    ///             .key_store(StoreSpec::new("client.pem")),
    ///     )
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    /// The largest frame accepted from the server (Java's `jute.maxbuffer`, default 0xfffff).
    pub fn max_frame_len(mut self, len: usize) -> Self {
        self.max_frame_len = len;
        self
    }

    /// Connects: returns once a session is established, or fails with `Timeout` (no server
    /// answered in time), `SessionExpired` (a resumed session is gone), `AuthFailed`, or
    /// `Tls` (the TLS stores or settings cannot be used).
    pub async fn connect(self) -> Result<Client> {
        let cs: ConnectString = self.connect_string.parse()?;
        let tls = self
            .tls
            .as_ref()
            .map(TlsOptions::client_config)
            .transpose()?;
        let timeout_ms = i32::try_from(self.session_timeout.as_millis()).unwrap_or(i32::MAX);
        let mut session = Session::new(cs.chroot().map(str::to_owned), timeout_ms, self.read_only);
        if let Some((id, password)) = self.resume {
            session.resume(id, password);
        }
        let (state_tx, state_rx) = watch::channel(SessionState::Connecting);
        let shared = Arc::new(Shared {
            state: state_tx,
            info: Mutex::new(SessionInfo::default()),
            listeners: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let config = ConnConfig {
            hosts: cs.hosts().to_vec(),
            requested_timeout: self.session_timeout,
            max_frame_len: self.max_frame_len,
            sasl: self.sasl,
            tls,
        };
        // With a SASL login, the connection is ready once it is published as authenticated
        // (just after the connected state).
        let ready = if config.sasl.is_some() {
            |s: SessionState| s == SessionState::SaslAuthenticated
        } else {
            SessionState::is_connected
        };
        tokio::spawn(Driver::new(config, session, shared.clone(), rx, seed).run());
        let client = Client {
            inner: Arc::new(Inner {
                commands: tx,
                chroot: cs.chroot().map(str::to_owned),
                shared,
                state: state_rx,
                next_watch_id: AtomicU64::new(1),
            }),
        };
        let auths: Vec<_> = self
            .auth
            .into_iter()
            .map(|(scheme, auth)| client.add_auth(scheme, auth))
            .collect();
        let wait = self.connect_timeout.unwrap_or(self.session_timeout);
        let mut state = client.inner.state.clone();
        let connected = tokio::time::timeout(wait, async {
            loop {
                let now = *state.borrow_and_update();
                if ready(now) {
                    return Ok(());
                }
                if let Some(err) = now.terminal_error() {
                    return Err(err);
                }
                if state.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        })
        .await;
        match connected {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                let _ = client.close().await;
                return Err(Error::Timeout);
            }
        }
        for auth in auths {
            auth.await?;
        }
        Ok(client)
    }
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    chroot: Option<String>,
    shared: Arc<Shared>,
    state: watch::Receiver<SessionState>,
    next_watch_id: AtomicU64,
}

/// A ZooKeeper session. Cheap to clone: clones share the session. Every operation is put on the
/// wire in call order (the request is queued when the method is called, before its future is
/// polled), and replies come back in that order.
///
/// The session survives connection losses (the client reconnects to any server of the connect
/// string and re-registers its watches); `SessionExpired` ends it for good, after which every
/// call fails and a new client is needed. Dropping the last clone closes the session.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::{Client, CreateOptions};
/// let client = Client::connect("127.0.0.1:2181").await?;
/// let (path, _stat) = client.create("/demo", b"hello", &CreateOptions::ephemeral()).await?;
/// let (data, stat) = client.get_data(&path).await?;
/// assert_eq!(&data[..], b"hello");
/// client.set_data(&path, b"bye", Some(stat.version)).await?;
/// client.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

type Decoder<T> = fn(&Inner, RawReply) -> Result<T>;

impl Client {
    /// A builder for `connect_string` (`host:port[,host:port...][/chroot]`).
    pub fn builder(connect_string: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            connect_string: connect_string.into(),
            session_timeout: Duration::from_secs(10),
            connect_timeout: None,
            read_only: false,
            auth: Vec::new(),
            resume: None,
            max_frame_len: zk_proto::frame::DEFAULT_MAX_FRAME_LEN,
            sasl: None,
            tls: None,
        }
    }

    /// Connects with default settings.
    pub async fn connect(connect_string: &str) -> Result<Client> {
        Self::builder(connect_string).connect().await
    }

    /// The current session state.
    pub fn state(&self) -> SessionState {
        *self.inner.state.borrow()
    }

    /// A stream of every state change from now on (ends after a final state).
    pub fn state_changes(&self) -> crate::EventStream<SessionState> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut listeners = self.inner.shared.listeners.lock().expect("listener lock");
        if self.state().is_terminal() {
            let _ = tx.send(self.state());
        } else {
            listeners.push(tx);
        }
        crate::EventStream::new(rx)
    }

    /// Session id, password, negotiated timeout and last zxid seen.
    pub fn session(&self) -> SessionInfo {
        self.inner.shared.info.lock().expect("info lock").clone()
    }

    /// The chroot this client works under, if any.
    pub fn chroot(&self) -> Option<&str> {
        self.inner.chroot.as_deref()
    }

    fn server_path(&self, path: &str) -> Result<String> {
        validate_path(path).map_err(|e| Error::InvalidPath(e.to_string()))?;
        Ok(add_chroot(self.inner.chroot.as_deref(), path))
    }

    /// Queues a request now; the returned future waits for and decodes its reply.
    fn request<T: Send + 'static>(
        &self,
        op: OpCode,
        body: Result<Vec<u8>>,
        watch: Option<WatchRequest>,
        decode: Decoder<T>,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let inner = self.inner.clone();
        let queued = body.and_then(|body| {
            if let Some(err) = self.state().terminal_error() {
                return Err(err);
            }
            let (tx, rx) = oneshot::channel();
            let sub = Submission {
                op,
                body: body.into(),
                watch,
                reply: Some(tx),
            };
            self.inner
                .commands
                .send(Command::Submit(sub))
                .map_err(|_| self.state().terminal_error().unwrap_or(Error::Closed))?;
            Ok(rx)
        });
        async move {
            let raw = queued?.await.map_err(|_| Error::Closed)??;
            decode(&inner, raw)
        }
    }

    /// Creates a node; returns its path (client-relative, with any sequential suffix) and Stat.
    /// Uses create2, createContainer or createTTL as Java does.
    pub fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> impl Future<Output = Result<(String, Stat)>> + Send + 'static {
        let body = options.validate().and_then(|()| {
            validate_create_path(path, options.mode.is_sequential())
                .map_err(|e| Error::InvalidPath(e.to_string()))?;
            let server_path = add_chroot(self.inner.chroot.as_deref(), path);
            Ok(create_body(server_path, data, options))
        });
        self.request(options.mode.opcode(true), body, None, |inner, raw| {
            let r: Create2Response = decode_ok(raw)?;
            Ok((inner.client_path(&r.path), r.stat))
        })
    }

    /// Deletes a node (`version` `None` = any version).
    pub fn delete(
        &self,
        path: &str,
        version: Option<i32>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        // Java sends a delete of "/" unchanged under a chroot, so it fails like a root delete.
        let body = if path == "/" {
            Ok("/".to_owned())
        } else {
            self.server_path(path)
        }
        .map(|path| {
            DeleteRequest {
                path,
                version: version.unwrap_or(-1),
            }
            .to_jute_bytes()
        });
        self.request(OpCode::Delete, body, None, |_, raw| check_ok(&raw))
    }

    /// The node's Stat, or `None` if it does not exist.
    pub fn exists(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<Stat>>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| ExistsRequest { path, watch: false }.to_jute_bytes());
        self.request(OpCode::Exists, body, None, |_, raw| decode_exists(raw))
    }

    /// Like [`exists`](Self::exists), leaving a watch that fires on create, delete or data change
    /// (also when the node does not exist yet).
    pub fn exists_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Stat>, OneshotWatcher)>> + Send + 'static {
        let (watch, watcher) = self.oneshot_watch(OneshotKind::Exist, path);
        let body = self
            .server_path(path)
            .map(|path| ExistsRequest { path, watch: true }.to_jute_bytes());
        let fut = self.request(OpCode::Exists, body, watch, |_, raw| decode_exists(raw));
        async move { Ok((fut.await?, watcher)) }
    }

    /// The node's data (empty for null data) and Stat.
    pub fn get_data(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetDataRequest { path, watch: false }.to_jute_bytes());
        self.request(OpCode::GetData, body, None, |_, raw| decode_data(raw))
    }

    /// Like [`get_data`](Self::get_data), leaving a watch that fires on data change or delete.
    pub fn get_data_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Bytes, Stat, OneshotWatcher)>> + Send + 'static {
        let (watch, watcher) = self.oneshot_watch(OneshotKind::Data, path);
        let body = self
            .server_path(path)
            .map(|path| GetDataRequest { path, watch: true }.to_jute_bytes());
        let fut = self.request(OpCode::GetData, body, watch, |_, raw| decode_data(raw));
        async move {
            let (data, stat) = fut.await?;
            Ok((data, stat, watcher))
        }
    }

    /// The configuration node's data (`/zookeeper/config`, never under the chroot).
    pub fn get_config(&self) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        let body = Ok(GetDataRequest {
            path: CONFIG_NODE.to_owned(),
            watch: false,
        }
        .to_jute_bytes());
        self.request(OpCode::GetData, body, None, |_, raw| decode_data(raw))
    }

    /// Replaces the node's data if its version matches (`None` = any); returns the new Stat.
    pub fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let body = self.server_path(path).map(|path| {
            SetDataRequest {
                path,
                data: Some(Bytes::copy_from_slice(data)),
                version: version.unwrap_or(-1),
            }
            .to_jute_bytes()
        });
        self.request(OpCode::SetData, body, None, |_, raw| {
            Ok(decode_ok::<SetDataResponse>(raw)?.stat)
        })
    }

    /// The node's ACL and Stat.
    pub fn get_acl(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<Acl>, Stat)>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetAclRequest { path }.to_jute_bytes());
        self.request(OpCode::GetAcl, body, None, |_, raw| {
            let r: GetAclResponse = decode_ok(raw)?;
            Ok((r.acl, r.stat))
        })
    }

    /// Replaces the node's ACL if its ACL version matches (`None` = any); returns the new Stat.
    pub fn set_acl(
        &self,
        path: &str,
        acl: Vec<Acl>,
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let body = if acl.is_empty() {
            Err(Error::InvalidAcl)
        } else {
            self.server_path(path).map(|path| {
                SetAclRequest {
                    path,
                    acl: Some(acl),
                    version: version.unwrap_or(-1),
                }
                .to_jute_bytes()
            })
        };
        self.request(OpCode::SetAcl, body, None, |_, raw| {
            Ok(decode_ok::<SetAclResponse>(raw)?.stat)
        })
    }

    /// The node's child names (unordered, as the server sends them).
    pub fn get_children(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetChildrenRequest { path, watch: false }.to_jute_bytes());
        self.request(OpCode::GetChildren, body, None, |_, raw| {
            Ok(decode_ok::<GetChildrenResponse>(raw)?.children)
        })
    }

    /// The node's child names and its Stat.
    pub fn get_children_with_stat(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat)>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetChildren2Request { path, watch: false }.to_jute_bytes());
        self.request(OpCode::GetChildren2, body, None, |_, raw| {
            let r: GetChildren2Response = decode_ok(raw)?;
            Ok((r.children, r.stat))
        })
    }

    /// Like [`get_children_with_stat`](Self::get_children_with_stat), leaving a watch that fires
    /// when a child is created or deleted, or the node is deleted.
    pub fn get_children_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat, OneshotWatcher)>> + Send + 'static {
        let (watch, watcher) = self.oneshot_watch(OneshotKind::Child, path);
        let body = self
            .server_path(path)
            .map(|path| GetChildren2Request { path, watch: true }.to_jute_bytes());
        let fut = self.request(OpCode::GetChildren2, body, watch, |_, raw| {
            let r: GetChildren2Response = decode_ok(raw)?;
            Ok((r.children, r.stat))
        });
        async move {
            let (children, stat) = fut.await?;
            Ok((children, stat, watcher))
        }
    }

    /// The number of descendants of the node (at any depth, the node itself excluded).
    pub fn get_all_children_number(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<i32>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetAllChildrenNumberRequest { path }.to_jute_bytes());
        self.request(OpCode::GetAllChildrenNumber, body, None, |_, raw| {
            Ok(decode_ok::<GetAllChildrenNumberResponse>(raw)?.total_number)
        })
    }

    /// This session's ephemeral nodes whose path starts with `prefix` (`/` for all), as
    /// client paths.
    pub fn get_ephemerals(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let server_prefix = add_chroot(self.inner.chroot.as_deref(), prefix);
        let body = Ok(GetEphemeralsRequest {
            prefix_path: Some(server_prefix),
        }
        .to_jute_bytes());
        self.request(OpCode::GetEphemerals, body, None, |inner, raw| {
            let r: GetEphemeralsResponse = decode_ok(raw)?;
            Ok(r.ephemerals.iter().map(|p| inner.client_path(p)).collect())
        })
    }

    /// Waits until the server this client talks to has caught up with the leader.
    pub fn sync(&self, path: &str) -> impl Future<Output = Result<()>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| SyncRequest { path }.to_jute_bytes());
        self.request(OpCode::Sync, body, None, |_, raw| check_ok(&raw))
    }

    /// The identities of this connection (for example `ip:127.0.0.1`, `digest:alice`).
    pub fn who_am_i(&self) -> impl Future<Output = Result<Vec<ClientInfo>>> + Send + 'static {
        self.request(OpCode::WhoAmI, Ok(Vec::new()), None, |_, raw| {
            Ok(decode_ok::<WhoAmIResponse>(raw)?.client_info)
        })
    }

    /// Adds an identity (for example `digest` with `user:password`); it is sent again on every
    /// reconnect. A rejected identity ends the session with `AuthFailed`.
    pub fn add_auth(
        &self,
        scheme: impl Into<String>,
        auth: Vec<u8>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = match self.state().terminal_error() {
            Some(err) => Err(err),
            None => self
                .inner
                .commands
                .send(Command::AddAuth {
                    packet: AuthPacket::new(scheme.into(), auth),
                    reply: tx,
                })
                .map_err(|_| Error::Closed),
        };
        async move {
            sent?;
            rx.await.map_err(|_| Error::Closed)?
        }
    }

    /// Applies all `ops` atomically: either every one succeeds, or none is applied and the
    /// error names the first failing op.
    pub fn multi(
        &self,
        ops: Vec<Op>,
    ) -> impl Future<Output = Result<Vec<OpResult>>> + Send + 'static {
        let body = (|| {
            if ops.is_empty() {
                return Err(Error::InvalidArgument("multi needs at least one op".into()));
            }
            let mut request = MultiRequest {
                ops: Vec::with_capacity(ops.len()),
            };
            for op in ops {
                request.ops.push(self.multi_op(op)?);
            }
            Ok(request.to_jute_bytes())
        })();
        self.request(OpCode::Multi, body, None, |inner, raw| {
            let response: MultiResponse = decode_ok(raw)?;
            let codes: Vec<ErrorCode> = response.results.iter().map(MultiResult::err).collect();
            if let Some(index) = codes.iter().position(|c| !c.is_ok()) {
                return Err(Error::MultiFailed {
                    index,
                    code: codes[index],
                    results: codes,
                });
            }
            response
                .results
                .into_iter()
                .map(|r| {
                    Ok(match r {
                        MultiResult::Create(CreateResponse { path }) => OpResult::Create {
                            path: inner.client_path(&path),
                            stat: None,
                        },
                        MultiResult::Create2(Create2Response { path, stat }) => OpResult::Create {
                            path: inner.client_path(&path),
                            stat: Some(stat),
                        },
                        MultiResult::Delete => OpResult::Delete,
                        MultiResult::SetData(r) => OpResult::SetData(r.stat),
                        MultiResult::Check => OpResult::Check,
                        other => {
                            return Err(Error::Protocol(format!(
                                "unexpected multi result {other:?}"
                            )))
                        }
                    })
                })
                .collect()
        })
    }

    fn multi_op(&self, op: Op) -> Result<MultiOp> {
        Ok(match op {
            Op::Create {
                path,
                data,
                options,
            } => {
                options.validate()?;
                validate_create_path(&path, options.mode.is_sequential())
                    .map_err(|e| Error::InvalidPath(e.to_string()))?;
                let path = add_chroot(self.inner.chroot.as_deref(), &path);
                let data = Some(Bytes::from(data));
                let flags = options.mode.flags();
                match options.mode.opcode(false) {
                    OpCode::CreateTtl => MultiOp::CreateTtl(CreateTtlRequest {
                        path,
                        data,
                        acl: Some(options.acl),
                        flags,
                        ttl: options.ttl_ms.unwrap_or(0),
                    }),
                    OpCode::CreateContainer => MultiOp::CreateContainer(CreateRequest {
                        path,
                        data,
                        acl: Some(options.acl),
                        flags,
                    }),
                    _ => MultiOp::Create(CreateRequest {
                        path,
                        data,
                        acl: Some(options.acl),
                        flags,
                    }),
                }
            }
            Op::Delete { path, version } => MultiOp::Delete(DeleteRequest {
                path: self.server_path(&path)?,
                version: version.unwrap_or(-1),
            }),
            Op::SetData {
                path,
                data,
                version,
            } => MultiOp::SetData(SetDataRequest {
                path: self.server_path(&path)?,
                data: Some(Bytes::from(data)),
                version: version.unwrap_or(-1),
            }),
            Op::Check { path, version } => MultiOp::Check(CheckVersionRequest {
                path: self.server_path(&path)?,
                version,
            }),
        })
    }

    /// Runs several reads in one round trip; each succeeds or fails on its own.
    pub fn multi_read(
        &self,
        ops: Vec<ReadOp>,
    ) -> impl Future<Output = Result<Vec<ReadResult>>> + Send + 'static {
        let body = (|| {
            if ops.is_empty() {
                return Err(Error::InvalidArgument(
                    "multi_read needs at least one op".into(),
                ));
            }
            let mut request = MultiRequest {
                ops: Vec::with_capacity(ops.len()),
            };
            for op in ops {
                request.ops.push(match op {
                    ReadOp::GetData(path) => MultiOp::GetData(GetDataRequest {
                        path: self.server_path(&path)?,
                        watch: false,
                    }),
                    ReadOp::GetChildren(path) => MultiOp::GetChildren(GetChildrenRequest {
                        path: self.server_path(&path)?,
                        watch: false,
                    }),
                });
            }
            Ok(request.to_jute_bytes())
        })();
        self.request(OpCode::MultiRead, body, None, |_, raw| {
            let response: MultiResponse = decode_ok(raw)?;
            response
                .results
                .into_iter()
                .map(|r| {
                    Ok(match r {
                        MultiResult::GetData(GetDataResponse { data, stat }) => {
                            ReadResult::Data(data.unwrap_or_default(), stat)
                        }
                        MultiResult::GetChildren(GetChildrenResponse { children }) => {
                            ReadResult::Children(children)
                        }
                        MultiResult::Error(code) => ReadResult::Error(Error::from_code(code)),
                        other => {
                            return Err(Error::Protocol(format!(
                                "unexpected multiRead result {other:?}"
                            )))
                        }
                    })
                })
                .collect()
        })
    }

    /// Adds a persistent watch (recursive with `AddWatchMode::PersistentRecursive`) on `path`,
    /// which need not exist. Events arrive on the returned stream until it is dropped.
    pub fn add_watch(
        &self,
        path: &str,
        mode: AddWatchMode,
    ) -> impl Future<Output = Result<PersistentWatcher>> + Send + 'static {
        let server_path = self.server_path(path);
        let id = self.inner.next_watch_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        let weak = self.inner.commands.downgrade();
        let watch_path = server_path.clone().unwrap_or_default();
        let watcher = PersistentWatcher {
            rx,
            on_drop: Some(Box::new(move || {
                if let Some(commands) = weak.upgrade() {
                    let _ = commands.send(Command::RemovePersistent {
                        server_path: watch_path,
                        id,
                    });
                }
            })),
        };
        let watch = server_path.as_ref().ok().map(|p| WatchRequest::Persistent {
            recursive: mode == AddWatchMode::PersistentRecursive,
            server_path: p.clone(),
            id,
            tx,
        });
        let body = server_path.map(|path| AddWatchRequest { path, mode }.to_jute_bytes());
        let fut = self.request(OpCode::AddWatch, body, watch, |_, raw| check_ok(&raw));
        async move {
            fut.await?;
            Ok(watcher)
        }
    }

    /// Removes this session's watches of `kind` on `path` from the server (Java's
    /// `removeAllWatches`, opcode 18). Once the server confirms, each local handle of that kind
    /// gets a `DataWatchRemoved`, `ChildWatchRemoved` or `PersistentWatchRemoved` event and
    /// hears nothing more. `NoWatcher` when the server had none.
    pub fn remove_watches(
        &self,
        path: &str,
        kind: WatcherType,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let server_path = self.server_path(path);
        let watch = server_path.as_ref().ok().map(|p| WatchRequest::Remove {
            kind,
            server_path: p.clone(),
        });
        let body =
            server_path.map(|path| RemoveWatchesRequest { path, r#type: kind }.to_jute_bytes());
        self.request(OpCode::RemoveWatches, body, watch, |_, raw| check_ok(&raw))
    }

    /// Ends the session (the server deletes its ephemerals) and stops the client. Every clone
    /// fails with `Closed` afterwards.
    pub async fn close(&self) -> Result<()> {
        if self.state().is_terminal() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Close { reply: tx })
            .is_err()
        {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }

    fn oneshot_watch(
        &self,
        kind: OneshotKind,
        path: &str,
    ) -> (Option<WatchRequest>, OneshotWatcher) {
        let (tx, rx) = oneshot::channel();
        let watch = self
            .server_path(path)
            .ok()
            .map(|server_path| WatchRequest::Oneshot {
                kind,
                server_path,
                tx,
            });
        (watch, OneshotWatcher::new(rx, path.to_owned()))
    }
}

impl Inner {
    fn client_path(&self, server_path: &str) -> String {
        strip_chroot(self.chroot.as_deref(), server_path)
    }
}

fn create_body(server_path: String, data: &[u8], options: &CreateOptions) -> Vec<u8> {
    let data = Some(Bytes::copy_from_slice(data));
    let flags = options.mode.flags();
    match options.ttl_ms {
        Some(ttl) => CreateTtlRequest {
            path: server_path,
            data,
            acl: Some(options.acl.clone()),
            flags,
            ttl,
        }
        .to_jute_bytes(),
        None => CreateRequest {
            path: server_path,
            data,
            acl: Some(options.acl.clone()),
            flags,
        }
        .to_jute_bytes(),
    }
}

fn check_ok(raw: &RawReply) -> Result<()> {
    if raw.err.is_ok() {
        Ok(())
    } else {
        Err(Error::from_code(raw.err))
    }
}

fn decode_ok<T: Jute>(raw: RawReply) -> Result<T> {
    check_ok(&raw)?;
    T::read(&mut &raw.body[..]).map_err(|e| Error::Protocol(format!("bad reply body: {e}")))
}

fn decode_exists(raw: RawReply) -> Result<Option<Stat>> {
    if raw.err == ErrorCode::NoNode {
        return Ok(None);
    }
    Ok(Some(decode_ok::<Stat>(raw)?))
}

fn decode_data(raw: RawReply) -> Result<(Bytes, Stat)> {
    let r: GetDataResponse = decode_ok(raw)?;
    Ok((r.data.unwrap_or_default(), r.stat))
}
