//! Golden vectors: every frame captured between real ZooKeeper 3.8.0 clients and server (see
//! `tests/data/*/frames.jsonl`, copied from the shared capture) decodes to exactly what the
//! capture's decode documents, and re-encodes to the identical bytes.
//!
//! Each `.bin` file is one whole frame including its 4-byte big-endian length. Replies are
//! decoded with the opcode of the request that had the same xid on the same connection.

use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use zk_proto::data::{Acl, Stat};
use zk_proto::message::{
    MultiOp, MultiResult, Reply, Request, RequestBody, ResponseBody, ServerMessage,
};
use zk_proto::proto::{ConnectRequest, ConnectResponse, MultiHeader, ReplyHeader};
use zk_proto::{ErrorCode, Jute, OpCode};

/// The server's default `jute.maxbuffer`: a longer announced frame closes the connection.
const JUTE_MAX_BUFFER: usize = 0xfffff;

fn data_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

// ---------------------------------------------------------------------------------------------
// the decoded values, rendered in the shape frames.jsonl uses
// ---------------------------------------------------------------------------------------------

/// Zxids and session ids: hex strings, except negative values which the capture shows as numbers.
fn id_json(value: i64) -> Value {
    if value < 0 {
        json!(value)
    } else {
        json!(format!("{value:#x}"))
    }
}

fn hex_json(bytes: &[u8]) -> Value {
    json!(format!("0x{}", hex::encode(bytes)))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("captured data is UTF-8 text")
}

fn data_json(data: &Option<Bytes>) -> Value {
    match data {
        Some(bytes) => json!(text(bytes)),
        None => Value::Null,
    }
}

fn stat_json(stat: &Stat) -> Value {
    json!({
        "czxid": stat.czxid,
        "mzxid": stat.mzxid,
        "ctime": stat.ctime,
        "mtime": stat.mtime,
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "ephemeralOwner": stat.ephemeral_owner,
        "dataLength": stat.data_length,
        "numChildren": stat.num_children,
        "pzxid": stat.pzxid,
    })
}

fn acl_json(acl: &[Acl]) -> Value {
    acl.iter()
        .map(|entry| json!({"perms": entry.perms, "scheme": entry.id.scheme, "id": entry.id.id}))
        .collect()
}

/// A request's ACL list; the captured requests never carry a null one.
fn request_acl_json(acl: &Option<Vec<Acl>>) -> Value {
    acl_json(acl.as_deref().expect("captured requests carry an ACL list"))
}

fn end_marker_json() -> Value {
    let end = MultiHeader::END;
    json!({"end": {"type": end.r#type.code(), "done": end.done, "err": end.err}})
}

fn multi_op_json(op: &MultiOp) -> Value {
    let body = match op {
        MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
            json!({"path": r.path, "data": data_json(&r.data), "acl": request_acl_json(&r.acl), "flags": r.flags})
        }
        MultiOp::CreateTtl(r) => json!({
            "path": r.path, "data": data_json(&r.data), "acl": request_acl_json(&r.acl),
            "flags": r.flags, "ttl": r.ttl,
        }),
        MultiOp::Delete(r) => json!({"path": r.path, "version": r.version}),
        MultiOp::SetData(r) => {
            json!({"path": r.path, "data": data_json(&r.data), "version": r.version})
        }
        MultiOp::Check(r) => json!({"path": r.path, "version": r.version}),
        MultiOp::GetData(r) => json!({"path": r.path, "watch": r.watch}),
        MultiOp::GetChildren(r) => json!({"path": r.path, "watch": r.watch}),
    };
    // Java writes err -1 in every request sub-op header, and so do we.
    let header = MultiHeader::op(op.op());
    json!({"type": header.r#type.code(), "op": op.op().name(), "hdr_err": header.err, "body": body})
}

fn request_json(body: &RequestBody) -> Value {
    match body {
        RequestBody::Create(r) | RequestBody::Create2(r) | RequestBody::CreateContainer(r) => {
            json!({"path": r.path, "data": data_json(&r.data), "acl": request_acl_json(&r.acl), "flags": r.flags})
        }
        RequestBody::CreateTtl(r) => json!({
            "path": r.path, "data": data_json(&r.data), "acl": request_acl_json(&r.acl),
            "flags": r.flags, "ttl": r.ttl,
        }),
        RequestBody::Delete(r) => json!({"path": r.path, "version": r.version}),
        RequestBody::Exists(r) => json!({"path": r.path, "watch": r.watch}),
        RequestBody::GetData(r) => json!({"path": r.path, "watch": r.watch}),
        RequestBody::GetChildren(r) => json!({"path": r.path, "watch": r.watch}),
        RequestBody::GetChildren2(r) => json!({"path": r.path, "watch": r.watch}),
        RequestBody::SetData(r) => {
            json!({"path": r.path, "data": data_json(&r.data), "version": r.version})
        }
        RequestBody::GetAcl(r) => json!({"path": r.path}),
        RequestBody::SetAcl(r) => {
            json!({"path": r.path, "acl": request_acl_json(&r.acl), "version": r.version})
        }
        RequestBody::Sync(r) => json!({"path": r.path}),
        RequestBody::Multi(m) | RequestBody::MultiRead(m) => {
            let mut ops: Vec<Value> = m.ops.iter().map(multi_op_json).collect();
            ops.push(end_marker_json());
            json!({"ops": ops})
        }
        RequestBody::Reconfig(r) => json!({
            "joining": r.joining_servers, "leaving": r.leaving_servers,
            "newMembers": r.new_members, "curConfigId": r.cur_config_id,
        }),
        RequestBody::CheckWatches(r) => json!({"path": r.path, "type": r.r#type.code()}),
        RequestBody::RemoveWatches(r) => json!({"path": r.path, "type": r.r#type.code()}),
        RequestBody::Auth(r) => {
            json!({"type": r.r#type, "scheme": r.scheme, "auth": text(&r.auth)})
        }
        RequestBody::SetWatches(r) => json!({
            "relativeZxid": id_json(r.relative_zxid),
            "dataWatches": r.data_watches, "existWatches": r.exist_watches,
            "childWatches": r.child_watches,
        }),
        RequestBody::SetWatches2(r) => json!({
            "relativeZxid": id_json(r.relative_zxid),
            "dataWatches": r.data_watches, "existWatches": r.exist_watches,
            "childWatches": r.child_watches, "persistentWatches": r.persistent_watches,
            "persistentRecursiveWatches": r.persistent_recursive_watches,
        }),
        RequestBody::GetEphemerals(r) => json!({"path": r.prefix_path}),
        RequestBody::GetAllChildrenNumber(r) => json!({"path": r.path}),
        RequestBody::AddWatch(r) => json!({"path": r.path, "mode": r.mode.code()}),
        // The capture shows no fields for these: either there are none or it did not parse them.
        RequestBody::Ping
        | RequestBody::WhoAmI
        | RequestBody::CloseSession
        | RequestBody::Unknown { .. } => json!({}),
        other
        @ (RequestBody::Check(_) | RequestBody::DeleteContainer(_) | RequestBody::Sasl(_)) => {
            panic!("no captured frame is expected to carry {other:?}")
        }
    }
}

fn multi_result_json(result: &MultiResult) -> Value {
    let op = result.op();
    let mut entry = json!({"type": op.code(), "op": op.name(), "hdr_err": result.err().code()});
    let body = match result {
        MultiResult::Create(r) => Some(json!({"path": r.path})),
        MultiResult::Create2(r) => Some(json!({"path": r.path, "stat": stat_json(&r.stat)})),
        MultiResult::SetData(r) => Some(json!({"stat": stat_json(&r.stat)})),
        MultiResult::GetData(r) => {
            Some(json!({"data": data_json(&r.data), "stat": stat_json(&r.stat)}))
        }
        MultiResult::GetChildren(r) => Some(json!({"children": r.children})),
        MultiResult::Delete | MultiResult::Check => None,
        MultiResult::Error(err) => {
            entry["err"] = json!(err.code());
            None
        }
    };
    if let Some(body) = body {
        entry["body"] = body;
    }
    entry
}

/// `None` for a reply without a record (the capture then has no `body` key).
fn response_json(body: &ResponseBody) -> Option<Value> {
    Some(match body {
        ResponseBody::Empty => return None,
        ResponseBody::Create(r) => json!({"path": r.path}),
        ResponseBody::Create2(r) => json!({"path": r.path, "stat": stat_json(&r.stat)}),
        ResponseBody::Exists(r) => json!({"stat": stat_json(&r.stat)}),
        ResponseBody::SetData(r) => json!({"stat": stat_json(&r.stat)}),
        ResponseBody::SetAcl(r) => json!({"stat": stat_json(&r.stat)}),
        ResponseBody::GetData(r) | ResponseBody::Reconfig(r) => {
            json!({"data": data_json(&r.data), "stat": stat_json(&r.stat)})
        }
        ResponseBody::GetAcl(r) => json!({"acl": acl_json(&r.acl), "stat": stat_json(&r.stat)}),
        ResponseBody::GetChildren(r) => json!({"children": r.children}),
        ResponseBody::GetChildren2(r) => {
            json!({"children": r.children, "stat": stat_json(&r.stat)})
        }
        ResponseBody::Sync(r) => json!({"path": r.path}),
        ResponseBody::Multi(m) => {
            let mut results: Vec<Value> = m.results.iter().map(multi_result_json).collect();
            results.push(end_marker_json());
            json!({"results": results})
        }
        ResponseBody::GetEphemerals(r) => json!({"ephemerals": r.ephemerals}),
        ResponseBody::GetAllChildrenNumber(r) => json!({"totalNumber": r.total_number}),
        ResponseBody::AddWatch(r) => json!({"err": r.err.code()}),
        ResponseBody::WhoAmI(r) => json!({
            "clientInfo": r.client_info.iter()
                .map(|c| json!({"authScheme": c.auth_scheme, "user": c.user}))
                .collect::<Vec<_>>(),
        }),
        other @ (ResponseBody::Sasl(_) | ResponseBody::Unknown(_)) => {
            panic!("no captured frame is expected to carry {other:?}")
        }
    })
}

fn connect_request_json(r: &ConnectRequest) -> Value {
    let mut body = json!({
        "protocolVersion": r.protocol_version,
        "lastZxidSeen": id_json(r.last_zxid_seen),
        "timeOut": r.time_out,
        "sessionId": id_json(r.session_id),
        "passwd": hex_json(&r.passwd),
    });
    if let Some(read_only) = r.read_only {
        body["readOnly"] = json!(read_only);
    }
    body
}

fn connect_response_json(r: &ConnectResponse) -> Value {
    let mut body = json!({
        "protocolVersion": r.protocol_version,
        "timeOut": r.time_out,
        "sessionId": id_json(r.session_id),
        "passwd": hex_json(&r.passwd),
    });
    if let Some(read_only) = r.read_only {
        body["readOnly"] = json!(read_only);
    }
    body
}

/// The opname the capture prints for an opcode (`?` when it has no name).
fn opname(op: OpCode) -> &'static str {
    match op {
        OpCode::Unknown(_) => "?",
        named => named.name(),
    }
}

/// The capture's zxid: a hex string, or a plain number for -1.
fn parse_zxid(value: &Value) -> i64 {
    match value {
        Value::String(s) => {
            i64::from_str_radix(s.strip_prefix("0x").expect("hex zxid"), 16).expect("hex zxid")
        }
        Value::Number(n) => n.as_i64().expect("integer zxid"),
        other => panic!("zxid {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// the walk over the capture
// ---------------------------------------------------------------------------------------------

/// How many frames of each kind were checked.
#[derive(Debug, Default)]
struct Counts {
    connect_requests: usize,
    connect_responses: usize,
    requests: usize,
    replies: usize,
    notifications: usize,
    raw: usize,
}

impl Counts {
    fn total(&self) -> usize {
        self.connect_requests
            + self.connect_responses
            + self.requests
            + self.replies
            + self.notifications
            + self.raw
    }
}

/// Per-capture state: the requests awaiting replies, and each connection's handshake shape.
#[derive(Default)]
struct Capture {
    /// (conn, xid) -> opcode of the request not yet answered.
    pending: HashMap<(u64, i32), OpCode>,
    /// conn -> whether its ConnectRequest carried the readOnly byte.
    read_only_byte: HashMap<u64, bool>,
    /// Connections whose ConnectResponse has been seen.
    established: HashSet<u64>,
    counts: Counts,
}

fn check_capture(name: &str) -> Counts {
    let dir = data_dir(name);
    let jsonl = std::fs::read_to_string(dir.join("frames.jsonl")).expect("frames.jsonl");
    let lines: Vec<&str> = jsonl.lines().filter(|l| !l.trim().is_empty()).collect();
    let bin_files = std::fs::read_dir(&dir)
        .expect("data dir")
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "bin")
        })
        .count();
    assert_eq!(
        bin_files,
        lines.len(),
        "{name}: every .bin must be listed once in frames.jsonl"
    );

    let mut capture = Capture::default();
    for line in &lines {
        let frame: Value = serde_json::from_str(line).expect("jsonl line");
        let file = frame["vector_file"].as_str().expect("vector_file");
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            frame["len"].as_u64(),
            Some(bytes.len() as u64),
            "{file}: size"
        );
        check_frame(&mut capture, &frame, &bytes)
            .unwrap_or_else(|msg| panic!("{name}/{file}: {msg}"));
    }
    assert_eq!(
        capture.counts.total(),
        lines.len(),
        "{name}: every line checked"
    );
    assert!(
        capture.pending.is_empty(),
        "{name}: requests without a reply: {:?}",
        capture.pending
    );
    capture.counts
}

/// Checks one frame; an `Err` names what differed.
fn check_frame(capture: &mut Capture, frame: &Value, bytes: &[u8]) -> Result<(), String> {
    let kind = frame["kind"].as_str().ok_or("no kind")?;
    let conn = frame["conn"].as_u64().ok_or("no conn")?;
    let file = frame["vector_file"].as_str().unwrap_or_default();

    if kind == "raw" || frame["raw"] == json!(true) {
        return check_raw(capture, frame, bytes);
    }
    if file.contains("-tail") {
        return Err("a tail capture must be marked raw".into());
    }

    // A whole frame: the length prefix announces exactly the rest of the file.
    let announced = i32::from_be_bytes(bytes[..4].try_into().unwrap());
    if usize::try_from(announced).ok() != Some(bytes.len() - 4) {
        return Err(format!(
            "length prefix {announced} for a {}-byte file",
            bytes.len()
        ));
    }
    let payload = &bytes[4..];
    let expect_eq = |what: &str, got: Value, want: &Value| -> Result<(), String> {
        if &got == want {
            Ok(())
        } else {
            Err(format!("{what}: decoded {got}, capture says {want}"))
        }
    };
    let expect_bytes = |what: &str, got: Vec<u8>| -> Result<(), String> {
        if got == payload {
            Ok(())
        } else {
            Err(format!(
                "{what} re-encodes to {} instead of {}",
                hex::encode(&got),
                hex::encode(payload)
            ))
        }
    };

    match kind {
        "ConnectRequest" => {
            assert_eq!(frame["dir"], "c2s");
            assert!(
                !capture.read_only_byte.contains_key(&conn),
                "one handshake per connection"
            );
            let request = ConnectRequest::from_jute_bytes(payload).map_err(|e| e.to_string())?;
            expect_eq("body", connect_request_json(&request), &frame["body"])?;
            expect_eq("trailing", json!(0), &frame["trailing"])?;
            // The old-client form is exactly 44 bytes, the current one 45.
            let expected_len = if request.read_only.is_some() { 45 } else { 44 };
            if payload.len() != expected_len {
                return Err(format!("payload of {} bytes", payload.len()));
            }
            capture
                .read_only_byte
                .insert(conn, request.read_only.is_some());
            capture.counts.connect_requests += 1;
            expect_bytes("ConnectRequest", request.to_jute_bytes())
        }
        "ConnectResponse" => {
            assert_eq!(frame["dir"], "s2c");
            let response = ConnectResponse::from_jute_bytes(payload).map_err(|e| e.to_string())?;
            expect_eq("body", connect_response_json(&response), &frame["body"])?;
            // The server mirrors the shape of the request: readOnly byte only if the client sent one.
            let request_had_byte = *capture
                .read_only_byte
                .get(&conn)
                .ok_or("ConnectResponse before ConnectRequest")?;
            if response.read_only.is_some() != request_had_byte {
                return Err("readOnly presence differs from the request's".into());
            }
            capture.established.insert(conn);
            capture.counts.connect_responses += 1;
            expect_bytes("ConnectResponse", response.to_jute_bytes())
        }
        "request" => {
            assert_eq!(frame["dir"], "c2s");
            if !capture.read_only_byte.contains_key(&conn) {
                return Err("request before the handshake".into());
            }
            let trailing = frame["trailing"].as_u64().ok_or("no trailing")? as usize;
            let request = if trailing == 0 {
                Request::decode_exact(payload)
            } else {
                Request::decode(payload)
            }
            .map_err(|e| e.to_string())?;
            let op = request.header.r#type;
            expect_eq("xid", json!(request.header.xid), &frame["xid"])?;
            expect_eq("op", json!(op.code()), &frame["op"])?;
            expect_eq("opname", json!(opname(op)), &frame["opname"])?;
            expect_eq("body", request_json(&request.body), &frame["body"])?;
            if op != request.body.op() {
                return Err("header and body opcodes differ".into());
            }
            if trailing != 0 {
                // Only an unknown opcode's body goes unparsed in the capture.
                match &request.body {
                    RequestBody::Unknown { body, .. } if body.len() == trailing => {}
                    other => return Err(format!("{trailing} trailing bytes but {other:?}")),
                }
            }
            capture.pending.insert((conn, request.header.xid), op);
            capture.counts.requests += 1;
            expect_bytes("request", request.encode())
        }
        "reply" => {
            assert_eq!(frame["dir"], "s2c");
            if !capture.established.contains(&conn) {
                return Err("reply before the handshake".into());
            }
            let message = ServerMessage::decode(payload).map_err(|e| e.to_string())?;
            let header = message.header().clone();
            expect_eq("xid", json!(header.xid), &frame["xid"])?;
            expect_eq(
                "zxid",
                json!(header.zxid),
                &json!(parse_zxid(&frame["zxid"])),
            )?;
            expect_eq("err", json!(header.err.code()), &frame["err"])?;
            expect_bytes("server message", message.encode())?;

            if frame["opname"] == "notification" {
                let ServerMessage::Notification(notification) = message else {
                    return Err(format!("not a notification: {message:?}"));
                };
                if frame.get("op").is_some() {
                    return Err("a notification answers no request".into());
                }
                let event = &notification.event;
                let body = json!({"type": event.r#type.code(), "state": event.state.code(), "path": event.path});
                expect_eq("event", body, &frame["body"])?;
                capture.counts.notifications += 1;
                return Ok(());
            }

            let op = capture
                .pending
                .remove(&(conn, header.xid))
                .ok_or("reply to no pending request")?;
            expect_eq("op", json!(op.code()), &frame["op"])?;
            expect_eq("opname", json!(opname(op)), &frame["opname"])?;
            let (header, raw_body): (ReplyHeader, Bytes) = match message {
                ServerMessage::Ping(h) if op == OpCode::Ping => (h, Bytes::new()),
                ServerMessage::Auth(h) if op == OpCode::Auth => (h, Bytes::new()),
                ServerMessage::Reply { header, body }
                    if op != OpCode::Ping && op != OpCode::Auth =>
                {
                    (header, body)
                }
                other => return Err(format!("{op} answered by {other:?}")),
            };
            let body =
                ResponseBody::decode(op, header.err, &raw_body).map_err(|e| e.to_string())?;
            match (response_json(&body), frame.get("body")) {
                (None, None) => {}
                (Some(got), Some(want)) => expect_eq("body", got, want)?,
                (got, want) => return Err(format!("body {got:?}, capture says {want:?}")),
            }
            if header.err != ErrorCode::Ok && body != ResponseBody::Empty {
                return Err("an error reply decoded a body".into());
            }
            capture.counts.replies += 1;
            let reply = Reply { header, body };
            expect_bytes("reply", reply.encode())?;
            // The whole-payload decoder agrees with the two-step one.
            if Reply::decode(op, payload) != Ok(reply) {
                return Err("Reply::decode differs".into());
            }
            Ok(())
        }
        other => Err(format!("unexpected kind {other}")),
    }
}

/// Frames deliberately not whole: today only the oversized length sent after a handshake
/// (`client-edge` c05), which the server must refuse before reading any payload.
fn check_raw(capture: &mut Capture, frame: &Value, bytes: &[u8]) -> Result<(), String> {
    let conn = frame["conn"].as_u64().ok_or("no conn")?;
    if frame["dir"] != "c2s-tail" {
        return Err(format!(
            "unhandled raw capture in direction {}",
            frame["dir"]
        ));
    }
    // The capture's text is the bytes read as Latin-1.
    let as_text: String = bytes.iter().map(|&b| char::from(b)).collect();
    if frame["text"] != json!(as_text) {
        return Err("text differs from the bytes".into());
    }
    if !capture.established.contains(&conn) {
        return Err("the tail follows a completed handshake".into());
    }
    let announced = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    if announced != 0x10_0000 {
        return Err(format!("announced {announced:#x}, INDEX.md says 0x100000"));
    }
    // Larger than jute.maxbuffer, so a server closes the connection instead of waiting for it.
    assert!(announced > JUTE_MAX_BUFFER);
    // And not a complete frame: far fewer bytes follow than announced.
    if bytes.len() - 4 >= announced {
        return Err("the raw tail is a whole frame".into());
    }
    capture.counts.raw += 1;
    Ok(())
}

#[test]
fn java_client_session_frames() {
    let counts = check_capture("client-java");
    println!("client-java: {counts:?}");
    assert_eq!(counts.total(), 168);
    assert_eq!(counts.connect_requests, 6);
    assert_eq!(counts.connect_responses, 6);
    assert_eq!(counts.raw, 0);
}

#[test]
fn edge_case_frames() {
    let counts = check_capture("client-edge");
    println!("client-edge: {counts:?}");
    assert_eq!(counts.total(), 47);
    assert_eq!(counts.connect_requests, 8);
    assert_eq!(counts.connect_responses, 8);
    assert_eq!(counts.raw, 1);
}

#[test]
fn old_client_handshake_has_no_read_only_byte() {
    let bytes = std::fs::read(data_dir("client-edge").join("0001-c01-c2s-ConnectRequest.bin"))
        .expect("vector");
    let request = ConnectRequest::from_jute_bytes(&bytes[4..]).expect("old-client form");
    assert_eq!(request.read_only, None);
    assert_eq!(request.time_out, 5000);
    let bytes = std::fs::read(data_dir("client-edge").join("0002-c01-s2c-ConnectResponse.bin"))
        .expect("vector");
    let response = ConnectResponse::from_jute_bytes(&bytes[4..]).expect("old-client reply");
    assert_eq!(response.read_only, None);
    assert_eq!(response.session_id, 0x0100_007e_3c08_0005);
}

#[test]
fn failed_multi_has_ok_header_and_per_op_errors() {
    let bytes =
        std::fs::read(data_dir("client-java").join("0053-c01-s2c-multi.bin")).expect("vector");
    let reply = Reply::decode(OpCode::Multi, &bytes[4..]).expect("multi reply");
    assert_eq!(reply.header.err, ErrorCode::Ok);
    let ResponseBody::Multi(multi) = reply.body else {
        panic!("not a multi body: {:?}", reply.body)
    };
    assert_eq!(
        multi.results,
        [
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::NoNode),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ]
    );
}
