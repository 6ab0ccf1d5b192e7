//! An async [Apache ZooKeeper](https://zookeeper.apache.org/) client on tokio, with the Java
//! client's semantics.
//!
//! - [`Client`]: one session; cheap to clone. Operations are queued in call order and return
//!   futures. The session survives connection losses: the client rotates through the connect
//!   string's servers, resumes the session and re-registers its watches (SetWatches /
//!   SetWatches2) so no event is missed while the session lives.
//! - Watches: one-shot ones come back with the read that set them ([`OneshotWatcher`], a
//!   future); persistent ones from [`Client::add_watch`] ([`PersistentWatcher`], a stream).
//!   Event paths are relative to the chroot.
//! - [`Error`]: every ZooKeeper error code plus the client's own (`ConnectionLoss`,
//!   `SessionExpired`, `Closed`, `Timeout`), with [`Error::is_retryable`].
//!
//! ```no_run
//! # async fn demo() -> zk_client::Result<()> {
//! use zk_client::{Client, CreateOptions};
//! let client = Client::connect("127.0.0.1:2181,127.0.0.1:2182/app").await?;
//! client.create("/config", b"v1", &CreateOptions::persistent()).await?;
//! let (data, _stat, watcher) = client.get_data_watch("/config").await?;
//! assert_eq!(&data[..], b"v1");
//! client.set_data("/config", b"v2", None).await?;
//! let event = watcher.await;
//! println!("{:?} on {}", event.event_type, event.path);
//! # Ok(()) }
//! ```

mod client;
mod conn;
mod connect_string;
mod error;
pub mod recipes;
mod sasl;
mod session;
mod tls;
mod watch;

pub use client::{
    Client, ClientBuilder, CreateOptions, Op, OpResult, ReadOp, ReadResult, CONFIG_NODE,
};
pub use connect_string::{ConnectString, DEFAULT_PORT};
pub use error::{Error, Result};
pub use session::{SessionInfo, SessionState};
pub use tls::{StoreSpec, TlsOptions};
pub use watch::{OneshotWatcher, PersistentWatcher, WatchedEvent};
pub use zk_proto;
