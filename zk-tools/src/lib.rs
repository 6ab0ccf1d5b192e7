//! Shared helpers of the zk-rs command-line tools (zkcli, zk-bench).

/// The zk-bench load generator.
pub mod bench;

/// zkcli: the commands of zkCli.sh, one-shot or as a shell.
pub mod cli;
