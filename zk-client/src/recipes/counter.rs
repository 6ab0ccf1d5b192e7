//! Counters stored exactly as Apache Curator stores them, so Rust, Java and Python clients can
//! share one:
//!
//! - [`SharedCount`]: Curator's `SharedCount` (and kazoo's `Counter(support_curator=True)`): a
//!   persistent node holding a **4-byte big-endian `i32`**, changed with versioned `setData`
//!   (compare-and-set on the node version) and watched so the current count is always at hand.
//! - [`DistributedAtomicLong`]: Curator's `DistributedAtomicLong`: a persistent node holding an
//!   **8-byte big-endian `i64`**, changed optimistically (read, then `setData` with the version
//!   read, retried on `BadVersion`), created on first change when missing.
//!
//! Both create missing parents as empty containers, as Curator does. Arithmetic wraps on
//! overflow, as Java's does.
//!
//! Differences from Curator:
//!
//! - Empty data reads as 0 for both (kazoo's `Counter` leaves a node it creates empty; Curator's
//!   `DistributedAtomicLong` reads empty as 0 too, its `SharedCount` throws). Data of any other
//!   wrong length is an error ([`CounterError::Corrupt`]); Curator reads the first 4 or 8 bytes
//!   of longer data.
//! - [`DistributedAtomicLong`] has no "promoted to lock" mode, and its retry policy is a number
//!   of attempts with a short growing pause; running out is an error
//!   ([`CounterError::Contention`]) instead of an `AtomicValue` with `succeeded() == false`.
//! - [`DistributedAtomicLong::get`] does not create missing parents (Curator's does, as a side
//!   effect).
//! - [`SharedCount`] keeps watching a deleted node and reports its re-creation; Curator's stops
//!   watching it.

use std::time::Duration;

use bytes::Bytes;

use super::config::{
    create_if_missing, create_with_container_parents, ConfigEvent, ConfigNode, EventStream,
};
use crate::{Client, Error, ErrorKind, RetryPolicy};

/// How many times [`SharedCount::add`] and [`DistributedAtomicLong`] try before giving up, by
/// default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 100;

/// The longest pause between two attempts of a contended change.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Node data that is not a counter of the expected width.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes where a {expected}-byte big-endian counter (or nothing) was expected")]
pub struct FormatError {
    /// The data's length.
    pub len: usize,
    /// The counter's width: 4 for [`SharedCount`], 8 for [`DistributedAtomicLong`].
    pub expected: usize,
}

/// Why a counter operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CounterError {
    /// ZooKeeper said no, or the session is gone (`NoNode` when a [`SharedCount`]'s node was
    /// deleted).
    #[error(transparent)]
    Zk(#[from] Error),
    /// The node holds something that is not a counter.
    #[error("corrupted data for node {path}: {source}")]
    Corrupt {
        /// The counter's node.
        path: String,
        /// What is wrong with the data.
        #[source]
        source: FormatError,
    },
    /// Other clients changed the counter between every read and write of this many attempts.
    #[error("gave up after {attempts} attempts: {path} kept changing under us")]
    Contention {
        /// The counter's node.
        path: String,
        /// How many read-and-set attempts were made.
        attempts: u32,
    },
}

/// `value` as Curator's `SharedCount` stores it (`ByteBuffer.putInt`).
pub fn encode_shared_count(value: i32) -> [u8; 4] {
    value.to_be_bytes()
}

/// A [`SharedCount`] node's data as a count: 4 big-endian bytes, or nothing (0).
pub fn decode_shared_count(data: &[u8]) -> Result<i32, FormatError> {
    match data.len() {
        0 => Ok(0),
        4 => Ok(i32::from_be_bytes([data[0], data[1], data[2], data[3]])),
        len => Err(FormatError { len, expected: 4 }),
    }
}

/// `value` as Curator's `DistributedAtomicLong` stores it (`ByteBuffer.putLong`).
pub fn encode_atomic_long(value: i64) -> [u8; 8] {
    value.to_be_bytes()
}

/// A [`DistributedAtomicLong`] node's data as a value: 8 big-endian bytes, or nothing (0).
pub fn decode_atomic_long(data: &[u8]) -> Result<i64, FormatError> {
    match <[u8; 8]>::try_from(data) {
        Ok(bytes) => Ok(i64::from_be_bytes(bytes)),
        Err(_) if data.is_empty() => Ok(0),
        Err(_) => Err(FormatError {
            len: data.len(),
            expected: 8,
        }),
    }
}

/// A count and the node version it was read at (Curator's `VersionedValue<Integer>`): what
/// [`SharedCount::try_set`] compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionedCount {
    /// The node's data version.
    pub version: i32,
    /// The count.
    pub value: i32,
}

/// Curator's `SharedCount`: an `i32` in a persistent node, shared by every client watching the
/// same path. The current count is kept locally by a watch ([`ConfigNode`] underneath), so
/// [`get`](Self::get) costs no round trip; changes are compare-and-set on the node version.
///
/// ```no_run
/// # async fn demo() -> Result<(), zk_client::recipes::counter::CounterError> {
/// use zk_client::recipes::counter::SharedCount;
/// let client = zk_client::Client::connect("127.0.0.1:2181").await?;
/// let count = SharedCount::start(&client, "/app/workers", 0).await?;
/// // Curator's increment idiom: read, try to set, repeat on a lost race.
/// loop {
///     let seen = count.get()?;
///     if count.try_set(seen, seen.value + 1).await? {
///         break;
///     }
/// }
/// println!("now {}", count.get()?.value);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SharedCount {
    client: Client,
    path: String,
    node: ConfigNode<i32, FormatError>,
}

impl SharedCount {
    /// Creates the node holding `seed` unless it exists (missing parents become containers),
    /// then reads and watches it (Curator's `new SharedCount(client, path, seed).start()`).
    /// Fails with `NoNode` if the node is deleted again before it could be read.
    pub async fn start(
        client: &Client,
        path: &str,
        seed: i32,
    ) -> Result<SharedCount, CounterError> {
        create_if_missing(client, path, &encode_shared_count(seed)).await?;
        let node = ConfigNode::start(client, path, decode_shared_count).await?;
        let count = SharedCount {
            client: client.clone(),
            path: path.to_owned(),
            node,
        };
        // Curator's start() fails the same way when its first read finds no node.
        if let Err(CounterError::Zk(Error {
            kind: ErrorKind::NoNode,
            ..
        })) = count.get()
        {
            return Err(Error::from(ErrorKind::NoNode).with_path(path).into());
        }
        Ok(count)
    }

    /// The counter's node.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current count and its version, as last read (Curator's `getVersionedValue`). Fails
    /// with `NoNode` while the node is deleted, [`CounterError::Corrupt`] while it holds
    /// something else, and with the session's error once the watch has ended.
    pub fn get(&self) -> Result<VersionedCount, CounterError> {
        if let Some(e) = self.node.ended() {
            return Err(e.into());
        }
        match self.node.latest() {
            ConfigEvent::Value(v) => Ok(VersionedCount {
                version: v.stat.version,
                value: *v.value,
            }),
            ConfigEvent::DecodeFailed { error, .. } => Err(CounterError::Corrupt {
                path: self.path.clone(),
                source: (*error).clone(),
            }),
            ConfigEvent::Deleted => Err(Error::from(ErrorKind::NoNode)
                .with_path(self.path.as_str())
                .into()),
            ConfigEvent::Ended(e) => Err(e.into()),
        }
    }

    /// Sets the count whatever it was (Curator's `setCount`).
    pub async fn set(&self, value: i32) -> Result<(), CounterError> {
        let data = encode_shared_count(value);
        let stat = self.client.set_data(&self.path, &data, None).await?;
        self.node
            .apply_write(Bytes::copy_from_slice(&data), stat)
            .await;
        Ok(())
    }

    /// Sets the count to `value` only if the node is still at `previous` (Curator's
    /// `trySetCount(VersionedValue, int)`): `false`, with the local count brought up to date,
    /// if another change came first. A `previous` that differs from the local count fails at
    /// once without a round trip, as in Curator.
    pub async fn try_set(
        &self,
        previous: VersionedCount,
        value: i32,
    ) -> Result<bool, CounterError> {
        if self.get()? != previous {
            return Ok(false);
        }
        let data = encode_shared_count(value);
        match self
            .client
            .set_data(&self.path, &data, Some(previous.version))
            .await
        {
            Ok(stat) => {
                self.node
                    .apply_write(Bytes::copy_from_slice(&data), stat)
                    .await;
                Ok(true)
            }
            Err(Error {
                kind: ErrorKind::BadVersion,
                ..
            }) => {
                // Curator re-reads here so the caller's next attempt starts from the new count.
                self.node.refresh().await?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `delta` (wrapping) with [`try_set`](Self::try_set) until it wins, at most
    /// [`DEFAULT_MAX_ATTEMPTS`] times; returns the new count. Not in Curator's `SharedCount`;
    /// kazoo's `Counter` `+=` does the same.
    pub async fn add(&self, delta: i32) -> Result<i32, CounterError> {
        for attempt in 1..=DEFAULT_MAX_ATTEMPTS {
            let seen = self.get()?;
            let value = seen.value.wrapping_add(delta);
            if self.try_set(seen, value).await? {
                return Ok(value);
            }
            tokio::time::sleep(retry_pause(attempt)).await;
        }
        Err(CounterError::Contention {
            path: self.path.clone(),
            attempts: DEFAULT_MAX_ATTEMPTS,
        })
    }

    /// Every change of the count in order, starting with the current state (see
    /// [`ConfigNode::events`] for what is promised).
    pub fn changes(&self) -> EventStream<ConfigEvent<i32, FormatError>> {
        self.node.events()
    }
}

/// A change made by a [`DistributedAtomicLong`] (Curator's `AtomicValue<Long>` of a success).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AtomicChange {
    /// The value before (0 when the node did not exist).
    pub pre: i64,
    /// The value written.
    pub post: i64,
    /// How many read-and-set attempts it took (1 when no other client got in the way; Curator's
    /// `AtomicStats.getOptimisticTries`).
    pub attempts: u32,
}

/// Curator's `DistributedAtomicLong` (optimistic mode): an `i64` in a persistent node, changed by
/// reading it and writing it back with the version read, retried when another client won the
/// race. Nothing is kept locally; every call reads the node.
///
/// ```no_run
/// # async fn demo() -> Result<(), zk_client::recipes::counter::CounterError> {
/// use zk_client::recipes::counter::DistributedAtomicLong;
/// let client = zk_client::Client::connect("127.0.0.1:2181").await?;
/// let hits = DistributedAtomicLong::new(&client, "/app/hits");
/// let change = hits.increment().await?;
/// println!("{} -> {}", change.pre, change.post);
/// assert!(hits.compare_and_set(change.post, 0).await? || hits.get().await? != change.post);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DistributedAtomicLong {
    client: Client,
    path: String,
    max_attempts: u32,
    /// Curator's contention policy, when given: it decides the pause and when to give up.
    policy: Option<RetryPolicy>,
}

impl DistributedAtomicLong {
    /// A counter at `path` (which need not exist yet), trying each change up to
    /// [`DEFAULT_MAX_ATTEMPTS`] times.
    pub fn new(client: &Client, path: &str) -> DistributedAtomicLong {
        DistributedAtomicLong {
            client: client.clone(),
            path: path.to_owned(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            policy: None,
        }
    }

    /// Retries lost races as `policy` says, as Curator's
    /// `DistributedAtomicLong(client, path, retryPolicy)` does: the first try is always made,
    /// then one more per allowed retry (after the policy's pause). Replaces
    /// [`with_max_attempts`](Self::with_max_attempts). Connection losses are not retried: a
    /// versioned write whose reply was lost may have been applied, and trying it again could
    /// apply the change twice.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> Result<(), zk_client::recipes::counter::CounterError> {
    /// use std::time::Duration;
    /// use zk_client::recipes::counter::DistributedAtomicLong;
    /// use zk_client::RetryPolicy;
    /// let hits = DistributedAtomicLong::new(&client, "/stats/hits").with_retry(
    ///     RetryPolicy::ExponentialBackoff {
    ///         base: Duration::from_millis(5),
    ///         max_retries: 10,
    ///         max_sleep: Duration::from_millis(200),
    ///     },
    /// );
    /// hits.increment().await?;
    /// # Ok(()) }
    /// ```
    pub fn with_retry(mut self, policy: RetryPolicy) -> DistributedAtomicLong {
        self.policy = Some(policy);
        self
    }

    /// How many read-and-set attempts a change makes before failing with
    /// [`CounterError::Contention`] (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> DistributedAtomicLong {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The counter's node.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current value; 0 when the node does not exist.
    pub async fn get(&self) -> Result<i64, CounterError> {
        Ok(self.read().await?.map_or(0, |(value, _)| value))
    }

    /// Adds 1; Curator's `increment`.
    pub async fn increment(&self) -> Result<AtomicChange, CounterError> {
        self.add(1).await
    }

    /// Subtracts 1; Curator's `decrement`.
    pub async fn decrement(&self) -> Result<AtomicChange, CounterError> {
        self.add(-1).await
    }

    /// Adds `delta` (wrapping); Curator's `add`.
    pub async fn add(&self, delta: i64) -> Result<AtomicChange, CounterError> {
        self.change(|pre| pre.wrapping_add(delta)).await
    }

    /// Subtracts `delta` (wrapping); Curator's `subtract`.
    pub async fn subtract(&self, delta: i64) -> Result<AtomicChange, CounterError> {
        self.change(|pre| pre.wrapping_sub(delta)).await
    }

    /// Sets `value` through the same optimistic read-and-set as the changes; Curator's `trySet`.
    pub async fn try_set(&self, value: i64) -> Result<AtomicChange, CounterError> {
        self.change(|_| value).await
    }

    /// Sets `value` only if the node holds exactly `expected` (compared as stored bytes, as
    /// Curator does: empty data matches nothing); one attempt. `false` when the value differed,
    /// the node is missing, or another change won the race.
    pub async fn compare_and_set(&self, expected: i64, value: i64) -> Result<bool, CounterError> {
        let (data, stat) = match self.client.get_data(&self.path).await {
            Ok(read) => read,
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if data[..] != encode_atomic_long(expected) {
            return Ok(false);
        }
        match self
            .client
            .set_data(&self.path, &encode_atomic_long(value), Some(stat.version))
            .await
        {
            Ok(_) => Ok(true),
            Err(Error {
                kind: ErrorKind::BadVersion | ErrorKind::NoNode,
                ..
            }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets `value` whatever the node holds, creating it if missing; Curator's `forceSet`.
    pub async fn force_set(&self, value: i64) -> Result<(), CounterError> {
        let data = encode_atomic_long(value);
        match self.client.set_data(&self.path, &data, None).await {
            Ok(_) => return Ok(()),
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
        match create_with_container_parents(&self.client, &self.path, &data).await {
            Ok(()) => Ok(()),
            // Created by someone else meanwhile: overwrite, as Curator does.
            Err(Error {
                kind: ErrorKind::NodeExists,
                ..
            }) => {
                self.client.set_data(&self.path, &data, None).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the node holding `value` if it does not exist; `true` if this call created it.
    /// Curator's `initialize`.
    pub async fn initialize(&self, value: i64) -> Result<bool, CounterError> {
        Ok(create_if_missing(&self.client, &self.path, &encode_atomic_long(value)).await?)
    }

    /// The value and its node version; `None` when the node does not exist.
    async fn read(&self) -> Result<Option<(i64, i32)>, CounterError> {
        match self.client.get_data(&self.path).await {
            Ok((data, stat)) => {
                let value = decode_atomic_long(&data).map_err(|source| CounterError::Corrupt {
                    path: self.path.clone(),
                    source,
                })?;
                Ok(Some((value, stat.version)))
            }
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Curator's optimistic loop: read, compute, then create the node (if it was missing) or set
    /// it with the version read; a `NodeExists`, `BadVersion` or `NoNode` means another client
    /// got there first, so try again.
    async fn change(&self, make: impl Fn(i64) -> i64) -> Result<AtomicChange, CounterError> {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.read().await?;
            let pre = current.map_or(0, |(value, _)| value);
            let post = make(pre);
            let data = encode_atomic_long(post);
            let written = match current {
                None => create_with_container_parents(&self.client, &self.path, &data).await,
                Some((_, version)) => self
                    .client
                    .set_data(&self.path, &data, Some(version))
                    .await
                    .map(drop),
            };
            match written {
                Ok(()) => {
                    return Ok(AtomicChange {
                        pre,
                        post,
                        attempts: attempt,
                    })
                }
                Err(Error {
                    kind: ErrorKind::NodeExists | ErrorKind::BadVersion | ErrorKind::NoNode,
                    ..
                }) => {
                    let pause = match self.policy {
                        Some(policy) => policy.sleep_before(
                            attempt - 1,
                            started.elapsed(),
                            crate::retry::random(),
                        ),
                        None => (attempt < self.max_attempts).then(|| retry_pause(attempt)),
                    };
                    let Some(pause) = pause else {
                        return Err(CounterError::Contention {
                            path: self.path.clone(),
                            attempts: attempt,
                        });
                    };
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Pause after losing race number `attempt`: none after the first loss (the next read is
/// already fresh), then 1 ms more per loss up to [`MAX_RETRY_PAUSE`], so a crowd of clients
/// spreads out instead of colliding in lockstep.
fn retry_pause(attempt: u32) -> Duration {
    Duration::from_millis(u64::from(attempt - 1)).min(MAX_RETRY_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_count_format_is_curators() {
        // SharedCount.toBytes(0x01020304) in Java: ByteBuffer.putInt, big-endian.
        assert_eq!(encode_shared_count(0x0102_0304), [1, 2, 3, 4]);
        assert_eq!(encode_shared_count(-2), [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(decode_shared_count(&[0xff, 0xff, 0xff, 0xfe]), Ok(-2));
        assert_eq!(decode_shared_count(&[]), Ok(0));
        assert_eq!(
            decode_shared_count(&[1, 2, 3]),
            Err(FormatError {
                len: 3,
                expected: 4
            })
        );
        assert!(decode_shared_count(&[0; 8]).is_err());
    }

    #[test]
    fn atomic_long_format_is_curators() {
        assert_eq!(
            encode_atomic_long(0x0102_0304_0506_0708),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            decode_atomic_long(&encode_atomic_long(i64::MIN)),
            Ok(i64::MIN)
        );
        assert_eq!(decode_atomic_long(&[]), Ok(0));
        assert_eq!(
            decode_atomic_long(&[0; 4]),
            Err(FormatError {
                len: 4,
                expected: 8
            })
        );
    }
}
