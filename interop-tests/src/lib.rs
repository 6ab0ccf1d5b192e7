//! Harness for running the real Java ZooKeeper next to zk-rs.
