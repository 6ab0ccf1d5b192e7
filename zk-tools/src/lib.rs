//! Shared helpers of the zk-rs command-line tools (zkcli, zk-bench).
