//! Election services on localhost: elections among them, a leader's death and return, and bad
//! input on the election port.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zk_proto::quorum::{write_election_frame, Notification, ServerState};

use crate::quorum::cnx;

use super::*;

/// Bound on any one wait.
const WAIT: Duration = Duration::from_secs(10);

/// Logs to the test output when `RUST_LOG` is set.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Listeners on free localhost ports and the config naming them as servers 1..=n.
async fn ensemble(n: usize) -> (Vec<TcpListener>, QuorumMaj) {
    let mut listeners = Vec::new();
    let mut text = String::new();
    for sid in 1..=n {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // The quorum port is never opened here; it only has to differ.
        text.push_str(&format!("server.{sid}=127.0.0.1:{}:{port}\n", port ^ 1));
        listeners.push(listener);
    }
    (listeners, QuorumMaj::from_text(&text, false).unwrap())
}

fn service(sid: i64, verifier: &QuorumMaj, listener: TcpListener) -> ElectionService {
    let mut cfg = ElectionNetConfig::new(sid, verifier.clone());
    cfg.socket_timeout_ms = 1000;
    cfg.cnx_timeout_ms = 1000;
    ElectionService::spawn(cfg, vec![listener])
}

async fn look(handle: &ElectionHandle) -> Decision {
    tokio::time::timeout(WAIT, handle.look_for_leader(0, 0))
        .await
        .expect("an election decides within the wait")
        .expect("the service runs")
}

/// All `handles` look for a leader at once; their decisions, in order.
async fn elect(handles: &[ElectionHandle]) -> Vec<Decision> {
    let looks: Vec<_> = handles
        .iter()
        .map(|h| {
            let h = h.clone();
            tokio::spawn(async move { look(&h).await })
        })
        .collect();
    let mut decisions = Vec::new();
    for look in looks {
        decisions.push(look.await.unwrap());
    }
    decisions
}

fn assert_leader(decisions: &[Decision], sids: &[i64], leader: i64) {
    for (d, &sid) in decisions.iter().zip(sids) {
        assert_eq!(d.leader, leader, "server {sid}: {d:?}");
        let state = if sid == leader {
            ServerState::Leading
        } else {
            ServerState::Following
        };
        assert_eq!(d.state, state, "server {sid}: {d:?}");
    }
}

#[tokio::test]
async fn three_services_elect_the_highest_sid_then_survive_its_loss_and_return() {
    logs();
    let (listeners, verifier) = ensemble(3).await;
    let addr3 = listeners[2].local_addr().unwrap();
    let mut services: Vec<Option<ElectionService>> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| Some(service(i as i64 + 1, &verifier, l)))
        .collect();
    let handles: Vec<ElectionHandle> = services.iter().flatten().map(|s| s.handle()).collect();

    let decisions = elect(&handles).await;
    assert_leader(&decisions, &[1, 2, 3], 3);
    assert!(decisions.iter().all(|d| d.zxid == 0 && d.peer_epoch == 0));

    // The leader dies; its followers go back to the election and pick sid 2.
    services[2].take().unwrap().stop().await;
    let decisions = elect(&handles[..2]).await;
    assert_leader(&decisions, &[1, 2], 2);

    // Sid 3 comes back: the others are past their election and tell it whom they follow
    // (FOLLOWING / LEADING notifications); it must join, not win.
    let listener = TcpListener::bind(addr3).await.unwrap();
    let back = service(3, &verifier, listener);
    let d = look(&back.handle()).await;
    assert_eq!((d.leader, d.state), (2, ServerState::Following), "{d:?}");
    let status = handles[1].status().await.unwrap();
    assert_eq!(status.state, ServerState::Leading);
    assert!(status.connected.contains(&3), "{status:?}");
    back.stop().await;
}

/// Whether the service closes `stream` (EOF or reset) within the wait, reading whatever it
/// sends before.
async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(WAIT, read).await.is_ok()
}

async fn send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

fn v1(sid: i64, address: &str) -> Vec<u8> {
    cnx::initial_message(sid, &[address.to_owned()], false).to_bytes()
}

#[tokio::test]
async fn bad_input_closes_only_that_connection_and_the_election_still_completes() {
    logs();
    let (listeners, verifier) = ensemble(3).await;
    let target = listeners[1].local_addr().unwrap();
    let services: Vec<ElectionService> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| service(i as i64 + 1, &verifier, l))
        .collect();
    // A port nobody listens on, for connect-backs that must fail.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };

    let mut frame_too_long = v1(99, "127.0.0.1:1");
    frame_too_long.extend_from_slice(&i32::MAX.to_be_bytes());
    let mut frame_zero = v1(99, "127.0.0.1:1");
    frame_zero.extend_from_slice(&0i32.to_be_bytes());
    let mut truncated = v1(99, "127.0.0.1:1");
    truncated.extend_from_slice(&176i32.to_be_bytes());
    truncated.extend_from_slice(&[0; 20]);
    let mut wrong_version = v1(3, "127.0.0.1:1");
    wrong_version[..8].copy_from_slice(&(-65534i64).to_be_bytes());
    let mut address_too_long = (-65536i64).to_be_bytes().to_vec();
    address_too_long.extend_from_slice(&3i64.to_be_bytes());
    address_too_long.extend_from_slice(&4096i32.to_be_bytes());
    address_too_long.extend_from_slice(&[b'a'; 4096]);
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("garbage", vec![0xde; 64], false),
        ("wrong protocol version", wrong_version, false),
        ("address too long", address_too_long, false),
        (
            "truncated initial message",
            v1(3, "127.0.0.1:1")[..20].to_vec(),
            true,
        ),
        ("negative sid", v1(-5, &dead.to_string()), false),
        ("my own sid", v1(2, "127.0.0.1:1"), false),
        ("oversized frame", frame_too_long, false),
        ("zero-length frame", frame_zero, false),
        ("truncated frame", truncated, true),
        ("silence", Vec::new(), false),
    ];
    for (what, bytes, then_half_close) in cases {
        let mut stream = send(target, &bytes).await;
        if then_half_close {
            stream.shutdown().await.unwrap();
        }
        assert!(closed_by_peer(&mut stream).await, "{what}: still open");
    }
    // A short notification is dropped, not the connection: a later good one still counts.
    let mut short = v1(99, "127.0.0.1:1");
    write_election_frame(&mut short, &[0; 10]);
    let mut stranger = send(target, &short).await;
    let handles: Vec<ElectionHandle> = services.iter().map(|s| s.handle()).collect();
    let decisions = elect(&handles).await;
    assert_leader(&decisions, &[1, 2, 3], 3);
    // The stranger (sid 99, not a voter) asks and is answered with the current vote.
    let ask = Notification::new(ServerState::Looking, 99, 0, 1, 0, Bytes::new());
    let mut frame = Vec::new();
    write_election_frame(&mut frame, &ask.to_bytes());
    stranger.write_all(&frame).await.unwrap();
    let mut len = [0u8; 4];
    tokio::time::timeout(WAIT, stranger.read_exact(&mut len))
        .await
        .expect("an answer")
        .unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stranger.read_exact(&mut body).await.unwrap();
    let answer = Notification::parse(&body).unwrap();
    assert_eq!((answer.state, answer.leader), (ServerState::Following, 3));
    for s in services {
        s.stop().await;
    }
}

#[test]
fn listeners_bind_my_address_or_the_wildcard_and_dials_use_brackets_for_ipv6() {
    let verifier = QuorumMaj::from_text(
        "server.1=10.0.0.1:2888:3888\nserver.2=[::1]:2889:3889\n",
        false,
    )
    .unwrap();
    let mut cfg = ElectionNetConfig::new(1, verifier);
    assert_eq!(cfg.listen_addresses(), [("10.0.0.1".to_owned(), 3888)]);
    cfg.listen_on_all_ips = true;
    assert_eq!(cfg.listen_addresses(), [("0.0.0.0".to_owned(), 3888)]);
    assert_eq!(cfg.election_addresses(2), ["[0:0:0:0:0:0:0:1]:3889"]);
    assert!(cfg.election_addresses(7).is_empty());
}
