//! Ensemble traffic (`org.apache.zookeeper.server.quorum` in `zookeeper.jute`, QUORUM.md):
//!
//! - the quorum port: a plain sequence of [`QuorumPacket`]s in both directions, no length
//!   prefix (the SNAP body is the one exception, see [`crate::storage::read_snap_sync_body`]),
//!   and typed views of the packet data whose layout is fixed ([`LearnerInfoData`],
//!   [`LearnerRequest`], [`PingTouches`], [`RevalidateRequest`], [`RevalidateReply`],
//!   [`read_int_data`] for LEADERINFO and ACKEPOCH);
//! - the election port: the [`InitialMessage`] a connecting peer sends, then length-prefixed
//!   frames ([`read_election_frame`]) holding [`Notification`]s.

use crate::data::Id;
use crate::jute::{jute_record, take, DecodeError, Jute};
use crate::txn::TxnEntry;
use crate::types::{int_enum, OpCode};
use bytes::{BufMut, Bytes};

/// The zxid of `counter` in `epoch` (`ZxidUtils.makeZxid`; epochs are Java longs, -1 for none).
pub const fn make_zxid(epoch: i64, counter: i64) -> i64 {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// The epoch part of a zxid (`ZxidUtils.getEpochFromZxid`).
pub const fn epoch_of_zxid(zxid: i64) -> i64 {
    zxid >> 32
}

int_enum! {
    /// QuorumPacket types (`Leader.java` constants).
    pub enum PacketType {
        /// Learner to leader: a client write (or sync, createSession, closeSession) to forward.
        Request = 1 => "REQUEST",
        /// Leader to follower: a txn to log and ACK.
        Proposal = 2 => "PROPOSAL",
        /// Follower to leader: the txn `zxid` is logged.
        Ack = 3 => "ACK",
        /// Leader to follower: apply the txns up to `zxid`.
        Commit = 4 => "COMMIT",
        /// Both ways: liveness; from learners it carries the session touch table.
        Ping = 5 => "PING",
        /// Both ways: re-attach a session through another server.
        Revalidate = 6 => "REVALIDATE",
        /// Leader to learner: answers a forwarded `sync`.
        Sync = 7 => "SYNC",
        /// Leader to observer: a committed txn.
        Inform = 8 => "INFORM",
        /// Leader to follower: commit a reconfig and activate it.
        CommitAndActivate = 9 => "COMMITANDACTIVATE",
        /// Leader to learner: the new epoch's config; end of sync.
        NewLeader = 10 => "NEWLEADER",
        /// Follower to leader: registration with [`LearnerInfo`].
        FollowerInfo = 11 => "FOLLOWERINFO",
        /// Leader to learner: the learner may serve clients.
        UpToDate = 12 => "UPTODATE",
        /// Leader to learner: sync by sending the missing txns.
        Diff = 13 => "DIFF",
        /// Leader to learner: truncate the log to `zxid`.
        Trunc = 14 => "TRUNC",
        /// Leader to learner: a full snapshot follows.
        Snap = 15 => "SNAP",
        /// Observer to leader: registration with [`LearnerInfo`].
        ObserverInfo = 16 => "OBSERVERINFO",
        /// Leader to learner: the proposed epoch and protocol version.
        LeaderInfo = 17 => "LEADERINFO",
        /// Learner to leader: the learner's current epoch (or -1).
        AckEpoch = 18 => "ACKEPOCH",
        /// Leader to observer: a committed reconfig to activate.
        InformAndActivate = 19 => "INFORMANDACTIVATE",
    }
}

jute_record! {
    /// `QuorumPacket`: everything on the quorum port. A packet with null data and authinfo is
    /// 20 bytes.
    pub struct QuorumPacket {
        /// The packet type.
        pub r#type: PacketType,
        /// The zxid (meaning depends on the type; -1 for REQUEST, REVALIDATE and UPTODATE).
        pub zxid: i64,
        /// The payload (null for ACK, COMMIT, leader PINGs, ...).
        pub data: Option<Bytes>,
        /// Auth ids of the client connection a REQUEST comes from; else null.
        pub authinfo: Option<Vec<Id>>,
    }
}

impl QuorumPacket {
    /// A packet with data and no authinfo.
    pub fn new(r#type: PacketType, zxid: i64, data: Option<Bytes>) -> Self {
        QuorumPacket {
            r#type,
            zxid,
            data,
            authinfo: None,
        }
    }

    /// The data, or an empty slice when null.
    pub fn data_bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    /// The txn of a PROPOSAL or INFORM packet.
    pub fn txn_entry(&self) -> Result<TxnEntry, DecodeError> {
        TxnEntry::decode(self.data_bytes())
    }
}

jute_record! {
    /// `QuorumAuthPacket`: the quorum SASL exchange (only with `quorum.auth` enabled).
    pub struct QuorumAuthPacket {
        /// Magic number.
        pub magic: i64,
        /// Status (`QuorumAuth.Status`).
        pub status: i32,
        /// The SASL token.
        pub token: Option<Bytes>,
    }
}

jute_record! {
    /// `LearnerInfo` (20 bytes): the data of FOLLOWERINFO and OBSERVERINFO.
    pub struct LearnerInfo {
        /// The learner's server id.
        pub serverid: i64,
        /// The ZAB protocol version (0x10000).
        pub protocol_version: i32,
        /// The version of the learner's last activated config.
        pub config_version: i64,
    }
}

/// The ZAB protocol version of 3.4 and later.
pub const ZAB_PROTOCOL_VERSION: i32 = 0x10000;

/// FOLLOWERINFO / OBSERVERINFO data in the shapes the leader accepts: the full 20-byte
/// [`LearnerInfo`], and older 12-byte (no config version) and 8-byte (sid only) forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerInfoData {
    /// The current 20-byte form.
    Full(LearnerInfo),
    /// 12 bytes: sid and protocol version.
    SidAndProtocol {
        /// The learner's server id.
        serverid: i64,
        /// Its protocol version.
        protocol_version: i32,
    },
    /// 8 bytes: the sid alone.
    SidOnly {
        /// The learner's server id.
        serverid: i64,
    },
}

impl LearnerInfoData {
    /// Decodes data of exactly 8, 12 or 20 bytes.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        let mut input = data;
        let info = match data.len() {
            20 => LearnerInfoData::Full(LearnerInfo::read(&mut input)?),
            12 => LearnerInfoData::SidAndProtocol {
                serverid: i64::read(&mut input)?,
                protocol_version: i32::read(&mut input)?,
            },
            8 => LearnerInfoData::SidOnly {
                serverid: i64::read(&mut input)?,
            },
            n => {
                return Err(DecodeError::invalid(
                    "LearnerInfo",
                    format!("{n} bytes; expected 8, 12 or 20"),
                ))
            }
        };
        Ok(info)
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20);
        match self {
            LearnerInfoData::Full(info) => info.write(&mut out),
            LearnerInfoData::SidAndProtocol {
                serverid,
                protocol_version,
            } => {
                serverid.write(&mut out);
                protocol_version.write(&mut out);
            }
            LearnerInfoData::SidOnly { serverid } => serverid.write(&mut out),
        }
        out
    }

    /// The learner's server id.
    pub fn serverid(&self) -> i64 {
        match self {
            LearnerInfoData::Full(info) => info.serverid,
            LearnerInfoData::SidAndProtocol { serverid, .. }
            | LearnerInfoData::SidOnly { serverid } => *serverid,
        }
    }

    /// The protocol version; 0x1 when absent, as the leader assumes.
    pub fn protocol_version(&self) -> i32 {
        match self {
            LearnerInfoData::Full(info) => info.protocol_version,
            LearnerInfoData::SidAndProtocol {
                protocol_version, ..
            } => *protocol_version,
            LearnerInfoData::SidOnly { .. } => 0x1,
        }
    }

    /// The config version, when sent.
    pub fn config_version(&self) -> Option<i64> {
        match self {
            LearnerInfoData::Full(info) => Some(info.config_version),
            _ => None,
        }
    }
}

fn exact_len(data: &[u8], len: usize, what: &'static str) -> Result<(), DecodeError> {
    if data.len() == len {
        Ok(())
    } else {
        Err(DecodeError::invalid(
            what,
            format!("{} bytes; expected {len}", data.len()),
        ))
    }
}

/// Reads the 4-byte data of LEADERINFO (the protocol version, 0x10000) or ACKEPOCH (the
/// learner's current epoch, or -1 when it had already accepted the new epoch).
pub fn read_int_data(data: &[u8]) -> Result<i32, DecodeError> {
    exact_len(data, 4, "int packet data")?;
    i32::from_jute_bytes(data)
}

/// The 4-byte data of LEADERINFO or ACKEPOCH.
pub fn int_data(value: i32) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// The data of COMMITANDACTIVATE: the designated leader's sid (8 bytes).
pub fn read_designated_leader(data: &[u8]) -> Result<i64, DecodeError> {
    exact_len(data, 8, "COMMITANDACTIVATE data")?;
    i64::from_jute_bytes(data)
}

/// The data of INFORMANDACTIVATE: the designated leader's sid, then the txn bytes.
pub fn read_inform_and_activate(data: &[u8]) -> Result<(i64, TxnEntry), DecodeError> {
    let mut input = data;
    let leader = i64::read(&mut input).map_err(|e| e.complete_input("INFORMANDACTIVATE data"))?;
    Ok((leader, TxnEntry::decode(input)?))
}

/// The data of a REQUEST packet: a client request forwarded by a learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerRequest {
    /// The client's session.
    pub session_id: i64,
    /// The client's xid.
    pub cxid: i32,
    /// The opcode.
    pub r#type: OpCode,
    /// The request record as the client sent it, without its header (empty for closeSession).
    pub body: Bytes,
}

impl LearnerRequest {
    /// Decodes REQUEST data (at least 16 bytes).
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        let mut input = data;
        if data.len() < 16 {
            return Err(DecodeError::invalid(
                "REQUEST data",
                format!("{} bytes; at least 16 expected", data.len()),
            ));
        }
        Ok(LearnerRequest {
            session_id: i64::read(&mut input)?,
            cxid: i32::read(&mut input)?,
            r#type: OpCode::read(&mut input)?,
            body: Bytes::copy_from_slice(input),
        })
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.body.len());
        self.session_id.write(&mut out);
        self.cxid.write(&mut out);
        self.r#type.write(&mut out);
        out.put_slice(&self.body);
        out
    }
}

/// A session the learner saw activity on, with its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTouch {
    /// The session.
    pub session_id: i64,
    /// Its timeout in ms.
    pub timeout_ms: i32,
}

/// The data of a learner's PING reply: the touch table, 12 bytes per session (empty when
/// nothing was touched).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PingTouches(pub Vec<SessionTouch>);

impl PingTouches {
    /// Decodes PING data; its length must be a multiple of 12.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        if data.len() % 12 != 0 {
            return Err(DecodeError::invalid(
                "PING touch table",
                format!("{} bytes is not a multiple of 12", data.len()),
            ));
        }
        let mut input = data;
        let mut touches = Vec::with_capacity(data.len() / 12);
        while !input.is_empty() {
            touches.push(SessionTouch {
                session_id: i64::read(&mut input)?,
                timeout_ms: i32::read(&mut input)?,
            });
        }
        Ok(PingTouches(touches))
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 12);
        for touch in &self.0 {
            touch.session_id.write(&mut out);
            touch.timeout_ms.write(&mut out);
        }
        out
    }
}

/// REVALIDATE data from a learner (12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevalidateRequest {
    /// The session to re-attach.
    pub session_id: i64,
    /// Its timeout in ms.
    pub timeout_ms: i32,
}

impl RevalidateRequest {
    /// Decodes the 12 bytes.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        exact_len(data, 12, "REVALIDATE request")?;
        let mut input = data;
        Ok(RevalidateRequest {
            session_id: i64::read(&mut input)?,
            timeout_ms: i32::read(&mut input)?,
        })
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12);
        self.session_id.write(&mut out);
        self.timeout_ms.write(&mut out);
        out
    }
}

/// REVALIDATE data from the leader (9 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevalidateReply {
    /// The session.
    pub session_id: i64,
    /// Whether it is still valid (Java reads any non-zero byte as true).
    pub valid: bool,
}

impl RevalidateReply {
    /// Decodes the 9 bytes.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        exact_len(data, 9, "REVALIDATE reply")?;
        let mut input = data;
        Ok(RevalidateReply {
            session_id: i64::read(&mut input)?,
            valid: bool::read(&mut input)?,
        })
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9);
        self.session_id.write(&mut out);
        self.valid.write(&mut out);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Election port
// ---------------------------------------------------------------------------------------------

/// The largest address text of an initial message (`QuorumCnxManager.maxBuffer`).
pub const MAX_INITIAL_MESSAGE_ADDR_LEN: usize = 2048;
/// The largest election frame (`QuorumCnxManager.PACKETMAXSIZE`, 512 KiB).
pub const MAX_ELECTION_FRAME_LEN: usize = 512 * 1024;

/// The protocol version of an [`InitialMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElectionProtocol {
    /// -65536: one election address.
    V1,
    /// -65535: several addresses joined by `|` (`multiAddress.enabled`).
    V2,
}

impl ElectionProtocol {
    /// The long on the wire.
    pub const fn code(self) -> i64 {
        match self {
            ElectionProtocol::V1 => -65536,
            ElectionProtocol::V2 => -65535,
        }
    }
}

/// The first bytes a peer sends on an election connection it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialMessage {
    /// Protocol V1 or V2: sid and the sender's election address(es).
    Versioned {
        /// The protocol version.
        protocol: ElectionProtocol,
        /// The sender's sid (`Long.MAX_VALUE` for an observer without one).
        sid: i64,
        /// The election addresses as `host:port` (IPv6 hosts in brackets).
        addresses: Vec<String>,
    },
    /// The pre-3.5 form: a non-negative long that is the sid, and nothing else.
    Legacy {
        /// The sender's sid.
        sid: i64,
    },
}

impl InitialMessage {
    /// Reads an initial message from the front of a stream, as
    /// `QuorumCnxManager.handleConnection` does: a first long >= 0 is a legacy sid; else it must
    /// be V1 or V2, followed by the sid, a length in 1..=2048 and that many bytes of UTF-8
    /// addresses, each `host:port`.
    pub fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let what = "election initial message";
        let first = i64::read(input)?;
        if first >= 0 {
            return Ok(InitialMessage::Legacy { sid: first });
        }
        let protocol = match first {
            -65536 => ElectionProtocol::V1,
            -65535 => ElectionProtocol::V2,
            other => {
                return Err(DecodeError::invalid(
                    what,
                    format!("unrecognized protocol version {other}"),
                ))
            }
        };
        let sid = i64::read(input)?;
        let len = i32::read(input)?;
        let len = match usize::try_from(len) {
            Ok(n) if (1..=MAX_INITIAL_MESSAGE_ADDR_LEN).contains(&n) => n,
            _ => {
                return Err(DecodeError::invalid(
                    what,
                    format!("unreasonable buffer length {len}"),
                ))
            }
        };
        let text = crate::jute::decode_java_utf8(take(input, len)?);
        let addresses: Vec<String> = text.split('|').map(str::to_owned).collect();
        for address in &addresses {
            if split_host_port(address).is_none() {
                return Err(DecodeError::invalid(
                    what,
                    format!("badly formed address {address:?}"),
                ));
            }
        }
        Ok(InitialMessage::Versioned {
            protocol,
            sid,
            addresses,
        })
    }

    /// Appends the encoding.
    pub fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            InitialMessage::Legacy { sid } => out.put_i64(*sid),
            InitialMessage::Versioned {
                protocol,
                sid,
                addresses,
            } => {
                let text = addresses.join("|");
                out.put_i64(protocol.code());
                out.put_i64(*sid);
                text.write(out);
            }
        }
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// The sender's sid.
    pub fn sid(&self) -> i64 {
        match self {
            InitialMessage::Versioned { sid, .. } | InitialMessage::Legacy { sid } => *sid,
        }
    }
}

/// Splits `host:port` or `[v6 host]:port` as Java's `ConfigUtils.getHostAndPort` plus a port
/// check.
pub fn split_host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = address.split_once(':')?;
        if port.contains(':') {
            return None;
        }
        (host, port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// Reads one election frame (`int length` in 1..=512 KiB, then that many bytes) from the front
/// of a stream.
pub fn read_election_frame<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let mut peek = *input;
    let len = i32::read(&mut peek)?;
    let len = match usize::try_from(len) {
        Ok(n) if (1..=MAX_ELECTION_FRAME_LEN).contains(&n) => n,
        _ => {
            return Err(DecodeError::invalid(
                "election frame",
                format!("invalid length {len}"),
            ))
        }
    };
    let body = take(&mut peek, len)?;
    *input = peek;
    Ok(body)
}

/// Appends an election frame around `body`.
///
/// # Panics
/// If `body` is longer than `i32::MAX`.
pub fn write_election_frame<B: BufMut>(out: &mut B, body: &[u8]) {
    out.put_i32(i32::try_from(body.len()).expect("frames are at most i32::MAX long"));
    out.put_slice(body);
}

int_enum! {
    /// A peer's state as election notifications carry it (`QuorumPeer.ServerState` ordinal).
    pub enum ServerState {
        /// Looking for a leader.
        Looking = 0 => "LOOKING",
        /// Following a leader.
        Following = 1 => "FOLLOWING",
        /// Leading.
        Leading = 2 => "LEADING",
        /// Observing.
        Observing = 3 => "OBSERVING",
    }
}

/// The notification version 3.5+ sends.
pub const NOTIFICATION_VERSION: i32 = 2;

/// A FastLeaderElection notification: a peer's vote and state (QUORUM.md 3.4).
///
/// The current form is 44 bytes plus the config. Receivers also accept 28 bytes (no peer
/// epoch) and 40 bytes: the 3.4 forms, where the last 4 bytes hold version 1 (3.4.6+) or zeros.
/// Java ignores those 4 bytes in a 40-byte message; they are kept in `version` so the bytes
/// round-trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The sender's state.
    pub state: ServerState,
    /// The proposed leader's sid.
    pub leader: i64,
    /// The proposed leader's last zxid.
    pub zxid: i64,
    /// The sender's round (logical clock).
    pub election_epoch: i64,
    /// The proposed leader's epoch; absent in the 28-byte form, where Java takes the epoch of
    /// `zxid` (see [`Notification::effective_peer_epoch`]).
    pub peer_epoch: Option<i64>,
    /// The message version (2 since 3.5); absent in the 28-byte form.
    pub version: Option<i32>,
    /// The sender's config text (UTF-8), sent when `version > 1`.
    pub config: Option<Bytes>,
}

impl Notification {
    /// A current-form (version 2) notification.
    pub fn new(
        state: ServerState,
        leader: i64,
        zxid: i64,
        election_epoch: i64,
        peer_epoch: i64,
        config: impl Into<Bytes>,
    ) -> Self {
        Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch: Some(peer_epoch),
            version: Some(NOTIFICATION_VERSION),
            config: Some(config.into()),
        }
    }

    /// Decodes a frame body as `FastLeaderElection.WorkerReceiver` does. Fewer than 28 bytes,
    /// 29 to 39 bytes, a negative or oversized config length, or a config running past the end
    /// are invalid. The config is read only when the body is longer than 40 bytes and the
    /// version is above 1; bytes after it are ignored, as in Java.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        let what = "notification";
        let capacity = body.len();
        if capacity < 28 {
            return Err(DecodeError::invalid(what, format!("only {capacity} bytes")));
        }
        let mut input = body;
        let truncated = |e: DecodeError| e.complete_input(what);
        let state = ServerState::read(&mut input)?;
        let leader = i64::read(&mut input)?;
        let zxid = i64::read(&mut input)?;
        let election_epoch = i64::read(&mut input)?;
        let mut notification = Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch: None,
            version: None,
            config: None,
        };
        if capacity == 28 {
            return Ok(notification);
        }
        notification.peer_epoch = Some(i64::read(&mut input).map_err(truncated)?);
        let version = i32::read(&mut input).map_err(truncated)?;
        notification.version = Some(version);
        if capacity == 40 || version <= 1 {
            return Ok(notification);
        }
        let config_len = i32::read(&mut input).map_err(truncated)?;
        let config_len = match usize::try_from(config_len) {
            Ok(n) if n <= capacity => n,
            _ => {
                return Err(DecodeError::invalid(
                    what,
                    format!("invalid configLength {config_len}"),
                ))
            }
        };
        let config = take(&mut input, config_len).map_err(truncated)?;
        notification.config = Some(Bytes::copy_from_slice(config));
        Ok(notification)
    }

    /// The frame body: the 28-byte form when `peer_epoch` is absent; else the peer epoch and
    /// the version (0 when absent), then the config length and text when `config` is present.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(44 + self.config.as_ref().map_or(0, Bytes::len));
        self.state.write(&mut out);
        self.leader.write(&mut out);
        self.zxid.write(&mut out);
        self.election_epoch.write(&mut out);
        let Some(peer_epoch) = self.peer_epoch else {
            return out;
        };
        peer_epoch.write(&mut out);
        self.version.unwrap_or(0).write(&mut out);
        if let Some(config) = &self.config {
            config.write(&mut out);
        }
        out
    }

    /// The peer epoch, or for the 28-byte form the epoch of `zxid` (its high 32 bits).
    pub fn effective_peer_epoch(&self) -> i64 {
        self.peer_epoch.unwrap_or(self.zxid >> 32)
    }

    /// The config as text (lossy UTF-8).
    pub fn config_text(&self) -> Option<String> {
        self.config.as_deref().map(crate::jute::decode_java_utf8)
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for Notification {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::jute::Arb;
        let shape = u.int_in_range(0..=3)?;
        let mut n = Notification {
            state: Arb::arb(u)?,
            leader: u.arbitrary()?,
            zxid: u.arbitrary()?,
            election_epoch: u.arbitrary()?,
            peer_epoch: None,
            version: None,
            config: None,
        };
        if shape >= 1 {
            n.peer_epoch = Some(u.arbitrary()?);
        }
        if shape == 1 {
            n.version = Some(u.arbitrary()?);
        }
        if shape >= 2 {
            n.version = Some(u.int_in_range(2..=i32::MAX)?);
            n.config = Some(Arb::arb(u)?);
        }
        Ok(n)
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for InitialMessage {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        if u.arbitrary()? {
            return Ok(InitialMessage::Legacy {
                sid: u.int_in_range(0..=i64::MAX)?,
            });
        }
        let count = u.int_in_range(1..=3)?;
        let mut addresses = Vec::new();
        for _ in 0..count {
            let host: String = u.arbitrary::<String>()?.replace([':', '|', '['], "");
            let port: u16 = u.arbitrary()?;
            addresses.push(format!("{host}:{port}"));
        }
        Ok(InitialMessage::Versioned {
            protocol: if u.arbitrary()? {
                ElectionProtocol::V1
            } else {
                ElectionProtocol::V2
            },
            sid: u.arbitrary()?,
            addresses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::Arb;

    #[test]
    fn packet_types_are_lossless() {
        for code in -5..30 {
            assert_eq!(PacketType::from_code(code).code(), code);
        }
        assert_eq!(PacketType::from_code(15), PacketType::Snap);
        assert_eq!(PacketType::Snap.name(), "SNAP");
        assert_eq!(PacketType::from_code(99).name(), "UNKNOWN");
    }

    #[test]
    fn bare_packets_are_20_bytes() {
        let ack = QuorumPacket::new(PacketType::Ack, 0x1_0000_0000, None);
        let bytes = ack.to_jute_bytes();
        assert_eq!(bytes.len(), 20);
        assert_eq!(&bytes[..4], &[0, 0, 0, 3]);
        assert_eq!(&bytes[12..], &[0xff; 8]);
        assert_eq!(QuorumPacket::from_jute_bytes(&bytes), Ok(ack));
        assert!(matches!(
            QuorumPacket::read(&mut &bytes[..19]),
            Err(DecodeError::Incomplete { .. })
        ));
    }

    #[test]
    fn initial_message_matches_the_capture() {
        let msg = InitialMessage::Versioned {
            protocol: ElectionProtocol::V1,
            sid: 3,
            addresses: vec!["127.0.0.1:2243".into()],
        };
        let bytes = msg.to_bytes();
        assert_eq!(bytes.len(), 34);
        assert_eq!(&bytes[..8], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
        assert_eq!(InitialMessage::read(&mut &bytes[..]), Ok(msg));
        assert!(matches!(
            InitialMessage::read(&mut &bytes[..20]),
            Err(DecodeError::Incomplete { .. })
        ));
        assert_eq!(
            InitialMessage::read(&mut &7i64.to_be_bytes()[..]),
            Ok(InitialMessage::Legacy { sid: 7 })
        );
        let mut bad = bytes.clone();
        bad[7] = 5;
        assert!(matches!(
            InitialMessage::read(&mut &bad[..]),
            Err(DecodeError::Invalid { .. })
        ));
        let mut zero_len = bytes[..16].to_vec();
        zero_len.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(
            InitialMessage::read(&mut &zero_len[..]),
            Err(DecodeError::Invalid { .. })
        ));
        let no_port = InitialMessage::Versioned {
            protocol: ElectionProtocol::V2,
            sid: 1,
            addresses: vec!["a:1".into(), "b".into()],
        };
        assert!(InitialMessage::read(&mut &no_port.to_bytes()[..]).is_err());
    }

    #[test]
    fn host_port_splitting() {
        assert_eq!(split_host_port("127.0.0.1:2243"), Some(("127.0.0.1", 2243)));
        assert_eq!(split_host_port("[::1]:3888"), Some(("::1", 3888)));
        assert_eq!(split_host_port("a:b:c"), None);
        assert_eq!(split_host_port("host:70000"), None);
        assert_eq!(split_host_port("host:"), None);
    }

    #[test]
    fn notification_shapes() {
        let current = Notification::new(ServerState::Looking, 3, 0, 1, 0, &b"version=0"[..]);
        let bytes = current.to_bytes();
        assert_eq!(bytes.len(), 44 + 9);
        assert_eq!(Notification::parse(&bytes), Ok(current.clone()));

        let short = Notification {
            peer_epoch: None,
            version: None,
            config: None,
            zxid: 0x5_0000_0001,
            ..current.clone()
        };
        assert_eq!(short.to_bytes().len(), 28);
        assert_eq!(Notification::parse(&short.to_bytes()), Ok(short.clone()));
        assert_eq!(short.effective_peer_epoch(), 5);

        let forty = Notification {
            peer_epoch: Some(4),
            version: Some(0),
            ..short.clone()
        };
        assert_eq!(forty.to_bytes().len(), 40);
        assert_eq!(Notification::parse(&forty.to_bytes()), Ok(forty));

        let v1 = Notification {
            version: Some(1),
            config: None,
            ..current.clone()
        };
        assert_eq!(v1.to_bytes().len(), 40);
        assert_eq!(Notification::parse(&v1.to_bytes()), Ok(v1));

        assert!(Notification::parse(&bytes[..27]).is_err());
        assert!(Notification::parse(&bytes[..36]).is_err());
        let mut bad_len = bytes.clone();
        bad_len[40..44].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(Notification::parse(&bad_len).is_err());
        let mut long_len = bytes.clone();
        long_len[40..44].copy_from_slice(&50i32.to_be_bytes());
        assert!(Notification::parse(&long_len).is_err());
    }

    #[test]
    fn election_frames() {
        let mut stream = Vec::new();
        write_election_frame(&mut stream, b"abc");
        let mut input = &stream[..];
        assert_eq!(read_election_frame(&mut input), Ok(&b"abc"[..]));
        assert!(input.is_empty());
        let mut partial = &stream[..5];
        assert!(matches!(
            read_election_frame(&mut partial),
            Err(DecodeError::Incomplete { .. })
        ));
        assert_eq!(partial.len(), 5, "nothing consumed on Incomplete");
        assert!(read_election_frame(&mut &[0u8, 0, 0, 0][..]).is_err());
    }

    #[test]
    fn data_views() {
        let info = LearnerInfoData::Full(LearnerInfo {
            serverid: 1,
            protocol_version: ZAB_PROTOCOL_VERSION,
            config_version: 0,
        });
        assert_eq!(LearnerInfoData::parse(&info.to_bytes()), Ok(info));
        let old = LearnerInfoData::SidOnly { serverid: 9 };
        assert_eq!(LearnerInfoData::parse(&old.to_bytes()), Ok(old.clone()));
        assert_eq!(old.protocol_version(), 1);
        let mid = LearnerInfoData::SidAndProtocol {
            serverid: 2,
            protocol_version: 0x10000,
        };
        assert_eq!(LearnerInfoData::parse(&mid.to_bytes()), Ok(mid));
        assert!(LearnerInfoData::parse(&[0; 10]).is_err());

        let reply = RevalidateReply::parse(&[2, 0, 0, 0x85, 0xc6, 0x4c, 0, 0, 1]).unwrap();
        assert_eq!(reply.session_id, 0x0200_0085_c64c_0000);
        assert!(reply.valid);
        let touches = PingTouches(vec![SessionTouch {
            session_id: 5,
            timeout_ms: 10_000,
        }]);
        assert_eq!(PingTouches::parse(&touches.to_bytes()), Ok(touches));
        assert!(PingTouches::parse(&[0; 13]).is_err());
        assert_eq!(read_int_data(&int_data(-1)), Ok(-1));
        assert!(read_int_data(&[0; 5]).is_err());
        let req = LearnerRequest {
            session_id: 1,
            cxid: 2,
            r#type: OpCode::CloseSession,
            body: Bytes::new(),
        };
        assert_eq!(LearnerRequest::parse(&req.to_bytes()), Ok(req));
        assert!(LearnerRequest::parse(&[0; 15]).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn election_messages_round_trip(seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let mut u = arbitrary::Unstructured::new(&seed);
            if let Ok(n) = Notification::arb(&mut u) {
                proptest::prop_assert_eq!(Notification::parse(&n.to_bytes()), Ok(n));
            }
            if let Ok(m) = InitialMessage::arb(&mut u) {
                let bytes = m.to_bytes();
                if bytes.len() <= 8 + 8 + 4 + MAX_INITIAL_MESSAGE_ADDR_LEN {
                    proptest::prop_assert_eq!(InitialMessage::read(&mut &bytes[..]), Ok(m));
                }
            }
        }

        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = Notification::parse(&bytes);
            let _ = InitialMessage::read(&mut &bytes[..]);
            let _ = read_election_frame(&mut &bytes[..]);
            let _ = LearnerInfoData::parse(&bytes);
            let _ = LearnerRequest::parse(&bytes);
            let _ = PingTouches::parse(&bytes);
            let _ = RevalidateRequest::parse(&bytes);
            let _ = RevalidateReply::parse(&bytes);
            let _ = read_inform_and_activate(&bytes);
        }
    }
}
