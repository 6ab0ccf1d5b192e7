//! The four-letter words (`ruok`, `srvr`, `mntr`, ...): what the server answers, formatted
//! byte for byte as a Java 3.8 server does (monitoring scripts, `zkServer.sh status` and zktop
//! parse these texts).
//!
//! Pure: no sockets and no clocks. When a word arrives, the server core fills an
//! [`AdminSnapshot`] (only if [`needs_snapshot`] says the word reads one), calls [`answer`],
//! performs [`Answer::action`] (a stats reset or a new trace mask), writes [`Answer::bytes`] and
//! closes the connection.
//!
//! # Whitelist
//!
//! As Java's `FourLetterCommands.isEnabled`: a word runs only if it is in
//! `4lw.commands.whitelist` (`*` means every word), and `srvr` always runs. Java also adds `isro`
//! when `readonlymode.enabled=true`; [`whitelist_from_property`] does both. A known word that
//! is not enabled is answered `<word> is not executed because it is not in the whitelist.\n`.
//!
//! # Version
//!
//! Clients read the server version from `srvr`, `stat`, `envi` and `mntr` to decide which
//! features to use, so we report a ZooKeeper version, not our crate's: [`full_version`] gives
//! `3.9.3-zk-rs-<CARGO_PKG_VERSION>, built on <build date>`, shaped like Java's
//! `<version>-<revision>, built on <date>`. Parsers that cut at the first `-` or `,` see `3.9.3`
//! (the 3.9 protocol is what this server speaks), and `zk-rs-...` stands where Java has its git
//! revision.
//!
//! # Differences from Java
//!
//! - Java prints hash sets (watches, ephemerals, expiry buckets, connections) in hash order; we
//!   print sessions and paths sorted, and connections in the order the snapshot lists them.
//! - `dump` dates are printed in UTC (Java uses the JVM's default zone; the capture was UTC).
//! - `mntr` prints a subset of Java's ~550 lines, see [`answer`] for the list.
//!
//! # Layout
//!
//! - `snapshot`: [`AdminSnapshot`], the state every word reads, and the role and quorum facts.
//! - `stats`: [`Summary`], [`Percentiles`], [`BufferStats`], the series the server keeps.
//! - `whitelist`: which words run (`4lw.commands.whitelist`).
//! - `answer`: [`answer`], the dispatch from a word to its text and [`Action`].
//! - `stat` (`srvr`, `stat`, `cons`), `conf`, `envi`, `dump` (`dump`, `wchs`, `wchc`, `wchp`),
//!   `mntr`: one formatter per word family, with the data only that family reads.
//! - `java_fmt`: Java's `toString` of doubles, dates and socket addresses, and its rounding.

mod answer;
mod conf;
mod dump;
mod envi;
mod java_fmt;
mod mntr;
mod snapshot;
mod stat;
mod stats;
mod whitelist;

pub use answer::{answer, Action, Answer};
pub use conf::{ConfInfo, QuorumConf};
pub use dump::{ConnectionRef, ExpiryBucket};
pub use envi::HostEnv;
pub use java_fmt::{
    java_build_date_utc, java_date_utc, java_double_to_string, java_rounded_avg, java_socket_addr,
};
pub use mntr::{gauge_values, monitor_values, MetricValue};
pub use snapshot::{AdminSnapshot, LeaderStats, LearnerInfo, QuorumStats, ServerMode};
pub use stat::ConnectionInfo;
pub use stats::{BufferStats, Percentiles, Summary};
pub use whitelist::{is_enabled, java_name, needs_snapshot, whitelist_from_property};

/// The ZooKeeper release whose protocol and features this server offers; the first part of the
/// version string every word reports.
pub const COMPAT_ZOOKEEPER_VERSION: &str = "3.9.3";

/// Java's default text trace mask (`ZooTrace`: client requests, server packets, sessions,
/// warnings), what `gtmk` answers until `stmk` changes it.
pub const DEFAULT_TRACE_MASK: i64 = 0x132;

/// What Java prints (followed by a newline for most words) while the server is not serving,
/// e.g. during leader election.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// When this binary was built, as Java prints its build date (`2024-12-29 17:54 UTC`); the
/// time is stamped by `build.rs` (from `SOURCE_DATE_EPOCH` when set).
pub fn build_date() -> &'static str {
    static DATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DATE.get_or_init(|| {
        let secs = env!("ZK_BUILD_EPOCH_SECONDS").parse().unwrap_or(0);
        java_build_date_utc(secs)
    })
}

/// The version line of `srvr`/`stat`/`envi`/`mntr`: `3.9.3-zk-rs-<CARGO_PKG_VERSION>, built on
/// <build_date>` (Java's build dates look like `2024-12-29 17:54 UTC`).
pub fn full_version(build_date: &str) -> String {
    format!(
        "{COMPAT_ZOOKEEPER_VERSION}-zk-rs-{}, built on {build_date}",
        env!("CARGO_PKG_VERSION")
    )
}

/// A whitelist naming `words`, for the tests of the submodules.
#[cfg(test)]
fn list(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_3_9_3_compatible() {
        let v = full_version("2025-01-01 00:00 UTC");
        assert_eq!(
            v,
            format!(
                "3.9.3-zk-rs-{}, built on 2025-01-01 00:00 UTC",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(v.split('-').next(), Some("3.9.3"));
        assert!(v.split(',').next().unwrap().starts_with("3.9.3-"));
    }

    #[test]
    fn the_build_date_is_a_utc_minute() {
        // `yyyy-MM-dd HH:mm UTC`, e.g. 2026-12-02 09:30 UTC.
        let date = build_date();
        let b = date.as_bytes();
        assert_eq!(b.len(), 20, "{date}");
        assert!(date.ends_with(" UTC"), "{date}");
        let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15];
        assert!(digits.iter().all(|&i| b[i].is_ascii_digit()), "{date}");
        assert_eq!([b[4], b[7], b[10], b[13]], [b'-', b'-', b' ', b':']);
        assert!(date >= "2000-01-01", "{date}");
        // A leap day, and the epoch.
        assert_eq!(java_build_date_utc(1_709_210_096), "2024-02-29 12:34 UTC");
        assert_eq!(java_build_date_utc(0), "1970-01-01 00:00 UTC");
    }
}
