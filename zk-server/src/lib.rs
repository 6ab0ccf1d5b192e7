//! zk-server: a ZooKeeper server. In progress (see the README status table): today it has the
//! DataTree, the state every server replicates.

pub mod acl;
pub mod admin;
pub mod admin_http;
pub mod backup;
pub mod config;
pub mod core;
pub mod fourlw;
pub mod metrics;
pub mod outgoing;
pub mod peer;
pub mod quorum;
pub mod runtime;
pub mod sasl;
pub mod server;
pub mod session;
pub mod storage;
pub mod tls;
pub mod tree;
pub mod watch;
