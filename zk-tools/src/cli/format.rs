//! zkCli.sh's text: the Stat block, ACL lines and parsing, and error messages.

use std::fmt::Write as _;

use zk_client::zk_proto::data::{Acl, Id, Stat};
use zk_client::zk_proto::path::{validate_create_path, validate_path, PathError};
use zk_client::zk_proto::{perms, ErrorCode};
use zk_client::{Error, ErrorKind};

use super::date::java_date;

/// The Stat block as zkCli.sh's `StatPrinter` prints it (one `name = value` line each).
pub fn stat_block(stat: &Stat) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "cZxid = 0x{:x}", stat.czxid);
    let _ = writeln!(s, "ctime = {}", java_date(stat.ctime));
    let _ = writeln!(s, "mZxid = 0x{:x}", stat.mzxid);
    let _ = writeln!(s, "mtime = {}", java_date(stat.mtime));
    let _ = writeln!(s, "pZxid = 0x{:x}", stat.pzxid);
    let _ = writeln!(s, "cversion = {}", stat.cversion);
    let _ = writeln!(s, "dataVersion = {}", stat.version);
    let _ = writeln!(s, "aclVersion = {}", stat.aversion);
    let _ = writeln!(s, "ephemeralOwner = 0x{:x}", stat.ephemeral_owner);
    let _ = writeln!(s, "dataLength = {}", stat.data_length);
    let _ = writeln!(s, "numChildren = {}", stat.num_children);
    s
}

/// Permission bits as `ZKUtil.getPermString` spells them (`cdrwa` order).
pub fn perm_string(bits: i32) -> String {
    [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// A string as jute's `ToStringOutputArchive` writes it: a leading `'` and `%XX` escapes.
fn jute_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("%00"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            ',' => out.push_str("%2C"),
            '}' => out.push_str("%7D"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

/// One `getAcl` entry: Java prints `id + ": " + perms`, and a jute record's `toString` ends
/// with a newline, so each entry takes two lines (`'world,'anyone` then `: cdrwa`).
pub fn acl_entry(acl: &Acl) -> String {
    format!(
        "{},{}\n: {}",
        jute_string(&acl.id.scheme),
        jute_string(&acl.id.id),
        perm_string(acl.perms)
    )
}

/// Parses zkCli's ACL syntax: comma-separated `scheme:id:perms` entries, where the id is
/// everything between the first and the last colon (`digest:user:hash:rw`, `auth::cdrwa`,
/// `ip:10.0.0.0/8:r`) and perms are letters of `cdrwa`.
///
/// Unlike zkCli.sh, which prints a warning and drops a malformed entry or an unknown perm letter
/// (and then applies whatever is left), this rejects the whole list.
pub fn parse_acl(text: &str) -> Result<Vec<Acl>, String> {
    let mut acl = Vec::new();
    for entry in text.split(',') {
        let (first, last) = match (entry.find(':'), entry.rfind(':')) {
            (Some(f), Some(l)) if f != l => (f, l),
            _ => return Err(format!("{entry} does not have the form scheme:id:perm")),
        };
        let mut bits = 0;
        for c in entry[last + 1..].chars() {
            bits |= match c {
                'r' => perms::READ,
                'w' => perms::WRITE,
                'c' => perms::CREATE,
                'd' => perms::DELETE,
                'a' => perms::ADMIN,
                other => return Err(format!("Unknown perm type: {other}")),
            };
        }
        acl.push(Acl::new(
            bits,
            Id::new(&entry[..first], &entry[first + 1..last]),
        ));
    }
    Ok(acl)
}

/// `KeeperException.getCodeMessage`.
fn code_message(code: ErrorCode) -> String {
    match code {
        ErrorCode::Ok => "ok",
        ErrorCode::SystemError => "SystemError",
        ErrorCode::RuntimeInconsistency => "RuntimeInconsistency",
        ErrorCode::DataInconsistency => "DataInconsistency",
        ErrorCode::ConnectionLoss => "ConnectionLoss",
        ErrorCode::MarshallingError => "MarshallingError",
        ErrorCode::NewConfigNoQuorum => "NewConfigNoQuorum",
        ErrorCode::ReconfigInProgress => "ReconfigInProgress",
        ErrorCode::Unimplemented => "Unimplemented",
        ErrorCode::OperationTimeout => "OperationTimeout",
        ErrorCode::BadArguments => "BadArguments",
        ErrorCode::ApiError => "APIError",
        ErrorCode::NoNode => "NoNode",
        ErrorCode::NoAuth => "NoAuth",
        ErrorCode::BadVersion => "BadVersion",
        ErrorCode::NoChildrenForEphemerals => "NoChildrenForEphemerals",
        ErrorCode::NodeExists => "NodeExists",
        ErrorCode::InvalidAcl => "InvalidACL",
        ErrorCode::AuthFailed => "AuthFailed",
        ErrorCode::NotEmpty => "Directory not empty",
        ErrorCode::SessionExpired => "Session expired",
        ErrorCode::InvalidCallback => "Invalid callback",
        ErrorCode::SessionMoved => "Session moved",
        ErrorCode::NotReadOnly => "Not a read-only call",
        ErrorCode::EphemeralOnLocalSession => "Ephemeral node on local session",
        ErrorCode::NoWatcher => "No such watcher",
        ErrorCode::ReconfigDisabled => "Reconfig is disabled",
        ErrorCode::SessionClosedRequireSaslAuth => {
            "Session closed because client failed to authenticate"
        }
        ErrorCode::QuotaExceeded => "Quota has exceeded",
        ErrorCode::ThrottledOp => "Op throttled due to high load",
        other => return format!("Unknown error {}", other.name()),
    }
    .to_owned()
}

/// The message zkCli.sh prints for a failed operation on `path` (`CliWrapperException`): its
/// own wording for the common codes, else `KeeperErrorCode = <code> for <path>`.
pub fn error_message(err: &Error, path: &str) -> String {
    let code = match err.kind() {
        ErrorKind::NoNode => return format!("Node does not exist: {path}"),
        ErrorKind::NoChildrenForEphemerals => {
            return format!("Ephemerals cannot have children: {path}")
        }
        ErrorKind::NodeExists => return format!("Node already exists: {path}"),
        ErrorKind::NotEmpty => return format!("Node not empty: {path}"),
        ErrorKind::NotReadOnly => return format!("Not a read-only call: {path}"),
        ErrorKind::InvalidAcl => return format!("Acl is not valid : {path}"),
        ErrorKind::NoAuth => return format!("Insufficient permission : {path}"),
        ErrorKind::BadArguments => return format!("Arguments are not valid : {path}"),
        ErrorKind::BadVersion => return format!("version No is not valid : {path}"),
        ErrorKind::Closed => return "Not connected".to_owned(),
        ErrorKind::InvalidPath(msg)
        | ErrorKind::InvalidArgument(msg)
        | ErrorKind::Protocol(msg) => return msg.clone(),
        other => match other.code() {
            Some(ErrorCode::ReconfigInProgress) => {
                return "Another reconfiguration is in progress -- concurrent reconfigs not \
                        supported (yet)"
                    .to_owned()
            }
            Some(ErrorCode::NewConfigNoQuorum) => {
                return "No quorum of new config is connected and up-to-date with the leader of \
                        last commmitted config - try invoking reconfiguration after new servers \
                        are connected and synced"
                    .to_owned()
            }
            Some(ErrorCode::QuotaExceeded) => return format!("Quota has exceeded : {path}"),
            Some(code) => code,
            None => return other.to_string(),
        },
    };
    if path.is_empty() {
        format!("KeeperErrorCode = {}", code_message(code))
    } else {
        format!("KeeperErrorCode = {} for {path}", code_message(code))
    }
}

/// Java's `IllegalArgumentException` text for a bad path: the bare reason for the whole-path
/// checks, `Invalid path string "..." caused by ...` for the per-character ones.
fn path_error(e: PathError) -> String {
    if e.reason.contains(" @") {
        e.to_string()
    } else {
        e.reason
    }
}

/// Checks a path as Java's client does before sending, with Java's message.
pub fn check_path(path: &str) -> Result<(), String> {
    validate_path(path).map_err(path_error)
}

/// Checks a create path (`path + "1"` for sequential modes), with Java's message.
pub fn check_create_path(path: &str, sequential: bool) -> Result<(), String> {
    validate_create_path(path, sequential).map_err(path_error)
}

/// zkCli's `config -c`: `version host:port,host:port` from the dynamic configuration (the
/// client address after `;` in each `server.N` line).
pub fn client_config(config: &str) -> String {
    let mut version = String::new();
    let mut servers: Vec<(u64, Option<String>)> = Vec::new();
    for line in config.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "version" {
            version = value.to_owned();
        }
        let Some(id) = key.strip_prefix("server.") else {
            continue;
        };
        let client = value.split_once(';').map(|(_, addr)| {
            let addr = addr.trim();
            if addr.contains(':') {
                addr.to_owned()
            } else {
                format!("0.0.0.0:{addr}")
            }
        });
        servers.push((id.parse().unwrap_or(u64::MAX), client));
    }
    servers.sort_by_key(|(id, _)| *id);
    let list: Vec<String> = servers
        .into_iter()
        .map(|(_, addr)| addr.unwrap_or_default())
        .collect();
    format!("{version} {}", list.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_lines_match_java() {
        let acl = parse_acl("world:anyone:cdrwa,digest:u:h=:rw,auth::a,ip:10.0.0.0/8:r").unwrap();
        let lines: Vec<String> = acl.iter().map(acl_entry).collect();
        assert_eq!(
            lines,
            [
                "'world,'anyone\n: cdrwa",
                "'digest,'u:h=\n: rw",
                "'auth,'\n: a",
                "'ip,'10.0.0.0/8\n: r"
            ]
        );
        assert_eq!(
            parse_acl("world:anyone:rwx").unwrap_err(),
            "Unknown perm type: x"
        );
        assert_eq!(
            parse_acl("bad").unwrap_err(),
            "bad does not have the form scheme:id:perm"
        );
        assert_eq!(parse_acl("world:anyone:").unwrap()[0].perms, 0);
        assert_eq!(jute_string("a,b%}\n"), "'a%2Cb%25%7D%0A");
    }

    #[test]
    fn errors_match_cli_wrapper_exception() {
        assert_eq!(
            error_message(&ErrorKind::NoNode.into(), "/x"),
            "Node does not exist: /x"
        );
        assert_eq!(
            error_message(&ErrorKind::BadVersion.into(), "/x"),
            "version No is not valid : /x"
        );
        assert_eq!(
            error_message(&ErrorKind::Unimplemented.into(), "/x"),
            "KeeperErrorCode = Unimplemented for /x"
        );
        assert_eq!(
            error_message(&ErrorKind::SessionExpired.into(), "/x"),
            "KeeperErrorCode = Session expired for /x"
        );
        assert_eq!(
            check_path("x").unwrap_err(),
            "Path must start with / character"
        );
        assert_eq!(
            check_path("/a//b").unwrap_err(),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
        assert!(check_create_path("/a/", true).is_ok());
    }

    #[test]
    fn client_config_lists_client_addresses() {
        let cfg = "server.2=h2:2888:3888:participant;0.0.0.0:2182\n\
                   server.1=h1:2888:3888:participant;2181\nversion=100000000\n";
        assert_eq!(client_config(cfg), "100000000 0.0.0.0:2181,0.0.0.0:2182");
        assert_eq!(client_config(""), " ");
    }
}
