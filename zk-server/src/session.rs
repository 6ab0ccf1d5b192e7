//! Sessions as Java's `SessionTrackerImpl` keeps them: ids that carry the server id, passwords
//! derived from the id, timeouts clamped to the configured range, and expiry in tick-sized
//! buckets. Time is an argument (ms on a monotonic clock), so the tracker is tested without one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Java's `ZooKeeperServer.superSecret`, mixed into every session password seed.
const SUPER_SECRET: i64 = 0xB341_5C00;

/// `java.util.Random`: the 48-bit linear congruential generator, bit for bit, so passwords are
/// the ones a Java server of the same ensemble would compute.
#[derive(Debug, Clone)]
pub struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    /// `new Random(seed)`.
    pub fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    /// `nextInt()`.
    pub fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `nextBytes(bytes)`: one `nextInt()` per 4 bytes, least significant byte first.
    pub fn next_bytes(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(4) {
            let mut rnd = self.next_int();
            for b in chunk {
                *b = rnd as u8;
                rnd >>= 8;
            }
        }
    }
}

/// The password of a session: `Random(id ^ superSecret).nextBytes(16)`.
///
/// ```
/// use zk_server::session::session_password;
/// // A session and password captured from a Java 3.8 server.
/// assert_eq!(
///     session_password(0x0100_007e_3c08_0000),
///     [0x8a, 0x0b, 0x70, 0xa0, 0x4f, 0x17, 0xe0, 0x15, 0x78, 0xb2, 0x2f, 0x4c, 0xb0, 0x15, 0xe9, 0x76]
/// );
/// ```
pub fn session_password(session_id: i64) -> [u8; 16] {
    let mut password = [0u8; 16];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut password);
    password
}

/// The first session id of a server: its id in the top byte, then the low 40 bits of the
/// monotonic clock in ms, then a 16-bit counter from 0 (Java's `initializeNextSessionId`).
pub fn initial_session_id(server_id: u8, monotonic_ms: u64) -> i64 {
    let next = ((monotonic_ms << 24) >> 8) as i64;
    next | (i64::from(server_id) << 56)
}

/// Where one session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedSession {
    /// The negotiated timeout.
    pub timeout_ms: u32,
    /// The bucket (a multiple of the tick) in which it expires unless touched.
    pub expires_at_ms: u64,
    /// Set once the session is closing: requests other than the close are refused.
    pub closing: bool,
}

/// Open sessions and their expiry buckets.
#[derive(Debug, Clone)]
pub struct SessionTracker {
    tick_ms: u64,
    next_id: i64,
    sessions: HashMap<i64, TrackedSession>,
    buckets: BTreeMap<u64, BTreeSet<i64>>,
}

impl SessionTracker {
    /// A tracker for server `server_id`, expiring in buckets of `tick_ms`.
    /// `id_clock_ms` seeds the session ids (see [`initial_session_id`]).
    pub fn new(server_id: u8, tick_ms: u64, id_clock_ms: u64) -> Self {
        SessionTracker {
            tick_ms: tick_ms.max(1),
            next_id: initial_session_id(server_id, id_clock_ms),
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// The expiry bucket for a session touched at `now_ms`: the next tick boundary after
    /// `now + timeout`, so a whole bucket expires at once.
    fn bucket(&self, now_ms: u64, timeout_ms: u32) -> u64 {
        let at = now_ms + u64::from(timeout_ms);
        (at / self.tick_ms + 1) * self.tick_ms
    }

    /// Allocates the next session id (skipping `i64::MIN`, the container marker).
    pub fn next_session_id(&mut self) -> i64 {
        let mut id = self.next_id;
        if id == i64::MIN {
            id += 1;
        }
        self.next_id = id.wrapping_add(1);
        id
    }

    /// Starts tracking a session (new, or loaded from a snapshot/log on restart: timers start
    /// again from `now_ms`).
    pub fn add(&mut self, id: i64, timeout_ms: u32, now_ms: u64) {
        self.remove(id);
        let expires_at_ms = self.bucket(now_ms, timeout_ms);
        self.buckets.entry(expires_at_ms).or_default().insert(id);
        self.sessions.insert(
            id,
            TrackedSession {
                timeout_ms,
                expires_at_ms,
                closing: false,
            },
        );
    }

    /// Pushes a session's expiry out after activity; false if it is unknown or closing (Java
    /// then drops the request).
    pub fn touch(&mut self, id: i64, now_ms: u64) -> bool {
        let Some(session) = self.sessions.get(&id) else {
            return false;
        };
        if session.closing {
            return false;
        }
        let new_bucket = self.bucket(now_ms, session.timeout_ms);
        let old_bucket = session.expires_at_ms;
        if new_bucket <= old_bucket {
            return true;
        }
        if let Some(set) = self.buckets.get_mut(&old_bucket) {
            set.remove(&id);
            if set.is_empty() {
                self.buckets.remove(&old_bucket);
            }
        }
        self.buckets.entry(new_bucket).or_default().insert(id);
        self.sessions.get_mut(&id).expect("present").expires_at_ms = new_bucket;
        true
    }

    /// Marks a session as closing (its closeSession is in the pipeline).
    pub fn set_closing(&mut self, id: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    /// Stops tracking a session.
    pub fn remove(&mut self, id: i64) -> Option<TrackedSession> {
        let session = self.sessions.remove(&id)?;
        if let Some(set) = self.buckets.get_mut(&session.expires_at_ms) {
            set.remove(&id);
            if set.is_empty() {
                self.buckets.remove(&session.expires_at_ms);
            }
        }
        Some(session)
    }

    /// A session's state.
    pub fn get(&self, id: i64) -> Option<&TrackedSession> {
        self.sessions.get(&id)
    }

    /// Sessions whose bucket has passed at `now_ms`, marked closing; the caller closes them
    /// (a closeSession txn each).
    pub fn expire(&mut self, now_ms: u64) -> Vec<i64> {
        let due: Vec<u64> = self.buckets.range(..=now_ms).map(|(b, _)| *b).collect();
        let mut expired = Vec::new();
        for bucket in due {
            for id in self.buckets.remove(&bucket).unwrap_or_default() {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if !s.closing {
                        s.closing = true;
                        expired.push(id);
                    }
                }
            }
        }
        expired
    }

    /// The expiry buckets: when each expires (monotonic ms) and its sessions.
    pub fn buckets(&self) -> Vec<(u64, Vec<i64>)> {
        self.buckets
            .iter()
            .map(|(at, ids)| (*at, ids.iter().copied().collect()))
            .collect()
    }

    /// Open sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

/// Clamps a requested timeout into `[min, max]`, as Java's `processConnectRequest` does.
pub fn negotiate_timeout(requested_ms: i32, min_ms: i32, max_ms: i32) -> i32 {
    requested_ms.clamp(min_ms, max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_match_those_a_java_server_issued() {
        // (session id, password) pairs from the captured handshakes in zk-proto/tests/data.
        let captured = [
            (0x0100_007e_3c08_0001u64, "9d2c6aa0ef62bf5a6df59677849efd43"),
            (0x0100_007e_3c08_0002, "64c97ba00f80218c8e2c61f50904c0dc"),
            (0x0100_007e_3c08_0009, "36353ba0efbfb981170dd1d221e5a1ac"),
        ];
        for (id, hex_password) in captured {
            let expected: Vec<u8> = (0..16)
                .map(|i| u8::from_str_radix(&hex_password[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            assert_eq!(session_password(id as i64).to_vec(), expected, "{id:#x}");
        }
    }

    #[test]
    fn java_random_matches_known_values() {
        // new Random(42).nextInt() == -1170105035, the next one 234785527 (Java's documented LCG).
        let mut r = JavaRandom::new(42);
        assert_eq!(r.next_int(), -1170105035);
        assert_eq!(r.next_int(), 234785527);
    }

    #[test]
    fn session_ids_carry_the_server_id_and_count_up() {
        let mut t = SessionTracker::new(1, 2000, 0x7e3c08);
        let first = t.next_session_id();
        assert_eq!(first as u64 >> 56, 1);
        assert_eq!(first, 0x0100_007e_3c08_0000, "monotonic ms in bits 16..56");
        assert_eq!(t.next_session_id(), first + 1);
    }

    #[test]
    fn expiry_in_tick_buckets_and_touch_extends() {
        let mut t = SessionTracker::new(1, 2000, 0);
        t.add(7, 4000, 0);
        t.add(8, 4000, 0);
        assert_eq!(
            t.get(7).unwrap().expires_at_ms,
            6000,
            "next tick after 4000"
        );
        assert!(t.expire(5999).is_empty());
        assert!(t.touch(8, 3000));
        assert_eq!(t.expire(6000), vec![7]);
        assert!(!t.touch(7, 6000), "an expiring session is not revived");
        assert_eq!(t.expire(10_000), vec![8]);
        assert!(!t.touch(99, 0));
        assert_eq!(negotiate_timeout(1000, 4000, 40000), 4000);
        assert_eq!(negotiate_timeout(100_000, 4000, 40000), 40000);
    }
}
