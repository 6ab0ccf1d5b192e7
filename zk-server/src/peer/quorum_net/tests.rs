//! The quorum transport on localhost: packets both ways, a SNAP body after its packet, Java's
//! captured streams, bad input, and the leader dial's retries.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_proto::quorum::int_data;
use zk_proto::storage::write_snap_sync_body;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

async fn next<T>(events: &mut mpsc::Receiver<T>) -> T {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event within the wait")
        .expect("the channel is open")
}

async fn listener() -> (
    LearnerListener,
    SocketAddr,
    mpsc::Receiver<(LearnerId, LearnerEvent)>,
) {
    let (tx, rx) = mpsc::channel(64);
    let l = listen_for_learners(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        DEFAULT_MAX_DATA_LEN,
        tx,
    );
    let addr = l.local_addr().unwrap();
    (l, addr, rx)
}

fn packet(t: PacketType, zxid: i64, data: Option<&[u8]>) -> QuorumPacket {
    QuorumPacket::new(t, zxid, data.map(Bytes::copy_from_slice))
}

/// A learner connected to a bare socket that plays the leader: the learner's connection, the
/// leader's end of the stream, and the learner's events.
async fn learner_of_raw_leader() -> (LeaderConnection, TcpStream, mpsc::Receiver<LeaderEvent>) {
    let leader = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = leader.local_addr().unwrap().port();
    let (tx, events) = mpsc::channel(64);
    let cfg = LeaderConnectConfig::new(5000);
    let conn = connect_to_leader("127.0.0.1", port, &cfg, tx)
        .await
        .unwrap();
    let (stream, _) = leader.accept().await.unwrap();
    (conn, stream, events)
}

/// The captured SNAP sync: a SNAP body as Java's leader sent it.
fn java_snap_body() -> zk_proto::storage::SnapshotData {
    let java = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/quorum/learner1-epoch1-SNAP-leader-to-follower.bin"
    ))
    .unwrap();
    // LEADERINFO (24 bytes), SNAP (20), then the body.
    zk_proto::storage::read_snap_sync_body(&mut &java[44..]).unwrap()
}

/// `body` as the tree a learner builds of it, written out again (in the tree's order).
fn as_tree(body: &zk_proto::storage::SnapshotData) -> zk_proto::storage::SnapshotData {
    crate::tree::DataTree::from_snapshot(body, false)
        .unwrap()
        .to_snapshot()
}

#[tokio::test]
async fn packets_go_both_ways_and_a_snap_body_follows_its_packet() {
    let (_listener, addr, mut leader_events) = listener().await;
    let (tx, mut learner_events) = mpsc::channel(64);
    let cfg = LeaderConnectConfig::new(5000);
    let conn = connect_to_leader("127.0.0.1", addr.port(), &cfg, tx)
        .await
        .unwrap();

    let (id, event) = next(&mut leader_events).await;
    let LearnerEvent::Connected { sender, .. } = event else {
        panic!("{event:?}")
    };
    let info = packet(PacketType::FollowerInfo, 0, Some(&[0; 20]));
    assert!(conn.sender.send(info.clone()));
    let (from, event) = next(&mut leader_events).await;
    assert_eq!(from, id);
    assert!(matches!(event, LearnerEvent::Packet(p) if p == info));

    // LEADERINFO, SNAP and its body, NEWLEADER: in this order, the body split in two writes.
    let body = java_snap_body();
    let mut raw = Vec::new();
    write_snap_sync_body(&body, &mut raw);
    let (head, tail) = raw.split_at(raw.len() / 2);
    let leader_info = packet(
        PacketType::LeaderInfo,
        1 << 32,
        Some(&int_data(0x10000)[..]),
    );
    let snap = packet(PacketType::Snap, 0, None);
    let new_leader = packet(PacketType::NewLeader, 1 << 32, Some(b"version=0"));
    sender.send(leader_info.clone());
    sender.send(snap.clone());
    sender.send_raw(Bytes::copy_from_slice(head));
    sender.flush();
    tokio::time::sleep(Duration::from_millis(50)).await;
    sender.send_raw(Bytes::copy_from_slice(tail));
    sender.send(new_leader.clone());
    assert!(matches!(next(&mut learner_events).await, LeaderEvent::Packet(p) if p == leader_info));
    assert!(matches!(next(&mut learner_events).await, LeaderEvent::Packet(p) if p == snap));
    assert!(
        matches!(next(&mut learner_events).await, LeaderEvent::Snapshot(s) if s.to_snapshot() == as_tree(&body))
    );
    assert!(matches!(next(&mut learner_events).await, LeaderEvent::Packet(p) if p == new_leader));

    // The leader drops the learner: both ends see the close.
    sender.close();
    assert!(matches!(next(&mut leader_events).await, (i, LearnerEvent::Closed(_)) if i == id));
    assert!(matches!(
        next(&mut learner_events).await,
        LeaderEvent::Closed(_)
    ));
    assert!(!conn.sender.send(packet(PacketType::Ping, 0, None)));
}

/// The `"type"`s of a decoded capture, in order.
fn captured_types(name: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/data/quorum/{name}.decoded.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("\"type\": \"")?.1;
            Some(rest.split_once('"')?.0.to_owned())
        })
        .collect()
}

fn capture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/quorum/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn java_streams_read_back_packet_for_packet() {
    let name = "learner1-epoch1-SNAP-follower-to-leader";
    let (_listener, addr, mut events) = listener().await;
    let mut java_follower = TcpStream::connect(addr).await.unwrap();
    java_follower.write_all(&capture(name)).await.unwrap();
    java_follower.shutdown().await.unwrap();
    let mut types = Vec::new();
    // Dropping every sender would close the connection.
    let mut senders = Vec::new();
    loop {
        match next(&mut events).await.1 {
            LearnerEvent::Connected { sender, .. } => senders.push(sender),
            LearnerEvent::Packet(p) => types.push(p.r#type.name().to_owned()),
            LearnerEvent::Closed(reason) => {
                assert_eq!(reason, "end of stream");
                break;
            }
        }
    }
    assert_eq!(types, captured_types(name));

    let name = "learner1-epoch1-SNAP-leader-to-follower";
    let (_conn, mut stream, mut events) = learner_of_raw_leader().await;
    // Byte by byte in a few chunks, as TCP may cut it anywhere.
    for chunk in capture(name).chunks(97) {
        stream.write_all(chunk).await.unwrap();
    }
    stream.shutdown().await.unwrap();
    let mut types = Vec::new();
    loop {
        match next(&mut events).await {
            LeaderEvent::Packet(p) => types.push(p.r#type.name().to_owned()),
            LeaderEvent::Snapshot(s) => {
                assert_eq!(s.to_snapshot(), as_tree(&java_snap_body()));
                types.push("(SNAP body)".to_owned());
            }
            LeaderEvent::Closed(reason) => {
                assert_eq!(reason, "end of stream");
                break;
            }
        }
    }
    let mut expected = captured_types(name);
    let snap = expected.iter().position(|t| t == "SNAP").unwrap();
    expected.insert(snap + 1, "(SNAP body)".to_owned());
    assert_eq!(types, expected);
}

#[tokio::test]
async fn bad_input_closes_only_that_learner_and_the_listener_keeps_accepting() {
    let (_listener, addr, mut events) = listener().await;
    let ack = packet(PacketType::Ack, 7, None);
    let mut ack_bytes = BytesMut::new();
    ack.write(&mut ack_bytes);
    let with_len = |len: i32| {
        let mut b = ack_bytes.to_vec();
        b[12..16].copy_from_slice(&len.to_be_bytes());
        b
    };
    let mut bad_authinfo = ack_bytes.to_vec();
    // An authinfo vector of length -2.
    bad_authinfo[16..20].copy_from_slice(&(-2i32).to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "oversized data",
            with_len(DEFAULT_MAX_DATA_LEN as i32 + 1),
            "unreasonable",
        ),
        ("negative data length", with_len(-7), "unreasonable"),
        ("bad authinfo", bad_authinfo, "bad packet"),
        (
            "truncated",
            ack_bytes[..13].to_vec(),
            "end of stream inside",
        ),
        (
            "garbage after a packet",
            [ack_bytes.to_vec(), vec![0x7f; 30]].concat(),
            "unreasonable",
        ),
    ];
    for (what, bytes, reason) in cases {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        stream.shutdown().await.unwrap();
        let (id, event) = next(&mut events).await;
        let LearnerEvent::Connected {
            sender: _sender, ..
        } = event
        else {
            panic!("{what}: {event:?}")
        };
        let closed = loop {
            match next(&mut events).await {
                (i, LearnerEvent::Packet(p)) if i == id => assert_eq!(p, ack, "{what}"),
                (i, LearnerEvent::Closed(r)) if i == id => break r,
                other => panic!("{what}: {other:?}"),
            }
        };
        assert!(closed.contains(reason), "{what}: {closed}");
        // The server closed its side too.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "{what}: still open");
    }
    // A good learner after all that.
    let (tx, _leader_events) = mpsc::channel(4);
    let conn = connect_to_leader(
        "127.0.0.1",
        addr.port(),
        &LeaderConnectConfig::new(5000),
        tx,
    )
    .await
    .unwrap();
    conn.sender.send(ack.clone());
    let (_, event) = next(&mut events).await;
    let LearnerEvent::Connected {
        sender: _sender, ..
    } = event
    else {
        panic!("{event:?}")
    };
    assert!(matches!(next(&mut events).await.1, LearnerEvent::Packet(p) if p == ack));
}

#[tokio::test]
async fn the_learner_retries_the_leader_then_gives_up() {
    // A port with nobody on it (yet).
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = LeaderConnectConfig {
        retry_delay_ms: 100,
        ..LeaderConnectConfig::new(5000)
    };
    let started = Instant::now();
    let (tx, _rx) = mpsc::channel(4);
    let err = connect_to_leader("127.0.0.1", port, &cfg, tx)
        .await
        .unwrap_err();
    // Five tries, four pauses.
    assert!(started.elapsed() >= Duration::from_millis(400), "{err}");

    // The leader comes up during the retries.
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        TcpListener::bind(("127.0.0.1", port)).await.unwrap()
    });
    let (tx, _rx) = mpsc::channel(4);
    let conn = connect_to_leader("127.0.0.1", port, &cfg, tx).await;
    let leader = late.await.unwrap();
    assert_eq!(conn.unwrap().peer.port(), port);
    drop(leader);

    // The time limit wins over the tries.
    let cfg = LeaderConnectConfig {
        connect_timeout_ms: 150,
        ..cfg
    };
    let started = Instant::now();
    let (tx, _rx) = mpsc::channel(4);
    assert!(connect_to_leader("127.0.0.1", port, &cfg, tx)
        .await
        .is_err());
    assert!(started.elapsed() < Duration::from_millis(400));
}

/// A SNAP body that is garbage, or that the stream cuts short, closes the connection with the
/// reason; nothing after it is taken for packets.
#[tokio::test]
async fn a_bad_or_cut_snap_body_closes_the_connection() {
    let mut good = Vec::new();
    write_snap_sync_body(&java_snap_body(), &mut good);
    let mut garbage = vec![0u8; 4];
    garbage.extend_from_slice(&[0xff; 64]);
    for (body, cut) in [(garbage, false), (good[..good.len() - 3].to_vec(), true)] {
        let (_conn, mut stream, mut events) = learner_of_raw_leader().await;
        let mut raw = bytes::BytesMut::new();
        packet(PacketType::Snap, 0, None).write(&mut raw);
        raw.extend_from_slice(&body);
        stream.write_all(&raw).await.unwrap();
        stream.shutdown().await.unwrap();
        assert!(
            matches!(next(&mut events).await, LeaderEvent::Packet(p) if p.r#type == PacketType::Snap)
        );
        match next(&mut events).await {
            LeaderEvent::Closed(why) => {
                assert!(why.starts_with("bad SNAP body"), "{why}");
                assert!(!cut || why.ends_with("(the stream ended)"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }
}
