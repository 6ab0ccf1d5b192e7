//! Raw byte streams captured between three Java 3.8.0 servers (`tests/data/quorum/`): every
//! stream decodes completely into the packets, SNAP body and election messages its
//! `.decoded.jsonl` lists, and each re-encodes to the captured bytes.

use std::path::PathBuf;

use serde_json::Value;
use zk_proto::quorum::{
    read_election_frame, read_int_data, write_election_frame, ElectionProtocol, InitialMessage,
    LearnerInfoData, LearnerRequest, Notification, PacketType, PingTouches, QuorumPacket,
    RevalidateReply, RevalidateRequest, ServerState, ZAB_PROTOCOL_VERSION,
};
use zk_proto::storage::{
    parse_snap_sync_body_from_reader, read_snap_sync_body, write_snap_sync_body, SnapshotData,
};

/// A reader that hands out at most `.1` bytes per read, as a socket might.
struct Trickle<'a>(&'a [u8], usize);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}
use zk_proto::{DecodeError, Jute};

fn quorum_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/quorum")
}

fn load(stem: &str) -> (Vec<u8>, Vec<Value>) {
    let dir = quorum_dir();
    let bytes = std::fs::read(dir.join(format!("{stem}.bin"))).unwrap();
    let text = std::fs::read_to_string(dir.join(format!("{stem}.decoded.jsonl"))).unwrap();
    let lines = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (bytes, lines)
}

fn hex_i64(value: &Value) -> i64 {
    let text = value.as_str().unwrap();
    u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap() as i64
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap()
}

const LEARNER_STREAMS: [(&str, usize); 6] = [
    ("learner1-epoch1-SNAP-follower-to-leader", 90),
    ("learner1-epoch1-SNAP-leader-to-follower", 93),
    ("learner1-epoch2-DIFF-follower-to-leader", 77),
    ("learner1-epoch2-DIFF-leader-to-follower", 82),
    ("learner1-epoch2-emptyDIFF-follower-to-leader", 39),
    ("learner1-epoch2-emptyDIFF-leader-to-follower", 39),
];

/// What one learner stream held.
#[derive(Debug, Default)]
struct StreamSummary {
    packets: usize,
    snap_bodies: usize,
    proposals: usize,
    requests: usize,
    touches: usize,
}

fn check_packet_data(stem: &str, packet: &QuorumPacket, line: &Value, summary: &mut StreamSummary) {
    let leader_side = stem.contains("leader-to-follower");
    let data = packet.data_bytes();
    if let Some(info) = line.get("LearnerInfo") {
        let parsed = LearnerInfoData::parse(data).unwrap();
        assert_eq!(parsed.serverid(), int(&info["serverid"]));
        assert_eq!(
            i64::from(parsed.protocol_version()),
            hex_i64(&info["protocolVersion"])
        );
        assert_eq!(
            parsed.config_version(),
            Some(hex_i64(&info["configVersion"]))
        );
        assert_eq!(parsed.to_bytes(), data);
    }
    if let Some(value) = line.get("data_int") {
        assert!(matches!(
            packet.r#type,
            PacketType::LeaderInfo | PacketType::AckEpoch
        ));
        assert_eq!(i64::from(read_int_data(data).unwrap()), int(value));
        if packet.r#type == PacketType::LeaderInfo {
            assert_eq!(read_int_data(data), Ok(ZAB_PROTOCOL_VERSION));
        }
    }
    if let Some(text) = line.get("data_text") {
        assert_eq!(packet.r#type, PacketType::NewLeader);
        assert_eq!(std::str::from_utf8(data).unwrap(), text.as_str().unwrap());
    }
    if let Some(touches) = line.get("touches") {
        assert_eq!(packet.r#type, PacketType::Ping);
        let parsed = PingTouches::parse(data).unwrap();
        let want: Vec<(i64, i64)> = touches
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (hex_i64(&pair[0]), int(&pair[1])))
            .collect();
        let got: Vec<(i64, i64)> = parsed
            .0
            .iter()
            .map(|t| (t.session_id, i64::from(t.timeout_ms)))
            .collect();
        assert_eq!(got, want);
        assert_eq!(parsed.to_bytes(), data);
        summary.touches += got.len();
    }
    if let Some(req) = line.get("req") {
        assert_eq!(packet.r#type, PacketType::Request);
        assert_eq!(packet.zxid, -1);
        let parsed = LearnerRequest::parse(data).unwrap();
        assert_eq!(parsed.session_id, hex_i64(&req["sessionId"]));
        assert_eq!(i64::from(parsed.cxid), int(&req["cxid"]));
        assert_eq!(i64::from(parsed.r#type.code()), int(&req["type"]));
        assert_eq!(parsed.body.len() as i64, int(&req["rest"]));
        assert_eq!(parsed.to_bytes(), data);
        summary.requests += 1;
    }
    if let Some(hex) = line.get("data_hex") {
        assert_eq!(packet.r#type, PacketType::Revalidate);
        assert_eq!(hex::encode(data), hex.as_str().unwrap());
        if leader_side {
            let reply = RevalidateReply::parse(data).unwrap();
            assert!(reply.valid);
            assert_eq!(reply.to_bytes(), data);
        } else {
            let request = RevalidateRequest::parse(data).unwrap();
            assert_eq!(request.timeout_ms, 10_000);
            assert_eq!(request.to_bytes(), data);
        }
    }
    if let Some(header) = line.get("txnHeader") {
        assert_eq!(packet.r#type, PacketType::Proposal);
        let entry = packet.txn_entry().unwrap();
        assert_eq!(entry.header.client_id, hex_i64(&header["clientId"]));
        assert_eq!(i64::from(entry.header.cxid), int(&header["cxid"]));
        assert_eq!(entry.header.zxid, hex_i64(&header["zxid"]));
        assert_eq!(entry.header.zxid, packet.zxid);
        assert_eq!(entry.header.time, int(&header["time"]));
        assert_eq!(entry.header.r#type.name(), header["type"].as_str().unwrap());
        assert_eq!(data.len() as i64, int(&line["txnBytes"]));
        assert_eq!(entry.to_bytes(), data);
        assert!(entry.digest.is_some(), "proposals carry a digest");
        summary.proposals += 1;
    }
}

/// Decodes a whole learner stream against its jsonl, checking every packet and re-encoding.
fn check_learner_stream(stem: &str) -> StreamSummary {
    let (bytes, lines) = load(stem);
    let mut input = &bytes[..];
    let mut summary = StreamSummary::default();
    let mut lines = lines.iter();
    while let Some(line) = lines.next() {
        let offset = bytes.len() - input.len();
        assert_eq!(int(&line["offset"]) as usize, offset, "{stem}: {line}");
        let start = input;
        let packet =
            QuorumPacket::read(&mut input).unwrap_or_else(|e| panic!("{stem} @{offset}: {e}"));
        let used = start.len() - input.len();
        assert_eq!(used as i64, int(&line["bytes"]), "{stem} @{offset}");
        assert_eq!(
            packet.to_jute_bytes(),
            &start[..used],
            "{stem} @{offset}: re-encodes"
        );
        assert_eq!(
            packet.r#type.name(),
            line["type"].as_str().unwrap(),
            "{stem} @{offset}"
        );
        assert_eq!(packet.zxid, hex_i64(&line["zxid"]), "{stem} @{offset}");
        match &line["dataLen"] {
            Value::Null => assert_eq!(packet.data, None, "{stem} @{offset}"),
            len => assert_eq!(packet.data.as_ref().map(|d| d.len() as i64), len.as_i64()),
        }
        match &line["authinfo"] {
            Value::Null => assert_eq!(packet.authinfo, None, "{stem} @{offset}"),
            ids => {
                let want: Vec<(String, String)> = ids
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p[0].as_str().unwrap().to_owned(),
                            p[1].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                let got: Vec<(String, String)> = packet
                    .authinfo
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|id| (id.scheme.clone(), id.id.clone()))
                    .collect();
                assert_eq!(got, want, "{stem} @{offset}");
            }
        }
        check_packet_data(stem, &packet, line, &mut summary);
        summary.packets += 1;

        if packet.r#type == PacketType::Snap {
            let body_line = lines.next().expect("the SNAP body follows");
            assert_eq!(body_line["kind"], "SNAP body");
            let before = input;
            let data = read_snap_sync_body(&mut input).unwrap();
            let used = before.len() - input.len();
            // Parsed as it arrives, a few bytes per read, it is the same body, and what was
            // read past it is exactly the rest of the stream.
            let mut streamed = SnapshotData::default();
            let after = parse_snap_sync_body_from_reader(Trickle(before, 7), &mut streamed)
                .unwrap_or_else(|e| panic!("{stem}: {e}"));
            assert_eq!(streamed, data, "{stem}");
            assert!(
                input.starts_with(&after),
                "{stem}: the bytes after the body"
            );
            assert_eq!(
                int(&body_line["offset"]) + int(&body_line["bytes"]),
                (bytes.len() - input.len()) as i64,
                "{stem}: the body ends where the jsonl says"
            );
            let paths: Vec<&str> = data.nodes.iter().map(|n| n.path.as_str()).collect();
            let want: Vec<&str> = body_line["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(paths, want);
            assert_eq!(
                data.sessions.len(),
                body_line["sessions"].as_array().unwrap().len()
            );
            assert_eq!(data.acl_cache.len() as i64, int(&body_line["aclEntries"]));
            assert_eq!(body_line["signature"], "BenWasHere");
            let mut again = Vec::new();
            write_snap_sync_body(&data, &mut again);
            assert_eq!(again, &before[..used], "{stem}: SNAP body re-encodes");
            // The body is a snapshot minus header and seals: the config node holds the config.
            let config = data
                .nodes
                .iter()
                .find(|n| n.path == "/zookeeper/config")
                .unwrap();
            assert!(config
                .node
                .data
                .as_deref()
                .unwrap()
                .starts_with(b"server.1="));
            summary.snap_bodies += 1;
        }
    }
    assert!(input.is_empty(), "{stem}: {} bytes left over", input.len());
    summary
}

#[test]
fn learner_streams_decode_completely() {
    let mut total = 0;
    let mut proposals = 0;
    let mut requests = 0;
    let mut touches = 0;
    let mut snap_bodies = 0;
    for (stem, packets) in LEARNER_STREAMS {
        let summary = check_learner_stream(stem);
        assert_eq!(summary.packets, packets, "{stem}");
        total += summary.packets;
        proposals += summary.proposals;
        requests += summary.requests;
        touches += summary.touches;
        snap_bodies += summary.snap_bodies;
    }
    assert_eq!(total, 420);
    assert_eq!(proposals, 9 + 5);
    assert_eq!(requests, 7);
    assert_eq!(touches, 2);
    assert_eq!(snap_bodies, 1);
}

#[test]
fn discovery_packets_match_quorum_md() {
    let (bytes, _) = load("learner1-epoch2-DIFF-follower-to-leader");
    let mut input = &bytes[..];
    let info = QuorumPacket::read(&mut input).unwrap();
    assert_eq!(info.r#type, PacketType::FollowerInfo);
    assert_eq!(info.zxid, 0x2_0000_0000);
    let ack_epoch = QuorumPacket::read(&mut input).unwrap();
    assert_eq!(ack_epoch.r#type, PacketType::AckEpoch);
    assert_eq!(ack_epoch.zxid, 0x1_0000_0009);
    assert_eq!(
        read_int_data(ack_epoch.data_bytes()),
        Ok(-1),
        "epoch already accepted"
    );

    let (bytes, _) = load("learner1-epoch2-DIFF-leader-to-follower");
    let mut input = &bytes[..];
    let mut kinds = Vec::new();
    while !input.is_empty() {
        let packet = QuorumPacket::read(&mut input).unwrap();
        if packet.r#type != PacketType::Ping {
            kinds.push((packet.r#type, packet.zxid));
        }
    }
    let mut want = vec![
        (PacketType::LeaderInfo, 0x2_0000_0000),
        (PacketType::Diff, 0x2_0000_0005),
    ];
    for counter in 1..=5 {
        want.push((PacketType::Proposal, 0x2_0000_0000 + counter));
        want.push((PacketType::Commit, 0x2_0000_0000 + counter));
    }
    want.push((PacketType::NewLeader, 0x2_0000_0000));
    want.push((PacketType::UpToDate, -1));
    assert_eq!(kinds, want);
}

#[test]
fn every_cut_of_a_learner_stream_is_incomplete_not_invalid() {
    for (stem, _) in LEARNER_STREAMS {
        let (bytes, _) = load(stem);
        // Packet boundaries (the SNAP body counts as one unit after its packet).
        let mut input = &bytes[..];
        let mut boundaries = vec![0];
        while !input.is_empty() {
            let packet = QuorumPacket::read(&mut input).unwrap();
            if packet.r#type == PacketType::Snap {
                read_snap_sync_body(&mut input).unwrap();
            }
            boundaries.push(bytes.len() - input.len());
        }
        let mut cuts = 0;
        for window in boundaries.windows(2) {
            let (start, end) = (window[0], window[1]);
            for cut in start + 1..end {
                let mut input = &bytes[start..cut];
                let result = QuorumPacket::read(&mut input).and_then(|p| {
                    if p.r#type == PacketType::Snap {
                        read_snap_sync_body(&mut input).map(|_| p)
                    } else {
                        Ok(p)
                    }
                });
                assert!(
                    matches!(result, Err(DecodeError::Incomplete { .. })),
                    "{stem}: cut at {cut} in [{start}, {end}): {result:?}"
                );
                cuts += 1;
            }
        }
        assert!(cuts > 500, "{stem}: {cuts} cuts");
    }
}

fn check_notification(stem: &str, frame_body: &[u8], line: &Value) -> Notification {
    let n = Notification::parse(frame_body).unwrap();
    assert_eq!(line["kind"], "Notification");
    assert_eq!(frame_body.len() as i64, int(&line["frameLen"]), "{stem}");
    let state = match line["state"].as_str().unwrap() {
        "LOOKING" => ServerState::Looking,
        "FOLLOWING" => ServerState::Following,
        "LEADING" => ServerState::Leading,
        "OBSERVING" => ServerState::Observing,
        other => panic!("{other}"),
    };
    assert_eq!(n.state, state);
    assert_eq!(n.leader, int(&line["leader"]));
    assert_eq!(n.zxid, hex_i64(&line["zxid"]));
    assert_eq!(n.election_epoch, int(&line["electionEpoch"]));
    assert_eq!(n.peer_epoch, Some(int(&line["peerEpoch"])));
    assert_eq!(n.version.map(i64::from), Some(int(&line["version"])));
    assert_eq!(
        n.config.as_ref().map(|c| c.len() as i64),
        Some(int(&line["configLen"]))
    );
    assert_eq!(n.config_text().as_deref(), line["config"].as_str());
    assert_eq!(int(&line["trailing"]), 0);
    assert_eq!(n.to_bytes(), frame_body, "{stem}: notification re-encodes");
    n
}

/// Reads the election frames of `bytes` from `start` to the end, one per jsonl line.
fn check_frames(stem: &str, bytes: &[u8], start: usize, lines: &[Value]) -> Vec<Notification> {
    let mut cursor = &bytes[start..];
    let mut notifications = Vec::new();
    for line in lines {
        let offset = bytes.len() - cursor.len();
        assert_eq!(int(&line["offset"]) as usize, offset, "{stem}");
        let body = read_election_frame(&mut cursor).unwrap();
        let mut framed = Vec::new();
        write_election_frame(&mut framed, body);
        assert_eq!(framed, &bytes[offset..offset + 4 + body.len()]);
        notifications.push(check_notification(stem, body, line));
    }
    assert!(cursor.is_empty(), "{stem}: bytes left over");
    notifications
}

#[test]
fn election_streams_decode_completely() {
    // sid 3 connects to sid 1: initial message, then one notification.
    let stem = "election-sid3-to-sid1-outbound";
    let (bytes, lines) = load(stem);
    assert_eq!(bytes.len(), 214);
    let mut input = &bytes[..];
    let initial = InitialMessage::read(&mut input).unwrap();
    let used = bytes.len() - input.len();
    assert_eq!(used as i64, int(&lines[0]["bytes"]));
    assert_eq!(lines[0]["protocolVersion"], -65536);
    assert_eq!(
        initial,
        InitialMessage::Versioned {
            protocol: ElectionProtocol::V1,
            sid: int(&lines[0]["sid"]),
            addresses: vec![lines[0]["addr"].as_str().unwrap().to_owned()],
        }
    );
    assert_eq!(
        lines[0]["addr"].as_str().unwrap().len() as i64,
        int(&lines[0]["addrLen"])
    );
    assert_eq!(initial.to_bytes(), &bytes[..used]);
    assert_eq!(initial.sid(), 3);

    let mut notifications = check_frames(stem, &bytes, used, &lines[1..]);
    let stem = "election-sid1-to-sid3-return";
    let (bytes, lines) = load(stem);
    assert_eq!(bytes.len(), 360);
    notifications.extend(check_frames(stem, &bytes, 0, &lines));
    let frames = notifications.len();
    assert_eq!(frames, 3);
    let votes: Vec<(ServerState, i64)> =
        notifications.iter().map(|n| (n.state, n.leader)).collect();
    assert_eq!(
        votes,
        [
            (ServerState::Looking, 3),
            (ServerState::Looking, 1),
            (ServerState::Looking, 3)
        ],
        "sid 1 first votes for itself, then switches to sid 3"
    );
    assert!(notifications
        .iter()
        .all(|n| n.config.as_ref().unwrap().len() == 132));
}

#[test]
fn epoch_files_are_decimal_text() {
    for name in ["acceptedEpoch", "currentEpoch"] {
        let bytes = std::fs::read(quorum_dir().join("epoch-files-sid1").join(name)).unwrap();
        assert_eq!(bytes, b"2", "{name}: no newline");
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut input = &bytes[..];
            while let Ok(packet) = QuorumPacket::read(&mut input) {
                let _ = packet.txn_entry();
                let _ = LearnerRequest::parse(packet.data_bytes());
                if input.is_empty() {
                    break;
                }
            }
            let _ = Notification::parse(&bytes);
            let _ = InitialMessage::read(&mut &bytes[..]);
            let _ = read_election_frame(&mut &bytes[..]);
            let _ = read_snap_sync_body(&mut &bytes[..]);
        }

        #[test]
        fn mutated_real_streams(which in 0usize..6, flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5)) {
            let (bytes, _) = load(LEARNER_STREAMS[which].0);
            let mut bytes = bytes;
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            let mut input = &bytes[..];
            while !input.is_empty() {
                match QuorumPacket::read(&mut input) {
                    Ok(packet) => {
                        if packet.r#type == PacketType::Snap && read_snap_sync_body(&mut input).is_err() {
                            break;
                        }
                        let _ = packet.txn_entry();
                    }
                    Err(_) => break,
                }
            }
            let mut notification = load("election-sid1-to-sid3-return").0;
            let i = bytes.len() % notification.len();
            notification[i] ^= bytes[0];
            let _ = Notification::parse(&notification[4..180]);
            let _ = Notification::parse(&notification[4..]);
        }
    }
}
