//! zk-client: an async ZooKeeper client (in progress, see the README status table).
