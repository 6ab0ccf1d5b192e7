//! ACLs as Java's server applies them: the `world`, `auth`, `digest`, `ip`, `x509` and `super`
//! schemes (and `sasl` when its provider is registered, see [`Providers`]), permission checks,
//! the fix-up of ACLs in create/setACL (`auth:` expansion, duplicates,
//! validation) and the masking of digests in getACL without ADMIN.

use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;
use zk_proto::data::{Acl, Id};
use zk_proto::{perms, ErrorCode};

/// The digest id of `user:password`: `user:` + base64(SHA-1("user:password")), as Java's
/// `DigestAuthenticationProvider.generateDigest` computes it.
///
/// ```
/// assert_eq!(zk_server::acl::digest_id("alice:secret"), "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
/// ```
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// What an `auth` packet adds to a connection, or why it fails (the server then answers
/// AUTHFAILED and closes the connection), with Java's default providers only; see
/// [`Providers::authenticate`].
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    super_digest: Option<&str>,
) -> Result<Vec<Id>, ErrorCode> {
    Providers::default().authenticate(scheme, auth, super_digest, &[])
}

/// Whether `pattern` (an `ip` ACL id: an address or `address/bits`) covers `client`.
fn ip_matches(pattern: &str, client: &str) -> bool {
    let Ok(client) = client.parse::<IpAddr>() else {
        return false;
    };
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (pattern, None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return false;
    };
    let (a, c, width) = match (addr, client) {
        (IpAddr::V4(a), IpAddr::V4(c)) => (u32::from(a) as u128, u32::from(c) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(c)) => (u128::from(a), u128::from(c), 128),
        _ => return false,
    };
    let bits = bits.unwrap_or(width).min(width);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (c >> shift)
}

/// Whether Java 3.8 has an authentication provider for a scheme by default (`ip` and
/// `digest`): its `isValid` reads an ACL id of that scheme. Any other scheme but `world` and
/// `auth` has none, and is an invalid ACL before its id is read.
fn has_provider(scheme: &str, providers: &Providers) -> bool {
    matches!(scheme, "digest" | "ip")
        || (scheme == "sasl" && providers.sasl.is_some())
        || (scheme == "x509" && providers.x509)
}

/// The authentication providers registered beyond Java's defaults (`ip` and `digest`), by
/// `zookeeper.authProvider.N` (zoo.cfg `authProvider.N`): Java's ProviderRegistry. A scheme
/// with no provider is an invalid ACL and matches no connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Providers {
    /// `org.apache.zookeeper.server.auth.SASLAuthenticationProvider`.
    pub sasl: Option<SaslProvider>,
    /// `X509AuthenticationProvider`: registered with a secure client port, or by a
    /// `zookeeper.authProvider.*` property.
    pub x509: bool,
}

/// Java's `SASLAuthenticationProvider`: `sasl:NAME` ids, valid when `NAME` is a valid
/// Kerberos name; a connection's SASL id matches an ACL id equal to it, and the SASL user
/// `super` matches every `sasl` ACL id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslProvider {
    /// `zookeeper.letAnySaslUserDoX`: an ACL id every SASL-authenticated connection matches.
    pub let_any_user_do_x: Option<String>,
}

impl Providers {
    /// What an `auth` packet adds to a connection holding `current` ids, or why it fails (the
    /// server then answers AUTHFAILED and closes the connection):
    /// - `digest`: the `digest` id of `user:password`, and `super` for `super_digest`;
    /// - `x509` (Java's `X509AuthenticationProvider.handleAuthentication`), when registered: a
    ///   connection whose TLS client certificate was verified already holds its `x509` id (and
    ///   `super` for the super user) and keeps them; any other connection fails.
    pub fn authenticate(
        &self,
        scheme: &str,
        auth: &[u8],
        super_digest: Option<&str>,
        current: &[Id],
    ) -> Result<Vec<Id>, ErrorCode> {
        match scheme {
            "digest" => {
                let text = String::from_utf8_lossy(auth);
                let id = digest_id(&text);
                let mut ids = vec![Id::new("digest", id.clone())];
                if super_digest == Some(id.as_str()) {
                    ids.push(Id::new("super", ""));
                }
                Ok(ids)
            }
            "x509" if self.x509 => {
                let from_certificate: Vec<Id> = current
                    .iter()
                    .filter(|id| id.scheme == "x509")
                    .cloned()
                    .collect();
                if from_certificate.is_empty() {
                    Err(ErrorCode::AuthFailed)
                } else {
                    Ok(from_certificate)
                }
            }
            _ => Err(ErrorCode::AuthFailed),
        }
    }

    /// The providers a configuration registers.
    pub fn from_config(cfg: &crate::config::Config) -> Providers {
        let schemes = cfg.auth_provider_schemes();
        Providers {
            sasl: schemes.iter().any(|s| s == "sasl").then(|| SaslProvider {
                let_any_user_do_x: cfg.let_any_sasl_user_do_x().map(str::to_owned),
            }),
            x509: cfg.x509_auth_enabled(),
        }
    }

    /// [`check`] with these providers.
    pub fn check(&self, acl: &[Acl], perm: i32, auth_ids: &[Id]) -> Result<(), ErrorCode> {
        check_with(acl, perm, auth_ids, self)
    }

    /// [`fix_up`] with these providers.
    pub fn fix_up(&self, acl: &[Acl], auth_ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
        fix_up_inner(acl, &[], auth_ids, self)
    }

    /// [`fix_up_with_nulls`] with these providers.
    pub fn fix_up_with_nulls(
        &self,
        acl: &[Acl],
        nulls: &[EntryNulls],
        auth_ids: &[Id],
    ) -> Result<Vec<Acl>, ErrorCode> {
        fix_up_inner(acl, nulls, auth_ids, self)
    }
}

/// Whether an ACL id is valid for its scheme (Java's `AuthenticationProvider.isValid`). Only
/// the providers Java 3.8 registers by default have a scheme here: `ip` and `digest`. `super`,
/// `sasl` and `x509` ids are INVALIDACL on Java unless a provider for them is configured, so
/// they are here too.
fn id_is_valid(id: &Id, providers: &Providers) -> bool {
    match id.scheme.as_str() {
        "sasl" if providers.sasl.is_some() => crate::sasl::is_valid_id(&id.id),
        // Java: `new X500Principal(id)` parses.
        "x509" if providers.x509 => zk_tls::is_valid_name(&id.id),
        // Java: id.split(":").length == 2 (a trailing empty part is dropped).
        "digest" => {
            let parts: Vec<&str> = id.id.split(':').collect();
            let trimmed = parts
                .iter()
                .rposition(|p| !p.is_empty())
                .map_or(0, |i| i + 1);
            trimmed == 2
        }
        "ip" => ip_id_is_valid(&id.id),
        _ => false,
    }
}

/// Java 3.8's `IPAuthenticationProvider.isValid`: an IPv4 address in four dotted parts, each
/// an int in 0..=255, optionally `/bits` with bits in 0..=32. IPv6 is not valid in 3.8.
fn ip_id_is_valid(id: &str) -> bool {
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (id, None),
    };
    let parts: Vec<&str> = addr.split('.').collect();
    let octets_ok = parts.len() == 4
        && parts
            .iter()
            .all(|p| java_parse_int(p).is_some_and(|v| (0..=255).contains(&v)));
    octets_ok && bits.is_none_or(|b| java_parse_int(b).is_some_and(|v| (0..=32).contains(&v)))
}

/// Java's `Integer.parseInt` for ASCII input: an optional sign, then decimal digits.
fn java_parse_int(text: &str) -> Option<i32> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i32>().ok()
}

/// Schemes whose provider says "authenticated" (Java's `isAuthenticated`), so that an `auth`
/// ACL entry expands to the connection's ids of that scheme. `ip` is not; `super` has no
/// provider at all.
fn is_authenticated_scheme(scheme: &str, providers: &Providers) -> bool {
    scheme == "digest" || scheme == "x509" || (scheme == "sasl" && providers.sasl.is_some())
}

/// A connection's authenticated ids, in the order they were added, with a set so adding one
/// is O(1). Java lists them in another order: see [`java_order`].
#[derive(Debug, Clone, Default)]
pub struct AuthIds {
    ids: Vec<Id>,
    seen: std::collections::HashSet<Id>,
}

impl AuthIds {
    /// The ids of a new connection (Java adds its `ip` id).
    pub fn new(first: Id) -> AuthIds {
        let mut ids = AuthIds::default();
        ids.add(first);
        ids
    }

    /// Adds an id unless the connection has it already; true if it was new.
    pub fn add(&mut self, id: Id) -> bool {
        let new = self.seen.insert(id.clone());
        if new {
            self.ids.push(id);
        }
        new
    }
}

/// `ids` (in the order they were added) in the order Java's server lists a connection's ids:
/// its `authInfo` is a set backed by a `ConcurrentHashMap`, so `whoAmI` and the ACL an `auth`
/// entry expands to follow that map's iteration order (hash bin, then insertion). A TLS
/// connection's `x509` id comes before its `ip`, for example.
pub fn java_order(ids: &[Id]) -> Vec<&Id> {
    // The map starts with 16 bins and doubles when it reaches 3/4 full.
    let mut bins = 16usize;
    while ids.len() >= bins / 4 * 3 {
        bins *= 2;
    }
    let mut ordered: Vec<&Id> = ids.iter().collect();
    ordered.sort_by_key(|id| java_bin(id, bins));
    ordered
}

/// The `ConcurrentHashMap` bin of a jute `Id` (its generated `hashCode` over Java's
/// `String.hashCode`s) in a table of `bins` bins.
fn java_bin(id: &Id, bins: usize) -> usize {
    use crate::tree::java_order::{concurrent_spread, java_string_hash};
    let mut hash = 17i32;
    hash = hash
        .wrapping_mul(37)
        .wrapping_add(java_string_hash(&id.scheme));
    hash = hash.wrapping_mul(37).wrapping_add(java_string_hash(&id.id));
    concurrent_spread(hash) as usize & (bins - 1)
}

impl std::ops::Deref for AuthIds {
    type Target = [Id];
    fn deref(&self) -> &[Id] {
        &self.ids
    }
}

/// Checks that a connection with `auth_ids` holds `perm` on a node with `acl` (Java's
/// `checkACL`): an empty ACL allows everything, `super` bypasses checks. Only Java's default
/// providers; [`Providers::check`] with others.
pub fn check(acl: &[Acl], perm: i32, auth_ids: &[Id]) -> Result<(), ErrorCode> {
    check_with(acl, perm, auth_ids, &Providers::default())
}

fn check_with(
    acl: &[Acl],
    perm: i32,
    auth_ids: &[Id],
    providers: &Providers,
) -> Result<(), ErrorCode> {
    if acl.is_empty() || auth_ids.iter().any(|id| id.scheme == "super") {
        return Ok(());
    }
    for entry in acl.iter().filter(|a| a.perms & perm != 0) {
        if entry.id.scheme == "world" && entry.id.id == "anyone" {
            return Ok(());
        }
        let matched = auth_ids.iter().any(|auth| {
            auth.scheme == entry.id.scheme
                && match auth.scheme.as_str() {
                    "ip" => ip_matches(&entry.id.id, &auth.id),
                    "sasl" => providers.sasl.as_ref().is_some_and(|sasl| {
                        auth.id == "super"
                            || auth.id == entry.id.id
                            || sasl.let_any_user_do_x.as_deref() == Some(entry.id.id.as_str())
                    }),
                    _ => auth.id == entry.id.id,
                }
        });
        if matched {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

/// The ACL a create or setACL stores (Java's `fixupACL`): duplicates dropped, `auth:`
/// replaced by the connection's authenticated (non-ip) ids, every id checked.
pub fn fix_up(acl: &[Acl], auth_ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    fix_up_inner(acl, &[], auth_ids, &Providers::default())
}

/// Which fields of an ACL entry's id a request sent as null (read as empty strings; see
/// `zk_proto::message::RequestBody::decode_nulls`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryNulls {
    /// The scheme was null.
    pub scheme: bool,
    /// The id was null.
    pub id: bool,
}

/// [`fix_up`] for entries whose scheme or id may have been null (`nulls[i]` for `acl[i]`;
/// missing means none), as Java's `fixupACL` meets them:
///
/// - removing duplicates, each entry is compared with the kept ones in order by
///   `ACL.equals`: perms, then scheme, then id, each with `this.field.equals(other)`, so a
///   null scheme (or, with the same scheme, a null id) in the entry compared throws a
///   NullPointerException as soon as a kept entry has the same perms: MARSHALLINGERROR;
/// - then per entry, in order: a null scheme is an invalid ACL; a null id throws for
///   `world` (compared with `anyone`) and for a scheme with a provider (its `isValid`); `auth`
///   never reads its id, and an unknown scheme is invalid before its id is read.
pub fn fix_up_with_nulls(
    acl: &[Acl],
    nulls: &[EntryNulls],
    auth_ids: &[Id],
) -> Result<Vec<Acl>, ErrorCode> {
    fix_up_inner(acl, nulls, auth_ids, &Providers::default())
}

fn fix_up_inner(
    acl: &[Acl],
    nulls: &[EntryNulls],
    auth_ids: &[Id],
    providers: &Providers,
) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let null_at = |i: usize| nulls.get(i).copied().unwrap_or_default();
    let mut unique: Vec<(Acl, EntryNulls)> = Vec::with_capacity(acl.len());
    for (i, entry) in acl.iter().enumerate() {
        let this = null_at(i);
        let mut duplicate = false;
        for (kept, kept_nulls) in &unique {
            if entry.perms != kept.perms {
                continue;
            }
            if this.scheme {
                return Err(ErrorCode::MarshallingError);
            }
            if kept_nulls.scheme || entry.id.scheme != kept.id.scheme {
                continue;
            }
            if this.id {
                return Err(ErrorCode::MarshallingError);
            }
            if !kept_nulls.id && entry.id.id == kept.id.id {
                duplicate = true;
                break;
            }
        }
        if !duplicate {
            unique.push((entry.clone(), this));
        }
    }
    let mut out = Vec::with_capacity(unique.len());
    for (entry, nulls) in unique {
        if nulls.scheme {
            return Err(ErrorCode::InvalidAcl);
        }
        if nulls.id && entry.id.scheme != "auth" {
            return Err(
                if entry.id.scheme == "world" || has_provider(&entry.id.scheme, providers) {
                    ErrorCode::MarshallingError
                } else {
                    ErrorCode::InvalidAcl
                },
            );
        }
        match entry.id.scheme.as_str() {
            "world" if entry.id.id == "anyone" => out.push(entry),
            "world" => return Err(ErrorCode::InvalidAcl),
            "auth" => {
                // Only providers that say "authenticated" count; ip and super do not. Java adds
                // each expansion as it is, even one the list already holds (duplicates were
                // removed from the request's entries only).
                let mut added = false;
                for auth in java_order(auth_ids)
                    .into_iter()
                    .filter(|a| is_authenticated_scheme(&a.scheme, providers))
                {
                    out.push(Acl::new(entry.perms, auth.clone()));
                    added = true;
                }
                if !added {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            _ if id_is_valid(&entry.id, providers) => out.push(entry),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

/// getACL's answer: without ADMIN, digest hashes are replaced by `x` (`alice:x`).
pub fn mask_for_reader(acl: &[Acl], has_admin: bool) -> Vec<Acl> {
    if has_admin {
        return acl.to_vec();
    }
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl::new(a.perms, Id::new("digest", format!("{user}:x")))
            } else {
                a.clone()
            }
        })
        .collect()
}

/// Whether `perm` includes ADMIN.
pub fn is_admin(perm: i32) -> bool {
    perm & perms::ADMIN != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Id {
        Id::new("digest", digest_id("alice:secret"))
    }

    #[test]
    fn digest_matches_java() {
        assert_eq!(
            digest_id("alice:secret"),
            "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
        );
        let ids = authenticate(
            "digest",
            b"alice:secret",
            Some("alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="),
        )
        .unwrap();
        assert!(ids.contains(&Id::new("super", "")));
        assert_eq!(
            authenticate("bogus", b"x", None),
            Err(ErrorCode::AuthFailed)
        );
    }

    #[test]
    fn permission_checks() {
        let ip = Id::new("ip", "127.0.0.1");
        let acl = vec![
            Acl::new(perms::READ, Id::anyone()),
            Acl::new(perms::ALL, alice()),
            Acl::new(perms::WRITE, Id::new("ip", "10.0.0.0/8")),
        ];
        assert_eq!(check(&acl, perms::READ, std::slice::from_ref(&ip)), Ok(()));
        assert_eq!(
            check(&acl, perms::WRITE, std::slice::from_ref(&ip)),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check(&acl, perms::WRITE, &[Id::new("ip", "10.1.2.3")]),
            Ok(())
        );
        assert_eq!(check(&acl, perms::ADMIN, &[ip.clone(), alice()]), Ok(()));
        assert_eq!(
            check(&acl, perms::ADMIN, &[ip, Id::new("super", "")]),
            Ok(())
        );
        assert_eq!(
            check(&[], perms::ADMIN, &[]),
            Ok(()),
            "an empty ACL allows all"
        );
    }

    #[test]
    fn fix_up_expands_auth_and_validates() {
        let ids = [Id::new("ip", "127.0.0.1"), alice()];
        let fixed = fix_up(
            &[Acl::new(31, Id::auth_ids()), Acl::new(31, Id::auth_ids())],
            &ids,
        )
        .unwrap();
        assert_eq!(fixed, vec![Acl::new(31, alice())]);
        assert_eq!(
            fix_up(&Acl::creator_all(), &[Id::new("ip", "1.2.3.4")]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(fix_up(&[], &ids), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fix_up(&[Acl::new(1, Id::new("world", "me"))], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_up(&[Acl::new(1, Id::new("digest", "nocolon"))], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_up(&[Acl::new(1, Id::new("digest", "a:b:c"))], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        assert!(fix_up(&[Acl::new(1, Id::new("ip", "10.0.0.0/8"))], &ids).is_ok());
        // Java 3.8: IPv4 only, bits within 0..=32, no scheme without a provider.
        for bad in [
            Id::new("ip", "127.0.0.1/99"),
            Id::new("ip", "127.0.0.1/-1"),
            Id::new("ip", "::1"),
            Id::new("ip", "fe80::1/64"),
            Id::new("ip", "1.2.3"),
            Id::new("ip", "1.2.3.256"),
            Id::new("ip", "1.2.3.4/"),
            Id::new("super", ""),
            Id::new("sasl", "alice"),
            Id::new("x509", "CN=alice"),
        ] {
            assert_eq!(
                fix_up(&[Acl::new(1, bad.clone())], &ids),
                Err(ErrorCode::InvalidAcl),
                "{bad:?}"
            );
        }
        for good in [
            "1.2.3.4",
            "0.0.0.0/0",
            "10.0.0.0/32",
            "+1.02.3.4",
            "1.2.3.4/+8",
        ] {
            assert!(
                fix_up(&[Acl::new(1, Id::new("ip", good))], &ids).is_ok(),
                "{good}"
            );
        }
        // A super-authenticated connection's creator ACL holds its digest only.
        let with_super = [alice(), Id::new("super", "")];
        assert_eq!(
            fix_up(&Acl::creator_all(), &with_super).unwrap(),
            vec![Acl::new(perms::ALL, alice())]
        );
        assert_eq!(
            fix_up(&[Acl::new(1, Id::new("nosuch", "x"))], &ids),
            Err(ErrorCode::InvalidAcl)
        );
    }

    #[test]
    fn sasl_ids_with_the_sasl_provider() {
        let sasl = Providers {
            sasl: Some(SaslProvider::default()),
            ..Providers::default()
        };
        let bob = Id::new("sasl", "bob");
        let acl = [Acl::new(perms::ALL, bob.clone())];
        assert_eq!(sasl.fix_up(&acl, &[]).unwrap(), acl);
        assert_eq!(fix_up(&acl, &[]), Err(ErrorCode::InvalidAcl), "no provider");
        assert_eq!(
            sasl.fix_up(&[Acl::new(1, Id::new("sasl", "a@b@c"))], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // auth: expands to the connection's sasl id, as an authenticated scheme
        let ids = [Id::new("ip", "127.0.0.1"), bob.clone()];
        assert_eq!(sasl.fix_up(&Acl::creator_all(), &ids).unwrap(), acl);
        assert_eq!(sasl.check(&acl, perms::READ, &ids), Ok(()));
        assert_eq!(check(&acl, perms::READ, &ids), Err(ErrorCode::NoAuth));
        let carol = [Id::new("sasl", "carol")];
        assert_eq!(
            sasl.check(&acl, perms::READ, &carol),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            sasl.check(&acl, perms::READ, &[Id::new("sasl", "super")]),
            Ok(()),
            "the SASL user super matches every sasl id"
        );
        let anyone = Providers {
            sasl: Some(SaslProvider {
                let_any_user_do_x: Some("bob".to_owned()),
            }),
            ..Providers::default()
        };
        assert_eq!(anyone.check(&acl, perms::READ, &carol), Ok(()));
    }

    #[test]
    fn masking_without_admin() {
        let acl = vec![Acl::new(31, alice()), Acl::new(1, Id::anyone())];
        assert_eq!(mask_for_reader(&acl, false)[0].id.id, "alice:x");
        assert_eq!(mask_for_reader(&acl, true), acl);
    }

    #[test]
    fn null_acl_fields_as_java_fixup_acl_meets_them() {
        let no = EntryNulls::default();
        let id_null = EntryNulls { id: true, ..no };
        let scheme_null = EntryNulls { scheme: true, ..no };
        let entry = |perms, scheme: &str, id: &str| Acl::new(perms, Id::new(scheme, id));
        let ids = [Id::new("ip", "127.0.0.1"), alice()];
        // auth never reads its id: kazoo's Id('auth', '') comes as a null id.
        let auth = [entry(perms::ALL, "auth", "")];
        let fixed = fix_up_with_nulls(&auth, &[id_null], &ids).unwrap();
        assert_eq!(fixed, vec![Acl::new(perms::ALL, alice())]);
        assert_eq!(
            fix_up_with_nulls(&auth, &[id_null], &ids[..1]),
            Err(ErrorCode::InvalidAcl)
        );
        // a null id throws where it is read: world, and the providers' isValid
        for scheme in ["world", "digest", "ip"] {
            let acl = [entry(perms::ALL, scheme, "")];
            assert_eq!(
                fix_up_with_nulls(&acl, &[id_null], &ids),
                Err(ErrorCode::MarshallingError),
                "{scheme}"
            );
            assert_eq!(fix_up(&acl, &ids), Err(ErrorCode::InvalidAcl), "{scheme}");
        }
        // an unknown scheme is invalid before its id is read; a null scheme is invalid
        let acl = [entry(perms::ALL, "nosuch", "")];
        assert_eq!(
            fix_up_with_nulls(&acl, &[id_null], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_up_with_nulls(&auth, &[scheme_null], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        // entries are checked in order: an invalid first entry wins over a later null
        let acl = [
            entry(perms::READ, "digest", "nocolon"),
            entry(perms::ALL, "world", ""),
        ];
        assert_eq!(
            fix_up_with_nulls(&acl, &[no, id_null], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        // removing duplicates: a null in the entry compared throws once perms (and, for the
        // id, the scheme) match a kept entry; a null in the kept entry just differs
        let two_auth = [entry(perms::ALL, "auth", ""), entry(perms::ALL, "auth", "")];
        assert_eq!(
            fix_up_with_nulls(&two_auth, &[no, id_null], &ids),
            Err(ErrorCode::MarshallingError)
        );
        assert_eq!(
            fix_up_with_nulls(&two_auth, &[no, scheme_null], &ids),
            Err(ErrorCode::MarshallingError)
        );
        let kept_twice = fix_up_with_nulls(&two_auth, &[id_null, no], &ids).unwrap();
        assert_eq!(kept_twice, vec![Acl::new(perms::ALL, alice()); 2]);
        assert_eq!(
            fix_up(&two_auth, &ids).unwrap(),
            vec![Acl::new(perms::ALL, alice())]
        );
        let other_perms = [
            entry(perms::ALL, "auth", ""),
            entry(perms::READ, "auth", ""),
        ];
        assert_eq!(
            fix_up_with_nulls(&other_perms, &[no, scheme_null], &ids),
            Err(ErrorCode::InvalidAcl)
        );
    }

    #[test]
    fn x509_ids_with_the_provider_registered() {
        let x509 = Providers {
            x509: true,
            ..Providers::default()
        };
        let dn = Id::new("x509", "CN=alice,O=Example");
        let entry = [Acl::new(perms::ALL, dn.clone())];
        assert_eq!(fix_up(&entry, &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(x509.fix_up(&entry, &[]).unwrap(), entry.to_vec());
        let not_a_dn = [Acl::new(perms::ALL, Id::new("x509", "alice"))];
        assert_eq!(x509.fix_up(&not_a_dn, &[]), Err(ErrorCode::InvalidAcl));
        // `auth` expands to the certificate's id; the super id is not an authenticated one.
        let ids = [
            Id::new("ip", "127.0.0.1"),
            Id::new("super", "CN=alice,O=Example"),
            dn.clone(),
        ];
        assert_eq!(
            x509.fix_up(&Acl::creator_all(), &ids).unwrap(),
            entry.to_vec()
        );
        assert_eq!(check(&entry, perms::READ, &ids[2..]), Ok(()));
        assert_eq!(
            check(&entry, perms::READ, &[Id::new("x509", "CN=bob,O=Example")]),
            Err(ErrorCode::NoAuth)
        );
        // addauth x509: only a connection with a certificate.
        assert_eq!(
            x509.authenticate("x509", b"", None, &ids).unwrap(),
            vec![dn]
        );
        assert_eq!(
            x509.authenticate("x509", b"", None, &ids[..1]),
            Err(ErrorCode::AuthFailed)
        );
        // Without the provider, x509 is an unknown scheme.
        assert_eq!(authenticate("x509", b"", None), Err(ErrorCode::AuthFailed));
    }

    #[test]
    fn ids_in_javas_set_order() {
        // As Java 3.8's whoAmI lists them (checked live against the real server).
        let root = "CN=root,O=zk-rs";
        let mut ids = AuthIds::default();
        ids.add(Id::new("super", root));
        ids.add(Id::new("x509", root));
        ids.add(Id::new("ip", "127.0.0.1"));
        assert_eq!(
            java_order(&ids)
                .iter()
                .map(|i| i.scheme.as_str())
                .collect::<Vec<_>>(),
            ["x509", "super", "ip"]
        );
        let mut ids = AuthIds::new(Id::new("ip", "127.0.0.1"));
        ids.add(alice());
        assert_eq!(java_order(&ids)[0], &alice());
        assert!(!ids.add(alice()));
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn auth_expansion_keeps_what_the_list_already_holds() {
        // Java adds each expansion as it is: the explicit digest entry and the auth one both
        // stay.
        let ids = [alice()];
        let acl = [
            Acl::new(perms::ALL, alice()),
            Acl::new(perms::ALL, Id::new("auth", "")),
        ];
        assert_eq!(
            fix_up(&acl, &ids).unwrap(),
            vec![Acl::new(perms::ALL, alice()); 2]
        );
    }
}
