//! The simulated world's clock, randomness and wires: a seeded event queue, election links
//! that lose, duplicate and reorder notifications, quorum connections that behave like TCP
//! (in order, or cut), and partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use zk_proto::quorum::{Notification, QuorumPacket};
use zk_proto::txn::TxnEntry;

pub(super) use crate::quorum::election::sim::Rng;

/// Election notifications one server may have on its way to another at once; more are
/// dropped. Java bounds the same backlog (`QuorumCnxManager`: a send queue of
/// `SEND_CAPACITY` = 1 and a receive queue of 100, both `CircularBlockingQueue`s that discard
/// the oldest). Without a bound, duplication turns the reply loop of a LOOKING voter and an
/// OBSERVING observer (each answers the other at once, as Java's `WorkerReceiver` does) into
/// geometric growth that stops virtual time (seed 3002059).
const NOTIFICATIONS_IN_FLIGHT: usize = 8;

/// A quorum connection's id; the leader core knows it as its `LearnerId`.
pub(super) type ConnId = u64;

/// What happens at a point of virtual time.
#[derive(Debug)]
pub(super) enum Event {
    /// An election notification arrives.
    Notify {
        from: i64,
        to: i64,
        notification: Notification,
    },
    /// A learner's connection attempt reaches the leader's quorum port.
    ConnectRequest {
        learner: i64,
        role: u64,
        leader: i64,
    },
    /// The leader accepted: the learner sees its connection up.
    ConnectAccepted { conn: ConnId },
    /// A packet from the learner of `conn` arrives at its leader.
    ToLeader { conn: ConnId, packet: QuorumPacket },
    /// A packet from the leader arrives at the learner; a SNAP packet carries the snapshot
    /// stream that follows it on the wire.
    ToLearner {
        conn: ConnId,
        packet: QuorumPacket,
        snapshot: Option<Arc<Vec<Arc<TxnEntry>>>>,
    },
    /// The other side closed `conn` (or died with the OS resetting it).
    Eof { conn: ConnId, to_leader: bool },
    /// A node's disk finishes the flush it started (ignored after a crash).
    Flush { sid: i64, incarnation: u64 },
    /// A node's timers: election, leader and learner ticks.
    Tick { sid: i64 },
    /// The fault injector acts.
    Fault,
    /// A crashed node comes back.
    Restart { sid: i64 },
    /// A client write reaches whoever leads.
    ClientWrite,
    /// A simulated client's turn to (re)connect and start its next op (`clients.rs`).
    Client { client: usize },
    /// End of the faulty phase: heal everything and restart every node.
    Heal,
}

/// One quorum connection (learner -> leader's quorum port).
#[derive(Debug)]
pub(super) struct Conn {
    pub learner: i64,
    pub leader: i64,
    /// The role instances the two ends belong to (a new role never reuses a connection).
    pub learner_role: u64,
    pub leader_role: u64,
    /// Each end reads until it closes its socket.
    pub learner_open: bool,
    pub leader_open: bool,
    /// Delivery times so far in each direction: TCP keeps order.
    pub last_to_learner_ms: u64,
    pub last_to_leader_ms: u64,
}

/// How the network misbehaves in the faulty phase.
#[derive(Debug, Clone, Copy)]
pub(super) struct NetFaults {
    pub loss_per_mille: u64,
    pub dup_per_mille: u64,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl NetFaults {
    /// What the network is after healing: delays only.
    pub(super) fn healthy() -> Self {
        NetFaults {
            loss_per_mille: 0,
            dup_per_mille: 0,
            min_delay_ms: 1,
            max_delay_ms: 5,
        }
    }
}

/// The event queue and the links.
#[derive(Debug)]
pub(super) struct Net {
    pub now_ms: u64,
    pub rng: Rng,
    pub faults: NetFaults,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    /// Links that are cut, as (low sid, high sid).
    cut: BTreeSet<(i64, i64)>,
    pub conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    /// Notifications on their way, by (from, to).
    notifications_in_flight: BTreeMap<(i64, i64), usize>,
    /// Notifications dropped because their link was full.
    pub notifications_dropped: u64,
}

impl Net {
    pub(super) fn new(seed: u64, faults: NetFaults) -> Self {
        Net {
            now_ms: 0,
            rng: Rng::new(seed),
            faults,
            queue: BTreeMap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            notifications_in_flight: BTreeMap::new(),
            notifications_dropped: 0,
        }
    }

    pub(super) fn at(&mut self, time_ms: u64, event: Event) {
        if let Event::Notify { from, to, .. } = &event {
            *self
                .notifications_in_flight
                .entry((*from, *to))
                .or_default() += 1;
        }
        self.seq += 1;
        self.queue.insert((time_ms, self.seq), event);
    }

    pub(super) fn after(&mut self, delay_ms: u64, event: Event) {
        self.at(self.now_ms + delay_ms, event);
    }

    /// The next event, advancing the clock; `None` past `until_ms` or when nothing is left.
    pub(super) fn pop(&mut self, until_ms: u64) -> Option<Event> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > until_ms {
            return None;
        }
        let ((time, _), event) = entry.remove_entry();
        if let Event::Notify { from, to, .. } = &event {
            if let Some(n) = self.notifications_in_flight.get_mut(&(*from, *to)) {
                *n -= 1;
            }
        }
        self.now_ms = self.now_ms.max(time);
        Some(event)
    }

    pub(super) fn delay(&mut self) -> u64 {
        let f = self.faults;
        self.rng.range(f.min_delay_ms, f.max_delay_ms)
    }

    pub(super) fn is_cut(&self, a: i64, b: i64) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }

    pub(super) fn cut_link(&mut self, a: i64, b: i64) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    pub(super) fn heal_all(&mut self) {
        self.cut.clear();
    }

    pub(super) fn cut_links(&self) -> usize {
        self.cut.len()
    }

    /// An election notification: lost, delayed (so reordered) or duplicated.
    pub(super) fn notify(&mut self, from: i64, to: i64, notification: Notification) {
        if self
            .notifications_in_flight
            .get(&(from, to))
            .copied()
            .unwrap_or(0)
            >= NOTIFICATIONS_IN_FLIGHT
        {
            self.notifications_dropped += 1;
            return;
        }
        if self.rng.chance(self.faults.loss_per_mille) {
            return;
        }
        if self.rng.chance(self.faults.dup_per_mille) {
            let d = self.delay();
            self.after(
                d,
                Event::Notify {
                    from,
                    to,
                    notification: notification.clone(),
                },
            );
        }
        let d = self.delay();
        self.after(
            d,
            Event::Notify {
                from,
                to,
                notification,
            },
        );
    }

    pub(super) fn open_conn(
        &mut self,
        learner: i64,
        learner_role: u64,
        leader: i64,
        leader_role: u64,
    ) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                learner,
                leader,
                learner_role,
                leader_role,
                learner_open: true,
                leader_open: true,
                last_to_learner_ms: self.now_ms,
                last_to_leader_ms: self.now_ms,
            },
        );
        id
    }

    /// Queues a packet on `conn` in order after the ones before it.
    pub(super) fn send_to_learner(
        &mut self,
        conn: ConnId,
        packet: QuorumPacket,
        snapshot: Option<Arc<Vec<Arc<TxnEntry>>>>,
    ) {
        let d = self.delay();
        let now = self.now_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.leader_open {
            return;
        }
        c.last_to_learner_ms = c.last_to_learner_ms.max(now + d);
        let at = c.last_to_learner_ms;
        self.at(
            at,
            Event::ToLearner {
                conn,
                packet,
                snapshot,
            },
        );
    }

    pub(super) fn send_to_leader(&mut self, conn: ConnId, packet: QuorumPacket) {
        let d = self.delay();
        let now = self.now_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.learner_open {
            return;
        }
        c.last_to_leader_ms = c.last_to_leader_ms.max(now + d);
        let at = c.last_to_leader_ms;
        self.at(at, Event::ToLeader { conn, packet });
    }

    /// One end closes its socket: the other reads what was in flight, then EOF.
    pub(super) fn close(&mut self, conn: ConnId, by_leader: bool) {
        let d = self.delay();
        let now = self.now_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let at = if by_leader {
            if !c.leader_open {
                return;
            }
            c.leader_open = false;
            c.last_to_learner_ms.max(now + d)
        } else {
            if !c.learner_open {
                return;
            }
            c.learner_open = false;
            c.last_to_leader_ms.max(now + d)
        };
        self.at(
            at,
            Event::Eof {
                conn,
                to_leader: !by_leader,
            },
        );
    }

    /// The connection is gone without a goodbye (partition or crash): nothing in flight
    /// arrives; an end that is still alive learns it (RST) only when `notify_*` says so,
    /// otherwise its timeouts must notice.
    pub(super) fn sever(&mut self, conn: ConnId, notify_learner: bool, notify_leader: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (learner_open, leader_open) = (c.learner_open, c.leader_open);
        c.learner_open = false;
        c.leader_open = false;
        let d = self.delay();
        if notify_learner && learner_open {
            self.after(
                d,
                Event::Eof {
                    conn,
                    to_leader: false,
                },
            );
        }
        if notify_leader && leader_open {
            self.after(
                d,
                Event::Eof {
                    conn,
                    to_leader: true,
                },
            );
        }
    }
}
