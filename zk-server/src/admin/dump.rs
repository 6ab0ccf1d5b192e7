//! `dump` (sessions by expiry, ephemerals, connections by expiry) and the data watch words
//! `wchs`, `wchc` and `wchp`: the listings of sessions and paths, with the expiry bucket data
//! ([`ExpiryBucket`], [`ConnectionRef`]) `dump` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;

use super::{java_date_utc, java_socket_addr, AdminSnapshot};

/// A reference to a connection in the connection expiry buckets of `dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRef {
    /// The client's address.
    pub remote: SocketAddr,
    /// Its session, 0 if none.
    pub session_id: i64,
}

/// The members that expire together at one time (Java's `ExpiryQueue` bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryBucket<T> {
    /// When the bucket expires, monotonic ms (converted to a date with the snapshot's clocks).
    pub expires_at_monotonic_ms: u64,
    /// Its members; Java keeps empty buckets until they are polled, and prints them.
    pub members: Vec<T>,
}

/// `dump`: sessions, ephemerals, connections.
pub(super) fn dump(out: &mut String, s: &AdminSnapshot) {
    out.push_str("SessionTracker dump:\nSession ");
    expiry_buckets(out, s, &s.session_buckets, |out, id| {
        let _ = write!(out, "0x{id:x}");
    });
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", s.ephemerals.len());
    for (session, paths) in &s.ephemerals {
        let _ = writeln!(out, "0x{session:x}:");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    if let Some(buckets) = &s.connection_buckets {
        out.push_str("Connections ");
        expiry_buckets(out, s, buckets, |out, c| {
            let _ = write!(
                out,
                "ip: {} sessionId: 0x{:x}",
                java_socket_addr(&c.remote),
                c.session_id
            );
        });
    }
}

/// `ExpiryQueue.dump`: `Sets (<buckets>)/(<members>):`, then each bucket by time.
fn expiry_buckets<T>(
    out: &mut String,
    s: &AdminSnapshot,
    buckets: &[ExpiryBucket<T>],
    member: impl Fn(&mut String, &T),
) {
    let members: usize = buckets.iter().map(|b| b.members.len()).sum();
    let _ = writeln!(out, "Sets ({})/({members}):", buckets.len());
    let mut sorted: Vec<&ExpiryBucket<T>> = buckets.iter().collect();
    sorted.sort_by_key(|b| b.expires_at_monotonic_ms);
    for bucket in sorted {
        // Java's Time.elapsedTimeToDate: wall now + (t - monotonic now).
        let delta = bucket.expires_at_monotonic_ms as i128 - s.now_monotonic_ms as i128;
        let wall = (s.now_wall_ms as i128 + delta).clamp(i64::MIN.into(), i64::MAX.into());
        let _ = writeln!(
            out,
            "{} expire at {}:",
            bucket.members.len(),
            java_date_utc(wall as i64)
        );
        for m in &bucket.members {
            out.push('\t');
            member(out, m);
            out.push('\n');
        }
    }
}

/// `wchs`: how many sessions watch how many paths.
pub(super) fn wchs(out: &mut String, s: &AdminSnapshot) {
    let paths: BTreeSet<&String> = s.data_watches.values().flatten().collect();
    let total: usize = s.data_watches.values().map(BTreeSet::len).sum();
    let _ = writeln!(
        out,
        "{} connections watching {} paths\nTotal watches:{total}",
        s.data_watches.len(),
        paths.len()
    );
}

/// `wchc`: the watched paths by session.
pub(super) fn wchc(out: &mut String, s: &AdminSnapshot) {
    for (session, paths) in &s.data_watches {
        let _ = writeln!(out, "0x{session:x}");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push('\n');
}

/// `wchp`: the watching sessions by path.
pub(super) fn wchp(out: &mut String, s: &AdminSnapshot) {
    let mut by_path: BTreeMap<&String, Vec<i64>> = BTreeMap::new();
    for (session, paths) in &s.data_watches {
        for path in paths {
            by_path.entry(path).or_default().push(*session);
        }
    }
    for (path, sessions) in by_path {
        let _ = writeln!(out, "{path}");
        for session in sessions {
            let _ = writeln!(out, "\t0x{session:x}");
        }
    }
    out.push('\n');
}
