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
//! - [`Error`]: what went wrong ([`ErrorKind`]: every ZooKeeper error code plus the client's
//!   own, `ConnectionLoss`, `SessionExpired`, `Closed`, `Timeout`, ...), the path it concerned
//!   ([`Error::path`]) and, when connecting failed, why each server could not be reached
//!   ([`Error::hosts`]); [`Error::is_retryable`].
//! - Node data is [`NodeData`]: bytes or, as Java's client can write it, null;
//!   [`Client::get_data_nullable`] reads null apart from empty.
//! - Chroots: the connect string's (`host:2181/app`; [`ClientBuilder::create_chroot`] makes a
//!   missing one), and [`Client::rooted_at`] for a clone of the session under a sub-path.
//! - Writes that survive a connection loss: [`Client::create_protected`] (Curator's protected
//!   mode) and [`Client::delete_guaranteed`] (Curator's guaranteed delete).
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
mod ops;
mod paths;
pub mod recipes;
mod retry;
mod sasl;
mod session;
mod stream;
mod supervisor;
mod tls;
mod watch;

pub use client::{
    Client, ClientBuilder, CreateOptions, NodeData, Op, OpResult, ReadOp, ReadResult, ReplyFuture,
    CONFIG_NODE,
};
pub use connect_string::{ConnectString, DEFAULT_PORT};
pub use error::{ConnectCause, Error, ErrorKind, HostAttempts, Result};
pub use paths::Parents;
pub use retry::RetryPolicy;
pub use session::{SessionInfo, SessionState};
pub use stream::EventStream;
pub use supervisor::{ConnectionState, Session, SessionTask, Supervisor};
pub use tls::{StoreSpec, TlsOptions};
pub use watch::{OneshotWatcher, PersistentWatcher, WatchedEvent};
pub use zk_proto;
// The vocabulary of the calls, so a crate depending on zk-client alone can name it.
pub use zk_proto::data::{Acl, Id, Stat};
pub use zk_proto::{
    perms, AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, WatcherType,
};

/// Every doc example must compile in a crate that depends on zk-client alone: doctests can
/// name zk-client's own dependencies, a user's crate cannot, so the examples use the
/// re-exports (`zk_client::CreateMode`, ...) and are never `ignore`d (`no_run` still
/// compiles).
#[cfg(test)]
mod doc_examples {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn name_only_what_a_user_crate_can() {
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut examples = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut in_example = false;
            for (n, line) in text.lines().enumerate() {
                let Some(doc) = line
                    .trim_start()
                    .strip_prefix("///")
                    .or_else(|| line.trim_start().strip_prefix("//!"))
                else {
                    continue;
                };
                let doc = doc.trim();
                if let Some(fence) = doc.strip_prefix("```") {
                    if !in_example {
                        examples += 1;
                        // `no_run` is compiled, not run (it needs a server).
                        assert!(
                            fence.trim() != "ignore",
                            "{}:{}: a doc example that is not compiled",
                            file.display(),
                            n + 1
                        );
                    }
                    in_example = !in_example;
                    continue;
                }
                let bare_proto =
                    doc.contains("zk_proto::") && !doc.contains("zk_client::zk_proto::");
                assert!(
                    !(in_example && bare_proto),
                    "{}:{}: `{doc}` names zk_proto, which a crate depending on zk-client alone cannot",
                    file.display(),
                    n + 1
                );
            }
        }
        assert!(examples >= 10, "{examples} examples found");
    }
}
