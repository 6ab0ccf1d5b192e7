//! The rules of `QuorumCnxManager`, the election port's connection manager, without the
//! sockets: the initial message each connecting side sends, which side of a pair keeps the
//! connection, and the one-slot send queue per peer.
//!
//! Frames after the handshake are `zk_proto::quorum::read_election_frame` (length 1..=512 KiB;
//! anything else closes the connection, as Java's `RecvWorker` does) around a notification.

use zk_proto::quorum::{split_host_port, ElectionProtocol, InitialMessage};
use zk_proto::DecodeError;

/// The sid an observer without one sends (`QuorumPeer.OBSERVER_ID`, `Long.MAX_VALUE`).
pub const OBSERVER_ID: i64 = i64::MAX;

/// The initial message I send on a connection I open: V1 with my first election address, or
/// V2 with all of them when `multiAddress.enabled` is set (`startConnection`).
pub fn initial_message(
    my_id: i64,
    election_addresses: &[String],
    multi_address: bool,
) -> InitialMessage {
    let (protocol, addresses) = if multi_address {
        (ElectionProtocol::V2, election_addresses.to_vec())
    } else {
        (
            ElectionProtocol::V1,
            election_addresses.iter().take(1).cloned().collect(),
        )
    };
    InitialMessage::Versioned {
        protocol,
        sid: my_id,
        addresses,
    }
}

/// Whether a connection I opened to `sid` survives my initial message. Only the higher sid
/// keeps a connection it opened: to a higher sid I send the initial message and close, and it
/// connects back.
pub fn keeps_initiated(my_id: i64, sid: i64) -> bool {
    sid <= my_id
}

/// What to do with a connection a peer opened, once its initial message is read
/// (`handleConnection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptDecision {
    /// The initial message is malformed (unknown protocol version, a length outside 1..=2048,
    /// a bad address): close the socket.
    Reject(String),
    /// The peer's sid is lower than mine: close this socket (after stopping any old sender to
    /// `sid`) and connect to it myself, at `addresses` when it sent some (wildcard hosts
    /// dropped), else at its address in my config (and not at all if it is not there).
    ConnectBack {
        /// The peer's sid.
        sid: i64,
        /// Where to connect; empty: use the config.
        addresses: Vec<String>,
    },
    /// The peer's sid is higher: keep the connection, replacing any other one to `sid`.
    /// `sid` may be a temporary negative id given to an observer that sent none. Sids unknown
    /// to my config are kept too; the election treats them as non-voters.
    Keep {
        /// The peer's sid.
        sid: i64,
    },
    /// The peer claims my own sid (a config error). Java logs a warning and neither reads nor
    /// closes the socket; closing it is the only sane thing a runtime can do.
    OwnId,
}

/// Hands out the temporary ids of observers that connect without a sid: -1, -2, ...
/// (`QuorumCnxManager.observerCounter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserverIds {
    next: i64,
}

impl Default for ObserverIds {
    fn default() -> Self {
        ObserverIds { next: -1 }
    }
}

impl ObserverIds {
    /// The next temporary id.
    pub fn allocate(&mut self) -> i64 {
        let id = self.next;
        self.next -= 1;
        id
    }
}

/// Decides about an accepted connection from the bytes it sent first. A stream that ends
/// early is a [`AcceptDecision::Reject`] too (Java gets an EOF and closes).
pub fn accept(my_id: i64, first_bytes: &[u8], observer_ids: &mut ObserverIds) -> AcceptDecision {
    let mut input = first_bytes;
    let message = match InitialMessage::read(&mut input) {
        Ok(message) => message,
        Err(e) => return AcceptDecision::Reject(reject_reason(&e)),
    };
    let (mut sid, addresses) = match message {
        InitialMessage::Legacy { sid } => (sid, Vec::new()),
        InitialMessage::Versioned { sid, addresses, .. } => (
            sid,
            addresses
                .into_iter()
                .filter(|a| !split_host_port(a).is_some_and(|(host, _)| is_wildcard(host)))
                .collect(),
        ),
    };
    if sid == OBSERVER_ID {
        sid = observer_ids.allocate();
    }
    if sid < my_id {
        AcceptDecision::ConnectBack { sid, addresses }
    } else if sid == my_id {
        AcceptDecision::OwnId
    } else {
        AcceptDecision::Keep { sid }
    }
}

fn reject_reason(e: &DecodeError) -> String {
    format!("initial message parsing error: {e}")
}

/// `InitialMessage.isWildcardAddress` for literal hosts (Java resolves names; a name cannot
/// be a wildcard).
fn is_wildcard(host: &str) -> bool {
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
}

/// The send side of one peer (`queueSendMap` + `lastMessageSent`): a queue of one message where
/// a newer message replaces an unsent one, and the last message sent, which a new connection
/// sends again when nothing newer is queued (the peer may have missed it when the old
/// connection died; duplicates are harmless).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerOutbox<M> {
    queued: Option<M>,
    last_sent: Option<M>,
}

impl<M: Clone> PeerOutbox<M> {
    /// Queues `message`, dropping an older unsent one (`CircularBlockingQueue`, capacity 1).
    pub fn push(&mut self, message: M) {
        self.queued = Some(message);
    }

    /// A connection to the peer came up: what to write first, the queued message if any,
    /// else the last one sent again.
    pub fn on_connected(&mut self) -> Option<M> {
        match self.queued.take() {
            Some(m) => {
                self.last_sent = Some(m.clone());
                Some(m)
            }
            None => self.last_sent.clone(),
        }
    }

    /// The next message to write on a live connection.
    pub fn take(&mut self) -> Option<M> {
        let m = self.queued.take()?;
        self.last_sent = Some(m.clone());
        Some(m)
    }

    /// Whether nothing waits to be sent (`haveDelivered` holds when some peer's outbox is).
    pub fn is_drained(&self) -> bool {
        self.queued.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::quorum::{read_election_frame, MAX_ELECTION_FRAME_LEN};

    fn v1(sid: i64, addr: &str) -> Vec<u8> {
        initial_message(sid, &[addr.to_owned()], false).to_bytes()
    }

    #[test]
    fn initial_message_matches_the_java_capture() {
        let captured = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/quorum/election-sid3-to-sid1-outbound.bin"
        ))
        .unwrap();
        let ours = v1(3, "127.0.0.1:2243");
        assert_eq!(ours.len(), 34);
        assert_eq!(&captured[..34], &ours[..]);
        // Sid 1 accepted it: 3 > 1, so the connection stays.
        assert_eq!(
            accept(1, &captured, &mut ObserverIds::default()),
            AcceptDecision::Keep { sid: 3 }
        );
    }

    #[test]
    fn multi_address_sends_v2_with_every_address() {
        let addrs = ["10.0.0.1:3888".to_owned(), "[::1]:3888".to_owned()];
        let m = initial_message(2, &addrs, true);
        assert_eq!(m.to_bytes()[..8], (-65535i64).to_be_bytes());
        assert_eq!(
            m,
            InitialMessage::Versioned {
                protocol: ElectionProtocol::V2,
                sid: 2,
                addresses: addrs.to_vec()
            }
        );
        let single = initial_message(2, &addrs, false);
        assert_eq!(single.to_bytes()[..8], (-65536i64).to_be_bytes());
    }

    #[test]
    fn the_higher_sid_keeps_the_connection() {
        let mut ids = ObserverIds::default();
        assert_eq!(
            accept(2, &v1(1, "127.0.0.1:3881"), &mut ids),
            AcceptDecision::ConnectBack {
                sid: 1,
                addresses: vec!["127.0.0.1:3881".to_owned()]
            }
        );
        assert_eq!(
            accept(2, &v1(3, "h:1"), &mut ids),
            AcceptDecision::Keep { sid: 3 }
        );
        assert_eq!(accept(2, &v1(2, "h:1"), &mut ids), AcceptDecision::OwnId);
        assert!(keeps_initiated(3, 1));
        assert!(!keeps_initiated(1, 3));
        // An unknown sid is not refused (Java does not look it up).
        assert_eq!(
            accept(2, &v1(99, "h:1"), &mut ids),
            AcceptDecision::Keep { sid: 99 }
        );
    }

    #[test]
    fn legacy_and_wildcard_senders_are_connected_back_through_the_config() {
        let mut ids = ObserverIds::default();
        assert_eq!(
            accept(5, &1i64.to_be_bytes(), &mut ids),
            AcceptDecision::ConnectBack {
                sid: 1,
                addresses: vec![]
            }
        );
        assert_eq!(
            accept(5, &v1(1, "0.0.0.0:3888"), &mut ids),
            AcceptDecision::ConnectBack {
                sid: 1,
                addresses: vec![]
            }
        );
    }

    #[test]
    fn observers_without_a_sid_get_temporary_negative_ids() {
        let mut ids = ObserverIds::default();
        let anon = v1(OBSERVER_ID, "h:1");
        assert_eq!(
            accept(1, &anon, &mut ids),
            AcceptDecision::ConnectBack {
                sid: -1,
                addresses: vec!["h:1".to_owned()]
            }
        );
        assert_eq!(
            accept(1, &anon, &mut ids),
            AcceptDecision::ConnectBack {
                sid: -2,
                addresses: vec!["h:1".to_owned()]
            }
        );
    }

    #[test]
    fn malformed_initial_messages_are_rejected() {
        let mut ids = ObserverIds::default();
        let reject = |bytes: &[u8], ids: &mut ObserverIds| {
            matches!(accept(1, bytes, ids), AcceptDecision::Reject(_))
        };
        // Unknown protocol version.
        let mut bad = v1(3, "h:1");
        bad[..8].copy_from_slice(&(-65534i64).to_be_bytes());
        assert!(reject(&bad, &mut ids));
        // Address length 0 and above 2048.
        for len in [0i32, 2049, -1] {
            let mut m = Vec::new();
            m.extend_from_slice(&(-65536i64).to_be_bytes());
            m.extend_from_slice(&3i64.to_be_bytes());
            m.extend_from_slice(&len.to_be_bytes());
            m.extend_from_slice(&[b'x'; 2049]);
            assert!(reject(&m, &mut ids), "len {len}");
        }
        // No port, and a stream cut short.
        assert!(reject(&v1(3, "justahost"), &mut ids));
        assert!(reject(&v1(3, "h:1")[..20], &mut ids));
        assert!(reject(&[0xff; 4], &mut ids));
    }

    #[test]
    fn frames_outside_one_to_512_kib_close_the_connection() {
        for len in [0i32, -1, MAX_ELECTION_FRAME_LEN as i32 + 1] {
            let mut frame = len.to_be_bytes().to_vec();
            frame.extend_from_slice(&[0; 64]);
            assert!(read_election_frame(&mut &frame[..]).is_err(), "len {len}");
        }
    }

    #[test]
    fn the_outbox_keeps_only_the_newest_and_resends_the_last_on_reconnect() {
        let mut out = PeerOutbox::default();
        assert_eq!(out.on_connected(), None);
        out.push(1);
        out.push(2);
        assert!(!out.is_drained());
        assert_eq!(out.take(), Some(2));
        assert_eq!(out.take(), None);
        assert!(out.is_drained());
        // The connection dies; a new one first repeats what was last sent.
        assert_eq!(out.on_connected(), Some(2));
        out.push(3);
        assert_eq!(out.on_connected(), Some(3));
        assert_eq!(out.take(), None);
    }
}
