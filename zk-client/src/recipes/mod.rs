//! Recipes built on the public [`Client`](crate::Client) API only, laid out on the tree exactly as
//! Apache Curator's (and, where kazoo follows Curator, kazoo's) so a Rust service and a Java or
//! Python service can share a lock, an election, a configuration node or a counter on one path.
//!
//! - [`lock`]: Curator's `InterProcessMutex` and `InterProcessReadWriteLock`.
//! - [`leader`]: Curator's `LeaderLatch`.
//! - [`selector`]: Curator's `LeaderSelector`: participants take turns leading, each for as
//!   long as its leader future runs, on an `InterProcessMutex` whose nodes hold their ids.
//! - [`semaphore`]: Curator's `InterProcessSemaphoreV2`: at most N lease holders at once
//!   (`<path>/locks`, `<path>/leases`), N fixed or read from a shared count.
//! - [`config`]: a watched configuration node ([`ConfigNode`](config::ConfigNode)) or subtree
//!   ([`ConfigTree`](config::ConfigTree)), decoded by your function, always current, values in
//!   mzxid order, re-read after reconnects.
//! - [`counter`]: Curator's [`SharedCount`](counter::SharedCount) (4-byte big-endian) and
//!   [`DistributedAtomicLong`](counter::DistributedAtomicLong) (8-byte big-endian), on the same
//!   nodes as Curator's and kazoo's.
//! - [`queue`]: a distributed queue on the nodes of Curator's `DistributedQueue` /
//!   `DistributedPriorityQueue` (with or without a lock path) and `SimpleDistributedQueue`, or of
//!   kazoo's `Queue` and `LockingQueue`: at-most-once takes, or at-least-once locked ones.

pub mod config;
pub mod counter;
pub mod group;
pub mod leader;
pub mod lock;
pub(crate) mod protected;
pub mod queue;
pub mod selector;
pub mod semaphore;
