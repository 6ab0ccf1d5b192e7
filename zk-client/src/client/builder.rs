//! [`ClientBuilder`]: the settings of a connection, and `connect`, which starts the connection
//! task and waits for the first session.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::{Client, Inner};
use crate::conn::{ConnConfig, Driver, Shared};
use crate::connect_string::ConnectString;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryPolicy;
use crate::session::{Session, SessionState};
use crate::tls::TlsOptions;

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
    create_chroot: bool,
    retry_policy: RetryPolicy,
}

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
            create_chroot: false,
            retry_policy: RetryPolicy::UntilSessionEnds,
        }
    }
}

impl ClientBuilder {
    /// The session timeout to ask for (the server clamps it; default 10 s).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How the recipes built on this client ([`crate::recipes`]) retry an operation that
    /// failed with a retryable error ([`Error::is_retryable`]): Curator's `RetryPolicy`,
    /// which Curator asks for when a client is made. The default,
    /// [`RetryPolicy::UntilSessionEnds`], retries for as long as the session lives; with
    /// [`RetryPolicy::curator_default`], a lock acquire, a queue take or a semaphore lease
    /// gives up with `ConnectionLoss` after three retries, as Curator's do. Cleanup (deleting
    /// a recipe's own nodes) always goes on until the session ends.
    /// [`Client::with_retry_policy`] changes it for one clone.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// use zk_client::{recipes::lock::Mutex, RetryPolicy};
    /// let client = zk_client::Client::builder("127.0.0.1:2181")
    ///     .retry_policy(RetryPolicy::curator_default())
    ///     .connect()
    ///     .await?;
    /// // A connection lost for longer than the retries last fails the acquire.
    /// let _guard = Mutex::new(&client, "/locks/job")?.acquire().await?;
    /// # Ok(()) }
    /// ```
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
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
    /// [`ErrorKind::AuthFailed`](crate::ErrorKind::AuthFailed), or, after a reconnect, every request
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

    /// These settings for a new session: without the session to resume, if one was given.
    pub(crate) fn fresh_session(mut self) -> Self {
        self.resume = None;
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

    /// Create the connect string's chroot, with its missing ancestors, once connected (as
    /// persistent nodes with empty data and an open ACL; `mkdir -p`). A chroot that exists is
    /// fine. If it cannot be created (`NoAuth` on an ancestor, say), `connect` fails with that
    /// error.
    ///
    /// Without this (the default, and what Java's client does), a client whose chroot does not
    /// exist connects all the same, and each operation under it fails as it would on a missing
    /// node: `create("/x")` and `get_data("/")` with `NoNode`, `exists("/")` with `None`.
    ///
    /// ```no_run
    /// # async fn demo() -> zk_client::Result<()> {
    /// let client = zk_client::Client::builder("127.0.0.1:2181/apps/billing")
    ///     .create_chroot(true)
    ///     .connect()
    ///     .await?;
    /// assert!(client.exists("/").await?.is_some());
    /// # Ok(()) }
    /// ```
    pub fn create_chroot(mut self, create: bool) -> Self {
        self.create_chroot = create;
        self
    }

    /// Connects: returns once a session is established, or fails with `Timeout` (no server
    /// answered in time), `SessionExpired` (a resumed session is gone), `AuthFailed`, or
    /// `Tls` (the TLS stores or settings cannot be used). A failure also tells, for each
    /// server tried, how many attempts were made and why the last one failed (refused, no
    /// answer, a name that does not resolve, a TLS failure, ...): [`Error::hosts`], and the
    /// error's message.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use std::time::Duration;
    /// use zk_client::{Client, ConnectCause, ErrorKind};
    /// let failure = Client::builder("127.0.0.1:1,zk.invalid:2181")
    ///     .connect_timeout(Duration::from_secs(1))
    ///     .connect()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(failure, ErrorKind::Timeout);
    /// for host in failure.hosts() {
    ///     if host.last_cause == ConnectCause::Refused {
    ///         eprintln!("nothing listens on {}:{}", host.host, host.port);
    ///     }
    /// }
    /// eprintln!("{failure}"); // timed out; 127.0.0.1:1: connection refused (4 tries); ...
    /// # }
    /// ```
    pub async fn connect(self) -> Result<Client> {
        let cs: ConnectString = self.connect_string.parse()?;
        let tls = self
            .tls
            .as_ref()
            .map(TlsOptions::client_config)
            .transpose()?;
        let timeout_ms = i32::try_from(self.session_timeout.as_millis()).unwrap_or(i32::MAX);
        let mut session = Session::new(timeout_ms, self.read_only);
        if let Some((id, password)) = self.resume {
            session.resume(id, password);
        }
        let (state_tx, state_rx) = watch::channel(SessionState::Connecting);
        let shared = Arc::new(Shared::new(state_tx, cs.hosts()));
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
                chroot: cs.chroot().map(Arc::from),
                shared,
                state: state_rx,
                retry_policy: self.retry_policy,
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
                    return Err(ErrorKind::Closed.into());
                }
            }
        })
        .await;
        let report = |error: Error| {
            let attempts = client.inner.shared.attempts.lock();
            error.with_hosts(attempts.expect("attempt log lock").report())
        };
        match connected {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(report(e)),
            Err(_) => {
                let failure = report(ErrorKind::Timeout.into());
                let _ = client.close().await;
                return Err(failure);
            }
        }
        for auth in auths {
            auth.await?;
        }
        if let (true, Some(chroot)) = (self.create_chroot, client.chroot()) {
            if let Err(e) = client.with_root(None).ensure_path(chroot).await {
                let _ = client.close().await;
                return Err(e);
            }
        }
        Ok(client)
    }
}
