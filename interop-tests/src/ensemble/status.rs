//! What a member's `srvr` four-letter word says: its role and last zxid.

/// A member's role as `srvr` reports it (`Mode: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `leader`.
    Leader,
    /// `follower`.
    Follower,
    /// `observer`.
    Observer,
    /// `standalone`.
    Standalone,
    /// `read-only`.
    ReadOnly,
    /// Anything else, verbatim.
    Other(String),
}

impl Mode {
    fn parse(text: &str) -> Mode {
        match text {
            "leader" => Mode::Leader,
            "follower" => Mode::Follower,
            "observer" => Mode::Observer,
            "standalone" => Mode::Standalone,
            "read-only" => Mode::ReadOnly,
            other => Mode::Other(other.to_owned()),
        }
    }
}

/// What a serving member's `srvr` says about its role and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// `Mode:`.
    pub mode: Mode,
    /// `Zxid:`, the last transaction the member applied.
    pub zxid: i64,
}

impl ServerStatus {
    /// Parses a `srvr` reply; `None` when it has no `Mode:` line (a member that is not serving
    /// answers "This ZooKeeper instance is not currently serving requests").
    pub fn parse(srvr: &str) -> Option<ServerStatus> {
        let mut mode = None;
        let mut zxid = None;
        for line in srvr.lines() {
            if let Some(m) = line.strip_prefix("Mode: ") {
                mode = Some(Mode::parse(m.trim()));
            } else if let Some(z) = line.strip_prefix("Zxid: ") {
                let z = z.trim();
                zxid = z
                    .strip_prefix("0x")
                    .map_or_else(|| z.parse().ok(), |hex| i64::from_str_radix(hex, 16).ok());
            }
        }
        Some(ServerStatus {
            mode: mode?,
            zxid: zxid?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srvr_reply_is_parsed() {
        let reply = "Zookeeper version: 3.8.4-debian\nLatency min/avg/max: 0/0.0/0\n\
                     Received: 3\nSent: 2\nConnections: 1\nOutstanding: 0\nZxid: 0x200000007\n\
                     Mode: follower\nNode count: 5\n";
        assert_eq!(
            ServerStatus::parse(reply),
            Some(ServerStatus {
                mode: Mode::Follower,
                zxid: 0x2_0000_0007
            })
        );
        assert_eq!(
            ServerStatus::parse("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
    }
}
