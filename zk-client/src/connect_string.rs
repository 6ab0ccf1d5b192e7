//! Connect strings: `host1:2181,host2:2182/optional/chroot`.

use crate::error::{Error, ErrorKind, Result};
use zk_proto::path::validate_path;

/// The default client port.
pub const DEFAULT_PORT: u16 = 2181;

/// A parsed connect string: the servers to try and an optional chroot.
///
/// ```
/// use zk_client::ConnectString;
/// let cs: ConnectString = "h1:2181,h2/app".parse().unwrap();
/// assert_eq!(cs.hosts(), &[("h1".to_string(), 2181), ("h2".to_string(), 2181)]);
/// assert_eq!(cs.chroot(), Some("/app"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    hosts: Vec<(String, u16)>,
    chroot: Option<String>,
}

impl ConnectString {
    /// The servers, in the order given.
    pub fn hosts(&self) -> &[(String, u16)] {
        &self.hosts
    }

    /// The chroot, if one was given (a chroot of `/` alone means none).
    pub fn chroot(&self) -> Option<&str> {
        self.chroot.as_deref()
    }
}

impl std::str::FromStr for ConnectString {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (host_part, chroot) = match s.find('/') {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => (s, None),
        };
        let chroot = match chroot {
            None | Some("/") => None,
            Some(path) => {
                validate_path(path)
                    .map_err(|e| Error::from(ErrorKind::InvalidPath(e.to_string())))?;
                Some(path.to_owned())
            }
        };
        let mut hosts = Vec::new();
        for entry in host_part
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            hosts.push(parse_host(entry)?);
        }
        if hosts.is_empty() {
            return Err(
                ErrorKind::InvalidArgument(format!("connect string {s:?} names no host")).into(),
            );
        }
        Ok(ConnectString { hosts, chroot })
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn parse_host(entry: &str) -> Result<(String, u16)> {
    let bad = || -> Error {
        ErrorKind::InvalidArgument(format!("bad host {entry:?} in connect string")).into()
    };
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Ok((host.to_owned(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Err(bad()),
        None => Ok((entry.to_owned(), DEFAULT_PORT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_chroot() {
        let cs: ConnectString = "a:1, b:2 ,[::1]:3,[fe80::1],c/x/y".parse().unwrap();
        assert_eq!(
            cs.hosts(),
            &[
                ("a".into(), 1),
                ("b".into(), 2),
                ("::1".into(), 3),
                ("fe80::1".into(), 2181),
                ("c".into(), 2181)
            ]
        );
        assert_eq!(cs.chroot(), Some("/x/y"));
        assert_eq!("a:1/".parse::<ConnectString>().unwrap().chroot(), None);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in ["", "/app", "a:x", "a:1/b/", "a:1//b", "[::1", "a:70000"] {
            assert!(bad.parse::<ConnectString>().is_err(), "{bad:?}");
        }
    }
}
