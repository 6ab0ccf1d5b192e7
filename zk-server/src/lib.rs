//! zk-server: a ZooKeeper server (in progress, see the README status table).
