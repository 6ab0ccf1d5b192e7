//! What the server has queued for clients and not yet written, counted in bytes, so a client
//! that stops reading cannot make the server hold its replies without bound.
//!
//! Every frame handed to a connection's writer is a [`QueuedFrame`]: it adds its length to the
//! connection's count and to the server's total when it is made, and takes it back when it is
//! dropped, written or not (a closed connection's queue is dropped whole). Three limits
//! ([`Limits`]) act on the counts:
//! - a connection with `pause_reading_bytes` queued is not read from (TCP then pushes back on
//!   the client, as Java stops reading from a connection it throttles);
//! - while the total is over `global_pause_reading_bytes`, no connection is read from;
//! - a connection with more than `max_queued_bytes` queued is closed, and so is a connection
//!   over its pause limit while the total is over twice the global one: requests already read
//!   and events of other clients' writes still add to a paused connection's queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BufMut;
use tokio::sync::Notify;
use tokio_util::codec::Encoder;
use zk_proto::frame::{FrameError, ServerCodec};

use crate::config::Config;
use crate::core::Payload;

/// The byte limits on queued output. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A connection with this much queued is not read from.
    pub pause_reading_bytes: usize,
    /// A connection with more than this queued is closed.
    pub max_queued_bytes: usize,
    /// While all connections together have this much queued, none is read from.
    pub global_pause_reading_bytes: usize,
}

impl Limits {
    /// The limits zoo.cfg sets (see [`Config::outgoing_pause_reading_bytes`] and its siblings).
    pub fn from_config(cfg: &Config) -> Limits {
        Limits {
            pause_reading_bytes: cfg.outgoing_pause_reading_bytes(),
            max_queued_bytes: cfg.outgoing_max_queued_bytes(),
            global_pause_reading_bytes: cfg.outgoing_global_pause_reading_bytes(),
        }
    }
}

/// A byte count with a wake-up for whoever waits for it to go down.
#[derive(Debug, Default)]
pub struct Counter {
    bytes: AtomicUsize,
    drained: Notify,
}

impl Counter {
    /// The bytes counted now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::AcqRel);
    }

    fn sub(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::AcqRel);
        self.drained.notify_waiters();
    }
}

/// One connection's queue count, tied to the server's total.
#[derive(Debug)]
pub struct ConnQueue {
    own: Counter,
    total: Arc<Counter>,
    limits: Limits,
}

impl ConnQueue {
    /// A connection's queue counted into `total`.
    pub fn new(total: Arc<Counter>, limits: Limits) -> Arc<ConnQueue> {
        Arc::new(ConnQueue {
            own: Counter::default(),
            total,
            limits,
        })
    }

    /// Bytes queued for this connection.
    pub fn bytes(&self) -> usize {
        self.own.bytes()
    }

    /// Whether the connection must be closed rather than be given more.
    pub fn over_limit(&self) -> bool {
        let own = self.own.bytes();
        own > self.limits.max_queued_bytes
            || own >= self.limits.pause_reading_bytes
                && self.total.bytes() > self.limits.global_pause_reading_bytes.saturating_mul(2)
    }

    /// Whether requests may be read from the connection now.
    pub fn may_read(&self) -> bool {
        self.own.bytes() < self.limits.pause_reading_bytes
            && self.total.bytes() < self.limits.global_pause_reading_bytes
    }

    /// Returns once the connection may be read from again (at once if it may now).
    pub async fn wait_until_readable(&self) {
        loop {
            let own = self.own.drained.notified();
            let total = self.total.drained.notified();
            tokio::pin!(own, total);
            // Registered before the check, so a drain between the check and the wait is seen.
            own.as_mut().enable();
            total.as_mut().enable();
            if self.may_read() {
                return;
            }
            tokio::select! {
                () = own => {}
                () = total => {}
            }
        }
    }

    /// Queues `payload`: counted until the frame is dropped.
    pub fn frame(self: &Arc<Self>, payload: Payload) -> QueuedFrame {
        let len = payload.len();
        self.own.add(len);
        self.total.add(len);
        QueuedFrame {
            payload,
            queue: self.clone(),
        }
    }
}

/// A frame on its way to a client, counted in its connection's queue until dropped.
#[derive(Debug)]
pub struct QueuedFrame {
    payload: Payload,
    queue: Arc<ConnQueue>,
}

impl Drop for QueuedFrame {
    fn drop(&mut self) {
        let len = self.payload.len();
        self.queue.own.sub(len);
        self.queue.total.sub(len);
    }
}

/// Writes a frame's parts behind one length prefix (the frame is released once copied into
/// the write buffer, which the writer flushes before it takes more than a few frames).
impl Encoder<QueuedFrame> for ServerCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: QueuedFrame, dst: &mut bytes::BytesMut) -> Result<(), FrameError> {
        let len = frame.payload.len();
        dst.reserve(4 + len);
        dst.put_i32(len as i32);
        for part in frame.payload.parts() {
            dst.put_slice(part);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn limits() -> Limits {
        Limits {
            pause_reading_bytes: 100,
            max_queued_bytes: 1000,
            global_pause_reading_bytes: 300,
        }
    }

    #[test]
    fn frames_count_until_dropped() {
        let total = Arc::new(Counter::default());
        let a = ConnQueue::new(total.clone(), limits());
        let b = ConnQueue::new(total.clone(), limits());
        let f1 = a.frame(Bytes::from(vec![0; 60]).into());
        let f2 = a.frame(Bytes::from(vec![0; 60]).into());
        let f3 = b.frame(Bytes::from(vec![0; 10]).into());
        assert_eq!((a.bytes(), b.bytes(), total.bytes()), (120, 10, 130));
        assert!(!a.may_read() && b.may_read());
        drop(f1);
        assert!(a.may_read());
        drop((f2, f3));
        assert_eq!(total.bytes(), 0);
    }

    #[test]
    fn limits_pause_and_close() {
        let total = Arc::new(Counter::default());
        let a = ConnQueue::new(total.clone(), limits());
        let b = ConnQueue::new(total.clone(), limits());
        let big = a.frame(Bytes::from(vec![0; 400]).into());
        // b has nothing queued but the total is over the global pause.
        assert!(!b.may_read() && !b.over_limit());
        assert!(!a.over_limit());
        let more = a.frame(Bytes::from(vec![0; 601]).into());
        assert!(a.over_limit(), "over max_queued_bytes");
        drop((big, more));
        let c = b.frame(Bytes::from(vec![0; 100]).into());
        let d = a.frame(Bytes::from(vec![0; 550]).into());
        assert!(
            a.over_limit() && b.over_limit(),
            "over the pause while the total is > 2x"
        );
        drop((c, d));
    }

    #[tokio::test]
    async fn a_paused_reader_wakes_when_its_queue_drains() {
        let total = Arc::new(Counter::default());
        let a = ConnQueue::new(total.clone(), limits());
        let frame = a.frame(Bytes::from(vec![0; 200]).into());
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.wait_until_readable().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(frame);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }

    #[test]
    fn parts_are_framed_as_one_payload() {
        let total = Arc::new(Counter::default());
        let q = ConnQueue::new(total, limits());
        let mut codec = ServerCodec::new(1 << 20);
        let mut out = bytes::BytesMut::new();
        codec
            .encode(q.frame(Bytes::from_static(b"abc").into()), &mut out)
            .unwrap();
        assert_eq!(&out[..], b"\0\0\0\x03abc");
    }
}
