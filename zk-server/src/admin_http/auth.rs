//! Who is asking, and may they: the `Authorization: <scheme> [<data>]` header of Java 3.9's
//! AdminServer, checked against the ACL of `/`; and the rate limit of `snapshot` and
//! `restore`.
//!
//! - `digest user:password`: the password travels in clear text (use TLS); the identity is
//!   the `digest` id of `user:password`, plus `super` for the super digest.
//! - `ip`: the connection's remote address.
//! - `x509`: the TLS client certificate's identity (`admin.forceHttps` or
//!   `admin.portUnification`, with a client certificate the trust store verifies).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use zk_proto::data::{Acl, Id};

/// Why a request may not run its command, with Java's status and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header (401).
    Missing,
    /// A header that names no identity we can establish (401).
    NotAuthenticated,
    /// Identities the ACL of `/` does not allow (403).
    NotAuthorized,
}

impl Refusal {
    /// The HTTP status Java answers.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Missing | Refusal::NotAuthenticated => StatusCode::UNAUTHORIZED,
            Refusal::NotAuthorized => StatusCode::FORBIDDEN,
        }
    }

    /// The `error` text Java answers.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => "Auth info is missing for the command",
            Refusal::NotAuthenticated => "Not authenticated",
            Refusal::NotAuthorized => "Not authorized",
        }
    }
}

/// The identities an `Authorization` header establishes for a request from `peer`.
pub fn identify(
    header: Option<&str>,
    peer: SocketAddr,
    certificate_ids: &[Id],
    super_digest: Option<&str>,
) -> Result<Vec<Id>, Refusal> {
    let header = header.ok_or(Refusal::Missing)?;
    // Java splits on single spaces and wants one or two parts.
    let parts: Vec<&str> = header.split(' ').collect();
    let (scheme, data) = match parts.as_slice() {
        [scheme] => (*scheme, None),
        [scheme, data] => (*scheme, Some(*data)),
        _ => return Err(Refusal::NotAuthenticated),
    };
    match (scheme, data) {
        ("digest", Some(user_password)) if user_password.contains(':') => {
            let id = crate::acl::digest_id(user_password);
            let mut ids = vec![Id::new("digest", id.clone())];
            if super_digest == Some(id.as_str()) {
                ids.push(Id::new("super", ""));
            }
            Ok(ids)
        }
        ("ip", _) => Ok(vec![Id::new("ip", peer.ip().to_canonical().to_string())]),
        ("x509", _) if !certificate_ids.is_empty() => Ok(certificate_ids.to_vec()),
        _ => Err(Refusal::NotAuthenticated),
    }
}

/// Whether `ids` hold every bit of `perm` in `acl` (Java checks the bits one by one).
pub fn authorize(acl: &[Acl], perm: i32, ids: &[Id]) -> Result<(), Refusal> {
    if ids.iter().any(|id| id.scheme == "super") {
        return Ok(());
    }
    for bit in 0..5 {
        let bit = 1 << bit;
        if perm & bit != 0 && crate::acl::check(acl, bit, ids).is_err() {
            return Err(Refusal::NotAuthorized);
        }
    }
    Ok(())
}

/// One run per interval for `snapshot` and one for `restore` (Java's `RateLimiter(1,
/// rateLimiterIntervalInMS)`; Java's snapshot limiter counts the interval in microseconds by
/// mistake, ours in milliseconds for both).
#[derive(Debug)]
pub struct RateLimits {
    interval: Duration,
    snapshot: Mutex<Option<Instant>>,
    restore: Mutex<Option<Instant>>,
}

/// Which rate-limited command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// `snapshot`.
    Snapshot,
    /// `restore`.
    Restore,
}

impl RateLimits {
    /// Limits of one run per `interval`.
    pub fn new(interval: Duration) -> RateLimits {
        RateLimits {
            interval,
            snapshot: Mutex::new(None),
            restore: Mutex::new(None),
        }
    }

    /// Whether `which` may run now (and if so, counts this run).
    pub fn allow(&self, which: Limited, now: Instant) -> bool {
        let slot = match which {
            Limited::Snapshot => &self.snapshot,
            Limited::Restore => &self.restore,
        };
        let mut last = slot.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(at) if now.saturating_duration_since(at) < self.interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::perms;

    fn peer() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn headers_become_identities() {
        assert_eq!(identify(None, peer(), &[], None), Err(Refusal::Missing));
        let ids = identify(Some("digest root:pw"), peer(), &[], None).unwrap();
        assert_eq!(
            ids,
            vec![Id::new("digest", crate::acl::digest_id("root:pw"))]
        );
        assert_eq!(
            identify(Some("ip"), peer(), &[], None).unwrap(),
            vec![Id::new("ip", "127.0.0.1")]
        );
        for bad in [
            "digest",
            "digest nocolon",
            "x509",
            "bogus a",
            "digest a:b c",
            "",
        ] {
            assert_eq!(
                identify(Some(bad), peer(), &[], None),
                Err(Refusal::NotAuthenticated),
                "{bad}"
            );
        }
        let cert = [Id::new("x509", "CN=admin")];
        assert_eq!(identify(Some("x509"), peer(), &cert, None).unwrap(), cert);
        let super_id = crate::acl::digest_id("super:s3cret");
        let ids = identify(Some("digest super:s3cret"), peer(), &[], Some(&super_id)).unwrap();
        assert!(ids.contains(&Id::new("super", "")));
    }

    #[test]
    fn the_acl_of_root_decides() {
        let world = vec![Acl::new(perms::ALL, Id::new("world", "anyone"))];
        let ids = identify(Some("digest a:b"), peer(), &[], None).unwrap();
        assert_eq!(authorize(&world, perms::ALL, &ids), Ok(()));
        let only_root = vec![Acl::new(
            perms::ALL,
            Id::new("digest", crate::acl::digest_id("root:pw")),
        )];
        assert_eq!(
            authorize(&only_root, perms::ALL, &ids),
            Err(Refusal::NotAuthorized)
        );
        let root = identify(Some("digest root:pw"), peer(), &[], None).unwrap();
        assert_eq!(authorize(&only_root, perms::ALL, &root), Ok(()));
        let read_only = vec![Acl::new(perms::READ, root[0].clone())];
        assert_eq!(authorize(&read_only, perms::READ, &root), Ok(()));
        assert_eq!(
            authorize(&read_only, perms::ALL, &root),
            Err(Refusal::NotAuthorized)
        );
    }

    #[test]
    fn one_run_per_interval() {
        let limits = RateLimits::new(Duration::from_millis(100));
        let t0 = Instant::now();
        assert!(limits.allow(Limited::Snapshot, t0));
        assert!(!limits.allow(Limited::Snapshot, t0 + Duration::from_millis(99)));
        assert!(
            limits.allow(Limited::Restore, t0),
            "each command has its own limit"
        );
        assert!(limits.allow(Limited::Snapshot, t0 + Duration::from_millis(100)));
    }
}
