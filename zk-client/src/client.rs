//! The public API: [`Client`], its operations, multi; the builder is in `builder`.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
use zk_proto::{AddWatchMode, ErrorCode, Jute, OpCode, WatcherType};

use crate::conn::{Command, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryPolicy;
use crate::session::{
    add_chroot, strip_chroot, RawReply, SessionInfo, SessionState, Submission, WatchRequest,
};
use crate::watch::{OneshotKind, OneshotWatcher, PersistentWatcher};

pub use crate::ops::{CreateOptions, NodeData, Op, OpResult, ReadOp, ReadResult, CONFIG_NODE};
pub use builder::ClientBuilder;

mod builder;

#[derive(Debug)]
struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    /// The server path this client's `/` stands for.
    chroot: Option<Arc<str>>,
    shared: Arc<Shared>,
    state: watch::Receiver<SessionState>,
    /// What the recipes on this client do about retryable errors.
    retry_policy: RetryPolicy,
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

/// The reply to one request, as a future: the request was queued when the method was called,
/// and this waits for the server's answer. Dropping it drops the answer, not the request.
///
/// A named type rather than `impl Future` so that methods taking a generic argument (the
/// data of [`Client::create`] and [`Client::set_data`]) return a future that borrows nothing.
#[must_use = "the request is sent; await this for its outcome"]
pub struct ReplyFuture<T> {
    waiting: Waiting,
    inner: Arc<Inner>,
    decode: Decoder<T>,
    paths: ErrorPaths,
}

/// The paths a request named, for its error ([`Error::path`]).
enum ErrorPaths {
    None,
    One(String),
    /// A multi's, one per op: its error names the failing op's.
    PerOp(Vec<String>),
}

impl ErrorPaths {
    fn attach(&self, error: Error) -> Error {
        match (self, error.kind()) {
            (ErrorPaths::One(path), _) => error.with_path(path.as_str()),
            (ErrorPaths::PerOp(paths), ErrorKind::MultiFailed { index, .. }) => {
                match paths.get(*index) {
                    Some(path) => error.with_path(path.as_str()),
                    None => error,
                }
            }
            _ => error,
        }
    }
}

enum Waiting {
    Reply(oneshot::Receiver<Result<RawReply>>),
    /// Nothing was sent; the error is handed out once.
    Failed(Option<Error>),
}

impl<T> std::fmt::Debug for ReplyFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.waiting {
            Waiting::Reply(_) => "waiting for the reply",
            Waiting::Failed(_) => "not sent",
        };
        f.debug_struct("ReplyFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<T> Future for ReplyFuture<T> {
    type Output = Result<T>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<T>> {
        use std::task::Poll;
        let this = &mut *self;
        let outcome = match &mut this.waiting {
            Waiting::Failed(e) => Err(e.take().unwrap_or(ErrorKind::Closed.into())),
            Waiting::Reply(rx) => match std::pin::Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => Err(ErrorKind::Closed.into()),
                Poll::Ready(Ok(Err(e))) => Err(e),
                Poll::Ready(Ok(Ok(raw))) => (this.decode)(&this.inner, raw),
            },
        };
        Poll::Ready(outcome.map_err(|e| this.paths.attach(e)))
    }
}

impl Client {
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

    /// The chroot this client works under, if any: the connect string's, joined with the
    /// paths given to [`rooted_at`](Self::rooted_at).
    pub fn chroot(&self) -> Option<&str> {
        self.inner.chroot.as_deref()
    }

    /// A clone sharing this session (its connection, watches, ephemeral nodes and state)
    /// whose paths are relative to `path`, itself relative to this client's root: what a
    /// connect string's chroot does, for one part of a program. Every path sent gets the
    /// prefix and every path coming back has it removed: created paths, watch event paths,
    /// multi results, `get_ephemerals`. `rooted_at("/")` is a plain clone.
    ///
    /// The node at `path` need not exist (operations under a missing root fail as under a
    /// missing chroot); create it with [`ensure_path`](Self::ensure_path) first if needed.
    /// Closing either client closes the session for both.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// use zk_client::CreateOptions;
    /// client.ensure_path("/tenants/acme").await?;
    /// let acme = client.rooted_at("/tenants/acme")?;
    /// let (path, _stat) = acme.create("/job-", b"x", &CreateOptions::persistent_sequential()).await?;
    /// assert!(path.starts_with("/job-"));
    /// assert!(client.exists(&format!("/tenants/acme{path}")).await?.is_some());
    /// # Ok(()) }
    /// ```
    pub fn rooted_at(&self, path: &str) -> Result<Client> {
        validate_path(path).map_err(|e| Error::from(ErrorKind::InvalidPath(e.to_string())))?;
        if path == "/" {
            return Ok(self.clone());
        }
        let root = add_chroot(self.inner.chroot.as_deref(), path);
        Ok(self.with_root(Some(Arc::from(root))))
    }

    /// A clone sharing the session with `chroot` as its root (`None`: the server's root).
    fn with_root(&self, chroot: Option<Arc<str>>) -> Client {
        Client {
            inner: Arc::new(Inner {
                commands: self.inner.commands.clone(),
                chroot,
                shared: self.inner.shared.clone(),
                state: self.inner.state.clone(),
                retry_policy: self.inner.retry_policy,
            }),
        }
    }

    /// The policy the recipes on this client retry with
    /// ([`ClientBuilder::retry_policy`]).
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry_policy
    }

    /// A clone sharing this session (and root) whose recipes retry with `policy`: for one
    /// recipe that must give up sooner, or wait longer, than the others.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// use std::time::Duration;
    /// use zk_client::{recipes::lock::Mutex, RetryPolicy};
    /// let impatient = client.with_retry_policy(RetryPolicy::NTimes {
    ///     times: 1,
    ///     sleep: Duration::from_millis(100),
    /// });
    /// let _guard = Mutex::new(&impatient, "/locks/report")?.acquire().await?;
    /// # Ok(()) }
    /// ```
    pub fn with_retry_policy(&self, policy: RetryPolicy) -> Client {
        let mut clone = self.with_root(self.inner.chroot.clone());
        Arc::get_mut(&mut clone.inner)
            .expect("a fresh Inner has one owner")
            .retry_policy = policy;
        clone
    }

    fn server_path(&self, path: &str) -> Result<String> {
        validate_path(path).map_err(|e| Error::from(ErrorKind::InvalidPath(e.to_string())))?;
        Ok(add_chroot(self.inner.chroot.as_deref(), path))
    }

    /// Queues a request now; the returned future waits for and decodes its reply.
    fn request<T: Send + 'static>(
        &self,
        op: OpCode,
        paths: ErrorPaths,
        body: Result<Vec<u8>>,
        watch: Option<WatchRequest>,
        decode: Decoder<T>,
    ) -> ReplyFuture<T> {
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
                .map_err(|_| {
                    self.state()
                        .terminal_error()
                        .unwrap_or(ErrorKind::Closed.into())
                })?;
            Ok(rx)
        });
        ReplyFuture {
            waiting: match queued {
                Ok(rx) => Waiting::Reply(rx),
                Err(e) => Waiting::Failed(Some(e)),
            },
            inner: self.inner.clone(),
            decode,
            paths,
        }
    }

    /// Creates a node; returns its path (client-relative, with any sequential suffix) and Stat.
    /// Uses create2, createContainer or createTTL as Java does. `data` is anything that
    /// converts into [`NodeData`] (`b"..."`, `&[u8]`, `Vec<u8>`, `&str`, ...;
    /// [`NodeData::Null`] or `None` for Java's null).
    pub fn create(
        &self,
        path: &str,
        data: impl Into<NodeData>,
        options: &CreateOptions,
    ) -> ReplyFuture<(String, Stat)> {
        let data = data.into();
        let body = options.validate().and_then(|()| {
            validate_create_path(path, options.mode.is_sequential())
                .map_err(|e| Error::from(ErrorKind::InvalidPath(e.to_string())))?;
            let server_path = add_chroot(self.inner.chroot.as_deref(), path);
            Ok(create_body(server_path, data.into_option(), options))
        });
        self.request(
            options.mode.opcode(true),
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |inner, raw| {
                let r: Create2Response = decode_ok(raw)?;
                Ok((inner.client_path(&r.path), r.stat))
            },
        )
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
        self.request(
            OpCode::Delete,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| check_ok(&raw),
        )
    }

    /// The node's Stat, or `None` if it does not exist.
    pub fn exists(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<Stat>>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| ExistsRequest { path, watch: false }.to_jute_bytes());
        self.request(
            OpCode::Exists,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| decode_exists(raw),
        )
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
        let fut = self.request(
            OpCode::Exists,
            ErrorPaths::One(path.to_owned()),
            body,
            watch,
            |_, raw| decode_exists(raw),
        );
        async move { Ok((fut.await?, watcher)) }
    }

    /// The node's data (empty for null data: see
    /// [`get_data_nullable`](Self::get_data_nullable)) and Stat.
    pub fn get_data(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetDataRequest { path, watch: false }.to_jute_bytes());
        self.request(
            OpCode::GetData,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| decode_data(raw),
        )
    }

    /// The node's data and Stat, telling null data (`None`: created or set with null, as
    /// Java's client can, or [`NodeData::Null`]) from empty data (`Some` of no bytes).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// use zk_client::{CreateOptions, NodeData};
    /// client.create("/flag", NodeData::Null, &CreateOptions::persistent()).await?;
    /// let (data, stat) = client.get_data_nullable("/flag").await?;
    /// assert_eq!((data, stat.data_length), (None, 0));
    /// client.set_data("/flag", b"", None).await?;
    /// assert_eq!(client.get_data_nullable("/flag").await?.0.as_deref(), Some(&b""[..]));
    /// # Ok(()) }
    /// ```
    pub fn get_data_nullable(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Bytes>, Stat)>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetDataRequest { path, watch: false }.to_jute_bytes());
        self.request(
            OpCode::GetData,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| decode_nullable_data(raw),
        )
    }

    /// Like [`get_data_nullable`](Self::get_data_nullable), leaving a watch that fires on data
    /// change or delete.
    pub fn get_data_watch_nullable(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Bytes>, Stat, OneshotWatcher)>> + Send + 'static {
        let (watch, watcher) = self.oneshot_watch(OneshotKind::Data, path);
        let body = self
            .server_path(path)
            .map(|path| GetDataRequest { path, watch: true }.to_jute_bytes());
        let fut = self.request(
            OpCode::GetData,
            ErrorPaths::One(path.to_owned()),
            body,
            watch,
            |_, raw| decode_nullable_data(raw),
        );
        async move {
            let (data, stat) = fut.await?;
            Ok((data, stat, watcher))
        }
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
        let fut = self.request(
            OpCode::GetData,
            ErrorPaths::One(path.to_owned()),
            body,
            watch,
            |_, raw| decode_data(raw),
        );
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
        self.request(
            OpCode::GetData,
            ErrorPaths::One(CONFIG_NODE.to_owned()),
            body,
            None,
            |_, raw| decode_data(raw),
        )
    }

    /// Replaces the node's data if its version matches (`None` = any); returns the new Stat.
    /// `data` is anything that converts into [`NodeData`] ([`NodeData::Null`] for Java's
    /// null).
    pub fn set_data(
        &self,
        path: &str,
        data: impl Into<NodeData>,
        version: Option<i32>,
    ) -> ReplyFuture<Stat> {
        let data = data.into();
        let body = self.server_path(path).map(|path| {
            SetDataRequest {
                path,
                data: data.into_option(),
                version: version.unwrap_or(-1),
            }
            .to_jute_bytes()
        });
        self.request(
            OpCode::SetData,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| Ok(decode_ok::<SetDataResponse>(raw)?.stat),
        )
    }

    /// The node's ACL and Stat.
    pub fn get_acl(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<Acl>, Stat)>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetAclRequest { path }.to_jute_bytes());
        self.request(
            OpCode::GetAcl,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| {
                let r: GetAclResponse = decode_ok(raw)?;
                Ok((r.acl, r.stat))
            },
        )
    }

    /// Replaces the node's ACL if its ACL version matches (`None` = any); returns the new Stat.
    pub fn set_acl(
        &self,
        path: &str,
        acl: Vec<Acl>,
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let body = if acl.is_empty() {
            Err(ErrorKind::InvalidAcl.into())
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
        self.request(
            OpCode::SetAcl,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| Ok(decode_ok::<SetAclResponse>(raw)?.stat),
        )
    }

    /// The node's child names (unordered, as the server sends them).
    pub fn get_children(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetChildrenRequest { path, watch: false }.to_jute_bytes());
        self.request(
            OpCode::GetChildren,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| Ok(decode_ok::<GetChildrenResponse>(raw)?.children),
        )
    }

    /// The node's child names and its Stat.
    pub fn get_children_with_stat(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat)>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| GetChildren2Request { path, watch: false }.to_jute_bytes());
        self.request(
            OpCode::GetChildren2,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| {
                let r: GetChildren2Response = decode_ok(raw)?;
                Ok((r.children, r.stat))
            },
        )
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
        let fut = self.request(
            OpCode::GetChildren2,
            ErrorPaths::One(path.to_owned()),
            body,
            watch,
            |_, raw| {
                let r: GetChildren2Response = decode_ok(raw)?;
                Ok((r.children, r.stat))
            },
        );
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
        self.request(
            OpCode::GetAllChildrenNumber,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| Ok(decode_ok::<GetAllChildrenNumberResponse>(raw)?.total_number),
        )
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
        self.request(
            OpCode::GetEphemerals,
            ErrorPaths::None,
            body,
            None,
            |inner, raw| {
                let r: GetEphemeralsResponse = decode_ok(raw)?;
                Ok(r.ephemerals.iter().map(|p| inner.client_path(p)).collect())
            },
        )
    }

    /// Waits until the server this client talks to has caught up with the leader.
    pub fn sync(&self, path: &str) -> impl Future<Output = Result<()>> + Send + 'static {
        let body = self
            .server_path(path)
            .map(|path| SyncRequest { path }.to_jute_bytes());
        self.request(
            OpCode::Sync,
            ErrorPaths::One(path.to_owned()),
            body,
            None,
            |_, raw| check_ok(&raw),
        )
    }

    /// The identities of this connection (for example `ip:127.0.0.1`, `digest:alice`).
    pub fn who_am_i(&self) -> impl Future<Output = Result<Vec<ClientInfo>>> + Send + 'static {
        self.request(
            OpCode::WhoAmI,
            ErrorPaths::None,
            Ok(Vec::new()),
            None,
            |_, raw| Ok(decode_ok::<WhoAmIResponse>(raw)?.client_info),
        )
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
                .map_err(|_| Error::from(ErrorKind::Closed)),
        };
        async move {
            sent?;
            rx.await.map_err(|_| Error::from(ErrorKind::Closed))?
        }
    }

    /// Applies all `ops` atomically: either every one succeeds, or none is applied and the
    /// error names the first failing op.
    pub fn multi(
        &self,
        ops: Vec<Op>,
    ) -> impl Future<Output = Result<Vec<OpResult>>> + Send + 'static {
        let paths = ops.iter().map(|op| op.path().to_owned()).collect();
        let body = (|| {
            if ops.is_empty() {
                return Err(
                    ErrorKind::InvalidArgument("multi needs at least one op".into()).into(),
                );
            }
            let mut request = MultiRequest {
                ops: Vec::with_capacity(ops.len()),
            };
            for op in ops {
                request.ops.push(self.multi_op(op)?);
            }
            Ok(request.to_jute_bytes())
        })();
        self.request(
            OpCode::Multi,
            ErrorPaths::PerOp(paths),
            body,
            None,
            |inner, raw| {
                let response: MultiResponse = decode_ok(raw)?;
                let codes: Vec<ErrorCode> = response.results.iter().map(MultiResult::err).collect();
                if let Some(index) = codes.iter().position(|c| !c.is_ok()) {
                    return Err(ErrorKind::MultiFailed {
                        index,
                        code: codes[index],
                        results: codes,
                    }
                    .into());
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
                            MultiResult::Create2(Create2Response { path, stat }) => {
                                OpResult::Create {
                                    path: inner.client_path(&path),
                                    stat: Some(stat),
                                }
                            }
                            MultiResult::Delete => OpResult::Delete,
                            MultiResult::SetData(r) => OpResult::SetData(r.stat),
                            MultiResult::Check => OpResult::Check,
                            other => {
                                return Err(ErrorKind::Protocol(format!(
                                    "unexpected multi result {other:?}"
                                ))
                                .into())
                            }
                        })
                    })
                    .collect()
            },
        )
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
                    .map_err(|e| Error::from(ErrorKind::InvalidPath(e.to_string())))?;
                let path = add_chroot(self.inner.chroot.as_deref(), &path);
                let data = data.into_option();
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
                data: data.into_option(),
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
        let paths: Vec<String> = ops.iter().map(|op| op.path().to_owned()).collect();
        let body = (|| {
            if ops.is_empty() {
                return Err(
                    ErrorKind::InvalidArgument("multi_read needs at least one op".into()).into(),
                );
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
        let fut = self.request(OpCode::MultiRead, ErrorPaths::None, body, None, |_, raw| {
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
                            return Err(ErrorKind::Protocol(format!(
                                "unexpected multiRead result {other:?}"
                            ))
                            .into())
                        }
                    })
                })
                .collect()
        });
        async move {
            let mut results: Vec<ReadResult> = fut.await?;
            for (result, path) in results.iter_mut().zip(paths) {
                if let ReadResult::Error(e) = result {
                    *e = e.clone().with_path(path);
                }
            }
            Ok(results)
        }
    }

    /// Adds a persistent watch (recursive with `AddWatchMode::PersistentRecursive`) on `path`,
    /// which need not exist. Events arrive on the returned stream until it is dropped.
    pub fn add_watch(
        &self,
        path: &str,
        mode: AddWatchMode,
    ) -> impl Future<Output = Result<PersistentWatcher>> + Send + 'static {
        let server_path = self.server_path(path);
        let id = self
            .inner
            .shared
            .next_watch_id
            .fetch_add(1, Ordering::Relaxed);
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
            chroot: self.inner.chroot.clone(),
        };
        let watch = server_path.as_ref().ok().map(|p| WatchRequest::Persistent {
            recursive: mode == AddWatchMode::PersistentRecursive,
            server_path: p.clone(),
            id,
            tx,
        });
        let body = server_path.map(|path| AddWatchRequest { path, mode }.to_jute_bytes());
        let fut = self.request(
            OpCode::AddWatch,
            ErrorPaths::One(path.to_owned()),
            body,
            watch,
            |_, raw| check_ok(&raw),
        );
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
        self.request(
            OpCode::RemoveWatches,
            ErrorPaths::One(path.to_owned()),
            body,
            watch,
            |_, raw| check_ok(&raw),
        )
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
        let watcher =
            OneshotWatcher::new(rx, path.to_owned()).under_chroot(self.inner.chroot.clone());
        (watch, watcher)
    }
}

impl Inner {
    fn client_path(&self, server_path: &str) -> String {
        strip_chroot(self.chroot.as_deref(), server_path)
    }
}

fn create_body(server_path: String, data: Option<Bytes>, options: &CreateOptions) -> Vec<u8> {
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
    T::read(&mut &raw.body[..])
        .map_err(|e| Error::from(ErrorKind::Protocol(format!("bad reply body: {e}"))))
}

fn decode_exists(raw: RawReply) -> Result<Option<Stat>> {
    if raw.err == ErrorCode::NoNode {
        return Ok(None);
    }
    Ok(Some(decode_ok::<Stat>(raw)?))
}

fn decode_data(raw: RawReply) -> Result<(Bytes, Stat)> {
    let (data, stat) = decode_nullable_data(raw)?;
    Ok((data.unwrap_or_default(), stat))
}

fn decode_nullable_data(raw: RawReply) -> Result<(Option<Bytes>, Stat)> {
    let r: GetDataResponse = decode_ok(raw)?;
    Ok((r.data, r.stat))
}
