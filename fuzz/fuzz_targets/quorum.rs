//! Ensemble traffic: the quorum port and the election port.
//!
//! The input is read three ways:
//! 1. as a quorum-port stream: `quorum::QuorumPacket`s back to back until the decoder reports
//!    `Incomplete` or `Invalid`; after a SNAP packet the SNAP sync body
//!    (`storage::read_snap_sync_body`) is read, as a learner does. Every packet's data also goes
//!    through each typed view (`TxnEntry`, `LearnerInfoData`, `LearnerRequest` and the request
//!    body it carries, `PingTouches`, `RevalidateRequest`/`Reply`, `read_int_data`,
//!    `read_designated_leader`, `read_inform_and_activate`);
//! 2. as an election-port stream: an `InitialMessage` (when one decodes) then length-prefixed
//!    frames, each a `Notification`; and as a stream of frames with no initial message (the
//!    direction the accepting peer writes);
//! 3. as one bare `Notification` body.
//!
//! Properties checked (beyond "no panic"): every decoded value re-encodes to bytes that decode
//! to the same value (the fixed-size typed views and election frames byte for byte);
//! every proper prefix tried of an encoded packet or initial message is `Incomplete` (a stream
//! must wait for more), never `Invalid`; decoders of complete data never report `Incomplete`;
//! a notification's encoding is a prefix of the body it was parsed from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zk_proto::message::RequestBody;
use zk_proto::quorum::{
    read_designated_leader, read_election_frame, read_inform_and_activate, read_int_data,
    write_election_frame, InitialMessage, LearnerInfoData, LearnerRequest, Notification,
    PacketType, PingTouches, QuorumPacket, RevalidateReply, RevalidateRequest,
    MAX_INITIAL_MESSAGE_ADDR_LEN,
};
use zk_proto::storage::{read_snap_sync_body, write_snap_sync_body};
use zk_proto::txn::TxnEntry;
use zk_proto::{DecodeError, Jute};

fn assert_invalid<T: std::fmt::Debug>(result: &Result<T, DecodeError>, what: &str) {
    if let Err(error) = result {
        assert!(
            matches!(error, DecodeError::Invalid { .. }),
            "{what} of complete data failed as {error:?}"
        );
    }
}

fn check_txn_entry(entry: &TxnEntry) {
    let bytes = entry.to_bytes();
    assert_eq!(
        TxnEntry::decode(&bytes).as_ref(),
        Ok(entry),
        "a re-encoded txn entry decodes differently"
    );
}

/// Every typed view of packet data (each is tried whatever the packet type).
fn check_packet_data(data: &[u8]) {
    let entry = TxnEntry::decode(data);
    assert_invalid(&entry, "TxnEntry::decode");
    if let Ok(entry) = &entry {
        check_txn_entry(entry);
    }

    let info = LearnerInfoData::parse(data);
    assert_invalid(&info, "LearnerInfoData::parse");
    if let Ok(info) = info {
        assert_eq!(info.to_bytes(), data, "LearnerInfoData is not byte-exact");
        let _ = (info.serverid(), info.protocol_version(), info.config_version());
    }

    let request = LearnerRequest::parse(data);
    assert_invalid(&request, "LearnerRequest::parse");
    if let Ok(request) = request {
        assert_eq!(request.to_bytes(), data, "LearnerRequest is not byte-exact");
        // The leader decodes the forwarded client request body.
        let body = RequestBody::decode(request.r#type, &request.body);
        assert_invalid(&body, "RequestBody::decode");
        if let Ok(body) = body {
            let mut bytes = Vec::new();
            body.write(&mut bytes);
            assert_eq!(
                RequestBody::decode(request.r#type, &bytes),
                Ok(body),
                "a re-encoded forwarded request body decodes differently"
            );
        }
    }

    let touches = PingTouches::parse(data);
    assert_invalid(&touches, "PingTouches::parse");
    if let Ok(touches) = touches {
        assert_eq!(touches.to_bytes(), data, "PingTouches is not byte-exact");
    }

    if let Ok(revalidate) = RevalidateRequest::parse(data) {
        assert_eq!(revalidate.to_bytes(), data, "RevalidateRequest is not byte-exact");
    }
    if let Ok(reply) = RevalidateReply::parse(data) {
        assert_eq!(RevalidateReply::parse(&reply.to_bytes()), Ok(reply));
    }
    if let Ok(value) = read_int_data(data) {
        assert_eq!(value.to_be_bytes(), data);
    }
    if let Ok(leader) = read_designated_leader(data) {
        assert_eq!(leader.to_be_bytes(), data);
    }
    let inform = read_inform_and_activate(data);
    assert_invalid(&inform, "read_inform_and_activate");
    if let Ok((_, entry)) = &inform {
        check_txn_entry(entry);
    }
}

/// Packets back to back; after SNAP, the sync body.
fn check_quorum_stream(data: &[u8]) {
    let mut input = data;
    while !input.is_empty() {
        let before = input;
        let packet = match QuorumPacket::read(&mut input) {
            Ok(packet) => packet,
            Err(_) => break,
        };
        let encoded = packet.to_jute_bytes();
        assert_eq!(
            QuorumPacket::from_jute_bytes(&encoded).as_ref(),
            Ok(&packet),
            "a re-encoded QuorumPacket decodes differently"
        );
        let used = before.len() - input.len();
        for prefix in [encoded.len() - 1, used % encoded.len()] {
            let result = QuorumPacket::read(&mut &encoded[..prefix]);
            assert!(
                matches!(result, Err(DecodeError::Incomplete { .. })),
                "a {prefix}-byte prefix of a {}-byte QuorumPacket gave {result:?}",
                encoded.len()
            );
        }
        check_packet_data(packet.data_bytes());
        let _ = packet.txn_entry();

        if packet.r#type == PacketType::Snap {
            let Ok(snap) = read_snap_sync_body(&mut input) else {
                break;
            };
            let mut bytes = Vec::new();
            write_snap_sync_body(&snap, &mut bytes);
            let mut reread = &bytes[..];
            assert_eq!(read_snap_sync_body(&mut reread).as_ref(), Ok(&snap));
            assert!(reread.is_empty());
        }
    }
}

fn check_notification(body: &[u8]) {
    let parsed = Notification::parse(body);
    assert_invalid(&parsed, "Notification::parse");
    if let Ok(notification) = parsed {
        let bytes = notification.to_bytes();
        assert!(
            body.starts_with(&bytes),
            "a notification's encoding is not a prefix of the body it came from"
        );
        assert_eq!(
            Notification::parse(&bytes).as_ref(),
            Ok(&notification),
            "a re-encoded notification parses differently"
        );
        let _ = notification.effective_peer_epoch();
        let _ = notification.config_text();
    }
}

fn check_election_frames(mut input: &[u8]) {
    while !input.is_empty() {
        let before = input;
        let Ok(body) = read_election_frame(&mut input) else {
            break;
        };
        let mut reframed = Vec::new();
        write_election_frame(&mut reframed, body);
        assert_eq!(
            &reframed[..],
            &before[..before.len() - input.len()],
            "an election frame does not re-frame byte for byte"
        );
        check_notification(body);
    }
}

fn check_initial_message(message: &InitialMessage) {
    let _ = message.sid();
    let bytes = message.to_bytes();
    // Lossy UTF-8 decoding can lengthen the address text past what a reader accepts; only a
    // message whose text still fits must round-trip.
    if let InitialMessage::Versioned { addresses, .. } = message {
        if addresses.join("|").len() > MAX_INITIAL_MESSAGE_ADDR_LEN {
            return;
        }
    }
    let mut input = &bytes[..];
    assert_eq!(
        InitialMessage::read(&mut input).as_ref(),
        Ok(message),
        "a re-encoded initial message reads differently"
    );
    assert!(input.is_empty(), "the initial message reader left bytes");
    let result = InitialMessage::read(&mut &bytes[..bytes.len() - 1]);
    assert!(
        matches!(result, Err(DecodeError::Incomplete { .. })),
        "a proper prefix of an initial message gave {result:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    check_quorum_stream(data);

    let mut input = data;
    if let Ok(message) = InitialMessage::read(&mut input) {
        check_initial_message(&message);
        check_election_frames(input);
    }
    check_election_frames(data);

    check_notification(data);
});
