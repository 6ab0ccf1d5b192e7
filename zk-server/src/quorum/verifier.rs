//! Ensemble members and the majority quorum over them, as Java's `QuorumPeer.QuorumServer` and
//! `QuorumMaj` parse and print them. The printed form (`QuorumMaj.toString()`) is what
//! `/zookeeper/config` holds and what travels in election notifications and NEWLEADER:
//!
//! ```text
//! server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181
//! server.2=127.0.0.1:2889:3889:observer
//! version=100000000
//! ```

use super::java_order::{hash_map_long_order, properties_order};
use crate::config::{read_properties, ConfigError, PeerType};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// One quorum/election address pair of a member (several with `multiAddress.enabled`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// The host as Java prints it (`InetSocketAddress.getHostString()`): names as written,
    /// IP literals in Java's canonical form (IPv6 uncompressed, without brackets).
    pub host: String,
    /// Port followers connect to the leader on.
    pub quorum_port: u16,
    /// Port leader election runs on.
    pub election_port: u16,
}

/// Where a member serves clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress {
    /// Host as Java prints it; `0.0.0.0` when only a port was given.
    pub host: String,
    /// The client port.
    pub port: u16,
}

impl ClientAddress {
    /// Whether this is the wildcard address (Java's `isAnyLocalAddress`).
    pub fn is_any_local(&self) -> bool {
        self.host == "0.0.0.0" || self.host == "0:0:0:0:0:0:0:0"
    }
}

/// One `server.N` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumServer {
    /// The server id `N`.
    pub id: i64,
    /// Quorum and election addresses (one unless multi-address).
    pub addresses: Vec<ServerAddress>,
    /// Participant (votes) or observer.
    pub peer_type: PeerType,
    /// The client address, from the `;[host:]port` part or (for this server) zoo.cfg's
    /// `clientPort`.
    pub client_address: Option<ClientAddress>,
    /// The client address came from zoo.cfg, not the server line: it is not printed.
    pub client_address_from_static: bool,
}

const WRONG_FORMAT: &str = " does not have the form server_config or server_config;client_config where server_config is the pipe separated list of host:port:port or host:port:port:type and client_config is port or host:port";

/// Java's `String.split` on one character: trailing empty parts are dropped.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    if s.is_empty() {
        return vec![""];
    }
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// `ConfigUtils.getHostAndPort`: `host:port[:...]` or `[ipv6]:port[:...]`.
fn host_and_port(key: &str, s: &str) -> Result<Vec<String>, ConfigError> {
    let Some(rest) = s.strip_prefix('[') else {
        return Ok(java_split(s, ':').into_iter().map(str::to_owned).collect());
    };
    let Some(close) = rest.find(']') else {
        return Err(bad(
            key,
            format!("{s} starts with '[' but has no matching ']:'"),
        ));
    };
    let after = &rest[close + 1..];
    if after.len() == 1 {
        return Err(bad(key, format!("{s} doesn't have a port after colon")));
    }
    if after.is_empty() {
        return Ok(vec![s.replace(['[', ']'], "")]);
    }
    // Java skips the character after `]` without checking that it is a colon.
    let mut out = vec![rest[..close].to_owned()];
    let tail = after.char_indices().nth(1).map_or("", |(i, _)| &after[i..]);
    out.extend(java_split(tail, ':').into_iter().map(str::to_owned));
    Ok(out)
}

/// How Java prints a host given as text: IP literals canonical, names as written.
pub(crate) fn java_host_string(host: &str) -> String {
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return v4.to_string();
    }
    match host.parse::<Ipv6Addr>() {
        Ok(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
        Err(_) => host.to_owned(),
    }
}

/// `delimitedHostString`: IPv6 hosts in brackets.
pub(crate) fn delimited(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `Integer.parseInt` then `InetSocketAddress`'s port check, with Java's messages.
fn port(key: &str, host: &str, text: &str) -> Result<u16, ConfigError> {
    let value: i32 = text
        .parse()
        .map_err(|_| bad(key, format!("Address unresolved: {host}:{text}")))?;
    u16::try_from(value).map_err(|_| bad(key, format!("port out of range:{value}")))
}

impl QuorumServer {
    /// Parses the value of `server.<id>` as Java's `QuorumServer` does;
    /// `multi_address_enabled` is the `zookeeper.multiAddress.enabled` system property.
    pub fn parse(id: i64, value: &str, multi_address_enabled: bool) -> Result<Self, ConfigError> {
        let key = format!("server.{id}");
        let key = key.as_str();
        let wrong = || bad(key, format!("{value}{WRONG_FORMAT}"));
        let server_client = java_split(value, ';');
        let Some(server_part) = server_client.first() else {
            return Err(wrong());
        };
        let mut client_address = None;
        if server_client.len() == 2 {
            let parts = host_and_port(key, server_client[1])?;
            if parts.len() > 2 {
                return Err(wrong());
            }
            let host = if parts.len() == 2 {
                &parts[0]
            } else {
                "0.0.0.0"
            };
            // Java names the (still unset) hostname field here: "null".
            let text = &parts[parts.len() - 1];
            let port = port(key, "null", text)?;
            client_address = Some(ClientAddress {
                host: java_host_string(host),
                port,
            });
        }
        let server_addresses = java_split(server_part, '|');
        if !multi_address_enabled && server_addresses.len() > 1 {
            return Err(bad(key, format!("Multiple address feature is disabled, but multiple addresses were specified for sid {id}")));
        }
        let mut addresses = Vec::new();
        let mut role = None;
        for address in server_addresses {
            let parts = host_and_port(key, address)?;
            if server_client.len() > 2 || parts.len() < 3 || parts.len() > 4 {
                return Err(wrong());
            }
            let host = &parts[0];
            let quorum_port = port(key, host, &parts[1])?;
            let election_port = port(key, host, &parts[2])?;
            if quorum_port == election_port {
                return Err(bad(key, format!("Client and election port must be different! Please update the configuration file on server.{id}")));
            }
            if let Some(text) = parts.get(3) {
                let this = match text.trim().to_lowercase().as_str() {
                    "observer" => PeerType::Observer,
                    "participant" => PeerType::Participant,
                    _ => return Err(bad(key, format!("Unrecognised peertype: {text}"))),
                };
                if role.is_some_and(|r| r != this) {
                    return Err(bad(key, "Multiple addresses should have similar roles"));
                }
                role = Some(this);
            }
            addresses.push(ServerAddress {
                host: java_host_string(host),
                quorum_port,
                election_port,
            });
        }
        Ok(QuorumServer {
            id,
            addresses,
            peer_type: role.unwrap_or(PeerType::Participant),
            client_address,
            client_address_from_static: false,
        })
    }

    /// The value Java prints after `server.<id>=` (`QuorumServer.toString()`).
    pub fn to_config_value(&self) -> String {
        let mut sorted: Vec<&ServerAddress> = self.addresses.iter().collect();
        sorted.sort_by(|a, b| a.host.cmp(&b.host));
        let mut out = sorted
            .iter()
            .map(|a| {
                format!(
                    "{}:{}:{}",
                    delimited(&a.host),
                    a.quorum_port,
                    a.election_port
                )
            })
            .collect::<Vec<_>>()
            .join("|");
        out.push_str(match self.peer_type {
            PeerType::Participant => ":participant",
            PeerType::Observer => ":observer",
        });
        if let Some(c) = self
            .client_address
            .as_ref()
            .filter(|_| !self.client_address_from_static)
        {
            out.push_str(&format!(";{}:{}", delimited(&c.host), c.port));
        }
        out
    }
}

/// The members of an ensemble and their majority quorum (Java's `QuorumMaj`), with the
/// config version (a zxid; 0 for a config nobody committed yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumMaj {
    /// Members in Java's `HashMap<Long, _>` order, the order Java prints them in.
    members: Vec<QuorumServer>,
    /// The config version.
    pub version: i64,
}

/// Whether a config key makes Java build a hierarchical verifier instead of `QuorumMaj`.
pub(crate) fn is_hierarchical_key(key: &str) -> bool {
    key.starts_with("group") || key.starts_with("weight")
}

impl QuorumMaj {
    /// Builds the verifier from properties in Java's `Properties` iteration order (see
    /// [`QuorumMaj::from_text`]): `server.N` keys become members, `version` (hex) the
    /// version; other keys are left to the caller.
    pub(crate) fn from_entries(
        entries: &[(String, String)],
        multi_address_enabled: bool,
    ) -> Result<Self, ConfigError> {
        let mut members: Vec<QuorumServer> = Vec::new();
        let mut version = 0;
        for (key, value) in entries {
            if let Some(id) = key.strip_prefix("server.") {
                let id: i64 = id
                    .parse()
                    .map_err(|_| bad(key, format!("{id:?} is not a server id")))?;
                let server = QuorumServer::parse(id, value, multi_address_enabled)?;
                match members.iter_mut().find(|m| m.id == id) {
                    Some(m) => *m = server,
                    None => members.push(server),
                }
            } else if key == "version" {
                version = i64::from_str_radix(value, 16)
                    .map_err(|_| bad("version", format!("{value:?} is not a hex version")))?;
            }
        }
        let order = hash_map_long_order(members.iter().map(|m| m.id));
        members.sort_by_key(|m| order.iter().position(|&id| id == m.id));
        Ok(QuorumMaj { members, version })
    }

    /// Parses config text (`/zookeeper/config`, a notification's or NEWLEADER's config, a
    /// dynamic file) as Java's `QuorumPeer.configFromString`: only `server.N` and `version`
    /// keys are allowed.
    pub fn from_text(text: &str, multi_address_enabled: bool) -> Result<Self, ConfigError> {
        let entries = properties_order(read_properties(text));
        if let Some((key, _)) = entries
            .iter()
            .find(|(k, _)| !k.starts_with("server.") && k != "version")
        {
            return Err(if is_hierarchical_key(key) {
                bad(key, "hierarchical quorums (group/weight) are not supported")
            } else {
                bad(key, format!("Unrecognised parameter: {key}"))
            });
        }
        Self::from_entries(&entries, multi_address_enabled)
    }

    /// This config under a new version, as Java's leader makes it when it first commits a
    /// config (`configFromString(curQV.toString())`, then `setVersion(zxid)`): re-reading the
    /// text gives Java's member order for the text (it can differ from the order zoo.cfg gave)
    /// and drops client addresses that came from zoo.cfg.
    pub fn with_version(&self, version: i64) -> QuorumMaj {
        let mut qv = QuorumMaj::from_text(&self.to_config_text(), true)
            .expect("a printed config parses back");
        qv.version = version;
        qv
    }

    /// Every member, in the order Java prints them.
    pub fn members(&self) -> &[QuorumServer] {
        &self.members
    }

    /// The member with this id.
    pub fn member(&self, id: i64) -> Option<&QuorumServer> {
        self.members.iter().find(|m| m.id == id)
    }

    pub(crate) fn member_mut(&mut self, id: i64) -> Option<&mut QuorumServer> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// The participants (they vote and may lead).
    pub fn voting_members(&self) -> impl Iterator<Item = &QuorumServer> {
        self.members
            .iter()
            .filter(|m| m.peer_type == PeerType::Participant)
    }

    /// The observers.
    pub fn observing_members(&self) -> impl Iterator<Item = &QuorumServer> {
        self.members
            .iter()
            .filter(|m| m.peer_type == PeerType::Observer)
    }

    /// Whether `ids` hold a majority of the voting members (ids of observers and strangers
    /// do not count): more than half of them, as `QuorumMaj.containsQuorum`.
    pub fn is_quorum(&self, ids: &BTreeSet<i64>) -> bool {
        let voting = self.voting_members().count();
        let acks = self
            .voting_members()
            .filter(|m| ids.contains(&m.id))
            .count();
        acks > voting / 2
    }

    /// The text Java prints (`QuorumMaj.toString()`): `server.N=...` lines in Java's order,
    /// then `version=<hex>` with no newline after it. This is `/zookeeper/config`'s data.
    pub fn to_config_text(&self) -> String {
        let mut out = String::new();
        for m in &self.members {
            out.push_str(&format!("server.{}={}\n", m.id, m.to_config_value()));
        }
        out.push_str(&format!("version={:x}", self.version));
        out
    }

    /// A dynamic config file as `QuorumPeerConfig.writeDynamicConfig` writes it: the lines of
    /// [`QuorumMaj::to_config_text`] (without `version` unless `keep_version`, as in
    /// `zoo.cfg.dynamic.next`) sorted as strings, joined by `\n`, no final newline.
    pub fn dynamic_file_text(&self, keep_version: bool) -> String {
        let mut lines: Vec<String> = properties_order(read_properties(&self.to_config_text()))
            .into_iter()
            .filter(|(k, _)| keep_version || !k.starts_with("version"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        // Java sorts UTF-16 strings; for these ASCII lines that is byte order.
        lines.sort();
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(value: &str) -> Result<QuorumServer, ConfigError> {
        QuorumServer::parse(1, value, false)
    }

    #[test]
    fn server_lines_print_as_java_prints_them() {
        for (line, printed) in [
            ("127.0.0.1:2888:3888", "127.0.0.1:2888:3888:participant"),
            ("h:1:2:observer", "h:1:2:observer"),
            ("h:1:2:Participant;2181", "h:1:2:participant;0.0.0.0:2181"),
            ("h:1:2;127.0.0.1:2181", "h:1:2:participant;127.0.0.1:2181"),
            ("h:1:2;", "h:1:2:participant"),
            ("h:1:2:", "h:1:2:participant"),
            (
                "[::1]:1:2;[::1]:3",
                "[0:0:0:0:0:0:0:1]:1:2:participant;[0:0:0:0:0:0:0:1]:3",
            ),
            ("[::ffff:127.0.0.1]:1:2", "127.0.0.1:1:2:participant"),
        ] {
            assert_eq!(server(line).unwrap().to_config_value(), printed, "{line}");
        }
        let s = QuorumServer::parse(3, "b:1:2|a:3:4", true).unwrap();
        assert_eq!(s.to_config_value(), "a:3:4|b:1:2:participant");
    }

    #[test]
    fn bad_server_lines_fail_with_javas_messages() {
        for (line, message) in [
            ("h:1", format!("h:1{WRONG_FORMAT}")),
            ("h:1:2:observer:x", format!("h:1:2:observer:x{WRONG_FORMAT}")),
            ("h:1:2;a:b:3", format!("h:1:2;a:b:3{WRONG_FORMAT}")),
            ("h:x:2", "Address unresolved: h:x".into()),
            ("h:1:2;x", "Address unresolved: null:x".into()),
            ("h:1:70000", "port out of range:70000".into()),
            ("h:1:1", "Client and election port must be different! Please update the configuration file on server.1".into()),
            ("h:1:2:voter", "Unrecognised peertype: voter".into()),
            ("a:1:2|b:3:4", "Multiple address feature is disabled, but multiple addresses were specified for sid 1".into()),
            ("[::1:1:2", "[::1:1:2 starts with '[' but has no matching ']:'".into()),
            ("[::1]:", "[::1]: doesn't have a port after colon".into()),
        ] {
            let err = server(line).unwrap_err();
            assert_eq!((err.key.as_str(), err.message), ("server.1", message), "{line}");
        }
    }

    #[test]
    fn majority_counts_voting_members_only() {
        let qv = QuorumMaj::from_text(
            "server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:6\nserver.4=h:7:8:observer\n",
            false,
        )
        .unwrap();
        let set = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<i64>>();
        assert!(!qv.is_quorum(&set(&[1])));
        assert!(!qv.is_quorum(&set(&[1, 4, 9])));
        assert!(qv.is_quorum(&set(&[1, 3])));
        assert!(qv.is_quorum(&set(&[1, 2, 3, 4])));
        assert_eq!(qv.voting_members().count(), 3);
        assert_eq!(
            qv.observing_members().map(|m| m.id).collect::<Vec<_>>(),
            [4]
        );
        let four = QuorumMaj::from_text(
            "server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:6\nserver.5=h:7:8",
            false,
        )
        .unwrap();
        assert!(!four.is_quorum(&set(&[1, 2])));
        assert!(four.is_quorum(&set(&[1, 2, 5])));
    }

    #[test]
    fn config_text_round_trips_in_javas_order() {
        // Printed by Java 3.8 as /zookeeper/config (16 and 1, 17 share HashMap bins 0 and 1).
        let java = "server.16=127.0.0.1:34727:59859:observer;127.0.0.1:33827\nserver.1=localhost:53749:52211:participant;127.0.0.1:55253\nserver.17=127.0.0.1:37593:56879:participant;0.0.0.0:37783\nserver.34=127.0.0.1:59345:39001:participant\nversion=100000000";
        let qv = QuorumMaj::from_text(java, false).unwrap();
        assert_eq!(qv.version, 0x1_0000_0000);
        assert_eq!(qv.to_config_text(), java);
        let ids: Vec<i64> = qv.members().iter().map(|m| m.id).collect();
        assert_eq!(ids, [16, 1, 17, 34]);
        assert_eq!(qv.to_config_text().len(), 235);
    }

    #[test]
    fn config_text_rejects_other_keys() {
        let err = QuorumMaj::from_text("server.1=h:1:2\ntickTime=2000", false).unwrap_err();
        assert_eq!(err.message, "Unrecognised parameter: tickTime");
        assert!(QuorumMaj::from_text("group.1=1:2", false).is_err());
        assert!(QuorumMaj::from_text("server.x=h:1:2", false).is_err());
        assert!(QuorumMaj::from_text("version=zz", false).is_err());
    }
}
