//! [`answer`]: the dispatch from a word to its text and [`Action`]. The one-line words are
//! answered here; the others are formatted by their word family's module.

use std::fmt::Write as _;

use zk_proto::frame::FourLetterWord;

use super::{conf, dump, envi, is_enabled, java_name, mntr, stat};
use super::{AdminSnapshot, ServerMode, NOT_SERVING};

/// A side effect the caller performs for a word (the answer's text does not depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `crst`: reset every connection's stats (packets, latencies, last op/cxid/zxid/response).
    ResetConnectionStats,
    /// `srst`: reset the server stats (request latency, packet counts, client response sizes,
    /// every counter and summary; a leader also its proposal sizes).
    ResetServerStats,
    /// `stmk`: set the text trace mask.
    SetTraceMask(i64),
}

/// What to do for a word: write `bytes`, perform `action`, close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The reply, possibly empty (then just close).
    pub bytes: Vec<u8>,
    /// The side effect, if any.
    pub action: Option<Action>,
}

/// The answer to `word` (with the mask that followed `stmk`), given the whitelist and the
/// server's state.
///
/// - `ruok` `imok`; `isro` `rw`, `ro` on a read-only server, `null` when not serving; `gtmk`
///   the trace mask and `stmk` the new one, in decimal; none of these ends with a newline.
/// - `srvr`, `stat` (with a `Clients:` block), `conf`, `cons`, `dirs`, `dump`, `envi`, `wchs`,
///   `wchc`, `wchp`, `mntr` as Java formats them; `crst`/`srst` a fixed line and an
///   [`Action`]; `hash` one `<zxid hex>: <digest>` line per digest-log entry.
/// - The telnet bytes: nothing (Java closes the connection).
///
/// `mntr` prints `zk_version`, `zk_server_state`, for ensemble members `zk_peer_state` (and
/// for an observer `zk_observer_master_id`), then every gauge Java 3.8 has: `ephemerals_count`,
/// `num_alive_connections`, `avg_latency`, `outstanding_requests`, `znode_count`,
/// `global_sessions`, `non_mtls_remote_conn_count`, `last_client_response_size`,
/// `packets_sent`, `packets_received`, `max_client_response_size`,
/// `connection_drop_probability`, `watch_count`, `auth_failed_count`, `min_latency`,
/// `max_file_descriptor_count`, `approximate_data_size`, `open_file_descriptor_count`,
/// `local_sessions`, `uptime`, `max_latency`, `outstanding_tls_handshake`,
/// `min_client_response_size`, `non_mtls_local_conn_count` (plus the leader's `learners`,
/// `synced_followers`, `synced_non_voting_followers`, `synced_observers`, `pending_syncs`,
/// `leader_uptime`, `{last,min,max}_proposal_size` and `quorum_size`), then the counters of
/// [`crate::metrics::Counter`] and the summaries of [`crate::metrics::SummaryKind`], all in Java's order. Counters and
/// summaries in the snapshot that those lists do not name follow, sorted by name.
pub fn answer(
    word: FourLetterWord,
    stmk_mask: Option<i64>,
    whitelist: &[String],
    snapshot: &AdminSnapshot,
) -> Answer {
    if !is_enabled(word, whitelist) {
        return Answer {
            bytes: format!(
                "{} is not executed because it is not in the whitelist.\n",
                java_name(word)
            )
            .into_bytes(),
            action: None,
        };
    }
    let s = snapshot;
    let mut out = String::new();
    let mut action = None;
    match word {
        // Words that answer whether or not the server is serving.
        FourLetterWord::Ruok => out.push_str("imok"),
        FourLetterWord::Gtmk => out.push_str(&s.trace_mask.to_string()),
        FourLetterWord::Stmk => {
            // Java echoes the mask it read; without the 8 bytes it fails and closes.
            if let Some(mask) = stmk_mask {
                out.push_str(&mask.to_string());
                action = Some(Action::SetTraceMask(mask));
            }
        }
        FourLetterWord::Envi => envi::envi(&mut out, s),
        FourLetterWord::TelnetClose => {}
        FourLetterWord::Isro => out.push_str(match (s.serving, s.mode) {
            (false, _) => "null",
            (true, ServerMode::ReadOnly) => "ro",
            (true, _) => "rw",
        }),
        FourLetterWord::Hash if !s.serving => out.push_str(NOT_SERVING),
        FourLetterWord::Hash => {
            for (zxid, digest) in &s.digest_log {
                let _ = writeln!(out, "{zxid:x}: {digest}");
            }
        }
        // The others need a serving server.
        _ if !s.serving => {
            out.push_str(NOT_SERVING);
            out.push('\n');
        }
        FourLetterWord::Srvr => stat::stat(&mut out, s, false),
        FourLetterWord::Stat => stat::stat(&mut out, s, true),
        FourLetterWord::Srst => {
            out.push_str("Server stats reset.\n");
            action = Some(Action::ResetServerStats);
        }
        FourLetterWord::Crst => {
            out.push_str("Connection stats reset.\n");
            action = Some(Action::ResetConnectionStats);
        }
        FourLetterWord::Conf => conf::conf(&mut out, s),
        FourLetterWord::Cons => stat::cons(&mut out, s),
        FourLetterWord::Dirs => {
            let _ = writeln!(out, "datadir_size: {}", s.data_dir_size);
            let _ = writeln!(out, "logdir_size: {}", s.log_dir_size);
        }
        FourLetterWord::Dump => dump::dump(&mut out, s),
        FourLetterWord::Wchs => dump::wchs(&mut out, s),
        FourLetterWord::Wchc => dump::wchc(&mut out, s),
        FourLetterWord::Wchp => dump::wchp(&mut out, s),
        FourLetterWord::Mntr => mntr::mntr(&mut out, s),
    }
    Answer {
        bytes: out.into_bytes(),
        action,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{list, BufferStats, ConfInfo, LeaderStats, QuorumConf, QuorumStats};
    use super::*;
    use crate::config::PeerType;

    #[test]
    fn actions() {
        let all = list(&["*"]);
        let snap = AdminSnapshot::default();
        let a = answer(FourLetterWord::Srst, None, &all, &snap);
        assert_eq!(a.bytes, b"Server stats reset.\n");
        assert_eq!(a.action, Some(Action::ResetServerStats));
        let a = answer(FourLetterWord::Crst, None, &all, &snap);
        assert_eq!(a.bytes, b"Connection stats reset.\n");
        assert_eq!(a.action, Some(Action::ResetConnectionStats));
        let a = answer(FourLetterWord::Stmk, Some(0x112), &all, &snap);
        assert_eq!(a.bytes, b"274");
        assert_eq!(a.action, Some(Action::SetTraceMask(0x112)));
        let a = answer(FourLetterWord::Stmk, Some(-1), &all, &snap);
        assert_eq!(a.bytes, b"-1");
        let a = answer(FourLetterWord::Gtmk, None, &all, &snap);
        assert_eq!(a.bytes, b"306");
        assert_eq!(a.action, None);
    }

    #[test]
    fn not_serving() {
        let all = list(&["*"]);
        let snap = AdminSnapshot {
            serving: false,
            ..AdminSnapshot::default()
        };
        let text = |w| String::from_utf8(answer(w, None, &all, &snap).bytes).unwrap();
        for w in [
            FourLetterWord::Srvr,
            FourLetterWord::Stat,
            FourLetterWord::Conf,
            FourLetterWord::Cons,
            FourLetterWord::Dump,
            FourLetterWord::Dirs,
            FourLetterWord::Wchs,
            FourLetterWord::Wchc,
            FourLetterWord::Wchp,
            FourLetterWord::Mntr,
            FourLetterWord::Srst,
            FourLetterWord::Crst,
        ] {
            assert_eq!(text(w), format!("{NOT_SERVING}\n"), "{w:?}");
        }
        assert_eq!(answer(FourLetterWord::Srst, None, &all, &snap).action, None);
        assert_eq!(text(FourLetterWord::Hash), NOT_SERVING);
        assert_eq!(text(FourLetterWord::Isro), "null");
        assert_eq!(text(FourLetterWord::Ruok), "imok");
        assert!(text(FourLetterWord::Envi).starts_with("Environment:\nzookeeper.version="));
    }

    #[test]
    fn quorum_words() {
        let all = list(&["*"]);
        let snap = AdminSnapshot {
            mode: ServerMode::Leader,
            version: "V".into(),
            conf: ConfInfo {
                client_port: 2181,
                data_dir: "/d/version-2".into(),
                data_log_dir: "/l/version-2".into(),
                tick_time_ms: 2000,
                min_session_timeout_ms: 4000,
                max_session_timeout_ms: 40000,
                server_id: 1,
                quorum: Some(QuorumConf {
                    init_limit: 10,
                    sync_limit: 5,
                    election_alg: 3,
                    election_ports: vec![3888],
                    quorum_ports: vec![2888, 2889],
                    peer_type: PeerType::Participant,
                    membership: Some(
                        "server.1=a:2888:3888:participant;0.0.0.0:2181\nversion=100000000".into(),
                    ),
                }),
                ..ConfInfo::default()
            },
            quorum: Some(QuorumStats {
                peer_state: "leading - broadcast".into(),
                quorum_size: 3,
                synced_observers: Some(0),
                observer_master_id: None,
                leader_id: Some(1),
                observers: Vec::new(),
                leader: Some(LeaderStats {
                    learners: 2,
                    synced_followers: 2,
                    synced_non_voting_followers: 0,
                    pending_syncs: 0,
                    leader_uptime_ms: 5000,
                    proposal_sizes: BufferStats {
                        last: 60,
                        min: 36,
                        max: 120,
                    },
                }),
            }),
            ..AdminSnapshot::default()
        };
        let text = |w| String::from_utf8(answer(w, None, &all, &snap).bytes).unwrap();
        assert_eq!(
            text(FourLetterWord::Conf),
            "clientPort=2181\nsecureClientPort=-1\ndataDir=/d/version-2\ndataDirSize=0\n\
             dataLogDir=/l/version-2\ndataLogSize=0\ntickTime=2000\nmaxClientCnxns=60\n\
             minSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=-1\n\
             serverId=1\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\nelectionPort=3888\n\
             quorumPort=2888|2889\npeerType=0\nmembership: \n\
             server.1=a:2888:3888:participant;0.0.0.0:2181\nversion=100000000"
        );
        let srvr = text(FourLetterWord::Srvr);
        assert!(
            srvr.ends_with("Mode: leader\nNode count: 0\nProposal sizes last/min/max: 60/36/120\n")
        );
        let mntr = text(FourLetterWord::Mntr);
        let keys: Vec<&str> = mntr
            .lines()
            .take(40)
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        assert_eq!(
            &keys[..8],
            &[
                "zk_version",
                "zk_server_state",
                "zk_peer_state",
                "zk_ephemerals_count",
                "zk_num_alive_connections",
                "zk_avg_latency",
                "zk_min_proposal_size",
                "zk_outstanding_requests"
            ]
        );
        assert!(mntr.contains("zk_peer_state\tleading - broadcast\n"));
        assert!(mntr.contains("zk_learners\t2\n"));
        assert!(mntr.contains("zk_leader_uptime\t5000\n"));
        assert!(mntr.contains("zk_quorum_size\t3\n"));
        assert!(mntr.contains("zk_max_proposal_size\t120\n"));

        let ro = AdminSnapshot {
            mode: ServerMode::ReadOnly,
            version: "V".into(),
            ..AdminSnapshot::default()
        };
        let a = answer(FourLetterWord::Srvr, None, &all, &ro);
        assert!(String::from_utf8(a.bytes).unwrap().starts_with(
            "Zookeeper version: V\nREAD-ONLY mode; serving only read-only clients\nLatency"
        ));
        assert_eq!(answer(FourLetterWord::Isro, None, &all, &ro).bytes, b"ro");
    }

    #[test]
    fn hash_lines() {
        let all = list(&["*"]);
        let snap = AdminSnapshot {
            digest_log: vec![(0x80, 1_234_567_890), (0x1_0000_0100, -5)],
            ..AdminSnapshot::default()
        };
        assert_eq!(
            answer(FourLetterWord::Hash, None, &all, &snap).bytes,
            b"80: 1234567890\n100000100: -5\n"
        );
        assert!(
            answer(FourLetterWord::Hash, None, &all, &AdminSnapshot::default())
                .bytes
                .is_empty()
        );
    }
}
