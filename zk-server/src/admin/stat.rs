//! `srvr`, `stat` and `cons`: Java's `StatCommand` and `ConsCommand`, with the per-connection
//! data ([`ConnectionInfo`]) they list.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::snapshot::leader;
use super::{java_double_to_string, java_socket_addr, AdminSnapshot, ServerMode, Summary};

/// One client connection, as `stat` and `cons` print it (Java's `ServerCnxn` stats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// Java's selector interest ops, printed in hex: 1 (`OP_READ`) for a connection waiting for
    /// requests, 0 for the four-letter-word connection that asks, 5 while a reply is queued.
    pub interest_ops: u32,
    /// Requests received but not answered yet (`queued=`).
    pub queued: u64,
    /// Packets received on this connection (`recved=`).
    pub packets_received: u64,
    /// Packets sent on this connection (`sent=`).
    pub packets_sent: u64,
    /// The session, 0 before the handshake (then `cons` prints the short form too).
    pub session_id: i64,
    /// The last operation answered: Java's 4-letter codes (`GETD`, `CREA`, `PING`, `SESS`,
    /// `MULT`, ...), `NA` before any.
    pub last_op: String,
    /// When the connection was accepted, wall clock ms since the epoch (`est=`).
    pub established_wall_ms: i64,
    /// The negotiated session timeout (`to=`).
    pub session_timeout_ms: i32,
    /// The xid of the last request answered, -1 before any (then `lcxid` is left out).
    pub last_cxid: i64,
    /// The zxid of the last reply, -1 before any (`lzxid=0xffffffffffffffff`, as Java).
    pub last_zxid: i64,
    /// When the last reply was sent, monotonic ms (Java's `Time.currentElapsedTime`, `lresp=`).
    pub last_response_monotonic_ms: i64,
    /// Latency of the last request, ms (`llat=`).
    pub last_latency_ms: i64,
    /// Latencies of this connection's requests, ms (`minlat`, `avglat` truncated, `maxlat`).
    pub latency: Summary,
}

/// `srvr`/`stat`: `StatCommand`.
pub(super) fn stat(out: &mut String, s: &AdminSnapshot, with_clients: bool) {
    let _ = writeln!(out, "Zookeeper version: {}", s.version);
    if s.mode == ServerMode::ReadOnly {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        out.push_str("Clients:\n");
        connection_lines(out, s, true);
    }
    let lat = &s.request_latency;
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        lat.min_or_zero(),
        java_double_to_string(lat.java_avg()),
        lat.max_or_zero()
    );
    let _ = writeln!(out, "Received: {}", s.packets_received);
    let _ = writeln!(out, "Sent: {}", s.packets_sent);
    let _ = writeln!(out, "Connections: {}", s.alive_connections);
    let _ = writeln!(out, "Outstanding: {}", s.outstanding_requests);
    let _ = writeln!(out, "Zxid: 0x{:x}", s.last_zxid);
    let _ = writeln!(out, "Mode: {}", s.mode.as_str());
    let _ = writeln!(out, "Node count: {}", s.node_count);
    if s.mode == ServerMode::Leader {
        if let Some(l) = leader(s) {
            let p = l.proposal_sizes;
            let _ = writeln!(
                out,
                "Proposal sizes last/min/max: {}/{}/{}",
                p.last, p.min, p.max
            );
        }
    }
}

/// `cons`: every connection in full.
pub(super) fn cons(out: &mut String, s: &AdminSnapshot) {
    connection_lines(out, s, false);
}

/// Every connection, one line each, then an empty line (`stat`'s `Clients:` block, `cons`).
fn connection_lines(out: &mut String, s: &AdminSnapshot, brief: bool) {
    for c in &s.connections {
        connection_line(out, c, brief);
        out.push('\n');
    }
    out.push('\n');
}

/// One connection: `ServerCnxn.dumpConnectionInfo` (no newline).
fn connection_line(out: &mut String, c: &ConnectionInfo, brief: bool) {
    let _ = write!(
        out,
        " {}[{:x}](queued={},recved={},sent={}",
        java_socket_addr(&c.remote),
        c.interest_ops,
        c.queued,
        c.packets_received,
        c.packets_sent
    );
    if !brief && c.session_id != 0 {
        let _ = write!(
            out,
            ",sid=0x{:x},lop={},est={},to={}",
            c.session_id, c.last_op, c.established_wall_ms, c.session_timeout_ms
        );
        if c.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{:x}", c.last_cxid);
        }
        let _ = write!(
            out,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            c.last_zxid,
            c.last_response_monotonic_ms,
            c.last_latency_ms,
            c.latency.min_or_zero(),
            c.latency.truncated_avg(),
            c.latency.max_or_zero()
        );
    }
    out.push(')');
}
